# The admin endpoints (SPEC §8), served by "byok_admin" under /admin/:
# stats, Prometheus metrics, health, the audit log, a user's keys, master
# key rewrap and cache flush — and the operations they exist for: a full
# master key rotation with an interrupted rewrap, JWT secret rotation, and a
# store that stops taking writes.
#
# An admin token is a JWT carrying the byok_admin_claim (by default "role"
# is "admin", as a string or as an array member).  Users add keys through
# the user API at /me/provider-keys; /lookup is the runtime lookup.
#
# The server root is wiped before every block, so state that must outlive a
# block lives in directories made here:
#   $TEST_NGINX_BYOK_STATE  on disk: the audit store, the store made
#                           unwritable (chattr +i needs a filesystem that
#                           honours it on open files, such as ext4)
#   $TEST_NGINX_BYOK_FAST   on tmpfs when there is one: the rotation stores,
#                           which take over a thousand fsync'd writes
# byokctl (BYOKCTL, default build/byokctl) stands for an operator's offline
# rewrap that was interrupted.  promtool (Debian package "prometheus")
# checks the metrics format; that one assertion is skipped without it.

use Test::Nginx::Socket 'no_plan';

use Digest::SHA qw(hmac_sha256);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK);
use File::Spec ();
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use JSON::PP ();
use MIME::Base64 qw(encode_base64url);
use Time::HiRes ();

$ENV{AGENTS_MASTER_KEY} =
    '9d2f6a1c8e4b7d0a3f5c9e2b6d8a1f4c7e0b3d6a9c2f5e8b1d4a7c0f3e6b9d2a';
$ENV{AGENTS_JWT_SECRET} = 'admin-suite-jwt-secret-0123456789abcdef';

# JWT secret rotation: the secret being retired and its successor
$ENV{BYOK_TEST_JWT_OLD} = 'admin-suite-old-jwt-secret-0123456789abc';
$ENV{BYOK_TEST_JWT_NEW} = 'admin-suite-new-jwt-secret-0123456789abc';

# master key rotation: from A to B
our $KEY_A = '2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe';
our $KEY_B = 'a1f3c5e7092b4d6f8a0c2e4f6b8d0a2c4e6f8b0d2a4c6e8f0b2d4a6c8e0f2b4d';

$ENV{TEST_NGINX_BYOK_STATE} = tempdir('byok-admin-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);
$ENV{TEST_NGINX_BYOK_FAST} = tempdir('byok-admin-XXXXXX', CLEANUP => 1,
                                     DIR => (-d '/dev/shm' && -w _)
                                            ? '/dev/shm'
                                            : File::Spec->tmpdir);
mkdir "$ENV{TEST_NGINX_BYOK_STATE}/ro" or die;

our $BYOKCTL = File::Spec->rel2abs($ENV{BYOKCTL} || 'build/byokctl');
our $ID_A = master_key_id($KEY_A);
our $ID_B = master_key_id($KEY_B);
our $ID_M = master_key_id($ENV{AGENTS_MASTER_KEY});

write_file("$ENV{TEST_NGINX_BYOK_FAST}/a.key", "$KEY_A\n");
write_file("$ENV{TEST_NGINX_BYOK_FAST}/b.key", "$KEY_B\n");

# the keys of the rotation: three named ones, then a thousand and twenty
our @ROTATION = (
    [ 'alice', 'llm', 'anthropic', 'sk-ant-api03-rotation-alice-000001' ],
    [ 'alice', 'llm', 'openai', 'sk-proj-rotation-alice-0000000002' ],
    [ 'bob', 'research', 'tavily', 'tvly-rotation-bob-000000000003' ],
    map { [ sprintf('bulk%04d', $_), 'llm', 'anthropic',
            sprintf('sk-ant-api03-rotation-bulk%04d-xxxxx', $_) ] } 1 .. 1020,
);

# the secrets this file configures: none may reach the audit log
our @SECRETS = ($ENV{AGENTS_MASTER_KEY}, $KEY_A, $KEY_B,
                $ENV{AGENTS_JWT_SECRET}, $ENV{BYOK_TEST_JWT_OLD},
                $ENV{BYOK_TEST_JWT_NEW});

our $JSON = JSON::PP->new->canonical;

no_shuffle();
no_long_string();
repeat_each(1);

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    my $http = $block->http_config // '';
    if ($http !~ /\bbyok_store\b/) {
        $http = "    byok_store logs/byok.db;\n$http";
    }
    $block->set_value('http_config', $http);

    # --- same_server: no config, so the previous block's nginx goes on
    if (!defined $block->config && !defined $block->same_server) {
        $block->set_value('config', <<'_EOC_');
    location /admin/ {
        byok_admin;
    }

    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_provider $arg_provider;
        byok_user $http_x_user;
        byok_lookup;
    }
_EOC_
    }
});

# --- promtool: every response of the block that is Prometheus text is
# checked with "promtool check metrics"
add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;

    return if !defined $block->promtool || !defined $body
              || $body !~ /^# HELP /;

    SKIP: {
        Test::More::skip('promtool is not installed (Debian package '
                         . '"prometheus")', 1)
            if !grep { -x "$_/promtool" } split /:/, $ENV{PATH};

        my $file = "$ENV{TEST_NGINX_BYOK_STATE}/metrics.txt";
        write_file($file, $body);
        my $out = `promtool check metrics < $file 2>&1`;
        Test::More::is("exit $?: $out", "exit 0: ",
                       $block->name . " - promtool check metrics "
                       . "(req $req_idx)");
    }
});

run_tests();


# ---------------------------------------------------------------------------
# Helpers, called from the blocks as ::name

# An HS256 JWT: sub, exp one hour ahead, the given extra claims.
sub jwt {
    my ($sub, %claims) = @_;

    my $secret = delete $claims{secret} // $ENV{AGENTS_JWT_SECRET};

    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url($JSON->encode({ sub => $sub, exp => time + 3600,
                                             %claims }));
    my $s = encode_base64url(hmac_sha256("$h.$p", $secret));

    return "$h.$p.$s";
}

