
/*
 * The user API (byok_api): /me/provider-keys and its sub-resources, the
 * public catalog (byok_catalog_api) and the OAuth placeholder (byok_oauth).
 */


#include "ngx_http_byok.h"

#include <pthread.h>
#include "ngx_http_byok_validate.h"


typedef enum {
    NGX_HTTP_BYOK_ROUTE_KEYS = 0,
    NGX_HTTP_BYOK_ROUTE_KEY,
    NGX_HTTP_BYOK_ROUTE_TEST,
    NGX_HTTP_BYOK_ROUTE_ORDER
} ngx_http_byok_route_e;


typedef struct {
    ngx_str_t                  value;     /* plaintext, wiped after use */
    ngx_str_t                  user;
    ngx_str_t                  provider;
    ngx_http_byok_main_conf_t *bmcf;
} ngx_http_byok_seal_ctx_t;


#define NGX_HTTP_BYOK_WRITE_CREATE  0
#define NGX_HTTP_BYOK_WRITE_UPDATE  1
#define NGX_HTTP_BYOK_WRITE_REVOKE  2
#define NGX_HTTP_BYOK_WRITE_ORDER   3


/* a store write, run in the thread pool */
typedef struct {
    ngx_thread_task_t          *task;
    ngx_uint_t                  kind;
    ngx_http_request_t         *request;
    ngx_http_byok_ctx_t        *ctx;
    ngx_http_byok_main_conf_t  *bmcf;
    ngx_http_byok_store_t      *store;

    ngx_http_byok_key_t         key;         /* create: in; all: out */
    ngx_http_byok_audit_t       audit;
    ngx_http_byok_seal_ctx_t    sctx;
    size_t                      blob_max;
    u_char                     *wipe;        /* plaintext to wipe */
    size_t                      wipe_len;

    int64_t                     id;
    const char                 *label;
    int64_t                     priority;
    const char                 *provider;
    int64_t                    *ids;
    size_t                      n;

    int                         rc;
    char                        err[256];
    ngx_http_byok_key_t        *list;        /* order: malloc'ed */
    size_t                      nlist;

    unsigned                    set_priority:1;
    unsigned                    activate:1;
} ngx_http_byok_write_t;


static ngx_http_byok_write_t *ngx_http_byok_write_alloc(
    ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx, ngx_uint_t kind,
    const char *action);
static ngx_int_t ngx_http_byok_write_post(ngx_http_request_t *r,
    ngx_http_byok_write_t *w);
static void ngx_http_byok_write_thread(void *data, ngx_log_t *log);
static void ngx_http_byok_write_done(ngx_event_t *ev);
static void ngx_http_byok_write_wipe(ngx_http_byok_write_t *w);
static ngx_int_t ngx_http_byok_api_created(ngx_http_request_t *r,
    ngx_http_byok_write_t *w);
static u_char *ngx_http_byok_strdup(ngx_pool_t *pool, const char *s);
static ngx_int_t ngx_http_byok_api_route(ngx_http_request_t *r,
    ngx_http_byok_route_e *route, int64_t *id);
static void ngx_http_byok_api_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_byok_api_dispatch(ngx_http_request_t *r,
    json_t *body);
