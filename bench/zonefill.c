/*
 * Fills or empties a key store for the zone capacity measurement, with
 * the module's own store and sealing code (the same calls the user API
 * makes), far faster than one HTTP request per user:
 *
 *   zonefill create STORE MASTER_KEY_FILE PREFIX N
 *       users PREFIX00000001 .. PREFIX<N> get one anthropic key each
 *   zonefill revoke STORE MASTER_KEY_FILE PREFIX N
 *       revokes those keys, behind nginx's back: nginx's zone still holds
 *       whatever it cached
 *
 * prints "zonefill MODE N seconds S"
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ngx_http_byok_seal.h"
#include "ngx_http_byok_store.h"


#define PROVIDER  "anthropic"


typedef struct {
    const ngx_http_byok_master_t  *master;
    const char                    *user;
    const char                    *value;
} zonefill_seal_ctx_t;


static int
zonefill_seal(void *data, int64_t id, unsigned char *blob, size_t *blob_len,
    uint32_t *master_id)
{
    zonefill_seal_ctx_t *ctx = data;

    ngx_http_byok_aad_t  aad;

    aad.user = (const unsigned char *) ctx->user;
    aad.user_len = strlen(ctx->user);
    aad.key_id = id;
    aad.provider = (const unsigned char *) PROVIDER;
    aad.provider_len = sizeof(PROVIDER) - 1;

    *master_id = ctx->master->id;

    return ngx_http_byok_seal(ctx->master, &aad,
                              (const unsigned char *) ctx->value,
                              strlen(ctx->value), blob, blob_len);
}


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static int
read_master(const char *path, ngx_http_byok_master_t *m)
{
    FILE          *f;
    size_t         n;
    const char    *err;
    unsigned char  text[256], raw[NGX_HTTP_BYOK_MASTER_KEY_LEN];

    f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    n = fread(text, 1, sizeof(text), f);
    fclose(f);

    if (ngx_http_byok_master_decode(text, n, raw, &err)
        != NGX_HTTP_BYOK_SEAL_OK)
    {
        fprintf(stderr, "zonefill: %s: %s\n", path, err);
        return -1;
    }

    if (ngx_http_byok_master_derive(raw, m) != NGX_HTTP_BYOK_SEAL_OK) {
        fprintf(stderr, "zonefill: deriving the master key failed\n");
        return -1;
    }

    ngx_http_byok_wipe(raw, sizeof(raw));
    ngx_http_byok_wipe(text, sizeof(text));

    return 0;
}


int
main(int argc, char **argv)
{
    int                     create;
    char                    user[NGX_HTTP_BYOK_USER_MAX + 1], value[128];
    char                    err[256];
    long                    i, j, n;
    size_t                  nkeys;
    double                  start;
    ngx_http_byok_key_t     key, *keys;
    ngx_http_byok_audit_t   audit;
    ngx_http_byok_store_t  *s;
    ngx_http_byok_master_t  master;
    zonefill_seal_ctx_t     sctx;

    if (argc != 6
        || (strcmp(argv[1], "create") != 0 && strcmp(argv[1], "revoke") != 0))
    {
        fprintf(stderr, "usage: zonefill create|revoke STORE "
                        "MASTER_KEY_FILE PREFIX N\n");
        return 2;
    }

    create = (strcmp(argv[1], "create") == 0);
    n = atol(argv[5]);

    if (read_master(argv[3], &master) != 0) {
        return 1;
    }

    s = ngx_http_byok_store_open(argv[2], err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "zonefill: %s: %s\n", argv[2], err);
        return 1;
    }

    memset(&audit, 0, sizeof(audit));
    audit.actor_kind = "user";
    audit.action = create ? "key.create" : "key.revoke";
    audit.provider = PROVIDER;
    audit.remote_addr = "127.0.0.1";
    audit.outcome = "ok";

    start = now();

    for (i = 1; i <= n; i++) {
        snprintf(user, sizeof(user), "%s%08ld", argv[4], i);
        audit.actor = user;
        audit.user = user;

        if (!create) {
            if (ngx_http_byok_store_list(s, user, NULL, PROVIDER, 0, &keys,
                                         &nkeys)
                != NGX_HTTP_BYOK_STORE_OK)
            {
                goto failed;
            }

            for (j = 0; j < (long) nkeys; j++) {
                audit.key_id = keys[j].id;

                if (ngx_http_byok_store_revoke(s, user, keys[j].id, &audit,
                                               &key)
                    != NGX_HTTP_BYOK_STORE_OK)
                {
                    free(keys);
                    goto failed;
                }
            }

            free(keys);
            continue;
        }

        /* shaped like a real Anthropic key: 108 characters */
        snprintf(value, sizeof(value), "sk-ant-api03-%080ld%013ldAA", i, i);

        memset(&key, 0, sizeof(key));
        strcpy(key.category, "llm");
        strcpy(key.provider, PROVIDER);
        strcpy(key.auth_type, "api_key");
        memcpy(key.masked, value, 8);
        memcpy(key.masked + 8, "***", 4);

        sctx.master = &master;
        sctx.user = user;
        sctx.value = value;

        if (ngx_http_byok_store_create(s, user, &key,
                                       strlen(value)
                                       + NGX_HTTP_BYOK_SEAL_OVERHEAD,
                                       zonefill_seal, &sctx, &audit)
            != NGX_HTTP_BYOK_STORE_OK)
        {
            goto failed;
        }
    }

    printf("zonefill %s %ld seconds %.3f\n", argv[1], n, now() - start);

    ngx_http_byok_store_close(s);
    ngx_http_byok_wipe(&master, sizeof(master));

    return 0;

failed:

    fprintf(stderr, "zonefill: %s %s: %s\n", argv[1], user,
            ngx_http_byok_store_error(s));
    ngx_http_byok_store_close(s);

    return 1;
}
