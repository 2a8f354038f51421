# byok_inject (SPEC §7.3): the proxied provider call gets exactly one
# credential, built from the catalog (catalog/providers.json) for that
# provider, and never the client's own; the client never sees the key.
#
# The fake provider is a one-shot TCP server on a unix socket
# (--- tcp_listen) that answers with the request it received, so a
# response body below is exactly the request line and headers nginx sent
# upstream.  Blocks with several proxied requests use a location of this
# same server as the provider instead.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

$ENV{AGENTS_MASTER_KEY} =
    '9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a0f1e2d';
$ENV{AGENTS_JWT_SECRET} = 'inject-suite-jwt-secret-0123456789abcdef';

$ENV{BYOK_TEST_PLATFORM_KEY} = "sk-platform-from-env-000001\r\nX-Smuggled: yes";

$ENV{TEST_NGINX_PROVIDER_SOCK} = server_root() . '/logs/provider.sock';

# a second HS256 secret, for a location that trusts other tokens
$ENV{INJECT_OTHER_JWT_SECRET} = 'inject-suite-other-secret-0123456789abcdef';

# An HS256 token for the user API; a negative ttl makes an expired one.
sub jwt {
    my ($sub, $ttl) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + ($ttl // 3600));
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

# The fake provider's answer: the request line and headers it received.
sub echo_request {
    my ($req) = @_;
    $req =~ s/\r\n\r\n.*//s;
    $req =~ s/\r\n/\n/g;
    return "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n$req\n";
}

# One header of each name the catalog uses for credentials (names are
# case-insensitive: x-api-key is serper's X-API-KEY too), as a client
# could send them to smuggle its own credentials to the provider.
our $CLIENT_CREDENTIALS = <<'_EOH_';
Authorization: Bearer client-token
x-api-key: client-x-api-key
xi-api-key: client-xi-api-key
X-Subscription-Token: client-subscription-token
_EOH_

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    $block->set_value('http_config',
                      "    byok_store logs/byok.db;\n"
                      . ($block->http_config // ''));

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location ^~ /me/provider-keys {
        byok_api;
    }

    # /{provider}/{path} goes to the fake provider as /{path}
    location ~ ^/(?<provider>[a-z0-9-]+)/ {
        byok_user $http_x_user;
        byok_provider $provider;
        byok_inject on;

        rewrite ^/[^/]+(/.*)$ $1 break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
_EOC_
    }
});

run_tests();

__DATA__

=== TEST 1: anthropic: x-api-key with no prefix, plus anthropic-version from the catalog
The client's own anthropic-version is replaced by the catalog's.
--- more_headers eval
["Authorization: Bearer " . ::jwt("ann") . "\nContent-Type: application/json",
 "X-User: ann\n" . $::CLIENT_CREDENTIALS . "anthropic-version: 1999-01-01\nAccept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-ann-000000000001"}',
 'GET /anthropic/v1/models']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/models HTTP/1.0
Host: localhost
Connection: close
X-User: ann
Accept: application/json
x-api-key: sk-ant-api03-ann-000000000001
anthropic-version: 2023-06-01
"]



=== TEST 2: openai: Authorization with the "Bearer " prefix
--- more_headers eval
["Authorization: Bearer " . ::jwt("ben") . "\nContent-Type: application/json",
 "X-User: ben\n" . $::CLIENT_CREDENTIALS . "Accept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-ben-0000000000000001"}',
 'GET /openai/v1/models']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/models HTTP/1.0
Host: localhost
Connection: close
X-User: ben
Accept: application/json
Authorization: Bearer sk-proj-ben-0000000000000001
"]



=== TEST 3: fal: Authorization with the "Key " prefix
--- more_headers eval
["Authorization: Bearer " . ::jwt("cleo") . "\nContent-Type: application/json",
 "X-User: cleo\n" . $::CLIENT_CREDENTIALS . "Accept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"image","provider":"fal","value":"fal-cleo-id:0000000000000001"}',
 'GET /fal/v1/models/pricing']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/models/pricing HTTP/1.0
Host: localhost
Connection: close
X-User: cleo
Accept: application/json
Authorization: Key fal-cleo-id:0000000000000001
"]



