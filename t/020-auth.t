# Bearer authentication of the user API (SPEC §4): which JWTs open
# /me/provider-keys and which are refused with 401.
#
# Each block describes the token its request carries:
#   --- jwt_header       the JOSE header (default {"alg":"<ALG>","typ":"JWT"},
#                        ALG from jwt_signed_with)
#   --- jwt_claims       the claims (default {"sub":"alice","exp":NOW+3600});
#                        NOW+N / NOW-N stand for the current time +/- N s
#   --- jwt_signed_with  hs256             HMAC with AGENTS_JWT_SECRET
#                        hs256 env:NAME    HMAC with $ENV{NAME}
#                        hs256 pem:FILE    HMAC keyed with a public key file
#                        rs256 | es256     the suite's RSA / P-256 key
#                        rs256 other | es256 other   a key nginx does not know
#                        es256 der         ES256 with a DER signature (not r|s)
#                        nothing           an empty signature segment
#   --- jwt_length       pad the claims until the token is exactly N bytes
#   --- jwt_edit         Perl code run on the finished token in $_
#   --- auth_scheme      the scheme word before the token (default Bearer)
#   --- refused          the request is answered 401 invalid_token and the
#                        error log names this reason
# Blocks without these sections send no token of their own.
#
# The RSA and EC keys are made with the openssl command for this run.
# Locations of the default configuration:
#   /me/provider-keys         hs256 env:AGENTS_JWT_SECRET (the default key)
#   /rs256/me/provider-keys   rs256 file:rsa.pub
#   /es256/me/provider-keys   es256 file:ec.pub
#   /mixed/me/provider-keys   rs256 file:rsa.pub and hs256 env:AGENTS_JWT_SECRET
#   /strict/me/provider-keys  the default key, issuer and audience required

use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use File::Temp ();
use MIME::Base64 qw(encode_base64url);

$ENV{AGENTS_MASTER_KEY} =
    '603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4';
$ENV{AGENTS_JWT_SECRET} = 'auth-suite-jwt-secret-0123456789abcdef';
$ENV{JWT_SECRET_OLD} = 'auth-suite-old-jwt-secret-0123456789abcdef';
$ENV{JWT_SECRET_NEW} = 'auth-suite-new-jwt-secret-0123456789abcdef';
$ENV{JWT_SECRET_UNKNOWN} = 'auth-suite-unknown-secret-0123456789abcdef';

my $Keys = File::Temp::tempdir('byok-jwt-XXXXXX', TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_JWT_KEYS} = $Keys;

for my $cmd (
    "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out $Keys/rsa.key",
    "pkey -in $Keys/rsa.key -pubout -out $Keys/rsa.pub",
    "genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048"
    . " -out $Keys/rsa-other.key",
    "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $Keys/ec.key",
    "pkey -in $Keys/ec.key -pubout -out $Keys/ec.pub",
    "genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256"
    . " -out $Keys/ec-other.key")
{
    system("openssl $cmd 2>/dev/null") == 0 or die "openssl $cmd failed\n";
}

sub slurp {
    my ($file) = @_;
    open my $in, '<', $file or die "$file: $!\n";
    local $/;
    return scalar <$in>;
}

