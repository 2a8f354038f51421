
/*
 * ngx_http_byok_master_decode() on the text of a master key as read from
 * an environment variable or a key file.
 *
 * Property: the decoder agrees with a plain decoder written here from the
 * header's contract (64 hex digits, or 44 characters of padded standard
 * base64 with zero trailing bits, surrounding whitespace ignored); on
 * failure the key buffer is wiped and the reason never quotes the input.
 */


#include <string.h>

#include "ngx_http_byok_seal.h"
#include "fuzz.h"


static int reference(const unsigned char *text, size_t len,
    unsigned char *key);
static int is_space(unsigned char c);
static int hex_digit(unsigned char c);
static int b64_digit(unsigned char c);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                     rc, want;
    size_t                  i;
    const char             *err;
    unsigned char           key[NGX_HTTP_BYOK_MASTER_KEY_LEN];
    unsigned char           ref[NGX_HTTP_BYOK_MASTER_KEY_LEN];
    ngx_http_byok_master_t  m1, m2;

    memset(key, 0xa5, sizeof(key));
    err = NULL;

    rc = ngx_http_byok_master_decode(data, size, key, &err);
    want = reference(data, size, ref);

    fuzz_assert((rc == NGX_HTTP_BYOK_SEAL_OK) == want,
                "decode accepts what the contract accepts");

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_ERROR, "a refusal is ERROR");
        fuzz_assert(err != NULL && strlen(err) < 64, "a refusal says why");
        fuzz_assert((const uint8_t *) err < data
                    || (const uint8_t *) err >= data + size,
                    "the reason does not point into the input");

        for (i = 0; i < sizeof(key); i++) {
            fuzz_assert(key[i] == 0, "the key buffer is wiped on failure");
        }

        return 0;
    }

    fuzz_assert(memcmp(key, ref, sizeof(key)) == 0,
                "decode gives the contract's bytes");

    /* derivation is a function of the key */

    fuzz_assert(ngx_http_byok_master_derive(key, &m1) == NGX_HTTP_BYOK_SEAL_OK
                && ngx_http_byok_master_derive(ref, &m2)
                   == NGX_HTTP_BYOK_SEAL_OK
                && memcmp(&m1, &m2, sizeof(m1)) == 0,
                "derive is deterministic");

    return 0;
}


static int
reference(const unsigned char *text, size_t len, unsigned char *key)
{
    int       d;
    size_t    i;
    uint32_t  acc;

    while (len > 0 && is_space(text[0])) {
        text++;
        len--;
    }

    while (len > 0 && is_space(text[len - 1])) {
        len--;
    }

    if (len == 64) {
        for (i = 0; i < 32; i++) {
            if (hex_digit(text[2 * i]) < 0 || hex_digit(text[2 * i + 1]) < 0)
            {
                return 0;
            }

            key[i] = (unsigned char) (hex_digit(text[2 * i]) << 4
                                      | hex_digit(text[2 * i + 1]));
        }

        return 1;
    }

    if (len != 44 || text[43] != '=') {
        return 0;
    }

    /* 43 digits: 10 groups of four and a last group of three */

    acc = 0;

    for (i = 0; i < 43; i++) {
        d = b64_digit(text[i]);
        if (d < 0) {
            return 0;
        }

        acc = acc << 6 | (uint32_t) d;

        if (i % 4 == 3) {
            key[i / 4 * 3] = (unsigned char) (acc >> 16);
            key[i / 4 * 3 + 1] = (unsigned char) (acc >> 8);
            key[i / 4 * 3 + 2] = (unsigned char) acc;
            acc = 0;
        }
    }

    /* 18 bits left: two bytes and two bits that must be zero */

    if (acc & 3) {
        return 0;
    }

    key[30] = (unsigned char) (acc >> 10);
    key[31] = (unsigned char) (acc >> 2);

    return 1;
}


static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f'
           || c == '\r';
}


static int
hex_digit(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }

    return -1;
}


static int
b64_digit(unsigned char c)
{
    const char         *p;
    static const char   abc[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    p = (c != '\0') ? strchr(abc, c) : NULL;

    return (p != NULL) ? (int) (p - abc) : -1;
}