=== TEST 4: elevenlabs: xi-api-key with no prefix
--- more_headers eval
["Authorization: Bearer " . ::jwt("dora") . "\nContent-Type: application/json",
 "X-User: dora\n" . $::CLIENT_CREDENTIALS . "Accept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"audio","provider":"elevenlabs","value":"sk_dora_00000000000000000001"}',
 'GET /elevenlabs/v1/models']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/models HTTP/1.0
Host: localhost
Connection: close
X-User: dora
Accept: application/json
xi-api-key: sk_dora_00000000000000000001
"]



=== TEST 5: serper: X-API-KEY with no prefix
--- more_headers eval
["Authorization: Bearer " . ::jwt("emil") . "\nContent-Type: application/json",
 "X-User: emil\n" . $::CLIENT_CREDENTIALS . "X-API-KEY: client-X-API-KEY\nAccept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"serper","value":"0123456789abcdef0123456789abcdef"}',
 'GET /serper/account']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /account HTTP/1.0
Host: localhost
Connection: close
X-User: emil
Accept: application/json
X-API-KEY: 0123456789abcdef0123456789abcdef
"]



=== TEST 6: brave: X-Subscription-Token with no prefix
--- more_headers eval
["Authorization: Bearer " . ::jwt("finn") . "\nContent-Type: application/json",
 "X-User: finn\n" . $::CLIENT_CREDENTIALS . "Accept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"brave","value":"BSA-finn-000000000000000001"}',
 'GET /brave/res/v1/web/search?q=nginx']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /res/v1/web/search?q=nginx HTTP/1.0
Host: localhost
Connection: close
X-User: finn
Accept: application/json
X-Subscription-Token: BSA-finn-000000000000000001
"]



=== TEST 7: exa: x-api-key with no prefix and no extra header
--- more_headers eval
["Authorization: Bearer " . ::jwt("gus") . "\nContent-Type: application/json",
 "X-User: gus\n" . $::CLIENT_CREDENTIALS . "anthropic-version: 1999-01-01\nAccept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"research","provider":"exa","value":"exa-gus-00000000000000000001"}',
 'GET /exa/research/v1']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /research/v1 HTTP/1.0
Host: localhost
Connection: close
X-User: gus
anthropic-version: 1999-01-01
Accept: application/json
x-api-key: exa-gus-00000000000000000001
"]



=== TEST 8: runway: Authorization "Bearer " plus X-Runway-Version from the catalog
--- more_headers eval
["Authorization: Bearer " . ::jwt("hana") . "\nContent-Type: application/json",
 "X-User: hana\n" . $::CLIENT_CREDENTIALS . "X-Runway-Version: 2000-01-01\nAccept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"video","provider":"runway","value":"key_hana_00000000000000000001"}',
 'GET /runway/v1/organization']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/organization HTTP/1.0
Host: localhost
Connection: close
X-User: hana
Accept: application/json
Authorization: Bearer key_hana_00000000000000000001
X-Runway-Version: 2024-11-06
"]



=== TEST 9: cartesia: Authorization "Bearer " plus Cartesia-Version from the catalog
--- more_headers eval
["Authorization: Bearer " . ::jwt("ines") . "\nContent-Type: application/json",
 "X-User: ines\n" . $::CLIENT_CREDENTIALS . "Cartesia-Version: 2000-01-01\nAccept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"audio","provider":"cartesia","value":"sk_car_ines_0000000000000001"}',
 'GET /cartesia/voices']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /voices HTTP/1.0
Host: localhost
Connection: close
X-User: ines
Accept: application/json
Authorization: Bearer sk_car_ines_0000000000000001
Cartesia-Version: 2025-04-16
"]



