
/*
 * Bearer token authentication of a request: the JWT is verified with the
 * location's keys and its "sub" becomes the request's user.
 */


#include "ngx_http_byok.h"

#include <sys/mman.h>


#define NGX_HTTP_BYOK_TOKENS        256
#define NGX_HTTP_BYOK_TOKEN_HASHED  32
#define NGX_HTTP_BYOK_TOKEN_MAX     1024


/*
 * Tokens this worker verified for the runtime lookup, so a runtime that
 * sends the same token with every call is not verified again: a hit still
 * checks exp and nbf.  Per worker, emptied with the configuration; kept out
 * of core dumps like the keys.
 */

typedef struct {
    void                        *conf;
    time_t                       exp;
    time_t                       nbf;
    size_t                       len;
    size_t                       sub_len;
    u_char                       sub[NGX_HTTP_BYOK_JWT_SUB_MAX];
    u_char                       token[NGX_HTTP_BYOK_TOKEN_MAX];
} ngx_http_byok_token_t;


static ngx_http_byok_token_t  *ngx_http_byok_tokens;
static volatile ngx_cycle_t   *ngx_http_byok_tokens_cycle;


static void ngx_http_byok_ctx_cleanup(void *data);
static ngx_int_t ngx_http_byok_bearer(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_http_byok_token_t *ngx_http_byok_token_slot(
    ngx_http_request_t *r, ngx_str_t *token, ngx_uint_t create);
static ngx_uint_t ngx_http_byok_same_verifier(ngx_http_byok_loc_conf_t *a,
    ngx_http_byok_loc_conf_t *b);
static ngx_uint_t ngx_http_byok_equal(const u_char *a, const u_char *b,
    size_t n);
static ngx_int_t ngx_http_byok_unauthorized(ngx_http_request_t *r,
    ngx_uint_t invalid);


ngx_int_t
ngx_http_byok_authenticate(ngx_http_request_t *r, ngx_http_byok_ctx_t **ctxp)
{
    json_t                    *claims, *sub;
    ngx_str_t                  token;
    const char                *reason;
    ngx_http_byok_ctx_t       *ctx;
    ngx_http_byok_loc_conf_t  *blcf;
    ngx_http_byok_jwt_opts_t   opts;

    ctx = ngx_http_byok_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    *ctxp = ctx;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    if (ctx->authenticated) {

        if (ngx_http_byok_same_verifier(ctx->verified_by, blcf)) {
            return NGX_OK;
        }

        /*
         * redirected to a location of other keys, issuer or audience:
         * what the token was verified with there does not count here.  It
         * is verified again as it was sent: an injection has removed the
         * Authorization header since.
         */

        ctx->authenticated = 0;

        if (ctx->claims != NULL) {
            json_decref(ctx->claims);
            ctx->claims = NULL;
        }

        token = ctx->bearer;

    } else if (ngx_http_byok_bearer(r, &token) != NGX_OK) {
        return ngx_http_byok_unauthorized(r, 0);
    }

    opts.now = ngx_time();
    opts.leeway = blcf->jwt_leeway;
    opts.issuer = blcf->jwt_issuer.len ? (char *) blcf->jwt_issuer.data
                                       : NULL;
    opts.audience = blcf->jwt_audience.len ? (char *) blcf->jwt_audience.data
                                           : NULL;

    claims = NULL;

    if (blcf->jwt_keys == NULL
        || ngx_http_byok_jwt_verify(token.data, token.len,
                                    blcf->jwt_keys->elts,
                                    blcf->jwt_keys->nelts, &opts, &claims,
                                    &reason)
           != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "byok: bearer token refused: %s",
                      blcf->jwt_keys ? reason : "no key configured");
        return ngx_http_byok_unauthorized(r, 1);
    }

    ctx->claims = claims;

    sub = json_object_get(claims, "sub");

    ctx->user.len = json_string_length(sub);
    ctx->user.data = ngx_pnalloc(r->pool, ctx->user.len + 1);
    if (ctx->user.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ctx->user.data, json_string_value(sub), ctx->user.len + 1);

    ctx->authenticated = 1;
    ctx->bearer = token;
    ctx->verified_by = blcf;

    return NGX_OK;
}


/*
 * The runtime lookup's identity: the verified sub, from this worker's cache
 * of verified tokens when it holds this one.
 */

