
/*
 * Unit tests of ngx_http_byok_seal.c: master key decoding, derivation,
 * seal and open.
 *
 * cc -I ngx_http_byok_module t/unit/test_seal.c \
 *     ngx_http_byok_module/ngx_http_byok_seal.c -lcrypto
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include <openssl/evp.h>

#include "tap.h"
#include "ngx_http_byok_seal.h"


#define KEY_A_HEX                                                            \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY_A_B64  "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B_HEX                                                            \
    "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff"

/*
 * Expected values for key A, computed with the openssl(1) command line:
 *   openssl kdf -keylen 4 -kdfopt digest:SHA256 -kdfopt hexkey:KEY_A_HEX \
 *       -kdfopt info:byok/key-id/v1 HKDF
 * and the same with -keylen 32 and info byok/seal/v1, byok/check/v1.
 */
#define KEY_A_ID     0x24495afcU
#define KEY_A_SEAL                                                           \
    "cf0cf272bb92be0b69ae450802c75df16b99a782a2b75b8dce3fee0191473965"
#define KEY_A_CHECK                                                          \
    "4744a2a0c9d09e571915f0d513f53a1af649553e0894569c7b63495f4c885045"

/*
 * A blob sealed under key A by an independent AES-GCM implementation
 * (Python "cryptography"), nonce a0..ab, user "user-42", key id 7,
 * provider "openai", plaintext "sk-test-0123456789".
 */
#define KAT_BLOB                                                             \
    "0124495afca0a1a2a3a4a5a6a7a8a9aaab4b150c3ec11366821be477c6f6c5f2"       \
    "82571e58ddd95a63b092d45b6ceb15e7952780"
#define KAT_PLAIN  "sk-test-0123456789"

#define DECODE_ERR "must be 32 bytes as 64 hex characters or base64"

#define OVERHEAD   NGX_HTTP_BYOK_SEAL_OVERHEAD
#define BIG        4096


static size_t unhex(const char *hex, unsigned char *out);
static int contains(const unsigned char *p, size_t n,
    const unsigned char *s, size_t len);
static int decode(const char *text, unsigned char *key, const char **err);
static int all_zero(const unsigned char *p, size_t n);
static ngx_http_byok_aad_t make_aad(const char *user, int64_t key_id,
    const char *provider);
static void master(const char *hex, ngx_http_byok_master_t *m);

static void test_decode(void);
static void test_decode_alphabets(void);
static void test_derive(void);
static void test_round_trip(void);
static void test_tamper(void);
static void test_aad(void);
static void test_aad_layout(void);
static void test_keys(void);
static void test_wipe(void);


static ngx_http_byok_master_t  key_a, key_b;

static const size_t  lens[] = { 0, 1, 16, BIG };


int
main(void)
{
    master(KEY_A_HEX, &key_a);
    master(KEY_B_HEX, &key_b);

    test_decode();
    test_decode_alphabets();
    test_derive();
    test_round_trip();
    test_tamper();
    test_aad();
    test_aad_layout();
    test_keys();
    test_wipe();

    return done_testing();
}


