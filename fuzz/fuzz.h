
/*
 * Shared by the libFuzzer harnesses and the seed generator: the fixed
 * keys the harnesses trust, a property check that aborts with a message,
 * and a reader that splits one fuzz input into fields.
 */


#ifndef _NGX_HTTP_BYOK_FUZZ_H_INCLUDED_
#define _NGX_HTTP_BYOK_FUZZ_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


/* test-only material: the seeds are signed and sealed with these */

#define FUZZ_HS256_SECRET   "fuzz-hs256-secret-0123456789abcdef"
#define FUZZ_MASTER_A                                                        \
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define FUZZ_MASTER_B                                                        \
    "f0e1d2c3b4a5968778695a4b3c2d1e0f00112233445566778899aabbccddeeff"

#define FUZZ_NOW            1700000000
#define FUZZ_LEEWAY         60
#define FUZZ_ISSUER         "https://issuer.example"
#define FUZZ_AUDIENCE       "byok"


/* a broken property is a finding: report it and let libFuzzer save it */

#define fuzz_assert(cond, what)                                              \
    do {                                                                     \
        if (!(cond)) {                                                       \
            fprintf(stderr, "property violated at %s:%d: %s\n",              \
                    __FILE__, __LINE__, what);                               \
            abort();                                                         \
        }                                                                    \
    } while (0)


typedef struct {
    const uint8_t  *p;
    size_t          left;
} fuzz_reader_t;


/* a field past the end of the input reads as zeros */

static inline uint64_t
fuzz_read_int(fuzz_reader_t *r, size_t bytes)
{
    uint64_t  v;

    v = 0;

    while (bytes-- > 0) {
        v <<= 8;

        if (r->left > 0) {
            v |= *r->p++;
            r->left--;
        }
    }

    return v;
}


static inline const uint8_t *
fuzz_read_bytes(fuzz_reader_t *r, size_t want, size_t *got)
{
    const uint8_t  *p;

    *got = (want < r->left) ? want : r->left;
    p = r->p;

    r->p += *got;
    r->left -= *got;

    return p;
}


static inline size_t
fuzz_unhex(const char *hex, unsigned char *out, size_t max)
{
    size_t        n;
    unsigned int  byte;

    for (n = 0; n < max && hex[2 * n] != '\0'; n++) {
        if (sscanf(hex + 2 * n, "%2x", &byte) != 1) {
            break;
        }

        out[n] = (unsigned char) byte;
    }

    return n;
}


#endif /* _NGX_HTTP_BYOK_FUZZ_H_INCLUDED_ */