ngx_int_t
ngx_http_byok_authenticate_cached(ngx_http_request_t *r,
    ngx_http_byok_ctx_t **ctxp)
{
    time_t                     now;
    json_t                    *v;
    ngx_int_t                  rc;
    ngx_str_t                  token;
    ngx_http_byok_ctx_t       *ctx;
    ngx_http_byok_token_t     *t;
    ngx_http_byok_loc_conf_t  *blcf;

    ctx = ngx_http_byok_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    *ctxp = ctx;

    if (ctx->authenticated || ngx_http_byok_bearer(r, &token) != NGX_OK) {
        return ngx_http_byok_authenticate(r, ctxp);
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    t = ngx_http_byok_token_slot(r, &token, 0);

    if (t != NULL) {
        now = ngx_time();

        if (now <= t->exp + blcf->jwt_leeway
            && (t->nbf == 0 || now + blcf->jwt_leeway >= t->nbf))
        {
            ctx->user.data = ngx_pnalloc(r->pool, t->sub_len + 1);
            if (ctx->user.data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(ctx->user.data, t->sub, t->sub_len);
            ctx->user.data[t->sub_len] = '\0';
            ctx->user.len = t->sub_len;
            ctx->authenticated = 1;
            ctx->bearer = token;
            ctx->verified_by = blcf;

            return NGX_OK;
        }
    }

    rc = ngx_http_byok_authenticate(r, ctxp);

    if (rc != NGX_OK || ctx->claims == NULL) {
        return rc;
    }

    t = ngx_http_byok_token_slot(r, &token, 1);

    if (t != NULL && ctx->user.len <= sizeof(t->sub)) {
        v = json_object_get(ctx->claims, "exp");
        t->exp = (time_t) json_number_value(v);

        v = json_object_get(ctx->claims, "nbf");
        t->nbf = v ? (time_t) json_number_value(v) : 0;

        t->conf = blcf;
        t->len = token.len;
        t->sub_len = ctx->user.len;
        ngx_memcpy(t->sub, ctx->user.data, ctx->user.len);
        ngx_memcpy(t->token, token.data, token.len);
    }

    return NGX_OK;
}


/* the worker exits: the verified tokens are wiped and freed */

void
ngx_http_byok_tokens_free(void)
{
    if (ngx_http_byok_tokens == NULL) {
        return;
    }

    ngx_http_byok_wipe(ngx_http_byok_tokens,
                       NGX_HTTP_BYOK_TOKENS * sizeof(ngx_http_byok_token_t));
    ngx_free(ngx_http_byok_tokens);

    ngx_http_byok_tokens = NULL;
    ngx_http_byok_tokens_cycle = NULL;
}


static ngx_http_byok_token_t *
ngx_http_byok_token_slot(ngx_http_request_t *r, ngx_str_t *token,
    ngx_uint_t create)
{
    size_t                  n;
    ngx_http_byok_token_t  *t;

    if (token->len > NGX_HTTP_BYOK_TOKEN_MAX) {
        return NULL;
    }

    if (ngx_http_byok_tokens_cycle != ngx_cycle) {

        /* a new configuration: its keys may not verify what is cached */

        if (ngx_http_byok_tokens != NULL) {
            ngx_http_byok_wipe(ngx_http_byok_tokens,
                               NGX_HTTP_BYOK_TOKENS
                               * sizeof(ngx_http_byok_token_t));
        }

        ngx_http_byok_tokens_cycle = ngx_cycle;
    }

    if (ngx_http_byok_tokens == NULL) {
        if (!create) {
            return NULL;
        }

        ngx_http_byok_tokens = ngx_memalign(ngx_pagesize,
                                            NGX_HTTP_BYOK_TOKENS
                                            * sizeof(ngx_http_byok_token_t),
                                            r->connection->log);
        if (ngx_http_byok_tokens == NULL) {
            return NULL;
        }

        ngx_memzero(ngx_http_byok_tokens,
                    NGX_HTTP_BYOK_TOKENS * sizeof(ngx_http_byok_token_t));

#if defined(MADV_DONTDUMP)
        (void) madvise(ngx_http_byok_tokens,
                       NGX_HTTP_BYOK_TOKENS * sizeof(ngx_http_byok_token_t),
                       MADV_DONTDUMP);
#endif
    }

    /*
     * The slot is chosen by the token's last bytes (its signature, for a
     * JWT): which slot does not decide anything, the comparison does.
     */

    n = ngx_min(token->len, NGX_HTTP_BYOK_TOKEN_HASHED);

    t = &ngx_http_byok_tokens[ngx_murmur_hash2(token->data + token->len - n, n)
                              % NGX_HTTP_BYOK_TOKENS];

    if (create) {
        return t;
    }

    if (t->conf != ngx_http_get_module_loc_conf(r, ngx_http_byok_module)
        || t->len != token->len
        || !ngx_http_byok_equal(t->token, token->data, token->len))
    {
        return NULL;
    }

    return t;
}


/*
 * Compares in a time that depends on the length only, eight bytes at a
 * time: CRYPTO_memcmp() goes byte by byte, about 1,000 instructions for a
 * 200-byte token.
 */

static ngx_uint_t
ngx_http_byok_equal(const u_char *a, const u_char *b, size_t n)
{
    uint64_t  x, y, d;

    d = 0;

    for ( /* void */ ; n >= sizeof(uint64_t); n -= sizeof(uint64_t)) {
        ngx_memcpy(&x, a, sizeof(uint64_t));
        ngx_memcpy(&y, b, sizeof(uint64_t));
        d |= x ^ y;
        a += sizeof(uint64_t);
        b += sizeof(uint64_t);
    }

    while (n--) {
        d |= *a++ ^ *b++;
    }

    return d == 0;
}


static ngx_int_t
ngx_http_byok_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL) {
        return NGX_DECLINED;
    }

    *token = h->value;

    if (token->len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(token->data, (u_char *) "Bearer ", 7) != 0)
    {
        return NGX_DECLINED;
    }

    token->data += 7;
    token->len -= 7;

    while (token->len && token->data[0] == ' ') {
        token->data++;
        token->len--;
    }

    return NGX_OK;
}