static void
test_decode(void)
{
    char           buf[128];
    size_t         i;
    const char    *err;
    unsigned char  want[NGX_HTTP_BYOK_MASTER_KEY_LEN];
    unsigned char  key[NGX_HTTP_BYOK_MASTER_KEY_LEN];

    unhex(KEY_A_HEX, want);

    memset(key, 0, sizeof(key));
    is_int(decode(KEY_A_HEX, key, &err), 0, "decode: lower-case hex");
    ok(memcmp(key, want, sizeof(key)) == 0, "decode: lower-case hex value");

    for (i = 0; KEY_A_HEX[i]; i++) {
        buf[i] = (char) toupper((unsigned char) KEY_A_HEX[i]);
    }
    buf[i] = '\0';

    memset(key, 0, sizeof(key));
    is_int(decode(buf, key, &err), 0, "decode: upper-case hex");
    ok(memcmp(key, want, sizeof(key)) == 0, "decode: upper-case hex value");

    memset(key, 0, sizeof(key));
    is_int(decode("000102030405060708090A0B0C0D0E0F"
                  "101112131415161718191a1b1c1d1e1f", key, &err), 0,
           "decode: mixed-case hex");
    ok(memcmp(key, want, sizeof(key)) == 0, "decode: mixed-case hex value");

    memset(key, 0, sizeof(key));
    is_int(decode(KEY_A_B64, key, &err), 0, "decode: base64");
    ok(memcmp(key, want, sizeof(key)) == 0, "decode: base64 value");

    memset(key, 0, sizeof(key));
    is_int(decode(" \t" KEY_A_HEX "\n", key, &err), 0,
           "decode: whitespace around hex is ignored");
    ok(memcmp(key, want, sizeof(key)) == 0, "decode: trimmed hex value");

    memset(key, 0, sizeof(key));
    is_int(decode("\n" KEY_A_B64 "\r\n", key, &err), 0,
           "decode: whitespace around base64 is ignored");
    ok(memcmp(key, want, sizeof(key)) == 0, "decode: trimmed base64 value");

    memset(key, 0xaa, sizeof(key));
    err = NULL;
    is_int(decode(&KEY_A_HEX[1], key, &err), -1, "decode: 63 hex refused");
    is_str(err, DECODE_ERR, "decode: reason names the expected format");
    ok(all_zero(key, sizeof(key)), "decode: key wiped on failure");

    is_int(decode(KEY_A_HEX "0", key, &err), -1, "decode: 65 hex refused");

    memcpy(buf, KEY_A_HEX, 65);
    buf[10] = 'g';
    is_int(decode(buf, key, &err), -1, "decode: non-hex refused");

    memcpy(buf, KEY_A_HEX, 65);
    buf[32] = ' ';
    is_int(decode(buf, key, &err), -1, "decode: inner whitespace refused");

    /* 31 and 33 bytes are 44 base64 characters too */

    is_int(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==", key, &err),
           -1, "decode: base64 of 31 bytes refused");
    is_int(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g", key, &err),
           -1, "decode: base64 of 33 bytes refused");
    is_int(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", key, &err),
           -1, "decode: base64 without padding refused");
    is_int(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=", key, &err),
           -1, "decode: base64 with non-zero spare bits refused");
    is_int(decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd-_8=", key, &err),
           -1, "decode: url-safe base64 refused");

    err = NULL;
    is_int(decode("correct horse battery staple", key, &err), -1,
           "decode: garbage refused");
    ok(err != NULL && strstr(err, "horse") == NULL,
       "decode: reason does not echo the input");

    err = NULL;
    is_int(decode("", key, &err), -1, "decode: empty refused");
    is_str(err, "is empty", "decode: empty reason");

    err = NULL;
    is_int(decode(" \n", key, &err), -1, "decode: only whitespace refused");
    is_str(err, "is empty", "decode: only whitespace reason");
}


static void
test_decode_alphabets(void)
{
    int            bad, rc, want;
    char           buf[128];
    const char    *err;
    unsigned int   c;
    unsigned char  key[NGX_HTTP_BYOK_MASTER_KEY_LEN];

    /* every byte value in the middle of a key, including NUL */

    bad = 0;

    for (c = 0; c < 256; c++) {
        memcpy(buf, KEY_A_HEX, 65);
        buf[5] = (char) c;

        rc = ngx_http_byok_master_decode((unsigned char *) buf, 64, key,
                                         &err);

        if ((rc == 0) != (isxdigit(c) != 0)
            || (rc == 0 && key[2] != (isdigit(c) ? c - '0'
                                                 : (c | 0x20) - 'a' + 10)))
        {
            printf("#   hex digit 0x%02x: rc %d\n", c, rc);
            bad++;
        }
    }

    ok(bad == 0, "decode: exactly 0-9, a-f, A-F are hex digits");

    bad = 0;

    for (c = 0; c < 256; c++) {
        memcpy(buf, KEY_A_B64, 45);
        buf[0] = (char) c;

        rc = ngx_http_byok_master_decode((unsigned char *) buf, 44, key,
                                         &err);

        want = isupper(c) ? (int) c - 'A'
               : islower(c) ? (int) c - 'a' + 26
               : isdigit(c) ? (int) c - '0' + 52
               : (c == '+') ? 62
               : (c == '/') ? 63 : -1;

        if ((rc == 0) != (want != -1) || (rc == 0 && key[0] >> 2 != want)) {
            printf("#   base64 digit 0x%02x: rc %d\n", c, rc);
            bad++;
        }
    }

    ok(bad == 0, "decode: exactly the standard alphabet is base64");
}