static ngx_int_t ngx_http_byok_api_list(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_api_get(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, int64_t id);
static ngx_int_t ngx_http_byok_api_create(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, json_t *body);
static ngx_int_t ngx_http_byok_api_patch(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, int64_t id, json_t *body);
static ngx_int_t ngx_http_byok_api_revoke(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, int64_t id);
static ngx_int_t ngx_http_byok_api_order(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, json_t *body);
static int ngx_http_byok_api_seal(void *data, int64_t id, unsigned char *blob,
    size_t *blob_len, uint32_t *master_id);
static json_t *ngx_http_byok_time_json(int64_t t);
static json_t *ngx_http_byok_read_body(ngx_http_request_t *r,
    ngx_int_t *rc);
static ngx_int_t ngx_http_byok_send_invalid(ngx_http_request_t *r,
    ngx_http_byok_invalid_t *err);
static ngx_int_t ngx_http_byok_store_failed(ngx_http_request_t *r,
    ngx_http_byok_main_conf_t *bmcf);
static ngx_http_byok_store_t *ngx_http_byok_get_store(ngx_http_request_t *r);
static void ngx_http_byok_wipe_body(ngx_http_request_t *r, u_char *copy,
    size_t len);
static void ngx_http_byok_audit_init(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, ngx_http_byok_audit_t *audit,
    const char *action);
static ngx_int_t ngx_http_byok_too_large_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_byok_too_large_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;

static u_char  ngx_http_byok_too_large[] =
    "{\"error\":\"body_too_large\","
    "\"message\":\"The request body is too large.\"}\n";


ngx_int_t
ngx_http_byok_api_handler(ngx_http_request_t *r)
{
    int64_t                 id;
    ngx_int_t               rc;
    ngx_http_byok_ctx_t    *ctx;
    ngx_http_byok_route_e   route;

    id = 0;

    rc = ngx_http_byok_authenticate(r, &ctx);

    if (rc == NGX_HTTP_UNAUTHORIZED) {
        return ngx_http_byok_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                        "unauthorized",
                                        "A valid bearer token is required.",
                                        NULL);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_byok_api_route(r, &route, &id) != NGX_OK) {
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "No such resource.", NULL);
    }

    switch (route) {

    case NGX_HTTP_BYOK_ROUTE_KEYS:

        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            ctx->metric = NGX_HTTP_BYOK_METRIC_LIST;
            ngx_http_discard_request_body(r);
            return ngx_http_byok_api_list(r, ctx);
        }

        ctx->metric = NGX_HTTP_BYOK_METRIC_CREATE;

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_byok_method_not_allowed(r, "GET, POST");
        }

        break;

    case NGX_HTTP_BYOK_ROUTE_KEY:

        if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
            ctx->metric = NGX_HTTP_BYOK_METRIC_GET;
            ngx_http_discard_request_body(r);
            return ngx_http_byok_api_get(r, ctx, id);
        }

        if (r->method == NGX_HTTP_DELETE) {
            ctx->metric = NGX_HTTP_BYOK_METRIC_REVOKE;
            ngx_http_discard_request_body(r);
            return ngx_http_byok_api_revoke(r, ctx, id);
        }

        ctx->metric = NGX_HTTP_BYOK_METRIC_UPDATE;

        if (r->method != NGX_HTTP_PATCH) {
            return ngx_http_byok_method_not_allowed(r,
                                                    "GET, PATCH, DELETE");
        }

        break;

    case NGX_HTTP_BYOK_ROUTE_TEST:

        ctx->metric = NGX_HTTP_BYOK_METRIC_TEST;

        if (r->method != NGX_HTTP_POST) {
            return ngx_http_byok_method_not_allowed(r, "POST");
        }

        ngx_http_discard_request_body(r);
        return ngx_http_byok_probe_handler(r, ctx, id);

    default: /* NGX_HTTP_BYOK_ROUTE_ORDER */

        ctx->metric = NGX_HTTP_BYOK_METRIC_ORDER;

        if (r->method != NGX_HTTP_PUT) {
            return ngx_http_byok_method_not_allowed(r, "PUT");
        }

        break;
    }

    /* a JSON body follows */

    if (r->headers_in.content_type == NULL
        || r->headers_in.content_type->value.len < 16
        || ngx_strncasecmp(r->headers_in.content_type->value.data,
                           (u_char *) "application/json", 16) != 0
        || (r->headers_in.content_type->value.len > 16
            && r->headers_in.content_type->value.data[16] != ';'
            && r->headers_in.content_type->value.data[16] != ' '))
    {
        return ngx_http_byok_send_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                        "unsupported_media_type",
                                        "Send the body as "
                                        "Content-Type: application/json.",
                                        NULL);
    }

    if (r->headers_in.content_length_n > NGX_HTTP_BYOK_BODY_MAX) {
        r->keepalive = 0;
        return ngx_http_byok_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "body_too_large",
                                        "The request body is larger than "
                                        "16 KiB.", NULL);
    }

    ctx->route = route;
    ctx->id = id;

    r->request_body_in_single_buf = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_byok_api_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_byok_api_body_handler(ngx_http_request_t *r)
{
    json_t     *body;
    ngx_int_t   rc;

    body = ngx_http_byok_read_body(r, &rc);

    if (body == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_byok_api_dispatch(r, body);

    json_decref(body);

    ngx_http_finalize_request(r, rc);
}


static ngx_int_t
ngx_http_byok_api_dispatch(ngx_http_request_t *r, json_t *body)
{
    ngx_http_byok_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_byok_module);

    switch (ctx->route) {

    case NGX_HTTP_BYOK_ROUTE_KEYS:
        return ngx_http_byok_api_create(r, ctx, body);

    case NGX_HTTP_BYOK_ROUTE_KEY:
        return ngx_http_byok_api_patch(r, ctx, ctx->id, body);

    default: /* NGX_HTTP_BYOK_ROUTE_ORDER */
        return ngx_http_byok_api_order(r, ctx, body);
    }
}


