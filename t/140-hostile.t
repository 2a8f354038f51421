# The bad input catalogue (hardening): malformed and oversized JSON, wrong
# types, deep nesting, duplicate members, invalid UTF-8, NUL/CR/LF in every
# string field, ids that overflow or are not numbers, path tricks, every
# bad token shape, huge headers, slow and truncated bodies, hostile
# identities and providers at the runtime lookup and the injection, hostile
# admin paths and filters.
#
# Every request gets the documented answer: the status, the "error" code of
# SPEC §4.3 and, for 422, the "field" — or, where nginx itself refuses the
# request before any module runs (broken framing, a header line over
# large_client_header_buffers, a URI over 8 KiB, ...), nginx's own error
# page, which the case says.  No worker crashes: nginx runs with a master
# process, so a worker that died would leave "exited on signal" in the
# error log, and every block checks that it does not, nor any [alert],
# [crit] or [emerg] line.  Nothing is stored: every group ends with a block
# that reads the store through the admin API.
#
# How the blocks are written:
#   - Every hostile request has an id, its group letter and a number (A1 ..
#     F46), in its case name or, for a block of its own, in the title.
#   - "--- cases eval" is a list of cases, one request each, sent on its own
#     connection, in order:
#         [ NAME, "METHOD URI", BODY, STATUS, CODE, FIELD, {OPTIONS} ]
#     BODY undef sends no body; CODE is the JSON "error" code, "nginx" for
#     nginx's own error page, "" for a bare status (byok_lookup answers
#     with nginx's page too, its body does not matter) or undef with
#     OPTIONS body => TEXT for an exact JSON answer.  FIELD is the "field"
#     of a 422 as JSON text, undef when the answer has none.
#     OPTIONS: user => SUB (the bearer token's user, default "mallory"),
#     admin => 1 (an admin token), auth => VALUE (the Authorization header
#     as it is; "" sends none), ct => TYPE (the Content-Type of a body; ""
#     sends none), headers => TEXT (more header lines), allow => VALUE,
#     www => VALUE (the expected Allow / WWW-Authenticate headers).
#     The preprocessor turns the list into the standard --- request,
#     --- more_headers, --- error_code, --- response_headers and
#     --- response_body_like sections.
#   - Unlike the other suites, the store is NOT under logs/ (which the
#     runner wipes before every block): it lives in a directory made here,
#     so the hostile requests of all blocks hit one store, and the last
#     block of each group can prove that none of them stored anything.  Its
#     only legitimate content is one key of user "victim", added in group B.
#   - Key tests can only reach loopback: the catalog's test URLs point to
#     a closed port on 127.0.0.1.

use Test::Nginx::Socket 'no_plan';

use Digest::SHA qw(hmac_sha256);
use File::Temp qw(tempdir);
use MIME::Base64 qw(encode_base64 encode_base64url);

$ENV{AGENTS_MASTER_KEY} =
    'c0ffee0badc0de15feedfacecafebeef0123456789abcdef0011223344556677';
$ENV{AGENTS_JWT_SECRET} = 'hostile-suite-jwt-secret-0123456789abcdef';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
$ENV{TEST_NGINX_CLOSED_PORT} ||= 19863;
$ENV{TEST_NGINX_BYOK_STATE} = tempdir('byok-hostile-XXXXXX', TMPDIR => 1,
                                      CLEANUP => 1);

master_on();
workers(1);
no_shuffle();
no_long_string();

# ---------------------------------------------------------------------------
# Tokens

sub b64u { encode_base64url($_[0]) }