static void
test_derive(void)
{
    ngx_http_byok_master_t  m;
    unsigned char           want[32];

    memset(&m, 0xaa, sizeof(m));
    master(KEY_A_HEX, &m);

    ok(memcmp(&m, &key_a, sizeof(m)) == 0, "derive: deterministic");

    is_int(key_a.id, KEY_A_ID, "derive: key id known answer");

    unhex(KEY_A_SEAL, want);
    ok(memcmp(key_a.cipher_key, want, 32) == 0,
       "derive: cipher key known answer");

    unhex(KEY_A_CHECK, want);
    ok(memcmp(key_a.check, want, 32) == 0,
       "derive: check value known answer");

    ok(key_a.id != key_b.id, "derive: other key, other id");
    ok(memcmp(key_a.cipher_key, key_b.cipher_key, 32) != 0,
       "derive: other key, other cipher key");
    ok(memcmp(key_a.check, key_b.check, 32) != 0,
       "derive: other key, other check value");
    ok(memcmp(key_a.check, key_a.cipher_key, 32) != 0,
       "derive: check value is not the cipher key");

    is_int(ngx_http_byok_master_derive(NULL, &m), -1, "derive: NULL key");
}


static void
test_round_trip(void)
{
    int                  same, rc;
    char                 name[64];
    size_t               i, n, len, blob_len, plain_len;
    uint32_t             id;
    unsigned char       *plain, *blob, *out, kat[64];
    ngx_http_byok_aad_t  aad;

    aad = make_aad("user-42", 7, "openai");
    blob_len = 0;

    plain = malloc(BIG);
    blob = malloc(BIG + OVERHEAD);
    out = malloc(BIG);

    if (plain == NULL || blob == NULL || out == NULL) {
        abort();
    }

    for (i = 0; i < BIG; i++) {
        plain[i] = (unsigned char) (i * 31 + 7);
    }

    for (n = 0; n < sizeof(lens) / sizeof(lens[0]); n++) {
        len = lens[n];

        rc = ngx_http_byok_seal(&key_a, &aad, len ? plain : NULL, len,
                                blob, &blob_len);

        snprintf(name, sizeof(name), "round trip, length %zu: seal", len);
        ok(rc == 0 && blob_len == len + OVERHEAD, name);

        memset(out, 0xee, BIG);
        rc = ngx_http_byok_open(&key_a, 1, &aad, blob, blob_len, out,
                                &plain_len);

        same = (rc == 0 && plain_len == len && memcmp(out, plain, len) == 0);

        snprintf(name, sizeof(name), "round trip, length %zu: open", len);
        ok(same, name);
    }

    ok(blob[0] == 0x01, "blob starts with version 1");
    ok(blob[1] == 0x24 && blob[2] == 0x49 && blob[3] == 0x5a
       && blob[4] == 0xfc, "blob carries the master key id, big-endian");
    ok(!contains(blob, blob_len, plain, 16),
       "blob does not contain the plaintext");

    id = 0;
    is_int(ngx_http_byok_seal_key_id(blob, blob_len, &id), 0,
           "seal_key_id: ok");
    is_int(id, KEY_A_ID, "seal_key_id: the sealing key's id");
    is_int(ngx_http_byok_seal_key_id(blob, OVERHEAD - 1, &id), -2,
           "seal_key_id: short blob is MALFORMED");

    blob[0] = 0x02;
    is_int(ngx_http_byok_seal_key_id(blob, blob_len, &id), -2,
           "seal_key_id: version 2 is MALFORMED");

    /* a blob made elsewhere pins the AAD layout and the blob format */

    n = unhex(KAT_BLOB, kat);
    rc = ngx_http_byok_open(&key_a, 1, &aad, kat, n, out, &plain_len);
    ok(rc == 0 && plain_len == strlen(KAT_PLAIN)
       && memcmp(out, KAT_PLAIN, plain_len) == 0,
       "open: blob sealed by an independent implementation");

    free(plain);
    free(blob);
    free(out);
}


