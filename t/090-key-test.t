# POST /me/provider-keys/{id}/test — the key test (SPEC §5).
#
# The module decrypts the stored key and sends the catalog's test request
# with libcurl in a thread pool task: 2xx is "valid", 401/403 "invalid",
# any other status, a timeout or a network failure "error", a provider whose
# catalog entry has "test": null "skipped".  The result is stored as the key
# object's last_test and written to the audit log.
#
# The fake providers live on this machine, so every block loads a test
# catalog (html/catalog.json, below) with http:// test URLs on loopback, which
# needs "byok_allow_insecure_test_urls on".  A fake provider is either
#   - a second server in --- http_config, on $TEST_NGINX_FAKE_PROVIDER_PORT,
#     that checks the credential and answers like the real one, or
#   - the runner's --- tcp_listen server, which captures the exact bytes the
#     module sends (--- tcp_query) and answers with --- tcp_reply.
# $TEST_NGINX_CLOSED_PORT is a port nothing listens on.

use Test::Nginx::Socket 'no_plan';

use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();

# nginx inherits these; the module reads both when it loads its
# configuration
$ENV{AGENTS_JWT_SECRET} = 'key-test-suite-jwt-secret-0123456789abcdef';
$ENV{AGENTS_MASTER_KEY} =
    '3c1f0e5a9b7d2468ace013579bdf2468ace013579bdf2468ace013579bdf2468';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
# next to the server port, so parallel runs on other ports do not collide
$ENV{TEST_NGINX_FAKE_PROVIDER_PORT} ||=
    ($ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT} || 1984) + 7;
$ENV{TEST_NGINX_CLOSED_PORT} ||= $ENV{TEST_NGINX_FAKE_PROVIDER_PORT} + 1;

no_shuffle();
no_long_string();

# An HS256 token: {"sub":USER,"exp":now+1h} plus any extra string CLAIMS.
sub jwt {
    my ($user, %claims) = @_;

    my $extra = join '', map { sprintf ',"%s":"%s"', $_, $claims{$_} }
                         sort keys %claims;

    my $header = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $payload = encode_base64url(sprintf '{"sub":"%s","exp":%d%s}',
                                   $user, time + 3600, $extra);
    my $sig = encode_base64url(hmac_sha256("$header.$payload",
                                           $ENV{AGENTS_JWT_SECRET}));

    return "$header.$payload.$sig";
}

# The request headers of a call to the user or admin API as USER.
sub bearer {
    my ($user, %claims) = @_;

    return "Authorization: Bearer " . jwt($user, %claims) . "\n"
           . "Content-Type: application/json\n";
}

# One HTTP/1.0 call to this nginx as USER: returns (status, body).
sub api_call {
    my ($user, $method, $uri, $body) = @_;

    $body //= '';

    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => server_port_for_client(),
                                     Timeout => 10)
        or die "cannot connect to nginx: $!\n";

    my $auth = bearer($user);
    $auth =~ s/\n/\r\n/g;

    print $sock "$method $uri HTTP/1.0\r\nHost: localhost\r\n$auth"
                . "Content-Length: " . length($body) . "\r\n\r\n$body";

    my $response = do { local $/; <$sock> } // '';
    close $sock;

    my ($status) = $response =~ m{^HTTP/1\.\d (\d{3})};
    my (undef, $content) = split /\r\n\r\n/, $response, 2;

    return ($status // 0, $content // '');
}

# A fake provider outside nginx, for the non-blocking proof: it takes one
# request, leaves html/provider-has-request behind, waits DELAY seconds and
# only then answers 200.
sub start_slow_provider {
    my ($delay) = @_;

    my $listener = IO::Socket::INET->new(
        LocalAddr => '127.0.0.1',
        LocalPort => $ENV{TEST_NGINX_FAKE_PROVIDER_PORT},
        Listen    => 5,
        ReuseAddr => 1,
    ) or die "cannot listen on the fake provider port: $!\n";

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        my $client = $listener->accept;
        my $request = '';

        while ($client && $request !~ /\r\n\r\n/) {
            last if !sysread $client, $request, 4096, length $request;
        }

        open my $flag, '>', "$ENV{TEST_NGINX_HTML_DIR}/provider-has-request";
        close $flag;

        Time::HiRes::sleep($delay);

        print $client "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
                      . "Connection: close\r\n\r\n{\"data\":[]}" if $client;

        POSIX::_exit(0);
    }

    close $listener;
    push @main::children, $pid;
}

