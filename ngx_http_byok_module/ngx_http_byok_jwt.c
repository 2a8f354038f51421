
/*
 * JWT (compact JWS) verification for the byok module.
 */


#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>

#include "ngx_http_byok_jwt.h"


#define NGX_HTTP_BYOK_JWT_HS256_LEN    32
#define NGX_HTTP_BYOK_JWT_ES256_LEN    64
#define NGX_HTTP_BYOK_JWT_ES256_DER    80


static int ngx_http_byok_jwt_load_pkey(ngx_http_byok_jwt_alg_e alg,
    const unsigned char *material, size_t len, ngx_http_byok_jwt_key_t *key,
    const char **err);
static int ngx_http_byok_jwt_decode(const unsigned char *src, size_t len,
    unsigned char *dst, size_t *dlen);
static json_t *ngx_http_byok_jwt_parse_object(const unsigned char *data,
    size_t len);
static const char *ngx_http_byok_jwt_check_header(json_t *header,
    ngx_http_byok_jwt_alg_e *alg);
static int ngx_http_byok_jwt_check_sig(ngx_http_byok_jwt_alg_e alg,
    const ngx_http_byok_jwt_key_t *keys, size_t n, const unsigned char *input,
    size_t ilen, const unsigned char *sig, size_t slen, const char **reason);
static int ngx_http_byok_jwt_hs256(const ngx_http_byok_jwt_key_t *key,
    const unsigned char *input, size_t ilen, const unsigned char *sig);
static int ngx_http_byok_jwt_pkey(const ngx_http_byok_jwt_key_t *key,
    const unsigned char *input, size_t ilen, const unsigned char *sig,
    size_t slen);
static int ngx_http_byok_jwt_es256_der(const unsigned char *raw,
    unsigned char *der, size_t *dlen);
static const char *ngx_http_byok_jwt_check_claims(json_t *payload,
    const ngx_http_byok_jwt_opts_t *opts);
static int ngx_http_byok_jwt_valid_sub(json_t *sub);
static int ngx_http_byok_jwt_str_eq(json_t *value, const char *s);


/* the base64url alphabet; 77 marks every other byte, "=" included */

static const unsigned char  ngx_http_byok_jwt_basis64[256] = {
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 77, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 63,
    77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,

    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77
};


ngx_http_byok_jwt_alg_e
ngx_http_byok_jwt_alg(const char *name, size_t len)
{
    if (name == NULL || len != 5) {
        return 0;
    }

    if (strncasecmp(name, "hs256", 5) == 0) {
        return NGX_HTTP_BYOK_JWT_HS256;
    }

    if (strncasecmp(name, "rs256", 5) == 0) {
        return NGX_HTTP_BYOK_JWT_RS256;
    }

    if (strncasecmp(name, "es256", 5) == 0) {
        return NGX_HTTP_BYOK_JWT_ES256;
    }

    return 0;
}


int
ngx_http_byok_jwt_key_load(ngx_http_byok_jwt_alg_e alg,
    const unsigned char *material, size_t len, ngx_http_byok_jwt_key_t *key,
    const char **err)
{
    memset(key, 0, sizeof(ngx_http_byok_jwt_key_t));

    switch (alg) {

    case NGX_HTTP_BYOK_JWT_HS256:

        if (material == NULL || len < NGX_HTTP_BYOK_JWT_SECRET_MIN) {
            *err = "HS256 secret shorter than 32 bytes";
            return -1;
        }

        if (len > INT_MAX) {
            *err = "HS256 secret too long";
            return -1;
        }

        key->secret = malloc(len);
        if (key->secret == NULL) {
            *err = "out of memory";
            return -1;
        }

        memcpy(key->secret, material, len);
        key->secret_len = len;
        key->alg = alg;

        return 0;

    case NGX_HTTP_BYOK_JWT_RS256:
    case NGX_HTTP_BYOK_JWT_ES256:

        if (ngx_http_byok_jwt_load_pkey(alg, material, len, key, err) != 0) {
            ERR_clear_error();
            return -1;
        }

        return 0;

    default:
        *err = "unknown algorithm";
        return -1;
    }
}


