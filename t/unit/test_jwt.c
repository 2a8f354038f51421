
/*
 * Unit tests for ngx_http_byok_jwt.c: tokens are made here with OpenSSL
 * (HMAC, RSA 2048 and P-256 keys generated at start) and fed to the
 * verifier, one check per behaviour.
 *
 * cc -I ngx_http_byok_module t/unit/test_jwt.c \
 *     ngx_http_byok_module/ngx_http_byok_jwt.c -lcrypto -ljansson
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "ngx_http_byok_jwt.h"
#include "tap.h"


#define NOW         1700000000
#define SECRET1     "0123456789abcdef0123456789abcdef"
#define SECRET2     "a second secret, for key rotation tests"

#define HDR_HS      "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HDR_RS      "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define HDR_ES      "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

/* exp is NOW + 300 */
#define B64URL      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" \
                    "0123456789-_"
#define GARBAGE_PEM "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n"

#define CLAIMS      "{\"sub\":\"user-1\",\"exp\":1700000300,\"iat\":1699999990}"


enum {
    SIGN_HS,
    SIGN_RS,
    SIGN_ES,
    SIGN_RAW,
    SIGN_EMPTY
};


static char *b64url(const unsigned char *in, size_t len, char *out);
static size_t sign(int how, const void *key, size_t klen,
    const char *input, size_t ilen, unsigned char *sig);
static char *mk(const char *header, const char *payload, int how,
    const void *key, size_t klen);
static char *hs(const char *header, const char *payload);
static char *flip(const char *token, int segment, size_t off);
static char *cat(const char *a, const char *b);
static char *sized(size_t want);
static EVP_PKEY *keygen(const char *type, const char *curve, size_t bits);
static char *pem_public(EVP_PKEY *pkey);
static char *pem_private(EVP_PKEY *pkey);
static const char *run(char *token, const ngx_http_byok_jwt_key_t *keys,
    size_t n, const ngx_http_byok_jwt_opts_t *opts);
static const char *run_len(char *token, size_t len,
    const ngx_http_byok_jwt_key_t *keys, size_t n,
    const ngx_http_byok_jwt_opts_t *opts);
static int load(ngx_http_byok_jwt_alg_e alg, const char *material,
    size_t len);
static void check(const char *name, const char *got, const char *expected);


static EVP_PKEY                  *rsa_priv, *ec_priv;
static char                      *rsa_pem, *ec_pem;

static ngx_http_byok_jwt_key_t    hs1, hs2, rs, es;
static ngx_http_byok_jwt_key_t    hs_only[1], hs_rot[2], rs_only[1];
static ngx_http_byok_jwt_key_t    es_only[1], mixed[3];

static ngx_http_byok_jwt_opts_t   plain = { NOW, 30, NULL, NULL };
static ngx_http_byok_jwt_opts_t   strict = { NOW, 30, "https://auth.example",
                                             "byok" };


