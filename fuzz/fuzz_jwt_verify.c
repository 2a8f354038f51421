
/*
 * ngx_http_byok_jwt_verify() on raw tokens, as they arrive in an
 * Authorization header, against an HS256, an RS256 and an ES256 key.
 * The seeds are signed with the HS256 secret of fuzz.h, so mutations of
 * the payload that keep the signature reach the claims checks too.
 *
 * Properties: a refusal has a reason and no claims; an acceptance has a
 * claims object with a valid "sub" and an unexpired "exp", and was made
 * of exactly three base64url segments.
 */


#include <string.h>

#include "ngx_http_byok_jwt.h"
#include "fuzz.h"
#include "fuzz_jwt_util.h"


static void verify(const uint8_t *data, size_t size,
    const ngx_http_byok_jwt_key_t *keys, size_t n,
    const ngx_http_byok_jwt_opts_t *opts);
static void check_accepted(const uint8_t *data, size_t size, json_t *claims,
    const ngx_http_byok_jwt_opts_t *opts);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_jwt_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_http_byok_jwt_opts_t  strict, plain;

    strict.now = FUZZ_NOW;
    strict.leeway = FUZZ_LEEWAY;
    strict.issuer = FUZZ_ISSUER;
    strict.audience = FUZZ_AUDIENCE;

    plain.now = FUZZ_NOW;
    plain.leeway = 0;
    plain.issuer = NULL;
    plain.audience = NULL;

    verify(data, size, fuzz_jwt_keys, FUZZ_JWT_NKEYS, &strict);
    verify(data, size, &fuzz_jwt_keys[FUZZ_JWT_HS], 1, &plain);

    return 0;
}


static void
verify(const uint8_t *data, size_t size, const ngx_http_byok_jwt_key_t *keys,
    size_t n, const ngx_http_byok_jwt_opts_t *opts)
{
    int          rc;
    json_t      *claims;
    const char  *reason;

    claims = (json_t *) 1;
    reason = (const char *) 1;

    rc = ngx_http_byok_jwt_verify(data, size, keys, n, opts, &claims,
                                  &reason);

    if (rc != 0) {
        fuzz_assert(rc == -1, "verify returns 0 or -1");
        fuzz_assert(claims == NULL, "no claims on refusal");
        fuzz_assert(reason != NULL, "a refusal has a reason");
        fuzz_assert(strlen(reason) < 64, "the reason is short");
        fuzz_assert((const uint8_t *) reason < data
                    || (const uint8_t *) reason >= data + size,
                    "the reason does not point into the token");
        return;
    }

    fuzz_assert(reason == NULL, "no reason on acceptance");
    fuzz_assert(size <= NGX_HTTP_BYOK_JWT_MAX_LEN, "token within 8 KiB");

    check_accepted(data, size, claims, opts);

    json_decref(claims);
}


static void
check_accepted(const uint8_t *data, size_t size, json_t *claims,
    const ngx_http_byok_jwt_opts_t *opts)
{
    size_t       i, dots, len;
    json_t      *v;
    const char  *s;

    dots = 0;

    for (i = 0; i < size; i++) {
        if (data[i] == '.') {
            dots++;
            continue;
        }

        fuzz_assert((data[i] >= 'A' && data[i] <= 'Z')
                    || (data[i] >= 'a' && data[i] <= 'z')
                    || (data[i] >= '0' && data[i] <= '9')
                    || data[i] == '-' || data[i] == '_',
                    "an accepted token is base64url");
    }

    fuzz_assert(dots == 2, "an accepted token has three segments");
    fuzz_assert(json_is_object(claims), "claims are an object");

    v = json_object_get(claims, "sub");
    fuzz_assert(json_is_string(v), "sub is a string");

    len = json_string_length(v);
    s = json_string_value(v);

    fuzz_assert(len >= 1 && len <= NGX_HTTP_BYOK_JWT_SUB_MAX,
                "sub is 1-128 bytes");
    fuzz_assert(strlen(s) == len, "sub has no NUL");

    for (i = 0; i < len; i++) {
        fuzz_assert((unsigned char) s[i] >= 0x20 && s[i] != 0x7f,
                    "sub has no control characters");
    }

    v = json_object_get(claims, "exp");
    fuzz_assert(json_is_number(v), "exp is a number");
    fuzz_assert((double) opts->now
                <= json_number_value(v) + (double) opts->leeway,
                "exp is not past");

    v = json_object_get(claims, "nbf");
    fuzz_assert(v == NULL
                || (json_is_number(v)
                    && json_number_value(v)
                       <= (double) opts->now + (double) opts->leeway),
                "nbf is not ahead");

    if (opts->issuer != NULL) {
        v = json_object_get(claims, "iss");
        fuzz_assert(json_is_string(v)
                    && strcmp(json_string_value(v), opts->issuer) == 0,
                    "iss is the configured issuer");
    }
}
