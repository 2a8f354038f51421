
/*
 * ngx_http_byok_jwt_key_load() on what an operator may put in a key file:
 * the first byte picks the algorithm (0 is none, 1-3 HS256, RS256,
 * ES256), the rest is the material, usually PEM.  The whole input is also
 * given to ngx_http_byok_jwt_alg(), the parser of the directive's ALG.
 *
 * Properties: a loaded key has the asked algorithm and the kind and size
 * of key that the header promises; a refusal says why and leaves the key
 * zeroed; freeing twice is safe.
 */


#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>

#include "ngx_http_byok_jwt.h"
#include "fuzz.h"


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                       rc, bits;
    char                      group[64];
    size_t                    glen;
    const char               *err;
    ngx_http_byok_jwt_alg_e   alg;
    ngx_http_byok_jwt_key_t   key;

    alg = ngx_http_byok_jwt_alg((const char *) data, size);

    fuzz_assert(alg == (size == 5 && strncasecmp((const char *) data,
                                                 "hs256", 5) == 0
                        ? NGX_HTTP_BYOK_JWT_HS256
                        : size == 5 && strncasecmp((const char *) data,
                                                   "rs256", 5) == 0
                        ? NGX_HTTP_BYOK_JWT_RS256
                        : size == 5 && strncasecmp((const char *) data,
                                                   "es256", 5) == 0
                        ? NGX_HTTP_BYOK_JWT_ES256 : 0),
                "alg() knows hs256, rs256 and es256, in any case");

    if (size == 0) {
        return 0;
    }

    alg = data[0] & 3;
    err = NULL;

    memset(&key, 0xa5, sizeof(ngx_http_byok_jwt_key_t));

    rc = ngx_http_byok_jwt_key_load(alg, data + 1, size - 1, &key, &err);

    if (rc != 0) {
        fuzz_assert(rc == -1, "key_load returns 0 or -1");
        fuzz_assert(err != NULL && strlen(err) < 64, "a refusal says why");
        fuzz_assert(key.alg == 0 && key.secret == NULL && key.pkey == NULL,
                    "a refused key is zeroed");

        ngx_http_byok_jwt_key_free(&key);
        return 0;
    }

    fuzz_assert(key.alg == alg, "the key has the asked algorithm");

    switch (alg) {

    case NGX_HTTP_BYOK_JWT_HS256:
        fuzz_assert(size - 1 >= NGX_HTTP_BYOK_JWT_SECRET_MIN,
                    "an HS256 secret is at least 32 bytes");
        fuzz_assert(key.secret_len == size - 1
                    && memcmp(key.secret, data + 1, size - 1) == 0,
                    "the secret is copied as given");
        fuzz_assert(key.pkey == NULL, "an HS256 key has no pkey");
        break;

    case NGX_HTTP_BYOK_JWT_RS256:
        bits = EVP_PKEY_get_bits(key.pkey);
        fuzz_assert(EVP_PKEY_is_a(key.pkey, "RSA"), "RS256 takes RSA");
        fuzz_assert(bits >= NGX_HTTP_BYOK_JWT_RSA_BITS_MIN
                    && bits <= NGX_HTTP_BYOK_JWT_RSA_BITS_MAX,
                    "the RSA key size is within bounds");
        break;

    case NGX_HTTP_BYOK_JWT_ES256:
        fuzz_assert(EVP_PKEY_is_a(key.pkey, "EC")
                    && EVP_PKEY_get_utf8_string_param(key.pkey,
                           OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                           &glen) == 1
                    && OBJ_txt2nid(group) == NID_X9_62_prime256v1,
                    "ES256 takes P-256");
        break;

    default:
        fuzz_assert(0, "no key loads without an algorithm");
    }

    ngx_http_byok_jwt_key_free(&key);
    fuzz_assert(key.alg == 0 && key.secret == NULL && key.pkey == NULL,
                "a freed key is zeroed");

    ngx_http_byok_jwt_key_free(&key);

    return 0;
}