int
main(void)
{
    char           *t, *u, *pem, *input, sub[256], payload[512];
    size_t          slen, ilen, i;
    json_t         *claims;
    EVP_PKEY       *k;
    const char     *reason, *err;
    unsigned char   sig[600], sig65[65];

    rsa_priv = keygen("RSA", NULL, 2048);
    ec_priv = keygen("EC", "P-256", 0);
    rsa_pem = pem_public(rsa_priv);
    ec_pem = pem_public(ec_priv);

    /* key loading */

    is_int(ngx_http_byok_jwt_alg("hs256", 5), NGX_HTTP_BYOK_JWT_HS256,
           "alg name hs256");
    is_int(ngx_http_byok_jwt_alg("HS256", 5), NGX_HTTP_BYOK_JWT_HS256,
           "alg name HS256 (case-insensitive)");
    is_int(ngx_http_byok_jwt_alg("Rs256", 5), NGX_HTTP_BYOK_JWT_RS256,
           "alg name Rs256");
    is_int(ngx_http_byok_jwt_alg("es256", 5), NGX_HTTP_BYOK_JWT_ES256,
           "alg name es256");
    is_int(ngx_http_byok_jwt_alg("none", 4), 0, "alg name none unknown");
    is_int(ngx_http_byok_jwt_alg("ps256", 5), 0, "alg name ps256 unknown");
    is_int(ngx_http_byok_jwt_alg("hs2566", 6), 0, "alg name hs2566 unknown");
    is_int(ngx_http_byok_jwt_alg("hs256", 4), 0, "alg name length honoured");

    is_int(ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_HS256,
                                      (const unsigned char *) SECRET1,
                                      strlen(SECRET1), &hs1, &err),
           0, "HS256 secret of 32 bytes loads");
    is_int(ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_HS256,
                                      (const unsigned char *) SECRET2,
                                      strlen(SECRET2), &hs2, &err),
           0, "second HS256 secret loads");
    is_int(ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_RS256,
                                      (const unsigned char *) rsa_pem,
                                      strlen(rsa_pem), &rs, &err),
           0, "RSA 2048 PEM public key loads for RS256");
    is_int(ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_ES256,
                                      (const unsigned char *) ec_pem,
                                      strlen(ec_pem), &es, &err),
           0, "P-256 PEM public key loads for ES256");

    is_int(load(NGX_HTTP_BYOK_JWT_HS256, SECRET1, 31), -1,
           "HS256 secret of 31 bytes refused");
    is_int(load(NGX_HTTP_BYOK_JWT_HS256, "", 0), -1,
           "empty HS256 secret refused");
    is_int(load(0, SECRET1, strlen(SECRET1)), -1, "unknown alg refused");

    k = keygen("RSA", NULL, 1024);
    pem = pem_public(k);
    is_int(load(NGX_HTTP_BYOK_JWT_RS256, pem, strlen(pem)), -1,
           "RSA 1024-bit key refused");
    free(pem);
    EVP_PKEY_free(k);

    k = keygen("EC", "P-384", 0);
    pem = pem_public(k);
    is_int(load(NGX_HTTP_BYOK_JWT_ES256, pem, strlen(pem)), -1,
           "EC P-384 key refused for ES256");
    free(pem);
    EVP_PKEY_free(k);

    is_int(load(NGX_HTTP_BYOK_JWT_ES256, rsa_pem, strlen(rsa_pem)), -1,
           "RSA key refused for ES256");
    is_int(load(NGX_HTTP_BYOK_JWT_RS256, ec_pem, strlen(ec_pem)), -1,
           "EC key refused for RS256");

    pem = pem_private(rsa_priv);
    is_int(load(NGX_HTTP_BYOK_JWT_RS256, pem, strlen(pem)), -1,
           "PEM private key refused (public key expected)");
    OPENSSL_cleanse(pem, strlen(pem));
    free(pem);

    is_int(load(NGX_HTTP_BYOK_JWT_RS256, GARBAGE_PEM, strlen(GARBAGE_PEM)), -1,
           "garbage PEM refused");
    is_int(load(NGX_HTTP_BYOK_JWT_RS256, SECRET1, strlen(SECRET1)), -1,
           "non-PEM material refused for RS256");

    err = NULL;
    ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_HS256,
                               (const unsigned char *) "short", 5, &hs_only[0],
                               &err);
    ok(err != NULL && strstr(err, "32") != NULL,
       "key load failure gives a reason");

    hs_only[0] = hs1;
    hs_rot[0] = hs1;
    hs_rot[1] = hs2;
    rs_only[0] = rs;
    es_only[0] = es;
    mixed[0] = hs1;
    mixed[1] = rs;
    mixed[2] = es;

    /* valid tokens */

    check("valid HS256 token accepted",
          run(hs(HDR_HS, CLAIMS), hs_only, 1, &plain), "ok");
    check("valid RS256 token accepted",
          run(mk(HDR_RS, CLAIMS, SIGN_RS, rsa_priv, 0), rs_only, 1, &plain),
          "ok");
    check("valid ES256 token accepted",
          run(mk(HDR_ES, CLAIMS, SIGN_ES, ec_priv, 0), es_only, 1, &plain),
          "ok");
    check("HS256 token accepted by a mixed key set",
          run(hs(HDR_HS, CLAIMS), mixed, 3, &plain), "ok");
    check("RS256 token accepted by a mixed key set",
          run(mk(HDR_RS, CLAIMS, SIGN_RS, rsa_priv, 0), mixed, 3, &plain),
          "ok");
    check("ES256 token accepted by a mixed key set",
          run(mk(HDR_ES, CLAIMS, SIGN_ES, ec_priv, 0), mixed, 3, &plain),
          "ok");
    check("header without typ accepted",
          run(hs("{\"alg\":\"HS256\"}", CLAIMS), hs_only, 1, &plain), "ok");
    check("typ \"jwt\" accepted (case-insensitive)",
          run(hs("{\"alg\":\"HS256\",\"typ\":\"jwt\"}", CLAIMS), hs_only, 1,
              &plain), "ok");
    check("kid in header ignored",
          run(hs("{\"alg\":\"HS256\",\"kid\":\"k1\"}", CLAIMS), hs_only, 1,
              &plain), "ok");

    t = hs(HDR_HS, CLAIMS);
    claims = NULL;
    reason = NULL;
    is_int(ngx_http_byok_jwt_verify((unsigned char *) t, strlen(t), hs_only,
                                    1, &plain, &claims, &reason),
           0, "verify returns 0 on success");
    is_str(json_string_value(json_object_get(claims, "sub")), "user-1",
           "claims hold the payload");
    is_str(reason, NULL, "no reason on success");
    json_decref(claims);
    free(t);

    /* secret rotation */

    check("rotation: token signed with the first secret accepted",
          run(mk(HDR_HS, CLAIMS, SIGN_HS, SECRET1, strlen(SECRET1)), hs_rot, 2,
              &plain), "ok");
    check("rotation: token signed with the second secret accepted",
          run(mk(HDR_HS, CLAIMS, SIGN_HS, SECRET2, strlen(SECRET2)), hs_rot, 2,
              &plain), "ok");
    check("token signed with a secret not configured refused",
          run(mk(HDR_HS, CLAIMS, SIGN_HS, SECRET2, strlen(SECRET2)), hs_only,
              1, &plain), "bad signature");
    check("no keys at all: refused",
          run(hs(HDR_HS, CLAIMS), hs_only, 0, &plain), "alg not configured");

    /* the secret is used as given: a trailing newline is part of it */

    ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_HS256,
                               (const unsigned char *) SECRET1 "\n",
                               strlen(SECRET1) + 1, &hs_only[0], &err);
    check("secret is not trimmed by key load",
          run(hs(HDR_HS, CLAIMS), hs_only, 1, &plain), "bad signature");
    ngx_http_byok_jwt_key_free(&hs_only[0]);
    ok(hs_only[0].secret == NULL && hs_only[0].alg == 0,
       "key free clears the key");
    ngx_http_byok_jwt_key_free(&hs_only[0]);
    ok(1, "key free twice is harmless");
    hs_only[0] = hs1;

    /* alg allowlist */

    check("alg none with an empty signature refused",
          run(mk("{\"alg\":\"none\"}", CLAIMS, SIGN_EMPTY, NULL, 0), hs_only,
              1, &plain), "malformed token");
    check("alg none refused",
          run(hs("{\"alg\":\"none\"}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("alg None refused",
          run(hs("{\"alg\":\"None\"}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("alg NONE refused",
          run(hs("{\"alg\":\"NONE\"}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("alg hs256 (lowercase) refused",
          run(hs("{\"alg\":\"hs256\"}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("alg \"HS256 \" refused",
          run(hs("{\"alg\":\"HS256 \"}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("alg HS512 refused",
          run(hs("{\"alg\":\"HS512\"}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("missing alg refused",
          run(hs("{\"typ\":\"JWT\"}", CLAIMS), hs_only, 1, &plain),
          "alg missing");
    check("alg as a number refused",
          run(hs("{\"alg\":256}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");
    check("alg as null refused",
          run(hs("{\"alg\":null}", CLAIMS), hs_only, 1, &plain),
          "alg not allowed");

    /* algorithm pinned to the key type */

    check("HS256 token against an RS256-only key set refused",
          run(hs(HDR_HS, CLAIMS), rs_only, 1, &plain), "alg not configured");
    check("HS256 token HMAC'ed with the RSA PEM refused (confusion)",
          run(mk(HDR_HS, CLAIMS, SIGN_HS, rsa_pem, strlen(rsa_pem)), rs_only,
              1, &plain), "alg not configured");
    check("HS256 token HMAC'ed with the EC PEM refused (confusion)",
          run(mk(HDR_HS, CLAIMS, SIGN_HS, ec_pem, strlen(ec_pem)), es_only,
              1, &plain), "alg not configured");
    check("HS256 token HMAC'ed with the RSA PEM refused by a mixed set",
          run(mk(HDR_HS, CLAIMS, SIGN_HS, rsa_pem, strlen(rsa_pem)), mixed,
              3, &plain), "bad signature");
    check("RS256 token against an ES256 key refused",
          run(mk(HDR_RS, CLAIMS, SIGN_RS, rsa_priv, 0), es_only, 1, &plain),
          "alg not configured");
    check("ES256 token against an RS256 key refused",
          run(mk(HDR_ES, CLAIMS, SIGN_ES, ec_priv, 0), rs_only, 1, &plain),
          "alg not configured");
    check("RS256 token against an HS256 key refused",
          run(mk(HDR_RS, CLAIMS, SIGN_RS, rsa_priv, 0), hs_only, 1, &plain),
          "alg not configured");

    /* other header members */

    check("crit header refused",
          run(hs("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", CLAIMS), hs_only,
              1, &plain), "crit header not supported");
    check("empty crit header refused",
          run(hs("{\"alg\":\"HS256\",\"crit\":[]}", CLAIMS), hs_only, 1,
              &plain), "crit header not supported");
    check("typ JOSE refused",
          run(hs("{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", CLAIMS), hs_only, 1,
              &plain), "bad typ");
    check("typ at+jwt refused",
          run(hs("{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}", CLAIMS), hs_only,
              1, &plain), "bad typ");
    check("typ as a number refused",
          run(hs("{\"alg\":\"HS256\",\"typ\":1}", CLAIMS), hs_only, 1,
              &plain), "bad typ");
    check("duplicate member in header refused",
          run(hs("{\"alg\":\"HS256\",\"alg\":\"none\"}", CLAIMS), hs_only, 1,
              &plain), "bad header");
    check("header not JSON refused",
          run(hs("alg=HS256", CLAIMS), hs_only, 1, &plain), "bad header");
    check("header a JSON array refused",
          run(hs("[\"HS256\"]", CLAIMS), hs_only, 1, &plain), "bad header");
    check("header with trailing garbage refused",
          run(hs(HDR_HS "x", CLAIMS), hs_only, 1, &plain), "bad header");
    check("header with \\u0000 refused",
          run(hs("{\"alg\":\"HS256\\u0000\"}", CLAIMS), hs_only, 1, &plain),
          "bad header");

    /* signatures */

    t = hs(HDR_HS, CLAIMS);
    ok(strcmp(run(flip(t, 0, 2), hs_only, 1, &plain), "ok") != 0,
       "HS256: one char flipped in the header refused");
    check("HS256: one char flipped in the payload refused",
          run(flip(t, 1, 10), hs_only, 1, &plain), "bad signature");
    check("HS256: one char flipped in the signature refused",
          run(flip(t, 2, 10), hs_only, 1, &plain), "bad signature");
    free(t);

    t = mk(HDR_RS, CLAIMS, SIGN_RS, rsa_priv, 0);
    ok(strcmp(run(flip(t, 0, 2), rs_only, 1, &plain), "ok") != 0,
       "RS256: one char flipped in the header refused");
    check("RS256: one char flipped in the payload refused",
          run(flip(t, 1, 10), rs_only, 1, &plain), "bad signature");
    check("RS256: one char flipped in the signature refused",
          run(flip(t, 2, 10), rs_only, 1, &plain), "bad signature");
    free(t);

    t = mk(HDR_ES, CLAIMS, SIGN_ES, ec_priv, 0);
    ok(strcmp(run(flip(t, 0, 2), es_only, 1, &plain), "ok") != 0,
       "ES256: one char flipped in the header refused");
    check("ES256: one char flipped in the payload refused",
          run(flip(t, 1, 10), es_only, 1, &plain), "bad signature");
    check("ES256: one char flipped in the signature refused",
          run(flip(t, 2, 10), es_only, 1, &plain), "bad signature");
    free(t);

    check("signature checked before the payload is parsed",
          run(mk(HDR_HS, "not json", SIGN_RAW, "0123456789abcdef0123456789abcd"
                 "ef", 32), hs_only, 1, &plain), "bad signature");
    check("signed payload that is not JSON refused",
          run(hs(HDR_HS, "not json"), hs_only, 1, &plain), "bad payload");

    /* the whole MAC is compared, not a prefix of it */

    input = mk(HDR_HS, CLAIMS, SIGN_EMPTY, NULL, 0);
    ilen = strlen(input) - 1;
    slen = sign(SIGN_HS, SECRET1, strlen(SECRET1), input, ilen, sig);
    free(input);

    check("HS256 signature of 32 bytes accepted",
          run(mk(HDR_HS, CLAIMS, SIGN_RAW, sig, slen), hs_only, 1, &plain),
          "ok");
    check("HS256 signature of 31 bytes refused",
          run(mk(HDR_HS, CLAIMS, SIGN_RAW, sig, slen - 1), hs_only, 1,
              &plain), "bad signature");
    sig[31] ^= 1;
    check("HS256 signature with the last byte altered refused",
          run(mk(HDR_HS, CLAIMS, SIGN_RAW, sig, slen), hs_only, 1, &plain),
          "bad signature");

    /* a correct ES256 signature trimmed or extended by one byte */

    input = mk(HDR_ES, CLAIMS, SIGN_EMPTY, NULL, 0);
    ilen = strlen(input) - 1;
    slen = sign(SIGN_ES, ec_priv, 0, input, ilen, sig);
    free(input);

    is_int(slen, 64, "ES256 raw signature is 64 bytes");
    check("ES256 signature of 64 bytes accepted",
          run(mk(HDR_ES, CLAIMS, SIGN_RAW, sig, 64), es_only, 1, &plain),
          "ok");
    check("ES256 signature of 63 bytes refused",
          run(mk(HDR_ES, CLAIMS, SIGN_RAW, sig, 63), es_only, 1, &plain),
          "bad signature");
    memcpy(sig65, sig, 64);
    sig65[64] = 0;
    check("ES256 signature of 65 bytes refused",
          run(mk(HDR_ES, CLAIMS, SIGN_RAW, sig65, 65), es_only, 1,
              &plain), "bad signature");
    memset(sig, 0, 64);
    check("ES256 signature of zeros refused",
          run(mk(HDR_ES, CLAIMS, SIGN_RAW, sig, 64), es_only, 1, &plain),
          "bad signature");

    input = mk(HDR_RS, CLAIMS, SIGN_EMPTY, NULL, 0);
    ilen = strlen(input) - 1;
    slen = sign(SIGN_RS, rsa_priv, 0, input, ilen, sig);
    free(input);

    check("RS256 signature one byte short refused",
          run(mk(HDR_RS, CLAIMS, SIGN_RAW, sig, slen - 1), rs_only, 1,
              &plain), "bad signature");

    /* token shape */

    check("empty token refused", run(cat("", ""), hs_only, 1, &plain),
          "malformed token");
    check("2 segments refused", run(cat("eyJhIjoxfQ", ".eyJhIjoxfQ"),
          hs_only, 1, &plain), "malformed token");

    t = hs(HDR_HS, CLAIMS);
    check("4 segments refused", run(cat(t, ".AAAA"), hs_only, 1, &plain),
          "malformed token");
    check("trailing dot refused", run(cat(t, "."), hs_only, 1, &plain),
          "malformed token");
    check("padding '=' refused", run(cat(t, "="), hs_only, 1, &plain),
          "malformed token");
    check("trailing newline refused", run(cat(t, "\n"), hs_only, 1, &plain),
          "malformed token");
    check("leading space refused", run(cat(" ", t), hs_only, 1, &plain),
          "malformed token");

    u = cat(t, "");
    *strchr(u, '.') = '=';
    check("'=' instead of the first dot refused",
          run(u, hs_only, 1, &plain), "malformed token");

    u = cat(t, "");
    u[3] = '+';
    check("'+' (base64, not base64url) refused",
          run(u, hs_only, 1, &plain), "malformed token");

    u = cat(t, "");
    u[strlen(u) - 5] = '/';
    check("'/' in the signature refused",
          run(u, hs_only, 1, &plain), "malformed token");

    u = cat(t, "");
    u[strlen(u) - 5] = '\0';
    check("NUL byte inside the token refused",
          run_len(u, strlen(t), hs_only, 1, &plain), "malformed token");

    /* 32 bytes are 43 chars; the last one carries 2 unused bits */

    u = cat(t, "");
    i = strlen(u) - 1;
    u[i] = B64URL[strchr(B64URL, u[i]) - B64URL + 1];
    check("non-canonical last base64url char refused",
          run(u, hs_only, 1, &plain), "malformed token");
    free(t);

    check("empty header segment refused",
          run(cat(".eyJhIjoxfQ", ".AAAA"), hs_only, 1, &plain),
          "malformed token");
    check("empty payload segment refused",
          run(cat("eyJhIjoxfQ", "..AAAA"), hs_only, 1, &plain),
          "malformed token");
    check("empty signature segment refused",
          run(cat("eyJhIjoxfQ", ".eyJhIjoxfQ."), hs_only, 1, &plain),
          "malformed token");
    check("all segments empty refused",
          run(cat("..", ""), hs_only, 1, &plain), "malformed token");
    check("segment of 1 mod 4 chars refused",
          run(cat("eyJhIjoxfQ", ".e.AAAA"), hs_only, 1, &plain),
          "malformed token");

    t = sized(NGX_HTTP_BYOK_JWT_MAX_LEN);
    ok(t != NULL && strlen(t) == 8192, "made a token of 8192 bytes");
    check("token of 8192 bytes accepted",
          run(t, hs_only, 1, &plain), "ok");
    t = sized(NGX_HTTP_BYOK_JWT_MAX_LEN + 1);
    ok(t != NULL && strlen(t) == 8193, "made a token of 8193 bytes");
    check("token of 8193 bytes refused",
          run(t, hs_only, 1, &plain), "token too long");

    /* payload */

    check("payload an array refused",
          run(hs(HDR_HS, "[{\"sub\":\"a\",\"exp\":1700000300}]"), hs_only, 1,
              &plain), "bad payload");
    check("payload a string refused",
          run(hs(HDR_HS, "\"sub\""), hs_only, 1, &plain), "bad payload");
    check("duplicate member in payload refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":1700000300}"),
              hs_only, 1, &plain), "bad payload");

    check("expired beyond leeway refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1699999969}"), hs_only, 1,
              &plain), "token expired");
    check("expired within leeway accepted",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1699999970}"), hs_only, 1,
              &plain), "ok");
    check("exp as a real number accepted",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300.5}"), hs_only, 1,
              &plain), "ok");
    check("expired real number refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1699999969.5}"), hs_only, 1,
              &plain), "token expired");
    check("missing exp refused",
          run(hs(HDR_HS, "{\"sub\":\"a\"}"), hs_only, 1, &plain),
          "exp missing");
    check("exp as a string refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":\"1700000300\"}"), hs_only, 1,
              &plain), "bad exp");
    check("exp as null refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":null}"), hs_only, 1,
              &plain), "bad exp");

    check("nbf in the future beyond leeway refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"nbf\":1700000031}"), hs_only, 1, &plain),
          "token not yet valid");
    check("nbf in the future within leeway accepted",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"nbf\":1700000030}"), hs_only, 1, &plain), "ok");
    check("nbf as a string refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"nbf\":\"0\"}"), hs_only, 1, &plain), "bad nbf");
    check("iat as a string refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iat\":\"now\"}"), hs_only, 1, &plain), "bad iat");

    check("missing sub refused",
          run(hs(HDR_HS, "{\"exp\":1700000300}"), hs_only, 1, &plain),
          "sub missing");
    check("empty sub refused",
          run(hs(HDR_HS, "{\"sub\":\"\",\"exp\":1700000300}"), hs_only, 1,
              &plain), "bad sub");
    check("sub as a number refused",
          run(hs(HDR_HS, "{\"sub\":42,\"exp\":1700000300}"), hs_only, 1,
              &plain), "bad sub");
    check("sub with a control character refused",
          run(hs(HDR_HS, "{\"sub\":\"a\\u0001b\",\"exp\":1700000300}"),
              hs_only, 1, &plain), "bad sub");
    check("sub with DEL refused",
          run(hs(HDR_HS, "{\"sub\":\"a\\u007fb\",\"exp\":1700000300}"),
              hs_only, 1, &plain), "bad sub");
    check("sub with a C1 control refused",
          run(hs(HDR_HS, "{\"sub\":\"a\\u0085b\",\"exp\":1700000300}"),
              hs_only, 1, &plain), "bad sub");
    check("sub with non-ASCII letters accepted",
          run(hs(HDR_HS, "{\"sub\":\"\xd0\xbf\xc3\xa9\",\"exp\":1700000300}"),
              hs_only, 1, &plain), "ok");
    check("payload with invalid UTF-8 refused",
          run(hs(HDR_HS, "{\"sub\":\"\xc3\x28\",\"exp\":1700000300}"),
              hs_only, 1, &plain), "bad payload");

    memset(sub, 'u', 128);
    sub[128] = '\0';
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":1700000300}",
             sub);
    check("sub of 128 bytes accepted",
          run(hs(HDR_HS, payload), hs_only, 1, &plain), "ok");

    memset(sub, 'u', 129);
    sub[129] = '\0';
    snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":1700000300}",
             sub);
    check("sub of 129 bytes refused",
          run(hs(HDR_HS, payload), hs_only, 1, &plain), "bad sub");

    /* iss and aud, when configured */

    check("iss and aud matching accepted",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example\",\"aud\":\"byok\"}"),
              hs_only, 1, &strict), "ok");
    check("wrong iss refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://evil.example\",\"aud\":\"byok\"}"),
              hs_only, 1, &strict), "issuer mismatch");
    check("iss with a suffix refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example.evil\",\"aud\":\"byok\"}"),
              hs_only, 1, &strict), "issuer mismatch");
    check("missing iss refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"aud\":\"byok\"}"), hs_only, 1, &strict),
          "issuer mismatch");
    check("wrong aud refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example\",\"aud\":\"other\"}"),
              hs_only, 1, &strict), "audience mismatch");
    check("missing aud refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example\"}"), hs_only, 1, &strict),
          "audience mismatch");
    check("aud array containing the audience accepted",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example\","
                 "\"aud\":[\"other\",1,\"byok\"]}"), hs_only, 1, &strict),
          "ok");
    check("aud array without the audience refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example\","
                 "\"aud\":[\"other\",\"byok2\"]}"), hs_only, 1, &strict),
          "audience mismatch");
    check("empty aud array refused",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://auth.example\",\"aud\":[]}"), hs_only, 1,
              &strict), "audience mismatch");
    check("iss and aud not checked when not configured",
          run(hs(HDR_HS, "{\"sub\":\"a\",\"exp\":1700000300,"
                 "\"iss\":\"https://evil.example\",\"aud\":7}"), hs_only, 1,
              &plain), "ok");

    ngx_http_byok_jwt_key_free(&hs1);
    ngx_http_byok_jwt_key_free(&hs2);
    ngx_http_byok_jwt_key_free(&rs);
    ngx_http_byok_jwt_key_free(&es);
    EVP_PKEY_free(rsa_priv);
    EVP_PKEY_free(ec_priv);
    free(rsa_pem);
    free(ec_pem);

    return done_testing();
}


