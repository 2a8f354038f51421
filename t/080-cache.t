# The shared-zone cache of selections (SPEC §7.5): changes made through
# nginx reach every worker at once, changes made behind its back are seen
# after byok_cache_ttl, the zone outlives a reload, and a full zone evicts
# instead of failing.  Workers whose cached clocks differ agree on the age
# of an entry and on the key test limit, which is counted in the zone too.
#
# Two workers behind a master process: every request of a block is a new
# connection, and either worker may accept it.  Blocks titled
# "(continued)" have no configuration of their own: they talk to the
# server the block before them started, after their --- init changed the
# store behind nginx's back (with the sqlite3 CLI) or reloaded nginx.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64url);
use POSIX ();
use Time::HiRes ();

$ENV{AGENTS_MASTER_KEY} =
    '0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9';
$ENV{AGENTS_JWT_SECRET} = 'cache-suite-jwt-secret-0123456789abcdefgh';

# next to the server port, so parallel runs on other ports do not collide
$ENV{TEST_NGINX_CLOCK_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 5;

master_on();
workers(2);
no_shuffle();
no_long_string();

# An HS256 token for the user API.
sub jwt {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

# Changes the store behind nginx's back, as an operator's script would.
sub store_sql {
    my ($sql) = @_;
    my $db = server_root() . '/logs/byok.db';
    system('sqlite3', '-cmd', '.timeout 5000', $db, $sql) == 0
        or die "sqlite3 \"$sql\" failed: $?\n";
}

# Another connection holds the store's write lock for SECONDS, from a
# background sqlite3 shell; returns once it has the lock.
sub hold_store_lock {
    my ($seconds) = @_;
    my $db = server_root() . '/logs/byok.db';
    my $flag = server_root() . '/logs/lock-held';

    unlink $flag;

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        open my $sqlite, '|-', 'sqlite3', $db or POSIX::_exit(1);
        print $sqlite "BEGIN IMMEDIATE;\n.shell touch $flag; sleep $seconds\n"
                      . "COMMIT;\n";
        close $sqlite;
        POSIX::_exit(0);
    }

    for (1 .. 500) {
        return $pid if -e $flag;
        Time::HiRes::sleep(0.01);
    }

    die "the sqlite3 shell did not take the lock\n";
}

# Stops every worker with SIGNAL and waits until the master has started as
# many new ones.
sub replace_workers {
    my ($signal) = @_;
    my $pidfile = server_root() . '/logs/nginx.pid';
    open my $in, '<', $pidfile or die "cannot open $pidfile: $!\n";
    chomp(my $master = <$in>);
    close $in;

    my %old = map { $_ => 1 } worker_pids($master);
    kill $signal, keys %old;

    for (1 .. ($ENV{TEST_NGINX_USE_VALGRIND} ? 900 : 100)) {
        Time::HiRes::sleep(0.1);
        my @all = worker_pids($master);
        return if @all == workers() && !grep { $old{$_} } @all;
    }

    die "the master did not replace its workers\n";
}

# the master's children: its workers (no cache manager here); by pid, not
# by process title, which valgrind does not show
sub worker_pids {
    my ($master) = @_;
    return map { /^\s*(\d+)\s*$/ ? $1 : () } `ps -o pid= --ppid $master`;
}

# nginx -s reload: SIGHUP to the master, then wait until only new workers
# are left.
sub reload_nginx {
    my $pidfile = server_root() . '/logs/nginx.pid';
    open my $in, '<', $pidfile or die "cannot open $pidfile: $!\n";
    chomp(my $master = <$in>);
    close $in;

    my %old = map { $_ => 1 } worker_pids($master);
    kill 'HUP', $master or die "cannot signal the master $master: $!\n";

    # under valgrind new workers take seconds to start, old ones to exit
    for (1 .. ($ENV{TEST_NGINX_USE_VALGRIND} ? 900 : 100)) {
        Time::HiRes::sleep(0.1);
        my @all = worker_pids($master);
        my @new = grep { !$old{$_} } @all;
        return if @new == workers() && @all == @new;
    }

    die "nginx did not reload\n";
}

# ---------------------------------------------------------------------------
# Workers whose cached clocks differ.
#
# A worker reads the clock once per turn of its event loop; a worker busy
# with a long request answers the requests queued behind it with the time
# it read before, behind the other workers' clocks.  Here the lag is made
# exact: with "timer_resolution 1h" a worker reads the clock when it starts
# and then once an hour.  One of the two workers is stopped a second after
# nginx started, and the master starts a new one: its cached clock is a
# second ahead of the older worker's for the rest of the block.
#
# The server on $TEST_NGINX_CLOCK_PORT listens with reuseport, which gives
# every worker a socket of its own and spreads new connections over them; a
# keep-alive connection stays with the worker that accepted it.  Its
# /clock answers "$pid $msec": the worker and its cached clock.

our %Worker;    # "behind", "ahead": a keep-alive connection to each

sub connect_clock_port {
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $ENV{TEST_NGINX_CLOCK_PORT},
                                     Proto    => 'tcp',
                                     Timeout  => 5)
        or die "cannot connect to port $ENV{TEST_NGINX_CLOCK_PORT}: $!\n";
    return $sock;
}