static void
test_tamper(void)
{
    int                  rc, want, bad, nonce_same;
    size_t               i, len, blob_len, blob2_len, plain_len;
    unsigned char       *big, *big_blob, *out;
    ngx_http_byok_aad_t  aad;
    unsigned char        blob[64], blob2[64];

    aad = make_aad("user-42", 7, "openai");

    big = calloc(1, BIG);
    big_blob = malloc(BIG + OVERHEAD + 1);
    out = malloc(BIG + 1);

    if (big == NULL || big_blob == NULL || out == NULL) {
        abort();
    }

    ngx_http_byok_seal(&key_a, &aad, (const unsigned char *) "sk-1", 4,
                       blob, &blob_len);
    ngx_http_byok_seal(&key_a, &aad, (const unsigned char *) "sk-1", 4,
                       blob2, &blob2_len);

    nonce_same = memcmp(blob + 5, blob2 + 5, 12) == 0;

    ok(blob_len == blob2_len && memcmp(blob, blob2, blob_len) != 0,
       "two seals of the same input differ");
    ok(!nonce_same, "two seals use different nonces");

    /* version byte: MALFORMED, key id: NO_KEY, anything else: DENIED */

    bad = 0;

    for (i = 0; i < blob_len * 8; i++) {
        blob[i / 8] ^= (unsigned char) (1 << (i % 8));

        rc = ngx_http_byok_open(&key_a, 1, &aad, blob, blob_len, out,
                                &plain_len);
        want = (i < 8) ? -2 : (i < 40) ? -3 : -4;

        if (rc != want || plain_len != 0) {
            printf("#   bit %zu: rc %d\n", i, rc);
            bad++;
        }

        blob[i / 8] ^= (unsigned char) (1 << (i % 8));
    }

    ok(bad == 0, "every single-bit flip of a short blob is refused");

    ngx_http_byok_seal(&key_a, &aad, big, BIG, big_blob, &blob_len);

    bad = 0;

    for (i = 0; i < blob_len; i++) {
        big_blob[i] ^= (unsigned char) (1 << (i % 8));

        rc = ngx_http_byok_open(&key_a, 1, &aad, big_blob, blob_len, out,
                                &plain_len);
        want = (i < 1) ? -2 : (i < 5) ? -3 : -4;

        if (rc != want) {
            printf("#   byte %zu: rc %d\n", i, rc);
            bad++;
        }

        big_blob[i] ^= (unsigned char) (1 << (i % 8));
    }

    ok(bad == 0, "a bit flip in any byte of a 4 KiB blob is refused");

    rc = ngx_http_byok_open(&key_a, 1, &aad, big_blob, blob_len, out,
                            &plain_len);
    ok(rc == 0 && plain_len == BIG, "the 4 KiB blob itself still opens");

    bad = 0;

    for (len = 0; len < blob2_len; len++) {
        rc = ngx_http_byok_open(&key_a, 1, &aad, blob2, len, out, &plain_len);
        want = (len < OVERHEAD) ? -2 : -4;

        if (rc != want) {
            printf("#   length %zu: rc %d\n", len, rc);
            bad++;
        }
    }

    ok(bad == 0, "short blob truncated at every length is refused");

    bad = 0;

    for (len = 0; len < blob_len; len++) {
        rc = ngx_http_byok_open(&key_a, 1, &aad, big_blob, len, out,
                                &plain_len);
        want = (len < OVERHEAD) ? -2 : -4;

        if (rc != want) {
            printf("#   length %zu: rc %d\n", len, rc);
            bad++;
        }
    }

    ok(bad == 0, "4 KiB blob truncated at every length is refused");

    big_blob[blob_len] = 0;
    is_int(ngx_http_byok_open(&key_a, 1, &aad, big_blob, blob_len + 1, out,
                              &plain_len), -4, "extended blob is DENIED");

    blob2[0] = 0x02;
    is_int(ngx_http_byok_open(&key_a, 1, &aad, blob2, blob2_len, out,
                              &plain_len), -2, "version 2 is MALFORMED");

    blob2[0] = 0x00;
    is_int(ngx_http_byok_open(&key_a, 1, &aad, blob2, blob2_len, out,
                              &plain_len), -2, "version 0 is MALFORMED");

    free(big);
    free(big_blob);
    free(out);
}