# USER's key test of key ID, sent from a background process; its reply body
# ends up in html/background-test.json.
sub start_background_test {
    my ($user, $id) = @_;

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        my (undef, $body) = api_call($user, 'POST',
                                     "/me/provider-keys/$id/test");

        my $file = "$ENV{TEST_NGINX_HTML_DIR}/background-test.json";
        open my $out, '>', "$file.tmp";
        print $out $body;
        close $out;
        rename "$file.tmp", $file;

        POSIX::_exit(0);
    }

    push @main::children, $pid;
}

# another connection holds the store's write lock for SECONDS (the sqlite3
# shell, in a background process); html/lock-held appears once it has it
sub start_lock_holder {
    my ($seconds) = @_;
    my $db = server_root() . '/logs/byok.db';
    my $flag = "$ENV{TEST_NGINX_HTML_DIR}/lock-held";

    my $pid = fork // die "fork: $!\n";

    if ($pid == 0) {
        open my $sqlite, '|-', 'sqlite3', $db or POSIX::_exit(1);
        print $sqlite "BEGIN IMMEDIATE;\n.shell touch $flag; sleep $seconds\n"
                      . "COMMIT;\n";
        close $sqlite;
        POSIX::_exit(0);
    }

    push @main::children, $pid;
}

sub wait_for_file {
    my ($name) = @_;

    for (1 .. 500) {
        return if -e "$ENV{TEST_NGINX_HTML_DIR}/$name";
        Time::HiRes::sleep(0.01);
    }

    die "html/$name did not appear\n";
}

sub wait_for_children {
    waitpid $_, 0 for @main::children;
    @main::children = ();
}

# The test catalog: the auth styles of catalog/providers.json, with the test
# URLs on the fake provider's port.  Here "brave" has a test (to show its
# header) and two example providers cover the POST and HEAD methods.
our $Catalog = <<'_EOC_';
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
     "auth": {"header": "x-api-key", "prefix": ""},
     "headers": {"anthropic-version": "2023-06-01"},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/models"}},
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/models"}},
    {"id": "unreachable", "name": "Unreachable", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_CLOSED_PORT/v1/models"}}
  ]},
  {"id": "image", "name": "Image", "providers": [
    {"id": "fal", "name": "Fal", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Key "},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/models/pricing?endpoint_id=fal-ai/flux/dev"}}
  ]},
  {"id": "video", "name": "Video", "providers": [
    {"id": "pika", "name": "Pika", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Key "},
     "test": null}
  ]},
  {"id": "audio", "name": "Audio", "providers": [
    {"id": "elevenlabs", "name": "ElevenLabs", "auth_methods": ["api_key"],
     "auth": {"header": "xi-api-key", "prefix": ""},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/models"}}
  ]},
  {"id": "research", "name": "Research", "providers": [
    {"id": "serper", "name": "Serper", "auth_methods": ["api_key"],
     "auth": {"header": "X-API-KEY", "prefix": ""},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/account"}},
    {"id": "brave", "name": "Brave", "auth_methods": ["api_key"],
     "auth": {"header": "X-Subscription-Token", "prefix": ""},
     "headers": {"Accept": "application/json"},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/res/v1/web/search?q=test&count=1"}},
    {"id": "example-post", "name": "Example (POST test)",
     "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "POST",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/check"}},
    {"id": "example-head", "name": "Example (HEAD test)",
     "auth_methods": ["api_key"],
     "auth": {"header": "X-Api-Key", "prefix": ""},
     "test": {"method": "HEAD",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/check"}}
  ]}
]}
_EOC_

# Blocks with a --- config get the module, the store (under logs/, which
# the runner wipes before each start), the test catalog and, unless the
# block names its own catalog, the insecure-URL switch the local fakes need.
add_block_preprocessor(sub {
    my $block = shift;

    return if !defined $block->config;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    my $http = $block->http_config // '';

    if ($http !~ /\bbyok_catalog\b/) {
        $http = <<'_EOC_' . $http;
    byok_store logs/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
    byok_allow_insecure_test_urls on;
_EOC_
    }

    $block->set_value('http_config', $http);

    if (!defined $block->user_files) {
        $block->set_value('user_files', ">>> catalog.json\n$main::Catalog");
    }
});

run_tests();

__DATA__

=== TEST 1: a key the provider accepts is "valid" with the provider's status, and the key object shows it as last_test
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            if ($http_x_api_key != "sk-ant-api03-valid-0123456789") {
                return 401 '{"type":"error"}';
            }
            if ($http_anthropic_version != "2023-06-01") {
                return 400 '{"type":"error"}';
            }
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-valid-0123456789"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,"category":"llm","provider":"anthropic",.*"last_test":null,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$',
'^\{"id":1,.*"status":"active",.*"last_test":\{"result":"valid","status":200,"at":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"\},"last_used_at":null[,}]']
--- no_error_log
[error]



=== TEST 2: a key the provider refuses with 401 is "invalid", status 401
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            if ($http_x_api_key != "sk-ant-api03-valid-0123456789") {
                return 401 '{"type":"error","error":{"type":"authentication_error"}}';
            }
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-revoked-by-anthropic"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"invalid","status":401,"latency_ms":\d+\}$',
'"last_test":\{"result":"invalid","status":401,"at":"[^"]+"\}']
--- no_error_log
[error]