# one HTTP/1.1 request on a keep-alive connection: (status, headers, body)
sub exchange {
    my ($sock, $method, $uri, $headers, $body) = @_;

    $body //= '';
    $headers //= '';
    $headers =~ s/\n?\z/\n/ if $headers ne '';
    $headers =~ s/\n/\r\n/g;

    print $sock "$method $uri HTTP/1.1\r\nHost: localhost\r\n$headers"
                . "Content-Length: " . length($body) . "\r\n\r\n$body";

    my $sel = IO::Select->new($sock);
    my $buf = '';

    while (1) {
        if ($buf =~ /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n(.*?)\r\n\r\n/s) {
            my ($status, $head, $start) = ($1, $2, $+[0]);
            my ($len) = $head =~ /^Content-Length: (\d+)\r?$/mi;
            return ($status, $head, substr($buf, $start, $len))
                if defined $len && length($buf) - $start >= $len;
        }

        die "no answer to $method $uri\n" if !$sel->can_read(10);
        sysread($sock, $buf, 65536, length $buf)
            or die "connection closed during $method $uri\n";
    }
}

sub worker_clock {
    my ($sock) = @_;
    my (undef, undef, $body) = exchange($sock, 'GET', '/clock');
    $body =~ /^(\d+) (\d+\.\d+)$/ or die "/clock answered \"$body\"\n";
    return ($1, $2);
}

# Stops one worker a second after nginx started and, once the master has
# started another, finds a keep-alive connection to each (%Worker).
# Returns how far the newer worker's clock is ahead, in seconds.
sub skew_workers {
    my $pidfile = server_root() . '/logs/nginx.pid';
    open my $in, '<', $pidfile or die "cannot open $pidfile: $!\n";
    chomp(my $master = <$in>);
    close $in;

    Time::HiRes::sleep(1);

    my ($old) = worker_pids($master);
    kill 'TERM', $old or die "cannot stop worker $old: $!\n";

    my $replaced;

    for (1 .. ($ENV{TEST_NGINX_USE_VALGRIND} ? 900 : 100)) {
        Time::HiRes::sleep(0.1);
        my @all = worker_pids($master);
        $replaced = @all == workers() && !grep { $_ == $old } @all;
        last if $replaced;
    }

    die "no new worker took the place of worker $old\n" if !$replaced;

    %Worker = ();

    for (1 .. 200) {
        my $sock = connect_clock_port();
        my ($pid, $clock) = worker_clock($sock);
        $Worker{$pid} //= [$sock, $clock];
        last if keys %Worker == workers();
    }

    die "reuseport did not spread connections over the workers\n"
        if keys %Worker != workers();

    my ($behind, $ahead) = sort { $a->[1] <=> $b->[1] } values %Worker;
    %Worker = (behind => $behind->[0], ahead => $ahead->[0]);

    return $ahead->[1] - $behind->[1];
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

=== TEST 1: once revoked, a key is never handed out again, whichever worker answers
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("alice") . "
Content-Type: application/json
X-User: alice"
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","label":"spare","value":"sk-ant-spare-0000000000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-main-00000000000000002"}',
('GET /lookup?provider=anthropic') x 10,
'DELETE /me/provider-keys/2',
('GET /lookup?provider=anthropic') x 20,
'DELETE /me/provider-keys/1',
('GET /lookup?provider=anthropic') x 10,
]
--- error_code eval
[201, 201, (200) x 10, 200, (200) x 20, 200, (403) x 10]
--- response_headers eval
["", "",
 ("X-BYOK-Key: sk-ant-main-00000000000000002\nX-BYOK-Key-Id: 2") x 10,
 "",
 ("X-BYOK-Key: sk-ant-spare-0000000000000001\nX-BYOK-Key-Id: 1") x 20,
 "",
 ("!X-BYOK-Key") x 10]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 ("") x 10,
 qr/^\{"id":2,.*"status":"revoked"/,
 ("") x 20,
 qr/^\{"id":1,.*"status":"revoked"/,
 (qr/<title>403 Forbidden<\/title>/) x 10]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 2: an order change (PUT /order) reaches every worker at once
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("bob") . "
Content-Type: application/json
X-User: bob"
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-bob-one-0000000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-bob-two-0000000000002"}',
('GET /lookup?provider=openai') x 10,
'PUT /me/provider-keys/order
{"provider":"openai","ids":[1,2]}',
('GET /lookup?provider=openai') x 10,
]
--- error_code eval
[201, 201, (200) x 10, 200, (200) x 10]
--- response_headers eval
["", "",
 ("X-BYOK-Key-Id: 2") x 10,
 "",
 ("X-BYOK-Key-Id: 1") x 10]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, ("") x 10, qr/^\{"keys":\[\{"id":1,/,
 ("") x 10]



=== TEST 3: (setup) carol's newer key is looked up and cached; byok_cache_ttl is 2s
--- http_config
    byok_cache_ttl 2s;
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("carol") . "
Content-Type: application/json
X-User: carol"
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_carol_older_0000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_carol_newer_0000000002"}',
'GET /lookup?provider=groq',
]
--- error_code eval
[201, 201, 200]
--- response_headers eval
["", "", "X-BYOK-Key: gsk_carol_newer_0000000002\nX-BYOK-Key-Id: 2"]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, ""]