# a JWS over the exact HEADER and PAYLOAD texts, HS256 with SECRET
sub token {
    my ($header, $payload, $secret) = @_;
    my $input = b64u($header) . '.' . b64u($payload);
    return "$input." . b64u(hmac_sha256($input,
                                        $secret // $ENV{AGENTS_JWT_SECRET}));
}

# a valid token for SUB; EXTRA is raw JSON text appended to the claims
sub jwt {
    my ($sub, $extra) = @_;
    return token('{"alg":"HS256","typ":"JWT"}',
                 sprintf('{"sub":"%s","exp":%d%s}', $sub, time + 3600,
                         $extra // ''));
}

# claims that are all valid but for the ones given as raw JSON text
sub claims {
    my ($text) = @_;
    return token('{"alg":"HS256","typ":"JWT"}', $text);
}

sub exp_ok { time + 3600 }

# ---------------------------------------------------------------------------
# Bodies

our $KEY = 'sk-ant-api03-hostile-0123456789abcdef';

# a valid create body; MEMBERS (raw JSON texts) replace, remove (undef) or
# add members
sub create_body {
    my (%m) = @_;
    my %body = (category => '"llm"', provider => '"anthropic"',
                value => qq{"$KEY"}, %m);
    my @order = qw(category provider auth_type label value rentable);
    my %known = map { $_ => 1 } @order;
    return '{' . join(',', map { qq{"$_":$body{$_}} }
                           grep { defined $body{$_} }
                           @order, grep { !$known{$_} } sort keys %body)
           . '}';
}

# a chunked body of N chunks of SIZE bytes: JSON whitespace ending in {}
sub chunked_spaces {
    my ($n, $size) = @_;
    my $chunk = sprintf("%x\r\n%s\r\n", $size, ' ' x $size);
    return $chunk x ($n - 1)
           . sprintf("%x\r\n%s{}\r\n", $size, ' ' x ($size - 2))
           . "0\r\n\r\n";
}

# SIG (base64url of 32 bytes) with the unused low bits of its last
# character set: the same signature bytes, another spelling
sub pad_bits {
    my ($sig) = @_;
    my $abc = join '', 'A' .. 'Z', 'a' .. 'z', '0' .. '9', '-', '_';
    my $v = index($abc, substr($sig, -1));
    return substr($sig, 0, -1) . substr($abc, $v | 1, 1);
}

# ---------------------------------------------------------------------------
# The test catalog: the three providers the cases name, test URLs on a
# closed loopback port

our $Catalog = <<'_EOC_';
{"categories": [
  {"id": "llm", "name": "LLM", "providers": [
    {"id": "anthropic", "name": "Anthropic",
     "auth_methods": ["api_key", "oauth"],
     "oauth": {"available": false, "notice": "OAuth Max - coming soon"},
     "auth": {"header": "x-api-key", "prefix": ""},
     "headers": {"anthropic-version": "2023-06-01"},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_CLOSED_PORT/v1/models"}},
    {"id": "openai", "name": "OpenAI", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": {"method": "GET",
              "url": "http://127.0.0.1:$TEST_NGINX_CLOSED_PORT/v1/models"}}
  ]},
  {"id": "research", "name": "Research", "providers": [
    {"id": "tavily", "name": "Tavily", "auth_methods": ["api_key"],
     "auth": {"header": "Authorization", "prefix": "Bearer "},
     "test": null}
  ]}
]}
_EOC_

our $Config = <<'_EOC_';
    client_body_timeout 1s;
    client_header_timeout 1s;

    location /me/provider-keys {
        byok_api;
    }

    location /admin/ {
        byok_admin;
    }

    location = /lookup {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_lookup;
    }

    location /inject/ {
        byok_user $http_x_user;
        byok_provider $arg_provider;
        byok_inject on;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/provider/;
    }

    location /provider/ {
        return 200 "the provider was called\n";
    }
_EOC_

# ---------------------------------------------------------------------------
# From cases to sections

sub expected_body {
    my ($status, $code, $field, $opts) = @_;

    return '^' . quotemeta($opts->{body}) . '\n\z' if defined $opts->{body};
    return $opts->{body_like} if defined $opts->{body_like};
    return '^\z' if $opts->{head};
    return '^' if defined $code && $code eq '';
    return "<title>$status [^<]*</title>" if $code eq 'nginx';

    return '^\{"error":"' . quotemeta($code)
           . '","message":"(?:[^"\\\\]|\\\\.)+"'
           . (defined $field ? ',"field":"' . quotemeta($field) . '"' : '')
           . '\}\n\z';
}

sub expected_headers {
    my ($status, $code, $opts) = @_;
    my @h;

    if (defined $code && $code eq 'nginx') {
        push @h, 'Content-Type: text/html';
    } elsif (defined $code && $code ne '' || defined $opts->{body}
             || defined $opts->{body_like})
    {
        push @h, 'Content-Type: application/json';
    }

    push @h, "Allow: $opts->{allow}" if defined $opts->{allow};
    push @h, "WWW-Authenticate: $opts->{www}" if defined $opts->{www};
    push @h, '!X-BYOK-Key' if defined $code && $code eq '';

    return join "\n", @h;
}

sub request_headers {
    my ($body, $opts) = @_;
    my @h;

    my $auth = exists $opts->{auth}
               ? $opts->{auth}
               : 'Bearer ' . ($opts->{admin}
                              ? jwt('root', ',"role":"admin"')
                              : jwt($opts->{user} // 'mallory'));
    push @h, "Authorization: $auth" if $auth ne '';

    my $ct = exists $opts->{ct} ? $opts->{ct}
             : defined $body ? 'application/json' : '';
    push @h, "Content-Type: $ct" if $ct ne '';

    push @h, $opts->{headers} if defined $opts->{headers};

    return join "\n", @h;
}

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value('main_config',
                      "load_module \$TEST_NGINX_BYOK_MODULE;\n"
                      . ($block->main_config // ''));

    $block->set_value('http_config', <<'_EOC_' . ($block->http_config // ''));
    byok_store $TEST_NGINX_BYOK_STATE/byok.db;
    byok_catalog $TEST_NGINX_HTML_DIR/catalog.json;
    byok_allow_insecure_test_urls on;
_EOC_

    $block->set_value('config', $main::Config) if !defined $block->config;
    $block->set_value('user_files', ">>> catalog.json\n$main::Catalog");

    if (defined(my $cases = $block->cases)) {
        my (@req, @hdr, @code, @body, @rh);

        for my $c (@$cases) {
            my ($name, $line, $body, $status, $code, $field, $opts) = @$c;
            $opts //= {};
            $opts->{head} = 1 if $line =~ /^HEAD /;

            push @req, defined $body ? "$line\n$body" : $line;
            push @hdr, request_headers($body, $opts);
            push @code, $status;
            push @body, expected_body($status, $code, $field, $opts);
            push @rh, expected_headers($status, $code, $opts);
        }

        $block->set_value('request', \@req);
        $block->set_value('more_headers', \@hdr);
        $block->set_value('error_code', \@code);
        $block->set_value('response_body_like', \@body);
        $block->set_value('response_headers', \@rh);
    }

    if (!defined $block->no_error_log) {
        $block->set_value('no_error_log',
                          "[alert]\n[crit]\n[emerg]\nexited on signal\n");
    }
});

run_tests();

__DATA__

=== TEST 1: (A: malformed JSON) bodies that are not JSON answer 400 invalid_json
--- cases eval
[
['A1 truncated object', 'POST /me/provider-keys', '{"category":"llm","provider":"anthropic","value":', 400, 'invalid_json'],
['A2 unterminated string', 'POST /me/provider-keys', '{"category":"llm","value":"sk-ant-0123456789abc', 400, 'invalid_json'],
['A3 trailing comma in an object', 'POST /me/provider-keys', '{"category":"llm",}', 400, 'invalid_json'],
['A4 trailing comma in an array', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[1,]}', 400, 'invalid_json'],
['A5 single quotes', 'POST /me/provider-keys', q{{'category':'llm'}}, 400, 'invalid_json'],
['A6 unquoted member names', 'POST /me/provider-keys', '{category:"llm"}', 400, 'invalid_json'],
['A7 a bare word', 'POST /me/provider-keys', 'hello', 400, 'invalid_json'],
['A8 garbage after the object', 'POST /me/provider-keys', '{"category":"llm"} x', 400, 'invalid_json'],
['A9 two objects', 'POST /me/provider-keys', '{}{}', 400, 'invalid_json'],
['A10 NaN', 'PATCH /me/provider-keys/1', '{"rotation_priority":NaN}', 400, 'invalid_json'],
['A11 Infinity', 'PATCH /me/provider-keys/1', '{"rotation_priority":-Infinity}', 400, 'invalid_json'],
['A12 a comment', 'POST /me/provider-keys', '{/* c */"category":"llm"}', 400, 'invalid_json'],
['A13 a UTF-8 byte order mark', 'POST /me/provider-keys', "\xEF\xBB\xBF{}", 400, 'invalid_json'],
['A14 an unknown escape', 'POST /me/provider-keys', '{"label":"\x41"}', 400, 'invalid_json'],
['A15 a short \u escape', 'POST /me/provider-keys', '{"label":"\u12"}', 400, 'invalid_json'],
['A16 a leading zero', 'PATCH /me/provider-keys/1', '{"rotation_priority":01}', 400, 'invalid_json'],
['A17 a hex number', 'PATCH /me/provider-keys/1', '{"rotation_priority":0x10}', 400, 'invalid_json'],
['A18 an integer over 64 bits', 'PATCH /me/provider-keys/1', '{"rotation_priority":99999999999999999999}', 400, 'invalid_json'],
['A19 a negative integer over 64 bits', 'PATCH /me/provider-keys/1', '{"rotation_priority":-99999999999999999999}', 400, 'invalid_json'],
['A20 a real that overflows a double', 'PATCH /me/provider-keys/1', '{"rotation_priority":1e400}', 400, 'invalid_json'],
['A21 an empty body', 'POST /me/provider-keys', '', 400, 'invalid_json', undef, {ct => 'application/json'}],
['A22 a body of spaces only (sent with its length)', 'POST /me/provider-keys', '   ', 400, 'invalid_json', undef, {headers => 'Content-Length: 3'}],
['A23 a lone NUL byte', 'POST /me/provider-keys', "\0", 400, 'invalid_json'],
['A24 a NUL byte after the object', 'POST /me/provider-keys', "{}\0", 400, 'invalid_json'],
]



=== TEST 2: (A: malformed JSON) JSON that is not an object answers 400 invalid_request
--- cases eval
[
['A25 an array', 'POST /me/provider-keys', '[{"category":"llm"}]', 400, 'invalid_request'],
['A26 a string', 'POST /me/provider-keys', '"sk-ant-0123456789abcdef"', 400, 'invalid_request'],
['A27 a number', 'PATCH /me/provider-keys/1', '42', 400, 'invalid_request'],
['A28 true', 'PUT /me/provider-keys/order', 'true', 400, 'invalid_request'],
['A29 false', 'POST /me/provider-keys', 'false', 400, 'invalid_request'],
['A30 null', 'PATCH /me/provider-keys/1', 'null', 400, 'invalid_request'],
]



=== TEST 3: (A: malformed JSON) deep nesting: within jansson's depth limit it is only a wrong type (422), beyond it invalid_json (400)
--- cases eval
[
['A31 a label nested 1000 arrays deep', 'POST /me/provider-keys', '{"label":' . ('[' x 1000) . (']' x 1000) . '}', 422, 'validation_failed', 'category'],
['A32 a label nested 5000 arrays deep', 'POST /me/provider-keys', '{"label":' . ('[' x 5000) . (']' x 5000) . '}', 400, 'invalid_json'],
['A33 2500 nested objects', 'PATCH /me/provider-keys/1', ('{"a":' x 2500) . '1' . ('}' x 2500), 400, 'invalid_json'],
['A34 16000 unclosed arrays (just under 16 KiB)', 'POST /me/provider-keys', '[' x 16000, 400, 'invalid_json'],
['A35 ids nested 4000 arrays deep', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":' . ('[' x 4000) . '1' . (']' x 4000) . '}', 400, 'invalid_json'],
['A36 ids nested 100 arrays deep', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":' . ('[' x 100) . '1' . (']' x 100) . '}', 422, 'validation_failed', 'ids'],
]



=== TEST 4: (A: malformed JSON) duplicate members answer 400 invalid_json, wherever they are
--- cases eval
[
['A37 value twice, equal', 'POST /me/provider-keys', '{"category":"llm","provider":"anthropic","value":"sk-ant-0123456789abcdef","value":"sk-ant-0123456789abcdef"}', 400, 'invalid_json'],
['A38 provider twice, different', 'POST /me/provider-keys', '{"category":"llm","provider":"anthropic","provider":"openai","value":"sk-ant-0123456789abcdef"}', 400, 'invalid_json'],
['A39 the same name spelled with an escape', 'POST /me/provider-keys', '{"category":"llm","provider":"anthropic","value":"sk-ant-0123456789abcdef","v\u0061lue":"sk-other-0123456789"}', 400, 'invalid_json'],
['A40 a repeated member inside a nested value', 'POST /me/provider-keys', '{"label":{"a":1,"a":2}}', 400, 'invalid_json'],
['A41 label twice in a PATCH', 'PATCH /me/provider-keys/1', '{"label":"a","label":"b"}', 400, 'invalid_json'],
['A42 ids twice in an order', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[1],"ids":[2]}', 400, 'invalid_json'],
['A43 1000 repeats of one member', 'POST /me/provider-keys', '{' . CORE::join(',', ('"label":"x"') x 1000) . '}', 400, 'invalid_json'],
]



=== TEST 5: (A: malformed JSON) invalid UTF-8 anywhere answers 400 invalid_json
--- cases eval
[
['A44 a 0xFF byte in a string', 'POST /me/provider-keys', qq{{"label":"\xff"}}, 400, 'invalid_json'],
['A45 an overlong "/" (C0 AF)', 'POST /me/provider-keys', qq{{"label":"\xc0\xaf"}}, 400, 'invalid_json'],
['A46 a UTF-16 surrogate encoded in UTF-8 (ED A0 80)', 'POST /me/provider-keys', qq{{"label":"\xed\xa0\x80"}}, 400, 'invalid_json'],
['A47 a truncated 3-byte sequence', 'POST /me/provider-keys', qq{{"label":"\xe2\x82"}}, 400, 'invalid_json'],
['A48 a code point over U+10FFFF (F4 90 80 80)', 'POST /me/provider-keys', qq{{"label":"\xf4\x90\x80\x80"}}, 400, 'invalid_json'],
['A49 a lone continuation byte in a member name', 'POST /me/provider-keys', qq{{"lab\x80el":"x"}}, 400, 'invalid_json'],
['A50 invalid UTF-8 in the key value', 'POST /me/provider-keys', qq{{"category":"llm","provider":"anthropic","value":"sk-ant-\xfe0123456789abcdef"}}, 400, 'invalid_json'],
['A51 a lone high surrogate escape', 'POST /me/provider-keys', '{"label":"\ud800"}', 400, 'invalid_json'],
['A52 a lone low surrogate escape', 'PATCH /me/provider-keys/1', '{"label":"\udc00x"}', 400, 'invalid_json'],
['A53 invalid UTF-8 outside strings', 'PUT /me/provider-keys/order', qq{{"provider":"anthropic","ids":[1]\xff}}, 400, 'invalid_json'],
]



=== TEST 6: (A: end) none of the malformed bodies stored anything
--- cases eval
[
['A: mallory has no key, revoked ones included', 'GET /me/provider-keys?include_revoked=1', undef, 200, undef, undef, {body => '{"keys":[]}'}],
['A: the store holds no key of anyone', 'GET /admin/stats', undef, 200, undef, undef, {admin => 1, body_like => '^\{"keys":\[\],.*"audit_rows":0\}\}\n\z'}],
['A: the audit log is empty', 'GET /admin/audit', undef, 200, undef, undef, {admin => 1, body => '{"entries":[],"next":null}'}],
]



=== TEST 7: (B: wrong types) every create field of the wrong JSON type answers 422 naming it
--- cases eval
[
['B1 category a number', 'POST /me/provider-keys', ::create_body(category => '1'), 422, 'validation_failed', 'category'],
['B2 category null', 'POST /me/provider-keys', ::create_body(category => 'null'), 422, 'validation_failed', 'category'],
['B3 category an array of the right name', 'POST /me/provider-keys', ::create_body(category => '["llm"]'), 422, 'validation_failed', 'category'],
['B4 category missing', 'POST /me/provider-keys', ::create_body(category => undef), 422, 'validation_failed', 'category'],
['B5 provider an object', 'POST /me/provider-keys', ::create_body(provider => '{"id":"anthropic"}'), 422, 'validation_failed', 'provider'],
['B6 provider true', 'POST /me/provider-keys', ::create_body(provider => 'true'), 422, 'validation_failed', 'provider'],
['B7 provider of another category', 'POST /me/provider-keys', ::create_body(provider => '"tavily"'), 422, 'validation_failed', 'provider'],
['B8 auth_type a number', 'POST /me/provider-keys', ::create_body(auth_type => '0'), 422, 'validation_failed', 'auth_type'],
['B9 auth_type null', 'POST /me/provider-keys', ::create_body(auth_type => 'null'), 422, 'validation_failed', 'auth_type'],
['B10 auth_type unknown', 'POST /me/provider-keys', ::create_body(auth_type => '"API_KEY"'), 422, 'validation_failed', 'auth_type'],
['B11 value a number', 'POST /me/provider-keys', ::create_body(value => '1234567890123456'), 422, 'validation_failed', 'value'],
['B12 value an object', 'POST /me/provider-keys', ::create_body(value => '{"key":"sk-ant-0123456789abcdef"}'), 422, 'validation_failed', 'value'],
['B13 value an array of strings', 'POST /me/provider-keys', ::create_body(value => '["sk-ant-0123456789abcdef"]'), 422, 'validation_failed', 'value'],
['B14 value false', 'POST /me/provider-keys', ::create_body(value => 'false'), 422, 'validation_failed', 'value'],
['B15 value missing', 'POST /me/provider-keys', ::create_body(value => undef), 422, 'validation_failed', 'value'],
['B16 value 4097 bytes', 'POST /me/provider-keys', ::create_body(value => '"' . ('k' x 4097) . '"'), 422, 'validation_failed', 'value'],
['B17 value 15 bytes after trimming', 'POST /me/provider-keys', ::create_body(value => '"   sk-ant-01234567   "'), 422, 'validation_failed', 'value'],
['B18 label a number', 'POST /me/provider-keys', ::create_body(label => '7'), 422, 'validation_failed', 'label'],
['B19 label an object', 'POST /me/provider-keys', ::create_body(label => '{}'), 422, 'validation_failed', 'label'],
['B20 label 65 bytes', 'POST /me/provider-keys', ::create_body(label => '"' . ('l' x 65) . '"'), 422, 'validation_failed', 'label'],
['B21 label 22 euro signs (66 bytes)', 'POST /me/provider-keys', ::create_body(label => '"' . ("\xe2\x82\xac" x 22) . '"'), 422, 'validation_failed', 'label'],
['B22 rentable the string "false"', 'POST /me/provider-keys', ::create_body(rentable => '"false"'), 422, 'validation_failed', 'rentable'],
['B23 rentable 0', 'POST /me/provider-keys', ::create_body(rentable => '0'), 422, 'validation_failed', 'rentable'],
['B24 an unknown member', 'POST /me/provider-keys', ::create_body(owner => '"victim"'), 422, 'validation_failed', 'owner'],
['B25 an unknown member of 100 bytes is not echoed', 'POST /me/provider-keys', ::create_body(('x' x 100) => '1'), 422, 'validation_failed', '(field)'],
['B26 an unknown member that differs by case', 'POST /me/provider-keys', '{"Value":"sk-ant-0123456789abcdef","category":"llm","provider":"anthropic"}', 422, 'validation_failed', 'Value'],
['B27 id sent by the client', 'POST /me/provider-keys', ::create_body(id => '1'), 422, 'validation_failed', 'id'],
]



=== TEST 8: (B: NUL, CR, LF) in every string field: escaped NUL is not JSON here (400), escaped CR/LF is refused by the field's rule (422), raw control bytes are not JSON (400)
--- cases eval
[
['B28 category with \u0000', 'POST /me/provider-keys', ::create_body(category => '"llm\u0000"'), 400, 'invalid_json'],
['B29 category with \n', 'POST /me/provider-keys', ::create_body(category => '"llm\n"'), 422, 'validation_failed', 'category'],
['B30 category with \r', 'POST /me/provider-keys', ::create_body(category => '"\rllm"'), 422, 'validation_failed', 'category'],
['B31 provider with \u0000', 'POST /me/provider-keys', ::create_body(provider => '"anthropic\u0000x"'), 400, 'invalid_json'],
['B32 provider with \r\n', 'POST /me/provider-keys', ::create_body(provider => '"anthropic\r\n"'), 422, 'validation_failed', 'provider'],
['B33 auth_type with \u0000', 'POST /me/provider-keys', ::create_body(auth_type => '"api_key\u0000"'), 400, 'invalid_json'],
['B34 auth_type with \n', 'POST /me/provider-keys', ::create_body(auth_type => '"api_key\n"'), 422, 'validation_failed', 'auth_type'],
['B35 auth_type "oauth" + \r', 'POST /me/provider-keys', ::create_body(auth_type => '"oauth\r"'), 422, 'validation_failed', 'auth_type'],
['B36 label with \u0000', 'POST /me/provider-keys', ::create_body(label => '"main\u0000"'), 400, 'invalid_json'],
['B37 label with \n', 'POST /me/provider-keys', ::create_body(label => '"main\nX-Evil: 1"'), 422, 'validation_failed', 'label'],
['B38 label with \r', 'POST /me/provider-keys', ::create_body(label => '"main\r"'), 422, 'validation_failed', 'label'],
['B39 label with DEL', 'POST /me/provider-keys', ::create_body(label => '"main\u007f"'), 422, 'validation_failed', 'label'],
['B40 label with a C1 control (U+0085)', 'POST /me/provider-keys', ::create_body(label => '"main\u0085"'), 422, 'validation_failed', 'label'],
['B41 value with \u0000 inside', 'POST /me/provider-keys', ::create_body(value => '"sk-ant-0123\u00004567890abcdef"'), 400, 'invalid_json'],
['B42 value with \r\n inside', 'POST /me/provider-keys', ::create_body(value => '"sk-ant-0123\r\n4567890abcdef"'), 422, 'validation_failed', 'value'],
['B43 value with a header injection', 'POST /me/provider-keys', ::create_body(value => '"sk-ant-0123456789abcdef\r\nX-Evil: 1"'), 422, 'validation_failed', 'value'],
['B44 value with a tab inside', 'POST /me/provider-keys', ::create_body(value => '"sk-ant-0123\t4567890abcdef"'), 422, 'validation_failed', 'value'],
['B45 value with a non-ASCII letter', 'POST /me/provider-keys', ::create_body(value => '"sk-ant-0123\u00e94567890abcdef"'), 422, 'validation_failed', 'value'],
['B46 a member name with \n', 'POST /me/provider-keys', '{"label\n":"x"}', 422, 'validation_failed', 'label\n'],
['B47 a member name with \u0000', 'POST /me/provider-keys', '{"label\u0000":"x"}', 400, 'invalid_json'],
['B48 a raw NUL byte inside the value', 'POST /me/provider-keys', ::create_body(value => qq{"sk-ant-0123\x004567890abcdef"}), 400, 'invalid_json'],
['B49 a raw LF inside the value', 'POST /me/provider-keys', ::create_body(value => qq{"sk-ant-0123\n4567890abcdef"}), 400, 'invalid_json'],
['B50 a raw CR inside the label', 'POST /me/provider-keys', ::create_body(label => qq{"ma\rin"}), 400, 'invalid_json'],
['B51 PATCH status with \n', 'PATCH /me/provider-keys/1', '{"status":"active\n"}', 422, 'validation_failed', 'status'],
['B52 PATCH status with \u0000', 'PATCH /me/provider-keys/1', '{"status":"active\u0000"}', 400, 'invalid_json'],
['B53 PATCH label with \r\n', 'PATCH /me/provider-keys/1', '{"label":"a\r\nb"}', 422, 'validation_failed', 'label'],
['B54 order provider with \n', 'PUT /me/provider-keys/order', '{"provider":"anthropic\n","ids":[1]}', 422, 'validation_failed', 'provider'],
['B55 order provider with \u0000', 'PUT /me/provider-keys/order', '{"provider":"anthropic\u0000","ids":[1]}', 400, 'invalid_json'],
]



=== TEST 9: (B: setup) victim adds one key, the only one this file stores
--- cases eval
[
['B: victim adds a key', 'POST /me/provider-keys', ::create_body(label => '"main"'), 201, undef, undef, {user => 'victim', body_like => '^\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-a\*\*\*","rotation_priority":0,'}],
]



=== TEST 10: (B: wrong types) PATCH and order bodies of the wrong types or out of range answer 422 naming the field, on an existing key
--- cases eval
my %v = (user => 'victim');
[
['B56 rotation_priority a string', 'PATCH /me/provider-keys/1', '{"rotation_priority":"1"}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B57 rotation_priority 1.5', 'PATCH /me/provider-keys/1', '{"rotation_priority":1.5}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B58 rotation_priority 1e3 (a real)', 'PATCH /me/provider-keys/1', '{"rotation_priority":1e3}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B59 rotation_priority -1', 'PATCH /me/provider-keys/1', '{"rotation_priority":-1}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B60 rotation_priority 1000001', 'PATCH /me/provider-keys/1', '{"rotation_priority":1000001}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B61 rotation_priority 2^63-1', 'PATCH /me/provider-keys/1', '{"rotation_priority":9223372036854775807}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B62 rotation_priority -2^63', 'PATCH /me/provider-keys/1', '{"rotation_priority":-9223372036854775808}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B63 rotation_priority null', 'PATCH /me/provider-keys/1', '{"rotation_priority":null}', 422, 'validation_failed', 'rotation_priority', {%v}],
['B64 label an array', 'PATCH /me/provider-keys/1', '{"label":["x"]}', 422, 'validation_failed', 'label', {%v}],
['B65 label 65 bytes', 'PATCH /me/provider-keys/1', '{"label":"' . ('l' x 65) . '"}', 422, 'validation_failed', 'label', {%v}],
['B66 status "revoked"', 'PATCH /me/provider-keys/1', '{"status":"revoked"}', 422, 'validation_failed', 'status', {%v}],
['B67 status true', 'PATCH /me/provider-keys/1', '{"status":true}', 422, 'validation_failed', 'status', {%v}],
['B68 rentable "true" (a string)', 'PATCH /me/provider-keys/1', '{"rentable":"true"}', 422, 'validation_failed', 'rentable', {%v}],
['B69 value cannot be patched', 'PATCH /me/provider-keys/1', '{"value":"sk-ant-replaced-0123456789"}', 422, 'validation_failed', 'value', {%v}],
['B70 provider cannot be patched', 'PATCH /me/provider-keys/1', '{"label":"x","provider":"openai"}', 422, 'validation_failed', 'provider', {%v}],
['B71 order: provider a number', 'PUT /me/provider-keys/order', '{"provider":1,"ids":[1]}', 422, 'validation_failed', 'provider', {%v}],
['B72 order: provider unknown', 'PUT /me/provider-keys/order', '{"provider":"../anthropic","ids":[1]}', 422, 'validation_failed', 'provider', {%v}],
['B73 order: ids a string', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":"1"}', 422, 'validation_failed', 'ids', {%v}],
['B74 order: ids empty', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[]}', 422, 'validation_failed', 'ids', {%v}],
['B75 order: ids of strings', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":["1"]}', 422, 'validation_failed', 'ids', {%v}],
['B76 order: id 0', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[0]}', 422, 'validation_failed', 'ids', {%v}],
['B77 order: a negative id', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[-1]}', 422, 'validation_failed', 'ids', {%v}],
['B78 order: a real id', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[1.0]}', 422, 'validation_failed', 'ids', {%v}],
['B79 order: an id twice', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[1,1]}', 422, 'validation_failed', 'ids', {%v}],
['B80 order: 1001 ids', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[' . CORE::join(',', 1 .. 1001) . ']}', 422, 'validation_failed', 'ids', {%v}],
['B81 order: ids that are not the caller\'s keys', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[999999999999999]}', 422, 'validation_failed', 'ids', {%v}],
['B82 order: an id of 2^63 (overflow)', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[9223372036854775808]}', 400, 'invalid_json', undef, {%v}],
['B83 order: a nested id', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[[1]]}', 422, 'validation_failed', 'ids', {%v}],
['B84 order: mallory orders victim\'s key', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[1]}', 422, 'validation_failed', 'ids'],
]



=== TEST 11: (B: end) victim's key is unchanged and nothing else was stored
--- cases eval
[
['B: the key is as it was created', 'GET /me/provider-keys/1', undef, 200, undef, undef, {user => 'victim', body_like => '^\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-a\*\*\*","rotation_priority":0,"rentable":false,"status":"active","created_at":"([^"]+)","updated_at":"\1","revoked_at":null,"last_test":null,'}],
['B: mallory has no key', 'GET /me/provider-keys?include_revoked=1', undef, 200, undef, undef, {body => '{"keys":[]}'}],
['B: one key in the store', 'GET /admin/stats', undef, 200, undef, undef, {admin => 1, body_like => '^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\}\],.*"audit_rows":1\}\}\n\z'}],
['B: one audit row, the create', 'GET /admin/audit', undef, 200, undef, undef, {admin => 1, body_like => '^\{"entries":\[\{"id":1,"at":"[^"]+","actor":"victim","actor_kind":"user","action":"key.create",[^\]]*\}\],"next":null\}\n\z'}],
]



=== TEST 12: (C: ids) ids that are not positive decimal numbers of at most 15 digits answer 404 like a missing key
--- cases eval
[
['C1 a word', 'GET /me/provider-keys/abc', undef, 404, 'not_found'],
['C2 zero', 'GET /me/provider-keys/0', undef, 404, 'not_found'],
['C3 a leading zero', 'GET /me/provider-keys/01', undef, 404, 'not_found'],
['C4 a minus sign', 'PATCH /me/provider-keys/-1', '{"label":"x"}', 404, 'not_found'],
['C5 a plus sign', 'DELETE /me/provider-keys/+1', undef, 404, 'not_found'],
['C6 a decimal point', 'GET /me/provider-keys/1.0', undef, 404, 'not_found'],
['C7 an exponent', 'GET /me/provider-keys/1e3', undef, 404, 'not_found'],
['C8 hex', 'DELETE /me/provider-keys/0x1', undef, 404, 'not_found'],
['C9 trailing letters', 'POST /me/provider-keys/1abc/test', undef, 404, 'not_found'],
['C10 15 nines (a valid id nobody has)', 'GET /me/provider-keys/999999999999999', undef, 404, 'not_found'],
['C11 16 digits', 'GET /me/provider-keys/1000000000000001', undef, 404, 'not_found'],
['C12 2^63 (int64 overflow)', 'DELETE /me/provider-keys/9223372036854775808', undef, 404, 'not_found'],
['C13 2^64+1 (wraps to 1 in 64 bits)', 'GET /me/provider-keys/18446744073709551617', undef, 404, 'not_found'],
['C14 10^30', 'PATCH /me/provider-keys/1000000000000000000000000000000', '{"label":"x"}', 404, 'not_found'],
['C15 6000 digits', 'GET /me/provider-keys/' . ('7' x 6000), undef, 404, 'not_found'],
['C16 a space (encoded)', 'GET /me/provider-keys/%201', undef, 404, 'not_found'],
['C17 a percent-encoded 0xFF', 'GET /me/provider-keys/%ff', undef, 404, 'not_found'],
['C18 a raw 0xFF byte', "GET /me/provider-keys/\xff", undef, 404, 'not_found'],
['C19 victim\'s key read by mallory', 'GET /me/provider-keys/1', undef, 404, 'not_found'],
['C20 victim\'s key patched by mallory', 'PATCH /me/provider-keys/1', '{"label":"pwned","rotation_priority":5}', 404, 'not_found'],
['C21 victim\'s key revoked by mallory', 'DELETE /me/provider-keys/1', undef, 404, 'not_found'],
['C22 victim\'s key tested by mallory', 'POST /me/provider-keys/1/test', undef, 404, 'not_found'],
['C23 victim\'s key re-enabled by mallory', 'PATCH /me/provider-keys/1', '{"status":"active"}', 404, 'not_found'],
]



=== TEST 13: (C: paths) path tricks reach no other resource; nginx refuses what climbs above the root or hides a NUL
--- cases eval
[
['C24 a trailing slash', 'GET /me/provider-keys/1/', undef, 404, 'not_found'],
['C25 the prefix with a suffix', 'GET /me/provider-keysX', undef, 404, 'not_found'],
['C26 a matrix parameter', 'GET /me/provider-keys/1;x=y', undef, 404, 'not_found'],
['C27 a backslash', 'GET /me/provider-keys\\1', undef, 404, 'not_found'],
['C28 test with a trailing slash', 'POST /me/provider-keys/1/test/', undef, 404, 'not_found'],
['C29 test in capitals', 'POST /me/provider-keys/1/TEST', undef, 404, 'not_found'],
['C30 order in capitals', 'PUT /me/provider-keys/ORDER', '{"provider":"anthropic","ids":[1]}', 404, 'not_found'],
['C31 order with a trailing encoded slash', 'PUT /me/provider-keys/order%2f', '{"provider":"anthropic","ids":[1]}', 404, 'not_found'],
['C32 a deeper path', 'GET /me/provider-keys/1/test/1', undef, 404, 'not_found'],
['C33 an encoded path to victim\'s key through ".."', 'GET /me/provider-keys/x/%2e%2e/1', undef, 404, 'not_found'],
['C34 %2e%2e out of the API into the admin API: the admin check still applies', 'GET /me/provider-keys/%2e%2e/%2e%2e/admin/stats', undef, 403, 'forbidden'],
['C35 above the root: nginx answers 400 itself', 'GET /me/provider-keys/../../../../etc/passwd', undef, 400, 'nginx'],
['C36 an encoded NUL: nginx answers 400 itself', 'GET /me/provider-keys/1%00', undef, 400, 'nginx'],
['C37 a bad percent escape: nginx answers 400 itself', 'GET /me/provider-keys/%zz', undef, 400, 'nginx'],
['C38 an absolute-form request line is routed by its path', 'GET http://evil.example/me/provider-keys/abc', undef, 404, 'not_found'],
['C39 a query that looks like a path', 'GET /me/provider-keys/1?../../admin/stats', undef, 404, 'not_found'],
['C40 include_revoked=2', 'GET /me/provider-keys?include_revoked=2', undef, 422, 'validation_failed', 'include_revoked'],
['C41 an unknown category filter', 'GET /me/provider-keys?category=%00', undef, 422, 'validation_failed', 'category'],
['C42 a 7 KB provider filter', 'GET /me/provider-keys?provider=' . ('p' x 7000), undef, 422, 'validation_failed', 'provider'],
['C43 an OAuth path under the API', 'GET /me/provider-keys/oauth/anthropic/start', undef, 404, 'not_found'],
]



=== TEST 14: (C: methods) methods a route does not have answer 405 with Allow; nginx refuses TRACE and lowercase methods itself
--- cases eval
[
['C44 PUT on the collection', 'PUT /me/provider-keys', '{}', 405, 'method_not_allowed', undef, {allow => 'GET, POST'}],
['C45 DELETE on the collection (revoke everything?)', 'DELETE /me/provider-keys', undef, 405, 'method_not_allowed', undef, {allow => 'GET, POST'}],
['C46 PATCH on the collection', 'PATCH /me/provider-keys', '{"label":"x"}', 405, 'method_not_allowed', undef, {allow => 'GET, POST'}],
['C47 OPTIONS', 'OPTIONS /me/provider-keys', undef, 405, 'method_not_allowed', undef, {allow => 'GET, POST'}],
['C48 an invented method', 'BREW /me/provider-keys', undef, 405, 'method_not_allowed', undef, {allow => 'GET, POST'}],
['C49 POST on a key', 'POST /me/provider-keys/1', '{"label":"x"}', 405, 'method_not_allowed', undef, {allow => 'GET, PATCH, DELETE'}],
['C50 PUT on a key', 'PUT /me/provider-keys/1', '{"label":"x"}', 405, 'method_not_allowed', undef, {allow => 'GET, PATCH, DELETE', user => 'victim'}],
['C51 GET on test', 'GET /me/provider-keys/1/test', undef, 405, 'method_not_allowed', undef, {allow => 'POST', user => 'victim'}],
['C52 HEAD on test', 'HEAD /me/provider-keys/1/test', undef, 405, undef, undef, {allow => 'POST', user => 'victim'}],
['C53 DELETE on test', 'DELETE /me/provider-keys/1/test', undef, 405, 'method_not_allowed', undef, {allow => 'POST', user => 'victim'}],
['C54 GET on order', 'GET /me/provider-keys/order', undef, 405, 'method_not_allowed', undef, {allow => 'PUT'}],
['C55 POST on order', 'POST /me/provider-keys/order', '{"provider":"anthropic","ids":[1]}', 405, 'method_not_allowed', undef, {allow => 'PUT', user => 'victim'}],
['C56 TRACE: nginx answers 405 itself', 'TRACE /me/provider-keys', undef, 405, 'nginx'],
['C57 a lowercase method: nginx answers 400 itself', 'get /me/provider-keys', undef, 400, 'nginx'],
]



=== TEST 15: (C: end) victim's key is unchanged and nothing else was stored
--- cases eval
[
['C: the key is as it was created', 'GET /me/provider-keys/1', undef, 200, undef, undef, {user => 'victim', body_like => '^\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-a\*\*\*","rotation_priority":0,"rentable":false,"status":"active","created_at":"([^"]+)","updated_at":"\1","revoked_at":null,"last_test":null,'}],
['C: mallory has no key', 'GET /me/provider-keys?include_revoked=1', undef, 200, undef, undef, {body => '{"keys":[]}'}],
['C: one key in the store, one audit row', 'GET /admin/stats', undef, 200, undef, undef, {admin => 1, body_like => '^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\}\],.*"audit_rows":1\}\}\n\z'}],
]



=== TEST 16: (D: tokens) every bad token shape answers 401 unauthorized with the Bearer challenge, on a create that would otherwise succeed
--- cases eval
my $body = ::create_body(label => '"forged"');
my $e = ::exp_ok();
my $H = '{"alg":"HS256","typ":"JWT"}';
my $P = qq{{"sub":"mallory","exp":$e}};
my $good = ::token($H, $P);
my ($gh, $gp, $gs) = split /\./, $good;
my $o = sub { my ($auth, $www) = @_; return {auth => $auth, www => $www // 'Bearer error="invalid_token"'} };
[
['D1 no Authorization header', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('', 'Bearer')],
['D2 an empty Authorization header', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, {auth => '', headers => 'Authorization:', www => 'Bearer'}],
['D3 the Basic scheme', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Basic bWFsbG9yeTpwYXNz', 'Bearer')],
['D4 "Bearer" without a token', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer', 'Bearer')],
['D5 "Bearer" and a tab before a valid token', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer\t$good", 'Bearer')],
['D6 a token that is not a JWT', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer not-a-jwt')],
['D7 two segments', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh.$gp")],
['D8 four segments', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $good.$gs")],
['D9 empty segments', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ..')],
['D10 an empty signature', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh.$gp.")],
['D11 standard base64 with padding', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . CORE::join('.', map { my $x = MIME::Base64::encode_base64($_, ''); $x } $H, $P) . ".$gs")],
['D12 a character outside base64url', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh.$gp*.$gs")],
['D13 a signature with non-zero padding bits', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh.$gp." . ::pad_bits($gs))],
['D14 a signature cut short', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh.$gp." . substr($gs, 0, 20))],
['D15 a header that is not JSON', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{alg:HS256}', $P))],
['D16 a header that is a JSON array', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('["HS256"]', $P))],
['D17 a header that repeats alg', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"HS256","alg":"none"}', $P))],
['D18 alg none without a signature', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::b64u('{"alg":"none","typ":"JWT"}') . ".$gp.")],
['D19 alg none with a signature', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"none","typ":"JWT"}', $P))],
['D20 alg "hs256" in lowercase', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"hs256"}', $P))],
['D21 alg HS512', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"HS512"}', $P))],
['D22 alg RS256 with an HMAC signature (key confusion)', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"RS256","typ":"JWT"}', $P))],
['D23 no alg', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"typ":"JWT"}', $P))],
['D24 alg a number', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":256}', $P))],
['D25 a crit header', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"HS256","crit":["exp"]}', $P))],
['D26 typ not JWT', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token('{"alg":"HS256","typ":"JWE"}', $P))],
['D27 signed with another secret', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token($H, $P, 'another-secret-0123456789abcdefghijkl'))],
['D28 signed with the master key as the secret', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token($H, $P, $ENV{AGENTS_MASTER_KEY}))],
['D29 the signature of another payload', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh." . ::b64u(qq{{"sub":"victim","exp":$e}}) . ".$gs")],
['D30 expired an hour ago', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(sprintf '{"sub":"mallory","exp":%d}', time - 3600))],
['D31 not valid for an hour (nbf)', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(sprintf '{"sub":"mallory","exp":%d,"nbf":%d}', $e, time + 3600))],
['D32 no exp', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims('{"sub":"mallory"}'))],
['D33 exp a string', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"mallory","exp":"$e"}}))],
['D34 exp that overflows a double', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims('{"sub":"mallory","exp":1e400}'))],
['D35 nbf a string', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"mallory","exp":$e,"nbf":"0"}}))],
['D36 no sub', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"exp":$e}}))],
['D37 an empty sub', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"","exp":$e}}))],
['D38 sub a number', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":7,"exp":$e}}))],
['D39 sub of 129 bytes', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(sprintf '{"sub":"%s","exp":%d}', 'm' x 129, $e))],
['D40 sub with \n', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"mallory\\nX-Evil: 1","exp":$e}}))],
['D41 sub with \u0000', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"victim\\u0000mallory","exp":$e}}))],
['D42 sub with invalid UTF-8', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"mal\xfflory","exp":$e}}))],
['D43 sub repeated (victim, then mallory)', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"victim","sub":"mallory","exp":$e}}))],
['D44 claims that are a JSON array', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{["mallory",$e]}))],
['D45 a token of 8100 bytes (as long as the default header buffers pass) signed with another secret', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('Bearer ' . ::token($H, sprintf('{"sub":"mallory","exp":%d,"pad":"%s"}', $e, 'p' x 6020), 'another-secret-0123456789abcdefghijkl'))],
['D46 a space inside the token', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh. $gp.$gs")],
['D47 a non-ASCII byte inside the token', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->("Bearer $gh.$gp.$gs\xe9")],
['D48 lowercase "bearer" and a bad token', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, $o->('bearer x.y.z')],
['D49 the token in a query argument instead', "POST /me/provider-keys?access_token=$good", $body, 401, 'unauthorized', undef, $o->('', 'Bearer')],
['D50 the token in a cookie instead', 'POST /me/provider-keys', $body, 401, 'unauthorized', undef, {auth => '', headers => "Cookie: token=$good", www => 'Bearer'}],
['D51 two Authorization headers: nginx answers 400 itself', 'POST /me/provider-keys', $body, 400, 'nginx', undef, {auth => "Bearer $good", headers => "Authorization: Bearer $good"}],
['D52 a NUL byte in the token: nginx answers 400 itself', 'POST /me/provider-keys', $body, 400, 'nginx', undef, {auth => "Bearer $gh.$gp\0.$gs"}],
['D53 a bare CR in the token: nginx answers 400 itself', 'POST /me/provider-keys', $body, 400, 'nginx', undef, {auth => "Bearer $gh.$gp\r.$gs"}],
['D54 an admin route without a token', 'GET /admin/stats', undef, 401, 'unauthorized', undef, $o->('', 'Bearer')],
['D55 an admin route with an expired admin token', 'GET /admin/audit', undef, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(sprintf '{"sub":"root","role":"admin","exp":%d}', time - 3600))],
['D56 an admin route with a user token', 'POST /admin/cache/flush', undef, 403, 'forbidden'],
['D57 an admin route with the admin claim in the header, not the claims', 'GET /admin/stats', undef, 403, 'forbidden', undef, {auth => 'Bearer ' . ::token('{"alg":"HS256","typ":"JWT","role":"admin"}', $P)}],
['D58 an admin route with "role":"Admin"', 'GET /admin/stats', undef, 403, 'forbidden', undef, {auth => 'Bearer ' . ::claims(qq{{"sub":"mallory","exp":$e,"role":"Admin"}})}],
['D59 an admin route with "role":["admin\u0000"]', 'GET /admin/stats', undef, 401, 'unauthorized', undef, $o->('Bearer ' . ::claims(qq{{"sub":"mallory","exp":$e,"role":["admin\\u0000"]}}))],
]