=== TEST 3: 403 from the provider is "invalid" too, status 403
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_reply eval
"HTTP/1.1 403 Forbidden\r
Content-Type: application/json\r
Content-Length: 21\r
Connection: close\r
\r
{\"error\":\"forbidden\"}"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"invalid","status":403,"latency_ms":\d+\}$',
'"last_test":\{"result":"invalid","status":403,"at":"[^"]+"\}']
--- no_error_log
[error]



=== TEST 4: a provider failing with 500 is an "error" with status 500 (the key is not blamed)
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_reply eval
"HTTP/1.1 500 Internal Server Error\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"error","status":500,"latency_ms":\d+\}$',
'"status":"active",.*"last_test":\{"result":"error","status":500,"at":"[^"]+"\}']
--- no_error_log
[error]



=== TEST 5: a provider answering 429 is an "error" with status 429, not "invalid"
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_reply eval
"HTTP/1.1 429 Too Many Requests\r
Retry-After: 30\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"error","status":429,"latency_ms":\d+\}$']
--- no_error_log
[error]



=== TEST 6: a provider that does not answer within byok_test_timeout (1s) is an "error" with status null, reported after about 1 s
--- config
    location /me/provider-keys {
        byok_api;
        byok_test_timeout 1s;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_reply_delay: 3s
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"error","status":null,"latency_ms":1\d\d\d\}$',
'"last_test":\{"result":"error","status":null,"at":"[^"]+"\}']
--- timeout: 2.5



=== TEST 7: a refused connection is an "error" with status null
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"unreachable","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"error","status":null,"latency_ms":\d+\}$',
'"last_test":\{"result":"error","status":null,"at":"[^"]+"\}']
--- no_error_log
[error]



=== TEST 8: a redirect is not followed: 302 is an "error" with status 302 (following it would have reached a 200)
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_reply eval
"HTTP/1.1 302 Found\r
Location: http://127.0.0.1:$ENV{TEST_NGINX_SERVER_PORT}/index.html\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"error","status":302,"latency_ms":\d+\}$']
--- no_error_log
GET /index.html



