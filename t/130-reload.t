# Reload under load (SPEC §7.5): nginx -s reload (SIGHUP to the master),
# twenty times in a row, while client processes forked from this test
# drive lookups (byok_lookup) and injections (byok_inject, proxied to a
# server of the same nginx that echoes the x-api-key it received).
#
#   - no request fails: no 5xx, no connection error, no wrong key.  Half of
#     the clients reuse keep-alive connections: an old worker closes them
#     when it shuts down, and a request that finds its reused connection
#     closed before any byte of an answer is sent again on a new one, as
#     HTTP clients do.  Those retries are counted and reported, not failed;
#     a new connection that fails is a failure;
#   - the zone survives every reload: carol's newer key was cached, then
#     demoted in the store behind nginx's back (byok_cache_ttl is 1h); every
#     lookup, through all reloads, still hands out the cached key;
#   - no worker hands out a revoked key: dave's newer key is revoked
#     through the API halfway through the reloads; no lookup or injection
#     started after the 200 returns it.
#
# TEST_BYOK_RELOAD_CYCLES (default 20; 10 under valgrind) and
# TEST_BYOK_RELOAD_CLIENTS (default 4; 2 under valgrind) change the load.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use HTTP::Tiny;
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Time::HiRes ();

$ENV{AGENTS_MASTER_KEY} =
    '7d3a5c1e9b0f2a4c6e8d0b1a3c5e7f9d2b4a6c8e0f1d3b5a7c9e2f4a6b8d0c1e';
$ENV{AGENTS_JWT_SECRET} = 'reload-suite-jwt-secret-0123456789abcdefg';

my $Valgrind = $ENV{TEST_NGINX_USE_VALGRIND};
my $Cycles = $ENV{TEST_BYOK_RELOAD_CYCLES} || ($Valgrind ? 10 : 20);
my $Clients = $ENV{TEST_BYOK_RELOAD_CLIENTS} || ($Valgrind ? 2 : 4);
my $Wait = $Valgrind ? 120 : 20;    # seconds a reload may take

master_on();
workers(2);
log_level('notice');
no_shuffle();
no_long_string();

my %Value = (
    map({ ("steady$_" => sprintf 'sk-ant-steady-%d-0000000000000', $_) } 1 .. 4),
    carol_old => 'sk-ant-carol-older-00000000001',
    carol_new => 'sk-ant-carol-newer-00000000002',
    dave_old  => 'sk-ant-dave-older-000000000001',
    dave_new  => 'sk-ant-dave-newer-000000000002',
);

