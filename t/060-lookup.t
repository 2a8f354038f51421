# Runtime lookup (SPEC §7.1, §7.2, §7.3): which key a user's request gets
# for a provider, as answered by the byok_lookup auth_request target and
# the $byok_* variables.
#
# Keys are added in the same block, through the user API or, for values it
# refuses, with t/tools/putkey.c, so every block starts from an empty store
# (key ids count from 1) and uses users of its own.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

$ENV{AGENTS_MASTER_KEY} =
    '4f1c0a9e8d7b6c5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b1a';
$ENV{AGENTS_JWT_SECRET} = 'lookup-suite-jwt-secret-0123456789abcdef';

# An HS256 token for the user API; a negative ttl makes an expired one.
sub jwt {
    my ($sub, $ttl) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + ($ttl // 3600));
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
});

run_tests();

__DATA__

=== TEST 1: keys of the same rotation_priority: the newest one is selected
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
{"category":"llm","provider":"anthropic","label":"older","value":"sk-ant-older-0000000000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","label":"newer","value":"sk-ant-newer-0000000000000002"}',
'GET /lookup?provider=anthropic',
]
--- error_code eval
[201, 201, 200]
--- response_headers eval
[
"",
"",
"X-BYOK-Key: sk-ant-newer-0000000000000002
X-BYOK-Key-Id: 2
X-BYOK-Source: user",
]
--- response_body eval
[qr/^\{"id":1,"category":"llm","provider":"anthropic",/,
 qr/^\{"id":2,"category":"llm","provider":"anthropic",/,
 ""]
--- no_error_log
[error]



=== TEST 2: (setup) two keys each for bob and carol, not looked up yet
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
[
"Authorization: Bearer " . ::jwt("bob") . "
Content-Type: application/json",
"Authorization: Bearer " . ::jwt("bob") . "
Content-Type: application/json",
"Authorization: Bearer " . ::jwt("carol") . "
Content-Type: application/json",
"Authorization: Bearer " . ::jwt("carol") . "
Content-Type: application/json",
]
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-first-000000000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-proj-second-00000000000002"}',
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_created_first_000000003"}',
'POST /me/provider-keys
{"category":"llm","provider":"groq","value":"gsk_created_second_00000004"}',
]
--- error_code eval
[201, 201, 201, 201]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, qr/^\{"id":3,/, qr/^\{"id":4,/]



=== TEST 3: ties on created_at are broken by the higher id
bob's two keys are stamped with the same second behind nginx's back: the
one added last wins.
--- init
::store_sql("UPDATE provider_keys SET created_at = 1700000000");
--- more_headers
X-User: bob
--- request
GET /lookup?provider=openai
--- response_headers
X-BYOK-Key: sk-proj-second-00000000000002
X-BYOK-Key-Id: 2
X-BYOK-Source: user
--- response_body eval: ""



=== TEST 4: created_at decides before the id: a key stamped later wins
carol's first key is made a minute newer than her second one.
--- init
::store_sql("UPDATE provider_keys SET created_at = 1700000060 WHERE id = 3");
--- more_headers
X-User: carol
--- request
GET /lookup?provider=groq
--- response_headers
X-BYOK-Key: gsk_created_first_000000003
X-BYOK-Key-Id: 3
X-BYOK-Source: user
--- response_body eval: ""



=== TEST 5: a lower rotation_priority wins over a newer key, and PATCH changes the answer at once
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
{"category":"llm","provider":"anthropic","label":"older","value":"sk-ant-older-0000000000000001"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","label":"newer","value":"sk-ant-newer-0000000000000002"}',
'GET /lookup?provider=anthropic',
'PATCH /me/provider-keys/2
{"rotation_priority":1}',
'GET /lookup?provider=anthropic',
'PATCH /me/provider-keys/1
{"rotation_priority":5}',
'GET /lookup?provider=anthropic',
]
--- error_code eval
[201, 201, 200, 200, 200, 200, 200]
--- response_headers eval
[
"",
"",
"X-BYOK-Key: sk-ant-newer-0000000000000002
X-BYOK-Key-Id: 2",
"",
"X-BYOK-Key: sk-ant-older-0000000000000001
X-BYOK-Key-Id: 1",
"",
"X-BYOK-Key: sk-ant-newer-0000000000000002
X-BYOK-Key-Id: 2",
]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, "",
 qr/^\{"id":2,.*"rotation_priority":1,/, "",
 qr/^\{"id":1,.*"rotation_priority":5,/, ""]



=== TEST 6: PUT /order (the cabinet's arrows) changes the answer at once
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
"Authorization: Bearer " . ::jwt("erin") . "
Content-Type: application/json
X-User: erin"
--- request eval
[
'POST /me/provider-keys
{"category":"research","provider":"tavily","label":"one","value":"tvly-one-0000000000000001"}',
'POST /me/provider-keys
{"category":"research","provider":"tavily","label":"two","value":"tvly-two-0000000000000002"}',
'POST /me/provider-keys
{"category":"research","provider":"tavily","label":"three","value":"tvly-three-00000000000003"}',
'GET /lookup?provider=tavily',
'PUT /me/provider-keys/order
{"provider":"tavily","ids":[1,3,2]}',
'GET /lookup?provider=tavily',
'PUT /me/provider-keys/order
{"provider":"tavily","ids":[2,1,3]}',
'GET /lookup?provider=tavily',
]
--- error_code eval
[201, 201, 201, 200, 200, 200, 200, 200]
--- response_headers eval
[
"", "", "",
"X-BYOK-Key: tvly-three-00000000000003
X-BYOK-Key-Id: 3",
"",
"X-BYOK-Key: tvly-one-0000000000000001
X-BYOK-Key-Id: 1",
"",
"X-BYOK-Key: tvly-two-0000000000000002
X-BYOK-Key-Id: 2",
]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, qr/^\{"id":3,/, "",
 qr/^\{"keys":\[\{"id":1,.*\},\{"id":3,.*\},\{"id":2,.*\}\]\}$/, "",
 qr/^\{"keys":\[\{"id":2,.*\},\{"id":1,.*\},\{"id":3,.*\}\]\}$/, ""]



=== TEST 7: a revoked key is never selected: the next one takes over, then nothing is left (403)
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
"Authorization: Bearer " . ::jwt("frank") . "
Content-Type: application/json
X-User: frank"
--- request eval
[
'POST /me/provider-keys
{"category":"audio","provider":"elevenlabs","value":"sk_eleven_first_0000000001"}',
'POST /me/provider-keys
{"category":"audio","provider":"elevenlabs","value":"sk_eleven_second_000000002"}',
'GET /lookup?provider=elevenlabs',
'DELETE /me/provider-keys/2',
'GET /lookup?provider=elevenlabs',
'DELETE /me/provider-keys/1',
'GET /lookup?provider=elevenlabs',
]
--- error_code eval
[201, 201, 200, 200, 200, 200, 403]
--- response_headers eval
[
"", "",
"X-BYOK-Key: sk_eleven_second_000000002
X-BYOK-Key-Id: 2",
"",
"X-BYOK-Key: sk_eleven_first_0000000001
X-BYOK-Key-Id: 1",
"",
"!X-BYOK-Key
!X-BYOK-Key-Id
!X-BYOK-Source",
]
--- response_body eval
[qr/^\{"id":1,/, qr/^\{"id":2,/, "",
 qr/^\{"id":2,.*"status":"revoked",/, "",
 qr/^\{"id":1,.*"status":"revoked",/,
 qr/<title>403 Forbidden<\/title>/]



=== TEST 8: only the user's own keys for the asked provider are selected
grace has an anthropic key; henry has none, and grace has none for openai.
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
[
"Authorization: Bearer " . ::jwt("grace") . "
Content-Type: application/json",
"X-User: henry",
"X-User: grace",
"X-User: grace",
]
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-grace-0000000000000001"}',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=openai',
'GET /lookup?provider=anthropic',
]
--- error_code eval
[201, 403, 403, 200]
--- response_headers eval
[
"",
"!X-BYOK-Key",
"!X-BYOK-Key",
"X-BYOK-Key: sk-ant-grace-0000000000000001
X-BYOK-Key-Id: 1
X-BYOK-Source: user",
]
--- response_body eval
[qr/^\{"id":1,/,
 qr/<title>403 Forbidden<\/title>/,
 qr/<title>403 Forbidden<\/title>/,
 ""]



=== TEST 9: without a user key the platform key answers, with an empty key id
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_platform_key anthropic sk-ant-platform-000000000000000;
        byok_lookup;
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("ivan") . "
Content-Type: application/json
X-User: ivan"
--- request eval
[
'GET /lookup?provider=anthropic',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-ivan-00000000000000001"}',
'GET /lookup?provider=anthropic',
'DELETE /me/provider-keys/1',
'GET /lookup?provider=anthropic',
]
--- error_code eval
[200, 201, 200, 200, 200]
--- response_headers eval
[
"X-BYOK-Key: sk-ant-platform-000000000000000
X-BYOK-Source: platform",
"",
"X-BYOK-Key: sk-ant-ivan-00000000000000001
X-BYOK-Key-Id: 1
X-BYOK-Source: user",
"",
"X-BYOK-Key: sk-ant-platform-000000000000000
X-BYOK-Source: platform",
]
--- raw_response_headers_like eval
["\r\nX-BYOK-Key-Id: \r\n", "", "\r\nX-BYOK-Key-Id: 1\r\n", "",
 "\r\nX-BYOK-Key-Id: \r\n"]
--- response_body eval
["", qr/^\{"id":1,/, "", qr/^\{"id":1,.*"status":"revoked",/, ""]



=== TEST 10: no user key and no platform key for that provider: 403
The platform key configured for openai does not answer for anthropic.
--- config
    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_platform_key openai sk-platform-openai-0000000000;
        byok_lookup;
    }
--- more_headers
X-User: judy
--- request
GET /lookup?provider=anthropic
--- error_code: 403
--- response_headers
!X-BYOK-Key
!X-BYOK-Key-Id
!X-BYOK-Source
--- response_body_like: <title>403 Forbidden</title>
--- no_error_log
[error]



=== TEST 11: byok_user from a trusted header: no header, an empty one or one over 128 bytes is 401
--- config
    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_platform_key anthropic sk-ant-platform-000000000000000;
        byok_lookup;
    }
--- more_headers eval
["", "X-User: ", "X-User: " . ("k" x 129), "X-User: " . ("k" x 128),
 "X-User: kate"]
--- request eval
[
'GET /lookup?provider=anthropic',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=anthropic',
'GET /lookup?provider=anthropic',
]
--- error_code eval
[401, 401, 401, 200, 200]
--- response_headers eval
["!X-BYOK-Key", "!X-BYOK-Key", "!X-BYOK-Key", "X-BYOK-Source: platform",
 "X-BYOK-Source: platform"]
--- response_body eval
[qr/<title>401 Authorization Required<\/title>/,
 qr/<title>401 Authorization Required<\/title>/,
 qr/<title>401 Authorization Required<\/title>/,
 "", ""]



=== TEST 12: without byok_user the verified JWT's sub is the user
A missing token and a token that does not verify (bad signature, expired)
are 401 with the WWW-Authenticate challenge of the user API.
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers eval
[
"Authorization: Bearer " . ::jwt("leo") . "
Content-Type: application/json",
"",
"Authorization: Bearer " . ::jwt("leo") . "x",
"Authorization: Bearer " . ::jwt("leo", -3600),
"Authorization: Basic bGVvOnNlY3JldA==",
"Authorization: Bearer " . ::jwt("leo"),
"Authorization: Bearer " . ::jwt("mia"),
]
--- request eval
[
'POST /me/provider-keys
{"category":"image","provider":"fal","value":"fal-key-leo-00000000000000001"}',
'GET /lookup?provider=fal',
'GET /lookup?provider=fal',
'GET /lookup?provider=fal',
'GET /lookup?provider=fal',
'GET /lookup?provider=fal',
'GET /lookup?provider=fal',
]
--- error_code eval
[201, 401, 401, 401, 401, 200, 403]
--- response_headers eval
[
"",
"WWW-Authenticate: Bearer
!X-BYOK-Key",
"WWW-Authenticate: Bearer error=\"invalid_token\"
!X-BYOK-Key",
"WWW-Authenticate: Bearer error=\"invalid_token\"
!X-BYOK-Key",
"WWW-Authenticate: Bearer
!X-BYOK-Key",
"X-BYOK-Key: fal-key-leo-00000000000000001
X-BYOK-Key-Id: 1
X-BYOK-Source: user",
"!X-BYOK-Key",
]
--- response_body eval
[qr/^\{"id":1,/,
 qr/<title>401 Authorization Required<\/title>/,
 qr/<title>401 Authorization Required<\/title>/,
 qr/<title>401 Authorization Required<\/title>/,
 qr/<title>401 Authorization Required<\/title>/,
 "",
 qr/<title>403 Forbidden<\/title>/]



=== TEST 13: a provider that is not in the catalog is 400
--- config
    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers
X-User: nina
--- request
GET /lookup?provider=no-such-provider
--- error_code: 400
--- response_headers
!X-BYOK-Key
--- response_body_like: <title>400 Bad Request</title>
--- error_log
byok: unknown provider "no-such-provider"
--- no_error_log
[error]



=== TEST 14: provider ids are matched exactly, and an empty one is unknown too
--- config
    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }
--- more_headers
X-User: nina
--- request eval
['GET /lookup?provider=Anthropic', 'GET /lookup?provider=anthropic%20',
 'GET /lookup']
--- error_code eval
[400, 400, 400]
--- response_headers eval
["!X-BYOK-Key", "!X-BYOK-Key", "!X-BYOK-Key"]
--- response_body eval
[qr/<title>400 Bad Request<\/title>/, qr/<title>400 Bad Request<\/title>/,
 qr/<title>400 Bad Request<\/title>/]



=== TEST 15: the variables for a user key, the platform key and no key
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /vars {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_platform_key openai sk-platform-openai-0000000000;
        return 200 "source=$byok_key_source id=$byok_key_id masked=$byok_key_masked user=$byok_user provider=$byok_provider key=$byok_key\n";
    }
--- more_headers eval
"Authorization: Bearer " . ::jwt("oscar") . "
Content-Type: application/json
X-User: oscar"
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-oscar-0000000000000001"}',
'GET /vars?provider=anthropic',
'GET /vars?provider=openai',
'GET /vars?provider=groq',
]
--- error_code eval
[201, 200, 200, 200]
--- response_body eval
[qr/^\{"id":1,/,
"source=user id=1 masked=sk-ant-o*** user=oscar provider=anthropic key=sk-ant-oscar-0000000000000001\n",
"source=platform id= masked=sk-platf*** user=oscar provider=openai key=sk-platform-openai-0000000000\n",
"source=none id= masked= user=oscar provider=groq key=\n",
]



=== TEST 16: the variables without an identity or with an unknown provider
--- config
    location = /vars {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_platform_key openai sk-platform-openai-0000000000;
        return 200 "source=$byok_key_source id=$byok_key_id masked=$byok_key_masked key=$byok_key\n";
    }
--- more_headers eval
["", "X-User: paul"]
--- request eval
['GET /vars?provider=openai', 'GET /vars?provider=no-such-provider']
--- response_body eval
["source=none id= masked= key=\n", "source=none id= masked= key=\n"]



=== TEST 17: the auth_request pattern: the key reaches the provider, never the client
auth_request_set reads the lookup's answer from the subrequest's response
headers ($sent_http_*); a proxy_pass to this same server stands for the
provider and echoes what it received.
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /_byok {
        internal;
        byok_user $http_x_user;
        byok_provider anthropic;
        byok_lookup;
    }

    location /v1/ {
        auth_request /_byok;
        auth_request_set $provider_key $sent_http_x_byok_key;
        auth_request_set $key_source $sent_http_x_byok_source;

        proxy_set_header x-api-key $provider_key;
        proxy_set_header X-Key-Source $key_source;
        proxy_set_header Authorization "";
        proxy_set_header X-User "";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/v1/;
    }

    location /provider/ {
        return 200 "$request_method $uri x-api-key=[$http_x_api_key] source=[$http_x_key_source] x-user=[$http_x_user] authorization=[$http_authorization]\n";
    }
--- more_headers eval
[
"Authorization: Bearer " . ::jwt("quinn") . "
Content-Type: application/json",
"X-User: quinn",
"X-User: quinn",
"X-User: rosa",
"",
]
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-quinn-0000000000000001"}',
'GET /v1/messages',
'POST /v1/messages
{"model":"claude"}',
'GET /v1/messages',
'GET /v1/messages',
]
--- error_code eval
[201, 200, 200, 403, 401]
--- response_headers eval
["", "!X-BYOK-Key\n!X-BYOK-Source", "!X-BYOK-Key\n!X-BYOK-Source",
 "!X-BYOK-Key", "!X-BYOK-Key"]
--- response_body eval
[qr/^\{"id":1,/,
"GET /provider/v1/messages x-api-key=[sk-ant-quinn-0000000000000001] source=[user] x-user=[] authorization=[]\n",
"POST /provider/v1/messages x-api-key=[sk-ant-quinn-0000000000000001] source=[user] x-user=[] authorization=[]\n",
qr/<title>403 Forbidden<\/title>/,
qr/<title>401 Authorization Required<\/title>/,
]



=== TEST 18: $byok_key_source in log_format meters user, platform and none
--- http_config
    log_format metering '$byok_user $byok_provider $byok_key_source $status';
--- config
    location /me/provider-keys {
        byok_api;
    }

    location /v1/ {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_platform_key anthropic sk-ant-platform-000000000000000;
        access_log logs/access.log metering;
        return 200 "ok\n";
    }
--- more_headers eval
[
"Authorization: Bearer " . ::jwt("sam") . "
Content-Type: application/json",
"X-User: sam",
"X-User: tina",
"X-User: tina",
]
--- request eval
[
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-sam-000000000000000001"}',
'GET /v1/messages?provider=anthropic',
'GET /v1/messages?provider=anthropic',
'GET /v1/chat?provider=openai',
]
--- error_code eval
[201, 200, 200, 200]
--- response_body eval
[qr/^\{"id":1,/, "ok\n", "ok\n", "ok\n"]



=== TEST 19: (continued) the access log has one metering line per request
--- more_headers
X-User: sam
--- request
GET /v1/models?provider=anthropic
--- response_body
ok
--- access_log
sam anthropic user 200
tina anthropic platform 200
tina openai none 200
--- no_access_log
sk-ant-



=== TEST 20: a token verified (and remembered) for one location is checked again where the rules are stricter
The worker remembers tokens it verified for the lookup, per location: the
same token, without an "iss" claim, is accepted by /lookup twice and still
refused by /strict, which requires an issuer.
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lookup {
        byok_provider $arg_provider;
        byok_lookup;
    }

    location = /strict {
        byok_provider $arg_provider;
        byok_jwt_issuer https://issuer.example;
        byok_lookup;
    }
--- more_headers eval
[
"Authorization: Bearer " . ::jwt("nora") . "
Content-Type: application/json",
("Authorization: Bearer " . ::jwt("nora")) x 4,
]
--- request eval
[
'POST /me/provider-keys
{"category":"image","provider":"fal","value":"fal-key-nora-0000000000000001"}',
'GET /lookup?provider=fal',
'GET /lookup?provider=fal',
'GET /strict?provider=fal',
'GET /lookup?provider=fal',
]
--- error_code eval
[201, 200, 200, 401, 200]
--- response_headers eval
[
"",
"X-BYOK-Key: fal-key-nora-0000000000000001",
"X-BYOK-Key: fal-key-nora-0000000000000001",
"WWW-Authenticate: Bearer error=\"invalid_token\"
!X-BYOK-Key",
"X-BYOK-Key: fal-key-nora-0000000000000001",
]



=== TEST 21: byok_user and byok_provider: one variable, several, none
A value that is one variable is read as it is, any other through nginx's
script engine: both give the same answers.  A missing variable leaves an
empty identity (401) or an unknown provider (400); a missing part of a
joined value leaves another user (403, no key).  Key ids above 9 are
written in full.
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /lone {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }

    location = /braced {
        byok_user ${http_x_user};
        byok_provider ${arg_provider};
        byok_lookup;
    }

    location = /joined {
        byok_user $http_x_team-$http_x_user;
        byok_provider $arg_a$arg_b;
        byok_lookup;
    }
--- more_headers eval
[
("Authorization: Bearer " . ::jwt("ops-olga") . "
Content-Type: application/json") x 12,
("X-User: ops-olga") x 2,
"X-User: olga\nX-Team: ops",
"X-User: olga",
"",
"",
"X-User: ops-olga",
"X-User: olga\nX-Team: ops",
]
--- request eval
[
(map { 'POST /me/provider-keys
{"category":"llm","provider":"openai","value":"sk-olga-' . sprintf('%020d', $_) . '"}' } 1 .. 12),
'GET /lone?provider=openai',
'GET /braced?provider=openai',
'GET /joined?a=open&b=ai',
'GET /joined?a=open&b=ai',
'GET /lone?provider=openai',
'GET /braced?provider=openai',
'GET /lone',
'GET /joined',
]
--- error_code eval
[(201) x 12, 200, 200, 200, 403, 401, 401, 400, 400]
--- response_headers eval
[
("") x 12,
("X-BYOK-Key: sk-olga-00000000000000000012\nX-BYOK-Key-Id: 12") x 3,
("!X-BYOK-Key") x 5,
]



=== TEST 22: (setup) a stored key longer than the API's 4096 bytes is never selected: the next key is
The user API refuses such a value; these are written into the store
behind it (t/tools/putkey.c): a key of exactly 4096 bytes, then one of
4097 and, newest, one of 70000 bytes.  Both long ones are skipped and
named by id only; the 4096-byte key is handed out whole.
--- config
    location = /lookup {
        byok_user $http_x_user;
        byok_provider openai;
        byok_lookup;
    }
--- init
{
    my $file = server_root() . '/logs/master.key';
    open my $out, '>', $file or die "$file: $!";
    print $out "$ENV{AGENTS_MASTER_KEY}\n";
    close $out;

    my $db = server_root() . '/logs/byok.db';
    my $putkey = $ENV{BYOK_PUTKEY} or die "BYOK_PUTKEY is not set\n";
    for my $value ('sk-4096-' . ('a' x 4088), 'sk-long-4097-' . ('b' x 4084),
                   'sk-long-70000-' . ('c' x 69986))
    {
        system($putkey, $db, $file, 'uma', 'openai', $value) == 0
            or die "putkey failed\n";
        sleep 1;    # created_at has a resolution of a second
    }
}
--- more_headers
X-User: uma
--- request
GET /lookup
--- response_headers eval
"X-BYOK-Key: sk-4096-" . ('a' x 4088) . "\nX-BYOK-Key-Id: 1"
--- response_body eval: ""
--- error_log
byok: key 3 for "openai" is longer than 4096 bytes and is not used
byok: key 2 for "openai" is longer than 4096 bytes and is not used
--- no_error_log
sk-long
[alert]
[crit]



=== TEST 23: (continued) the cached selection holds the 4096-byte key whole
Key 1 is revoked in the store behind nginx's back, so the store would
now answer 403: the key comes from the zone, as long as it was stored.
--- init
::store_sql("UPDATE provider_keys SET revoked_at = strftime('%s', 'now'), sealed = NULL WHERE id = 1");
--- more_headers
X-User: uma
--- request eval
[('GET /lookup') x 3]
--- response_headers eval
[("X-BYOK-Key: sk-4096-" . ('a' x 4088) . "\nX-BYOK-Key-Id: 1") x 3]
--- response_body eval
[("") x 3]
--- no_error_log
sk-long
[alert]
[crit]