=== TEST 9: the provider's body and headers never reach the client: the reply is exactly the result object
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Type: application/json\r
X-Provider-Marker: provider-header-7f3a\r
Content-Length: 53\r
Connection: close\r
\r
{\"data\":[{\"id\":\"provider-body-7f3a\",\"owner\":\"acme\"}]}"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_headers eval
["", "!X-Provider-Marker\nContent-Type: application/json"]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']



=== TEST 10: a provider whose catalog entry has "test": null is "skipped": status null, latency 0, no request sent
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"video","provider":"pika","value":"pk-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 200, 200]
--- response_body_like eval
['^\{"id":1,"category":"video","provider":"pika",',
'^\{"result":"skipped","status":null,"latency_ms":0\}$',
'"last_test":\{"result":"skipped","status":null,"at":"[^"]+"\}']
--- no_error_log
test failed



=== TEST 11: another user's key answers 404 not_found exactly like a missing id, and is not tested
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval
[::bearer('alice'), ::bearer('bob'), ::bearer('bob'), ::bearer('alice')]
--- request eval
['POST /me/provider-keys
{"category":"video","provider":"pika","value":"pk-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'POST /me/provider-keys/2/test',
'GET /me/provider-keys/1']
--- error_code eval
[201, 404, 404, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"error":"not_found","message":"No such key\."\}$',
'^\{"error":"not_found","message":"No such key\."\}$',
'"last_test":null,']



=== TEST 12: a revoked key answers 404 not_found
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"video","provider":"pika","value":"pk-0123456789abcdef"}',
'DELETE /me/provider-keys/1',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200, 404]
--- response_body_like eval
['^\{"id":1,',
'"status":"revoked",',
'^\{"error":"not_found","message":"No such key\."\}$']



=== TEST 13: byok_test_limit rate=1r/m burst=5: the sixth quick test is 429 rate_limited with Retry-After; another user still gets through
--- http_config
    byok_test_limit rate=1r/m burst=5;

    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval
[(::bearer('alice')) x 7, (::bearer('bob')) x 2]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-alice-0123456789"}',
('POST /me/provider-keys/1/test') x 6,
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-bob-0123456789"}',
'POST /me/provider-keys/2/test']
--- error_code eval
[201, 200, 200, 200, 200, 200, 429, 201, 200]
--- response_headers_like eval
[("") x 6, "Retry-After: (?:60|61)\nContent-Type: application/json", "", ""]
--- response_body_like eval
['^\{"id":1,',
('^\{"result":"valid","status":200,"latency_ms":\d+\}$') x 5,
'^\{"error":"rate_limited","message":"[^"]+"\}$',
'^\{"id":2,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']



=== TEST 14: without byok_test_limit the limit is rate=6r/m burst=5: the sixth quick test is 429
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-alice-0123456789"}',
('POST /me/provider-keys/1/test') x 6]
--- error_code eval
[201, 200, 200, 200, 200, 200, 429]
--- response_headers_like eval
[("") x 6, "Retry-After: (?:10|11)"]
--- response_body_like eval
['^\{"id":1,',
('^\{"result":"valid","status":200,"latency_ms":\d+\}$') x 5,
'^\{"error":"rate_limited",']



=== TEST 15: byok_test_limit rate=2r/s burst=1: the second immediate test waits half a second, Retry-After: 1
--- http_config
    byok_test_limit rate=2r/s burst=1;

    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-alice-0123456789"}',
'POST /me/provider-keys/1/test',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200, 429]
--- response_headers eval
["", "", "Retry-After: 1"]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$',
'^\{"error":"rate_limited",']



=== TEST 16: byok_test_limit off: ten quick tests all run
--- http_config
    byok_test_limit off;

    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-alice-0123456789"}',
('POST /me/provider-keys/1/test') x 10]
--- error_code eval
[201, (200) x 10]
--- response_body_like eval
['^\{"id":1,',
('^\{"result":"valid","status":200,"latency_ms":\d+\}$') x 10]



=== TEST 17: on the wire, Anthropic style: GET, x-api-key with the bare key and the catalog's anthropic-version, no Authorization
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /v1/models HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
x-api-key: sk-ant-api03-wire-0123456789\r
anthropic-version: 2023-06-01\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-wire-0123456789"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
sk-ant-api03-wire-0123456789



