# Input validation of the user API (SPEC §4.2, §4.3): every error code
# with its exact JSON, and the rules for each field of a key.
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
    '2b7e151628aed2a6abf7158809cf4f3c762e7160f38b4da56a784d9045190cfe';
$ENV{AGENTS_JWT_SECRET} = 'validation-suite-jwt-secret-0123456789abcdef';

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

=== TEST 1: a body that is not JSON answers 400 invalid_json
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":',
'POST /me/provider-keys
{category:"llm"}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1,]}']
--- error_code eval
[400, 400, 400]
--- response_body eval
[
q{{"error":"invalid_json","message":"The body is not valid JSON."}
},
q{{"error":"invalid_json","message":"The body is not valid JSON."}
},
q{{"error":"invalid_json","message":"The body is not valid JSON."}
},
]



=== TEST 2: a body that repeats a member answers 400 invalid_json, even with equal values
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","provider":"openai","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","value":"sk-ant-123456789"}',
'GET /me/provider-keys']
--- error_code eval
[400, 400, 200]
--- response_body eval
[
q{{"error":"invalid_json","message":"The body repeats a JSON member."}
},
q{{"error":"invalid_json","message":"The body repeats a JSON member."}
},
q{{"keys":[]}
},
]



=== TEST 3: an empty body answers 400 invalid_json
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
--- error_code: 400
--- response_body
{"error":"invalid_json","message":"The request body is empty."}



=== TEST 4: JSON that is not an object answers 400 invalid_request
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
[{"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}]',
'POST /me/provider-keys
"sk-ant-123456789"',
'PATCH /me/provider-keys/1
null']
--- error_code eval
[400, 400, 400]
--- response_body eval
[
q{{"error":"invalid_request","message":"The body must be a JSON object."}
},
q{{"error":"invalid_request","message":"The body must be a JSON object."}
},
q{{"error":"invalid_request","message":"The body must be a JSON object."}
},
]



=== TEST 5: a body over 16 KiB answers 413 body_too_large; one of exactly 16 KiB is read
The 16384-byte body holds a value too long to be a key, hence its 422.
--- more_headers
Content-Type: application/json
--- request eval
my $prefix = '{"category":"llm","provider":"anthropic","value":"';
my $fill = 16384 - length($prefix) - length('"}');
["POST /me/provider-keys\n" . $prefix . ('a' x ($fill + 1)) . '"}',
 "POST /me/provider-keys\n" . $prefix . ('a' x $fill) . '"}']
--- error_code eval
[413, 422]
--- response_body eval
[
q{{"error":"body_too_large","message":"The request body is larger than 16 KiB."}
},
q{{"error":"validation_failed","message":"value must be 16 to 4096 characters long.","field":"value"}
},
]



=== TEST 6: a chunked body over 16 KiB answers 413 body_too_large too
--- raw_request eval
my $body = '{"category":"llm","provider":"anthropic","value":"' . ('a' x 16400) . '"}';
"POST /me/provider-keys HTTP/1.1\r
Host: localhost\r
Connection: close\r
Authorization: Bearer " . main::bearer('alice') . "\r
Content-Type: application/json\r
Transfer-Encoding: chunked\r
\r
" . sprintf('%x', length $body) . "\r\n$body\r\n0\r\n\r\n"
--- error_code: 413
--- response_body
{"error":"body_too_large","message":"The request body is larger than 16 KiB."}



=== TEST 7: a body without Content-Type: application/json answers 415, on every route that takes one
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}
--- more_headers eval
["", "Content-Type: text/plain", "Content-Type: application/jsonp",
 "Content-Type: application/x-www-form-urlencoded", "", ""]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
category=llm&provider=anthropic&value=sk-ant-123456789',
'PATCH /me/provider-keys/1
{"label":"main"}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1]}']
--- error_code eval
[415, 415, 415, 415, 415, 415]
--- response_body eval
[
q{{"error":"unsupported_media_type","message":"Send the body as Content-Type: application/json."}
},
q{{"error":"unsupported_media_type","message":"Send the body as Content-Type: application/json."}
},
q{{"error":"unsupported_media_type","message":"Send the body as Content-Type: application/json."}
},
q{{"error":"unsupported_media_type","message":"Send the body as Content-Type: application/json."}
},
q{{"error":"unsupported_media_type","message":"Send the body as Content-Type: application/json."}
},
q{{"error":"unsupported_media_type","message":"Send the body as Content-Type: application/json."}
},
]