# request headers: an admin ("ops"), a user of the user API
sub admin {
    return "Authorization: Bearer " . jwt('ops', role => 'admin', @_);
}

sub user {
    my ($sub, @claims) = @_;
    return "Authorization: Bearer " . jwt($sub, @claims)
           . "\nContent-Type: application/json";
}

# HKDF-SHA256(master key, no salt, info "byok/key-id/v1"), first 4 bytes
sub master_key_id {
    my ($hex) = @_;
    my $prk = hmac_sha256(pack('H*', $hex), "\0" x 32);
    return unpack 'H8', hmac_sha256("byok/key-id/v1\x01", $prk);
}

# One HTTP/1.0 call to the nginx under test, written in one piece (no
# Nagle delay): (status, body).
sub call {
    my ($method, $path, $headers, $body) = @_;

    $body //= '';
    $headers = join '', map { "$_\r\n" } grep { length } split /\n/,
                                                            $headers // '';

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port_for_client(),
                                     Timeout => 60)
        or die "cannot connect to nginx: $!\n";

    print $sock "$method $path HTTP/1.0\r\nHost: localhost\r\n$headers"
                . "Content-Length: " . length($body) . "\r\n\r\n$body";

    my $response = do { local $/; <$sock> } // '';
    close $sock;

    my ($status) = $response =~ m{^HTTP/1\.\d (\d{3})};
    $response =~ s/^.*?\r\n\r\n//s;

    return ($status // 0, $response);
}


# Adds the keys [user, category, provider, value] through the user API.
sub add_keys {
    for my $k (@_) {
        my ($user, $category, $provider, $value) = @$k;
        my ($status, $body) = call('POST', '/me/provider-keys', user($user),
                                   $JSON->encode({ category => $category,
                                                   provider => $provider,
                                                   value => $value }));
        $status == 201 or die "adding a key for $user: $status $body\n";
    }
}

# sqlite3 on a store, as an operator would: (exit status, stdout+stderr)
sub sql {
    my ($db, $statement) = @_;
    my $out = `sqlite3 -cmd '.timeout 5000' '$db' "$statement" 2>&1`;
    return ($? >> 8, $out);
}

sub sql_ok {
    my ($rc, $out) = sql(@_);
    $rc == 0 or die "sqlite3 \"$_[1]\": $out";
    chomp $out;
    return $out;
}

sub byokctl {
    my $out = `'$BYOKCTL' @_ 2>&1`;
    return ($? >> 8, $out);
}

# Starts "byokctl rewrap" and SIGKILLs it right after its first batch: its
# stderr is a pipe filled up beforehand, so the progress report it writes
# after committing a batch blocks it there.  Returns the rows it moved.
sub interrupted_rewrap {
    my ($db, $batch, @args) = @_;

    pipe(my $r, my $w) or die "pipe: $!";
    my $flags = fcntl($w, F_GETFL, 0);
    fcntl($w, F_SETFL, $flags | O_NONBLOCK) or die;
    for my $chunk (4096, 1) {
        1 while defined syswrite($w, 'x' x $chunk);
    }
    fcntl($w, F_SETFL, $flags) or die;

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $r;
        open STDERR, '>&', $w or die;
        open STDOUT, '>', '/dev/null' or die;
        exec $BYOKCTL, 'rewrap', '--store', $db, '--batch', $batch, @args;
        die "exec: $!";
    }
    close $w;

    my $id = hex $ID_B;
    my $moved = 0;
    for (1 .. 200) {
        $moved = sql_ok($db, "SELECT count(*) FROM provider_keys"
                             . " WHERE master_key_id = $id");
        last if $moved >= $batch;
        Time::HiRes::sleep(0.05);
    }
    Time::HiRes::sleep(0.3);

    kill 'KILL', $pid;
    waitpid $pid, 0;
    close $r;

    return sql_ok($db, "SELECT count(*) FROM provider_keys"
                       . " WHERE master_key_id = $id");
}

# Whether chattr +i stops writes through a descriptor opened before, as it
# must to make a store that nginx holds open unwritable: ext4 and xfs do,
# tmpfs does not; it also needs root (CAP_LINUX_IMMUTABLE).
sub immutable_works {
    our $IMMUTABLE;
    return $IMMUTABLE if defined $IMMUTABLE;

    my $probe = "$ENV{TEST_NGINX_BYOK_STATE}/ro/probe";
    open my $fh, '+>', $probe or return $IMMUTABLE = 0;
    syswrite $fh, 'a';
    if (system("chattr +i '$probe' 2>/dev/null") != 0) {
        close $fh;
        unlink $probe;
        return $IMMUTABLE = 0;
    }
    $IMMUTABLE = defined(syswrite $fh, 'b') ? 0 : 1;
    close $fh;
    system("chattr -i '$probe'");
    unlink $probe;

    warn "# chattr +i does not stop writes to open files under "
         . "$ENV{TEST_NGINX_BYOK_STATE}: the unwritable store blocks are "
         . "skipped\n" if !$IMMUTABLE;

    return $IMMUTABLE;
}

# The store's files (not its -shm, which SQLite has mapped: writing to an
# immutable mapping is SIGBUS) made immutable, or writable again.
sub store_immutable {
    my ($on) = @_;
    my $db = "$ENV{TEST_NGINX_BYOK_STATE}/ro/byok.db";
    system('chattr', $on ? '+i' : '-i', grep { -e } $db, "$db-wal") == 0
        or die "chattr failed\n";
}

sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
}

END {
    local $?;
    my $dir = "$ENV{TEST_NGINX_BYOK_STATE}/ro";
    system("chattr -i '$dir'/* 2>/dev/null") if -d $dir;
}

__DATA__

=== TEST 1: without a bearer token every admin route answers 401
--- request eval
["GET /admin/stats", "GET /admin/metrics", "GET /admin/health",
 "GET /admin/audit", "GET /admin/users/alice/keys", "POST /admin/rewrap",
 "POST /admin/cache/flush"]
--- error_code eval
[(401) x 7]
--- response_headers eval
[("WWW-Authenticate: Bearer") x 7]
--- response_body eval
[(qq{{"error":"unauthorized","message":"A valid bearer token is required."}\n}) x 7]
--- no_error_log
[error]