static int
ngx_http_byok_jwt_load_pkey(ngx_http_byok_jwt_alg_e alg,
    const unsigned char *material, size_t len, ngx_http_byok_jwt_key_t *key,
    const char **err)
{
    int        bits;
    BIO       *bio;
    char       group[64];
    size_t     glen;
    EVP_PKEY  *pkey;

    if (material == NULL || len == 0 || len > INT_MAX) {
        *err = "no PEM public key";
        return -1;
    }

    bio = BIO_new_mem_buf(material, (int) len);
    if (bio == NULL) {
        *err = "out of memory";
        return -1;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);

    if (pkey == NULL) {
        *err = "no PEM public key";
        return -1;
    }

    if (alg == NGX_HTTP_BYOK_JWT_RS256) {

        if (!EVP_PKEY_is_a(pkey, "RSA")) {
            *err = "RS256 needs an RSA public key";
            goto failed;
        }

        bits = EVP_PKEY_get_bits(pkey);

        if (bits < NGX_HTTP_BYOK_JWT_RSA_BITS_MIN) {
            *err = "RSA key shorter than 2048 bits";
            goto failed;
        }

        if (bits > NGX_HTTP_BYOK_JWT_RSA_BITS_MAX) {
            *err = "RSA key longer than 16384 bits";
            goto failed;
        }

    } else {

        if (!EVP_PKEY_is_a(pkey, "EC")
            || EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
                                              group, sizeof(group), &glen) != 1
            || OBJ_txt2nid(group) != NID_X9_62_prime256v1)
        {
            *err = "ES256 needs a P-256 public key";
            goto failed;
        }
    }

    key->alg = alg;
    key->pkey = pkey;

    return 0;

failed:

    EVP_PKEY_free(pkey);

    return -1;
}


void
ngx_http_byok_jwt_key_free(ngx_http_byok_jwt_key_t *key)
{
    if (key->secret != NULL) {
        OPENSSL_cleanse(key->secret, key->secret_len);
        free(key->secret);
    }

    EVP_PKEY_free(key->pkey);

    memset(key, 0, sizeof(ngx_http_byok_jwt_key_t));
}


int
ngx_http_byok_jwt_verify(const unsigned char *token, size_t len,
    const ngx_http_byok_jwt_key_t *keys, size_t n,
    const ngx_http_byok_jwt_opts_t *opts, json_t **claims,
    const char **reason)
{
    size_t                    hlen, plen, slen;
    json_t                   *header, *payload;
    const char               *r;
    unsigned char            *h, *p, *s, buf[NGX_HTTP_BYOK_JWT_MAX_LEN];
    const unsigned char      *dot1, *dot2, *end;
    ngx_http_byok_jwt_alg_e   alg;

    *claims = NULL;
    *reason = NULL;

    if (len > NGX_HTTP_BYOK_JWT_MAX_LEN) {
        *reason = "token too long";
        return -1;
    }

    if (token == NULL || len == 0) {
        *reason = "malformed token";
        return -1;
    }

    end = token + len;

    dot1 = memchr(token, '.', len);
    dot2 = (dot1 != NULL) ? memchr(dot1 + 1, '.', end - dot1 - 1) : NULL;

    if (dot2 == NULL || memchr(dot2 + 1, '.', end - dot2 - 1) != NULL
        || dot1 == token || dot2 == dot1 + 1 || dot2 + 1 == end)
    {
        *reason = "malformed token";
        return -1;
    }

    /* the three decoded segments together are 3/4 of len at most */

    h = buf;

    if (ngx_http_byok_jwt_decode(token, dot1 - token, h, &hlen) != 0) {
        *reason = "malformed token";
        return -1;
    }

    p = h + hlen;

    if (ngx_http_byok_jwt_decode(dot1 + 1, dot2 - dot1 - 1, p, &plen) != 0) {
        *reason = "malformed token";
        return -1;
    }

    s = p + plen;

    if (ngx_http_byok_jwt_decode(dot2 + 1, end - dot2 - 1, s, &slen) != 0) {
        *reason = "malformed token";
        return -1;
    }

    header = ngx_http_byok_jwt_parse_object(h, hlen);
    if (header == NULL) {
        *reason = "bad header";
        return -1;
    }

    alg = 0;
    r = ngx_http_byok_jwt_check_header(header, &alg);
    json_decref(header);

    if (r != NULL) {
        *reason = r;
        return -1;
    }

    if (ngx_http_byok_jwt_check_sig(alg, keys, n, token, dot2 - token, s, slen,
                                    reason)
        != 0)
    {
        return -1;
    }

    payload = ngx_http_byok_jwt_parse_object(p, plen);
    if (payload == NULL) {
        *reason = "bad payload";
        return -1;
    }

    r = ngx_http_byok_jwt_check_claims(payload, opts);

    if (r != NULL) {
        json_decref(payload);
        *reason = r;
        return -1;
    }

    *claims = payload;

    return 0;
}