static ngx_int_t
ngx_http_byok_api_route(ngx_http_request_t *r, ngx_http_byok_route_e *route,
    int64_t *id)
{
    u_char                    *p, *last;
    ngx_str_t                  path;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (clcf->name.len && path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;

        /* "location /me/provider-keys/" keeps the slash of the prefix */

        if (clcf->name.data[clcf->name.len - 1] == '/') {
            path.data--;
            path.len++;
        }
    }

    if (path.len == 0 || (path.len == 1 && path.data[0] == '/')) {
        *route = NGX_HTTP_BYOK_ROUTE_KEYS;
        return NGX_OK;
    }

    if (path.data[0] != '/') {
        return NGX_DECLINED;
    }

    if (path.len == 6 && ngx_strncmp(path.data, "/order", 6) == 0) {
        *route = NGX_HTTP_BYOK_ROUTE_ORDER;
        return NGX_OK;
    }

    p = path.data + 1;
    last = path.data + path.len;
    *id = 0;

    /* ids are positive decimal integers without a sign or leading zero */

    if (p == last || *p == '0') {
        return NGX_DECLINED;
    }

    /* at most 15 digits: every id stays exact in a JavaScript number */

    while (p < last && *p >= '0' && *p <= '9') {
        if (p - path.data > 15) {
            return NGX_DECLINED;
        }

        *id = *id * 10 + (*p++ - '0');
    }

    if (p == last) {
        *route = NGX_HTTP_BYOK_ROUTE_KEY;
        return NGX_OK;
    }

    if ((size_t) (last - p) == 5 && ngx_strncmp(p, "/test", 5) == 0) {
        *route = NGX_HTTP_BYOK_ROUTE_TEST;
        return NGX_OK;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_byok_api_list(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    int                         include_revoked;
    char                       *category, *provider;
    size_t                      i, n;
    json_t                     *body, *list;
    ngx_str_t                   arg;
    ngx_http_byok_key_t        *keys;
    ngx_http_byok_store_t      *store;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    include_revoked = 0;
    category = NULL;
    provider = NULL;

    if (ngx_http_arg(r, (u_char *) "include_revoked", 15, &arg) == NGX_OK) {
        if ((arg.len == 1 && arg.data[0] == '1')
            || (arg.len == 4 && ngx_strncmp(arg.data, "true", 4) == 0))
        {
            include_revoked = 1;

        } else if (!(arg.len == 1 && arg.data[0] == '0')
                   && !(arg.len == 5 && ngx_strncmp(arg.data, "false", 5)
                                        == 0))
        {
            return ngx_http_byok_send_error(r, 422, "validation_failed",
                                            "include_revoked must be 1 "
                                            "or 0.", "include_revoked");
        }
    }

    if (ngx_http_arg(r, (u_char *) "category", 8, &arg) == NGX_OK) {
        if (ngx_http_byok_catalog_category(bmcf->catalog, (char *) arg.data,
                                           arg.len)
            == NULL)
        {
            return ngx_http_byok_send_error(r, 422, "validation_failed",
                                            "Unknown category.", "category");
        }

        category = ngx_http_byok_cstr(r->pool, &arg);
        if (category == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ngx_http_arg(r, (u_char *) "provider", 8, &arg) == NGX_OK) {
        if (ngx_http_byok_catalog_provider(bmcf->catalog, (char *) arg.data,
                                           arg.len)
            == NULL)
        {
            return ngx_http_byok_send_error(r, 422, "validation_failed",
                                            "Unknown provider.", "provider");
        }

        provider = ngx_http_byok_cstr(r->pool, &arg);
        if (provider == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    store = ngx_http_byok_get_store(r);

    if (store == NULL
        || ngx_http_byok_store_list(store, (char *) ctx->user.data, category,
                                    provider, include_revoked, &keys, &n)
           != NGX_HTTP_BYOK_STORE_OK)
    {
        return ngx_http_byok_store_failed(r, bmcf);
    }

    list = json_array();
    body = json_pack("{s:o}", "keys", list);

    if (body == NULL) {
        free(keys);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (json_array_append_new(list, ngx_http_byok_key_json(&keys[i]))
            != 0)
        {
            free(keys);
            json_decref(body);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    free(keys);

    return ngx_http_byok_send_json(r, NGX_HTTP_OK, body);
}


static ngx_int_t
ngx_http_byok_api_get(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    int64_t id)
{
    int                     rc;
    ngx_http_byok_key_t     key;
    ngx_http_byok_store_t  *store;

    store = ngx_http_byok_get_store(r);

    rc = store ? ngx_http_byok_store_get(store, (char *) ctx->user.data, id,
                                         &key)
               : NGX_HTTP_BYOK_STORE_ERROR;

    if (rc == NGX_HTTP_BYOK_STORE_NOT_FOUND) {
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "No such key.", NULL);
    }

    if (rc != NGX_HTTP_BYOK_STORE_OK) {
        return ngx_http_byok_store_failed(r, NULL);
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK,
                                   ngx_http_byok_key_json(&key));
}


static ngx_int_t
ngx_http_byok_api_create(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    json_t *body)
{
    u_char                     *value;
    ngx_http_byok_key_t         key;
    ngx_http_byok_write_t      *w;
    ngx_http_byok_create_t      in;
    ngx_http_byok_invalid_t     err;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    if (ngx_http_byok_validate_create(body, bmcf->catalog, &in, &err) != 0) {
        ngx_http_byok_wipe(in.raw, in.raw_len);
        return ngx_http_byok_send_invalid(r, &err);
    }

    ngx_memzero(&key, sizeof(ngx_http_byok_key_t));

    ngx_cpystrn((u_char *) key.category, (u_char *) in.category->id,
                sizeof(key.category));
    ngx_cpystrn((u_char *) key.provider, (u_char *) in.provider->id,
                sizeof(key.provider));
    ngx_cpystrn((u_char *) key.auth_type, (u_char *) "api_key",
                sizeof(key.auth_type));

    if (in.label != NULL) {
        key.has_label = 1;
        ngx_cpystrn((u_char *) key.label, (u_char *) in.label,
                    sizeof(key.label));
    }

    ngx_memcpy(key.masked, in.masked, NGX_HTTP_BYOK_MASK_SIZE);

    w = ngx_http_byok_write_alloc(r, ctx, NGX_HTTP_BYOK_WRITE_CREATE,
                                  "key.create");
    if (w == NULL) {
        ngx_http_byok_wipe(in.raw, in.raw_len);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the JSON body is freed when this returns: the task gets a copy */

    value = ngx_pnalloc(r->pool, in.value_len);
    if (value == NULL) {
        ngx_http_byok_wipe(in.raw, in.raw_len);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(value, in.value, in.value_len);
    ngx_http_byok_wipe(in.raw, in.raw_len);

    w->key = key;
    w->sctx.value.data = value;
    w->sctx.value.len = in.value_len;
    w->sctx.user = ctx->user;
    w->sctx.provider.data = (u_char *) in.provider->id;
    w->sctx.provider.len = in.provider->id_len;
    w->sctx.bmcf = bmcf;
    w->blob_max = in.value_len + NGX_HTTP_BYOK_SEAL_OVERHEAD;
    w->wipe = value;
    w->wipe_len = in.value_len;
    w->audit.provider = in.provider->id;

    return ngx_http_byok_write_post(r, w);
}


static ngx_int_t
ngx_http_byok_api_created(ngx_http_request_t *r, ngx_http_byok_write_t *w)
{
    size_t            len;
    ngx_table_elt_t  *h;

    ngx_http_byok_cache_invalidate(r, &w->ctx->user, &w->sctx.provider);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");

    h->value.data = ngx_pnalloc(r->pool, r->uri.len + 1 + NGX_INT64_LEN);
    if (h->value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = r->uri.len;

    while (len && r->uri.data[len - 1] == '/') {
        len--;
    }

    h->value.len = ngx_sprintf(h->value.data, "%*s/%L", len, r->uri.data,
                               w->key.id)
                   - h->value.data;

    /* not headers_out.location: nginx would make it absolute */

    return ngx_http_byok_send_json(r, NGX_HTTP_CREATED,
                                   ngx_http_byok_key_json(&w->key));
}


static int
ngx_http_byok_api_seal(void *data, int64_t id, unsigned char *blob,
    size_t *blob_len, uint32_t *master_id)
{
    ngx_http_byok_seal_ctx_t *sctx = data;

    ngx_http_byok_aad_t  aad;

    aad.user = sctx->user.data;
    aad.user_len = sctx->user.len;
    aad.key_id = id;
    aad.provider = sctx->provider.data;
    aad.provider_len = sctx->provider.len;

    *master_id = sctx->bmcf->masters[0].id;

    return ngx_http_byok_seal(&sctx->bmcf->masters[0], &aad,
                              sctx->value.data, sctx->value.len,
                              blob, blob_len);
}


static ngx_int_t
ngx_http_byok_api_patch(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    int64_t id, json_t *body)
{
    ngx_http_byok_patch_t     in;
    ngx_http_byok_write_t    *w;
    ngx_http_byok_invalid_t   err;

    if (ngx_http_byok_validate_patch(body, &in, &err) != 0) {
        return ngx_http_byok_send_invalid(r, &err);
    }

    w = ngx_http_byok_write_alloc(r, ctx, NGX_HTTP_BYOK_WRITE_UPDATE,
                                  "key.update");
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->id = id;
    w->audit.key_id = id;

    if (in.label != NULL) {
        w->label = (char *) ngx_http_byok_strdup(r->pool, in.label);
        if (w->label == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    w->priority = in.priority;
    w->set_priority = in.set_priority ? 1 : 0;
    w->activate = in.activate ? 1 : 0;

    return ngx_http_byok_write_post(r, w);
}


static ngx_int_t
ngx_http_byok_api_revoke(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    int64_t id)
{
    ngx_http_byok_write_t  *w;

    w = ngx_http_byok_write_alloc(r, ctx, NGX_HTTP_BYOK_WRITE_REVOKE,
                                  "key.revoke");
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->id = id;
    w->audit.key_id = id;

    return ngx_http_byok_write_post(r, w);
}


static ngx_int_t
ngx_http_byok_api_order(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    json_t *body)
{
    int64_t                    *ids;
    ngx_http_byok_order_t       in;
    ngx_http_byok_write_t      *w;
    ngx_http_byok_invalid_t     err;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    ids = ngx_palloc(r->pool, NGX_HTTP_BYOK_ORDER_IDS_MAX * sizeof(int64_t));
    if (ids == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_byok_validate_order(body, bmcf->catalog, ids,
                                     NGX_HTTP_BYOK_ORDER_IDS_MAX, &in, &err)
        != 0)
    {
        return ngx_http_byok_send_invalid(r, &err);
    }

    w = ngx_http_byok_write_alloc(r, ctx, NGX_HTTP_BYOK_WRITE_ORDER,
                                  "key.order");
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    w->provider = in.provider->id;
    w->ids = ids;
    w->n = in.n;
    w->audit.provider = in.provider->id;

    return ngx_http_byok_write_post(r, w);
}


/*
 * Store writes wait for a synced commit: they run in the thread pool on the
 * worker's writer connection, so the event loop (and every cached lookup on
 * it) never waits for the disk.  The task owns copies of its inputs in the
 * request pool; the request is kept alive as the copy filter does it.
 */

static ngx_http_byok_write_t *
ngx_http_byok_write_alloc(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    ngx_uint_t kind, const char *action)
{
    ngx_thread_task_t      *task;
    ngx_http_byok_write_t  *w;

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_byok_write_t));
    if (task == NULL) {
        return NULL;
    }

    w = task->ctx;
    w->task = task;
    w->kind = kind;
    w->request = r;
    w->ctx = ctx;
    w->bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    ngx_http_byok_audit_init(r, ctx, &w->audit, action);

    return w;
}


static ngx_int_t
ngx_http_byok_write_post(ngx_http_request_t *r, ngx_http_byok_write_t *w)
{
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = w->bmcf;

    w->store = ngx_http_byok_writer(bmcf, r->connection->log);

    if (w->store == NULL) {
        ngx_http_byok_write_wipe(w);
        return ngx_http_byok_store_failed(r, bmcf);
    }

    w->task->handler = ngx_http_byok_write_thread;
    w->task->event.handler = ngx_http_byok_write_done;
    w->task->event.data = r;

    if (bmcf->thread_pool == NULL
        || ngx_thread_task_post(bmcf->thread_pool, w->task) != NGX_OK)
    {
        ngx_http_byok_write_wipe(w);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;

    return NGX_DONE;
}


/*
 * In a thread: only the task's own data and the writer connection.  Tasks
 * of one worker may run in several threads at once; a transaction spans
 * several calls on the connection, so they take turns.
 */

pthread_mutex_t  ngx_http_byok_writer_lock = PTHREAD_MUTEX_INITIALIZER;


static void
ngx_http_byok_write_thread(void *data, ngx_log_t *log)
{
    ngx_http_byok_write_t *w = data;

    char  *user;

    user = (char *) w->ctx->user.data;

    (void) pthread_mutex_lock(&ngx_http_byok_writer_lock);

    switch (w->kind) {

    case NGX_HTTP_BYOK_WRITE_CREATE:
        w->rc = ngx_http_byok_store_create(w->store, user, &w->key,
                                           w->blob_max,
                                           ngx_http_byok_api_seal, &w->sctx,
                                           &w->audit);
        break;

    case NGX_HTTP_BYOK_WRITE_UPDATE:
        w->rc = ngx_http_byok_store_update(w->store, user, w->id, w->label,
                                           w->set_priority ? &w->priority
                                                           : NULL,
                                           w->activate, &w->audit, &w->key);
        break;

    case NGX_HTTP_BYOK_WRITE_REVOKE:
        w->rc = ngx_http_byok_store_revoke(w->store, user, w->id, &w->audit,
                                           &w->key);
        break;

    default: /* NGX_HTTP_BYOK_WRITE_ORDER */
        w->rc = ngx_http_byok_store_order(w->store, user, w->provider,
                                          w->ids, w->n, &w->audit);

        /* the answer: the provider's keys in their new order */

        if (w->rc == NGX_HTTP_BYOK_STORE_OK) {
            w->rc = ngx_http_byok_store_list(w->store, user, NULL,
                                             w->provider, 0, &w->list,
                                             &w->nlist);
        }

        break;
    }

    if (w->rc == NGX_HTTP_BYOK_STORE_ERROR) {
        ngx_cpystrn((u_char *) w->err,
                    (u_char *) ngx_http_byok_store_error(w->store),
                    sizeof(w->err));
    }

    (void) pthread_mutex_unlock(&ngx_http_byok_writer_lock);

    ngx_http_byok_write_wipe(w);
}


static void
ngx_http_byok_write_done(ngx_event_t *ev)
{
    size_t                  i;
    json_t                 *out, *arr;
    ngx_int_t               rc;
    ngx_str_t               provider;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_thread_task_t      *task;
    ngx_http_byok_write_t  *w;

    r = ev->data;
    c = r->connection;

    task = (ngx_thread_task_t *) ((u_char *) ev
                                  - offsetof(ngx_thread_task_t, event));
    w = task->ctx;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    if (w->rc == NGX_HTTP_BYOK_STORE_NOT_FOUND) {
        rc = ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                      "No such key.", NULL);
        goto done;
    }

    if (w->rc == NGX_HTTP_BYOK_STORE_CONFLICT) {
        rc = ngx_http_byok_send_error(r, 422, "validation_failed",
                                      "ids must list exactly your active "
                                      "keys of this provider.", "ids");
        goto done;
    }

    if (w->rc != NGX_HTTP_BYOK_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0, "byok_store: %s", w->err);
        ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->store_errors, 1);
        rc = ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                      "store_unavailable",
                                      "The key store is unavailable; "
                                      "nothing was changed. Try again "
                                      "later.", NULL);
        goto done;
    }

    switch (w->kind) {

    case NGX_HTTP_BYOK_WRITE_CREATE:
        rc = ngx_http_byok_api_created(r, w);
        break;

    case NGX_HTTP_BYOK_WRITE_ORDER:
        provider.data = (u_char *) w->provider;
        provider.len = ngx_strlen(w->provider);

        ngx_http_byok_cache_invalidate(r, &w->ctx->user, &provider);

        arr = json_array();
        out = json_pack("{s:o}", "keys", arr);

        for (i = 0; out != NULL && i < w->nlist; i++) {
            json_array_append_new(arr, ngx_http_byok_key_json(&w->list[i]));
        }

        rc = (out != NULL) ? ngx_http_byok_send_json(r, NGX_HTTP_OK, out)
                           : NGX_HTTP_INTERNAL_SERVER_ERROR;
        break;

    default: /* NGX_HTTP_BYOK_WRITE_UPDATE, NGX_HTTP_BYOK_WRITE_REVOKE */
        provider.data = (u_char *) w->key.provider;
        provider.len = ngx_strlen(w->key.provider);

        ngx_http_byok_cache_invalidate(r, &w->ctx->user, &provider);

        rc = ngx_http_byok_send_json(r, NGX_HTTP_OK,
                                     ngx_http_byok_key_json(&w->key));
        break;
    }

done:

    free(w->list);
    w->list = NULL;

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static u_char *
ngx_http_byok_strdup(ngx_pool_t *pool, const char *s)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(s);

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s, len + 1);

    return p;
}


static void
ngx_http_byok_write_wipe(ngx_http_byok_write_t *w)
{
    /* the JSON body of a create still holds the plaintext */

    if (w->wipe != NULL) {
        ngx_http_byok_wipe(w->wipe, w->wipe_len);
        w->wipe = NULL;
    }
}


ngx_int_t
ngx_http_byok_catalog_api_handler(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_http_byok_main_conf_t  *bmcf;

    ngx_http_byok_metric_route(r, NGX_HTTP_BYOK_METRIC_CATALOG);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_http_byok_method_not_allowed(r, "GET");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    /* like every JSON answer of the module, it ends in a newline */

    len = bmcf->catalog->public_len;

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(p, bmcf->catalog->public_json, len);
    p[len] = '\n';

    return ngx_http_byok_send_raw(r, NGX_HTTP_OK, p, len + 1);
}


ngx_int_t
ngx_http_byok_oauth_handler(ngx_http_request_t *r)
{
    u_char                          *p, *last, *start;
    ngx_int_t                        rc;
    ngx_http_byok_main_conf_t       *bmcf;
    const ngx_http_byok_provider_t  *provider;

    ngx_http_byok_metric_route(r, NGX_HTTP_BYOK_METRIC_OAUTH);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        return ngx_http_byok_method_not_allowed(r, "GET, POST");
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    /* .../{provider}/start */

    last = r->uri.data + r->uri.len;

    if (r->uri.len < 7 || ngx_strncmp(last - 6, "/start", 6) != 0) {
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "No such resource.", NULL);
    }

    last -= 6;
    start = last;

    for (p = last; p > r->uri.data && p[-1] != '/'; p--) {
        start = p - 1;
    }

    provider = (start < last)
               ? ngx_http_byok_catalog_provider(bmcf->catalog,
                                                (char *) start, last - start)
               : NULL;

    if (provider == NULL) {
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "Unknown provider.", NULL);
    }

    if (provider->oauth && !provider->oauth_available) {
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                        "oauth_not_available",
                                        provider->oauth_notice
                                        ? provider->oauth_notice
                                        : "OAuth is not available yet.",
                                        NULL);
    }

    return ngx_http_byok_send_error(r, NGX_HTTP_NOT_IMPLEMENTED,
                                    "oauth_not_available",
                                    "This provider accepts API keys only.",
                                    NULL);
}


json_t *
ngx_http_byok_key_json(ngx_http_byok_key_t *key)
{
    json_t      *o, *test;
    int64_t      until;
    const char  *status;

    if (key->test_result[0]) {
        test = json_pack("{s:s, s:o, s:o}",
                         "result", key->test_result,
                         "status", key->test_status >= 0
                                   ? json_integer(key->test_status)
                                   : json_null(),
                         "at", ngx_http_byok_time_json(key->test_at));

    } else {
        test = json_null();
    }

    status = key->status;
    until = key->status_until;

    if (ngx_strcmp(status, "cooldown") == 0 && until <= ngx_time()) {
        status = "active";
        until = 0;
    }

    o = json_pack("{s:I, s:s, s:s, s:s, s:o, s:s, s:I, s:b, s:s, s:o, s:o,"
                  " s:o, s:o, s:o, s:o, s:o, s:I, s:I}",
                  "id", (json_int_t) key->id,
                  "category", key->category,
                  "provider", key->provider,
                  "auth_type", key->auth_type,
                  "label", key->has_label ? json_string(key->label)
                                          : json_null(),
                  "masked", key->masked,
                  "rotation_priority", (json_int_t) key->rotation_priority,
                  "rentable", 0,
                  "status", status,
                  "created_at", ngx_http_byok_time_json(key->created_at),
                  "updated_at", ngx_http_byok_time_json(key->updated_at),
                  "revoked_at", ngx_http_byok_time_json(key->revoked_at),
                  "last_test", test,
                  "last_used_at", ngx_http_byok_time_json(key->last_used_at),
                  "status_since", ngx_http_byok_time_json(key->status_at),
                  "status_until", ngx_http_byok_time_json(until),
                  "requests", (json_int_t) key->use_count,
                  "failures", (json_int_t) key->failure_count);

    return o;
}


static json_t *
ngx_http_byok_time_json(int64_t t)
{
    u_char  buf[sizeof("2026-11-26T21:00:00Z")];

    if (t == 0) {
        return json_null();
    }

    return json_stringn((char *) buf, ngx_http_byok_time_iso(buf, t) - buf);
}


static json_t *
ngx_http_byok_read_body(ngx_http_request_t *r, ngx_int_t *rc)
{
    u_char                   *p;
    size_t                    len;
    json_t                   *body;
    ssize_t                   n;
    ngx_buf_t                *b;
    ngx_chain_t              *cl;
    ngx_http_byok_invalid_t   err;

    *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        *rc = ngx_http_byok_send_error(r, NGX_HTTP_BAD_REQUEST,
                                       "invalid_json",
                                       "The request body is empty.", NULL);
        return NULL;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len > NGX_HTTP_BYOK_BODY_MAX) {
        *rc = ngx_http_byok_send_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                       "body_too_large",
                                       "The request body is larger than "
                                       "16 KiB.", NULL);
        return NULL;
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NULL;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p + len, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NULL;
            }

            len += n;
            continue;
        }

        if (b->last != b->pos) {
            len = ngx_cpymem(p + len, b->pos, b->last - b->pos) - p;
        }
    }

    body = ngx_http_byok_parse_body(p, len, &err);

    /* the body may hold a key: never leave it in request memory */

    ngx_http_byok_wipe_body(r, p, len);

    if (body == NULL) {
        *rc = ngx_http_byok_send_invalid(r, &err);
    }

    return body;
}


