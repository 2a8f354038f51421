# The user API (SPEC §4): every route under /me/provider-keys, the OAuth
# placeholder (byok_oauth) and the public catalog (byok_catalog_api), with
# the exact JSON each one answers.
#
# Conventions of this file:
#   - every block starts nginx on an empty store (logs/ is emptied before
#     each block), so key ids count from 1;
#   - "--- setup" lines are requests sent, in order, before the block's own
#     request: "USER METHOD PATH [JSON BODY]"; a setup request that does not
#     succeed fails the block;
#   - "--- user" names the caller of the block's request(s) (default alice);
#     each request carries an HS256 bearer token for that user;
#   - in response bodies, a timestamp within five minutes of now reads
#     "<now>".

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use HTTP::Tiny;
use MIME::Base64 qw(encode_base64url);
use Time::Local qw(timegm);

$ENV{AGENTS_MASTER_KEY} =
    '9c1e5b7a3d2f4e6a8b0c1d2e3f405162738495a6b7c8d9e0f1a2b3c4d5e6f708';
$ENV{AGENTS_JWT_SECRET} = 'keys-api-suite-jwt-secret-0123456789abcdef';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub bearer {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

my @Setups;

sub run_setup {
    my ($n) = @_;
    my $http = HTTP::Tiny->new(timeout => 10);

    for my $line (split /\n/, $Setups[$n]) {
        next if $line !~ /\S/;
        my ($user, $method, $path, $json) = split ' ', $line, 4;
        my $res = $http->request($method,
            'http://' . server_addr() . ':' . server_port() . $path,
            { headers => { 'Authorization' => 'Bearer ' . bearer($user),
                           'Content-Type'  => 'application/json' },
              defined $json ? (content => $json) : () });
        Test::More::fail("setup \"$line\": $res->{status} $res->{content}")
            if !$res->{success};
    }
}

sub mask_now {
    my ($body) = @_;
    $body =~ s{"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z"}{
        abs(timegm($6, $5, $4, $3, $2 - 1, $1) - time) < 300 ? '"<now>"' : $&
    }ge;
    return $body;
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

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location /me/provider-keys {
        byok_api;
    }

    location = /catalog {
        byok_catalog_api;
    }

    location /oauth/ {
        byok_oauth;
    }
_EOC_
    }

    my $user = $block->user // 'alice';
    my $more = $block->more_headers // '';
    my $n = ref $user ? @$user : ref $more ? @$more : 1;
    my @headers = map {
        "Authorization: Bearer " . bearer(ref $user ? $user->[$_] : $user)
        . "\n" . (ref $more ? $more->[$_] : $more)
    } 0 .. $n - 1;
    $block->set_value('more_headers',
                      ref $user || ref $more ? \@headers : $headers[0]);

    if (defined $block->setup) {
        push @Setups, $block->setup;
        $block->set_value('init', "main::run_setup($#Setups)");
    }

    $block->set_value('response_body_filters', \&mask_now);

    if (!defined $block->no_error_log && !defined $block->error_log) {
        $block->set_value('no_error_log', "[error]\n[crit]\n[alert]\n");
    }
});

run_tests();

__DATA__

=== TEST 1: POST adds a key: 201, Location of the new key, the key object without the key itself
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
{"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","value":"sk-ant-1-main-key-000000000001"}
--- error_code: 201
--- response_headers
Location: /me/provider-keys/1
Content-Type: application/json
--- response_body
{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}