static char *
b64url(const unsigned char *in, size_t len, char *out)
{
    int          n;
    char        *p;
    size_t       i;
    const char  *tab;

    tab = B64URL;
    p = out;

    for (i = 0; i + 2 < len; i += 3) {
        *p++ = tab[in[i] >> 2];
        *p++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *p++ = tab[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
        *p++ = tab[in[i + 2] & 63];
    }

    n = len - i;

    if (n == 1) {
        *p++ = tab[in[i] >> 2];
        *p++ = tab[(in[i] & 3) << 4];

    } else if (n == 2) {
        *p++ = tab[in[i] >> 2];
        *p++ = tab[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
        *p++ = tab[(in[i + 1] & 15) << 2];
    }

    *p = '\0';

    return p;
}


static size_t
sign(int how, const void *key, size_t klen, const char *input, size_t ilen,
    unsigned char *sig)
{
    size_t                slen;
    ECDSA_SIG            *es;
    EVP_MD_CTX           *ctx;
    const BIGNUM         *r, *s;
    unsigned int          mlen;
    unsigned char         der[600];
    const unsigned char  *p;

    if (how == SIGN_HS) {
        HMAC(EVP_sha256(), key, (int) klen, (const unsigned char *) input,
             ilen, sig, &mlen);
        return mlen;
    }

    ctx = EVP_MD_CTX_new();
    slen = sizeof(der);

    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL,
                              (EVP_PKEY *) key) != 1
        || EVP_DigestSign(ctx, der, &slen, (const unsigned char *) input,
                          ilen) != 1)
    {
        fprintf(stderr, "signing failed\n");
        exit(2);
    }

    EVP_MD_CTX_free(ctx);

    if (how == SIGN_RS) {
        memcpy(sig, der, slen);
        return slen;
    }

    /* JWS ES256 carries r || s, 32 bytes each, not DER */

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, slen);
    if (es == NULL) {
        fprintf(stderr, "bad DER signature\n");
        exit(2);
    }

    ECDSA_SIG_get0(es, &r, &s);
    BN_bn2binpad(r, sig, 32);
    BN_bn2binpad(s, sig + 32, 32);
    ECDSA_SIG_free(es);

    return 64;
}


