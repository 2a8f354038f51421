
/*
 * Round trip of ngx_http_byok_seal() and ngx_http_byok_open().  Input:
 * flags(1) | user_len(1) | provider_len(1) | key_id(8) | bit(2) | user |
 * provider | plaintext; flags bit 0 picks master A or B to seal with.
 *
 * Properties, each an abort() when broken:
 *   - the blob has the layout of SPEC §9 and the independent opener of
 *     fuzz_seal_util.c opens it to the plaintext;
 *   - open(seal(x)) == x, with the masters A and B configured;
 *   - every single-bit change of the blob is refused (all bits of a short
 *     blob; of a long one, one bit per byte starting from the fuzzed bit)
 *     with the code its position calls for, and the output wiped;
 *   - a shortened or lengthened blob is refused;
 *   - another user, key id or provider is refused, including the same
 *     bytes split differently between user and provider;
 *   - a blob whose master is not configured is refused as NO_KEY.
 */


#include <string.h>

#include "ngx_http_byok_seal.h"
#include "fuzz.h"
#include "fuzz_seal_util.h"


#define ALL_BITS_MAX   64      /* blobs up to this long get every bit */
#define PER_BYTE_MAX   1024    /* and up to this long one bit per byte */


static void refused(const unsigned char *blob, size_t len,
    const ngx_http_byok_aad_t *aad, int expect, const char *what);
static void flip(unsigned char *blob, size_t len, size_t bit,
    const ngx_http_byok_aad_t *aad);
static int flip_code(const unsigned char *blob, size_t bit);
static uint32_t get32(const unsigned char *p);


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_seal_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                            rc, which;
    size_t                         i, len, plain_len, blob_len, bit;
    uint8_t                       *moved;
    fuzz_reader_t                  r;
    unsigned char                 *blob, *longer, *out;
    const uint8_t                 *plain;
    ngx_http_byok_aad_t            aad, other;
    const ngx_http_byok_master_t  *m;

    r.p = data;
    r.left = size;

    which = (int) (fuzz_read_int(&r, 1) & 1);
    aad.user_len = (size_t) fuzz_read_int(&r, 1);
    aad.provider_len = (size_t) fuzz_read_int(&r, 1);
    aad.key_id = (int64_t) fuzz_read_int(&r, 8);
    bit = (size_t) fuzz_read_int(&r, 2);
    aad.user = fuzz_read_bytes(&r, aad.user_len, &aad.user_len);
    aad.provider = fuzz_read_bytes(&r, aad.provider_len, &aad.provider_len);
    plain = fuzz_read_bytes(&r, r.left, &len);

    m = &fuzz_master[which];
    blob_len = len + NGX_HTTP_BYOK_SEAL_OVERHEAD;

    /* exactly the promised sizes, so that ASan sees any overrun */

    blob = malloc(blob_len);
    longer = malloc(blob_len + 1);
    out = malloc(len ? len : 1);
    moved = malloc(aad.user_len + aad.provider_len + 1);

    if (blob == NULL || longer == NULL || out == NULL || moved == NULL) {
        abort();
    }

    rc = ngx_http_byok_seal(m, &aad, plain, len, blob, &blob_len);

    fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_OK, "seal succeeds");
    fuzz_assert(blob_len == len + NGX_HTTP_BYOK_SEAL_OVERHEAD,
                "the blob is 33 bytes longer than the plaintext");
    fuzz_assert(blob[0] == NGX_HTTP_BYOK_SEAL_VERSION && get32(blob + 1)
                == m->id, "the blob starts with version 1 and the key id");
    fuzz_assert(fuzz_seal_ref_open(which, &aad, blob, blob_len, out)
                && memcmp(out, plain, len) == 0,
                "the reference opener reads the blob");

    /* open(seal(x)) == x */

    memset(out, 0xa5, len);
    plain_len = 0;

    rc = ngx_http_byok_open(fuzz_master, 2, &aad, blob, blob_len, out,
                            &plain_len);

    fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_OK, "open(seal(x)) succeeds");
    fuzz_assert(plain_len == len && memcmp(out, plain, len) == 0,
                "open(seal(x)) == x");

    /* single-bit changes */

    if (blob_len <= ALL_BITS_MAX) {
        for (i = 0; i < 8 * blob_len; i++) {
            flip(blob, blob_len, i, &aad);
        }

    } else if (blob_len <= PER_BYTE_MAX) {
        for (i = 0; i < blob_len; i++) {
            flip(blob, blob_len, 8 * i + (bit + i) % 8, &aad);
        }

    } else {
        flip(blob, blob_len, bit % (8 * blob_len), &aad);

        for (i = 0; i < NGX_HTTP_BYOK_SEAL_HEADER_LEN; i++) {
            flip(blob, blob_len, 8 * i + bit % 8, &aad);
        }

        flip(blob, blob_len, 8 * (blob_len - 1) + bit % 8, &aad);
    }

    /* length changes */

    refused(blob, blob_len - 1, &aad, NGX_HTTP_BYOK_SEAL_DENIED,
            "a shortened blob is refused");

    memcpy(longer, blob, blob_len);
    longer[blob_len] = (unsigned char) bit;
    refused(longer, blob_len + 1, &aad, NGX_HTTP_BYOK_SEAL_DENIED,
            "a lengthened blob is refused");

    /* the AAD binds user, key id and provider */

    other = aad;
    other.key_id = aad.key_id ^ 1;
    refused(blob, blob_len, &other, NGX_HTTP_BYOK_SEAL_DENIED,
            "another key id is refused");

    if (aad.user_len > 0) {
        memcpy(moved, aad.user, aad.user_len);
        moved[0] ^= 0x01;

        other = aad;
        other.user = moved;
        refused(blob, blob_len, &other, NGX_HTTP_BYOK_SEAL_DENIED,
                "another user is refused");

        /* "ab" + "c" against "a" + "bc": the same bytes, split elsewhere */

        memcpy(moved, aad.user, aad.user_len);
        memcpy(moved + aad.user_len, aad.provider, aad.provider_len);

        other = aad;
        other.user = moved;
        other.user_len = aad.user_len - 1;
        other.provider = moved + aad.user_len - 1;
        other.provider_len = aad.provider_len + 1;
        refused(blob, blob_len, &other, NGX_HTTP_BYOK_SEAL_DENIED,
                "the user/provider boundary is bound");
    }

    other = aad;
    other.provider = (const unsigned char *) "x";
    other.provider_len = 1;

    if (aad.provider_len != 1 || aad.provider[0] != 'x') {
        refused(blob, blob_len, &other, NGX_HTTP_BYOK_SEAL_DENIED,
                "another provider is refused");
    }

    /* only the other master configured */

    memset(out, 0xa5, len);
    rc = ngx_http_byok_open(&fuzz_master[!which], 1, &aad, blob, blob_len,
                            out, &plain_len);

    fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_NO_KEY,
                "a blob of an unconfigured master is NO_KEY");

    free(blob);
    free(longer);
    free(out);
    free(moved);

    return 0;
}