/*
 * Locations that inherit their JWT settings share the keys array: a token
 * verified in one is verified for the other.
 */

static ngx_uint_t
ngx_http_byok_same_verifier(ngx_http_byok_loc_conf_t *a,
    ngx_http_byok_loc_conf_t *b)
{
    return a == b
           || (a->jwt_keys == b->jwt_keys
               && a->jwt_leeway == b->jwt_leeway
               && a->jwt_issuer.len == b->jwt_issuer.len
               && (a->jwt_issuer.len == 0
                   || ngx_strncmp(a->jwt_issuer.data, b->jwt_issuer.data,
                                  a->jwt_issuer.len) == 0)
               && a->jwt_audience.len == b->jwt_audience.len
               && (a->jwt_audience.len == 0
                   || ngx_strncmp(a->jwt_audience.data, b->jwt_audience.data,
                                  a->jwt_audience.len) == 0));
}


/*
 * An internal redirect (error_page to the retry location) clears module
 * contexts; the one this request had is found again by its pool cleanup.
 */

ngx_http_byok_ctx_t *
ngx_http_byok_find_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_byok_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_byok_module);

    if (ctx != NULL || !r->internal) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_byok_ctx_cleanup) {
            ctx = cln->data;

            if (ctx->request == r) {
                ngx_http_set_ctx(r, ctx, ngx_http_byok_module);
                return ctx;
            }
        }
    }

    return NULL;
}


ngx_http_byok_ctx_t *
ngx_http_byok_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_byok_ctx_t  *ctx;

    ctx = ngx_http_byok_find_ctx(r);

    if (ctx != NULL) {
        return ctx;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_byok_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_byok_ctx_cleanup;
    cln->data = ctx;

    ctx->request = r;
    ctx->pool = r->pool;

    ngx_http_set_ctx(r, ctx, ngx_http_byok_module);

    return ctx;
}


static ngx_int_t
ngx_http_byok_unauthorized(ngx_http_request_t *r, ngx_uint_t invalid)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");

    if (invalid) {
        ngx_str_set(&h->value, "Bearer error=\"invalid_token\"");

    } else {
        ngx_str_set(&h->value, "Bearer");
    }

    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}


static void
ngx_http_byok_ctx_cleanup(void *data)
{
    ngx_http_byok_ctx_t  *ctx = data;

    if (ctx->claims != NULL) {
        json_decref(ctx->claims);
        ctx->claims = NULL;
    }

    /* plaintext copies of a key made for this request */

    ngx_http_byok_wipe_copies(ctx);

    ngx_http_byok_wipe_str(&ctx->selected.value);
    ngx_http_byok_wipe_str(&ctx->injected);
}