=== TEST 2: a bad token answers 401 with error="invalid_token"
--- more_headers eval
["Authorization: Bearer not.a.token",
 ::admin(secret => 'a-secret-that-nginx-does-not-know-0123456789'),
 ::admin(exp => time - 3600)]
--- request eval
["GET /admin/stats", "GET /admin/stats", "GET /admin/stats"]
--- error_code eval
[401, 401, 401]
--- response_headers eval
[('WWW-Authenticate: Bearer error="invalid_token"') x 3]
--- response_body eval
[(qq{{"error":"unauthorized","message":"A valid bearer token is required."}\n}) x 3]



=== TEST 3: a valid token without the admin claim answers 403 on every route
--- more_headers eval
::user("mallory")
--- request eval
["GET /admin/stats", "GET /admin/metrics", "GET /admin/health",
 "GET /admin/audit", "GET /admin/users/alice/keys", "POST /admin/rewrap",
 "POST /admin/cache/flush"]
--- error_code eval
[(403) x 7]
--- response_body eval
[(qq{{"error":"forbidden","message":"This token does not carry the admin claim."}\n}) x 7]
--- no_error_log
[error]



=== TEST 4: the claim must be exactly "admin": other values, types and claim names answer 403
--- more_headers eval
[::user("mallory", role => "user"),
 ::user("mallory", role => "Admin"),
 ::user("mallory", role => "admin "),
 ::user("mallory", role => ["user", "auditor"]),
 ::user("mallory", role => { admin => JSON::PP::true }),
 ::user("mallory", role => JSON::PP::true),
 ::user("mallory", roles => ["admin"])]
--- request eval
[("GET /admin/health") x 7]
--- error_code eval
[(403) x 7]
--- response_body eval
[(qq{{"error":"forbidden","message":"This token does not carry the admin claim."}\n}) x 7]



=== TEST 5: the admin claim as a string, or as a member of an array
--- more_headers eval
[::admin(),
 ::user("ops", role => ["auditor", "admin"]),
 ::admin()]
--- request eval
["GET /admin/health", "GET /admin/health", "GET /admin/stats"]
--- error_code eval
[200, 200, 200]
--- response_body eval
[qq{{"status":"ok"}\n}, qq{{"status":"ok"}\n},
 qr/^\{"keys":\[\],"cache":\{/]



=== TEST 6: byok_admin_claim names another claim and value
--- config
    location /admin/ {
        byok_admin_claim groups byok-operators;
        byok_admin;
    }
--- more_headers eval
[::user("ops", groups => "byok-operators"),
 ::user("ops", groups => ["staff", "byok-operators"]),
 ::admin(),
 ::user("ops", groups => ["staff"])]
--- request eval
[("GET /admin/health") x 4]
--- error_code eval
[200, 200, 403, 403]
--- response_body eval
[qq{{"status":"ok"}\n}, qq{{"status":"ok"}\n},
 (qq{{"error":"forbidden","message":"This token does not carry the admin claim."}\n}) x 2]



=== TEST 7: wrong methods answer 405 with Allow, unknown routes 404
--- more_headers eval
::admin()
--- request eval
["POST /admin/stats", "POST /admin/metrics", "DELETE /admin/health",
 "PUT /admin/audit", "GET /admin/rewrap", "GET /admin/cache/flush",
 "DELETE /admin/users/alice/keys",
 "GET /admin/", "GET /admin/nothing", "GET /admin/users//keys",
 "GET /admin/users/alice/keys/1", "GET /admin/stats/"]
--- error_code eval
[(405) x 7, (404) x 5]
--- response_headers eval
["Allow: GET", "Allow: GET", "Allow: GET", "Allow: GET", "Allow: POST",
 "Allow: POST", "Allow: GET", ("") x 5]
--- response_body eval
[(qq{{"error":"method_not_allowed","message":"This method is not allowed here."}\n}) x 7,
 (qq{{"error":"not_found","message":"No such resource."}\n}) x 5]
--- no_error_log
[alert]
[error]



=== TEST 8: a refused method has no effect: GET /cache/flush flushes nothing
--- more_headers eval
[::user("alice"), "X-User: alice", (::admin()) x 3]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-method-alice-00001"}',
'GET /lookup?provider=anthropic',
'GET /admin/cache/flush',
'GET /admin/stats',
'GET /admin/audit?action=cache.flush']
--- error_code eval
[201, 200, 405, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, "",
 qq{{"error":"method_not_allowed","message":"This method is not allowed here."}\n},
 qr/"cache":\{"entries":1,/,
 qq{{"entries":[],"next":null}\n}]
--- no_error_log
[alert]



=== TEST 9: stats: keys by provider and status, cache counters, zone and store size
Four keys, one revoked; then three lookups: alice's anthropic selection is
read from the store (a miss) and then served from the zone (a hit), bob's
groq selection is a miss.
--- more_headers eval
[::user("alice"), ::user("alice"), ::user("alice"), ::user("bob"),
 ::user("alice"),
 "X-User: alice", "X-User: alice", "X-User: bob",
 ::admin()]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-stats-alice-000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-stats-alice-000002"}',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-stats-alice-00000000003"}',
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_stats_bob_0000000000000004"}',
'DELETE /me/provider-keys/2',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=groq',
'GET /admin/stats']
--- error_code eval
[201, 201, 201, 201, 200, 200, 200, 200, 200]
--- response_headers eval
[("") x 5,
 "X-BYOK-Key: sk-ant-api03-stats-alice-000001",
 "X-BYOK-Key: sk-ant-api03-stats-alice-000001",
 "X-BYOK-Key: gsk_stats_bob_0000000000000004",
 "Content-Type: application/json"]
--- response_body eval
[(qr/^\{"id":/) x 5, ("") x 3,
 qr/^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\},\{"provider":"anthropic","status":"revoked","count":1\},\{"provider":"groq","status":"active","count":1\},\{"provider":"openai","status":"active","count":1\}\],"cache":\{"entries":2,"hits":1,"misses":2,"evictions":0,"zone_bytes":16777216\},"store":\{"bytes":[1-9]\d*,"audit_rows":5\}\}\n\z/]
