# Start-up checks (SPEC §3, §4, §6, §9): key material, the store's master
# key check values and the catalog are read when nginx loads its
# configuration; anything wrong stops nginx with an emerg line that names
# the directive, variable or file and never prints a key.
#
# Conventions of this file:
#   - blocks without their own byok_store use logs/byok.db, a new store
#     for every block ("--- no_store": no byok_store at all); the rotation
#     blocks share stores in a directory of this run
#     ($TEST_NGINX_STORE_DIR) and must run in order;
#   - requests carry an HS256 bearer token of alice signed with
#     AGENTS_JWT_SECRET;
#   - blocks that must not start also check that the refusal is logged at
#     the emerg level;
#   - "--- sql_before_start" is run with the sqlite3 command on the block's
#     store before nginx starts, as an operator would.

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use File::Temp ();
use MIME::Base64 qw(encode_base64 encode_base64url);

# the JWT secret is 64 hex characters so that one block can (wrongly) use
# it as the master key
$ENV{AGENTS_MASTER_KEY} =
    'a3f1c2e4b5d6978812345678a9bcdef00fedcba9876543210123456789abcdef';
$ENV{AGENTS_JWT_SECRET} =
    '5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8';

$ENV{BYOK_KEY_A} =
    '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f';
$ENV{BYOK_KEY_B} =
    'f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100';
$ENV{BYOK_KEY_BASE64} = encode_base64(pack('H*', '42' x 32), '');
$ENV{BYOK_KEY_63_HEX} =
    'a3f1c2e4b5d6978812345678a9bcdef00fedcba9876543210123456789abcde';
$ENV{BYOK_KEY_NOT_HEX} =
    'a3f1c2e4b5d6978812345678a9bcdef00fedcba9876543210123456789abcdeg';
$ENV{BYOK_KEY_JUNK} = 'correct horse battery staple';
$ENV{BYOK_JWT_31} = 'thirty-one-byte-jwt-secret-0001';
$ENV{BYOK_JWT_32} = 'thirty-two-byte-jwt-secret-00002';
$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_STORE_DIR} =
    File::Temp::tempdir('byok-config-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub bearer {
    my ($sub) = @_;
    my $h = encode_base64url('{"alg":"HS256","typ":"JWT"}');
    my $p = encode_base64url(sprintf '{"sub":"%s","exp":%d}',
                                     $sub, time + 3600);
    my $s = encode_base64url(hmac_sha256("$h.$p", $ENV{AGENTS_JWT_SECRET}));
    return "$h.$p.$s";
}

no_shuffle();
no_long_string();

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    my $http = $block->http_config // '';
    if ($http !~ /\bbyok_store\b/ && !defined $block->no_store) {
        $http = "    byok_store logs/byok.db;\n$http";
    }
    $block->set_value('http_config', $http);

    if (!defined $block->config) {
        $block->set_value('config', <<'_EOC_');
    location /me/provider-keys {
        byok_api;
    }

    location = /catalog {
        byok_catalog_api;
    }
_EOC_
    }

    $block->set_value('more_headers',
                      "Authorization: Bearer " . bearer('alice') . "\n"
                      . ($block->more_headers // ''));

    # a refused start is logged at the emerg level
    if (defined $block->must_die) {
        my $pats = $block->error_log;
        $block->set_value('error_log',
                          ref $pats ? [$pats, '[emerg]'] : "[emerg]\n$pats");
    }

    if (defined(my $sql = $block->sql_before_start)) {
        my ($db) = $http =~ /\bbyok_store\s+(\S+);/;
        $db =~ s/\$(TEST_NGINX_\w+)/$ENV{$1}/g;
        system('sqlite3', $db, $sql) == 0
            or die "sqlite3 $db \"$sql\" failed\n";
    }
});

run_tests();

__DATA__

=== TEST 1: with the default sources (env:AGENTS_MASTER_KEY, hs256 env:AGENTS_JWT_SECRET) nginx starts and serves the API
--- request
GET /me/provider-keys
--- response_body
{"keys":[]}
--- no_error_log
[emerg]
[crit]
[error]



=== TEST 2: byok_master_key naming an unset variable stops nginx, naming the variable
--- http_config
    byok_master_key env:BYOK_NO_SUCH_KEY;
--- must_die
--- error_log
byok_master_key: env:BYOK_NO_SUCH_KEY is not available



=== TEST 3: a master key of 63 hex characters stops nginx without printing it
--- http_config
    byok_master_key env:BYOK_KEY_63_HEX;