static int
ngx_http_byok_jwt_decode(const unsigned char *src, size_t len,
    unsigned char *dst, size_t *dlen)
{
    size_t          i;
    uint32_t        acc, v;
    unsigned int    bits;
    unsigned char  *d;

    if (len % 4 == 1) {
        return -1;
    }

    d = dst;
    acc = 0;
    bits = 0;

    for (i = 0; i < len; i++) {
        v = ngx_http_byok_jwt_basis64[src[i]];

        if (v == 77) {
            return -1;
        }

        acc = (acc << 6) | v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            *d++ = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* unused trailing bits must be zero: one token, one encoding */

    if (acc != 0) {
        return -1;
    }

    *dlen = d - dst;

    return 0;
}


static json_t *
ngx_http_byok_jwt_parse_object(const unsigned char *data, size_t len)
{
    json_t        *value;
    json_error_t   error;

    value = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                       &error);

    if (value != NULL && !json_is_object(value)) {
        json_decref(value);
        return NULL;
    }

    return value;
}


static const char *
ngx_http_byok_jwt_check_header(json_t *header, ngx_http_byok_jwt_alg_e *alg)
{
    json_t      *v;
    size_t       len;
    const char  *name;

    v = json_object_get(header, "alg");
    if (v == NULL) {
        return "alg missing";
    }

    if (!json_is_string(v)) {
        return "alg not allowed";
    }

    name = json_string_value(v);
    len = json_string_length(v);

    /* case-sensitive: "none", "hs256" and the like are all refused */

    if (len == 5 && memcmp(name, "HS256", 5) == 0) {
        *alg = NGX_HTTP_BYOK_JWT_HS256;

    } else if (len == 5 && memcmp(name, "RS256", 5) == 0) {
        *alg = NGX_HTTP_BYOK_JWT_RS256;

    } else if (len == 5 && memcmp(name, "ES256", 5) == 0) {
        *alg = NGX_HTTP_BYOK_JWT_ES256;

    } else {
        return "alg not allowed";
    }

    if (json_object_get(header, "crit") != NULL) {
        return "crit header not supported";
    }

    v = json_object_get(header, "typ");

    if (v != NULL
        && (!json_is_string(v) || json_string_length(v) != 3
            || strncasecmp(json_string_value(v), "JWT", 3) != 0))
    {
        return "bad typ";
    }

    return NULL;
}


static int
ngx_http_byok_jwt_check_sig(ngx_http_byok_jwt_alg_e alg,
    const ngx_http_byok_jwt_key_t *keys, size_t n, const unsigned char *input,
    size_t ilen, const unsigned char *sig, size_t slen, const char **reason)
{
    int             rc;
    size_t          i, dlen, found;
    unsigned char   der[NGX_HTTP_BYOK_JWT_ES256_DER];

    found = 0;

    for (i = 0; i < n; i++) {
        if (keys[i].alg == alg) {
            found++;
        }
    }

    /* the algorithm is pinned to the configured key type */

    if (found == 0) {
        *reason = "alg not configured";
        return -1;
    }

    if (alg == NGX_HTTP_BYOK_JWT_HS256
        && slen != NGX_HTTP_BYOK_JWT_HS256_LEN)
    {
        *reason = "bad signature";
        return -1;
    }

    if (alg == NGX_HTTP_BYOK_JWT_ES256) {

        if (slen != NGX_HTTP_BYOK_JWT_ES256_LEN) {
            *reason = "bad signature";
            return -1;
        }

        if (ngx_http_byok_jwt_es256_der(sig, der, &dlen) != 0) {
            ERR_clear_error();
            *reason = "internal error";
            return -1;
        }

        sig = der;
        slen = dlen;
    }

    for (i = 0; i < n; i++) {

        if (keys[i].alg != alg) {
            continue;
        }

        if (alg == NGX_HTTP_BYOK_JWT_HS256) {
            rc = ngx_http_byok_jwt_hs256(&keys[i], input, ilen, sig);

        } else {
            rc = ngx_http_byok_jwt_pkey(&keys[i], input, ilen, sig, slen);
        }

        if (rc == 1) {
            return 0;
        }

        if (rc == -1) {
            ERR_clear_error();
            *reason = "internal error";
            return -1;
        }
    }

    ERR_clear_error();
    *reason = "bad signature";

    return -1;
}


static int
ngx_http_byok_jwt_hs256(const ngx_http_byok_jwt_key_t *key,
    const unsigned char *input, size_t ilen, const unsigned char *sig)
{
    int            rc;
    unsigned int   mlen;
    unsigned char  mac[EVP_MAX_MD_SIZE];

    if (HMAC(EVP_sha256(), key->secret, (int) key->secret_len, input, ilen,
             mac, &mlen)
        == NULL
        || mlen != NGX_HTTP_BYOK_JWT_HS256_LEN)
    {
        return -1;
    }

    rc = (CRYPTO_memcmp(mac, sig, NGX_HTTP_BYOK_JWT_HS256_LEN) == 0);

    OPENSSL_cleanse(mac, sizeof(mac));

    return rc;
}