static void
test_aad(void)
{
    size_t               blob_len, plain_len;
    ngx_http_byok_aad_t  aad, other;
    unsigned char        blob[64], out[64];

    aad = make_aad("user-42", 7, "openai");

    ngx_http_byok_seal(&key_a, &aad, (const unsigned char *) "sk-abcdef", 9,
                       blob, &blob_len);

    is_int(ngx_http_byok_open(&key_a, 1, &aad, blob, blob_len, out,
                              &plain_len), 0, "aad: same row opens");

    other = make_aad("user-43", 7, "openai");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4, "aad: other user is DENIED");

    other = make_aad("user-4", 7, "openai");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4, "aad: user prefix is DENIED");

    other = make_aad("", 7, "openai");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4, "aad: empty user is DENIED");

    other = make_aad("user-42", 8, "openai");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4, "aad: other key id is DENIED");

    other = make_aad("user-42", 7 + ((int64_t) 1 << 32), "openai");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4,
           "aad: key id differing in the high word is DENIED");

    other = make_aad("user-42", 7, "anthropic");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4, "aad: other provider is DENIED");

    other = make_aad("user-42", 7, "OpenAI");
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4,
           "aad: provider differing in case is DENIED");
}


/*
 * The AAD layout of SPEC section 9, written out here independently: a blob
 * sealed with it opens, and a sealed blob opens with it, for AAD lengths on
 * both sides of the seal code's stack buffer (a longer AAD is built on the
 * heap).
 */

static size_t
ref_aad(unsigned char *p, const unsigned char *header,
    const ngx_http_byok_aad_t *aad)
{
    size_t    n;
    uint64_t  id;

    n = 0;
    memcpy(p, header, 5);
    n += 5;

    p[n++] = (unsigned char) (aad->user_len >> 24);
    p[n++] = (unsigned char) (aad->user_len >> 16);
    p[n++] = (unsigned char) (aad->user_len >> 8);
    p[n++] = (unsigned char) aad->user_len;
    memcpy(p + n, aad->user, aad->user_len);
    n += aad->user_len;

    p[n++] = 0; p[n++] = 0; p[n++] = 0; p[n++] = 8;
    id = (uint64_t) aad->key_id;

    for (int i = 7; i >= 0; i--) {
        p[n++] = (unsigned char) (id >> (i * 8));
    }

    p[n++] = (unsigned char) (aad->provider_len >> 24);
    p[n++] = (unsigned char) (aad->provider_len >> 16);
    p[n++] = (unsigned char) (aad->provider_len >> 8);
    p[n++] = (unsigned char) aad->provider_len;
    memcpy(p + n, aad->provider, aad->provider_len);
    n += aad->provider_len;

    return n;
}


/* AES-256-GCM with the reference AAD: enc seals blob in place, !enc opens */
static int
ref_cipher(int enc, const ngx_http_byok_master_t *m,
    const ngx_http_byok_aad_t *aad, unsigned char *blob, size_t len,
    unsigned char *plain)
{
    int              n, ok;
    size_t           aad_len;
    unsigned char    aadbuf[2200];
    EVP_CIPHER_CTX  *ctx;

    aad_len = ref_aad(aadbuf, blob, aad);

    ctx = EVP_CIPHER_CTX_new();
    ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, m->cipher_key,
                           blob + 5, enc) == 1
         && EVP_CipherUpdate(ctx, NULL, &n, aadbuf, (int) aad_len) == 1;

    if (enc) {
        ok = ok && EVP_CipherUpdate(ctx, blob + 17, &n, plain, (int) len) == 1
             && EVP_CipherFinal_ex(ctx, blob + 17 + len, &n) == 1
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16,
                                    blob + 17 + len) == 1;

    } else {
        ok = ok && EVP_CipherUpdate(ctx, plain, &n, blob + 17, (int) len) == 1
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16,
                                    blob + 17 + len) == 1
             && EVP_CipherFinal_ex(ctx, plain + len, &n) == 1;
    }

    EVP_CIPHER_CTX_free(ctx);

    return ok;
}


