
/*
 * ngx_http_byok_open() on blobs as they come back from the store, which
 * an attacker with write access to the database file controls, with a
 * fuzzed AAD.  Input: flags(1) | user_len(1) | provider_len(1) |
 * key_id(8) | user | provider | blob; flags % 3 picks the configured
 * masters: A and B, B alone, or none.
 *
 * Properties: the result code matches the blob's shape; a failure leaves
 * the output wiped; a blob opens exactly when the independent opener of
 * fuzz_seal_util.c opens it, to the same plaintext.
 */


#include <string.h>

#include "ngx_http_byok_seal.h"
#include "fuzz.h"
#include "fuzz_seal_util.h"


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_seal_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                      rc, want, sel, which;
    size_t                   i, n, len, plain_len, got;
    uint32_t                 id;
    fuzz_reader_t            r;
    unsigned char           *plain, *ref;
    const uint8_t           *blob;
    ngx_http_byok_aad_t      aad;
    ngx_http_byok_master_t   keys[2];

    r.p = data;
    r.left = size;

    sel = (int) (fuzz_read_int(&r, 1) % 3);
    aad.user_len = (size_t) fuzz_read_int(&r, 1);
    aad.provider_len = (size_t) fuzz_read_int(&r, 1);
    aad.key_id = (int64_t) fuzz_read_int(&r, 8);
    aad.user = fuzz_read_bytes(&r, aad.user_len, &aad.user_len);
    aad.provider = fuzz_read_bytes(&r, aad.provider_len, &aad.provider_len);
    blob = fuzz_read_bytes(&r, r.left, &len);

    n = 0;

    if (sel == 0) {
        keys[n++] = fuzz_master[0];
    }

    if (sel != 2) {
        keys[n++] = fuzz_master[1];
    }

    /* exactly the promised size, so that ASan sees any overrun */

    got = (len > NGX_HTTP_BYOK_SEAL_OVERHEAD)
          ? len - NGX_HTTP_BYOK_SEAL_OVERHEAD : 0;

    plain = malloc(got ? got : 1);
    ref = malloc(got + 16);

    if (plain == NULL || ref == NULL) {
        abort();
    }

    memset(plain, 0xa5, got);
    plain_len = 12345;

    rc = ngx_http_byok_open(keys, n, &aad, blob, len, plain, &plain_len);

    /* the expected code from the shape alone */

    which = -1;

    for (i = 0; i < n && len >= NGX_HTTP_BYOK_SEAL_OVERHEAD; i++) {
        if (keys[i].id == ((uint32_t) blob[1] << 24 | (uint32_t) blob[2] << 16
                           | (uint32_t) blob[3] << 8 | blob[4]))
        {
            which = (keys[i].id == fuzz_master[0].id) ? 0 : 1;
        }
    }

    if (len < NGX_HTTP_BYOK_SEAL_OVERHEAD || blob[0] != 0x01) {
        fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_MALFORMED,
                    "a short blob or a wrong version is malformed");

    } else if (which < 0) {
        fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_NO_KEY,
                    "an unknown key id is reported as such");

    } else {
        want = fuzz_seal_ref_open(which, &aad, blob, len, ref);

        fuzz_assert(rc == (want ? NGX_HTTP_BYOK_SEAL_OK
                                : NGX_HTTP_BYOK_SEAL_DENIED),
                    "opens exactly when the reference opener does");

        if (want) {
            fuzz_assert(plain_len == got && memcmp(plain, ref, got) == 0,
                        "the same plaintext as the reference opener");
        }
    }

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        fuzz_assert(plain_len == 0, "no length on failure");

        for (i = 0; i < got; i++) {
            fuzz_assert(plain[i] == 0, "the output is wiped on failure");
        }
    }

    rc = ngx_http_byok_seal_key_id(blob, len, &id);

    if (len < NGX_HTTP_BYOK_SEAL_OVERHEAD || blob[0] != 0x01) {
        fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_MALFORMED,
                    "key_id refuses what open refuses as malformed");

    } else {
        fuzz_assert(rc == NGX_HTTP_BYOK_SEAL_OK
                    && id == ((uint32_t) blob[1] << 24
                              | (uint32_t) blob[2] << 16
                              | (uint32_t) blob[3] << 8 | blob[4]),
                    "key_id reads bytes 1-4 big-endian");
    }

    free(plain);
    free(ref);

    return 0;
}