--- must_die
--- error_log
byok_master_key: env:BYOK_KEY_63_HEX: must be 32 bytes as 64 hex characters or base64
--- no_error_log
a3f1c2e4b5d6978812345678a9bcdef00fedcba9876543210123456789abcde



=== TEST 4: a master key of 64 characters that are not all hex stops nginx without printing it
--- http_config
    byok_master_key env:BYOK_KEY_NOT_HEX;
--- must_die
--- error_log
byok_master_key: env:BYOK_KEY_NOT_HEX: must be 32 bytes as 64 hex characters or base64
--- no_error_log
a3f1c2e4b5d6978812345678a9bcdef00fedcba9876543210123456789abcdeg



=== TEST 5: a master key that is neither hex nor base64 stops nginx without printing it
--- http_config
    byok_master_key env:BYOK_KEY_JUNK;
--- must_die
--- error_log
byok_master_key: env:BYOK_KEY_JUNK: must be 32 bytes as 64 hex characters or base64
--- no_error_log
correct horse battery staple



=== TEST 6: a key source that is neither env: nor file: stops nginx
--- http_config
    byok_master_key AGENTS_MASTER_KEY;
--- must_die
--- error_log
invalid key source "AGENTS_MASTER_KEY", expected env:NAME or file:PATH



=== TEST 7: a master key written in standard base64 is accepted
--- http_config
    byok_master_key env:BYOK_KEY_BASE64;
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-base64-master-0001"}
--- error_code: 201
--- response_body_like chomp
^\{"id":1,"category":"llm","provider":"anthropic",



=== TEST 8: file: reads the master key from a file (trailing newline allowed) and seals with it
--- http_config
    byok_master_key file:$TEST_NGINX_HTML_DIR/master.key;
--- user_files
>>> master.key
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-file-master-00001"}
--- error_code: 201
--- response_body_like chomp
^\{"id":1,"category":"llm","provider":"anthropic",



=== TEST 9: a file: master key that does not exist stops nginx, naming the file
--- http_config
    byok_master_key file:$TEST_NGINX_HTML_DIR/missing.key;
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_master_key: file:\S+/html/missing\.key is not available}



=== TEST 10: a malformed file: master key stops nginx without printing it
--- http_config
    byok_master_key file:$TEST_NGINX_HTML_DIR/master.key;
--- user_files
>>> master.key
9f86d081884c7d659a2feaa0c55ad015
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_master_key: file:\S+/html/master\.key: must be 32 bytes as 64 hex characters or base64}
--- no_error_log
9f86d081884c7d659a2feaa0c55ad015



=== TEST 11: a previous master key equal to the current one stops nginx
--- http_config
    byok_master_key env:BYOK_KEY_A;
    byok_master_key_previous env:BYOK_KEY_A;
--- must_die
--- error_log
byok_master_key_previous: env:BYOK_KEY_A is the same key as another configured master key
--- no_error_log
000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f



=== TEST 12: (given) an empty store is created under key A
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/empty.db;
    byok_master_key env:BYOK_KEY_A;
--- request
GET /me/provider-keys
--- response_body
{"keys":[]}



=== TEST 13: the store of key A, started with key B alone, stops nginx: the key is wrong for this store
SPEC §3: a wrong master key stops nginx.  The store holds the check value
of key A only and no key sealed under B was ever stored in it, so B cannot
be a rotation of this store's key.
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/empty.db;
    byok_master_key env:BYOK_KEY_B;
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_master_key: .*empty\.db}
--- no_error_log
000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100



=== TEST 14: (given) alice's key is sealed under master key A
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/rotation.db;
    byok_master_key env:BYOK_KEY_A;
    byok_allow_insecure_test_urls on;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET",
            "url": "http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fake-anthropic/v1/models"}}
]}]}
--- more_headers
Content-Type: application/json
--- request
POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-sealed-under-a-0001"}
--- error_code: 201
--- response_body_like chomp
^\{"id":1,"category":"llm","provider":"anthropic",



=== TEST 15: the same store with key B alone stops nginx, naming the store and the key id its rows need
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/rotation.db;
    byok_master_key env:BYOK_KEY_B;
    byok_allow_insecure_test_urls on;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET",
            "url": "http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fake-anthropic/v1/models"}}
]}]}
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_master_key: "\S+/rotation\.db" holds keys sealed under master key [0-9a-f]{8}, which neither byok_master_key nor byok_master_key_previous provides}
--- no_error_log
000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100