static void
test_aad_layout(void)
{
    char                 user[1001], provider[201], name[128];
    size_t               blob_len, plain_len, i;
    unsigned char        blob[64], out[64];
    ngx_http_byok_aad_t  aad;

    /* user lengths: short, AAD of 319, 320 and 321 bytes, and 1000 */
    static const size_t  users[] = { 7, 285, 286, 287, 1000 };

    memset(user, 'u', sizeof(user) - 1);
    memset(provider, 'p', sizeof(provider) - 1);
    provider[sizeof(provider) - 1] = '\0';

    for (i = 0; i < sizeof(users) / sizeof(users[0]); i++) {
        user[users[i]] = '\0';
        aad = make_aad(user, 0x0102030405060708LL, "anthropic");

        if (users[i] == 1000) {
            aad.provider_len = 200;
            aad.provider = (const unsigned char *) provider;
        }

        snprintf(name, sizeof(name), "aad layout: a %zu-byte user's sealed "
                 "value opens with the SPEC's AAD", users[i]);
        ok(ngx_http_byok_seal(&key_a, &aad, (const unsigned char *) "sk-xyz",
                              6, blob, &blob_len) == 0
           && blob_len == 6 + 33
           && ref_cipher(0, &key_a, &aad, blob, 6, out)
           && memcmp(out, "sk-xyz", 6) == 0, name);

        blob[0] = 1;
        blob[1] = (unsigned char) (key_a.id >> 24);
        blob[2] = (unsigned char) (key_a.id >> 16);
        blob[3] = (unsigned char) (key_a.id >> 8);
        blob[4] = (unsigned char) key_a.id;
        memcpy(blob + 5, "nonce-bytes!", 12);
        ref_cipher(1, &key_a, &aad, blob, 6, (unsigned char *) "sk-ref");

        snprintf(name, sizeof(name), "aad layout: a value sealed with the "
                 "SPEC's AAD for a %zu-byte user opens", users[i]);
        ok(ngx_http_byok_open(&key_a, 1, &aad, blob, 6 + 33, out,
                              &plain_len) == 0
           && plain_len == 6 && memcmp(out, "sk-ref", 6) == 0, name);

        user[users[i]] = 'u';
    }
}


static void
test_keys(void)
{
    size_t                  blob_len, plain_len;
    uint32_t                id;
    ngx_http_byok_aad_t     aad;
    unsigned char           blob_a[64], blob_b[64], out[64];
    ngx_http_byok_master_t  keys[2], fake[2];

    aad = make_aad("user-42", 7, "openai");

    ngx_http_byok_seal(&key_a, &aad, (const unsigned char *) "sk-old", 6,
                       blob_a, &blob_len);
    ngx_http_byok_seal(&key_b, &aad, (const unsigned char *) "sk-new", 6,
                       blob_b, &blob_len);

    is_int(ngx_http_byok_open(&key_b, 1, &aad, blob_a, blob_len, out,
                              &plain_len), -3,
           "keys: blob under a key not configured is NO_KEY");
    is_int(ngx_http_byok_open(NULL, 0, &aad, blob_a, blob_len, out,
                              &plain_len), -3,
           "keys: no keys at all is NO_KEY");

    keys[0] = key_b;
    keys[1] = key_a;

    ok(ngx_http_byok_open(keys, 2, &aad, blob_a, blob_len, out, &plain_len)
       == 0 && plain_len == 6 && memcmp(out, "sk-old", 6) == 0,
       "keys: the previous key opens an old blob");
    ok(ngx_http_byok_open(keys, 2, &aad, blob_b, blob_len, out, &plain_len)
       == 0 && plain_len == 6 && memcmp(out, "sk-new", 6) == 0,
       "keys: the current key opens a new blob");

    ngx_http_byok_seal_key_id(blob_a, blob_len, &id);
    is_int(id, key_a.id, "keys: seal_key_id names the old key");

    /* the id alone picks the key: no other key is tried */

    fake[0] = key_b;
    fake[0].id = key_a.id;
    fake[1] = key_a;

    is_int(ngx_http_byok_open(fake, 2, &aad, blob_a, blob_len, out,
                              &plain_len), -4,
           "keys: the key is chosen by id, without trial decryption");
}