static ngx_int_t
ngx_http_byok_send_invalid(ngx_http_request_t *r, ngx_http_byok_invalid_t *err)
{
    return ngx_http_byok_send_error(r, (ngx_uint_t) err->status, err->code,
                                    err->message, err->field);
}


/*
 * Every copy of the body nginx made: the body buffers, the client body
 * buffer, and what was read ahead with the headers into r->header_in
 * (found by the body's first bytes).  Then our own copy.
 */

static void
ngx_http_byok_wipe_body(ngx_http_request_t *r, u_char *copy, size_t len)
{
    u_char       *m, *last;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file && b->pos != NULL) {
            ngx_explicit_memzero(b->pos, b->last - b->pos);
        }
    }

    /* only what was read: it may be r->header_in's free space */

    b = r->request_body->buf;

    if (b != NULL && b->start != NULL && !b->in_file) {
        ngx_explicit_memzero(b->start, b->last - b->start);
    }

    b = r->header_in;

    if (b != NULL && len) {
        m = memmem(b->start, b->last - b->start, copy, ngx_min(len, 32));

        if (m != NULL) {
            last = ngx_min(m + len, b->last);
            ngx_explicit_memzero(m, last - m);
        }
    }

    ngx_http_byok_wipe(copy, len);
}


static ngx_http_byok_store_t *
ngx_http_byok_get_store(ngx_http_request_t *r)
{
    char                        err[256];
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    if (bmcf->store == NULL) {
        bmcf->store = ngx_http_byok_store_open((char *) bmcf->store_path.data,
                                               err, sizeof(err));
        if (bmcf->store == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "byok_store: %s", err);

        } else {
            ngx_http_byok_store_busy_timeout(bmcf->store,
                                             NGX_HTTP_BYOK_LOOP_BUSY_TIMEOUT);
        }
    }

    return bmcf->store;
}


