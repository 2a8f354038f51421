
/*
 * Sealing of stored provider keys: master key decoding, HKDF derivation of
 * the key id, cipher key and check value, and AES-256-GCM seal and open.
 */


#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include "ngx_http_byok_seal.h"


#define NGX_HTTP_BYOK_MASTER_HEX_LEN   (2 * NGX_HTTP_BYOK_MASTER_KEY_LEN)
#define NGX_HTTP_BYOK_MASTER_B64_LEN   44
#define NGX_HTTP_BYOK_KEY_ID_LEN       4

#define NGX_HTTP_BYOK_INFO_KEY_ID      "byok/key-id/v1"
#define NGX_HTTP_BYOK_INFO_SEAL        "byok/seal/v1"
#define NGX_HTTP_BYOK_INFO_CHECK       "byok/check/v1"

/* the AAD of a usual key (user and provider ids up to 128 bytes each) */
#define NGX_HTTP_BYOK_SEAL_AAD_BUF     320

#if (NGX_HTTP_BYOK_SEAL_NONCE_LEN != 12)
#error "the seal nonce is GCM's default IV length"
#endif

#define ngx_http_byok_is_space(c)                                            \
    ((c) == ' ' || ((c) >= '\t' && (c) <= '\r'))


static int ngx_http_byok_master_hex(const unsigned char *text,
    unsigned char *key);
static int ngx_http_byok_master_base64(const unsigned char *text,
    unsigned char *key);
static unsigned int ngx_http_byok_hex_value(unsigned int c,
    unsigned int *bad);
static unsigned int ngx_http_byok_base64_value(unsigned int c,
    unsigned int *bad);
static unsigned int ngx_http_byok_in_range(unsigned int c, unsigned int lo,
    unsigned int hi);
static int ngx_http_byok_hkdf(const unsigned char *key, const char *info,
    unsigned char *out, size_t len);
static void ngx_http_byok_gcm_fetch(void);
static int ngx_http_byok_seal_cipher(int enc, const unsigned char *cipher_key,
    const unsigned char *blob, const ngx_http_byok_aad_t *aad,
    const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag);
static int ngx_http_byok_seal_aad(EVP_CIPHER_CTX *ctx,
    const unsigned char *header, const ngx_http_byok_aad_t *aad);
static void ngx_http_byok_put32(unsigned char *p, uint32_t v);
static uint32_t ngx_http_byok_get32(const unsigned char *p);


static EVP_CIPHER      *ngx_http_byok_gcm;
static pthread_once_t   ngx_http_byok_gcm_once = PTHREAD_ONCE_INIT;


