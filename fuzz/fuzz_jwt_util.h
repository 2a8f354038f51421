
/*
 * Keys and signing for the JWT harnesses and the seed generator: one
 * HS256 secret fixed in fuzz.h, one RSA 2048 and one P-256 key made at
 * start, all loaded through ngx_http_byok_jwt_key_load().
 */


#ifndef _NGX_HTTP_BYOK_FUZZ_JWT_UTIL_H_INCLUDED_
#define _NGX_HTTP_BYOK_FUZZ_JWT_UTIL_H_INCLUDED_


#include <stddef.h>
#include <openssl/evp.h>

#include "ngx_http_byok_jwt.h"


#define FUZZ_JWT_HS     0
#define FUZZ_JWT_RS     1
#define FUZZ_JWT_ES     2
#define FUZZ_JWT_NKEYS  3

#define FUZZ_JWT_SIG_MAX  512


extern ngx_http_byok_jwt_key_t  fuzz_jwt_keys[FUZZ_JWT_NKEYS];


/* aborts when a key cannot be made or loaded */
void fuzz_jwt_init(void);

/* base64url without padding; out holds 4 * ((len + 2) / 3) + 1 bytes */
size_t fuzz_b64url(const unsigned char *in, size_t len, char *out);

/* a JWS signature of input with key "which"; 0 on failure */
size_t fuzz_jwt_sign(int which, const unsigned char *input, size_t ilen,
    unsigned char sig[FUZZ_JWT_SIG_MAX]);


#endif /* _NGX_HTTP_BYOK_FUZZ_JWT_UTIL_H_INCLUDED_ */