=== TEST 4: (continued) a change behind nginx's back is not seen before the TTL
Key 2 is demoted in the store directly: the cached selection still holds.
--- init
::store_sql("UPDATE provider_keys SET rotation_priority = 5 WHERE id = 2");
--- more_headers
X-User: carol
--- request eval
[('GET /lookup?provider=groq') x 5]
--- response_headers eval
[("X-BYOK-Key: gsk_carol_newer_0000000002\nX-BYOK-Key-Id: 2") x 5]
--- response_body eval
[("") x 5]



=== TEST 5: (continued) after the TTL the store is read again, by every worker
--- init
Time::HiRes::sleep(2.5);
--- more_headers
X-User: carol
--- request eval
[('GET /lookup?provider=groq') x 6]
--- response_headers eval
[("X-BYOK-Key: gsk_carol_older_0000000001\nX-BYOK-Key-Id: 1") x 6]
--- response_body eval
[("") x 6]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 6: (setup) dave's newer key is looked up and cached; byok_cache_ttl is 1h
--- http_config
    byok_cache_ttl 1h;
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("dave") . "
Content-Type: application/json
X-User: dave"
--- request eval
[
'POST /me/provider-keys
{"category":"video","provider":"runway","value":"key_dave_older_000000000001"}',
'POST /me/provider-keys
{"category":"video","provider":"runway","value":"key_dave_newer_000000000002"}',
'GET /lookup?provider=runway',
]
--- error_code eval
[201, 201, 200]
--- response_headers eval
["", "", "X-BYOK-Key: key_dave_newer_000000000002\nX-BYOK-Key-Id: 2"]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, ""]