static ngx_int_t
ngx_http_byok_store_failed(ngx_http_request_t *r,
    ngx_http_byok_main_conf_t *bmcf)
{
    if (bmcf == NULL) {
        bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    }

    if (bmcf->store != NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok_store: %s",
                      ngx_http_byok_store_error(bmcf->store));
    }

    ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->store_errors, 1);

    return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                    "store_unavailable",
                                    "The key store is unavailable; nothing "
                                    "was changed. Try again later.", NULL);
}


static void
ngx_http_byok_audit_init(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    ngx_http_byok_audit_t *audit, const char *action)
{
    ngx_memzero(audit, sizeof(ngx_http_byok_audit_t));

    audit->actor = (char *) ctx->user.data;
    audit->actor_kind = "user";
    audit->action = action;
    audit->user = (char *) ctx->user.data;
    audit->remote_addr = ngx_http_byok_cstr(r->pool,
                                            &r->connection->addr_text);
    audit->outcome = "ok";
}


/*
 * A body over client_max_body_size is refused by nginx itself, before the
 * handler runs or while the body is read, with its HTML page.  In the JSON
 * APIs that page is replaced by the API's own 413, so that every answer
 * has one shape.
 */

ngx_int_t
ngx_http_byok_api_filter_init(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_byok_too_large_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_byok_too_large_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_too_large_header_filter(ngx_http_request_t *r)
{
    ngx_http_byok_ctx_t       *ctx;
    ngx_http_core_loc_conf_t  *clcf;

    /* err_status: the answer is nginx's special response */

    if (r->err_status != NGX_HTTP_REQUEST_ENTITY_TOO_LARGE || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->handler != ngx_http_byok_api_handler
        && clcf->handler != ngx_http_byok_admin_handler
        && clcf->handler != ngx_http_byok_catalog_api_handler
        && clcf->handler != ngx_http_byok_oauth_handler)
    {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_byok_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->too_large = 1;

    r->headers_out.content_length_n = sizeof(ngx_http_byok_too_large) - 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_byok_too_large_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t            *b;
    ngx_chain_t           out;
    ngx_http_byok_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_byok_module);

    if (ctx == NULL || !ctx->too_large || in == NULL) {
        return ngx_http_next_body_filter(r, in);
    }

    /* the page's buffers are dropped: the JSON answer goes once instead */

    if (ctx->too_large_sent) {
        return NGX_OK;
    }

    ctx->too_large_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ngx_http_byok_too_large;
    b->last = b->pos + sizeof(ngx_http_byok_too_large) - 1;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_next_body_filter(r, &out);
}