int
ngx_http_byok_master_decode(const unsigned char *text, size_t len,
    unsigned char key[NGX_HTTP_BYOK_MASTER_KEY_LEN], const char **err)
{
    int          rc;
    const char  *reason;

    if (text == NULL || key == NULL) {
        if (err != NULL) {
            *err = "is missing";
        }

        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    while (len > 0 && ngx_http_byok_is_space(text[0])) {
        text++;
        len--;
    }

    while (len > 0 && ngx_http_byok_is_space(text[len - 1])) {
        len--;
    }

    switch (len) {

    case 0:
        rc = NGX_HTTP_BYOK_SEAL_ERROR;
        break;

    case NGX_HTTP_BYOK_MASTER_HEX_LEN:
        rc = ngx_http_byok_master_hex(text, key);
        break;

    case NGX_HTTP_BYOK_MASTER_B64_LEN:
        rc = ngx_http_byok_master_base64(text, key);
        break;

    default:
        rc = NGX_HTTP_BYOK_SEAL_ERROR;
    }

    if (rc == NGX_HTTP_BYOK_SEAL_OK) {
        return NGX_HTTP_BYOK_SEAL_OK;
    }

    ngx_http_byok_wipe(key, NGX_HTTP_BYOK_MASTER_KEY_LEN);

    reason = (len == 0) ? "is empty"
                        : "must be 32 bytes as 64 hex characters or base64";

    if (err != NULL) {
        *err = reason;
    }

    return NGX_HTTP_BYOK_SEAL_ERROR;
}


/*
 * The digit decoders below take the same path for every character, so
 * the time taken does not depend on the key being read.
 */

static int
ngx_http_byok_master_hex(const unsigned char *text, unsigned char *key)
{
    size_t        i;
    unsigned int  hi, lo, bad;

    bad = 0;

    for (i = 0; i < NGX_HTTP_BYOK_MASTER_KEY_LEN; i++) {
        hi = ngx_http_byok_hex_value(text[2 * i], &bad);
        lo = ngx_http_byok_hex_value(text[2 * i + 1], &bad);
        key[i] = (unsigned char) (hi << 4 | lo);
    }

    return (bad == 0) ? NGX_HTTP_BYOK_SEAL_OK : NGX_HTTP_BYOK_SEAL_ERROR;
}


static int
ngx_http_byok_master_base64(const unsigned char *text, unsigned char *key)
{
    size_t         i, j;
    unsigned int   bad;
    unsigned char  v[NGX_HTTP_BYOK_MASTER_B64_LEN - 1];

    /* 43 digits carry 258 bits: the last two must be zero, then one "=" */

    bad = 0;

    for (i = 0; i < sizeof(v); i++) {
        v[i] = (unsigned char) ngx_http_byok_base64_value(text[i], &bad);
    }

    bad |= ngx_http_byok_in_range(text[sizeof(v)], '=', '=') ^ 0xff;
    bad |= v[sizeof(v) - 1] & 0x03;

    for (i = 0, j = 0; i + 4 <= sizeof(v); i += 4, j += 3) {
        key[j] = (unsigned char) (v[i] << 2 | v[i + 1] >> 4);
        key[j + 1] = (unsigned char) (v[i + 1] << 4 | v[i + 2] >> 2);
        key[j + 2] = (unsigned char) (v[i + 2] << 6 | v[i + 3]);
    }

    key[j] = (unsigned char) (v[i] << 2 | v[i + 1] >> 4);
    key[j + 1] = (unsigned char) (v[i + 1] << 4 | v[i + 2] >> 2);

    ngx_http_byok_wipe(v, sizeof(v));

    return (bad == 0) ? NGX_HTTP_BYOK_SEAL_OK : NGX_HTTP_BYOK_SEAL_ERROR;
}


static unsigned int
ngx_http_byok_hex_value(unsigned int c, unsigned int *bad)
{
    unsigned int  digit, upper, lower;

    digit = ngx_http_byok_in_range(c, '0', '9');
    upper = ngx_http_byok_in_range(c, 'A', 'F');
    lower = ngx_http_byok_in_range(c, 'a', 'f');

    *bad |= (digit | upper | lower) ^ 0xff;

    return (digit & (c - '0'))
           | (upper & (c - 'A' + 10))
           | (lower & (c - 'a' + 10));
}


static unsigned int
ngx_http_byok_base64_value(unsigned int c, unsigned int *bad)
{
    unsigned int  upper, lower, digit, plus, slash;

    upper = ngx_http_byok_in_range(c, 'A', 'Z');
    lower = ngx_http_byok_in_range(c, 'a', 'z');
    digit = ngx_http_byok_in_range(c, '0', '9');
    plus = ngx_http_byok_in_range(c, '+', '+');
    slash = ngx_http_byok_in_range(c, '/', '/');

    *bad |= (upper | lower | digit | plus | slash) ^ 0xff;

    return (upper & (c - 'A'))
           | (lower & (c - 'a' + 26))
           | (digit & (c - '0' + 52))
           | (plus & 62)
           | (slash & 63);
}


/* 0xff when lo <= c <= hi, else 0; all three are below 256 */

static unsigned int
ngx_http_byok_in_range(unsigned int c, unsigned int lo, unsigned int hi)
{
    return ((((c - lo) >> 8) | ((hi - c) >> 8)) & 0xff) ^ 0xff;
}


int
ngx_http_byok_master_derive(
    const unsigned char key[NGX_HTTP_BYOK_MASTER_KEY_LEN],
    ngx_http_byok_master_t *m)
{
    int            rc;
    unsigned char  id[NGX_HTTP_BYOK_KEY_ID_LEN];

    if (key == NULL || m == NULL) {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    rc = ngx_http_byok_hkdf(key, NGX_HTTP_BYOK_INFO_KEY_ID, id, sizeof(id));

    if (rc == NGX_HTTP_BYOK_SEAL_OK) {
        rc = ngx_http_byok_hkdf(key, NGX_HTTP_BYOK_INFO_SEAL, m->cipher_key,
                                sizeof(m->cipher_key));
    }

    if (rc == NGX_HTTP_BYOK_SEAL_OK) {
        rc = ngx_http_byok_hkdf(key, NGX_HTTP_BYOK_INFO_CHECK, m->check,
                                sizeof(m->check));
    }

    m->id = ngx_http_byok_get32(id);

    ngx_http_byok_wipe(id, sizeof(id));

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        ngx_http_byok_wipe(m, sizeof(ngx_http_byok_master_t));
    }

    return rc;
}


static int
ngx_http_byok_hkdf(const unsigned char *key, const char *info,
    unsigned char *out, size_t len)
{
    int            rc;
    size_t         n;
    EVP_PKEY_CTX  *pctx;

    pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    if (pctx == NULL) {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    rc = NGX_HTTP_BYOK_SEAL_ERROR;
    n = len;

    if (EVP_PKEY_derive_init(pctx) == 1
        && EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256()) == 1
        && EVP_PKEY_CTX_set1_hkdf_key(pctx, key,
                                      NGX_HTTP_BYOK_MASTER_KEY_LEN) == 1
        && EVP_PKEY_CTX_add1_hkdf_info(pctx, (const unsigned char *) info,
                                       (int) strlen(info)) == 1
        && EVP_PKEY_derive(pctx, out, &n) == 1
        && n == len)
    {
        rc = NGX_HTTP_BYOK_SEAL_OK;
    }

    EVP_PKEY_CTX_free(pctx);

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        ngx_http_byok_wipe(out, len);
    }

    return rc;
}