=== TEST 2: POST without label and auth_type: label null, auth_type api_key; "rentable": false is accepted
--- more_headers
Content-Type: application/json
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-main-key-000000000001"}
--- request
POST /me/provider-keys
{"category":"audio","provider":"elevenlabs","rentable":false,"value":"el-1-elevenlabs-key-00000001"}
--- error_code: 201
--- response_headers
Location: /me/provider-keys/2
--- response_body
{"id":2,"category":"audio","provider":"elevenlabs","auth_type":"api_key","label":null,"masked":"el-1-ele***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}



=== TEST 3: GET lists nothing for a user without keys
--- request
GET /me/provider-keys
--- response_body
{"keys":[]}



=== TEST 4: GET lists by provider, then rotation_priority, equal priorities newest first
Keys 2, 3, 4 are anthropic keys of priority 0; key 4 is then moved to
priority 1, so anthropic lists 3 (newest of priority 0), 2, then 4.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"openai","label":"oai","value":"sk-oai-1-key-0000000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"first","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"second","value":"sk-ant-2-spare-key-00000000002"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"third","value":"sk-ant-3-spare-key-00000000003"}
alice PATCH /me/provider-keys/4 {"rotation_priority":1}
alice POST /me/provider-keys {"category":"llm","provider":"groq","label":"groq","value":"gsk_1-groq-key-000000000001"}
--- request
GET /me/provider-keys
--- response_body
{"keys":[{"id":3,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"second","masked":"sk-ant-2***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"first","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":4,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"third","masked":"sk-ant-3***","rotation_priority":1,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":5,"category":"llm","provider":"groq","auth_type":"api_key","label":"groq","masked":"gsk_1-gr***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":1,"category":"llm","provider":"openai","auth_type":"api_key","label":"oai","masked":"sk-oai-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}



=== TEST 5: GET hides revoked keys; ?include_revoked=1 lists them after the provider's active keys
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"old","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"new","value":"sk-ant-2-spare-key-00000000002"}
alice DELETE /me/provider-keys/1
--- request eval
["GET /me/provider-keys", "GET /me/provider-keys?include_revoked=1"]
--- response_body eval
[
'{"keys":[{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"new","masked":"sk-ant-2***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
',
'{"keys":[{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"new","masked":"sk-ant-2***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"old","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"revoked","created_at":"<now>","updated_at":"<now>","revoked_at":"<now>","last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
',
]



=== TEST 6: GET ?category= and ?provider= filter the list
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"openai","value":"sk-oai-1-key-0000000000000001"}
alice POST /me/provider-keys {"category":"audio","provider":"elevenlabs","value":"el-1-elevenlabs-key-00000001"}
--- request eval
["GET /me/provider-keys?category=audio",
 "GET /me/provider-keys?provider=openai",
 "GET /me/provider-keys?category=llm&provider=anthropic",
 "GET /me/provider-keys?category=video"]
--- response_body eval
[
'{"keys":[{"id":3,"category":"audio","provider":"elevenlabs","auth_type":"api_key","label":null,"masked":"el-1-ele***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
',
'{"keys":[{"id":2,"category":"llm","provider":"openai","auth_type":"api_key","label":null,"masked":"sk-oai-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
',
'{"keys":[{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
',
'{"keys":[]}
',
]



=== TEST 7: GET /{id} answers one key
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"openai","label":"oai","value":"sk-oai-1-key-0000000000000001"}
--- request
GET /me/provider-keys/2
--- response_body
{"id":2,"category":"llm","provider":"openai","auth_type":"api_key","label":"oai","masked":"sk-oai-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}



=== TEST 8: PATCH changes the label, then the rotation_priority, then both
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
--- more_headers
Content-Type: application/json
--- request eval
['PATCH /me/provider-keys/1
{"label":"work"}',
'PATCH /me/provider-keys/1
{"rotation_priority":5}',
'PATCH /me/provider-keys/1
{"label":"home","rotation_priority":2}']
--- response_body eval
[
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"work","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"work","masked":"sk-ant-1***","rotation_priority":5,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"home","masked":"sk-ant-1***","rotation_priority":2,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
]



=== TEST 9: PATCH with an empty or null label removes the label
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"openai","label":"oai","value":"sk-oai-1-key-0000000000000001"}
--- more_headers
Content-Type: application/json
--- request eval
['PATCH /me/provider-keys/1
{"label":""}',
'PATCH /me/provider-keys/2
{"label":null}']
--- response_body eval
[
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
'{"id":2,"category":"llm","provider":"openai","auth_type":"api_key","label":null,"masked":"sk-oai-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
]



=== TEST 10: PUT /order sets priorities 0, 1, 2 in the given order and answers the provider's keys in that order
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"a","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"b","value":"sk-ant-2-spare-key-00000000002"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"c","value":"sk-ant-3-spare-key-00000000003"}
alice POST /me/provider-keys {"category":"llm","provider":"openai","label":"oai","value":"sk-oai-1-key-0000000000000001"}
--- more_headers
Content-Type: application/json
--- request
PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,3,2]}
--- response_body
{"keys":[{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"a","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":3,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"c","masked":"sk-ant-3***","rotation_priority":1,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"b","masked":"sk-ant-2***","rotation_priority":2,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}



=== TEST 11: PUT /order refuses ids that are not exactly the caller's active keys of the provider
Missing key 3; a key of another provider; an unknown id; a revoked key (4);
a repeated id.  The priorities are left as they were.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-main-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-2-spare-key-00000000002"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-3-spare-key-00000000003"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-4-spare-key-00000000004"}
alice POST /me/provider-keys {"category":"llm","provider":"openai","value":"sk-oai-1-key-0000000000000001"}
alice DELETE /me/provider-keys/4
--- more_headers
Content-Type: application/json
--- request eval
['PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,2]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,2,3,5]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,2,99]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,2,3,4]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,2,2,3]}',
'GET /me/provider-keys?provider=anthropic']
--- error_code eval
[422, 422, 422, 422, 422, 200]
--- response_body eval
[
'{"error":"validation_failed","message":"ids must list exactly your active keys of this provider.","field":"ids"}
',
'{"error":"validation_failed","message":"ids must list exactly your active keys of this provider.","field":"ids"}
',
'{"error":"validation_failed","message":"ids must list exactly your active keys of this provider.","field":"ids"}
',
'{"error":"validation_failed","message":"ids must list exactly your active keys of this provider.","field":"ids"}
',
'{"error":"validation_failed","message":"ids must not repeat a key.","field":"ids"}
',
'{"keys":[{"id":3,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-3***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-2***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0},{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
',
]



=== TEST 12: PUT /order with another user's key ids is refused like any wrong id
Bob owns key 1; alice owns key 2 and lists bob's key 1 in her order.
--- setup
bob POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-bobs-key-000000000001"}
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-2-alice-key-0000000002"}
--- more_headers
Content-Type: application/json
--- request eval
['PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,2]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1]}']
--- error_code eval
[422, 422]
--- response_body eval
[
'{"error":"validation_failed","message":"ids must list exactly your active keys of this provider.","field":"ids"}
',
'{"error":"validation_failed","message":"ids must list exactly your active keys of this provider.","field":"ids"}
',
]



=== TEST 13: DELETE revokes: 200 with the key object, status revoked and revoked_at set
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
--- request
DELETE /me/provider-keys/1
--- response_body
{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"revoked","created_at":"<now>","updated_at":"<now>","revoked_at":"<now>","last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}



=== TEST 14: a revoked key: DELETE again and PATCH answer 404; GET still answers it, status revoked
The SPEC leaves GET of a revoked key open: the module answers the key
object (the row is kept, SPEC §4.4), the way ?include_revoked=1 lists it.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
alice DELETE /me/provider-keys/1
--- more_headers
Content-Type: application/json
--- request eval
["DELETE /me/provider-keys/1",
 'PATCH /me/provider-keys/1
{"label":"again"}',
 "GET /me/provider-keys/1",
 "GET /me/provider-keys"]
--- error_code eval
[404, 404, 200, 200]
--- response_body eval
[
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"revoked","created_at":"<now>","updated_at":"<now>","revoked_at":"<now>","last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
'{"keys":[]}
',
]



=== TEST 15: another user's key answers exactly like a missing id, for every method
Alice owns key 1; bob asks for key 1 and for key 2, which does not exist.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
--- user: bob
--- more_headers
Content-Type: application/json
--- request eval
["GET /me/provider-keys/1",
 "GET /me/provider-keys/2",
 'PATCH /me/provider-keys/1
{"label":"mine"}',
 'PATCH /me/provider-keys/2
{"label":"mine"}',
 "DELETE /me/provider-keys/1",
 "DELETE /me/provider-keys/2",
 "POST /me/provider-keys/1/test",
 "POST /me/provider-keys/2/test",
 "GET /me/provider-keys"]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404, 404, 200]
--- response_headers eval
["Content-Length: 47", "Content-Length: 47", "Content-Length: 47",
 "Content-Length: 47", "Content-Length: 47", "Content-Length: 47",
 "Content-Length: 47", "Content-Length: 47", ""]
--- response_body eval
[
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"keys":[]}
',
]



=== TEST 16: bob's PATCH and DELETE of alice's key leave it untouched
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-1-main-key-000000000001"}
--- user eval
["bob", "bob", "alice"]
--- more_headers
Content-Type: application/json
--- request eval
['PATCH /me/provider-keys/1
{"label":"mine"}',
 "DELETE /me/provider-keys/1",
 "GET /me/provider-keys/1"]
--- error_code eval
[404, 404, 200]
--- response_body eval
[
'{"error":"not_found","message":"No such key."}
',
'{"error":"not_found","message":"No such key."}
',
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
]



=== TEST 17: GET and POST /oauth/anthropic/start answer 501 oauth_not_available with the catalog's notice
--- request eval
["GET /oauth/anthropic/start", "POST /oauth/anthropic/start"]
--- error_code eval
[501, 501]
--- response_body eval
[
'{"error":"oauth_not_available","message":"OAuth Max — coming soon"}
',
'{"error":"oauth_not_available","message":"OAuth Max — coming soon"}
',
]



=== TEST 18: /oauth/{provider}/start of a provider without OAuth answers 501 too; an unknown provider 404
The SPEC only fixes anthropic (501) and unknown providers (404); for a
catalog provider without OAuth the module answers 501 oauth_not_available
saying the provider takes API keys only.
--- request eval
["GET /oauth/openai/start", "GET /oauth/no-such-provider/start",
 "GET /oauth/anthropic/finish"]
--- error_code eval
[501, 404, 404]
--- response_body eval
[
'{"error":"oauth_not_available","message":"This provider accepts API keys only."}
',
'{"error":"not_found","message":"Unknown provider."}
',
'{"error":"not_found","message":"No such resource."}
',
]



=== TEST 19: POST with auth_type oauth: 501 for anthropic, 422 for a provider without OAuth; nothing is stored
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","auth_type":"oauth"}',
'POST /me/provider-keys
{"category":"llm","provider":"openai","auth_type":"oauth"}',
'GET /me/provider-keys']
--- error_code eval
[501, 422, 200]
--- response_body eval
[
'{"error":"oauth_not_available","message":"OAuth Max — coming soon"}
',
'{"error":"validation_failed","message":"This provider accepts API keys only.","field":"auth_type"}
',
'{"keys":[]}
',
]



=== TEST 20: "rentable": true answers 501 rentable_not_available on POST and on PATCH
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-1-main-key-000000000001"}
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","rentable":true,"value":"sk-ant-2-spare-key-00000000002"}',
'PATCH /me/provider-keys/1
{"rentable":true}',
'PATCH /me/provider-keys/1
{"rentable":false}']
--- error_code eval
[501, 501, 200]
--- response_body eval
[
'{"error":"rentable_not_available","message":"Renting keys out is coming soon."}
',
'{"error":"rentable_not_available","message":"Renting keys out is coming soon."}
',
'{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
',
]



=== TEST 21: byok_catalog_api answers the catalog without test URLs and auth headers, with "testable"
--- http_config
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "anthropic", "name": "Anthropic",
     "auth_methods": ["api_key", "oauth"],
     "oauth": {"available": false, "notice": "OAuth Max — coming soon"},
     "auth": {"header": "x-api-key", "prefix": ""},
     "headers": {"anthropic-version": "2023-06-01"},
     "test": {"method": "GET", "url": "https://api.anthropic.com/v1/models"},
     "key_hint": "sk-ant-", "docs_url": "https://console.anthropic.com/settings/keys"},
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET", "url": "https://api.openai.com/v1/models"}}
  ]},
  {"id": "video", "name": "Video", "providers": [
    {"id": "pika", "name": "Pika", "auth_methods": ["api_key"],
     "auth": {"header": "X-API-KEY", "prefix": ""},
     "test": null}
  ]}
]}
--- request
GET /catalog
--- response_headers
Content-Type: application/json
--- response_body
{"categories":[{"id":"llm","name":"LLM","providers":[{"id":"anthropic","name":"Anthropic","auth_methods":["api_key","oauth"],"oauth":{"available":false,"notice":"OAuth Max — coming soon"},"key_hint":"sk-ant-","docs_url":"https://console.anthropic.com/settings/keys","testable":true},{"id":"openai","name":"OpenAI","auth_methods":["api_key"],"testable":true}]},{"id":"video","name":"Video","providers":[{"id":"pika","name":"Pika","auth_methods":["api_key"],"testable":false}]}]}