=== TEST 16: key B with byok_master_key_previous A starts; the key sealed under A still lists, tests valid, and new keys are added
The catalog's test request goes to a location of this nginx that accepts
only alice's key, so "valid" proves the old key was opened with key A.
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/rotation.db;
    byok_master_key env:BYOK_KEY_B;
    byok_master_key_previous env:BYOK_KEY_A;
    byok_allow_insecure_test_urls on;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET",
            "url": "http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fake-anthropic/v1/models"}}
]}]}
--- config
    location /me/provider-keys {
        byok_api;
    }

    location = /fake-anthropic/v1/models {
        if ($http_x_api_key != "sk-ant-sealed-under-a-0001") {
            return 401 '{"error":"invalid x-api-key"}';
        }
        return 200 '{"data":[]}';
    }
--- more_headers
Content-Type: application/json
--- request eval
["GET /me/provider-keys", "POST /me/provider-keys/1/test",
 'POST /me/provider-keys
{"category":"llm","provider":"anthropic","value":"sk-ant-sealed-under-b-0002"}']
--- error_code eval
[200, 200, 201]
--- response_body_like eval
['^\{"keys":\[\{"id":1,"category":"llm","provider":"anthropic",.*"masked":"sk-ant-s\*\*\*",.*"status":"active",',
 '^\{"result":"valid","status":200,"latency_ms":\d+\}$',
 '^\{"id":2,"category":"llm","provider":"anthropic",']



=== TEST 17: after the rotation, dropping the previous key while rows still use it stops nginx
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/rotation.db;
    byok_master_key env:BYOK_KEY_B;
    byok_allow_insecure_test_urls on;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET",
            "url": "http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fake-anthropic/v1/models"}}
]}]}
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_master_key: "\S+/rotation\.db" holds keys sealed under master key [0-9a-f]{8}, which neither byok_master_key nor byok_master_key_previous provides}



=== TEST 18: a configured key that does not match the check value kept in the store stops nginx
--- http_config
    byok_store $TEST_NGINX_STORE_DIR/rotation.db;
    byok_master_key env:BYOK_KEY_B;
    byok_master_key_previous env:BYOK_KEY_A;
    byok_allow_insecure_test_urls on;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET",
            "url": "http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fake-anthropic/v1/models"}}
]}]}
--- sql_before_start
UPDATE meta SET value = zeroblob(length(value)) WHERE name LIKE 'master_check:%';
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_master_key(?:_previous)?: key [0-9a-f]{8} does not match the check value stored in "\S+/rotation\.db"}
--- no_error_log
000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
f0e0d0c0b0a090807060504030201000ffeeddccbbaa99887766554433221100



=== TEST 19: an HS256 secret shorter than 32 bytes stops nginx without printing it
--- http_config
    byok_jwt_key hs256 env:BYOK_JWT_31;
--- must_die
--- error_log
byok_jwt_key: hs256 env:BYOK_JWT_31: HS256 secret shorter than 32 bytes
--- no_error_log
thirty-one-byte-jwt-secret-0001



=== TEST 20: an HS256 secret of exactly 32 bytes is accepted
--- http_config
    byok_jwt_key hs256 env:BYOK_JWT_32;