=== TEST 18: on the wire, OpenAI style: Authorization: Bearer <key>; nothing of the client's request (its token, X-Forwarded-For) travels
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /v1/models HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
Authorization: Bearer sk-proj-wire-0123456789\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice') . "X-Forwarded-For: 203.0.113.7\n"
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-wire-0123456789"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
sk-proj-wire-0123456789



=== TEST 19: on the wire, Fal style: Authorization: Key <key>, and the test URL's query string as the catalog writes it
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /v1/models/pricing?endpoint_id=fal-ai/flux/dev HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
Authorization: Key fal-wire-0123456789:abcdef\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"image","provider":"fal","value":"fal-wire-0123456789:abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
fal-wire-0123456789



=== TEST 20: on the wire, ElevenLabs style: xi-api-key with the bare key
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /v1/models HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
xi-api-key: el-wire-0123456789abcdef\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"audio","provider":"elevenlabs","value":"el-wire-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
el-wire-0123456789abcdef



=== TEST 21: on the wire, Serper style: X-API-KEY, spelled as the catalog spells it
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /account HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
X-API-KEY: serper-wire-0123456789abcdef\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"serper","value":"serper-wire-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
serper-wire-0123456789abcdef



=== TEST 22: on the wire, Brave style: X-Subscription-Token, and a catalog "Accept" header replaces the default one
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /res/v1/web/search?q=test&count=1 HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
X-Subscription-Token: BSA-wire-0123456789abcdef\r
Accept: application/json\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"brave","value":"BSA-wire-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
BSA-wire-0123456789abcdef