--- no_error_log
[error]



=== TEST 10: metrics: the Prometheus text format, counting this block's traffic
--- more_headers eval
[::user("carol"), ::user("carol"), "X-User: carol", "X-User: dave",
 ::user("dave", role => "admin"), ::admin()]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-metrics-carol-01"}',
'GET /me/provider-keys',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=anthropic',
'GET /admin/health',
'GET /admin/metrics']
--- error_code eval
[201, 200, 200, 403, 200, 200]
--- response_headers eval
[("") x 5, "Content-Type: text/plain; version=0.0.4; charset=utf-8"]
--- response_body eval
[(qr/./) x 2, "", qr/403 Forbidden/, qq{{"status":"ok"}\n},
qr/\A# HELP byok_http_requests_total [^\n]+
# TYPE byok_http_requests_total counter
byok_http_requests_total\{route="keys_list",status="200"\} 1
byok_http_requests_total\{route="keys_create",status="201"\} 1
byok_http_requests_total\{route="lookup",status="200"\} 1
byok_http_requests_total\{route="lookup",status="403"\} 1
byok_http_requests_total\{route="admin",status="200"\} 1
# HELP byok_lookups_total [^\n]+
# TYPE byok_lookups_total counter
byok_lookups_total\{source="none"\} 1
byok_lookups_total\{source="user"\} 1
byok_lookups_total\{source="platform"\} 0
# HELP byok_cache_hits_total [^\n]+
# TYPE byok_cache_hits_total counter
byok_cache_hits_total 0
# HELP byok_cache_misses_total [^\n]+
# TYPE byok_cache_misses_total counter
byok_cache_misses_total 2
# HELP byok_cache_evictions_total [^\n]+
# TYPE byok_cache_evictions_total counter
byok_cache_evictions_total 0
# HELP byok_cache_entries [^\n]+
# TYPE byok_cache_entries gauge
byok_cache_entries 2
# HELP byok_cache_zone_size_bytes [^\n]+
# TYPE byok_cache_zone_size_bytes gauge
byok_cache_zone_size_bytes 16777216
# HELP byok_key_tests_total [^\n]+
# TYPE byok_key_tests_total counter
byok_key_tests_total\{result="valid"\} 0
byok_key_tests_total\{result="invalid"\} 0
byok_key_tests_total\{result="error"\} 0
byok_key_tests_total\{result="skipped"\} 0
# HELP byok_key_health_transitions_total [^\n]+
# TYPE byok_key_health_transitions_total counter
byok_key_health_transitions_total\{state="invalid"\} 0
byok_key_health_transitions_total\{state="exhausted"\} 0
byok_key_health_transitions_total\{state="cooldown"\} 0
# HELP byok_store_errors_total [^\n]+
# TYPE byok_store_errors_total counter
byok_store_errors_total 0
# HELP byok_rewrap_keys_total [^\n]+
# TYPE byok_rewrap_keys_total counter
byok_rewrap_keys_total\{outcome="rewrapped"\} 0
byok_rewrap_keys_total\{outcome="failed"\} 0
# HELP byok_rewrap_remaining_keys [^\n]+
# TYPE byok_rewrap_remaining_keys gauge
byok_rewrap_remaining_keys 0
\z/]
--- promtool
--- no_error_log
[error]



=== TEST 11: health: 200 while the store answers and takes writes
--- more_headers eval
::admin()
--- request eval
["GET /admin/health", "HEAD /admin/health"]
--- error_code eval
[200, 200]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
[qq{{"status":"ok"}\n}, ""]



