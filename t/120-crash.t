# Crash safety (SPEC §10: an acknowledged write survives kill -9).
#
# A master and two workers on a store outside the server root.  Client
# processes forked from this test create and revoke keys as fast as nginx
# answers, each on a new connection, while the test SIGKILLs a worker
# every half second (the master starts a new one) and finally the master
# and every worker at once, mid-stream.  nginx is then started again on
# the same store.
#
# Every create gets a user of its own and a unique value, so a lookup for
# that user names exactly one key.  Each client writes to its log before a
# request ("try", "revoking") and after the answer ("created ID" on a 201,
# "revoked ID" on a 200).  After the restart:
#   - PRAGMA integrity_check answers ok (sqlite3 CLI), before and after the
#     restart;
#   - a create that got its 201 is there and opens: the lookup for its user
#     returns exactly its value and id, unless a revoke of it was sent;
#   - a revoke that got its 200 holds: the lookup finds no key, and the
#     user API shows the key as revoked;
#   - a create or revoke whose answer was lost may have happened or not,
#     but a lookup never returns anything but the value that was sent;
#   - the store's active keys are exactly the ones the lookups returned;
#   - every key and every revoke has its audit row, and no audit row
#     stands for a change that is not in the store.
#
# TEST_BYOK_CRASH_CLIENTS (default 8) and TEST_BYOK_CRASH_KILLS (worker
# kills, default 6) change the load.  Valgrind runs skip this file: nginx
# runs as the test's child there and a SIGKILLed process leaves nothing for
# valgrind to report.

use Test::Nginx::Socket;
use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use HTTP::Tiny;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Time::HiRes ();

if ($ENV{TEST_NGINX_USE_VALGRIND}) {
    plan(skip_all => 'SIGKILL tests do not run under valgrind');
} else {
    plan('no_plan');
}

$ENV{AGENTS_MASTER_KEY} =
    '5e0c7a1b9d2f3e4a6b8c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a';
$ENV{AGENTS_JWT_SECRET} = 'crash-suite-jwt-secret-0123456789abcdefgh';

# the store lives outside the server root, which is wiped between blocks
my $Dir = tempdir('byok-crash-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_CRASH_DB} = "$Dir/byok.db";

my $Clients = $ENV{TEST_BYOK_CRASH_CLIENTS} || 8;
my $WorkerKills = $ENV{TEST_BYOK_CRASH_KILLS} || 6;

master_on();
workers(2);
log_level('notice');
no_shuffle();
no_long_string();

sub jwt {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

sub url { 'http://127.0.0.1:' . server_port_for_client() . $_[0] }

# the sqlite3 CLI on the store, as an operator would run it
sub sql {
    my ($sql) = @_;
    open my $in, '-|', 'sqlite3', '-cmd', '.timeout 5000',
                       $ENV{TEST_NGINX_CRASH_DB}, $sql
        or die "sqlite3: $!\n";
    my $out = do { local $/; <$in> } // '';
    close $in;
    chomp $out;
    return $out;
}

sub alive {
    my ($pid) = @_;
    return 0 if !kill 0, $pid;
    open my $in, '<', "/proc/$pid/stat" or return 0;
    my $stat = <$in> // '';
    return $stat !~ /^\d+ \(.*\) [ZX]/s;
}

sub master_pid {
    my $file = server_root() . '/logs/nginx.pid';
    for (1 .. 100) {
        if (open my $in, '<', $file) {
            my $pid = <$in>;
            if (defined $pid && $pid =~ /^(\d+)/ && alive($1)) {
                return $1;
            }
        }
        Time::HiRes::sleep(0.05);
    }
    die "no running nginx master in $file\n";
}

sub worker_pids {
    my ($master) = @_;
    return map { /^\s*(\d+)\s+nginx: worker process/ ? $1 : () }
           `ps -o pid=,args= --ppid $master`;
}

# waits until the master has N live workers, none of them in @old
sub wait_workers {
    my ($master, $n, @old) = @_;
    my %old = map { $_ => 1 } @old;
    for (1 .. 200) {
        my @w = grep { !$old{$_} && alive($_) } worker_pids($master);
        return @w if @w == $n;
        Time::HiRes::sleep(0.02);
    }
    die "nginx master $master did not get $n workers back\n";
}

sub wait_port {
    for (1 .. 300) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => server_port_for_client(),
                                      Proto => 'tcp', Timeout => 1);
        return 1 if $s;
        Time::HiRes::sleep(0.05);
    }
    die "nginx does not listen on port " . server_port_for_client() . "\n";
}