=== TEST 17: (D: tokens) a 12 KB Authorization header: nginx refuses it itself (its 494 "Request Header Or Cookie Too Large", sent as 400) before the module runs
--- cases eval
[
['D60 a 12 KB Authorization header', 'POST /me/provider-keys', ::create_body(), 400, 'nginx', undef, {auth => 'Bearer ' . ::claims(sprintf '{"sub":"mallory","exp":%d,"pad":"%s"}', ::exp_ok(), 'p' x 9000), body_like => '<title>400 Request Header Or Cookie Too Large</title>'}],
]



=== TEST 18: (D: tokens) with large_client_header_buffers big enough to pass them, the module refuses tokens over 8 KiB itself, even validly signed
--- config eval
"    large_client_header_buffers 4 16k;\n" . $main::Config
--- cases eval
my $pad = sub { my ($len) = @_; my $t = ::claims(sprintf '{"sub":"mallory","exp":%d,"pad":"%s"}', ::exp_ok(), 'p' x 6000); my $n = 6000; while (length($t) < $len) { $t = ::claims(sprintf '{"sub":"mallory","exp":%d,"pad":"%s"}', ::exp_ok(), 'p' x ++$n) } return $t };
[
['D61a a valid token of 8193 bytes or a few more', 'POST /me/provider-keys', ::create_body(), 401, 'unauthorized', undef, {auth => 'Bearer ' . $pad->(8193), www => 'Bearer error="invalid_token"'}],
['D61 a 12 KB token through 16k header buffers', 'POST /me/provider-keys', ::create_body(), 401, 'unauthorized', undef, {auth => 'Bearer ' . ::claims(sprintf '{"sub":"mallory","exp":%d,"pad":"%s"}', ::exp_ok(), 'p' x 9000), www => 'Bearer error="invalid_token"'}],
]