static int
ngx_http_byok_jwt_pkey(const ngx_http_byok_jwt_key_t *key,
    const unsigned char *input, size_t ilen, const unsigned char *sig,
    size_t slen)
{
    int          rc;
    EVP_MD_CTX  *ctx;

    if (key->alg == NGX_HTTP_BYOK_JWT_RS256
        && slen != (size_t) EVP_PKEY_get_size(key->pkey))
    {
        return 0;
    }

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    /* RSA keys default to PKCS#1 v1.5 padding */

    if (EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key->pkey) != 1) {
        EVP_MD_CTX_free(ctx);
        return -1;
    }

    rc = EVP_DigestVerify(ctx, sig, slen, input, ilen);

    EVP_MD_CTX_free(ctx);

    return (rc == 1);
}


static int
ngx_http_byok_jwt_es256_der(const unsigned char *raw, unsigned char *der,
    size_t *dlen)
{
    int             len;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    unsigned char  *p;

    es = ECDSA_SIG_new();
    if (es == NULL) {
        return -1;
    }

    r = BN_bin2bn(raw, NGX_HTTP_BYOK_JWT_ES256_LEN / 2, NULL);
    s = BN_bin2bn(raw + NGX_HTTP_BYOK_JWT_ES256_LEN / 2,
                  NGX_HTTP_BYOK_JWT_ES256_LEN / 2, NULL);

    if (r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return -1;
    }

    len = i2d_ECDSA_SIG(es, NULL);

    if (len <= 0 || len > NGX_HTTP_BYOK_JWT_ES256_DER) {
        ECDSA_SIG_free(es);
        return -1;
    }

    p = der;
    len = i2d_ECDSA_SIG(es, &p);

    ECDSA_SIG_free(es);

    if (len <= 0) {
        return -1;
    }

    *dlen = len;

    return 0;
}


static const char *
ngx_http_byok_jwt_check_claims(json_t *payload,
    const ngx_http_byok_jwt_opts_t *opts)
{
    size_t   i;
    double   now, leeway;
    json_t  *v, *item;

    now = (double) opts->now;
    leeway = (double) opts->leeway;

    v = json_object_get(payload, "exp");
    if (v == NULL) {
        return "exp missing";
    }

    if (!json_is_number(v)) {
        return "bad exp";
    }

    if (now > json_number_value(v) + leeway) {
        return "token expired";
    }

    v = json_object_get(payload, "nbf");

    if (v != NULL) {
        if (!json_is_number(v)) {
            return "bad nbf";
        }

        if (now + leeway < json_number_value(v)) {
            return "token not yet valid";
        }
    }

    v = json_object_get(payload, "iat");

    if (v != NULL && !json_is_number(v)) {
        return "bad iat";
    }

    v = json_object_get(payload, "sub");
    if (v == NULL) {
        return "sub missing";
    }

    if (!ngx_http_byok_jwt_valid_sub(v)) {
        return "bad sub";
    }

    if (opts->issuer != NULL
        && !ngx_http_byok_jwt_str_eq(json_object_get(payload, "iss"),
                                     opts->issuer))
    {
        return "issuer mismatch";
    }

    if (opts->audience == NULL) {
        return NULL;
    }

    v = json_object_get(payload, "aud");

    if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (ngx_http_byok_jwt_str_eq(item, opts->audience)) {
                return NULL;
            }
        }

        return "audience mismatch";
    }

    if (!ngx_http_byok_jwt_str_eq(v, opts->audience)) {
        return "audience mismatch";
    }

    return NULL;
}


static int
ngx_http_byok_jwt_valid_sub(json_t *sub)
{
    size_t                i, len;
    const unsigned char  *p;

    if (!json_is_string(sub)) {
        return 0;
    }

    len = json_string_length(sub);

    if (len == 0 || len > NGX_HTTP_BYOK_JWT_SUB_MAX) {
        return 0;
    }

    /*
     * jansson has already refused invalid UTF-8 and NUL;
     * C0, DEL and C1 (U+0080..U+009F) controls are refused here
     */

    p = (const unsigned char *) json_string_value(sub);

    for (i = 0; i < len; i++) {

        if (p[i] < 0x20 || p[i] == 0x7f) {
            return 0;
        }

        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] >= 0x80
            && p[i + 1] <= 0x9f)
        {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_byok_jwt_str_eq(json_t *value, const char *s)
{
    size_t  len;

    if (!json_is_string(value)) {
        return 0;
    }

    len = strlen(s);

    return json_string_length(value) == len
           && memcmp(json_string_value(value), s, len) == 0;
}