=== TEST 8: Content-Type: application/json with parameters or in capitals is accepted
--- more_headers eval
["Content-Type: application/json; charset=utf-8", "Content-Type: Application/JSON"]
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-223456789"}']
--- error_code eval
[201, 201]
--- response_body eval
[
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
q{{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-2***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
]



=== TEST 9: an unknown member answers 422 naming it, on POST, PATCH and PUT /order
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-223456789","colour":"red"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-223456789","rotation_priority":1}',
'PATCH /me/provider-keys/1
{"label":"main","value":"sk-ant-999999999"}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[1],"category":"llm"}',
'GET /me/provider-keys']
--- error_code eval
[422, 422, 422, 422, 200]
--- response_body eval
[
q{{"error":"validation_failed","message":"Unknown field.","field":"colour"}
},
q{{"error":"validation_failed","message":"Unknown field.","field":"rotation_priority"}
},
q{{"error":"validation_failed","message":"Unknown field.","field":"value"}
},
q{{"error":"validation_failed","message":"Unknown field.","field":"category"}
},
q{{"keys":[{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}]}
},
]



=== TEST 10: category must be a catalog category: missing, unknown, not a string or in capitals answers 422
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"cars","provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":["llm"],"provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"LLM","provider":"anthropic","value":"sk-ant-123456789"}']
--- error_code eval
[422, 422, 422, 422]
--- response_body eval
[
q{{"error":"validation_failed","message":"category must be one of the catalog's categories.","field":"category"}
},
q{{"error":"validation_failed","message":"category must be one of the catalog's categories.","field":"category"}
},
q{{"error":"validation_failed","message":"category must be one of the catalog's categories.","field":"category"}
},
q{{"error":"validation_failed","message":"category must be one of the catalog's categories.","field":"category"}
},
]



=== TEST 11: provider must belong to the category: missing, unknown, or of another category answers 422
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"mistral","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"image","provider":"anthropic","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"audio","provider":"openai","value":"sk-ant-123456789"}']
--- error_code eval
[422, 422, 422, 422]
--- response_body eval
[
q{{"error":"validation_failed","message":"provider must be a provider of the chosen category.","field":"provider"}
},
q{{"error":"validation_failed","message":"provider must be a provider of the chosen category.","field":"provider"}
},
q{{"error":"validation_failed","message":"provider must be a provider of the chosen category.","field":"provider"}
},
q{{"error":"validation_failed","message":"provider must be a provider of the chosen category.","field":"provider"}
},
]



=== TEST 12: auth_type is "api_key" (the default) or "oauth"; anything else answers 422
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","auth_type":"bearer","value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","auth_type":1,"value":"sk-ant-123456789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","auth_type":"API_KEY","value":"sk-ant-123456789"}']
--- error_code eval
[422, 422, 422]
--- response_body eval
[
q{{"error":"validation_failed","message":"auth_type must be \"api_key\" or \"oauth\".","field":"auth_type"}
},
q{{"error":"validation_failed","message":"auth_type must be \"api_key\" or \"oauth\".","field":"auth_type"}
},
q{{"error":"validation_failed","message":"auth_type must be \"api_key\" or \"oauth\".","field":"auth_type"}
},
]



=== TEST 13: value must be a string of 16 to 4096 bytes: 15 and 4097 answer 422, 16 and 4096 are stored
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-12345678"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}',
"POST /me/provider-keys\n" . '{"category":"llm","provider":"anthropic","value":"sk-ant-' . ('a' x 4090) . '"}',
"POST /me/provider-keys\n" . '{"category":"llm","provider":"anthropic","value":"sk-ant-' . ('b' x 4089) . '"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":1234567890123456789}']
--- error_code eval
[422, 201, 422, 201, 422, 422]
--- response_body eval
[
q{{"error":"validation_failed","message":"value must be 16 to 4096 characters long.","field":"value"}
},
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
q{{"error":"validation_failed","message":"value must be 16 to 4096 characters long.","field":"value"}
},
q{{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-b***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
q{{"error":"validation_failed","message":"value must be the key as a string.","field":"value"}
},
q{{"error":"validation_failed","message":"value must be the key as a string.","field":"value"}
},
]



=== TEST 14: value must be printable ASCII without spaces: space, tab, CR, LF, DEL and non-ASCII inside answer 422
The JSON escapes put the characters inside the value, between its ends.
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234 56789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234\t56789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234\r\nX-Evil: 1"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234\n56789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234\u007f56789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234é56789"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234\u00e956789"}',
'GET /me/provider-keys']
--- error_code eval
[422, 422, 422, 422, 422, 422, 422, 200]
--- response_body eval
[
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"error":"validation_failed","message":"value may contain printable ASCII characters only, without spaces.","field":"value"}
},
q{{"keys":[]}
},
]



=== TEST 15: a value with a NUL (\u0000) is refused as invalid JSON (400), never stored
The JSON parser refuses NUL inside strings, so such a key never reaches
the value rules; either way it is not stored.
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-1234\u000056789"}',
'GET /me/provider-keys']
--- error_code eval
[400, 200]
--- response_body eval
[
q{{"error":"invalid_json","message":"The body is not valid JSON."}
},
q{{"keys":[]}
},
]