=== TEST 19: (D: end) no forged token stored anything
--- cases eval
[
['D: mallory has no key', 'GET /me/provider-keys?include_revoked=1', undef, 200, undef, undef, {body => '{"keys":[]}'}],
['D: one key in the store, one audit row', 'GET /admin/stats', undef, 200, undef, undef, {admin => 1, body_like => '^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\}\],.*"audit_rows":1\}\}\n\z'}],
]



=== TEST 20: (E: media types) a JSON body without Content-Type: application/json answers 415
--- cases eval
my $b = ::create_body();
[
['E1 no Content-Type', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => ''}],
['E2 text/plain', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => 'text/plain'}],
['E3 application/x-www-form-urlencoded', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => 'application/x-www-form-urlencoded'}],
['E4 multipart/form-data', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => 'multipart/form-data; boundary=x'}],
['E5 application/jsonx', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => 'application/jsonx'}],
['E6 application/json-patch+json', 'PATCH /me/provider-keys/1', '{"label":"x"}', 415, 'unsupported_media_type', undef, {ct => 'application/json-patch+json'}],
['E7 application/js (a prefix)', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[1]}', 415, 'unsupported_media_type', undef, {ct => 'application/js'}],
['E8 two types in one header', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => 'application/json,text/plain'}],
['E9 text/json', 'POST /me/provider-keys', $b, 415, 'unsupported_media_type', undef, {ct => 'text/json'}],
]