static char *
mk(const char *header, const char *payload, int how, const void *key,
    size_t klen)
{
    char           *t, *p;
    size_t          hlen, plen, slen;
    unsigned char   sig[600];

    hlen = strlen(header);
    plen = strlen(payload);

    t = malloc((hlen + plen + sizeof(sig)) * 4 / 3 + 16);
    if (t == NULL) {
        exit(2);
    }

    p = b64url((const unsigned char *) header, hlen, t);
    *p++ = '.';
    p = b64url((const unsigned char *) payload, plen, p);

    switch (how) {

    case SIGN_EMPTY:
        slen = 0;
        break;

    case SIGN_RAW:
        memcpy(sig, key, klen);
        slen = klen;
        break;

    default:
        slen = sign(how, key, klen, t, p - t, sig);
    }

    *p++ = '.';
    b64url(sig, slen, p);

    return t;
}


static char *
hs(const char *header, const char *payload)
{
    return mk(header, payload, SIGN_HS, SECRET1, strlen(SECRET1));
}


static char *
flip(const char *token, int segment, size_t off)
{
    char  *t, *p;

    t = cat(token, "");
    p = t;

    while (segment-- > 0) {
        p = strchr(p, '.') + 1;
    }

    p[off] = (p[off] == 'A') ? 'B' : 'A';

    return t;
}


