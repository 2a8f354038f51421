
/*
 * Keys and signing shared by the JWT harnesses and the seed generator.
 */


#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "fuzz.h"
#include "fuzz_jwt_util.h"


static void load_public(int which, ngx_http_byok_jwt_alg_e alg,
    EVP_PKEY *pkey);


ngx_http_byok_jwt_key_t  fuzz_jwt_keys[FUZZ_JWT_NKEYS];

static EVP_PKEY         *rs_priv, *es_priv;


void
fuzz_jwt_init(void)
{
    const char  *err;

    if (rs_priv != NULL) {
        return;
    }

    err = NULL;

    if (ngx_http_byok_jwt_key_load(NGX_HTTP_BYOK_JWT_HS256,
                                   (const unsigned char *) FUZZ_HS256_SECRET,
                                   strlen(FUZZ_HS256_SECRET),
                                   &fuzz_jwt_keys[FUZZ_JWT_HS], &err)
        != 0)
    {
        fprintf(stderr, "HS256 key: %s\n", err);
        abort();
    }

    rs_priv = EVP_RSA_gen(2048);
    es_priv = EVP_EC_gen("P-256");

    if (rs_priv == NULL || es_priv == NULL) {
        fprintf(stderr, "cannot generate the RSA and EC keys\n");
        abort();
    }

    load_public(FUZZ_JWT_RS, NGX_HTTP_BYOK_JWT_RS256, rs_priv);
    load_public(FUZZ_JWT_ES, NGX_HTTP_BYOK_JWT_ES256, es_priv);
}


static void
load_public(int which, ngx_http_byok_jwt_alg_e alg, EVP_PKEY *pkey)
{
    BIO         *bio;
    long         len;
    char        *pem;
    const char  *err;

    bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
        fprintf(stderr, "cannot write a public key\n");
        abort();
    }

    len = BIO_get_mem_data(bio, &pem);
    err = NULL;

    if (ngx_http_byok_jwt_key_load(alg, (const unsigned char *) pem,
                                   (size_t) len, &fuzz_jwt_keys[which], &err)
        != 0)
    {
        fprintf(stderr, "public key %d: %s\n", which, err);
        abort();
    }

    BIO_free(bio);
}


size_t
fuzz_b64url(const unsigned char *in, size_t len, char *out)
{
    size_t              i, n;
    uint32_t            v;
    static const char   abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    n = 0;

    for (i = 0; i + 3 <= len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
        out[n++] = abc[(v >> 6) & 63];
        out[n++] = abc[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = abc[v >> 18];
        out[n++] = abc[(v >> 12) & 63];
        out[n++] = abc[(v >> 6) & 63];
    }

    out[n] = '\0';

    return n;
}


size_t
fuzz_jwt_sign(int which, const unsigned char *input, size_t ilen,
    unsigned char sig[FUZZ_JWT_SIG_MAX])
{
    size_t                slen;
    EVP_PKEY             *pkey;
    EVP_MD_CTX           *ctx;
    ECDSA_SIG            *es;
    unsigned int          mlen;
    unsigned char         der[FUZZ_JWT_SIG_MAX];
    const BIGNUM         *r, *s;
    const unsigned char  *p;

    if (which == FUZZ_JWT_HS) {
        if (HMAC(EVP_sha256(), FUZZ_HS256_SECRET, strlen(FUZZ_HS256_SECRET),
                 input, ilen, sig, &mlen)
            == NULL)
        {
            return 0;
        }

        return mlen;
    }

    pkey = (which == FUZZ_JWT_RS) ? rs_priv : es_priv;

    ctx = EVP_MD_CTX_new();
    slen = sizeof(der);

    if (ctx == NULL
        || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1
        || EVP_DigestSign(ctx, der, &slen, input, ilen) != 1)
    {
        EVP_MD_CTX_free(ctx);
        return 0;
    }

    EVP_MD_CTX_free(ctx);

    if (which == FUZZ_JWT_RS) {
        memcpy(sig, der, slen);
        return slen;
    }

    /* JWS wants ES256 as r || s, 32 bytes each, not DER */

    p = der;
    es = d2i_ECDSA_SIG(NULL, &p, (long) slen);
    if (es == NULL) {
        return 0;
    }

    ECDSA_SIG_get0(es, &r, &s);

    if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
    {
        ECDSA_SIG_free(es);
        return 0;
    }

    ECDSA_SIG_free(es);

    return 64;
}