=== TEST 21: (E: sizes) bodies over 16 KiB answer 413 body_too_large, announced or chunked
--- config eval
# nginx's own 413 (E20) discards the announced body for lingering_timeout
"    lingering_timeout 1s;\n" . $main::Config
--- cases eval
my $big = ::create_body(label => '"x"', pad => '"' . ('p' x 16400) . '"');
[
['E10 Content-Length 16385', 'POST /me/provider-keys', '{"label":"' . ('x' x 16373) . '"}', 413, 'body_too_large'],
['E11 a 17 KB create that would be valid but for its padding', 'POST /me/provider-keys', $big, 413, 'body_too_large'],
['E12 Content-Length of 1 MiB, no body sent', 'POST /me/provider-keys', undef, 413, 'body_too_large', undef, {ct => 'application/json', headers => 'Content-Length: 1048576'}],
['E13 Expect: 100-continue and 17000 bytes announced: 413 without 100 Continue', 'POST /me/provider-keys', undef, 413, 'body_too_large', undef, {ct => 'application/json', headers => "Expect: 100-continue\nContent-Length: 17000"}],
['E14 a 20 KB PATCH', 'PATCH /me/provider-keys/1', '{"label":"' . ('x' x 20000) . '"}', 413, 'body_too_large'],
['E15 a 20 KB order', 'PUT /me/provider-keys/order', '{"provider":"anthropic","ids":[' . CORE::join(',', (1) x 10000) . ']}', 413, 'body_too_large'],
['E16 chunked: 17 chunks of 1 KiB', 'POST /me/provider-keys', ::chunked_spaces(17, 1024), 413, 'body_too_large', undef, {headers => 'Transfer-Encoding: chunked'}],
['E17 chunked: one chunk of 16385 bytes', 'POST /me/provider-keys', sprintf("%x\r\n%s\r\n0\r\n\r\n", 16385, ' ' x 16383 . '{}'), 413, 'body_too_large', undef, {headers => 'Transfer-Encoding: chunked'}],
['E18 chunked: 1 MiB in 4 KiB chunks', 'POST /me/provider-keys', ::chunked_spaces(256, 4096), 413, 'body_too_large', undef, {headers => 'Transfer-Encoding: chunked'}],
['E19 chunked: exactly 16 KiB is read (and is not a valid create)', 'POST /me/provider-keys', ::chunked_spaces(16, 1024), 422, 'validation_failed', 'category', {headers => 'Transfer-Encoding: chunked'}],
['E20 over client_max_body_size (30M here): nginx refuses it before the module runs, its page replaced by the JSON error', 'POST /me/provider-keys', undef, 413, 'body_too_large', undef, {ct => 'application/json', headers => 'Content-Length: 1000000000'}],
]
--- no_error_log
[alert]
[crit]
[emerg]
exited on signal



