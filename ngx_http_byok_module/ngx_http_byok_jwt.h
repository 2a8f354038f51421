
/*
 * JWT (compact JWS) verification: HS256, RS256 and ES256 with the
 * algorithm bound to the configured key type.  Free of nginx types so
 * that it can be unit-tested and fuzzed on its own.
 */


#ifndef _NGX_HTTP_BYOK_JWT_H_INCLUDED_
#define _NGX_HTTP_BYOK_JWT_H_INCLUDED_


#include <stddef.h>
#include <time.h>
#include <openssl/evp.h>
#include <jansson.h>


#define NGX_HTTP_BYOK_JWT_MAX_LEN         8192
#define NGX_HTTP_BYOK_JWT_SUB_MAX         128
#define NGX_HTTP_BYOK_JWT_SECRET_MIN      32
#define NGX_HTTP_BYOK_JWT_RSA_BITS_MIN    2048
#define NGX_HTTP_BYOK_JWT_RSA_BITS_MAX    16384


typedef enum {
    NGX_HTTP_BYOK_JWT_HS256 = 1,
    NGX_HTTP_BYOK_JWT_RS256,
    NGX_HTTP_BYOK_JWT_ES256
} ngx_http_byok_jwt_alg_e;


typedef struct {
    ngx_http_byok_jwt_alg_e   alg;
    unsigned char            *secret;      /* HS256: malloc'ed copy */
    size_t                    secret_len;
    EVP_PKEY                 *pkey;        /* RS256 / ES256 */
} ngx_http_byok_jwt_key_t;


typedef struct {
    time_t                    now;
    time_t                    leeway;      /* seconds */
    const char               *issuer;      /* NULL: not checked */
    const char               *audience;    /* NULL: not checked */
} ngx_http_byok_jwt_opts_t;


/* "hs256" | "rs256" | "es256", case-insensitive; 0 if unknown */
ngx_http_byok_jwt_alg_e ngx_http_byok_jwt_alg(const char *name, size_t len);

/*
 * HS256: the raw secret (not trimmed here), at least 32 bytes;
 * RS256: PEM "PUBLIC KEY" of an RSA key of at least 2048 bits;
 * ES256: PEM "PUBLIC KEY" of a P-256 key.
 * Returns 0, or -1 with *err set to a short static reason.
 */
int ngx_http_byok_jwt_key_load(ngx_http_byok_jwt_alg_e alg,
    const unsigned char *material, size_t len, ngx_http_byok_jwt_key_t *key,
    const char **err);

/* wipes the secret; safe on a zeroed or already freed key */
void ngx_http_byok_jwt_key_free(ngx_http_byok_jwt_key_t *key);

/*
 * Verifies a compact JWS against keys[0..n-1].  Returns 0 with *claims
 * set to the payload object (the caller json_decref()s it), or -1 with
 * *reason set to a short static string that never contains token bytes.
 */
int ngx_http_byok_jwt_verify(const unsigned char *token, size_t len,
    const ngx_http_byok_jwt_key_t *keys, size_t n,
    const ngx_http_byok_jwt_opts_t *opts, json_t **claims,
    const char **reason);


#endif /* _NGX_HTTP_BYOK_JWT_H_INCLUDED_ */