=== TEST 7: (continued) the zone survives a reload: new workers answer from it
Key 2 is demoted in the store behind nginx's back, then nginx is reloaded
(SIGHUP).  The new workers still hand out key 2: that answer can only come
from the zone kept across the reload, since the store (listed by the user
API) now puts key 1 first.
--- init
::store_sql("UPDATE provider_keys SET rotation_priority = 5 WHERE id = 2");
::reload_nginx();
--- more_headers eval
["Authorization: Bearer " . ::jwt("dave"), ("X-User: dave") x 6]
--- request eval
['GET /me/provider-keys', ('GET /lookup?provider=runway') x 6]
--- response_headers eval
["", ("X-BYOK-Key: key_dave_newer_000000000002\nX-BYOK-Key-Id: 2") x 6]
--- response_body eval
[qr/^\{"keys":\[\{"id":1,.*"rotation_priority":0,.*\},\{"id":2,.*"rotation_priority":5,/,
 ("") x 6]
--- no_error_log
[alert]
[crit]



=== TEST 8: (continued) a change made through the reloaded nginx drops the kept entry
--- more_headers eval
["Authorization: Bearer " . ::jwt("dave") . "\nContent-Type: application/json",
 ("X-User: dave") x 6]
--- request eval
['PATCH /me/provider-keys/1
{"label":"renamed"}',
 ('GET /lookup?provider=runway') x 6]
--- response_headers eval
["", ("X-BYOK-Key: key_dave_older_000000000001\nX-BYOK-Key-Id: 1") x 6]
--- response_body eval
[qr/^\{"id":1,.*"label":"renamed"/, ("") x 6]



=== TEST 9: a full zone evicts: every lookup still succeeds
The smallest zone (8 pages) with a 1h TTL: erin's selection is cached
first, then 60 users with a key each and 300 users without one (answered
by the platform key, and cached as "no key") push it out.
--- http_config
    byok_zone tiny:32k;
    byok_cache_ttl 1h;
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $arg_user;
        byok_provider anthropic;
        byok_platform_key anthropic sk-ant-platform-000000000000001;
        byok_lookup;
    }
--- more_headers eval
[
("Authorization: Bearer " . ::jwt("erin") . "\nContent-Type: application/json") x 2,
"",
(map { ("Authorization: Bearer " . ::jwt("user-$_") . "\nContent-Type: application/json", "") } 1 .. 60),
("") x 300,
("") x 60,
]
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-erin-older-00000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-erin-newer-00000000002"}',
'GET /lookup?user=erin',
(map { ("POST /me/provider-keys\n"
        . sprintf('{"category":"llm","provider":"anthropic","value":"sk-ant-user-%03d-0000000000000"}', $_),
        "GET /lookup?user=user-$_") } 1 .. 60),
(map { "GET /lookup?user=nokey-$_" } 1 .. 300),
(map { "GET /lookup?user=user-$_" } 1 .. 60),
]
--- error_code eval
[201, 201, 200, (201, 200) x 60, (200) x 300, (200) x 60]
--- response_headers eval
["", "", "X-BYOK-Key-Id: 2\nX-BYOK-Source: user",
 (map { ("", sprintf "X-BYOK-Key: sk-ant-user-%03d-0000000000000\nX-BYOK-Key-Id: %d", $_, $_ + 2) } 1 .. 60),
 ("X-BYOK-Key: sk-ant-platform-000000000000001\nX-BYOK-Source: platform") x 300,
 (map { sprintf "X-BYOK-Key: sk-ant-user-%03d-0000000000000\nX-BYOK-Key-Id: %d", $_, $_ + 2 } 1 .. 60)]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, "",
 (map { (qr/^\{"id":${\($_ + 2)},/, "") } 1 .. 60),
 ("") x 300,
 ("") x 60]
--- timeout: 10



=== TEST 10: (continued) erin's evicted entry is read again from the store
Key 2 is demoted behind nginx's back: had erin's entry stayed in the zone
(TTL 1h), key 2 would still be handed out.  The error log, checked here
from its start, covers the block before too.
--- init
::store_sql("UPDATE provider_keys SET rotation_priority = 5 WHERE id = 2");
--- request
GET /lookup?user=erin
--- response_headers
X-BYOK-Key: sk-ant-erin-older-00000000001
X-BYOK-Key-Id: 1
--- response_body eval: ""
--- no_error_log
[error]
[alert]
[crit]



=== TEST 11: a zone smaller than 8 pages is refused at start
--- http_config
    byok_zone tiny:16k;
--- config
    location = /lookup {
        byok_user $arg_user;
        byok_provider anthropic;
        byok_lookup;
    }
--- request
GET /lookup?user=frank
--- must_die
--- error_log
zone "tiny:16k" is too small



=== TEST 12: (setup) a worker whose clock is behind another's does not refill the key test bucket
The first test runs on the worker ahead, the second on the worker a
second behind it, as if that worker had been busy for a second: to it the
bucket's last take lies in its future, which drains nothing, and
rate=1r/m burst=1 refuses the second test as it would on one worker.
--- main_config
    timer_resolution 1h;
--- http_config
    byok_test_limit rate=1r/m burst=1;
    byok_cache_ttl 1h;

    server {
        listen 127.0.0.1:$TEST_NGINX_CLOCK_PORT reuseport;

        location = /clock {
            return 200 "$pid $msec";
        }

        location /me/provider-keys {
            byok_api;
        }

        location = /lookup {
            byok_user $http_x_user;
            byok_provider $arg_provider;
            byok_lookup;
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
--- init
my $skew = ::skew_workers();
Test::More::cmp_ok($skew, '>=', 0.5,
                   "the newer worker's clock is ahead of the older one's");

my $auth = "Authorization: Bearer " . ::jwt("hana")
           . "\nContent-Type: application/json";
my @res = ::exchange($::Worker{ahead}, 'POST', '/me/provider-keys', $auth,
    '{"category":"audio","provider":"cartesia","value":"sk_car_hana_0123456789abcdef"}');
Test::More::is($res[0], 201, 'hana adds a key');

@res = ::exchange($::Worker{ahead}, 'POST', '/me/provider-keys/1/test',
                  $auth);
Test::More::is("$res[0] $res[2]",
               qq{200 {"result":"skipped","status":null,"latency_ms":0}\n},
               'the first test, on the worker ahead, runs');

@res = ::exchange($::Worker{behind}, 'POST', '/me/provider-keys/1/test',
                  $auth);
Test::More::is($res[0], 429,
               'the second, on the worker behind, is refused');
Test::More::like($res[1], qr/^Retry-After: 6[01]\r?$/m,
                 'with the full minute to wait');
--- more_headers eval
"Authorization: Bearer " . ::jwt("hana")
--- request
POST /me/provider-keys/1/test
--- error_code: 429
--- response_headers_like
Retry-After: 6[01]
--- response_body_like chomp
^\{"error":"rate_limited",



=== TEST 13: (continued) a worker whose clock is behind another's serves the entry that one just cached
ines's newer key is cached by the worker ahead, then demoted in the store
behind nginx's back (byok_cache_ttl is 1h).  To the worker behind, the
entry was loaded a second in its future: it is fresh, not expired, and
the newer key (3) is still handed out, by that worker and then by either.
--- init
my $auth = "Authorization: Bearer " . ::jwt("ines")
           . "\nContent-Type: application/json";
for my $value ('sk-ant-ines-older-00000000001', 'sk-ant-ines-newer-00000000002') {
    my @res = ::exchange($::Worker{ahead}, 'POST', '/me/provider-keys', $auth,
        qq{{"category":"llm","provider":"anthropic","value":"$value"}});
    Test::More::is($res[0], 201, 'ines adds a key');
}

my @res = ::exchange($::Worker{ahead}, 'GET', '/lookup?provider=anthropic',
                     'X-User: ines');
Test::More::like($res[1], qr/^X-BYOK-Key-Id: 3\r?$/m,
                 'the worker ahead caches the newer key');

::store_sql("UPDATE provider_keys SET rotation_priority = 5 WHERE id = 3");

@res = ::exchange($::Worker{behind}, 'GET', '/lookup?provider=anthropic',
                  'X-User: ines');
Test::More::like($res[1], qr/^X-BYOK-Key-Id: 3\r?$/m,
                 'the worker behind hands out the cached key');
--- more_headers
X-User: ines
--- request eval
[('GET /lookup?provider=anthropic') x 4]
--- response_headers eval
[("X-BYOK-Key: sk-ant-ines-newer-00000000002\nX-BYOK-Key-Id: 3") x 4]
--- response_body eval
[("") x 4]
--- no_error_log
[error]
[alert]
[crit]



=== TEST 14: (setup) four users' selections are cached in the smallest zone, then "big" adds twelve long keys
The smallest zone (32k, an eighth of it 4 KiB) with a 1h TTL.  "long"'s
selection, with a newer key of 3850 bytes, takes just under 4 KiB; each
of big's keys is 3999 bytes long, within the user API's limit, and
together they could not fit even in the empty zone.
--- http_config
    byok_zone tiny:32k;
    byok_cache_ttl 1h;
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $arg_user;
        byok_provider anthropic;
        byok_lookup;
    }
--- more_headers eval
[
(map { ("Authorization: Bearer " . ::jwt("small-$_") . "\nContent-Type: application/json") x 2 } 1 .. 3),
("Authorization: Bearer " . ::jwt("long") . "\nContent-Type: application/json") x 2,
("") x 4,
("Authorization: Bearer " . ::jwt("big") . "\nContent-Type: application/json") x 12,
]
--- request eval
[
(map { ("POST /me/provider-keys\n"
        . qq{{"category":"llm","provider":"anthropic","value":"sk-ant-small-$_-older-0000001"}},
        "POST /me/provider-keys\n"
        . qq{{"category":"llm","provider":"anthropic","value":"sk-ant-small-$_-newer-0000002"}}) } 1 .. 3),
"POST /me/provider-keys\n"
. '{"category":"llm","provider":"anthropic","value":"sk-ant-long-older-00000001"}',
"POST /me/provider-keys\n"
. '{"category":"llm","provider":"anthropic","value":"sk-ant-long-newer-' . ('y' x 3832) . '"}',
(map { "GET /lookup?user=small-$_" } 1 .. 3),
"GET /lookup?user=long",
(map { "POST /me/provider-keys\n"
       . sprintf('{"category":"llm","provider":"anthropic","value":"sk-ant-big-%02d-%s"}', $_, 'x' x 3985) } 1 .. 12),
]
--- error_code eval
[(201) x 8, (200) x 4, (201) x 12]
--- response_headers eval
[("") x 8,
 (map { "X-BYOK-Key: sk-ant-small-$_-newer-0000002\nX-BYOK-Key-Id: " . 2 * $_ } 1 .. 3),
 "X-BYOK-Key-Id: 8",
 ("") x 12]
--- response_body eval
[(map { qr/^\{"id":$_,/ } 1 .. 8),
 ("") x 4,
 (map { qr/^\{"id":$_,/ } 9 .. 20)]



=== TEST 15: (continued) a selection larger than an eighth of the zone is served uncached and evicts nothing
big's lookup reads the store and answers with the newest key; the zone
keeps everything it held.
--- request
GET /lookup?user=big
--- response_headers eval
"X-BYOK-Key: sk-ant-big-12-" . ('x' x 3985) . "\nX-BYOK-Key-Id: 20"
--- response_body eval: ""
--- error_log
byok: the selection of user "big" for "anthropic" (12 keys,
takes more than an eighth of the zone and is not cached



=== TEST 16: (continued) the other users' entries are still in the zone, and big's is not
The newer key of every user is demoted in the store behind nginx's back:
the other users still get the newer key from the zone, big gets what the
store now puts first.  No key was written to the log.
--- init
::store_sql("UPDATE provider_keys SET rotation_priority = 5 WHERE id IN (2, 4, 6, 8, 20)");
--- request eval
[(map { "GET /lookup?user=$_" } qw(small-1 small-2 small-3 long big))]
--- response_headers eval
[(map { "X-BYOK-Key: sk-ant-small-$_-newer-0000002\nX-BYOK-Key-Id: " . 2 * $_ } 1 .. 3),
 "X-BYOK-Key-Id: 8",
 "X-BYOK-Key: sk-ant-big-11-" . ('x' x 3985) . "\nX-BYOK-Key-Id: 19"]
--- response_body eval
[("") x 5]
--- no_error_log
sk-ant-
[error]
[alert]
[crit]



=== TEST 17: (setup) with byok_usage_flush 0 the usage counters stay in the zone while the workers run
--- http_config
    byok_usage_flush 0;
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_lookup;
    }
--- more_headers eval
[("Authorization: Bearer " . ::jwt("olga") . "\nContent-Type: application/json"),
 ("X-User: olga") x 6,
 "Authorization: Bearer " . ::jwt("olga")]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-olga-0000000000000001"}',
 ('GET /lookup') x 6,
 'GET /me/provider-keys/1']
--- error_code eval
[201, (200) x 6, 200]
--- response_body_like eval
[qr/^\{"id":1,/, ("") x 6, qr/"last_used_at":null,.*"requests":0,/]



=== TEST 18: (continued) workers that exit write the counters they leave behind, and exit cleanly
Both workers are stopped (SIGQUIT) while another process holds the store's
write lock for 3 s: they wait for it as a write of the thread pool would,
then the master starts new ones.
--- init
my $holder = ::hold_store_lock(3);
::replace_workers('QUIT');
waitpid $holder, 0;
--- more_headers eval: "Authorization: Bearer " . ::jwt("olga")
--- request
GET /me/provider-keys/1
--- response_body_like: "last_used_at":"[^"]+",.*"requests":[1-6],
--- no_error_log
exited on signal
[alert]
[crit]