=== TEST 22: (E: framing) broken HTTP framing is refused by nginx itself before the module runs
--- cases eval
my $b = '{}';
[
['E21 Content-Length over 64 bits: 400', 'POST /me/provider-keys', $b, 400, 'nginx', undef, {headers => 'Content-Length: 99999999999999999999'}],
['E22 a negative Content-Length: 400', 'POST /me/provider-keys', $b, 400, 'nginx', undef, {headers => 'Content-Length: -1'}],
['E23 two Content-Length headers: 400', 'POST /me/provider-keys', $b, 400, 'nginx', undef, {headers => "Content-Length: 2\nContent-Length: 3"}],
['E24 Content-Length and chunked together: 400', 'POST /me/provider-keys', "2\r\n{}\r\n0\r\n\r\n", 400, 'nginx', undef, {headers => "Content-Length: 2\nTransfer-Encoding: chunked"}],
['E25 Transfer-Encoding gzip: 501', 'POST /me/provider-keys', $b, 501, 'nginx', undef, {headers => 'Transfer-Encoding: gzip'}],
['E26 a chunk size over 64 bits: 400', 'POST /me/provider-keys', "FFFFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n", 400, 'nginx', undef, {headers => 'Transfer-Encoding: chunked'}],
['E27 a chunk size that is not hex: 400', 'POST /me/provider-keys', "zz\r\n{}\r\n0\r\n\r\n", 400, 'nginx', undef, {headers => 'Transfer-Encoding: chunked'}],
['E28 HTTP/2.0 in an HTTP/1 request line: 505', 'GET /me/provider-keys HTTP/2.0', undef, 505, 'nginx'],
['E29 an empty Host header: 400', 'GET /me/provider-keys', undef, 400, 'nginx', undef, {headers => 'Host:'}],
['E30 a NUL byte in a header: 400', 'GET /me/provider-keys', undef, 400, 'nginx', undef, {headers => "X-Trace: a\0b"}],
['E31 a space in a header name: 400', 'GET /me/provider-keys', undef, 400, 'nginx', undef, {headers => 'Bad Name: 1'}],
['E32 a 10 KB URI: 414', 'GET /me/provider-keys/' . ('1' x 10000), undef, 414, 'nginx'],
['E33 400 headers of 100 bytes (over 4 x 8k): 400', 'GET /me/provider-keys', undef, 400, 'nginx', undef, {headers => CORE::join("\n", map { "X-Pad-$_: " . ('v' x 90) } 1 .. 400)}],
]