=== TEST 23: on the wire, a catalog test with method POST is a POST with an empty body (Content-Length: 0)
--- config
    location /me/provider-keys {
        byok_api;
        byok_test_timeout 2s;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"POST /v1/check HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
Authorization: Bearer post-wire-0123456789abcdef\r
Content-Length: 0\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"example-post","value":"post-wire-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']



=== TEST 24: on the wire, a catalog test with method HEAD is a HEAD
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"HEAD /v1/check HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
X-Api-Key: head-wire-0123456789abcdef\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 1234\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"example-head","value":"head-wire-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']



=== TEST 25: the key tested is the stored one: a "value" in the test request's body is ignored
--- config
    location /me/provider-keys {
        byok_api;
    }
--- tcp_listen eval: $ENV{TEST_NGINX_FAKE_PROVIDER_PORT}
--- tcp_query eval
"GET /v1/models HTTP/1.1\r
Host: 127.0.0.1:$ENV{TEST_NGINX_FAKE_PROVIDER_PORT}\r
User-Agent: ngx_http_byok_module\r
Accept: */*\r
Authorization: Bearer sk-proj-stored-0123456789\r
\r
"
--- tcp_reply eval
"HTTP/1.1 200 OK\r
Content-Length: 0\r
Connection: close\r
\r
"
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-stored-0123456789"}',
'POST /me/provider-keys/1/test
{"value":"sk-proj-from-body-0123456789"}']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']



=== TEST 26: every test is audited as "key.test" with the result as outcome (GET /admin/audit, newest first)
--- http_config
    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            if ($http_x_api_key != "sk-ant-api03-valid-0123456789") {
                return 401;
            }
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }

    location /admin/ {
        byok_admin;
    }
--- more_headers eval
[(::bearer('alice')) x 6, ::bearer('ops', role => 'admin')]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-valid-0123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-wrong-0123456789"}',
'POST /me/provider-keys
{"category":"video","provider":"pika","value":"pk-0123456789abcdef"}',
'POST /me/provider-keys/1/test',
'POST /me/provider-keys/2/test',
'POST /me/provider-keys/3/test',
'GET /admin/audit?action=key.test']
--- error_code eval
[201, 201, 201, 200, 200, 200, 200]
--- response_body_like eval
['^\{"id":1,', '^\{"id":2,', '^\{"id":3,',
'^\{"result":"valid","status":200,',
'^\{"result":"invalid","status":401,',
'^\{"result":"skipped","status":null,',
'^\{"entries":\['
. '\{"id":\d+,"at":"[^"]+","actor":"alice","actor_kind":"user","action":"key.test","user":"alice","key_id":3,"provider":"pika","remote_addr":"127.0.0.1","outcome":"skipped"\},'
. '\{"id":\d+,"at":"[^"]+","actor":"alice","actor_kind":"user","action":"key.test","user":"alice","key_id":2,"provider":"anthropic","remote_addr":"127.0.0.1","outcome":"invalid"\},'
. '\{"id":\d+,"at":"[^"]+","actor":"alice","actor_kind":"user","action":"key.test","user":"alice","key_id":1,"provider":"anthropic","remote_addr":"127.0.0.1","outcome":"valid"\}'
. '\],"next":null\}$']



=== TEST 27: the test does not block nginx: with one nginx process, while a test waits 3 s on a slow provider, another request is answered at once
Upstream Test::Nginx sends a block's requests one after another, so the
slow test is sent from a background process started in --- init (after the
key is created there); --- init returns once the fake provider holds the
test request.  The block's own request must then be answered within the
1 s --- timeout, and it finds last_test still null: the test is still
waiting.  The next block collects the slow test's reply.
--- config
    location /me/provider-keys {
        byok_api;
    }
--- init
(::api_call('alice', 'POST', '/me/provider-keys',
    '{"category":"llm","provider":"anthropic","value":"sk-ant-api03-slow-0123456789"}'))[0] == 201
    or die "cannot create the key\n";
::start_slow_provider(3);
::start_background_test('alice', 1);
::wait_for_file('provider-has-request');
--- more_headers eval: ::bearer('alice')
--- request
GET /me/provider-keys/1
--- timeout: 1
--- error_code: 200
--- response_body_like: ^\{"id":1,.*"last_test":null,"last_used_at":null[,}]



=== TEST 28: ... and the slow test itself completes "valid" after about 3 s (same nginx)
--- init
::wait_for_children();
--- more_headers eval: ::bearer('alice')
--- request eval
['GET /background-test.json',
'GET /me/provider-keys/1']
--- error_code eval
[200, 200]
--- response_body_like eval
['^\{"result":"valid","status":200,"latency_ms":[3-9]\d\d\d\}$',
'"last_test":\{"result":"valid","status":200,"at":"[^"]+"\}']



=== TEST 29: recording the result does not block nginx either: while another connection holds the store's write lock for 3 s, the test waits for it in its thread, and another request is answered at once
The provider answers at once; the result and its audit row are written in
the thread pool, on the worker's writer connection, which waits for the
lock.  --- init returns half a second after the provider got the test
request, when the test has its answer.  The block's own request must then
be answered within the 1 s --- timeout, and it finds last_test still null.
--- config
    location /me/provider-keys {
        byok_api;
    }
--- init
(::api_call('alice', 'POST', '/me/provider-keys',
    '{"category":"llm","provider":"anthropic","value":"sk-ant-api03-lock-0123456789"}'))[0] == 201
    or die "cannot create the key\n";
::start_lock_holder(3);
::wait_for_file('lock-held');
::start_slow_provider(0);
::start_background_test('alice', 1);
::wait_for_file('provider-has-request');
Time::HiRes::sleep(0.5);
--- more_headers eval: ::bearer('alice')
--- request
GET /me/provider-keys/1
--- timeout: 1
--- error_code: 200
--- response_body_like: ^\{"id":1,.*"last_test":null,"last_used_at":null[,}]



=== TEST 30: ... and once the lock is released the result is recorded: the test answers "valid" and last_test shows it (same nginx)
--- init
::wait_for_children();
--- more_headers eval: ::bearer('alice')
--- request eval
['GET /background-test.json',
'GET /me/provider-keys/1']
--- error_code eval
[200, 200]
--- response_body_like eval
['^\{"result":"valid","status":200,"latency_ms":\d+\}$',
'"last_test":\{"result":"valid","status":200,"at":"[^"]+"\}']



=== TEST 31: catalog check at start: an http:// test URL fails without byok_allow_insecure_test_urls, naming the entry
--- http_config
    byok_store logs/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- config
    location /me/provider-keys {
        byok_api;
    }
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
     "auth": {"header": "x-api-key", "prefix": ""},
     "test": {"method": "GET", "url": "https://api.anthropic.com/v1/models"}},
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "http://api.openai.com/v1/models"}}
  ]}
]}
--- must_die
--- error_log
categories[0].providers[1].test.url: must start with https://



=== TEST 32: catalog check at start: an https:// test URL to 127.0.0.1 fails too
--- http_config
    byok_store logs/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- config
    location /me/provider-keys {
        byok_api;
    }
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://127.0.0.1/v1/models"}}
  ]}
]}
--- must_die
--- error_log
categories[0].providers[0].test.url: must not point to a loopback, private, link-local or unspecified address



=== TEST 33: catalog check at start: a private network address (10.0.0.0/8) is refused as well
--- http_config
    byok_store logs/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- config
    location /me/provider-keys {
        byok_api;
    }
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://api.openai.com/v1/models"}},
    {"id": "groq", "name": "Groq", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://10.20.30.40/openai/v1/models"}}
  ]}
]}
--- must_die
--- error_log
categories[0].providers[1].test.url: must not point to a loopback, private, link-local or unspecified address



=== TEST 34: catalog check at start: the host name "localhost" is refused as well
--- http_config
    byok_store logs/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- config
    location /me/provider-keys {
        byok_api;
    }
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://api.openai.com/v1/models"}}
  ]},
  {"id": "research", "name": "Research", "providers": [
    {"id": "tavily", "name": "Tavily", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://localhost:8443/usage"}}
  ]}
]}
--- must_die
--- error_log
categories[1].providers[0].test.url: must not point to a loopback, private, link-local or unspecified address



=== TEST 35: with byok_allow_insecure_test_urls on (here after byok_catalog) the same loopback catalog loads and serves tests
--- http_config
    byok_store logs/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
    byok_allow_insecure_test_urls on;

    server {
        listen 127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT;

        location = /v1/models {
            return 200 '{"data":[]}';
        }
    }
--- config
    location /me/provider-keys {
        byok_api;
    }
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_FAKE_PROVIDER_PORT/v1/models"}},
    {"id": "groq", "name": "Groq", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://127.0.0.1/openai/v1/models"}}
  ]}
]}
--- more_headers eval: ::bearer('alice')
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-0123456789abcdef"}',
'POST /me/provider-keys/1/test']
--- error_code eval
[201, 200]
--- response_body_like eval
['^\{"id":1,',
'^\{"result":"valid","status":200,"latency_ms":\d+\}$']
--- no_error_log
[emerg]



=== TEST 36: a stored value that is not a valid header value (written behind the API) is never sent: the test answers "invalid" without a request
The user API refuses such a value; this one is written into the store
behind it (t/tools/putkey.c).  A CR LF in it would add headers of its
own to the test request.  Nothing listens on the fake provider's port:
a request sent would make the test an "error" (connection refused).
--- config
    location /me/provider-keys {
        byok_api;
    }
--- init
{
    my $file = server_root() . '/logs/master.key';
    open my $out, '>', $file or die "$file: $!";
    print $out "$ENV{AGENTS_MASTER_KEY}\n";
    close $out;

    my $putkey = $ENV{BYOK_PUTKEY} or die "BYOK_PUTKEY is not set\n";
    system($putkey, server_root() . '/logs/byok.db', $file, 'alice',
           'anthropic', "sk-ant-bad-0000000001\r\nX-Smuggled: yes") == 0
        or die "putkey failed\n";
}
--- more_headers eval: ::bearer('alice')
--- request
POST /me/provider-keys/1/test
--- error_code: 200
--- response_body_like: ^\{"result":"invalid","status":null,"latency_ms":0\}$
--- error_log
byok: key 1 is not a valid header value and is not tested
--- no_error_log
sk-ant-bad
X-Smuggled



=== TEST 37: ... and the key is marked invalid with that result as its last test (same nginx)
--- more_headers eval: ::bearer('alice')
--- request
GET /me/provider-keys/1
--- error_code: 200
--- response_body_like: "status":"invalid",.*"last_test":\{"result":"invalid","status":null,