static void
test_wipe(void)
{
    size_t               blob_len, plain_len;
    ngx_http_byok_aad_t  aad, other;
    unsigned char        blob[64], out[64];

    aad = make_aad("user-42", 7, "openai");
    other = make_aad("user-43", 7, "openai");

    ngx_http_byok_seal(&key_a, &aad, (const unsigned char *) "sk-secret", 9,
                       blob, &blob_len);

    memset(out, 0xa5, sizeof(out));
    plain_len = 99;
    is_int(ngx_http_byok_open(&key_a, 1, &other, blob, blob_len, out,
                              &plain_len), -4, "wipe: wrong AAD is DENIED");
    ok(all_zero(out, 9), "wipe: output wiped after DENIED");
    ok(out[9] == 0xa5, "wipe: nothing written past the plaintext length");
    is_int(plain_len, 0, "wipe: plain_len is 0 after DENIED");

    memset(out, 0xa5, sizeof(out));
    is_int(ngx_http_byok_open(&key_b, 1, &aad, blob, blob_len, out,
                              &plain_len), -3, "wipe: other key is NO_KEY");
    ok(all_zero(out, 9), "wipe: output wiped after NO_KEY");

    blob[0] = 0x7f;
    memset(out, 0xa5, sizeof(out));
    is_int(ngx_http_byok_open(&key_a, 1, &aad, blob, blob_len, out,
                              &plain_len), -2, "wipe: bad version MALFORMED");
    ok(all_zero(out, 9), "wipe: output wiped after MALFORMED");

    is_int(ngx_http_byok_seal(&key_a, &aad, NULL, 1, blob, &blob_len), -1,
           "seal: NULL plaintext with a length is ERROR");
    is_int(ngx_http_byok_seal(NULL, &aad, out, 1, blob, &blob_len), -1,
           "seal: NULL key is ERROR");

    memset(out, 0xa5, sizeof(out));
    ngx_http_byok_wipe(out, sizeof(out));
    ok(all_zero(out, sizeof(out)), "wipe: zeroes the buffer");
}


static size_t
unhex(const char *hex, unsigned char *out)
{
    size_t        i, n;
    unsigned int  b;

    n = strlen(hex) / 2;

    for (i = 0; i < n; i++) {
        if (sscanf(hex + 2 * i, "%2x", &b) != 1) {
            abort();
        }

        out[i] = (unsigned char) b;
    }

    return n;
}


static int
contains(const unsigned char *p, size_t n, const unsigned char *s,
    size_t len)
{
    size_t  i;

    for (i = 0; i + len <= n; i++) {
        if (memcmp(p + i, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
decode(const char *text, unsigned char *key, const char **err)
{
    return ngx_http_byok_master_decode((const unsigned char *) text,
                                       strlen(text), key, err);
}


static int
all_zero(const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (p[i] != 0) {
            return 0;
        }
    }

    return 1;
}


static ngx_http_byok_aad_t
make_aad(const char *user, int64_t key_id, const char *provider)
{
    ngx_http_byok_aad_t  aad;

    aad.user = (const unsigned char *) user;
    aad.user_len = strlen(user);
    aad.key_id = key_id;
    aad.provider = (const unsigned char *) provider;
    aad.provider_len = strlen(provider);

    return aad;
}


static void
master(const char *hex, ngx_http_byok_master_t *m)
{
    const char    *err;
    unsigned char  key[NGX_HTTP_BYOK_MASTER_KEY_LEN];

    if (decode(hex, key, &err) != 0
        || ngx_http_byok_master_derive(key, m) != 0)
    {
        abort();
    }

    ngx_http_byok_wipe(key, sizeof(key));
}