=== TEST 23: (E: slow body) E34 a create body sent in four pieces 400 ms apart, split inside a UTF-8 character, is read whole and answered 422
--- raw_request eval
my $body = '{"category":"llm","provider":"anthropic","label":"caf' . "\xc3\xa9" . '-' . ('l' x 70) . '","value":"sk-ant-0123456789abcdef"}';
my $i = index($body, "\xa9");
["POST /me/provider-keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
 . "Authorization: Bearer " . ::jwt('mallory') . "\r\n"
 . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n"
 . substr($body, 0, 20),
 substr($body, 20, $i - 20),
 substr($body, $i, 30),
 substr($body, $i + 30)]
--- raw_request_middle_delay: 0.4
--- timeout: 5
--- error_code: 422
--- response_body_like eval
'^\{"error":"validation_failed","message":"[^"]+","field":"label"\}\n\z'



=== TEST 24: (E: slow body) E35 a body sent one byte at a time, 50 ms apart, is read whole and answered 400 invalid_json
--- raw_request eval
my $body = '{"label":"x",}';
["POST /me/provider-keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
 . "Authorization: Bearer " . ::jwt('mallory') . "\r\n"
 . "Content-Type: application/json\r\nContent-Length: " . length($body) . "\r\n\r\n",
 CORE::split //, $body]
--- raw_request_middle_delay: 0.05
--- timeout: 5
--- error_code: 400
--- response_body_like eval
'^\{"error":"invalid_json","message":"[^"]+"\}\n\z'



=== TEST 25: (E: slow headers) E36 request line and headers sent in pieces 250 ms apart (within client_header_timeout, 1s for the whole header) are read whole; the valid token then meets a duplicate member (400)
--- raw_request eval
my $body = '{"label":"a","label":"b"}';
my $tok = ::jwt('mallory');
["POST /me/provid",
 "er-keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer " . substr($tok, 0, 30),
 substr($tok, 30) . "\r\nContent-Type: application/json\r\n",
 "Content-Length: " . length($body) . "\r\n\r\n$body"]
--- raw_request_middle_delay: 0.25
--- timeout: 5
--- error_code: 400
--- response_body_like eval
'^\{"error":"invalid_json","message":"The body repeats a JSON member\."\}\n\z'



=== TEST 26: (E: truncated body) E37 Content-Length larger than the bytes sent: after client_body_timeout (1s) nginx closes the connection without an answer, the module never sees a body
--- raw_request eval
my $body = ::create_body(label => '"truncated"');
"POST /me/provider-keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
 . "Authorization: Bearer " . ::jwt('mallory') . "\r\n"
 . "Content-Type: application/json\r\nContent-Length: " . (length($body) + 100) . "\r\n\r\n$body"
--- timeout: 5
--- error_code_like: ^$
--- access_log
"POST /me/provider-keys HTTP/1.1" 408



=== TEST 27: (E: truncated body) E38 a chunked body that stops inside a chunk: closed after client_body_timeout, nothing read
--- raw_request eval
my $body = ::create_body(label => '"truncated"');
"POST /me/provider-keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
 . "Authorization: Bearer " . ::jwt('mallory') . "\r\n"
 . "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
 . sprintf("%x\r\n", length($body) + 100) . $body
--- timeout: 5
--- error_code_like: ^$
--- access_log
"POST /me/provider-keys HTTP/1.1" 408



=== TEST 28: (E: truncated headers) E39 headers that never end: closed after client_header_timeout (1s)
--- raw_request eval
"POST /me/provider-keys HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " . ::jwt('mallory') . "\r\nX-Slow"
--- timeout: 5
--- error_code_like: ^$
--- error_log
client timed out



=== TEST 29: (E: obs-fold) E40 a token folded onto a continuation line is refused by nginx itself (400)
--- raw_request eval
"GET /me/provider-keys HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer\r\n " . ::jwt('mallory') . "\r\n\r\n"
--- error_code: 400
--- response_body_like eval
'<title>400 Bad Request</title>'



=== TEST 30: (E: end) no body, however shaped or however slow, stored anything
--- cases eval
[
['E: mallory has no key', 'GET /me/provider-keys?include_revoked=1', undef, 200, undef, undef, {body => '{"keys":[]}'}],
['E: the key is as it was created', 'GET /me/provider-keys/1', undef, 200, undef, undef, {user => 'victim', body_like => '^\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-a\*\*\*","rotation_priority":0,"rentable":false,"status":"active","created_at":"([^"]+)","updated_at":"\1",'}],
['E: one key in the store, one audit row', 'GET /admin/stats', undef, 200, undef, undef, {admin => 1, body_like => '^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\}\],.*"audit_rows":1\}\}\n\z'}],
]



=== TEST 31: (F: lookup) hostile identities and providers at byok_lookup: 401 without a usable identity, 400 for an unknown provider, 403 when no key; never a key
--- cases eval
my $u = sub { return {auth => '', headers => "X-User: $_[0]"} };
[
['F1 no identity', 'GET /lookup?provider=anthropic', undef, 401, '', undef, {auth => ''}],
['F2 an empty identity', 'GET /lookup?provider=anthropic', undef, 401, '', undef, {auth => '', headers => 'X-User:'}],
['F3 an identity of 129 bytes', 'GET /lookup?provider=anthropic', undef, 401, '', undef, $u->('v' x 129)],
['F4 an identity of 6000 bytes', 'GET /lookup?provider=anthropic', undef, 401, '', undef, $u->('v' x 6000)],
['F5 victim with a trailing byte', 'GET /lookup?provider=anthropic', undef, 403, '', undef, $u->("victim\x01")],
['F6 victim with invalid UTF-8', 'GET /lookup?provider=anthropic', undef, 403, '', undef, $u->("victim\xff")],
['F7 SQL in the identity', 'GET /lookup?provider=anthropic', undef, 403, '', undef, $u->(q{victim' OR '1'='1})],
['F8 a LIKE wildcard identity', 'GET /lookup?provider=anthropic', undef, 403, '', undef, $u->('vic%')],
['F9 a NUL in the identity: nginx answers 400 itself', 'GET /lookup?provider=anthropic', undef, 400, 'nginx', undef, $u->("victim\0x")],
['F10 no provider', 'GET /lookup', undef, 400, '', undef, $u->('victim')],
['F11 an unknown provider', 'GET /lookup?provider=anthropic2', undef, 400, '', undef, $u->('victim')],
['F12 the provider with an encoded NUL', 'GET /lookup?provider=anthropic%00', undef, 400, '', undef, $u->('victim')],
['F13 the provider with encoded CR LF', 'GET /lookup?provider=anthropic%0d%0aX-BYOK-Key:%20x', undef, 400, '', undef, $u->('victim')],
['F14 the provider in capitals', 'GET /lookup?provider=ANTHROPIC', undef, 400, '', undef, $u->('victim')],
['F15 a provider of 6000 bytes', 'GET /lookup?provider=' . ('a' x 6000), undef, 400, '', undef, $u->('victim')],
['F16 the provider given twice: the first one counts', 'GET /lookup?provider=openai&provider=anthropic', undef, 403, '', undef, $u->('victim')],
['F17 a POST with a body', 'POST /lookup?provider=openai', '{"user":"victim","provider":"anthropic"}', 403, '', undef, {auth => '', headers => 'X-User: victim'}],
]



=== TEST 32: (F: injection) hostile identities and providers at byok_inject answer the documented JSON error and never reach the provider
--- cases eval
my $u = sub { return {auth => '', headers => "X-User: $_[0]\n" . ($_[1] // '')} };
[
['F18 no identity', 'GET /inject/v1/messages?provider=anthropic', undef, 401, 'unauthorized', undef, {auth => ''}],
['F19 an identity of 129 bytes', 'GET /inject/v1/messages?provider=anthropic', undef, 401, 'unauthorized', undef, $u->('v' x 129)],
['F20 an unknown provider', 'GET /inject/v1/messages?provider=nope', undef, 400, 'invalid_request', undef, $u->('victim')],
['F21 a provider with encoded CR LF', 'GET /inject/v1/messages?provider=anthropic%0d%0a', undef, 400, 'invalid_request', undef, $u->('victim')],
['F22 no key for the provider, with a client credential that must not pass', 'GET /inject/v1/models?provider=openai', undef, 403, 'no_key_available', undef, $u->('victim', "x-api-key: sk-client-supplied\nAuthorization: Bearer client-token")],
['F23 a user without keys, with a body', 'POST /inject/v1/messages?provider=anthropic', '{"model":"x"}', 403, 'no_key_available', undef, $u->('nobody')],
['F24 victim with a trailing byte', 'GET /inject/v1/messages?provider=anthropic', undef, 403, 'no_key_available', undef, $u->("victim\x01")],
]
--- no_access_log
/provider/



=== TEST 33: (F: admin) hostile admin paths and filters answer 404, 405 or 422
--- cases eval
my $a = {admin => 1};
[
['F25 an unknown admin route', 'GET /admin/secrets', undef, 404, 'not_found', undef, {%$a}],
['F26 a user id of 129 bytes', 'GET /admin/users/' . ('u' x 129) . '/keys', undef, 404, 'not_found', undef, {%$a}],
['F27 a user id with an encoded slash', 'GET /admin/users/vic%2ftim/keys', undef, 404, 'not_found', undef, {%$a}],
['F28 an empty user id', 'GET /admin/users//keys', undef, 404, 'not_found', undef, {%$a}],
['F29 a user id with invalid UTF-8 (no such user can exist)', 'GET /admin/users/victim%ff/keys', undef, 404, 'not_found', undef, {%$a}],
['F30 a NUL smuggled by double encoding (%2500) does not cut the user id', 'GET /admin/users/victim%2500x/keys', undef, 200, undef, undef, {%$a, body => '{"user":"victim%00x","keys":[]}'}],
['F31 a slash smuggled by double encoding (%252f)', 'GET /admin/users/x%252f..%252fvictim/keys', undef, 200, undef, undef, {%$a, body => '{"user":"x%2f..%2fvictim","keys":[]}'}],
['F32 limit 0', 'GET /admin/audit?limit=0', undef, 422, 'validation_failed', undef, {%$a}],
['F33 limit 501', 'GET /admin/audit?limit=501', undef, 422, 'validation_failed', undef, {%$a}],
['F34 limit over 64 bits', 'GET /admin/audit?limit=99999999999999999999', undef, 422, 'validation_failed', undef, {%$a}],
['F35 a negative key_id', 'GET /admin/audit?key_id=-1', undef, 422, 'validation_failed', undef, {%$a}],
['F36 key_id not a number', 'GET /admin/audit?key_id=1%20OR%201=1', undef, 422, 'validation_failed', undef, {%$a}],
['F37 before 0', 'GET /admin/audit?before=0', undef, 422, 'validation_failed', undef, {%$a}],
['F38 since a word', 'GET /admin/audit?since=yesterday', undef, 422, 'validation_failed', 'since', {%$a}],
['F39 since over 64 bits', 'GET /admin/audit?since=99999999999999999999999', undef, 422, 'validation_failed', 'since', {%$a}],
['F40 a user filter with an encoded NUL', 'GET /admin/audit?user=victim%00x', undef, 422, 'validation_failed', undef, {%$a}],
['F41 a user filter of 200 bytes', 'GET /admin/audit?user=' . ('u' x 200), undef, 422, 'validation_failed', undef, {%$a}],
['F42 GET on rewrap', 'GET /admin/rewrap', undef, 405, 'method_not_allowed', undef, {%$a, allow => 'POST'}],
['F43 DELETE on cache/flush', 'DELETE /admin/cache/flush', undef, 405, 'method_not_allowed', undef, {%$a, allow => 'POST'}],
['F44 POST on stats', 'POST /admin/stats', '{}', 405, 'method_not_allowed', undef, {%$a, allow => 'GET'}],
['F45 PUT on a user\'s keys', 'PUT /admin/users/victim/keys', '{}', 405, 'method_not_allowed', undef, {%$a, allow => 'GET'}],
['F46 rewrap reached through "..": still not a GET route', 'GET /admin/stats/../rewrap', undef, 405, 'method_not_allowed', undef, {%$a, allow => 'POST'}],
]



=== TEST 34: (F: end) no lookup, injection or admin request changed the store or wrote an audit row
--- cases eval
[
['F: the key is as it was created', 'GET /me/provider-keys/1', undef, 200, undef, undef, {user => 'victim', body_like => '^\{"id":1,"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","masked":"sk-ant-a\*\*\*","rotation_priority":0,"rentable":false,"status":"active","created_at":"([^"]+)","updated_at":"\1",'}],
['F: mallory has no key', 'GET /me/provider-keys?include_revoked=1', undef, 200, undef, undef, {body => '{"keys":[]}'}],
['F: one key in the store, one audit row', 'GET /admin/stats', undef, 200, undef, undef, {admin => 1, body_like => '^\{"keys":\[\{"provider":"anthropic","status":"active","count":1\}\],.*"audit_rows":1\}\}\n\z'}],
['F: the only audit row is the create', 'GET /admin/audit', undef, 200, undef, undef, {admin => 1, body_like => '^\{"entries":\[\{"id":1,"at":"[^"]+","actor":"victim","actor_kind":"user","action":"key.create",[^\]]*\}\],"next":null\}\n\z'}],
]
