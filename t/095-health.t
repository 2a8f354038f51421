# Key health and same-request fallback (SPEC §7.4, README "Key health and
# same-request fallback"): a proxied provider call that used a user's key
# and was answered 401/403 makes the key "invalid", 402 "exhausted", 429
# puts it in "cooldown" until Retry-After; 5xx only counts as a failure.
# The documented retry location (proxy_intercept_errors + error_page to a
# named location that injects again) sends the same request once more with
# the next key, or the platform key, before any byte reached the client.
#
# Layout:
#   - nginx runs a master and two workers: the health state lives in the
#     shared zone, and every worker must skip a refused key at once;
#   - the fake provider is a second server of the same nginx on
#     127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT.  It answers by key:
#       sk-ant-bad-*  401      sk-ant-deny-* 403     sk-ant-poor-* 402
#       sk-ant-slow-* 429 (Retry-After: 30)          sk-ant-down-* 503
#     and 401 to any key equal to the request's X-Refuse header, 402 to any
#     key equal to its X-Exhaust header (both passed on by nginx); any other
#     key gets 200 "ok key=<key> len=<Content-Length> body=<body> uri=<uri>"
#     (the body is handed to an inner location in a header, which is how a
#     server made of nginx directives alone can show it).  It logs
#     "<key> <status>" per call to logs/fake.log, which /fakelog serves: the
#     proof of which keys reached the provider, and in which order;
#   - /pause, requested twice in a row, waits about 1/3 s (limit_req): time
#     for the workers to flush the usage counters (byok_usage_flush 100ms);
#   - the store is logs/byok.db (the runner wipes the server root before
#     every block), except for the two blocks about a restart, which share
#     a store in $TEST_NGINX_BYOK_STATE.

use Test::Nginx::Socket 'no_plan';

use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use MIME::Base64 qw(encode_base64url);
use Time::Local qw(timegm);

$ENV{AGENTS_MASTER_KEY} =
    '5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b';
$ENV{AGENTS_JWT_SECRET} = 'health-suite-jwt-secret-0123456789abcdef';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
# next to the server port, so parallel runs on other ports do not collide
$ENV{TEST_NGINX_FAKE_PROVIDER_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 9;
$ENV{TEST_NGINX_FAKE_LOG} = server_root() . '/logs/fake.log';
$ENV{TEST_NGINX_BYOK_STATE} = tempdir('byok-health-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);

master_on();
workers(2);
no_shuffle();
no_long_string();

sub jwt {
    my ($claims) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{%s,"exp":%d}', $claims, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

# headers of a user API call as $user, and of an admin call
sub user {
    return "Authorization: Bearer " . jwt(qq{"sub":"$_[0]"})
           . "\nContent-Type: application/json";
}

sub admin {
    return "Authorization: Bearer " . jwt(q{"sub":"root","role":"admin"});
}

# the create request of an anthropic key
sub add_key {
    return qq{POST /me/provider-keys\n}
           . qq{{"category":"llm","provider":"anthropic","value":"$_[0]"}};
}

# A plain HTTP/1.0 call to the nginx under test, for --- init code that
# must act before the block's requests (or many at once).
sub call {
    my ($method, $path, $headers, $body) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port(),
                                     Timeout => 10)
        or die "connect: $!\n";
    $body //= '';
    my $req = "$method $path HTTP/1.0\r\nHost: localhost\r\n";
    $req .= "$_\r\n" for split /\n/, $headers // '';
    $req .= "Content-Length: " . length($body) . "\r\n" if length $body;
    print $sock "$req\r\n$body";
    local $/;
    my $resp = <$sock>;
    close $sock;
    my ($status) = ($resp // '') =~ m{^HTTP/1\.\d (\d+)};
    return $status // 0;
}

# A key object with these fields (in any order); "TIME" stands for an
# ISO-8601 UTC time.
sub key_like {
    my (%f) = @_;
    my $re = '';
    for my $k (sort keys %f) {
        my $v = $f{$k};
        if ($v eq 'TIME') {
            $v = '"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"';
        } elsif ($v eq 'N+') {
            $v = '[1-9]\d*';
        } elsif ($v !~ /^(?:null|\d+)$/) {
            $v = qq{"\Q$v\E"};
        }
        $re .= qq{(?=.*"$k":$v\[,\}\])};
    }
    return qr/^$re\{"id":\d+,/s;
}

# a 3000-byte JSON request body, for the retry with a body
our $Big = '{"pad":"' . ('x' x 3000) . '"}';

# ISO-8601 UTC (as the key object writes times) to epoch seconds
sub iso {
    my ($y, $mo, $d, $h, $mi, $s) =
        $_[0] =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z$/ or return;
    return timegm($s, $mi, $h, $d, $mo - 1, $y);
}

our $Catalog = <<"_EOC_";
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
     "auth": {"header": "x-api-key", "prefix": ""},
     "headers": {"anthropic-version": "2023-06-01"},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}/v1/models"}}
  ]}
]}
_EOC_