static char *
cat(const char *a, const char *b)
{
    char    *t;
    size_t   alen, blen;

    alen = strlen(a);
    blen = strlen(b);

    t = malloc(alen + blen + 2);
    if (t == NULL) {
        exit(2);
    }

    memcpy(t, a, alen);
    memcpy(t + alen, b, blen + 1);
    t[alen + blen + 1] = '\0';

    return t;
}


static char *
sized(size_t want)
{
    char    *t, *payload;
    size_t   pad, sp;

    payload = malloc(want);
    if (payload == NULL) {
        exit(2);
    }

    /* padding and optional blanks move the length one byte at a time */

    for (sp = 0; sp < 3; sp++) {
        for (pad = want * 3 / 4 - 200; pad < want * 3 / 4; pad++) {
            snprintf(payload, want, "{\"sub\":\"a\",\"exp\":1700000300,%*s"
                     "\"pad\":\"%0*d\"}", (int) sp, "", (int) pad, 0);
            t = hs(HDR_HS, payload);

            if (strlen(t) == want) {
                free(payload);
                return t;
            }

            free(t);
        }
    }

    free(payload);

    return NULL;
}


static EVP_PKEY *
keygen(const char *type, const char *curve, size_t bits)
{
    EVP_PKEY  *k;

    if (curve != NULL) {
        k = EVP_PKEY_Q_keygen(NULL, NULL, type, curve);

    } else {
        k = EVP_PKEY_Q_keygen(NULL, NULL, type, bits);
    }

    if (k == NULL) {
        fprintf(stderr, "key generation failed\n");
        exit(2);
    }

    return k;
}