sub jwt {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

sub url { 'http://127.0.0.1:' . server_port_for_client() . $_[0] }

sub api {
    my ($user, $method, $path, $json) = @_;
    return HTTP::Tiny->new(timeout => 10)->request($method, url($path), {
        headers => { 'Authorization' => 'Bearer ' . jwt($user),
                     'Content-Type'  => 'application/json' },
        defined $json ? (content => $json) : (),
    });
}

sub add_key {
    my ($user, $value) = @_;
    my $res = api($user, 'POST', '/me/provider-keys',
                  qq{{"category":"llm","provider":"anthropic","value":"$value"}});
    die "adding a key for $user: $res->{status} $res->{content}\n"
        if $res->{status} != 201 || $res->{content} !~ /^\{"id":(\d+),/;
    return $1;
}

sub lookup {
    my ($user) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->request('GET',
        url('/lookup?provider=anthropic'), { headers => { 'X-User' => $user } });
    return $res->{headers}{'x-byok-key'} // "status $res->{status}";
}

sub store_sql {
    my ($sql) = @_;
    my $db = server_root() . '/logs/byok.db';
    system('sqlite3', '-cmd', '.timeout 5000', $db, $sql) == 0
        or die "sqlite3 \"$sql\" failed: $?\n";
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
    open my $in, '<', $file or die "cannot open $file: $!\n";
    my $pid = <$in> // '';
    close $in;
    $pid =~ /^(\d+)/ or die "no pid in $file\n";
    return $1;
}

# the master's live children (only workers here: no cache manager); ps is
# not asked for process titles, which valgrind does not show
sub children {
    my ($master) = @_;
    return grep { alive($_) } map { /(\d+)/ ? $1 : () }
           `ps -o pid= --ppid $master`;
}

# SIGHUP, then wait until every worker is a new one and there are two
sub reload {
    my ($master) = @_;
    my %old = map { $_ => 1 } children($master);
    kill 'HUP', $master or die "cannot signal the master $master: $!\n";

    my $deadline = Time::HiRes::time() + $Wait;
    while (Time::HiRes::time() < $deadline) {
        Time::HiRes::sleep(0.05);
        my @all = children($master);
        next if grep { $old{$_} } @all;
        return 1 if @all == workers();
    }
    return 0;
}

# nginx under valgrind starts in the background: wait until it listens
sub wait_port {
    my $deadline = Time::HiRes::time() + $Wait;
    while (Time::HiRes::time() < $deadline) {
        return 1 if connect_nginx();
        Time::HiRes::sleep(0.1);
    }
    die "nginx does not listen on port " . server_port_for_client() . "\n";
}

# ---------------------------------------------------------------------------
# A small HTTP/1.1 client that knows whether its connection was reused.

sub connect_nginx {
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => server_port_for_client(),
                                 Proto    => 'tcp',
                                 Timeout  => 5);
}

# (status, {headers}, body, keepalive) or (undef, reason); reason "eof"
# when the connection closed before any byte of an answer
sub exchange {
    my ($sock, $req) = @_;

    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite $sock, $req, length($req) - $off, $off;
        return (undef, 'reset') if !defined $n && ($!{EPIPE} || $!{ECONNRESET});
        return (undef, "write: $!") if !defined $n;
        $off += $n;
    }

    my $sel = IO::Select->new($sock);
    my ($buf, $head, %h, $status, $ka) = ('');
    my $need;

    while (1) {
        if (!defined $head && $buf =~ s/^(.*?)\r\n\r\n//s) {
            $head = $1;
            my ($line, @lines) = split /\r\n/, $head;
            ($status) = $line =~ m{^HTTP/1\.\d (\d{3})}
                or return (undef, "bad status line: $line");
            for (@lines) {
                my ($k, $v) = split /:\s*/, $_, 2;
                $h{lc $k} = $v;
            }
            $ka = $line =~ m{^HTTP/1\.1} && lc($h{connection} // '') ne 'close';
            $need = $h{'content-length'};
        }
        if (defined $head && defined $need && length $buf >= $need) {
            return ($status, \%h, substr($buf, 0, $need), $ka);
        }

        return (undef, 'timeout') if !$sel->can_read(10);
        my $n = sysread $sock, $buf, 65536, length $buf;
        if (!$n) {
            return (undef, 'eof') if !defined $head && $buf eq '' && defined $n;
            return (undef, 'reset') if !defined $head && $buf eq '' && $!{ECONNRESET};
            return ($status, \%h, $buf, 0) if defined $head && !defined $need;
            return (undef, defined $n ? 'short answer' : "read: $!");
        }
    }
}

# The requests of the load, and what each must answer: [name, user, request,
# check].  A check returns "" when the answer is right, "old"/"new" for
# dave's keys, or a description of what is wrong.
sub load_requests {
    my @r;
    for my $u (map { "steady$_" } 1 .. 4) {
        push @r, ["lookup", $u, "GET /lookup?provider=anthropic", $Value{$u}];
        push @r, ["inject", $u, "GET /anthropic/v1/messages", $Value{$u}];
    }
    push @r, ["lookup", 'carol', "GET /lookup?provider=anthropic", $Value{carol_new}];
    push @r, ["lookup", 'dave', "GET /lookup?provider=anthropic", 'dave'];
    push @r, ["inject", 'dave', "GET /anthropic/v1/messages", 'dave'];
    return @r;
}

sub client {
    my ($c, $keepalive, $stop) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my @reqs = load_requests();
    my %n;
    my @dave;    # [start time, "old" | "new"]
    my @wrong;
    my $sock;
    my $reused;

    while (!-e $stop) {
        my ($kind, $user, $line, $want) = @{ $reqs[int rand @reqs] };
        my $req = "$line HTTP/1.1\r\nHost: localhost\r\nX-User: $user\r\n"
                  . ($keepalive ? '' : "Connection: close\r\n") . "\r\n";
        my $start = Time::HiRes::time();
        my ($status, $h, $body, $ka);

        for my $try (1, 2) {
            if (!$sock) {
                $sock = connect_nginx();
                if (!$sock) {
                    $n{conn_error}++;
                    push @wrong, "connect: $!" if @wrong < 20;
                    last;
                }
                $reused = 0;
            }
            ($status, $h, $body, $ka) = exchange($sock, $req);
            if (!defined $status) {
                my $why = $h;
                close $sock;
                undef $sock;
                if ($reused && ($why eq 'eof' || $why eq 'reset') && $try == 1) {
                    $n{keepalive_retry}++;
                    next;
                }
                $n{conn_error}++;
                push @wrong, "$kind $user: $why" if @wrong < 20;
                last;
            }
            if ($keepalive && $ka) {
                $reused = 1;
            } else {
                close $sock;
                undef $sock;
            }
            last;
        }
        next if !defined $status;

        $n{requests}++;
        $n{$kind}++;
        if ($status >= 500) {
            $n{http_5xx}++;
            push @wrong, "$kind $user: $status" if @wrong < 20;
            next;
        }

        my $got = $kind eq 'lookup' ? $h->{'x-byok-key'}
                : $body =~ /^key=(.*)\n\z/ ? $1 : undef;
        if ($status != 200 || !defined $got) {
            $n{wrong}++;
            push @wrong, "$kind $user: $status" if @wrong < 20;
        } elsif ($want eq 'dave') {
            if ($got eq $Value{dave_new}) {
                push @dave, [$start, 'new'];
            } elsif ($got eq $Value{dave_old}) {
                push @dave, [$start, 'old'];
            } else {
                $n{wrong}++;
                push @wrong, "$kind dave: $got" if @wrong < 20;
            }
        } elsif ($got ne $want) {
            $n{wrong}++;
            push @wrong, "$kind $user: got $got, want $want" if @wrong < 20;
        }
    }

    open my $out, '>', "$stop.$c" or die "$stop.$c: $!\n";
    print $out "count $_ $n{$_}\n" for sort keys %n;
    print $out "dave $_->[0] $_->[1]\n" for @dave;
    print $out "wrong $_\n" for @wrong;
    close $out;
}

sub reload_under_load {
    wait_port();

    # the keys, and carol's and dave's newer keys cached in the zone
    add_key("steady$_", $Value{"steady$_"}) for 1 .. 4;
    my $carol_old = add_key('carol', $Value{carol_old});
    my $carol_new = add_key('carol', $Value{carol_new});
    add_key('dave', $Value{dave_old});
    my $dave_new = add_key('dave', $Value{dave_new});
    Test::More::is(lookup('carol'), $Value{carol_new}, 'carol: the newer key, now cached');
    Test::More::is(lookup('dave'), $Value{dave_new}, 'dave: the newer key, now cached');

    # behind nginx's back: the store now puts carol's older key first
    store_sql("UPDATE provider_keys SET rotation_priority = 5 WHERE id = $carol_new");
    my $list = api('carol', 'GET', '/me/provider-keys?provider=anthropic');
    Test::More::like($list->{content}, qr/^\{"keys":\[\{"id":$carol_old,/,
                     'the store lists carol\'s older key first');

    my $stop = server_root() . "/logs/stop";
    my @kids;
    for my $c (1 .. $Clients) {
        my $pid = fork;
        die "fork: $!\n" if !defined $pid;
        if ($pid == 0) {
            eval { client($c, $c % 2, $stop) };
            print STDERR "client $c: $@" if $@;
            POSIX::_exit($@ ? 1 : 0);
        }
        push @kids, $pid;
    }

    my $master = master_pid();
    my ($reloads, $revoked_at) = (0);
    my $t0 = Time::HiRes::time();
    Time::HiRes::sleep(0.5);

    for my $cycle (1 .. $Cycles) {
        $reloads++ if reload($master);
        Time::HiRes::sleep(0.1);

        if ($cycle == int($Cycles / 2)) {
            my $res = api('dave', 'DELETE', "/me/provider-keys/$dave_new");
            Test::More::is($res->{status}, 200, 'dave\'s newer key revoked during the reloads');
            $revoked_at = Time::HiRes::time();
        }
    }
    Time::HiRes::sleep(0.5);
    my $elapsed = Time::HiRes::time() - $t0;

    open my $flag, '>', $stop or die "$stop: $!\n";
    close $flag;
    for my $pid (@kids) {
        waitpid $pid, 0;
        Test::More::is($?, 0, "client process $pid ended cleanly");
    }

    my (%n, @dave, @wrong);
    for my $c (1 .. $Clients) {
        open my $in, '<', "$stop.$c" or die "$stop.$c: $!\n";
        while (<$in>) {
            chomp;
            if (/^count (\S+) (\d+)$/) {
                $n{$1} += $2;
            } elsif (/^dave (\S+) (old|new)$/) {
                push @dave, [$1, $2];
            } elsif (s/^wrong //) {
                push @wrong, $_;
            }
        }
        close $in;
    }

    my $after = grep { $_->[0] > $revoked_at } @dave;
    my @leaked = grep { $_->[0] > $revoked_at && $_->[1] eq 'new' } @dave;

    Test::More::is($reloads, $Cycles, "$Cycles reloads, each to a new set of workers");
    Test::More::ok(($n{requests} // 0) >= 100 * $Clients * ($Valgrind ? 0.05 : 1),
                   "the clients kept nginx busy (" . ($n{requests} // 0) . " requests)");
    Test::More::is($n{http_5xx} // 0, 0, 'no 5xx');
    Test::More::is($n{conn_error} // 0, 0, 'no connection errors');
    Test::More::is($n{wrong} // 0, 0, 'every answer had the right key')
        or Test::More::diag(join "\n", @wrong);
    Test::More::ok($after > 0, "dave was looked up after the revoke ($after times)");
    Test::More::is(scalar @leaked, 0, 'no lookup or injection after the revoke returned the revoked key');
    Test::More::is(lookup('carol'), $Value{carol_new},
                   'after all reloads, carol still gets the cached key: the zone survived');
    Test::More::is(lookup('dave'), $Value{dave_old}, 'after all reloads, dave gets his older key');

    Test::More::diag(sprintf 'reload: %d reloads in %.1f s, %d clients (%d keep-alive);'
        . ' %d requests (%d lookups, %d injections); %d 5xx, %d connection errors,'
        . ' %d wrong answers, %d keep-alive connections closed by a reload and retried;'
        . ' %d of dave\'s requests after the revoke, %d got the revoked key',
        $reloads, $elapsed, $Clients, int($Clients / 2 + 0.5),
        map({ $n{$_} // 0 } qw(requests lookup inject http_5xx conn_error wrong
                                keepalive_retry)),
        $after, scalar @leaked);
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    $block->set_value('http_config',
                      "    byok_store logs/byok.db;\n"
                      . ($block->http_config // ''));
});

run_tests();

__DATA__

=== TEST 1: repeated reloads (twenty by default) under lookups and injections: no failed request, the zone survives, a revoked key is never handed out
The checks run in --- init, around the load and the reloads; the request
then asks the last generation of workers for carol's cached key.
--- http_config
    byok_cache_ttl 1h;

    server {
        listen 127.0.0.1:$TEST_NGINX_RAND_PORT_1;

        location / {
            return 200 "key=$http_x_api_key\n";
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }

    location /anthropic/ {
        byok_provider anthropic;
        byok_user $http_x_user;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_RAND_PORT_1/;
    }
--- init
::reload_under_load();
--- more_headers
X-User: carol
--- request
GET /lookup?provider=anthropic
--- response_headers
X-BYOK-Key: sk-ant-carol-newer-00000000002
X-BYOK-Source: user
--- response_body eval: ""
--- no_error_log
[alert]
[crit]
[emerg]
[error]
--- timeout: 10