=== TEST 10: the platform key is injected the same way when the user has none
--- config
    location ~ ^/(?<provider>[a-z0-9-]+)/ {
        byok_user $http_x_user;
        byok_provider $provider;
        byok_platform_key openai sk-platform-openai-000000000001;
        byok_inject on;

        rewrite ^/[^/]+(/.*)$ $1 break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
"X-User: jack\n" . $::CLIENT_CREDENTIALS . "Accept: application/json"
--- request
GET /openai/v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- response_body
GET /v1/models HTTP/1.0
Host: localhost
Connection: close
X-User: jack
Accept: application/json
Authorization: Bearer sk-platform-openai-000000000001



=== TEST 11: with the JWT as the identity, the token is swapped for the key
The caller authenticates with its own Bearer token; the provider gets one
Authorization header: the user's key.
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /v1/ {
        byok_provider openai;
        byok_inject on;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("kira") . "
Content-Type: application/json"
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-kira-000000000000001"}',
 'GET /v1/models']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/models HTTP/1.0
Host: localhost
Connection: close
Authorization: Bearer sk-proj-kira-000000000000001
Content-Type: application/json
"]



=== TEST 12: credential headers in any letter case, repeated, or past the 20th header are all removed
nginx keeps request headers in parts of 20: the last ones sit in a second
part.  More of them than headers added: the list is rebuilt without them
and the added headers come last.
--- config
    location ~ ^/(?<provider>[a-z0-9-]+)/ {
        byok_user $http_x_user;
        byok_provider $provider;
        byok_platform_key anthropic sk-ant-platform-00000000000001;
        byok_inject on;

        rewrite ^/[^/]+(/.*)$ $1 break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
"X-User: liam
X-Api-Key: client-one
x-api-key: client-two
" . CORE::join("", map { "X-Filler-$_: $_\n" } 1 .. 20) . "x-API-key: client-three
AUTHORIZATION: Bearer shouting-client
XI-API-KEY: client-xi
x-subscription-token: client-token
ANTHROPIC-VERSION: 1999-01-01
X-Last: last"
--- request
GET /anthropic/v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- response_body eval
"GET /v1/models HTTP/1.0
Host: localhost
Connection: close
X-User: liam
" . CORE::join("", map { "X-Filler-$_: $_\n" } 1 .. 20) . "X-Last: last
x-api-key: sk-ant-platform-00000000000001
anthropic-version: 2023-06-01
"



=== TEST 13: headers the client sent next to removed ones keep their own values
$http_user_agent and $http_referer (as in the default "combined" access
log) must still be the client's, never the injected key.  As many removed
headers as added ones: the added headers take their places.
--- config
    location ~ ^/(?<provider>[a-z0-9-]+)/ {
        byok_user $http_x_user;
        byok_provider $provider;
        byok_platform_key anthropic sk-ant-platform-00000000000001;
        byok_inject on;

        add_header X-Seen-User-Agent "$http_user_agent" always;
        add_header X-Seen-Referer "$http_referer" always;

        rewrite ^/[^/]+(/.*)$ $1 break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers
X-User: maya
x-api-key: client-x-api-key
User-Agent: agent/1.0
Authorization: Bearer client-token
Referer: https://cabinet.example/
X-After: after
--- request
GET /anthropic/v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- response_headers
X-Seen-User-Agent: agent/1.0
X-Seen-Referer: https://cabinet.example/
--- response_body
GET /v1/models HTTP/1.0
Host: localhost
Connection: close
X-User: maya
x-api-key: sk-ant-platform-00000000000001
User-Agent: agent/1.0
anthropic-version: 2023-06-01
Referer: https://cabinet.example/
X-After: after
--- access_log
"GET /anthropic/v1/models HTTP/1.1" 200
"https://cabinet.example/" "agent/1.0"
--- no_access_log
sk-ant-platform-00000000000001



=== TEST 14: byok_source_header shows user or platform; the key never reaches the client
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /anthropic/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_platform_key anthropic sk-ant-platform-00000000000001;
        byok_inject on;
        byok_source_header on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /quiet/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_platform_key anthropic sk-ant-platform-00000000000001;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        add_header X-Provider-Request-Id req_0001;
        return 200 '{"type":"message","content":"hello"}';
    }
--- more_headers eval
["Authorization: Bearer " . ::jwt("noah") . "\nContent-Type: application/json",
 "X-User: noah", "X-User: olga", "X-User: noah", "X-User: olga"]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-noah-00000000001"}',
 'GET /anthropic/v1/messages', 'GET /anthropic/v1/messages',
 'GET /quiet/v1/messages', 'GET /quiet/v1/messages']
--- error_code eval
[201, 200, 200, 200, 200]
--- response_headers eval
["",
"X-BYOK-Source: user
X-Provider-Request-Id: req_0001
!X-BYOK-Key",
"X-BYOK-Source: platform
X-Provider-Request-Id: req_0001
!X-BYOK-Key",
"!X-BYOK-Source
X-Provider-Request-Id: req_0001",
"!X-BYOK-Source
X-Provider-Request-Id: req_0001"]
--- raw_response_headers_unlike eval
["sk-ant-api03-noah", "sk-ant-", "sk-ant-", "sk-ant-", "sk-ant-"]
--- response_body eval
[qr/^\{"id":1,.*"masked":"sk-ant-a\*\*\*"/,
 '{"type":"message","content":"hello"}',
 '{"type":"message","content":"hello"}',
 '{"type":"message","content":"hello"}',
 '{"type":"message","content":"hello"}']



=== TEST 15: no key for the user and no platform key: 403 no_key_available, the provider is not called
--- config
    location /openai/ {
        byok_user $http_x_user;
        byok_provider openai;
        byok_inject on;
        byok_source_header on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "the provider was called\n";
    }
--- more_headers
X-User: pia
Authorization: Bearer client-token
--- request
GET /openai/v1/models
--- error_code: 403
--- response_headers
Content-Type: application/json
!X-BYOK-Source
--- response_body
{"error":"no_key_available","message":"No key is available for this provider."}
--- no_access_log
GET /provider/
--- no_error_log
[alert]
[error]



=== TEST 16: no identity: 401 unauthorized, the provider is not called
--- config
    location /openai/ {
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000001;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "the provider was called\n";
    }
--- more_headers
Authorization: Bearer client-token
--- request
GET /openai/v1/models
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body
{"error":"unauthorized","message":"A valid identity is required."}
--- no_access_log
GET /provider/
--- no_error_log
[alert]
[error]



=== TEST 17: with the JWT as the identity, a missing or bad token is 401 with the Bearer challenge, and the token goes nowhere
--- config
    location /openai/ {
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000001;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "the provider was called: $http_authorization\n";
    }
--- more_headers eval
["",
 "Authorization: Bearer " . ::jwt("quin") . "x",
 "Authorization: Bearer " . ::jwt("quin", -3600)]
--- request eval
['GET /openai/v1/models', 'GET /openai/v1/models', 'GET /openai/v1/models']
--- error_code eval
[401, 401, 401]
--- response_headers eval
["WWW-Authenticate: Bearer",
 "WWW-Authenticate: Bearer error=\"invalid_token\"",
 "WWW-Authenticate: Bearer error=\"invalid_token\""]
--- response_body eval
[qq{{"error":"unauthorized","message":"A valid identity is required."}\n},
 qq{{"error":"unauthorized","message":"A valid identity is required."}\n},
 qq{{"error":"unauthorized","message":"A valid identity is required."}\n}]
--- no_access_log
GET /provider/
--- no_error_log
[alert]



=== TEST 18: a provider that is not in the catalog: 400 invalid_request
--- more_headers
X-User: rita
--- request
GET /no-such-provider/v1/models
--- error_code: 400
--- response_body
{"error":"invalid_request","message":"Unknown provider."}
--- no_error_log
[alert]
[error]



=== TEST 19: a platform key that is not a valid header value is refused, never sent
The value carries a CR LF (nginx turns "\r\n" in a quoted string into
the two bytes): sent as is, it would smuggle a header to the provider.
--- config
    location /openai/ {
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai "sk-platform-openai-000000000001\r\nX-Smuggled: yes";
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "the provider was called\n";
    }
--- more_headers
X-User: sven
--- request
GET /openai/v1/models
--- error_code: 403
--- response_body
{"error":"no_key_available","message":"No key is available for this provider."}
--- error_log
byok_platform_key for "openai" is not a valid header value and is not used
--- no_access_log
GET /provider/
--- no_error_log
X-Smuggled
[alert]



=== TEST 20: platform keys with surrounding blanks or control bytes are refused
The value comes from a request header here, so a control byte can reach
it; a trailing blank would be stripped by the provider's HTTP parser.
--- config
    location /openai/ {
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai $http_x_platform_key;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location = /anthropic/v1/models {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_platform_key anthropic "sk-ant-platform-00000000000001 ";
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "the provider was called\n";
    }
--- more_headers eval
["X-User: tom\nX-Platform-Key: sk-platform\x01openai-000000000001",
 "X-User: tom\nX-Platform-Key: sk-platform\x7fopenai-000000000001",
 "X-User: tom"]
--- request eval
['GET /openai/v1/models', 'GET /openai/v1/models', 'GET /anthropic/v1/models']
--- error_code eval
[403, 403, 403]
--- response_body eval
[qq{{"error":"no_key_available","message":"No key is available for this provider."}\n},
 qq{{"error":"no_key_available","message":"No key is available for this provider."}\n},
 qq{{"error":"no_key_available","message":"No key is available for this provider."}\n}]
--- no_access_log
GET /provider/
--- no_error_log
[alert]



=== TEST 21: a platform key from env: that is not a valid header value stops nginx
The variable holds "sk-platform-from-env-000001\r\nX-Smuggled: yes".
--- config
    location /openai/ {
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai env:BYOK_TEST_PLATFORM_KEY;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }
--- request
GET /openai/v1/models
--- must_die
--- error_log
byok_platform_key: env:BYOK_TEST_PLATFORM_KEY is not a valid header value
--- no_error_log
sk-platform-from-env



=== TEST 22: at debug level the error log never holds the key (inject)
--- log_level: debug
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location ~ ^/(?<provider>[a-z0-9-]+)/ {
        byok_user $http_x_user;
        byok_provider $provider;
        byok_platform_key openai sk-platform-openai-000000000001;
        byok_inject on;

        rewrite ^/[^/]+(/.*)$ $1 break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
["Authorization: Bearer " . ::jwt("uma") . "\nContent-Type: application/json",
 "X-User: uma\nAuthorization: Bearer client-token"]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-uma-000000000001"}',
 'GET /anthropic/v1/models']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply
HTTP/1.0 200 OK
Content-Type: text/plain

ok
--- error_code eval
[201, 200]
--- response_body eval
[qr/^\{"id":1,/, "ok\n"]
--- no_error_log
sk-ant-api03-uma
[alert]
[crit]



=== TEST 23: at debug level the error log never holds the key (platform key, auth_request pattern)
--- log_level: debug
--- config
    location = /_byok {
        internal;
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000001;
        byok_lookup;
    }

    location /v1/ {
        auth_request /_byok;
        auth_request_set $provider_key $sent_http_x_byok_key;
        proxy_set_header Authorization "Bearer $provider_key";
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers
X-User: vera
--- request
GET /v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply
HTTP/1.0 200 OK
Content-Type: text/plain

ok
--- response_body
ok
--- no_error_log
sk-platform-openai
[alert]
[crit]



=== TEST 24: at debug level the error log never holds the key (internal redirect after injection)
An error_page to a named location after the provider failed re-enters
location processing with the injected header still on the request.  The
failing provider is a server of its own that logs at info level only.
--- log_level: debug
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        error_log logs/overloaded.log info;
        return 503;
    }
--- config
    location /anthropic/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_platform_key anthropic sk-ant-platform-00000000000001;
        byok_inject on;

        proxy_intercept_errors on;
        error_page 503 = @fallback;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location @fallback {
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers
X-User: wade
--- request
GET /anthropic/v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply
HTTP/1.0 200 OK
Content-Type: text/plain

ok
--- response_body
ok
--- no_error_log
sk-ant-platform
[alert]
[crit]



=== TEST 25: at debug level the error log never holds the key (auth_request pattern, then error_page)
The key service's answer is in $provider_key for the rest of the request.
After the provider failed, error_page sends the request to a named
location, which sets the location's log level again: its rewrites and
its proxied request use the key as well.
--- log_level: debug
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        error_log logs/overloaded.log info;
        return 503;
    }
--- config
    location = /_byok {
        internal;
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000001;
        byok_lookup;
    }

    location /v1/ {
        auth_request /_byok;
        auth_request_set $provider_key $sent_http_x_byok_key;
        proxy_set_header Authorization "Bearer $provider_key";

        proxy_intercept_errors on;
        error_page 503 = @fallback;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location @fallback {
        set $fallback_auth "Bearer $provider_key";
        proxy_set_header Authorization $fallback_auth;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers
X-User: vera
--- request
GET /v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- response_body
GET /v1/models HTTP/1.0
Authorization: Bearer sk-platform-openai-000000000001
Host: localhost
Connection: close
X-User: vera
--- no_error_log
sk-platform-openai
[alert]
[crit]



=== TEST 26: at debug level the error log never holds the key (auth_request pattern, then error_page to a URI)
An internal redirect to a URI runs the server's rewrites again, at the
server's log level, before the new location's.
--- log_level: debug
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        error_log logs/overloaded.log info;
        return 503;
    }
--- config
    if ($uri ~ ^/fallback/) {
        set $fallback_auth "Bearer $provider_key";
    }

    location = /_byok {
        internal;
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000002;
        byok_lookup;
    }

    location /v1/ {
        auth_request /_byok;
        auth_request_set $provider_key $sent_http_x_byok_key;
        proxy_set_header Authorization "Bearer $provider_key";

        proxy_intercept_errors on;
        error_page 503 = /fallback/v1/models;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location /fallback/ {
        internal;
        proxy_set_header Authorization $fallback_auth;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK:/;
    }
--- more_headers
X-User: xena
--- request
GET /v1/models
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- response_body
GET /v1/models HTTP/1.0
Authorization: Bearer sk-platform-openai-000000000002
Host: localhost
Connection: close
X-User: xena
--- no_error_log
sk-platform-openai
[alert]
[crit]



=== TEST 27: a fallback to another provider after a failure: the upstream gets that provider's credential only
The anthropic call fails with 503 and error_page sends the request to a
named location for openai: the x-api-key and anthropic-version injected
for anthropic are removed, and the user's openai key is set instead.
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        return 503;
    }
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /anthropic/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_inject on;

        proxy_intercept_errors on;
        error_page 503 = @openai;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location @openai {
        byok_user $http_x_user;
        byok_provider openai;
        byok_inject on;

        rewrite ^ /v1/chat/completions break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
[("Authorization: Bearer " . ::jwt("finn") . "\nContent-Type: application/json") x 2,
 "X-User: finn\n" . $::CLIENT_CREDENTIALS . "anthropic-version: 1999-01-01\nAccept: application/json"]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-finn-000000000001"}',
 'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-finn-0000000000000001"}',
 'GET /anthropic/v1/messages']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 201, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
"GET /v1/chat/completions HTTP/1.0
Host: localhost
Connection: close
X-User: finn
Accept: application/json
Authorization: Bearer sk-proj-finn-0000000000000001
"]



=== TEST 28: a fallback to another provider after a refusal: the refused key's state is recorded, the upstream gets that provider's credential only
The anthropic key is answered 429, which puts it in cool-down; the request
goes on to openai, which has only a platform key.
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/limited.sock;

        location / {
            add_header Retry-After 30 always;
            return 429;
        }
    }
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /anthropic/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_inject on;

        proxy_intercept_errors on;
        error_page 429 = @openai;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/limited.sock;
    }

    location @openai {
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000003;
        byok_inject on;

        rewrite ^ /v1/chat/completions break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
my $api = "Authorization: Bearer " . ::jwt("gail") . "\nContent-Type: application/json";
[$api, "X-User: gail\nAccept: application/json", $api]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-gail-000000000001"}',
 'GET /anthropic/v1/messages',
 'GET /me/provider-keys/1']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 200, 200]
--- response_body eval
[qr/^\{"id":1,/,
"GET /v1/chat/completions HTTP/1.0
Host: localhost
Connection: close
X-User: gail
Accept: application/json
Authorization: Bearer sk-platform-openai-000000000003
",
qr/^\{"id":1,.*"status":"cooldown"/]



=== TEST 29: a key looked up for another provider before the redirect is not injected
The first location hands the anthropic key to its upstream through
$byok_key; the openai location it falls back to injects an openai key.
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        return 503;
    }
--- config
    location /anthropic/ {
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_platform_key anthropic sk-ant-platform-00000000000004;
        proxy_set_header x-api-key $byok_key;

        proxy_intercept_errors on;
        error_page 503 = @openai;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location @openai {
        byok_user $http_x_user;
        byok_provider openai;
        byok_platform_key openai sk-platform-openai-000000000004;
        byok_inject on;

        rewrite ^ /v1/chat/completions break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers
X-User: hugo
Accept: application/json
--- request
GET /anthropic/v1/messages
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- response_body
GET /v1/chat/completions HTTP/1.0
Host: localhost
Connection: close
X-User: hugo
Accept: application/json
Authorization: Bearer sk-platform-openai-000000000004



=== TEST 30: a stored key that is not a valid header value is never sent: the next key is
The user API refuses such a value; this one is written into the store
behind it (t/tools/putkey.c).  The newest key, selected first, carries a
CR LF; the older one is sent instead, and the bad one is named by id only.
--- config
    location /openai/ {
        byok_user $http_x_user;
        byok_provider openai;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "$http_authorization|$http_x_smuggled\n";
    }
--- init
{
    my $file = server_root() . '/logs/master.key';
    open my $out, '>', $file or die "$file: $!";
    print $out "$ENV{AGENTS_MASTER_KEY}\n";
    close $out;

    my $db = server_root() . '/logs/byok.db';
    my $putkey = $ENV{BYOK_PUTKEY} or die "BYOK_PUTKEY is not set\n";
    for my $value ("sk-good-value-0000000001",
                   "sk-bad-value-0000000002\r\nX-Smuggled: yes")
    {
        system($putkey, $db, $file, 'tess', 'openai', $value) == 0
            or die "putkey failed\n";
        sleep 1;    # created_at has a resolution of a second
    }
}
--- more_headers
X-User: tess
--- request
GET /openai/v1/models
--- error_code: 200
--- response_body
Bearer sk-good-value-0000000001|
--- error_log
byok: key 2 for "openai" is not a valid header value and is not used
--- no_error_log
sk-bad-value
X-Smuggled
[alert]
[crit]



=== TEST 31: a literal byok_provider that is not in the catalog stops nginx, naming it
A provider taken from a variable is looked up per request (400 when it is
unknown); a literal one is looked up once, when the configuration is read.
--- config
    location /anthropc/ {
        byok_user $http_x_user;
        byok_provider anthropc;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }
--- request
GET /anthropc/v1/messages
--- must_die
--- error_log
byok_provider "anthropc" is not in the catalog



=== TEST 32: a fallback to a location that verifies tokens with another key verifies the bearer token again: the identity the first location took from it does not carry over
Both locations take the identity from the bearer token; @openai trusts
only tokens signed with another secret, so the request that reaches it
with a token of the default secret is refused there, as it would be if it
had come directly.
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        return 503;
    }
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /anthropic/ {
        byok_provider anthropic;
        byok_inject on;

        proxy_intercept_errors on;
        error_page 503 = @openai;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location @openai {
        byok_jwt_key hs256 env:INJECT_OTHER_JWT_SECRET;
        byok_provider openai;
        byok_inject on;

        rewrite ^ /v1/chat/completions break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
[("Authorization: Bearer " . ::jwt("vera") . "\nContent-Type: application/json") x 2,
 "Authorization: Bearer " . ::jwt("vera")]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-vera-000000000001"}',
 'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-vera-0000000000000001"}',
 'GET /anthropic/v1/messages']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 201, 401]
--- response_body_like eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, qr/^\{"error":"unauthorized",/]



=== TEST 33: ... and a fallback location that declares the same key itself verifies the token again as it was sent, though the injection removed its Authorization header: the request goes through
--- http_config
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
        return 503;
    }
--- config
    location ^~ /me/provider-keys {
        byok_api;
    }

    location /anthropic/ {
        byok_provider anthropic;
        byok_inject on;

        proxy_intercept_errors on;
        error_page 503 = @openai;
        proxy_pass http://unix:$TEST_NGINX_SERVER_ROOT/logs/overloaded.sock;
    }

    location @openai {
        byok_jwt_key hs256 env:AGENTS_JWT_SECRET;
        byok_provider openai;
        byok_inject on;

        rewrite ^ /v1/chat/completions break;
        proxy_pass http://unix:$TEST_NGINX_PROVIDER_SOCK;
    }
--- more_headers eval
[("Authorization: Bearer " . ::jwt("vera") . "\nContent-Type: application/json") x 2,
 "Authorization: Bearer " . ::jwt("vera")]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-api03-vera-000000000001"}',
 'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-vera-0000000000000001"}',
 'GET /anthropic/v1/messages']
--- tcp_listen eval: $ENV{TEST_NGINX_PROVIDER_SOCK}
--- tcp_reply eval: \&::echo_request
--- error_code eval
[201, 201, 200]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/,
"GET /v1/chat/completions HTTP/1.0
Host: localhost
Connection: close
Authorization: Bearer sk-proj-vera-0000000000000001
"]