=== TEST 16: whitespace around the value is trimmed before the rules: masked shows the trimmed prefix
The second value is 15 bytes once trimmed, so it is too short.
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":" \t\r\n sk-ant-123456789 \n"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"   sk-ant-12345678   "}']
--- error_code eval
[201, 422]
--- response_body eval
[
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
q{{"error":"validation_failed","message":"value must be 16 to 4096 characters long.","field":"value"}
},
]



=== TEST 17: label is at most 64 bytes of UTF-8: 64 ASCII or 32 two-byte characters pass, 65 bytes answer 422
--- more_headers
Content-Type: application/json
--- request eval
["POST /me/provider-keys\n" . '{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":"' . ('x' x 64) . '"}',
 "POST /me/provider-keys\n" . '{"category":"llm","provider":"anthropic","value":"sk-ant-223456789","label":"' . ('é' x 32) . '"}',
 "POST /me/provider-keys\n" . '{"category":"llm","provider":"anthropic","value":"sk-ant-323456789","label":"' . ('x' x 65) . '"}',
 "POST /me/provider-keys\n" . '{"category":"llm","provider":"anthropic","value":"sk-ant-323456789","label":"x' . ('é' x 32) . '"}']
--- error_code eval
[201, 201, 422, 422]
--- response_body eval
[
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
q{{"id":2,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"éééééééééééééééééééééééééééééééé","masked":"sk-ant-2***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
]



=== TEST 18: label must be text without control characters: C0, DEL, C1 and non-strings answer 422
--- more_headers
Content-Type: application/json
--- request eval
['POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":"bell\u0007"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":"two\nlines"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":"del\u007f"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":"next\u0085line"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":42}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-123456789","label":["main"]}',
'GET /me/provider-keys']
--- error_code eval
[422, 422, 422, 422, 422, 422, 200]
--- response_body eval
[
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"keys":[]}
},
]



=== TEST 19: PATCH label follows the same rules
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","label":"main","value":"sk-ant-123456789"}
--- more_headers
Content-Type: application/json
--- request eval
['PATCH /me/provider-keys/1
{"label":7}',
"PATCH /me/provider-keys/1\n" . '{"label":"' . ('x' x 65) . '"}',
'PATCH /me/provider-keys/1
{"label":"tab\there"}',
'GET /me/provider-keys/1']
--- error_code eval
[422, 422, 422, 200]
--- response_body eval
[
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"error":"validation_failed","message":"label must be text of at most 64 bytes without control characters.","field":"label"}
},
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
]



=== TEST 20: rotation_priority is an integer from 0 to 1000000: negative, string, fraction, too large answer 422
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}
--- more_headers
Content-Type: application/json
--- request eval
['PATCH /me/provider-keys/1
{"rotation_priority":-1}',
'PATCH /me/provider-keys/1
{"rotation_priority":"1"}',
'PATCH /me/provider-keys/1
{"rotation_priority":1.5}',
'PATCH /me/provider-keys/1
{"rotation_priority":1000001}',
'PATCH /me/provider-keys/1
{"rotation_priority":null}',
'PATCH /me/provider-keys/1
{"rotation_priority":1000000}']
--- error_code eval
[422, 422, 422, 422, 422, 200]
--- response_body eval
[
q{{"error":"validation_failed","message":"rotation_priority must be an integer from 0 to 1000000.","field":"rotation_priority"}
},
q{{"error":"validation_failed","message":"rotation_priority must be an integer from 0 to 1000000.","field":"rotation_priority"}
},
q{{"error":"validation_failed","message":"rotation_priority must be an integer from 0 to 1000000.","field":"rotation_priority"}
},
q{{"error":"validation_failed","message":"rotation_priority must be an integer from 0 to 1000000.","field":"rotation_priority"}
},
q{{"error":"validation_failed","message":"rotation_priority must be an integer from 0 to 1000000.","field":"rotation_priority"}
},
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":1000000,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
]



=== TEST 21: PATCH must change something; rentable must be a boolean
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}
--- more_headers
Content-Type: application/json
--- request eval
['PATCH /me/provider-keys/1
{}',
'PATCH /me/provider-keys/1
{"rentable":"no"}',
'POST /me/provider-keys
{"category":"llm","provider":"anthropic","rentable":0,"value":"sk-ant-223456789"}']
--- error_code eval
[422, 422, 422]
--- response_body eval
[
q{{"error":"validation_failed","message":"Send label and/or rotation_priority."}
},
q{{"error":"validation_failed","message":"rentable must be false.","field":"rentable"}
},
q{{"error":"validation_failed","message":"rentable must be false.","field":"rentable"}
},
]



=== TEST 22: PUT /order needs a catalog provider and a non-empty array of positive integer ids
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}
--- more_headers
Content-Type: application/json
--- request eval
['PUT /me/provider-keys/order
{"ids":[1]}',
'PUT /me/provider-keys/order
{"provider":"mistral","ids":[1]}',
'PUT /me/provider-keys/order
{"provider":"anthropic"}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":"1"}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[0]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":[-1]}',
'PUT /me/provider-keys/order
{"provider":"anthropic","ids":["1"]}']
--- error_code eval
[422, 422, 422, 422, 422, 422, 422, 422]
--- response_body eval
[
q{{"error":"validation_failed","message":"provider must be a catalog provider.","field":"provider"}
},
q{{"error":"validation_failed","message":"provider must be a catalog provider.","field":"provider"}
},
q{{"error":"validation_failed","message":"ids must be a non-empty array of key ids.","field":"ids"}
},
q{{"error":"validation_failed","message":"ids must be a non-empty array of key ids.","field":"ids"}
},
q{{"error":"validation_failed","message":"ids must be a non-empty array of key ids.","field":"ids"}
},
q{{"error":"validation_failed","message":"ids must be positive integer key ids.","field":"ids"}
},
q{{"error":"validation_failed","message":"ids must be positive integer key ids.","field":"ids"}
},
q{{"error":"validation_failed","message":"ids must be positive integer key ids.","field":"ids"}
},
]