--- request
GET /catalog
--- response_body_like chomp
^\{"categories":\[



=== TEST 21: the newline that ends a file: JWT secret does not count towards its 32 bytes
--- http_config
    byok_jwt_key hs256 file:$TEST_NGINX_HTML_DIR/jwt.secret;
--- user_files
>>> jwt.secret
thirty-one-byte-jwt-secret-0001
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_jwt_key: hs256 file:\S+/html/jwt\.secret: HS256 secret shorter than 32 bytes}
--- no_error_log
thirty-one-byte-jwt-secret-0001



=== TEST 22: the default JWT secret equal to the master key stops nginx without printing it
--- http_config
    byok_master_key env:AGENTS_JWT_SECRET;
--- must_die
--- error_log
byok_jwt_key: env:AGENTS_JWT_SECRET must not be the master key
--- no_error_log
5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8



=== TEST 23: a byok_jwt_key secret (http level) equal to the master key stops nginx without printing it
SPEC §4: an HS256 secret equal to the master key stops nginx, whichever
directive names it.
--- http_config
    byok_jwt_key hs256 env:AGENTS_MASTER_KEY;
--- must_die
--- error_log
byok_jwt_key: env:AGENTS_MASTER_KEY must not be the master key
--- no_error_log
a3f1c2e4b5d6978812345678a9bcdef00fedcba9876543210123456789abcdef



=== TEST 24: a byok_jwt_key secret (location level) equal to the master key in another encoding stops nginx
--- http_config
    byok_master_key env:BYOK_KEY_BASE64;
--- config
    location /me/provider-keys {
        byok_jwt_key hs256 env:BYOK_KEY_BASE64;
        byok_api;
    }
--- must_die
--- error_log
byok_jwt_key: env:BYOK_KEY_BASE64 must not be the master key



=== TEST 25: an unknown JWT algorithm stops nginx
--- http_config
    byok_jwt_key hs512 env:AGENTS_JWT_SECRET;
--- must_die
--- error_log
byok_jwt_key: unknown algorithm "hs512", expected hs256, rs256 or es256



=== TEST 26: a JWT key source that is neither env: nor file: stops nginx
--- http_config
    byok_jwt_key hs256 AGENTS_JWT_SECRET;
--- must_die
--- error_log
byok_jwt_key: invalid key source "AGENTS_JWT_SECRET", expected env:NAME or file:PATH



=== TEST 27: an RS256 key file that holds no PEM public key stops nginx
--- http_config
    byok_jwt_key rs256 file:$TEST_NGINX_HTML_DIR/rsa.pub;
--- user_files
>>> rsa.pub
this is not a public key
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_jwt_key: rs256 file:\S+/html/rsa\.pub: no PEM public key}



=== TEST 28: a catalog that is not JSON stops nginx, naming the file and the position
--- http_config
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [
  {"id": "llm", "name": "LLM", "providers": []
]}
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_catalog: "\S+/html/catalog\.json": line 3 column \d+: }



=== TEST 29: a catalog with an unknown field stops nginx, naming the field's path
--- http_config
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""}, "test": null,
   "colour": "orange"}
]}]}
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_catalog: "\S+/html/catalog\.json": categories\[0\]\.providers\[0\]\.colour: unknown field}



=== TEST 30: a catalog test URL over plain http stops nginx unless byok_allow_insecure_test_urls is on
--- http_config
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET", "url": "http://api.anthropic.com/v1/models"}}
]}]}
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_catalog: "\S+/html/catalog\.json": categories\[0\]\.providers\[0\]\.test\.url: must start with https://}



=== TEST 31: with byok_allow_insecure_test_urls on, the plain http test URL is accepted
--- http_config
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
    byok_allow_insecure_test_urls on;
--- user_files
>>> catalog.json
{"categories": [{"id": "llm", "name": "LLM", "providers": [
  {"id": "anthropic", "name": "Anthropic", "auth_methods": ["api_key"],
   "auth": {"header": "x-api-key", "prefix": ""},
   "test": {"method": "GET", "url": "http://api.anthropic.com/v1/models"}}
]}]}
--- request
GET /catalog
--- response_body
{"categories":[{"id":"llm","name":"LLM","providers":[{"id":"anthropic","name":"Anthropic","auth_methods":["api_key"],"testable":true}]}]}



=== TEST 32: a catalog file that does not exist stops nginx, naming it
--- http_config
    byok_catalog $TEST_NGINX_HTML_DIR/no-such-catalog.json;
--- must_die
--- error_log eval
qr{\[emerg\] .*byok_catalog: cannot read "\S+/html/no-such-catalog\.json"}



=== TEST 33: byok_api without byok_store in the http block stops nginx
--- no_store
--- must_die
--- error_log
byok handlers require "byok_store" in the http block



=== TEST 34: byok_catalog_api without byok_store in the http block stops nginx
--- no_store
--- config
    location = /catalog {
        byok_catalog_api;
    }
--- must_die
--- error_log
byok handlers require "byok_store" in the http block



=== TEST 35: byok_test_timeout 0 stops nginx: libcurl would take it as "no limit" and a silent provider would hold a key test forever
--- config
    location /me/provider-keys {
        byok_test_timeout 0;
        byok_api;
    }
--- must_die
--- error_log
"byok_test_timeout" directive must be greater than 0



=== TEST 36: byok_test_limit needs the rate's unit and a sane rate: a bare number stops nginx (limit_req would read it as r/s)
--- http_config
    byok_test_limit rate=5;
--- must_die
--- error_log
invalid rate "rate=5"



=== TEST 37: byok_test_limit: a rate over 1000000 stops nginx instead of overflowing
--- http_config
    byok_test_limit rate=99999999999r/s;
--- must_die
--- error_log
invalid rate "rate=99999999999r/s"