int
ngx_http_byok_seal(const ngx_http_byok_master_t *m,
    const ngx_http_byok_aad_t *aad, const unsigned char *plain,
    size_t plain_len, unsigned char *out, size_t *out_len)
{
    int             rc;
    unsigned char  *nonce, *ct;

    if (m == NULL || aad == NULL || out == NULL || out_len == NULL
        || (plain == NULL && plain_len != 0)
        || plain_len > INT_MAX - NGX_HTTP_BYOK_SEAL_OVERHEAD)
    {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    *out_len = 0;

    nonce = out + NGX_HTTP_BYOK_SEAL_HEADER_LEN;
    ct = nonce + NGX_HTTP_BYOK_SEAL_NONCE_LEN;

    out[0] = NGX_HTTP_BYOK_SEAL_VERSION;
    ngx_http_byok_put32(out + 1, m->id);

    if (RAND_bytes(nonce, NGX_HTTP_BYOK_SEAL_NONCE_LEN) == 1) {
        rc = ngx_http_byok_seal_cipher(1, m->cipher_key, out, aad, plain,
                                       plain_len, ct, ct + plain_len);

    } else {
        rc = NGX_HTTP_BYOK_SEAL_ERROR;
    }

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        ngx_http_byok_wipe(out, plain_len + NGX_HTTP_BYOK_SEAL_OVERHEAD);
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    *out_len = plain_len + NGX_HTTP_BYOK_SEAL_OVERHEAD;

    return NGX_HTTP_BYOK_SEAL_OK;
}


int
ngx_http_byok_open(const ngx_http_byok_master_t *keys, size_t n,
    const ngx_http_byok_aad_t *aad, const unsigned char *blob,
    size_t blob_len, unsigned char *plain, size_t *plain_len)
{
    int                            rc;
    size_t                         i, len;
    uint32_t                       id;
    unsigned char                  tag[NGX_HTTP_BYOK_SEAL_TAG_LEN];
    const ngx_http_byok_master_t  *m;

    if (aad == NULL || blob == NULL || plain == NULL || plain_len == NULL
        || (keys == NULL && n != 0))
    {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    *plain_len = 0;

    if (blob_len < NGX_HTTP_BYOK_SEAL_OVERHEAD) {
        return NGX_HTTP_BYOK_SEAL_MALFORMED;
    }

    len = blob_len - NGX_HTTP_BYOK_SEAL_OVERHEAD;

    if (blob[0] != NGX_HTTP_BYOK_SEAL_VERSION) {
        rc = NGX_HTTP_BYOK_SEAL_MALFORMED;
        goto failed;
    }

    if (len > INT_MAX) {
        rc = NGX_HTTP_BYOK_SEAL_ERROR;
        goto failed;
    }

    id = ngx_http_byok_get32(blob + 1);
    m = NULL;

    for (i = 0; i < n; i++) {
        if (keys[i].id == id && m == NULL) {
            m = &keys[i];
        }
    }

    if (m == NULL) {
        rc = NGX_HTTP_BYOK_SEAL_NO_KEY;
        goto failed;
    }

    memcpy(tag, blob + blob_len - NGX_HTTP_BYOK_SEAL_TAG_LEN,
           NGX_HTTP_BYOK_SEAL_TAG_LEN);

    rc = ngx_http_byok_seal_cipher(0, m->cipher_key, blob, aad,
                                   blob + NGX_HTTP_BYOK_SEAL_HEADER_LEN
                                   + NGX_HTTP_BYOK_SEAL_NONCE_LEN,
                                   len, plain, tag);

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        goto failed;
    }

    *plain_len = len;

    return NGX_HTTP_BYOK_SEAL_OK;

failed:

    ngx_http_byok_wipe(plain, len);

    return rc;
}


int
ngx_http_byok_seal_key_id(const unsigned char *blob, size_t blob_len,
    uint32_t *id)
{
    if (blob == NULL || id == NULL) {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    if (blob_len < NGX_HTTP_BYOK_SEAL_OVERHEAD
        || blob[0] != NGX_HTTP_BYOK_SEAL_VERSION)
    {
        return NGX_HTTP_BYOK_SEAL_MALFORMED;
    }

    *id = ngx_http_byok_get32(blob + 1);

    return NGX_HTTP_BYOK_SEAL_OK;
}


/*
 * AES-256-GCM, fetched from the provider once per process: passing
 * EVP_aes_256_gcm() makes every EVP_CipherInit_ex() fetch it again.  The
 * object holds no key material.
 */

static void
ngx_http_byok_gcm_fetch(void)
{
    ngx_http_byok_gcm = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
}


/*
 * The process is done with sealing (an nginx worker that exits: its thread
 * pool has stopped by then): the fetched cipher is released.
 */

void
ngx_http_byok_seal_done(void)
{
    EVP_CIPHER_free(ngx_http_byok_gcm);
    ngx_http_byok_gcm = NULL;
}


/*
 * One path for both directions: "blob" points at the header, which the
 * nonce follows; "tag" is written when sealing and checked when opening.
 */

static int
ngx_http_byok_seal_cipher(int enc, const unsigned char *cipher_key,
    const unsigned char *blob, const ngx_http_byok_aad_t *aad,
    const unsigned char *in, size_t len, unsigned char *out,
    unsigned char *tag)
{
    int              n, rc;
    EVP_CIPHER_CTX  *ctx;

    (void) pthread_once(&ngx_http_byok_gcm_once, ngx_http_byok_gcm_fetch);

    if (ngx_http_byok_gcm == NULL) {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    rc = NGX_HTTP_BYOK_SEAL_ERROR;

    /* the nonce is 12 bytes, GCM's default IV length: no ctrl to set it */

    if (EVP_CipherInit_ex(ctx, ngx_http_byok_gcm, NULL, cipher_key,
                          blob + NGX_HTTP_BYOK_SEAL_HEADER_LEN, enc) != 1
        || ngx_http_byok_seal_aad(ctx, blob, aad) != NGX_HTTP_BYOK_SEAL_OK)
    {
        goto done;
    }

    if (len > 0) {
        if (EVP_CipherUpdate(ctx, out, &n, in, (int) len) != 1
            || (size_t) n != len)
        {
            goto done;
        }
    }

    if (!enc
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
                               NGX_HTTP_BYOK_SEAL_TAG_LEN, tag) != 1)
    {
        goto done;
    }

    if (EVP_CipherFinal_ex(ctx, out + len, &n) != 1 || n != 0) {
        rc = enc ? NGX_HTTP_BYOK_SEAL_ERROR : NGX_HTTP_BYOK_SEAL_DENIED;
        goto done;
    }

    if (enc
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
                               NGX_HTTP_BYOK_SEAL_TAG_LEN, tag) != 1)
    {
        goto done;
    }

    rc = NGX_HTTP_BYOK_SEAL_OK;

done:

    EVP_CIPHER_CTX_free(ctx);

    return rc;
}


/*
 * header(5) | len(4) user | len(4)=8 key_id(8) | len(4) provider, so no
 * two different (user, key id, provider) triples give the same bytes
 */

static int
ngx_http_byok_seal_aad(EVP_CIPHER_CTX *ctx, const unsigned char *header,
    const ngx_http_byok_aad_t *aad)
{
    int             n, rc;
    size_t          len;
    uint64_t        key_id;
    unsigned char  *p, *aad_buf, buf[NGX_HTTP_BYOK_SEAL_AAD_BUF];

    if ((aad->user == NULL && aad->user_len != 0)
        || (aad->provider == NULL && aad->provider_len != 0)
        || aad->user_len > INT_MAX / 4 || aad->provider_len > INT_MAX / 4)
    {
        return NGX_HTTP_BYOK_SEAL_ERROR;
    }

    len = NGX_HTTP_BYOK_SEAL_HEADER_LEN + 4 + aad->user_len + 4 + 8 + 4
          + aad->provider_len;

    /* one update; the stack buffer holds the AAD of any usual key */

    if (len <= sizeof(buf)) {
        aad_buf = buf;

    } else {
        aad_buf = malloc(len);
        if (aad_buf == NULL) {
            return NGX_HTTP_BYOK_SEAL_ERROR;
        }
    }

    key_id = (uint64_t) aad->key_id;
    p = aad_buf;

    memcpy(p, header, NGX_HTTP_BYOK_SEAL_HEADER_LEN);
    p += NGX_HTTP_BYOK_SEAL_HEADER_LEN;

    ngx_http_byok_put32(p, (uint32_t) aad->user_len);
    p += 4;

    if (aad->user_len) {
        memcpy(p, aad->user, aad->user_len);
        p += aad->user_len;
    }

    ngx_http_byok_put32(p, 8);
    ngx_http_byok_put32(p + 4, (uint32_t) (key_id >> 32));
    ngx_http_byok_put32(p + 8, (uint32_t) key_id);
    ngx_http_byok_put32(p + 12, (uint32_t) aad->provider_len);
    p += 16;

    if (aad->provider_len) {
        memcpy(p, aad->provider, aad->provider_len);
    }

    rc = EVP_CipherUpdate(ctx, NULL, &n, aad_buf, (int) len) == 1
         ? NGX_HTTP_BYOK_SEAL_OK : NGX_HTTP_BYOK_SEAL_ERROR;

    if (aad_buf != buf) {
        free(aad_buf);
    }

    return rc;
}


static void
ngx_http_byok_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}


static uint32_t
ngx_http_byok_get32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | (uint32_t) p[3];
}


void
ngx_http_byok_wipe(void *p, size_t n)
{
    if (p != NULL && n != 0) {
        OPENSSL_cleanse(p, n);
    }
}