=== TEST 23: list filters must name a catalog category or provider; include_revoked is 1/0 or true/false
--- request eval
["GET /me/provider-keys?category=cars", "GET /me/provider-keys?provider=mistral",
 "GET /me/provider-keys?include_revoked=yes", "GET /me/provider-keys?category=",
 "GET /me/provider-keys?include_revoked=true&category=llm"]
--- error_code eval
[422, 422, 422, 422, 200]
--- response_body eval
[
q{{"error":"validation_failed","message":"Unknown category.","field":"category"}
},
q{{"error":"validation_failed","message":"Unknown provider.","field":"provider"}
},
q{{"error":"validation_failed","message":"include_revoked must be 1 or 0.","field":"include_revoked"}
},
q{{"error":"validation_failed","message":"Unknown category.","field":"category"}
},
q{{"keys":[]}
},
]



=== TEST 24: ids are positive decimal numbers of at most 15 digits without leading zeros; anything else is no resource (404)
A 15-digit id is a well-formed id of a key that does not exist.
--- setup
alice POST /me/provider-keys {"category":"llm","provider":"anthropic","value":"sk-ant-123456789"}
--- request eval
["GET /me/provider-keys/abc", "GET /me/provider-keys/0", "GET /me/provider-keys/01",
 "GET /me/provider-keys/-1", "GET /me/provider-keys/1.0", "GET /me/provider-keys/1e3",
 "GET /me/provider-keys/1234567890123456", "GET /me/provider-keys/99999999999999999999",
 "GET /me/provider-keys/1/unknown", "GET /me/provider-keys/1/", "GET /me/provider-keys/order/1",
 "GET /me/provider-keysX", "GET /me/provider-keys/999999999999999", "GET /me/provider-keys/1"]
--- error_code eval
[404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 404, 200]
--- response_body eval
[
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such resource."}
},
q{{"error":"not_found","message":"No such key."}
},
q{{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":null,"masked":"sk-ant-1***","rotation_priority":0,"rentable":false,"status":"active","created_at":"<now>","updated_at":"<now>","revoked_at":null,"last_test":null,"last_used_at":null,"status_since":null,"status_until":null,"requests":0,"failures":0}
},
]



=== TEST 25: a method a route does not have answers 405 with Allow listing the ones it has
--- request eval
["PUT /me/provider-keys", "DELETE /me/provider-keys", "POST /me/provider-keys/1",
 "PUT /me/provider-keys/1", "GET /me/provider-keys/1/test", "DELETE /me/provider-keys/1/test",
 "GET /me/provider-keys/order", "POST /me/provider-keys/order",
 "POST /catalog", "DELETE /catalog", "DELETE /oauth/anthropic/start", "PUT /oauth/anthropic/start"]
--- error_code eval
[405, 405, 405, 405, 405, 405, 405, 405, 405, 405, 405, 405]
--- response_headers eval
["Allow: GET, POST", "Allow: GET, POST", "Allow: GET, PATCH, DELETE",
 "Allow: GET, PATCH, DELETE", "Allow: POST", "Allow: POST", "Allow: PUT", "Allow: PUT",
 "Allow: GET", "Allow: GET", "Allow: GET, POST", "Allow: GET, POST"]
--- response_body eval
[
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
q{{"error":"method_not_allowed","message":"This method is not allowed here."}
},
]