static char *
pem_public(EVP_PKEY *pkey)
{
    BIO   *bio;
    char  *data, *pem;
    long   len;

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        exit(2);
    }

    len = BIO_get_mem_data(bio, &data);
    pem = malloc(len + 1);
    if (pem == NULL) {
        exit(2);
    }

    memcpy(pem, data, len);
    pem[len] = '\0';
    BIO_free(bio);

    return pem;
}


static char *
pem_private(EVP_PKEY *pkey)
{
    BIO   *bio;
    char  *data, *pem;
    long   len;

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL
        || PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
           != 1)
    {
        exit(2);
    }

    len = BIO_get_mem_data(bio, &data);
    pem = malloc(len + 1);
    if (pem == NULL) {
        exit(2);
    }

    memcpy(pem, data, len);
    pem[len] = '\0';
    BIO_free(bio);

    return pem;
}


/*
 * Verifies and frees the token; "ok" on success, else the reason, or
 * a description of a broken contract (claims set on failure and the like).
 */

static const char *
run(char *token, const ngx_http_byok_jwt_key_t *keys, size_t n,
    const ngx_http_byok_jwt_opts_t *opts)
{
    return run_len(token, strlen(token), keys, n, opts);
}


static const char *
run_len(char *token, size_t len, const ngx_http_byok_jwt_key_t *keys,
    size_t n, const ngx_http_byok_jwt_opts_t *opts)
{
    int          rc;
    json_t      *claims;
    const char  *reason;

    claims = (json_t *) 1;
    reason = "unset";

    rc = ngx_http_byok_jwt_verify((unsigned char *) token, len, keys, n, opts,
                                  &claims, &reason);
    free(token);

    if (rc == 0) {
        if (claims == NULL || !json_is_object(claims)) {
            return "success without claims";
        }

        json_decref(claims);

        return "ok";
    }

    if (rc != -1) {
        return "unexpected return code";
    }

    if (claims != NULL) {
        return "claims set on failure";
    }

    return (reason != NULL) ? reason : "no reason";
}


static int
load(ngx_http_byok_jwt_alg_e alg, const char *material, size_t len)
{
    int                       rc;
    const char               *err;
    ngx_http_byok_jwt_key_t   key;

    err = NULL;

    rc = ngx_http_byok_jwt_key_load(alg, (const unsigned char *) material,
                                    len, &key, &err);

    if (rc == 0) {
        ngx_http_byok_jwt_key_free(&key);
        return 0;
    }

    if (err == NULL || key.secret != NULL || key.pkey != NULL) {
        return -2;
    }

    return rc;
}


static void
check(const char *name, const char *got, const char *expected)
{
    is_str(got, expected, name);
}