# One client: create, and every other round revoke one of its earlier keys,
# until the stop file exists.  The log is written unbuffered, before each
# request and after each acknowledgement.
sub client {
    my ($c, $stop) = @_;
    open my $log, '>', "$Dir/client-$c.log" or die "$Dir/client-$c.log: $!\n";
    $log->autoflush(1);

    my $http = HTTP::Tiny->new(keep_alive => 0, timeout => 10);
    my (@mine, $n);

    while (!-e $stop) {
        $n++;
        my $user = sprintf 'crash-%02d-%05d', $c, $n;
        my $value = sprintf 'sk-ant-crash-%02d-%05d-%08x', $c, $n,
                            int rand 0xffffffff;
        print $log "try $user $value\n";

        my $res = $http->request('POST', url('/me/provider-keys'), {
            headers => { 'Authorization' => 'Bearer ' . jwt($user),
                         'Content-Type'  => 'application/json' },
            content => '{"category":"llm","provider":"anthropic",'
                       . qq{"value":"$value"\}},
        });
        if ($res->{status} == 201 && $res->{content} =~ /^\{"id":(\d+),/) {
            print $log "created $user $1\n";
            push @mine, [$user, $1];
        } elsif ($res->{status} == 599) {
            Time::HiRes::sleep(0.01);    # nginx is down or restarting
        } else {
            print $log "status $res->{status} $user\n";
        }

        next if $n % 2 || !@mine;

        my ($owner, $id) = @{ splice @mine, int rand @mine, 1 };
        print $log "revoking $owner $id\n";
        $res = $http->request('DELETE', url("/me/provider-keys/$id"), {
            headers => { 'Authorization' => 'Bearer ' . jwt($owner) },
        });
        if ($res->{status} == 200 && $res->{content} =~ /"status":"revoked"/) {
            print $log "revoked $owner $id\n";
        } elsif ($res->{status} != 599) {
            print $log "status $res->{status} $owner $id\n";
        }
    }

    close $log;
}

my %Count;

sub storm {
    my $stop = "$Dir/stop";
    my @kids;

    for my $c (1 .. $Clients) {
        my $pid = fork;
        die "fork: $!\n" if !defined $pid;
        if ($pid == 0) {
            eval { client($c, $stop) };
            print STDERR "client $c: $@" if $@;
            POSIX::_exit($@ ? 1 : 0);
        }
        push @kids, $pid;
    }

    my $master = master_pid();
    my @workers = wait_workers($master, 2);

    Time::HiRes::sleep(1);
    for (1 .. $WorkerKills) {
        my $victim = $workers[int rand @workers];
        kill 'KILL', $victim or die "kill $victim: $!\n";
        $Count{worker_kills}++;
        @workers = wait_workers($master, 2, $victim);
        Time::HiRes::sleep(0.5);
    }

    # the whole server at once, as a power cut or an OOM kill of the group
    # would, while the clients keep writing
    @workers = worker_pids($master);
    kill 'KILL', $master, @workers;
    $Count{master_kills}++;
    for my $pid ($master, @workers) {
        for (1 .. 200) {
            last if !alive($pid);
            Time::HiRes::sleep(0.01);
        }
        die "nginx process $pid survived SIGKILL\n" if alive($pid);
    }

    Time::HiRes::sleep(0.3);
    open my $flag, '>', $stop or die "$stop: $!\n";
    close $flag;
    for my $pid (@kids) {
        waitpid $pid, 0;
        Test::More::is($?, 0, "client process $pid ended cleanly");
    }
    unlink $stop;
}