# ES256 signatures are r|s, 32 bytes each (RFC 7518 §3.4), not DER
sub der_to_raw {
    my ($der) = @_;
    my ($rlen) = unpack 'x3 C', $der;
    my $r = substr $der, 4, $rlen;
    my ($slen) = unpack 'x C', substr $der, 4 + $rlen;
    my $s = substr $der, 6 + $rlen, $slen;
    return join '', map { my $v = s/^\0+//r; ("\0" x (32 - length $v)) . $v }
                    $r, $s;
}

sub signature {
    my ($how, $input) = @_;
    my ($alg, $arg) = split ' ', $how, 2;
    $arg //= '';

    return '' if $alg eq 'nothing';

    if ($alg eq 'hs256') {
        my $secret = $arg =~ /^env:(.+)/ ? $ENV{$1}
                   : $arg =~ /^pem:(.+)/ ? slurp("$Keys/$1")
                   : $ENV{AGENTS_JWT_SECRET};
        return encode_base64url(hmac_sha256($input, $secret));
    }

    my $key = $alg eq 'rs256' ? 'rsa' : 'ec';
    $key .= '-other' if $arg eq 'other';

    my $tmp = File::Temp->new(DIR => $Keys);
    print $tmp $input;
    close $tmp;

    my $sig = `openssl dgst -sha256 -sign $Keys/$key.key $tmp`;
    die "openssl dgst failed\n" if $? != 0;

    $sig = der_to_raw($sig) if $alg eq 'es256' && $arg ne 'der';

    return encode_base64url($sig);
}

sub jwt {
    my ($block) = @_;
    my $how = $block->jwt_signed_with;
    chomp(my $claims = $block->jwt_claims // '{"sub":"alice","exp":NOW+3600}');
    my $header = $block->jwt_header;

    if (!defined $header) {
        $header = sprintf '{"alg":"%s","typ":"JWT"}', uc((split ' ', $how)[0]);
    }
    chomp $header;

    $claims =~ s/\bNOW([+-]\d+)?/time + ($1 \/\/ 0)/ge;

    my $make = sub {
        my ($payload) = @_;
        my $input = encode_base64url($header) . '.'
                    . encode_base64url($payload);
        return "$input." . signature($how, $input);
    };

    my $token = $make->($claims);

    if (defined(my $want = $block->jwt_length)) {
        for (my $pad = ''; length $token < $want; $pad .= 'x') {
            (my $padded = $claims) =~ s/\}\s*$/,"pad":"$pad"}/;
            $token = $make->($padded);
        }
        die "cannot make a token of exactly $want bytes\n"
            if length $token != $want;
    }

    if (defined(my $code = $block->jwt_edit)) {
        local $_ = $token;
        eval $code;
        die "jwt_edit: $@" if $@;
        $token = $_;
    }

    return $token;
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

    location /rs256/me/provider-keys {
        byok_jwt_key rs256 file:$TEST_NGINX_JWT_KEYS/rsa.pub;
        byok_api;
    }

    location /es256/me/provider-keys {
        byok_jwt_key es256 file:$TEST_NGINX_JWT_KEYS/ec.pub;
        byok_api;
    }

    location /mixed/me/provider-keys {
        byok_jwt_key rs256 file:$TEST_NGINX_JWT_KEYS/rsa.pub;
        byok_jwt_key hs256 env:AGENTS_JWT_SECRET;
        byok_api;
    }

    location /strict/me/provider-keys {
        byok_jwt_issuer https://auth.agentflow.example;
        byok_jwt_audience cabinet;
        byok_api;
    }
_EOC_
    }

    if (defined $block->jwt_signed_with) {
        $block->set_value('more_headers',
                          "Authorization: " . ($block->auth_scheme // 'Bearer')
                          . " " . jwt($block) . "\n"
                          . ($block->more_headers // ''));
    }

    if (!defined $block->error_code) {
        # every refused token looks the same to the client
        if (defined $block->refused) {
            $block->set_value('error_code', 401);
            $block->set_value('response_headers',
                              qq{WWW-Authenticate: Bearer error="invalid_token"\n});
            $block->set_value('response_body', <<'_EOC_');
{"error":"unauthorized","message":"A valid bearer token is required."}
_EOC_
            $block->set_value('error_log',
                              "bearer token refused: " . $block->refused);

        } else {
            $block->set_value('response_body', qq{{"keys":[]}\n});
            $block->set_value('no_error_log', "bearer token refused\n[error]\n");
        }
    }
});

run_tests();

__DATA__

=== TEST 1: HS256 signed with the default key (env:AGENTS_JWT_SECRET) is accepted
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys



=== TEST 2: RS256 is accepted where byok_jwt_key rs256 names the public key
--- jwt_signed_with: rs256
--- request
GET /rs256/me/provider-keys



=== TEST 3: ES256 (raw r|s signature) is accepted where byok_jwt_key es256 names the public key
--- jwt_signed_with: es256
--- request
GET /es256/me/provider-keys



=== TEST 4: while two byok_jwt_key secrets are configured (rotation), tokens of the old one are accepted
--- config
    location /me/provider-keys {
        byok_jwt_key hs256 env:JWT_SECRET_OLD;
        byok_jwt_key hs256 env:JWT_SECRET_NEW;
        byok_api;
    }
--- jwt_signed_with: hs256 env:JWT_SECRET_OLD
--- request
GET /me/provider-keys



=== TEST 5: while two byok_jwt_key secrets are configured (rotation), tokens of the new one are accepted
--- config
    location /me/provider-keys {
        byok_jwt_key hs256 env:JWT_SECRET_OLD;
        byok_jwt_key hs256 env:JWT_SECRET_NEW;
        byok_api;
    }
--- jwt_signed_with: hs256 env:JWT_SECRET_NEW
--- request
GET /me/provider-keys



=== TEST 6: a location's byok_jwt_key replaces the default key: tokens of the default secret are refused there
--- config
    location /me/provider-keys {
        byok_jwt_key hs256 env:JWT_SECRET_OLD;
        byok_jwt_key hs256 env:JWT_SECRET_NEW;
        byok_api;
    }
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad signature



=== TEST 7: HS256 signed with a secret nginx does not know is refused
--- jwt_signed_with: hs256 env:JWT_SECRET_UNKNOWN
--- request
GET /me/provider-keys
--- refused: bad signature



=== TEST 8: claims changed after signing (sub alice -> bob) are refused
--- jwt_signed_with: hs256
--- jwt_edit
my @part = split /\./;
$part[1] = MIME::Base64::encode_base64url(
    '{"sub":"bob","exp":' . (time + 3600) . '}');
$_ = join '.', @part;
--- request
GET /me/provider-keys
--- refused: bad signature



=== TEST 9: alg "none" with an empty signature is refused
--- jwt_header: {"alg":"none","typ":"JWT"}
--- jwt_signed_with: nothing
--- request
GET /me/provider-keys
--- refused: malformed token



=== TEST 10: alg "none" with a signature is refused
--- jwt_header: {"alg":"none","typ":"JWT"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: alg not allowed



=== TEST 11: alg "None" is refused
--- jwt_header: {"alg":"None","typ":"JWT"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: alg not allowed



=== TEST 12: alg names are case-sensitive: "hs256" is refused
--- jwt_header: {"alg":"hs256","typ":"JWT"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: alg not allowed



=== TEST 13: a header without alg is refused
--- jwt_header: {"typ":"JWT"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: alg missing



=== TEST 14: key confusion: HS256 keyed with the RS256 public key is refused where only rs256 is configured
--- jwt_header: {"alg":"HS256","typ":"JWT"}
--- jwt_signed_with: hs256 pem:rsa.pub
--- request
GET /rs256/me/provider-keys
--- refused: alg not configured



=== TEST 15: key confusion: HS256 keyed with the RS256 public key is refused where rs256 and hs256 are both configured
--- jwt_header: {"alg":"HS256","typ":"JWT"}
--- jwt_signed_with: hs256 pem:rsa.pub
--- request
GET /mixed/me/provider-keys
--- refused: bad signature



=== TEST 16: RS256 where only hs256 is configured is refused
--- jwt_signed_with: rs256
--- request
GET /me/provider-keys
--- refused: alg not configured



=== TEST 17: HS256 where only rs256 is configured is refused, even with a valid HS256 signature
--- jwt_signed_with: hs256
--- request
GET /rs256/me/provider-keys
--- refused: alg not configured



=== TEST 18: ES256 where only rs256 is configured is refused
--- jwt_signed_with: es256
--- request
GET /rs256/me/provider-keys
--- refused: alg not configured



=== TEST 19: RS256 signed by another RSA key is refused
--- jwt_signed_with: rs256 other
--- request
GET /rs256/me/provider-keys
--- refused: bad signature



=== TEST 20: ES256 signed by another P-256 key is refused
--- jwt_signed_with: es256 other
--- request
GET /es256/me/provider-keys
--- refused: bad signature



=== TEST 21: ES256 with a DER-encoded signature instead of r|s is refused
--- jwt_signed_with: es256 der
--- request
GET /es256/me/provider-keys
--- refused: bad signature



=== TEST 22: an expired token is refused
--- jwt_claims: {"sub":"alice","exp":NOW-3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: token expired



=== TEST 23: a token expired 10 s ago is accepted within the default 30 s leeway
--- jwt_claims: {"sub":"alice","exp":NOW-10}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys



=== TEST 24: a token expired 40 s ago is beyond the default 30 s leeway
--- jwt_claims: {"sub":"alice","exp":NOW-40}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: token expired



=== TEST 25: byok_jwt_leeway 0s refuses a token expired 10 s ago
--- config
    location /me/provider-keys {
        byok_jwt_leeway 0s;
        byok_api;
    }
--- jwt_claims: {"sub":"alice","exp":NOW-10}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: token expired



=== TEST 26: a token not valid before an hour from now (nbf) is refused
--- jwt_claims: {"sub":"alice","exp":NOW+7200,"nbf":NOW+3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: token not yet valid



=== TEST 27: nbf 10 s in the future is accepted within the leeway
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"nbf":NOW+10,"iat":NOW}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys



=== TEST 28: exp is required
--- jwt_claims: {"sub":"alice"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: exp missing



=== TEST 29: exp must be a number
--- jwt_claims: {"sub":"alice","exp":"NOW+3600"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad exp



=== TEST 30: with byok_jwt_issuer and byok_jwt_audience set, a token with both is accepted
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"iss":"https://auth.agentflow.example","aud":"cabinet"}
--- jwt_signed_with: hs256
--- request
GET /strict/me/provider-keys



=== TEST 31: an aud array that contains the audience is accepted
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"iss":"https://auth.agentflow.example","aud":["billing","cabinet"]}
--- jwt_signed_with: hs256
--- request
GET /strict/me/provider-keys



=== TEST 32: a wrong issuer is refused when byok_jwt_issuer is set
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"iss":"https://evil.example","aud":"cabinet"}
--- jwt_signed_with: hs256
--- request
GET /strict/me/provider-keys
--- refused: issuer mismatch



=== TEST 33: a missing issuer is refused when byok_jwt_issuer is set
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"aud":"cabinet"}
--- jwt_signed_with: hs256
--- request
GET /strict/me/provider-keys
--- refused: issuer mismatch



=== TEST 34: a wrong audience is refused when byok_jwt_audience is set
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"iss":"https://auth.agentflow.example","aud":"billing"}
--- jwt_signed_with: hs256
--- request
GET /strict/me/provider-keys
--- refused: audience mismatch



=== TEST 35: a missing audience is refused when byok_jwt_audience is set
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"iss":"https://auth.agentflow.example"}
--- jwt_signed_with: hs256
--- request
GET /strict/me/provider-keys
--- refused: audience mismatch



=== TEST 36: without byok_jwt_issuer / byok_jwt_audience any iss and aud are accepted
--- jwt_claims: {"sub":"alice","exp":NOW+3600,"iss":"https://elsewhere.example","aud":"billing"}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys



=== TEST 37: two segments are a malformed token
--- jwt_signed_with: hs256
--- jwt_edit: s/\.[^.]*\z//
--- request
GET /me/provider-keys
--- refused: malformed token



=== TEST 38: four segments are a malformed token
--- jwt_signed_with: hs256
--- jwt_edit: $_ .= '.' . (split /\./)[2]
--- request
GET /me/provider-keys
--- refused: malformed token



=== TEST 39: standard base64 ("+", "/", "=") instead of base64url is a malformed token
--- jwt_signed_with: hs256
--- jwt_edit: s/\.([^.]*)\z/'.' . MIME::Base64::encode_base64(MIME::Base64::decode_base64url($1), '')/e
--- request
GET /me/provider-keys
--- refused: malformed token



=== TEST 40: a character outside base64url in the payload is a malformed token
--- jwt_signed_with: hs256
--- jwt_edit: s/^([^.]*\.)./$1*/
--- request
GET /me/provider-keys
--- refused: malformed token



=== TEST 41: a token that is not a JWT at all is malformed
--- more_headers
Authorization: Bearer not-a-token
--- request
GET /me/provider-keys
--- refused: malformed token



=== TEST 42: a token of exactly 8 KiB is accepted
--- http_config
    large_client_header_buffers 4 16k;
--- jwt_signed_with: hs256
--- jwt_length: 8192
--- request
GET /me/provider-keys



=== TEST 43: a token over 8 KiB is refused
--- http_config
    large_client_header_buffers 4 16k;
--- jwt_signed_with: hs256
--- jwt_length: 8193
--- request
GET /me/provider-keys
--- refused: token too long



=== TEST 44: sub is required
--- jwt_claims: {"exp":NOW+3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: sub missing



=== TEST 45: an empty sub is refused
--- jwt_claims: {"sub":"","exp":NOW+3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad sub



=== TEST 46: a sub that is not a string is refused
--- jwt_claims: {"sub":42,"exp":NOW+3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad sub



=== TEST 47: a sub of 128 bytes is accepted
--- jwt_claims eval
'{"sub":"' . ('u' x 128) . '","exp":NOW+3600}'
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys



=== TEST 48: a sub of 129 bytes is refused
--- jwt_claims eval
'{"sub":"' . ('u' x 129) . '","exp":NOW+3600}'
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad sub



=== TEST 49: a sub with a control character is refused
--- jwt_claims: {"sub":"alice\u0007","exp":NOW+3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad sub



=== TEST 50: a crit header is refused, even with a valid signature
--- jwt_header: {"alg":"HS256","typ":"JWT","crit":["exp"]}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: crit header not supported



=== TEST 51: claims that repeat a member are refused
--- jwt_claims: {"sub":"bob","sub":"alice","exp":NOW+3600}
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys
--- refused: bad payload



=== TEST 52: the "Bearer" scheme name is case-insensitive
--- auth_scheme: bearer
--- jwt_signed_with: hs256
--- request
GET /me/provider-keys



=== TEST 53: no Authorization header: 401 with a plain Bearer challenge
--- request
GET /me/provider-keys
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body
{"error":"unauthorized","message":"A valid bearer token is required."}



=== TEST 54: another scheme (Basic): 401 with a plain Bearer challenge
--- more_headers
Authorization: Basic YWxpY2U6c2VjcmV0
--- request
GET /me/provider-keys
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body
{"error":"unauthorized","message":"A valid bearer token is required."}



=== TEST 55: "Bearer" without a token is answered like no token
--- more_headers
Authorization: Bearer
--- request
GET /me/provider-keys
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer
--- response_body
{"error":"unauthorized","message":"A valid bearer token is required."}



=== TEST 56: every route answers 401 without a valid token, before looking at the route
--- request eval
["GET /me/provider-keys/1", "DELETE /me/provider-keys/1", "PUT /me/provider-keys/order",
 "POST /me/provider-keys/1/test", "GET /me/provider-keys/no-such-route", "PATCH /me/provider-keys"]
--- error_code eval
[401, 401, 401, 401, 401, 401]
--- response_body eval
[("{\"error\":\"unauthorized\",\"message\":\"A valid bearer token is required.\"}\n") x 6]
