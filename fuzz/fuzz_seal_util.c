
/*
 * Master keys and the independent opener shared by the sealing harnesses
 * and the seed generator.
 */


#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "fuzz.h"
#include "fuzz_seal_util.h"


static void hkdf(const unsigned char *key, const char *info,
    unsigned char *out, size_t len);
static size_t put_field(unsigned char *p, const unsigned char *s,
    size_t len);


ngx_http_byok_master_t  fuzz_master[2];

static unsigned char    ref_key[2][32];
static uint32_t         ref_id[2];


void
fuzz_seal_init(void)
{
    int            i;
    const char    *err, *hex[2] = { FUZZ_MASTER_A, FUZZ_MASTER_B };
    unsigned char  raw[NGX_HTTP_BYOK_MASTER_KEY_LEN], id[4];

    for (i = 0; i < 2; i++) {
        if (ngx_http_byok_master_decode((const unsigned char *) hex[i],
                                        strlen(hex[i]), raw, &err)
            != NGX_HTTP_BYOK_SEAL_OK
            || ngx_http_byok_master_derive(raw, &fuzz_master[i])
               != NGX_HTTP_BYOK_SEAL_OK)
        {
            fprintf(stderr, "cannot set up master key %d\n", i);
            abort();
        }

        hkdf(raw, "byok/seal/v1", ref_key[i], sizeof(ref_key[i]));
        hkdf(raw, "byok/key-id/v1", id, sizeof(id));

        ref_id[i] = (uint32_t) id[0] << 24 | (uint32_t) id[1] << 16
                    | (uint32_t) id[2] << 8 | id[3];

        fuzz_assert(ref_id[i] == fuzz_master[i].id,
                    "the key id is HKDF(\"byok/key-id/v1\")");
        fuzz_assert(memcmp(ref_key[i], fuzz_master[i].cipher_key, 32) == 0,
                    "the cipher key is HKDF(\"byok/seal/v1\")");
    }

    fuzz_assert(fuzz_master[0].id != fuzz_master[1].id,
                "the two masters have different ids");
}


/* through EVP_KDF, not the EVP_PKEY path that the module takes */

static void
hkdf(const unsigned char *key, const char *info, unsigned char *out,
    size_t len)
{
    EVP_KDF      *kdf;
    OSSL_PARAM    params[4];
    EVP_KDF_CTX  *ctx;

    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    ctx = (kdf != NULL) ? EVP_KDF_CTX_new(kdf) : NULL;

    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                                 (char *) "SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
                                                  (void *) key, 32);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
                                                  (void *) info,
                                                  strlen(info));
    params[3] = OSSL_PARAM_construct_end();

    if (ctx == NULL || EVP_KDF_derive(ctx, out, len, params) != 1) {
        fprintf(stderr, "HKDF failed\n");
        abort();
    }

    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
}


int
fuzz_seal_ref_open(int which, const ngx_http_byok_aad_t *aad,
    const unsigned char *blob, size_t blob_len, unsigned char *plain)
{
    int              n, ok;
    size_t           len, alen;
    unsigned char   *a, id[8];
    EVP_CIPHER_CTX  *ctx;

    /* version(1) | key id(4) | nonce(12) | ciphertext | tag(16) */

    if (blob_len < 33 || blob_len - 33 > INT_MAX || blob[0] != 0x01
        || ((uint32_t) blob[1] << 24 | (uint32_t) blob[2] << 16
            | (uint32_t) blob[3] << 8 | blob[4]) != ref_id[which])
    {
        return 0;
    }

    len = blob_len - 33;

    /* blob[0..5) | len user | 8 | key id (big-endian) | len provider */

    a = malloc(5 + 4 + aad->user_len + 4 + 8 + 4 + aad->provider_len);
    if (a == NULL) {
        abort();
    }

    memcpy(a, blob, 5);
    alen = 5;
    alen += put_field(a + alen, aad->user, aad->user_len);

    for (n = 0; n < 8; n++) {
        id[n] = (unsigned char) ((uint64_t) aad->key_id >> (56 - 8 * n));
    }

    alen += put_field(a + alen, id, 8);
    alen += put_field(a + alen, aad->provider, aad->provider_len);

    ctx = EVP_CIPHER_CTX_new();

    ok = ctx != NULL
         && EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) == 1
         && EVP_DecryptInit_ex(ctx, NULL, NULL, ref_key[which], blob + 5)
            == 1
         && EVP_DecryptUpdate(ctx, NULL, &n, a, (int) alen) == 1
         && EVP_DecryptUpdate(ctx, plain, &n, blob + 17, (int) len) == 1
         && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
                                (void *) (blob + blob_len - 16)) == 1
         && EVP_DecryptFinal_ex(ctx, plain + len, &n) == 1;

    EVP_CIPHER_CTX_free(ctx);
    free(a);

    return ok;
}


static size_t
put_field(unsigned char *p, const unsigned char *s, size_t len)
{
    p[0] = (unsigned char) (len >> 24);
    p[1] = (unsigned char) (len >> 16);
    p[2] = (unsigned char) (len >> 8);
    p[3] = (unsigned char) len;

    if (len > 0) {
        memcpy(p + 4, s, len);
    }

    return 4 + len;
}