=== TEST 22: the shipped catalog, as served, names no test request, auth header or extra header
--- request
GET /catalog
--- response_body_unlike chomp
"(?:test|url|auth|header|headers|prefix)":



=== TEST 23: the shipped catalog, as served, has the five categories of the cabinet and Pika untestable
--- request
GET /catalog
--- response_body_like chomp
^\{"categories":\[\{"id":"llm",.*\{"id":"image",.*\{"id":"video",.*\{"id":"pika","name":"Pika","auth_methods":\["api_key"\],[^}]*"testable":false\}.*\{"id":"audio",.*\{"id":"research",.*\]\}\n\z



=== TEST 24: a create refused before its body is read (an expired token) on a keep-alive connection: 401, the body is discarded, and the next request on the connection is answered (with its own 401, it has no token); the key in the body never becomes a request line nor reaches a log
--- raw_request eval
my $body = '{"category":"llm","provider":"anthropic",'
           . '"value":"sk-ant-api03-DISCARDED-0123456789abcdef"}';
my $h = MIME::Base64::encode_base64url('{"alg":"HS256","typ":"JWT"}');
my $p = MIME::Base64::encode_base64url(
    sprintf '{"sub":"alice","exp":%d}', time - 3600);
my $s = MIME::Base64::encode_base64url(
    Digest::SHA::hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
"POST /me/provider-keys HTTP/1.1\r\nHost: localhost\r\n"
. "Authorization: Bearer $h.$p.$s\r\n"
. "Content-Type: application/json\r\n"
. "Content-Length: " . length($body) . "\r\n\r\n$body"
. "GET /me/provider-keys?after HTTP/1.1\r\nHost: localhost\r\n"
. "Connection: close\r\n\r\n"
--- error_code: 401
--- access_log
"POST /me/provider-keys HTTP/1.1" 401
"GET /me/provider-keys?after HTTP/1.1" 401
--- no_access_log
DISCARDED
" 400
--- no_error_log
DISCARDED
[error]
[crit]
[alert]



=== TEST 25: a body the API will not read (415 for text/plain, 404 for an unknown route, 405 for a wrong method) is discarded, never run as a pipelined request
--- raw_request eval
my $smuggled = "GET /oauth/smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
my $auth = "Authorization: Bearer " . main::bearer('alice') . "\r\n";
my $req = sub {
    my ($line, $ct) = @_;
    return "$line HTTP/1.1\r\nHost: localhost\r\n$auth"
           . "Content-Type: $ct\r\n"
           . "Content-Length: " . length($smuggled) . "\r\n\r\n$smuggled";
};
$req->('POST /me/provider-keys', 'text/plain')
. $req->('POST /me/provider-keys/abc', 'application/json')
. $req->('POST /me/provider-keys/order', 'application/json')
. "GET /me/provider-keys?after HTTP/1.1\r\nHost: localhost\r\n"
. "Connection: close\r\n\r\n"
--- error_code: 415
--- access_log
"POST /me/provider-keys HTTP/1.1" 415
"POST /me/provider-keys/abc HTTP/1.1" 404
"POST /me/provider-keys/order HTTP/1.1" 405
"GET /me/provider-keys?after HTTP/1.1" 401
--- no_access_log
smuggled



=== TEST 26: a body over the location's client_max_body_size, announced or chunked, is refused by nginx before the module reads it: the answer is still the API's JSON 413
--- config
    location /me/provider-keys {
        client_max_body_size 1k;
        byok_api;
    }
--- more_headers eval
["Content-Type: application/json",
 "Content-Type: application/json\nTransfer-Encoding: chunked"]
--- request eval
my $big = '{"label":"' . ('x' x 2000) . '"}';
["POST /me/provider-keys\n$big",
 "POST /me/provider-keys\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $big, $big)]
--- error_code eval
[413, 413]
--- response_headers eval
["Content-Type: application/json", "Content-Type: application/json"]
--- response_body eval
['{"error":"body_too_large","message":"The request body is too large."}
',
'{"error":"body_too_large","message":"The request body is too large."}
']
--- no_error_log
[crit]
[alert]