=== TEST 12: audit: newest first, filters and cursor pagination
Six audited actions: three creates, a label change, a revoke, a cache
flush.  The store outlives this block: the next ones inspect it.
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/audit.db;
--- more_headers eval
[::user("alice"), ::user("alice"), ::user("bob"), ::user("alice"),
 ::user("alice"), (::admin()) x 20]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-audit-alice-00000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-audit-alice-000000000002"}',
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_audit_bob_000000000000003"}',
'PATCH /me/provider-keys/1
{"label":"work"}',
'DELETE /me/provider-keys/2',
'POST /admin/cache/flush',
'GET /admin/audit',
'GET /admin/audit?user=alice',
'GET /admin/audit?action=key.create',
'GET /admin/audit?key_id=1',
'GET /admin/audit?user=alice&action=key.create&limit=1',
'GET /admin/audit?since=2000-01-01T00:00:00Z&limit=1',
'GET /admin/audit?since=946684800&limit=1',
'GET /admin/audit?since=' . (time + 3600),
'GET /admin/audit?limit=2',
'GET /admin/audit?limit=2&before=5',
'GET /admin/audit?limit=2&before=3',
'GET /admin/audit?limit=2&before=1',
'GET /admin/audit?limit=0',
'GET /admin/audit?limit=501',
'GET /admin/audit?limit=500&user=nobody',
'GET /admin/audit?since=yesterday',
'GET /admin/audit?key_id=one',
'GET /admin/audit?before=-3',
'GET /admin/audit?user=' . ('u' x 129)]
--- error_code eval
[201, 201, 201, 200, 200, 200, (200) x 12, 422, 422, 200, 422, 422, 422, 422]
--- response_body eval
my $page = sub {
    my ($next, @ids) = @_;
    my $list = CORE::join ',', map { qq{\\{"id":$_,[^{}]*\\}} } @ids;
    return qr/^\{"entries":\[$list\],"next":$next\}\n\z/;
};
my $invalid = qr/^\{"error":"validation_failed","message":"[^"]+"(,"field":"\w+")?\}\n\z/;
[(qr/^\{"id":/) x 5, qq{{"flushed":0}\n},
 $page->('null', 6, 5, 4, 3, 2, 1),
 $page->('null', 5, 4, 2, 1),
 $page->('null', 3, 2, 1),
 $page->('null', 4, 1),
 $page->(2, 2),
 $page->(6, 6),
 $page->(6, 6),
 $page->('null'),
 $page->(5, 6, 5),
 $page->(3, 4, 3),
 $page->(1, 2, 1),
 $page->('null'),
 $invalid, $invalid,
 $page->('null'),
 $invalid, $invalid, $invalid, $invalid]



=== TEST 13: audit entries carry every field; absent ones are null
The entries written by the previous block, one action at a time.
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/audit.db;
--- more_headers eval
::admin()
--- request eval
["GET /admin/audit?action=key.create", "GET /admin/audit?action=key.update",
 "GET /admin/audit?action=key.revoke", "GET /admin/audit?action=cache.flush"]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
my $t = '"at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"';
[qr/^\{"entries":\[\{"id":3,$t,"actor":"bob","actor_kind":"user","action":"key\.create","user":"bob","key_id":3,"provider":"groq","remote_addr":"127\.0\.0\.1","outcome":"ok"\},\{"id":2,$t,"actor":"alice","actor_kind":"user","action":"key\.create","user":"alice","key_id":2,"provider":"openai","remote_addr":"127\.0\.0\.1","outcome":"ok"\},\{"id":1,$t,"actor":"alice","actor_kind":"user","action":"key\.create","user":"alice","key_id":1,"provider":"anthropic","remote_addr":"127\.0\.0\.1","outcome":"ok"\}\],"next":null\}\n\z/,
 qr/^\{"entries":\[\{"id":4,$t,"actor":"alice","actor_kind":"user","action":"key\.update","user":"alice","key_id":1,"provider":"anthropic","remote_addr":"127\.0\.0\.1","outcome":"ok"\}\],"next":null\}\n\z/,
 qr/^\{"entries":\[\{"id":5,$t,"actor":"alice","actor_kind":"user","action":"key\.revoke","user":"alice","key_id":2,"provider":"openai","remote_addr":"127\.0\.0\.1","outcome":"ok"\}\],"next":null\}\n\z/,
 qr/^\{"entries":\[\{"id":6,$t,"actor":"ops","actor_kind":"admin","action":"cache\.flush","user":null,"key_id":null,"provider":null,"remote_addr":"127\.0\.0\.1","outcome":"ok"\}\],"next":null\}\n\z/]



=== TEST 14: the audit log refuses UPDATE and DELETE, and holds no secret
The store written by the previous block, changed behind nginx's back with
the sqlite3 shell: the append-only triggers refuse, nothing changes.
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/audit.db;
--- init
my $db = "$ENV{TEST_NGINX_BYOK_STATE}/audit.db";
my ($rc, $out) = ::sql($db, "UPDATE audit_log SET outcome = 'forged' WHERE id = 1");
Test::More::isnt($rc, 0, "UPDATE audit_log fails");
Test::More::like($out, qr/audit_log is append-only/, "UPDATE: the trigger's message");
($rc, $out) = ::sql($db, "DELETE FROM audit_log WHERE id = 6");
Test::More::isnt($rc, 0, "DELETE FROM audit_log fails");
Test::More::like($out, qr/audit_log is append-only/, "DELETE: the trigger's message");
($rc, $out) = ::sql($db, "SELECT * FROM audit_log");
Test::More::is(scalar(() = $out =~ /\n/g), 6, "six rows, none changed");
Test::More::unlike($out, qr/forged/, "no row says forged");
for my $secret ('sk-ant-api03-audit-alice-00000001', 'sk-proj-audit-alice-000000000002',
                'gsk_audit_bob_000000000000003', 'ant-api03-audit', 'audit-alice-0',
                'audit_bob_0', @::SECRETS, "eyJ") {
    Test::More::unlike($out, qr/\Q$secret\E/, "no key, token or secret in the audit log");
}
--- more_headers eval
::admin()
--- request
GET /admin/audit?limit=500
--- response_body_like eval
qr/^\{"entries":\[\{"id":6,.*"outcome":"ok"\}\],"next":null\}\n\z/
--- response_body_unlike eval
qr/forged|sk-ant-api03-audit|sk-proj-audit|gsk_audit|eyJ/



=== TEST 15: users/{user}/keys lists all of a user's keys, revoked ones too
The user id in the path is percent-decoded.
--- more_headers eval
[::user("alice"), ::user("alice"), ::user("bob"), ::user("alice"),
 ::user('carol@example.com'), (::admin()) x 4]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-api03-users-alice-0000001"}',
'POST /me/provider-keys
{"category":"audio","provider":"elevenlabs","value":"xi-users-alice-0000000000002"}',
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_users_bob_000000000000003"}',
'DELETE /me/provider-keys/2',
'POST /me/provider-keys
{"category":"research","provider":"exa","value":"exa-users-carol-000000000004"}',
'GET /admin/users/alice/keys',
'GET /admin/users/carol%40example.com/keys',
'GET /admin/users/nobody/keys',
'HEAD /admin/users/alice/keys']
--- error_code eval
[201, 201, 201, 200, 201, 200, 200, 200, 200]
--- response_body eval
my $t = '"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"';
[(qr/^\{"id":/) x 5,
 qr/^\{"user":"alice","keys":\[\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-a\*\*\*","rotation_priority":0,"rentable":false,"status":"active","created_at":$t,"updated_at":$t,"revoked_at":null,"last_test":null,"last_used_at":null[^{}]*\},\{"id":2,"category":"audio","provider":"elevenlabs","auth_type":"api_key","label":null,"masked":"xi-users\*\*\*","rotation_priority":0,"rentable":false,"status":"revoked","created_at":$t,"updated_at":$t,"revoked_at":$t,"last_test":null,"last_used_at":null[^{}]*\}\]\}\n\z/,
 qr/^\{"user":"carol\@example\.com","keys":\[\{"id":4,"category":"research","provider":"exa",[^{}]*"status":"active"[^{}]*\}\]\}\n\z/,
 qq{{"user":"nobody","keys":[]}\n},
 ""]
--- response_body_unlike eval
[("sk-ant-api03-users|xi-users-alice-0|gsk_users_bob_0|exa-users-carol-0") x 9]



=== TEST 16: cache/flush empties the zone; lookups read the store again
--- more_headers eval
[::user("alice"), ::user("bob"), "X-User: alice", "X-User: bob",
 ::admin(), ::admin(), "X-User: alice", ::admin(), ::admin()]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-flush-alice-000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-flush-bob-00000000000002"}',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=openai',
'POST /admin/cache/flush',
'GET /admin/stats',
'GET /lookup?provider=anthropic',
'GET /admin/stats',
'GET /admin/audit?action=cache.flush']
--- error_code eval
[201, 201, 200, 200, 200, 200, 200, 200, 200]
--- response_headers eval
["", "", "X-BYOK-Key: sk-ant-api03-flush-alice-000001",
 "X-BYOK-Key: sk-proj-flush-bob-00000000000002", "", "",
 "X-BYOK-Key: sk-ant-api03-flush-alice-000001", "", ""]
--- response_body eval
[(qr/^\{"id":/) x 2, "", "",
 qq{{"flushed":2}\n},
 qr/"cache":\{"entries":0,"hits":0,"misses":2,"evictions":0,/,
 "",
 qr/"cache":\{"entries":1,"hits":0,"misses":3,"evictions":0,/,
 qr/^\{"entries":\[\{"id":3,"at":"[^"]+","actor":"ops","actor_kind":"admin","action":"cache.flush",[^{}]*"outcome":"ok"\}\],"next":null\}\n\z/]



=== TEST 17: rewrap with every value under the current key has nothing to do
--- more_headers eval
[::user("alice"), ::admin(), ::admin()]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-rewrap-alice-00001"}',
'POST /admin/rewrap',
'GET /admin/audit?action=key.rewrap']
--- error_code eval
[201, 200, 200]
--- response_body eval
[qr/^\{"id":1,/,
 qq{{"rewrapped":0,"skipped":0,"failed":0,"remaining":0,"master_key_id":"$::ID_M"}\n},
 qq{{"entries":[],"next":null}\n}]



=== TEST 18: (rotation) keys sealed under master key A
The rotation stores: 1023 keys here (three named ones first), of which
150 also go to a second store for the next blocks.
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/rotation.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/a.key;
--- init
::add_keys(@::ROTATION);
--- timeout: 120
--- more_headers eval
["X-User: alice", "X-User: bob", "X-User: bulk1020", ::admin()]
--- request eval
['GET /lookup?provider=anthropic',
 'GET /lookup?provider=tavily',
 'GET /lookup?provider=anthropic',
 'GET /admin/stats']
--- error_code eval
[200, 200, 200, 200]
--- response_headers eval
["X-BYOK-Key: sk-ant-api03-rotation-alice-000001",
 "X-BYOK-Key: tvly-rotation-bob-000000000003",
 "X-BYOK-Key: sk-ant-api03-rotation-bulk1020-xxxxx",
 ""]
--- response_body eval
["", "", "",
 qr/^\{"keys":\[\{"provider":"anthropic","status":"active","count":1021\},\{"provider":"openai","status":"active","count":1\},\{"provider":"tavily","status":"active","count":1\}\],/]



=== TEST 19: (rotation) B alone cannot start while values are sealed under A
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/rotation.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/b.key;
--- must_die
--- error_log eval
qr/\[emerg\] .*byok_master_key: "[^"]*rotation\.db" holds keys sealed under master key $::ID_A, which neither byok_master_key nor byok_master_key_previous provides/



=== TEST 20: (rotation) B current and A previous: every key still opens; an interrupted rewrap is resumed by POST /rewrap, at most 250 values a call
An operator's "byokctl rewrap --batch 10" is killed after its first batch:
ten values (alice's, alice's, bob's and seven bulk keys) are under B, the
rest under A.  POST /admin/rewrap moves 250 values a call, then the last
13, then has nothing left to do.
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/rotation.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/b.key;
    byok_master_key_previous file:$TEST_NGINX_BYOK_FAST/a.key;
--- init
my $db = "$ENV{TEST_NGINX_BYOK_FAST}/rotation.db";
my $moved = ::interrupted_rewrap($db, 10,
    '--master-key', "file:$ENV{TEST_NGINX_BYOK_FAST}/b.key",
    '--previous', "file:$ENV{TEST_NGINX_BYOK_FAST}/a.key");
Test::More::is($moved, 10, "byokctl was killed with 10 values under B");
--- timeout: 120
--- more_headers eval
["X-User: alice", "X-User: bulk1020", (::admin()) x 6,
 "X-User: alice", "X-User: bob", "X-User: bulk0500", "X-User: bulk1020",
 ::admin(), ::admin(), ::admin()]
--- request eval
['GET /lookup?provider=anthropic',
 'GET /lookup?provider=anthropic',
 ('POST /admin/rewrap') x 6,
 'GET /lookup?provider=openai',
 'GET /lookup?provider=tavily',
 'GET /lookup?provider=anthropic',
 'GET /lookup?provider=anthropic',
 'GET /admin/metrics',
 'GET /admin/audit?action=key.rewrap&user=alice',
 'GET /admin/audit?action=key.rewrap&limit=1']
--- error_code eval
[(200) x 15]
--- response_headers eval
["X-BYOK-Key: sk-ant-api03-rotation-alice-000001",
 "X-BYOK-Key: sk-ant-api03-rotation-bulk1020-xxxxx",
 ("") x 6,
 "X-BYOK-Key: sk-proj-rotation-alice-0000000002",
 "X-BYOK-Key: tvly-rotation-bob-000000000003",
 "X-BYOK-Key: sk-ant-api03-rotation-bulk0500-xxxxx",
 "X-BYOK-Key: sk-ant-api03-rotation-bulk1020-xxxxx",
 "", "", ""]
--- response_body eval
["", "",
 qq{{"rewrapped":250,"skipped":0,"failed":0,"remaining":763,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":250,"skipped":0,"failed":0,"remaining":513,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":250,"skipped":0,"failed":0,"remaining":263,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":250,"skipped":0,"failed":0,"remaining":13,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":13,"skipped":0,"failed":0,"remaining":0,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":0,"skipped":0,"failed":0,"remaining":0,"master_key_id":"$::ID_B"}\n},
 "", "", "", "",
 qr/\nbyok_rewrap_keys_total\{outcome="rewrapped"\} 1013\nbyok_rewrap_keys_total\{outcome="failed"\} 0\n.*\nbyok_rewrap_remaining_keys 0\n\z/s,
 qr/^\{"entries":\[\{"id":\d+,"at":"[^"]+","actor":"byokctl","actor_kind":"admin","action":"key.rewrap","user":"alice","key_id":2,"provider":"openai","remote_addr":(?:null|""),"outcome":"ok"\},\{"id":\d+,"at":"[^"]+","actor":"byokctl","actor_kind":"admin","action":"key.rewrap","user":"alice","key_id":1,"provider":"anthropic","remote_addr":(?:null|""),"outcome":"ok"\}\],"next":null\}\n\z/,
 qr/^\{"entries":\[\{"id":\d+,"at":"[^"]+","actor":"ops","actor_kind":"admin","action":"key.rewrap","user":"bulk1020","key_id":1023,"provider":"anthropic","remote_addr":"127.0.0.1","outcome":"ok"\}\],"next":\d+\}\n\z/]
--- no_error_log
[error]
[alert]



=== TEST 21: (rotation) after the rewrap B alone starts and opens every key
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/rotation.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/b.key;
--- init
my $db = "$ENV{TEST_NGINX_BYOK_FAST}/rotation.db";
my ($rc, $out) = ::byokctl('verify', '--store', $db,
                           '--master-key', "file:$ENV{TEST_NGINX_BYOK_FAST}/b.key");
Test::More::is($rc, 0, "byokctl verify with B alone");
Test::More::like($out, qr/^sealed values: 1023, open: 1023 \(current key: 1023, previous keys: 0\), do not open: 0$/m,
                 "every value is under B");
($rc, $out) = ::sql($db, "SELECT count(*), count(DISTINCT key_id) FROM audit_log WHERE action = 'key.rewrap'");
Test::More::is($out, "1023|1023\n", "one key.rewrap audit row per value");
($rc, $out) = ::sql($db, "SELECT * FROM audit_log");
for my $secret ((map { $_->[3] } @::ROTATION[0 .. 2, 100, 1022]), @::SECRETS) {
    Test::More::unlike($out, qr/\Q$secret\E/, "no key or secret in the audit log");
}
--- more_headers eval
["X-User: alice", "X-User: bob", "X-User: bulk0001", "X-User: bulk1020",
 ::admin()]
--- request eval
['GET /lookup?provider=anthropic',
 'GET /lookup?provider=tavily',
 'GET /lookup?provider=anthropic',
 'GET /lookup?provider=anthropic',
 'GET /admin/health']
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers eval
["X-BYOK-Key: sk-ant-api03-rotation-alice-000001",
 "X-BYOK-Key: tvly-rotation-bob-000000000003",
 "X-BYOK-Key: sk-ant-api03-rotation-bulk0001-xxxxx",
 "X-BYOK-Key: sk-ant-api03-rotation-bulk1020-xxxxx",
 ""]
--- response_body eval
["", "", "", "", qq{{"status":"ok"}\n}]
--- no_error_log
[error]



=== TEST 22: (rotation) A alone can no longer start: the values are under B
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/rotation.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/a.key;
--- must_die
--- error_log eval
qr/\[emerg\] .*byok_master_key: "[^"]*rotation\.db" holds keys sealed under master key $::ID_B, which neither byok_master_key nor byok_master_key_previous provides/



=== TEST 23: (rewrap failures) 150 keys under A, in a store of their own
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/damaged.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/a.key;
--- init
::add_keys(@::ROTATION[3 .. 152]);
--- timeout: 60
--- more_headers eval
::admin()
--- request
GET /admin/stats
--- response_body_like eval
qr/^\{"keys":\[\{"provider":"anthropic","status":"active","count":150\}\],/



=== TEST 24: (rewrap failures) a value that does not open is counted once and the others move
Key 1 holds a copy of key 2's sealed value, which is bound to key 2.  The
module's rewrap walks the ids in batches: key 1 is looked at once per call.
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/damaged.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/b.key;
    byok_master_key_previous file:$TEST_NGINX_BYOK_FAST/a.key;
--- init
my $db = "$ENV{TEST_NGINX_BYOK_FAST}/damaged.db";
for my $copy ('damaged100.db', 'untouched.db') {
    my ($rc, $out) = ::byokctl('backup', '--store', $db,
                               '--to', "$ENV{TEST_NGINX_BYOK_FAST}/$copy");
    $rc == 0 or die $out;
}
::sql_ok($db, "UPDATE provider_keys SET sealed = (SELECT sealed FROM provider_keys WHERE id = 2) WHERE id = 1");
--- more_headers eval
::admin()
--- request eval
["POST /admin/rewrap", "POST /admin/rewrap"]
--- response_body eval
[qq{{"rewrapped":149,"skipped":0,"failed":1,"remaining":1,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":0,"skipped":0,"failed":1,"remaining":1,"master_key_id":"$::ID_B"}\n}]



=== TEST 25: (rewrap failures) a hundred values that do not open do not stop the others from moving
Keys 1-100 hold copies of key 150's sealed value: the first batch of 100
are all failures, the 50 keys after them must still be rewrapped.
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/damaged100.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/b.key;
    byok_master_key_previous file:$TEST_NGINX_BYOK_FAST/a.key;
--- init
my $db = "$ENV{TEST_NGINX_BYOK_FAST}/damaged100.db";
::sql_ok($db, "UPDATE provider_keys SET sealed = (SELECT sealed FROM provider_keys WHERE id = 150) WHERE id <= 100");
--- more_headers eval
[::admin(), ::admin(), "X-User: bulk0150"]
--- request eval
["POST /admin/rewrap", "POST /admin/rewrap", "GET /lookup?provider=anthropic"]
--- response_body eval
[qq{{"rewrapped":50,"skipped":0,"failed":100,"remaining":100,"master_key_id":"$::ID_B"}\n},
 qq{{"rewrapped":0,"skipped":0,"failed":100,"remaining":100,"master_key_id":"$::ID_B"}\n},
 ""]
--- response_headers eval
["", "", "X-BYOK-Key: sk-ant-api03-rotation-bulk0150-xxxxx"]



=== TEST 26: (rewrap failures) a refused method has no effect: GET /rewrap rewraps nothing
150 keys under A, B current: the 405 must leave them all for the POST.
--- http_config
    byok_store $TEST_NGINX_BYOK_FAST/untouched.db;
    byok_master_key file:$TEST_NGINX_BYOK_FAST/b.key;
    byok_master_key_previous file:$TEST_NGINX_BYOK_FAST/a.key;
--- more_headers eval
::admin()
--- request eval
["GET /admin/rewrap", "POST /admin/rewrap"]
--- error_code eval
[405, 200]
--- response_body eval
[qq{{"error":"method_not_allowed","message":"This method is not allowed here."}\n},
 qq{{"rewrapped":150,"skipped":0,"failed":0,"remaining":0,"master_key_id":"$::ID_B"}\n}]
--- no_error_log
[alert]



=== TEST 27: JWT secret rotation: two byok_jwt_key lines accept tokens signed with either
--- http_config
    byok_jwt_key hs256 env:BYOK_TEST_JWT_NEW;
    byok_jwt_key hs256 env:BYOK_TEST_JWT_OLD;
--- more_headers eval
[::admin(secret => $ENV{BYOK_TEST_JWT_NEW}),
 ::admin(secret => $ENV{BYOK_TEST_JWT_OLD}),
 ::user("alice", secret => $ENV{BYOK_TEST_JWT_NEW}),
 ::user("alice", secret => $ENV{BYOK_TEST_JWT_OLD}),
 ::admin()]
--- request eval
["GET /admin/health", "GET /admin/health", "GET /me/provider-keys",
 "GET /me/provider-keys", "GET /admin/health"]
--- error_code eval
[200, 200, 200, 200, 401]
--- response_body eval
[qq{{"status":"ok"}\n}, qq{{"status":"ok"}\n}, qq{{"keys":[]}\n},
 qq{{"keys":[]}\n},
 qq{{"error":"unauthorized","message":"A valid bearer token is required."}\n}]



=== TEST 28: JWT secret rotation: with the old secret's line removed, its tokens answer 401
--- http_config
    byok_jwt_key hs256 env:BYOK_TEST_JWT_NEW;
--- more_headers eval
[::admin(secret => $ENV{BYOK_TEST_JWT_NEW}),
 ::admin(secret => $ENV{BYOK_TEST_JWT_OLD}),
 ::user("alice", secret => $ENV{BYOK_TEST_JWT_NEW}),
 ::user("alice", secret => $ENV{BYOK_TEST_JWT_OLD})]
--- request eval
["GET /admin/health", "GET /admin/health", "GET /me/provider-keys",
 "GET /me/provider-keys"]
--- error_code eval
[200, 401, 200, 401]
--- response_headers eval
["", 'WWW-Authenticate: Bearer error="invalid_token"', "",
 'WWW-Authenticate: Bearer error="invalid_token"']
--- response_body eval
[qq{{"status":"ok"}\n},
 qq{{"error":"unauthorized","message":"A valid bearer token is required."}\n},
 qq{{"keys":[]}\n},
 qr/^\{"error":"unauthorized",/]



=== TEST 29: (unwritable store) a key and a healthy store
--- skip_eval: 6: !::immutable_works()
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/ro/byok.db;
--- more_headers eval
[::user("alice"), "X-User: alice", ::admin()]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-api03-readonly-alice-001"}',
'GET /lookup?provider=anthropic',
'GET /admin/health']
--- error_code eval
[201, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, "", qq{{"status":"ok"}\n}]



=== TEST 30: (unwritable store) writes fail: health says so, the API answers 503 and changes nothing, lookups go on
Once alice's selection is in the zone, the store's files are made immutable
(chattr +i): SQLite can still read them, every write fails with an I/O
error.
--- skip_eval: 13: !::immutable_works()
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/ro/byok.db;
--- init
my ($status) = ::call('GET', '/lookup?provider=anthropic', "X-User: alice");
$status == 200 or die "lookup: $status\n";
::store_immutable(1);
--- more_headers eval
[::admin(), ::user("alice"), ::user("alice"), ::user("alice"),
 "X-User: alice", ::admin()]
--- request eval
['GET /admin/health',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-readonly-alice-0000002"}',
'PATCH /me/provider-keys/1
{"label":"changed"}',
'DELETE /me/provider-keys/1',
'GET /lookup?provider=anthropic',
'GET /admin/metrics']
--- error_code eval
[503, 503, 503, 503, 200, 200]
--- response_headers eval
["", "", "", "", "X-BYOK-Key: sk-ant-api03-readonly-alice-001", ""]
--- response_body eval
[qr/^\{"status":"unavailable","reason":"[^"]+"\}\n\z/,
 (qq{{"error":"store_unavailable","message":"The key store is unavailable; nothing was changed. Try again later."}\n}) x 3,
 "",
 qr/\nbyok_store_errors_total [3-9]\n/]



=== TEST 31: (unwritable store) writable again: nothing was half-written, writes work again
The same nginx goes on: its connection to the store recovers.
--- skip_eval: 10: !::immutable_works()
--- same_server
--- init
::store_immutable(0);
--- more_headers eval
[::admin(), ::user("alice"), ::admin(), ::user("alice"), ::admin()]
--- request eval
['GET /admin/stats',
 'GET /me/provider-keys?include_revoked=1',
 'GET /admin/audit',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-readonly-alice-0000002"}',
 'GET /admin/health']
--- error_code eval
[200, 200, 200, 201, 200]
--- response_body eval
[qr/^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\}\],"cache":\{[^}]+\},"store":\{"bytes":\d+,"audit_rows":1\}\}\n\z/,
 qr/^\{"keys":\[\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main",[^{}]*"status":"active"[^{}]*\}\]\}\n\z/,
 qr/^\{"entries":\[\{"id":1,[^{}]*"action":"key.create"[^{}]*\}\],"next":null\}\n\z/,
 qr/^\{"id":2,/,
 qq{{"status":"ok"}\n}]
