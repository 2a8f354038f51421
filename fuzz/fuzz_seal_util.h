
/*
 * Master keys and an independent opener for the sealing harnesses: the
 * opener follows the blob layout of SPEC §9 with its own HKDF and its own
 * AAD encoding, so that the module and the harness have to agree on the
 * format, not merely with themselves.
 */


#ifndef _NGX_HTTP_BYOK_FUZZ_SEAL_UTIL_H_INCLUDED_
#define _NGX_HTTP_BYOK_FUZZ_SEAL_UTIL_H_INCLUDED_


#include "ngx_http_byok_seal.h"


/* A and B from fuzz.h, derived by the module */
extern ngx_http_byok_master_t  fuzz_master[2];


/* aborts when a key cannot be decoded or derived */
void fuzz_seal_init(void);

/* 1 and plain filled when blob opens under master "which", else 0 */
int fuzz_seal_ref_open(int which, const ngx_http_byok_aad_t *aad,
    const unsigned char *blob, size_t blob_len, unsigned char *plain);


#endif /* _NGX_HTTP_BYOK_FUZZ_SEAL_UTIL_H_INCLUDED_ */