our $Fake = <<'_EOC_';
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
    byok_allow_insecure_test_urls on;
    byok_usage_flush 100ms;

    log_format fake '$http_x_api_key $status';
    limit_req_zone $server_port zone=pause:1m rate=3r/s;

    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;
        access_log $TEST_NGINX_FAKE_LOG fake;

        location / {
            if ($http_x_api_key = $http_x_refuse) {
                return 401 "refused\n";
            }
            if ($http_x_api_key = $http_x_exhaust) {
                return 402 "payment required\n";
            }
            if ($http_x_api_key ~ "^sk-ant-bad-") {
                return 401 "refused\n";
            }
            if ($http_x_api_key ~ "^sk-ant-deny-") {
                return 403 "forbidden\n";
            }
            if ($http_x_api_key ~ "^sk-ant-poor-") {
                return 402 "payment required\n";
            }
            if ($http_x_api_key ~ "^sk-ant-slow-") {
                add_header Retry-After 30 always;
                return 429 "slow down\n";
            }
            if ($http_x_api_key ~ "^sk-ant-down-") {
                return 503 "down\n";
            }

            proxy_set_header X-Got-Key  $http_x_api_key;
            proxy_set_header X-Got-Len  $content_length;
            proxy_set_header X-Got-Body $request_body;
            proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/echo/;
        }

        location /echo/ {
            access_log off;
            return 200 "ok key=$http_x_got_key len=$http_x_got_len body=$http_x_got_body uri=$uri\n";
        }
    }
_EOC_

our $Config = <<'_EOC_';
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /admin/ {
        byok_admin;
    }

    location /anthropic/ {
        byok_provider      anthropic;
        byok_user          $http_x_user;
        byok_inject        on;
        byok_source_header on;
        byok_platform_key  anthropic "sk-ant-platform-0000000000000000";

        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/;
        proxy_intercept_errors on;
        error_page 401 402 403 429 = @anthropic_retry;
    }

    location @anthropic_retry {
        byok_provider      anthropic;
        byok_user          $http_x_user;
        byok_inject        on;
        byok_source_header on;
        byok_platform_key  anthropic "sk-ant-platform-0000000000000000";

        rewrite ^/anthropic/(.*)$ /$1 break;
        proxy_pass http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;
    }

    location = /fakelog {
        default_type text/plain;
        alias $TEST_NGINX_FAKE_LOG;
    }

    location = /pause {
        limit_req zone=pause burst=10;
        return 204;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    my $http = $block->http_config // '';
    $http = "    byok_store logs/byok.db;\n$http"
        if $http !~ /\bbyok_store\b/;
    $block->set_value('http_config', $http . $main::Fake);

    $block->set_value('config', $main::Config . ($block->config // ''));

    if (!defined $block->user_files) {
        $block->set_value('user_files', ">>> catalog.json\n$main::Catalog");
    }
});

run_tests();

__DATA__

=== TEST 1: 401 makes the key invalid and the same request is served by the next key
Key 2 (newest, tried first) is refused; the client sees only the second
answer, from key 1, and the provider saw the refused key once.
--- more_headers eval
[::user("ann"), ::user("ann"), "X-User: ann", ::user("ann"), ""]
--- request eval
[::add_key("sk-ant-good-ann-00000000001"),
 ::add_key("sk-ant-bad-ann-000000000002"),
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2",
 "GET /fakelog"]
--- error_code eval
[201, 201, 200, 200, 200]
--- response_headers eval
["", "", "X-BYOK-Source: user", "", ""]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 "ok key=sk-ant-good-ann-00000000001 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 2, status => "invalid", status_since => "TIME",
            status_until => "null"),
 "sk-ant-bad-ann-000000000002 401\nsk-ant-good-ann-00000000001 200\n"]
