
/*
 * Writes one key into a store with the module's own store and sealing code,
 * bypassing the user API and its validation, for the suites that need a
 * stored value the API would refuse:
 *
 *   putkey STORE MASTER_KEY_FILE USER PROVIDER VALUE
 *
 * prints the new key's id.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ngx_http_byok_seal.h"
#include "ngx_http_byok_store.h"


typedef struct {
    const ngx_http_byok_master_t  *master;
    const char                    *user;
    const char                    *provider;
    const char                    *value;
} putkey_ctx_t;


static int
putkey_seal(void *data, int64_t id, unsigned char *blob, size_t *blob_len,
    uint32_t *master_id)
{
    putkey_ctx_t *ctx = data;

    ngx_http_byok_aad_t  aad;

    aad.user = (const unsigned char *) ctx->user;
    aad.user_len = strlen(ctx->user);
    aad.key_id = id;
    aad.provider = (const unsigned char *) ctx->provider;
    aad.provider_len = strlen(ctx->provider);

    *master_id = ctx->master->id;

    return ngx_http_byok_seal(ctx->master, &aad,
                              (const unsigned char *) ctx->value,
                              strlen(ctx->value), blob, blob_len);
}


static int
putkey_master(const char *path, ngx_http_byok_master_t *m)
{
    FILE           *f;
    size_t          n;
    const char     *err;
    unsigned char   text[256], raw[NGX_HTTP_BYOK_MASTER_KEY_LEN];

    f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    n = fread(text, 1, sizeof(text), f);
    fclose(f);

    if (ngx_http_byok_master_decode(text, n, raw, &err)
        != NGX_HTTP_BYOK_SEAL_OK
        || ngx_http_byok_master_derive(raw, m) != NGX_HTTP_BYOK_SEAL_OK)
    {
        fprintf(stderr, "putkey: %s: not a usable master key\n", path);
        return -1;
    }

    ngx_http_byok_wipe(raw, sizeof(raw));
    ngx_http_byok_wipe(text, sizeof(text));

    return 0;
}


int
main(int argc, char **argv)
{
    char                    err[256];
    putkey_ctx_t            ctx;
    ngx_http_byok_key_t     key;
    ngx_http_byok_audit_t   audit;
    ngx_http_byok_store_t  *s;
    ngx_http_byok_master_t  master;

    if (argc != 6 || strlen(argv[4]) > NGX_HTTP_BYOK_ID_MAX
        || strlen(argv[5]) < 8)
    {
        fprintf(stderr, "usage: putkey STORE MASTER_KEY_FILE USER PROVIDER "
                        "VALUE (8 bytes or more)\n");
        return 2;
    }

    if (putkey_master(argv[2], &master) != 0) {
        return 1;
    }

    s = ngx_http_byok_store_open(argv[1], err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "putkey: %s: %s\n", argv[1], err);
        return 1;
    }

    memset(&audit, 0, sizeof(audit));
    audit.actor = argv[3];
    audit.actor_kind = "user";
    audit.action = "key.create";
    audit.user = argv[3];
    audit.provider = argv[4];
    audit.remote_addr = "127.0.0.1";
    audit.outcome = "ok";

    memset(&key, 0, sizeof(key));
    strcpy(key.category, "llm");
    strcpy(key.provider, argv[4]);
    strcpy(key.auth_type, "api_key");
    strcpy(key.masked, "sk-***");

    ctx.master = &master;
    ctx.user = argv[3];
    ctx.provider = argv[4];
    ctx.value = argv[5];

    if (ngx_http_byok_store_create(s, argv[3], &key,
                                   strlen(argv[5])
                                   + NGX_HTTP_BYOK_SEAL_OVERHEAD,
                                   putkey_seal, &ctx, &audit)
        != NGX_HTTP_BYOK_STORE_OK)
    {
        fprintf(stderr, "putkey: %s\n", ngx_http_byok_store_error(s));
        ngx_http_byok_store_close(s);
        return 1;
    }

    printf("%lld\n", (long long) key.id);

    ngx_http_byok_store_close(s);
    ngx_http_byok_wipe(&master, sizeof(master));

    return 0;
}
