
/*
 * Sealing of stored provider keys (AES-256-GCM under a key derived from
 * the master key).  Plain C and OpenSSL only, so that it can be tested and
 * fuzzed without nginx.
 */


#ifndef _NGX_HTTP_BYOK_SEAL_H_INCLUDED_
#define _NGX_HTTP_BYOK_SEAL_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_BYOK_MASTER_KEY_LEN   32
#define NGX_HTTP_BYOK_SEAL_VERSION     0x01
#define NGX_HTTP_BYOK_SEAL_HEADER_LEN  5     /* version(1) | master_key_id(4) */
#define NGX_HTTP_BYOK_SEAL_NONCE_LEN   12
#define NGX_HTTP_BYOK_SEAL_TAG_LEN     16
#define NGX_HTTP_BYOK_SEAL_OVERHEAD    (5 + 12 + 16)
#define NGX_HTTP_BYOK_SEAL_CHECK_LEN   32
#define NGX_HTTP_BYOK_SEAL_KEY_LEN     32

#define NGX_HTTP_BYOK_SEAL_OK          0
#define NGX_HTTP_BYOK_SEAL_ERROR      -1   /* OpenSSL failure, bad args */
#define NGX_HTTP_BYOK_SEAL_MALFORMED  -2   /* too short, wrong version */
#define NGX_HTTP_BYOK_SEAL_NO_KEY     -3   /* no configured key has its id */
#define NGX_HTTP_BYOK_SEAL_DENIED     -4   /* tag check failed */


typedef struct {
    uint32_t        id;
    unsigned char   cipher_key[NGX_HTTP_BYOK_SEAL_KEY_LEN];
    unsigned char   check[NGX_HTTP_BYOK_SEAL_CHECK_LEN];
} ngx_http_byok_master_t;


typedef struct {
    const unsigned char  *user;
    size_t                user_len;
    int64_t               key_id;
    const unsigned char  *provider;
    size_t                provider_len;
} ngx_http_byok_aad_t;


/*
 * decode: 64 hex digits or padded standard base64, surrounding whitespace
 * ignored; on failure *err is a static reason that never quotes the input.
 * seal: "out" holds plain_len + NGX_HTTP_BYOK_SEAL_OVERHEAD bytes.
 * open: the key is chosen by the blob's id; "plain" holds
 * blob_len - NGX_HTTP_BYOK_SEAL_OVERHEAD bytes and is wiped on failure.
 * done: releases the cipher sealing fetches once per process; called when
 * the process will seal and open no more.
 */

int ngx_http_byok_master_decode(const unsigned char *text, size_t len,
    unsigned char key[NGX_HTTP_BYOK_MASTER_KEY_LEN], const char **err);
int ngx_http_byok_master_derive(
    const unsigned char key[NGX_HTTP_BYOK_MASTER_KEY_LEN],
    ngx_http_byok_master_t *m);

int ngx_http_byok_seal(const ngx_http_byok_master_t *m,
    const ngx_http_byok_aad_t *aad, const unsigned char *plain,
    size_t plain_len, unsigned char *out, size_t *out_len);
int ngx_http_byok_open(const ngx_http_byok_master_t *keys, size_t n,
    const ngx_http_byok_aad_t *aad, const unsigned char *blob,
    size_t blob_len, unsigned char *plain, size_t *plain_len);
int ngx_http_byok_seal_key_id(const unsigned char *blob, size_t blob_len,
    uint32_t *id);

void ngx_http_byok_seal_done(void);

void ngx_http_byok_wipe(void *p, size_t n);


#endif /* _NGX_HTTP_BYOK_SEAL_H_INCLUDED_ */