--- no_error_log
[error]



=== TEST 2: 403 makes the key invalid and the same request is served by the next key
--- more_headers eval
[::user("bea"), ::user("bea"), "X-User: bea", ::user("bea"), ::user("bea"), ""]
--- request eval
[::add_key("sk-ant-good-bea-00000000001"),
 ::add_key("sk-ant-deny-bea-00000000002"),
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2",
 "GET /me/provider-keys/1",
 "GET /fakelog"]
--- error_code eval
[201, 201, 200, 200, 200, 200]
--- response_headers eval
["", "", "X-BYOK-Source: user", "", "", ""]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 "ok key=sk-ant-good-bea-00000000001 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 2, status => "invalid", status_since => "TIME"),
 ::key_like(id => 1, status => "active"),
 "sk-ant-deny-bea-00000000002 403\nsk-ant-good-bea-00000000001 200\n"]
--- no_error_log
[error]



=== TEST 3: 402 makes the key exhausted and the same request is served by the next key
--- more_headers eval
[::user("cy"), ::user("cy"), "X-User: cy", ::user("cy"), "X-User: cy", ""]
--- request eval
[::add_key("sk-ant-good-cy-000000000001"),
 ::add_key("sk-ant-poor-cy-000000000002"),
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2",
 "GET /anthropic/v1/messages",
 "GET /fakelog"]
--- error_code eval
[201, 201, 200, 200, 200, 200]
--- response_headers eval
["", "", "X-BYOK-Source: user", "", "X-BYOK-Source: user", ""]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 "ok key=sk-ant-good-cy-000000000001 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 2, status => "exhausted", status_since => "TIME",
            status_until => "null"),
 "ok key=sk-ant-good-cy-000000000001 len= body= uri=/echo/v1/messages\n",
 "sk-ant-poor-cy-000000000002 402\nsk-ant-good-cy-000000000001 200\n"
 . "sk-ant-good-cy-000000000001 200\n"]
--- no_error_log
[error]



=== TEST 4: 429 with Retry-After: 30 puts the key in cool-down until now + 30 s
The filter turns the key object into its status and the length of the
cool-down (status_until - status_since).
--- more_headers eval
[::user("dot"), ::user("dot"), "X-User: dot", ::user("dot"), "X-User: dot", ""]
--- request eval
[::add_key("sk-ant-good-dot-00000000001"),
 ::add_key("sk-ant-slow-dot-00000000002"),
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2",
 "GET /anthropic/v1/messages",
 "GET /fakelog"]
--- error_code eval
[201, 201, 200, 200, 200, 200]
--- response_headers eval
["", "", "X-BYOK-Source: user", "", "X-BYOK-Source: user", ""]
--- response_body_filters eval
sub {
    my $b = shift;
    return $b unless $b =~ /^\{"id":2,/ && $b =~ /"status_since":"/;
    my ($st) = $b =~ /"status":"(\w+)"/;
    my ($since) = $b =~ /"status_since":"([^"]+)"/;
    my ($until) = $b =~ /"status_until":"([^"]+)"/;
    return "status=$st for=" . (::iso($until) - ::iso($since))
           . " until-now=" . (::iso($until) - time > 20 ? "ok" : "short")
           . "\n";
}
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,.*"status":"active"/,
 "ok key=sk-ant-good-dot-00000000001 len= body= uri=/echo/v1/messages\n",
 "status=cooldown for=30 until-now=ok\n",
 "ok key=sk-ant-good-dot-00000000001 len= body= uri=/echo/v1/messages\n",
 "sk-ant-slow-dot-00000000002 429\nsk-ant-good-dot-00000000001 200\n"
 . "sk-ant-good-dot-00000000001 200\n"]
--- no_error_log
[error]