sub restart {
    my $bin = $ENV{TEST_NGINX_BINARY} || 'nginx';
    my $root = server_root();
    unlink "$root/logs/nginx.pid";
    system("$bin -p $root/ -c $root/conf/nginx.conf > /dev/null") == 0
        or die "nginx did not start again on the same store: $?\n";
    wait_port();
    Time::HiRes::sleep(0.2);
}

sub crash_and_check {
    # a key made before the storm, checked by this block's own request
    my $res = HTTP::Tiny->new->request('POST', url('/me/provider-keys'), {
        headers => { 'Authorization' => 'Bearer ' . jwt('seed'),
                     'Content-Type'  => 'application/json' },
        content => '{"category":"llm","provider":"anthropic",'
                   . '"value":"sk-ant-seed-0000000000000001"}',
    });
    die "seed key: $res->{status} $res->{content}\n" if $res->{status} != 201;

    storm();

    Test::More::is(sql('PRAGMA integrity_check'), 'ok',
                   'integrity_check after the crash, before the restart');

    restart();

    # what the clients sent and what nginx acknowledged
    my (%value, %created, %revoked, %revoking, %id_user);
    for my $c (1 .. $Clients) {
        open my $in, '<', "$Dir/client-$c.log" or die "client-$c.log: $!\n";
        while (<$in>) {
            if (/^try (\S+) (\S+)$/) {
                $value{$1} = $2;
                $Count{creates_sent}++;
            } elsif (/^created (\S+) (\d+)$/) {
                $created{$1} = $2;
                $id_user{$2} = $1;
            } elsif (/^revoking (\S+) (\d+)$/) {
                $revoking{$1} = $2;
                $Count{revokes_sent}++;
            } elsif (/^revoked (\S+) (\d+)$/) {
                $revoked{$1} = $2;
            } elsif (/^status (\d+)/) {
                $Count{"unexpected_$1"}++;
            }
        }
        close $in;
    }
    $Count{creates_acked} = keys %created;
    $Count{revokes_acked} = keys %revoked;

    Test::More::ok($Count{creates_acked} >= 50,
                   "the clients got many creates through ($Count{creates_acked})");
    Test::More::ok($Count{revokes_acked} >= 20,
                   "the clients got many revokes through ($Count{revokes_acked})");

    my $http = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
    my (@bad, $found);

    for my $user (sort keys %value) {
        my $res = $http->request('GET', url('/lookup?provider=anthropic'),
                                 { headers => { 'X-User' => $user } });
        my $key = $res->{headers}{'x-byok-key'};
        my $kid = $res->{headers}{'x-byok-key-id'};
        my $id = $created{$user};

        if ($res->{status} == 200) {
            $found++;
            if (!defined $key || $key ne $value{$user}) {
                push @bad, "$user: lookup returned a key that was never sent";
            } elsif (defined $id && $kid ne $id) {
                push @bad, "$user: lookup returned id $kid, the 201 said $id";
            } elsif (defined $revoked{$user}) {
                push @bad, "$user: key $id was revoked (200) but is handed out";
            } elsif (!defined $id) {
                $Count{creates_unacked_but_committed}++;
            }

        } elsif ($res->{status} == 403) {
            if (defined $id && !defined $revoking{$user}) {
                push @bad, "$user: key $id was created (201) but is gone";
            } elsif (defined $id && !defined $revoked{$user}) {
                $Count{revokes_unacked_but_committed}++;
            }

        } else {
            push @bad, "$user: lookup answered $res->{status}";
        }
    }

    # an acknowledged revoke also shows in the user API
    for my $user (sort keys %revoked) {
        my $id = $revoked{$user};
        my $res = $http->request('GET', url("/me/provider-keys/$id"),
                                 { headers => { 'Authorization' => 'Bearer ' . jwt($user) } });
        push @bad, "$user: key $id answers $res->{status} $res->{content}"
            if $res->{status} != 200 || $res->{content} !~ /"status":"revoked"/;
    }

    Test::More::is(scalar @bad, 0, 'every acknowledged create and revoke survived')
        or Test::More::diag(join "\n", @bad[0 .. ($#bad < 19 ? $#bad : 19)]);

    Test::More::is(sql("SELECT count(*) FROM provider_keys WHERE revoked_at IS NULL"
                       . " AND user_id <> 'seed'"),
                   $found // 0, 'the store holds exactly the keys the lookups found');
    # a mutation and its audit row are one transaction (SPEC §10)
    Test::More::is(sql("SELECT count(*) FROM provider_keys k WHERE NOT EXISTS"
                       . " (SELECT 1 FROM audit_log a WHERE a.action = 'key.create'"
                       . " AND a.outcome = 'ok' AND a.key_id = k.id)"),
                   0, 'every key in the store has its key.create audit row');
    Test::More::is(sql("SELECT count(*) FROM audit_log a WHERE a.action = 'key.create'"
                       . " AND a.outcome = 'ok' AND NOT EXISTS"
                       . " (SELECT 1 FROM provider_keys k WHERE k.id = a.key_id)"),
                   0, 'no key.create audit row without its key');
    Test::More::is(sql("SELECT count(*) FROM provider_keys k WHERE k.revoked_at IS NOT NULL"
                       . " AND NOT EXISTS (SELECT 1 FROM audit_log a"
                       . " WHERE a.action = 'key.revoke' AND a.outcome = 'ok'"
                       . " AND a.key_id = k.id)"),
                   0, 'every revoked key has its key.revoke audit row');
    Test::More::is(sql("SELECT count(*) FROM audit_log a WHERE a.action = 'key.revoke'"
                       . " AND a.outcome = 'ok' AND NOT EXISTS (SELECT 1 FROM provider_keys k"
                       . " WHERE k.id = a.key_id AND k.revoked_at IS NOT NULL)"),
                   0, 'no key.revoke audit row for a key that is not revoked');

    Test::More::is(sql('PRAGMA integrity_check'), 'ok',
                   'integrity_check after the restart');
    Test::More::is(sql('PRAGMA journal_mode'), 'wal', 'the store is still in WAL mode');

    Test::More::diag(sprintf 'crash: %d clients; %d creates sent, %d acknowledged'
        . ' (+%d committed without an answer); %d revokes sent, %d acknowledged'
        . ' (+%d committed without an answer); %d worker kills, %d master kill',
        $Clients, map { $Count{$_} // 0 } qw(creates_sent creates_acked
        creates_unacked_but_committed revokes_sent revokes_acked
        revokes_unacked_but_committed worker_kills master_kills));
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    $block->set_value('http_config',
                      "    byok_store \$TEST_NGINX_CRASH_DB;\n"
                      . ($block->http_config // ''));
});

run_tests();

__DATA__

=== TEST 1: kill -9 of workers, then of the whole server, under writes: every acknowledged write survives the restart
The checks of the crash and of the restarted server run in --- init; the
request then reads the key added before the storm from the restarted nginx.
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- init
::crash_and_check();
--- more_headers
X-User: seed
--- request
GET /lookup?provider=anthropic
--- response_headers
X-BYOK-Key: sk-ant-seed-0000000000000001
X-BYOK-Key-Id: 1
X-BYOK-Source: user
--- response_body eval: ""
--- error_log
exited on signal 9
--- no_error_log
[emerg]
[crit]
--- timeout: 10