static void
flip(unsigned char *blob, size_t len, size_t bit,
    const ngx_http_byok_aad_t *aad)
{
    int  expect;

    expect = flip_code(blob, bit);

    blob[bit / 8] ^= (unsigned char) (1u << (bit % 8));
    refused(blob, len, aad, expect, "every single-bit change is refused");
    blob[bit / 8] ^= (unsigned char) (1u << (bit % 8));
}


static int
flip_code(const unsigned char *blob, size_t bit)
{
    uint32_t  id;

    if (bit < 8) {
        return NGX_HTTP_BYOK_SEAL_MALFORMED;
    }

    if (bit < 8 * NGX_HTTP_BYOK_SEAL_HEADER_LEN) {
        id = get32(blob + 1) ^ (1u << ((4 - bit / 8) * 8 + bit % 8));

        return (id == fuzz_master[0].id || id == fuzz_master[1].id)
               ? NGX_HTTP_BYOK_SEAL_DENIED : NGX_HTTP_BYOK_SEAL_NO_KEY;
    }

    return NGX_HTTP_BYOK_SEAL_DENIED;
}


static void
refused(const unsigned char *blob, size_t len, const ngx_http_byok_aad_t *aad,
    int expect, const char *what)
{
    int             rc;
    size_t          i, n, plain_len;
    unsigned char  *out;

    n = (len > NGX_HTTP_BYOK_SEAL_OVERHEAD)
        ? len - NGX_HTTP_BYOK_SEAL_OVERHEAD : 0;

    out = malloc(n ? n : 1);
    if (out == NULL) {
        abort();
    }

    memset(out, 0xa5, n);
    plain_len = 12345;

    rc = ngx_http_byok_open(fuzz_master, 2, aad, blob, len, out, &plain_len);

    if (len < NGX_HTTP_BYOK_SEAL_OVERHEAD) {
        expect = NGX_HTTP_BYOK_SEAL_MALFORMED;
    }

    if (rc != expect) {
        fprintf(stderr, "open returned %d, expected %d\n", rc, expect);
    }

    fuzz_assert(rc == expect, what);
    fuzz_assert(plain_len == 0, "no length on failure");

    for (i = 0; i < n; i++) {
        fuzz_assert(out[i] == 0, "the output is wiped on failure");
    }

    free(out);
}


static uint32_t
get32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16
           | (uint32_t) p[2] << 8 | p[3];
}