=== TEST 5: 503 changes nothing: no retry, the key stays active, the failure is counted
The refusal reaches the client as the provider sent it; after a pause the
flushed counters show one request and one failure.
--- more_headers eval
[::user("eve"), ::user("eve"), "X-User: eve", "X-User: eve", "", "",
 ::user("eve"), ""]
--- request eval
[::add_key("sk-ant-good-eve-00000000001"),
 ::add_key("sk-ant-down-eve-00000000002"),
 "GET /anthropic/v1/messages",
 "GET /anthropic/v1/messages",
 "GET /pause", "GET /pause",
 "GET /me/provider-keys/2",
 "GET /fakelog"]
--- error_code eval
[201, 201, 503, 503, 204, 204, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, "down\n", "down\n", "", "",
 ::key_like(id => 2, status => "active", requests => 2, failures => 2,
            last_used_at => "TIME"),
 "sk-ant-down-eve-00000000002 503\nsk-ant-down-eve-00000000002 503\n"]
--- no_error_log
[error]



=== TEST 6: all user keys refused: one retry per request, then the platform key serves
Request 3: key 2 is refused, the retry uses key 1, refused as well: that
second answer reaches the client (one retry only).  Request 4: no usable
user key is left, the platform key serves it.
--- more_headers eval
[::user("fox"), ::user("fox"), "X-User: fox", "X-User: fox",
 ::user("fox"), ::user("fox"), ""]
--- request eval
[::add_key("sk-ant-bad-fox-000000000001"),
 ::add_key("sk-ant-bad-fox-000000000002"),
 "GET /anthropic/v1/messages",
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/1",
 "GET /me/provider-keys/2",
 "GET /fakelog"]
--- error_code eval
[201, 201, 401, 200, 200, 200, 200]
--- response_headers eval
["", "", "X-BYOK-Source: user", "X-BYOK-Source: platform", "", "", ""]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 "refused\n",
 "ok key=sk-ant-platform-0000000000000000 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 1, status => "invalid"),
 ::key_like(id => 2, status => "invalid"),
 "sk-ant-bad-fox-000000000002 401\nsk-ant-bad-fox-000000000001 401\n"
 . "sk-ant-platform-0000000000000000 200\n"]
--- no_error_log
[error]



=== TEST 7: the single user key refused: the platform key serves the same request
--- more_headers eval
[::user("gil"), "X-User: gil", "X-User: gil", ""]
--- request eval
[::add_key("sk-ant-bad-gil-000000000001"),
 "GET /anthropic/v1/messages",
 "GET /anthropic/v1/messages",
 "GET /fakelog"]
--- error_code eval
[201, 200, 200, 200]
--- response_headers eval
["", "X-BYOK-Source: platform", "X-BYOK-Source: platform", ""]
--- response_body eval
[qr/^\{"id":1,/,
 "ok key=sk-ant-platform-0000000000000000 len= body= uri=/echo/v1/messages\n",
 "ok key=sk-ant-platform-0000000000000000 len= body= uri=/echo/v1/messages\n",
 "sk-ant-bad-gil-000000000001 401\nsk-ant-platform-0000000000000000 200\n"
 . "sk-ant-platform-0000000000000000 200\n"]
--- no_error_log
[error]



=== TEST 8: the retried request carries the same body (a small one and a 3000-byte one)
--- more_headers eval
[::user("hal"), ::user("hal"),
 "X-User: hal\nContent-Type: application/json",
 ::user("hal"),
 "X-User: hal\nContent-Type: application/json",
 ""]
--- request eval
[::add_key("sk-ant-good-hal-00000000001"),
 ::add_key("sk-ant-bad-hal-000000000002"),
 qq{POST /anthropic/v1/messages\n{"model":"claude","max_tokens":16}},
 ::add_key("sk-ant-slow-hal-00000000003"),
 "POST /anthropic/v1/messages\n$::Big",
 "GET /fakelog"]
--- error_code eval
[201, 201, 200, 201, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 qq{ok key=sk-ant-good-hal-00000000001 len=34 body={"model":"claude","max_tokens":16} uri=/echo/v1/messages\n},
 qr/^\{"id":3,/,
 "ok key=sk-ant-good-hal-00000000001 len=3010 body=$::Big uri=/echo/v1/messages\n",
 "sk-ant-bad-hal-000000000002 401\nsk-ant-good-hal-00000000001 200\n"
 . "sk-ant-slow-hal-00000000003 429\nsk-ant-good-hal-00000000001 200\n"]
--- no_error_log
[error]



=== TEST 9: every worker skips the refused key at once: 20 more requests never send it
Two workers, a new connection per request: after the one refusal, the
provider's log shows only the good key.
--- more_headers eval
[::user("ida"), ::user("ida"), ("X-User: ida") x 21, "", "", ""]
--- request eval
[::add_key("sk-ant-good-ida-00000000001"),
 ::add_key("sk-ant-bad-ida-000000000002"),
 ("GET /anthropic/v1/messages") x 21,
 "GET /pause", "GET /pause",
 "GET /fakelog"]
--- error_code eval
[201, 201, (200) x 21, 204, 204, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 ("ok key=sk-ant-good-ida-00000000001 len= body= uri=/echo/v1/messages\n") x 21,
 "", "",
 "sk-ant-bad-ida-000000000002 401\n"
 . ("sk-ant-good-ida-00000000001 200\n" x 21)]
--- no_error_log
[error]



=== TEST 10: a flood of 401s writes one audit row
16 requests race with the refused key (--- init, all at once, on both
workers); the health change is persisted and audited once, by the worker
that made it.
--- init
my $auth = ::user("jo");
::call(POST => '/me/provider-keys', $auth,
       '{"category":"llm","provider":"anthropic","value":"sk-ant-good-jo-000000000001"}') == 201
    or die "create 1";
::call(POST => '/me/provider-keys', $auth,
       '{"category":"llm","provider":"anthropic","value":"sk-ant-bad-jo-0000000000002"}') == 201
    or die "create 2";
my @pids;
for (1 .. 16) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        ::call(GET => '/anthropic/v1/messages', 'X-User: jo');
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid $_, 0 for @pids;
--- more_headers eval
[::admin(), ::user("jo")]
--- request eval
["GET /admin/audit?action=key.health",
 "GET /me/provider-keys/2"]
--- error_code eval
[200, 200]
--- response_body eval
[qr/^\{"entries":\[\{"id":\d+,
    (?=[^{}]*"actor_kind":"runtime")(?=[^{}]*"action":"key\.health")
    (?=[^{}]*"key_id":2[,}])(?=[^{}]*"outcome":"invalid")
    [^{}]*\}\],"next":null\}\n\z/x,
 ::key_like(id => 2, status => "invalid")]
--- no_error_log
[error]



=== TEST 11: restart, part 1: a key refused with 401 is invalid in a store outside the server root
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/restart.db;
--- more_headers eval
[::user("kim"), ::user("kim"), "X-User: kim", ::user("kim")]
--- request eval
[::add_key("sk-ant-good-kim-00000000001"),
 ::add_key("sk-ant-bad-kim-000000000002"),
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2"]
--- error_code eval
[201, 201, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 "ok key=sk-ant-good-kim-00000000001 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 2, status => "invalid", status_since => "TIME")]
--- no_error_log
[error]



=== TEST 12: restart, part 2: a fresh nginx on the same store still skips the invalid key
Nothing of the zone survived the restart: the state comes from the store.
--- http_config
    byok_store $TEST_NGINX_BYOK_STATE/restart.db;
    byok_cache_ttl 30s;
--- more_headers eval
[::user("kim"), ("X-User: kim") x 3, ""]
--- request eval
["GET /me/provider-keys/2",
 ("GET /anthropic/v1/messages") x 3,
 "GET /fakelog"]
--- error_code eval
[200, 200, 200, 200, 200]
--- response_headers eval
["", ("X-BYOK-Source: user") x 3, ""]
--- response_body eval
[::key_like(id => 2, status => "invalid", status_since => "TIME"),
 ("ok key=sk-ant-good-kim-00000000001 len= body= uri=/echo/v1/messages\n") x 3,
 "sk-ant-good-kim-00000000001 200\n" x 3]
--- no_error_log
[error]



=== TEST 13: PATCH {"status":"active"} re-enables an invalid key, which is used again
The fake refuses the key named in X-Refuse: key 2 is refused once, then
re-enabled, then served.
--- more_headers eval
[::user("lou"), ::user("lou"),
 "X-User: lou\nX-Refuse: sk-ant-flaky-lou-0000000002",
 ::user("lou"), ::user("lou"), ::user("lou"),
 "X-User: lou", ""]
--- request eval
[::add_key("sk-ant-good-lou-00000000001"),
 ::add_key("sk-ant-flaky-lou-0000000002"),
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2",
 qq{PATCH /me/provider-keys/2\n{"status":"active"}},
 "GET /me/provider-keys/2",
 "GET /anthropic/v1/messages",
 "GET /fakelog"]
--- error_code eval
[201, 201, 200, 200, 200, 200, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
 "ok key=sk-ant-good-lou-00000000001 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 2, status => "invalid"),
 ::key_like(id => 2, status => "active"),
 ::key_like(id => 2, status => "active"),
 "ok key=sk-ant-flaky-lou-0000000002 len= body= uri=/echo/v1/messages\n",
 "sk-ant-flaky-lou-0000000002 401\nsk-ant-good-lou-00000000001 200\n"
 . "sk-ant-flaky-lou-0000000002 200\n"]
--- no_error_log
[error]



=== TEST 14: a key test that answers "valid" clears invalid and exhausted
Key 3 is made exhausted (402, X-Exhaust) and key 2 invalid (401, X-Refuse)
through the proxy, then only key 1 is used; both keys pass their test
against the same fake (GET /v1/models) and are used again, newest first.
--- more_headers eval
[::user("max"), ::user("max"), ::user("max"),
 "X-User: max\nX-Exhaust: sk-ant-flaky-max-0000000003",
 "X-User: max\nX-Refuse: sk-ant-flaky-max-0000000002",
 "X-User: max",
 ::user("max"), ::user("max"),
 ::user("max"), ::user("max"),
 ::user("max"), ::user("max"),
 "X-User: max", "X-User: max\nX-Refuse: sk-ant-flaky-max-0000000003", ""]
--- request eval
[::add_key("sk-ant-good-max-00000000001"),
 ::add_key("sk-ant-flaky-max-0000000002"),
 ::add_key("sk-ant-flaky-max-0000000003"),
 "GET /anthropic/v1/messages",
 "GET /anthropic/v1/messages",
 "GET /anthropic/v1/messages",
 "GET /me/provider-keys/2",
 "GET /me/provider-keys/3",
 "POST /me/provider-keys/2/test",
 "POST /me/provider-keys/3/test",
 "GET /me/provider-keys/2",
 "GET /me/provider-keys/3",
 "GET /anthropic/v1/messages",
 "GET /anthropic/v1/messages",
 "GET /fakelog"]
--- error_code eval
[201, 201, 201, (200) x 12]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, qr/^\{"id":3,/,
 "ok key=sk-ant-flaky-max-0000000002 len= body= uri=/echo/v1/messages\n",
 "ok key=sk-ant-good-max-00000000001 len= body= uri=/echo/v1/messages\n",
 "ok key=sk-ant-good-max-00000000001 len= body= uri=/echo/v1/messages\n",
 ::key_like(id => 2, status => "invalid"),
 ::key_like(id => 3, status => "exhausted"),
 qr/^\{"result":"valid","status":200,"latency_ms":\d+\}\n\z/,
 qr/^\{"result":"valid","status":200,"latency_ms":\d+\}\n\z/,
 ::key_like(id => 2, status => "active"),
 ::key_like(id => 3, status => "active"),
 "ok key=sk-ant-flaky-max-0000000003 len= body= uri=/echo/v1/messages\n",
 "ok key=sk-ant-flaky-max-0000000002 len= body= uri=/echo/v1/messages\n",
 "sk-ant-flaky-max-0000000003 402\nsk-ant-flaky-max-0000000002 200\n"
 . "sk-ant-flaky-max-0000000002 401\nsk-ant-good-max-00000000001 200\n"
 . "sk-ant-good-max-00000000001 200\n"
 . "sk-ant-flaky-max-0000000002 200\nsk-ant-flaky-max-0000000003 200\n"
 . "sk-ant-flaky-max-0000000003 200\n"
 . "sk-ant-flaky-max-0000000003 401\nsk-ant-flaky-max-0000000002 200\n"]
--- no_error_log
[error]
