
/*
 * The runtime lookup: which key does this user use for this provider?
 * Served from the shared zone, read from the store on a miss, handed out
 * by the auth_request target (byok_lookup), the variables, or injected
 * straight into the proxied request (byok_inject).
 */


#include "ngx_http_byok.h"


typedef struct {
    ngx_http_request_t          *request;
    ngx_http_byok_main_conf_t   *bmcf;
    ngx_str_t                   *user;
    ngx_str_t                   *provider;
    ngx_array_t                 *keys;        /* ngx_http_byok_selected_t */
} ngx_http_byok_load_ctx_t;


static ngx_int_t ngx_http_byok_param_value(ngx_http_request_t *r,
    ngx_http_byok_param_t *param, ngx_str_t *value);
static ngx_int_t ngx_http_byok_lookup_run(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_lookup_load(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, ngx_uint_t generation);
static int ngx_http_byok_lookup_open(void *data,
    const ngx_http_byok_sealed_t *sealed);
static ngx_int_t ngx_http_byok_lookup_platform(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_set_output_header(ngx_http_request_t *r,
    ngx_str_t *name, ngx_str_t *value);
static ngx_int_t ngx_http_byok_set_input_headers(ngx_http_request_t *r,
    ngx_http_byok_inject_t *inject, ngx_str_t *credential);
static ngx_int_t ngx_http_byok_rebuild_input_headers(ngx_http_request_t *r,
    ngx_http_byok_inject_t *inject);
static ngx_uint_t ngx_http_byok_stripped(ngx_http_byok_inject_t *inject,
    ngx_table_elt_t *h);
static ngx_int_t ngx_http_byok_inject_header(ngx_conf_t *cf,
    ngx_table_elt_t *h, char *name, char *value);
static void ngx_http_byok_wipe_upstream(void *data);
static ngx_inline void ngx_http_byok_wipe_request(ngx_http_upstream_t *u);
static ngx_int_t ngx_http_byok_keyed(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static void ngx_http_byok_quiet_log(ngx_http_request_t *r);
static ngx_int_t ngx_http_byok_relocated(ngx_http_request_t *r);
static ngx_int_t ngx_http_byok_no_key(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_redirected(ngx_http_request_t *r);
static ngx_int_t ngx_http_byok_same_provider(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_retry(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, ngx_uint_t status);
static void ngx_http_byok_forget(ngx_http_byok_ctx_t *ctx);
static void ngx_http_byok_report(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, ngx_uint_t status);
static time_t ngx_http_byok_retry_after(ngx_http_request_t *r, time_t max);
static ngx_int_t ngx_http_byok_source_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_byok_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;


#define NGX_HTTP_BYOK_VAR_KEY       0
#define NGX_HTTP_BYOK_VAR_KEY_ID    1
#define NGX_HTTP_BYOK_VAR_SOURCE    2
#define NGX_HTTP_BYOK_VAR_MASKED    3
#define NGX_HTTP_BYOK_VAR_USER      4
#define NGX_HTTP_BYOK_VAR_PROVIDER  5


static ngx_http_variable_t  ngx_http_byok_vars[] = {

    { ngx_string("byok_key"), NULL, ngx_http_byok_variable,
      NGX_HTTP_BYOK_VAR_KEY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("byok_key_id"), NULL, ngx_http_byok_variable,
      NGX_HTTP_BYOK_VAR_KEY_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("byok_key_source"), NULL, ngx_http_byok_variable,
      NGX_HTTP_BYOK_VAR_SOURCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("byok_key_masked"), NULL, ngx_http_byok_variable,
      NGX_HTTP_BYOK_VAR_MASKED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("byok_user"), NULL, ngx_http_byok_variable,
      NGX_HTTP_BYOK_VAR_USER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("byok_provider"), NULL, ngx_http_byok_variable,
      NGX_HTTP_BYOK_VAR_PROVIDER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_byok_key_header = ngx_string("X-BYOK-Key");
static ngx_str_t  ngx_http_byok_key_id_header = ngx_string("X-BYOK-Key-Id");
static ngx_str_t  ngx_http_byok_source_header = ngx_string("X-BYOK-Source");

static ngx_str_t  ngx_http_byok_source_names[] = {
    ngx_string("none"),
    ngx_string("user"),
    ngx_string("platform")
};


/*
 * Runs the lookup once per request.  NGX_OK with ctx->lookup_status set to
 * 0 (a key or "none" was found) or to the HTTP status that refuses it.
 */

ngx_int_t
ngx_http_byok_lookup(ngx_http_request_t *r, ngx_http_byok_ctx_t **ctxp)
{
    ngx_int_t             rc;
    ngx_http_byok_ctx_t  *ctx;

    ctx = ngx_http_byok_get_ctx(r);
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    *ctxp = ctx;

    if (ctx->looked_up) {
        return NGX_OK;
    }

    rc = ngx_http_byok_lookup_run(r, ctx);

    if (rc == NGX_OK) {
        ctx->looked_up = 1;
    }

    return rc;
}


static ngx_int_t
ngx_http_byok_lookup_run(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    ngx_int_t                        rc;
    ngx_str_t                        user, provider;
    ngx_uint_t                       generation;
    ngx_http_byok_loc_conf_t        *blcf;
    ngx_http_byok_main_conf_t       *bmcf;
    const ngx_http_byok_provider_t  *p;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    ctx->source = NGX_HTTP_BYOK_SOURCE_NONE;

    if (!bmcf->enabled || blcf->provider == NULL) {
        ctx->lookup_status = NGX_HTTP_FORBIDDEN;
        return NGX_OK;
    }

    p = blcf->provider_entry;

    if (p == NULL) {
        if (ngx_http_byok_param_value(r, blcf->provider, &provider) != NGX_OK)
        {
            return NGX_ERROR;
        }

        p = ngx_http_byok_catalog_provider(bmcf->catalog,
                                           (char *) provider.data,
                                           provider.len);
        if (p == NULL) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "byok: unknown provider \"%V\"", &provider);
            ctx->lookup_status = NGX_HTTP_BAD_REQUEST;
            return NGX_OK;
        }
    }

    ctx->entry = p;
    ctx->provider.data = (u_char *) p->id;
    ctx->provider.len = p->id_len;

    /* identity: a trusted value from the configuration, or the JWT's sub */

    if (blcf->user != NULL) {
        if (ngx_http_byok_param_value(r, blcf->user, &user) != NGX_OK) {
            return NGX_ERROR;
        }

        if (user.len == 0 || user.len > NGX_HTTP_BYOK_USER_MAX) {
            ctx->lookup_status = NGX_HTTP_UNAUTHORIZED;
            return NGX_OK;
        }

        /* the store takes C strings */

        ctx->user.data = (u_char *) ngx_http_byok_cstr(r->pool, &user);
        if (ctx->user.data == NULL) {
            return NGX_ERROR;
        }

        ctx->user.len = user.len;

    } else {
        rc = ngx_http_byok_authenticate_cached(r, &ctx);

        if (rc == NGX_HTTP_UNAUTHORIZED) {
            ctx->lookup_status = NGX_HTTP_UNAUTHORIZED;
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }
    }

    rc = ngx_http_byok_cache_get(r, &ctx->user, &ctx->provider,
                                 &ctx->selected, &generation);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_http_byok_lookup_load(r, ctx, generation);

        if (rc == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ctx->lookup_status = NGX_HTTP_SERVICE_UNAVAILABLE;
            return NGX_OK;
        }
    }

    if (ctx->selected.id) {
        ctx->source = NGX_HTTP_BYOK_SOURCE_USER;

    } else {
        if (ngx_http_byok_lookup_platform(r, ctx) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->lookups[ctx->source], 1);

    if (ctx->source == NGX_HTTP_BYOK_SOURCE_NONE) {
        ctx->lookup_status = NGX_HTTP_FORBIDDEN;
        return NGX_OK;
    }

    ctx->lookup_status = 0;

    return NGX_OK;
}


/*
 * A directive's value for this request.  When it is one variable, as in
 * "byok_user $http_x_user", the variable is read as it is: the script
 * engine would evaluate it twice and copy it.
 */

static ngx_int_t
ngx_http_byok_param_value(ngx_http_request_t *r, ngx_http_byok_param_t *param,
    ngx_str_t *value)
{
    ngx_http_variable_value_t  *vv;

    if (param->index == NGX_ERROR) {
        return ngx_http_complex_value(r, &param->value, value);
    }

    vv = ngx_http_get_flushed_variable(r, param->index);

    if (vv == NULL || vv->not_found) {
        ngx_str_set(value, "");
        return NGX_OK;
    }

    value->data = vv->data;
    value->len = vv->len;

    return NGX_OK;
}


/*
 * A cache miss: reads and opens the user's usable keys for the provider in
 * selection order, caches them all and selects the first.  NGX_DECLINED
 * when the store cannot be read.
 */

static ngx_int_t
ngx_http_byok_lookup_load(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    ngx_uint_t generation)
{
    int                         rc;
    time_t                      now;
    ngx_uint_t                  i, used;
    ngx_http_byok_selected_t   *keys;
    ngx_http_byok_load_ctx_t    lctx;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    if (bmcf->store == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok: lookup of user \"%V\" for \"%V\": "
                      "the store is not open", &ctx->user, &ctx->provider);
        return NGX_DECLINED;
    }

    lctx.request = r;
    lctx.bmcf = bmcf;
    lctx.user = &ctx->user;
    lctx.provider = &ctx->provider;
    lctx.keys = ngx_array_create(r->pool, 2,
                                 sizeof(ngx_http_byok_selected_t));
    if (lctx.keys == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_http_byok_store_sealed(bmcf->store, (char *) ctx->user.data,
                                    (char *) ctx->provider.data, 0,
                                    ngx_http_byok_lookup_open, &lctx);

    keys = lctx.keys->elts;

    if (rc != NGX_HTTP_BYOK_STORE_OK) {
        for (i = 0; i < lctx.keys->nelts; i++) {
            ngx_http_byok_wipe_str(&keys[i].value);
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok: lookup of user \"%V\" for \"%V\": %s",
                      &ctx->user, &ctx->provider,
                      ngx_http_byok_store_error(bmcf->store));
        return NGX_DECLINED;
    }

    now = ngx_time();
    used = lctx.keys->nelts;

    for (i = 0; i < lctx.keys->nelts; i++) {
        if (ngx_http_byok_key_usable(keys[i].state, keys[i].until, now)) {
            used = i;
            break;
        }
    }

    ngx_http_byok_cache_put(r, &ctx->user, &ctx->provider, keys,
                            lctx.keys->nelts, generation,
                            used < lctx.keys->nelts ? keys[used].id : 0);

    for (i = 0; i < lctx.keys->nelts; i++) {
        if (i == used) {
            ctx->selected = keys[i];
            continue;
        }

        ngx_http_byok_wipe_str(&keys[i].value);
    }

    return NGX_OK;
}


static int
ngx_http_byok_lookup_open(void *data, const ngx_http_byok_sealed_t *sealed)
{
    ngx_http_byok_load_ctx_t *lctx = data;

    ngx_int_t                  rc;
    ngx_http_byok_selected_t  *sel;

    sel = ngx_array_push(lctx->keys);
    if (sel == NULL) {
        return -1;
    }

    sel->id = sealed->id;
    sel->state = ngx_http_byok_key_state(sealed->status);
    sel->until = (time_t) sealed->status_until;

    rc = ngx_http_byok_unseal(lctx->bmcf, lctx->request->pool, lctx->user,
                              lctx->provider, sealed, &sel->value);

    if (rc == NGX_OK) {

        /*
         * the API stores header-safe values of at most
         * NGX_HTTP_BYOK_VALUE_MAX bytes only; one that is not (written
         * into the store some other way) is never sent or cached
         */

        if (sel->value.len > NGX_HTTP_BYOK_VALUE_MAX) {
            ngx_http_byok_wipe_str(&sel->value);
            lctx->keys->nelts--;

            ngx_log_error(NGX_LOG_ERR, lctx->request->connection->log, 0,
                          "byok: key %L for \"%V\" is longer than %d bytes "
                          "and is not used", sealed->id, lctx->provider,
                          NGX_HTTP_BYOK_VALUE_MAX);
            return 0;
        }

        if (ngx_http_byok_header_value_valid(sel->value.data,
                                             sel->value.len))
        {
            return 0;
        }

        ngx_http_byok_wipe_str(&sel->value);
        lctx->keys->nelts--;

        ngx_log_error(NGX_LOG_ERR, lctx->request->connection->log, 0,
                      "byok: key %L for \"%V\" is not a valid header value "
                      "and is not used", sealed->id, lctx->provider);
        return 0;
    }

    lctx->keys->nelts--;

    if (rc == NGX_ERROR) {
        return -1;
    }

    /* a row that does not open is never handed out, and is loud */

    ngx_log_error(NGX_LOG_ALERT, lctx->request->connection->log, 0,
                  "byok: key %L does not open: its sealed value was "
                  "altered or moved", sealed->id);

    return 0;
}


static ngx_int_t
ngx_http_byok_lookup_platform(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    ngx_str_t                      value;
    ngx_uint_t                     i;
    ngx_http_byok_loc_conf_t      *blcf;
    ngx_http_byok_platform_key_t  *pk;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    if (blcf->platform_keys == NULL) {
        return NGX_OK;
    }

    pk = blcf->platform_keys->elts;

    for (i = 0; i < blcf->platform_keys->nelts; i++) {

        if (pk[i].provider.len != ctx->provider.len
            || ngx_strncmp(pk[i].provider.data, ctx->provider.data,
                           ctx->provider.len) != 0)
        {
            continue;
        }

        if (pk[i].value != NULL) {
            if (ngx_http_complex_value(r, pk[i].value, &value) != NGX_OK) {
                return NGX_ERROR;
            }

        } else {
            value = pk[i].key;
        }

        if (value.len == 0) {
            return NGX_OK;
        }

        if (!ngx_http_byok_header_value_valid(value.data, value.len)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "byok_platform_key for \"%V\" is not a valid "
                          "header value and is not used", &ctx->provider);
            return NGX_OK;
        }

        ctx->selected.id = 0;
        ctx->selected.value.data = ngx_pnalloc(r->pool, value.len);
        if (ctx->selected.value.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ctx->selected.value.data, value.data, value.len);
        ctx->selected.value.len = value.len;

        ctx->source = NGX_HTTP_BYOK_SOURCE_PLATFORM;

        return NGX_OK;
    }

    return NGX_OK;
}


/* byok_lookup: the auth_request target */

ngx_int_t
ngx_http_byok_lookup_handler(ngx_http_request_t *r)
{
    u_char               *p;
    int64_t               n;
    ngx_int_t             rc;
    ngx_str_t             id;
    ngx_http_byok_ctx_t  *ctx;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_byok_lookup(r, &ctx);
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->metric = NGX_HTTP_BYOK_METRIC_LOOKUP;

    if (ctx->lookup_status) {
        return ctx->lookup_status;
    }

    /* the key id in decimal, written backwards; a platform key has none */

    p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    id.data = p + NGX_INT64_LEN;

    for (n = ctx->selected.id; n > 0; n /= 10) {
        *--id.data = (u_char) ('0' + n % 10);
    }

    id.len = p + NGX_INT64_LEN - id.data;

    if (ngx_http_byok_set_output_header(r, &ngx_http_byok_key_header,
                                        &ctx->selected.value)
        != NGX_OK
        || ngx_http_byok_set_output_header(r, &ngx_http_byok_key_id_header,
                                           &id)
           != NGX_OK
        || ngx_http_byok_set_output_header(r, &ngx_http_byok_source_header,
                                      &ngx_http_byok_source_names[ctx->source])
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_byok_keyed(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_byok_expose(ctx);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = 0;
    r->header_only = 1;

    return ngx_http_send_header(r);
}


/*
 * byok_inject: in the precontent phase, before proxy_pass builds the
 * upstream request, the client's credentials are replaced with the key.
 */

ngx_int_t
ngx_http_byok_inject_handler(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len;
    ngx_int_t                   rc;
    ngx_pool_cleanup_t         *cln;
    ngx_http_byok_ctx_t        *ctx;
    ngx_http_byok_inject_t     *inject;
    ngx_http_byok_loc_conf_t   *blcf;
    ngx_http_byok_main_conf_t  *bmcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    if (!blcf->inject || r != r->main) {
        return NGX_DECLINED;
    }

    if (r->internal) {
        rc = ngx_http_byok_redirected(r);

        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (ngx_http_byok_lookup(r, &ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->metric = NGX_HTTP_BYOK_METRIC_INJECT;

    if (ctx->lookup_status) {
        goto refuse;
    }

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    inject = &bmcf->inject[ctx->entry->index];

    /*
     * A valid header value: the catalog's prefix is checked when the
     * catalog is loaded, a stored key when it is read from the store
     * (ngx_http_byok_lookup_open()), a platform key when it is chosen.
     */

    len = inject->add[0].value.len;

    p = ngx_pnalloc(r->pool, len + ctx->selected.value.len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->injected.data = p;
    p = ngx_cpymem(p, inject->add[0].value.data, len);
    p = ngx_cpymem(p, ctx->selected.value.data, ctx->selected.value.len);
    ctx->injected.len = p - ctx->injected.data;

    if (ngx_http_byok_set_input_headers(r, inject, &ctx->injected) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->keyed = 1;
    ngx_http_byok_quiet_log(r);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_byok_wipe_upstream;
    cln->data = r;

    ctx->inject_done = 1;

    return NGX_DECLINED;

refuse:

    /* the answer is complete: the request must not go on to proxy_pass */

    ngx_http_finalize_request(r, ngx_http_byok_no_key(r, ctx));

    return NGX_DONE;
}


/*
 * A key is handed out (byok_lookup's answer, $byok_key), here or in a
 * subrequest: the main request holds it from now on, in a variable, a
 * header or a proxied request.
 */

static ngx_int_t
ngx_http_byok_keyed(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    if (r != r->main) {
        ctx = ngx_http_byok_get_ctx(r->main);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    ctx->keyed = 1;
    ngx_http_byok_quiet_log(r);

    return NGX_OK;
}


/*
 * nginx logs request and response headers and script values at debug
 * level: a connection that carries a key logs nothing below info from the
 * moment the key is handed out to the end of the request.
 */

static void
ngx_http_byok_quiet_log(ngx_http_request_t *r)
{
    if (r->connection->log->log_level > NGX_LOG_INFO) {
        r->connection->log->log_level = NGX_LOG_INFO;
    }
}


/*
 * Every change of location (an internal redirect, error_page, a named
 * location, try_files) sets the connection's log level to the new
 * location's again, before the rewrites run: a request that holds a key
 * is quieted again before anything of the new location runs.  The first
 * handler of the server and of the location rewrite phases: the module's
 * handlers are registered after the rewrite module's, so they run before.
 */

static ngx_int_t
ngx_http_byok_relocated(ngx_http_request_t *r)
{
    ngx_http_byok_ctx_t  *ctx;

    if (!r->internal || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_byok_find_ctx(r);

    if (ctx == NULL || !ctx->keyed) {
        return NGX_DECLINED;
    }

    ngx_http_byok_quiet_log(r);

    /*
     * The request proxied before the change (a refusal intercepted for
     * the retry, a failure sent to a fallback) is finished with; the key
     * in it is wiped now, as the next proxy_pass replaces r->upstream and
     * the cleanup would not find it at the end.
     */

    if (r->upstream != NULL && r->upstream->cleanup == NULL) {
        ngx_http_byok_wipe_request(r->upstream);
    }

    return NGX_DECLINED;
}


/*
 * The request came to this injecting location by a redirect (error_page,
 * a named location) after a lookup, maybe an injection, in another one:
 *   - for another provider, that key is dropped, with the credential and
 *     the extra headers injected for it, whatever its provider answered,
 *     and this location's provider gets a key of its own;
 *   - for this provider, when it refused the key, see ngx_http_byok_retry();
 *   - for this provider otherwise, the credential in place is kept.
 * NGX_OK: look up (again) and inject; NGX_DECLINED: leave the request as it
 * is; otherwise the status to finalize the request with.
 */

static ngx_int_t
ngx_http_byok_redirected(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_uint_t                  status;
    ngx_http_byok_ctx_t        *ctx;
    ngx_http_byok_inject_t     *inject;
    ngx_http_byok_main_conf_t  *bmcf;

    ctx = ngx_http_byok_find_ctx(r);

    if (ctx == NULL || !ctx->looked_up) {
        return NGX_OK;
    }

    status = r->upstream ? r->upstream->headers_in.status_n : 0;

    rc = ngx_http_byok_same_provider(r, ctx);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc) {
        return ctx->inject_done ? ngx_http_byok_retry(r, ctx, status)
                                : NGX_OK;
    }

    if (ctx->inject_done) {
        ngx_http_byok_report(r, ctx, status);

        bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
        inject = &bmcf->inject[ctx->entry->index];

        if (ngx_http_byok_rebuild_input_headers(r, inject) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_http_byok_forget(ctx);

    return NGX_OK;
}


/* 1 when the location's provider is the one the request's key is for */

static ngx_int_t
ngx_http_byok_same_provider(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    ngx_str_t                  name;
    ngx_http_byok_loc_conf_t  *blcf;

    if (ctx->entry == NULL) {
        return 0;
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    if (blcf->provider_entry != NULL) {
        return blcf->provider_entry == ctx->entry;
    }

    if (ngx_http_byok_param_value(r, blcf->provider, &name) != NGX_OK) {
        return NGX_ERROR;
    }

    return name.len == ctx->provider.len
           && ngx_strncmp(name.data, ctx->provider.data, name.len) == 0;
}


/*
 * The provider refused the injected key (proxy_intercept_errors +
 * error_page to a location that injects again): the key's health is
 * recorded and the lookup runs once more, which skips the refused key, so
 * the next key or the platform key is injected.  Once per request.
 */

static ngx_int_t
ngx_http_byok_retry(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    ngx_uint_t status)
{
    if (ctx->retried
        || (status != NGX_HTTP_UNAUTHORIZED && status != 402
            && status != NGX_HTTP_FORBIDDEN
            && status != NGX_HTTP_TOO_MANY_REQUESTS))
    {
        /* an unrelated redirect: the credential is already in place */
        return NGX_DECLINED;
    }

    ngx_http_byok_report(r, ctx, status);

    if (ctx->source != NGX_HTTP_BYOK_SOURCE_USER) {
        /* the platform key was refused: there is nothing else to try */
        return status;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "byok: provider \"%V\" answered %ui to key %L of user "
                  "\"%V\", retrying with the next key",
                  &ctx->provider, status, ctx->selected.id, &ctx->user);

    ngx_http_byok_forget(ctx);
    ctx->retried = 1;

    return NGX_OK;
}


/*
 * The request is done with its key: copies of it handed out are wiped
 * now, as the search at the end looks for the key the request has then.
 */

static void
ngx_http_byok_forget(ngx_http_byok_ctx_t *ctx)
{
    ngx_http_byok_wipe_copies(ctx);
    ngx_http_byok_wipe_str(&ctx->selected.value);
    ngx_http_byok_wipe_str(&ctx->injected);

    ctx->looked_up = 0;
    ctx->inject_done = 0;
    ctx->reported = 0;
    ctx->selected.id = 0;
}


/*
 * What the provider answered to a request that carried a user's key:
 * 401/403 make the key invalid, 402 exhausted, 429 puts it in cool-down;
 * other failures only count.  A change of state is persisted and audited
 * once, by the worker that saw it first.
 */

static void
ngx_http_byok_report(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    ngx_uint_t status)
{
    time_t                      now, until;
    ngx_int_t                   rc;
    ngx_uint_t                  state;
    ngx_http_byok_audit_t       audit;
    ngx_http_byok_main_conf_t  *bmcf;

    if (ctx->reported || ctx->source != NGX_HTTP_BYOK_SOURCE_USER
        || ctx->selected.id == 0 || status < 400)
    {
        return;
    }

    ctx->reported = 1;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    now = ngx_time();
    until = 0;

    switch (status) {

    case NGX_HTTP_UNAUTHORIZED:
    case NGX_HTTP_FORBIDDEN:
        state = NGX_HTTP_BYOK_KEY_INVALID;
        break;

    case 402:
        state = NGX_HTTP_BYOK_KEY_EXHAUSTED;
        break;

    case NGX_HTTP_TOO_MANY_REQUESTS:
        state = NGX_HTTP_BYOK_KEY_COOLDOWN;
        until = now + ngx_http_byok_retry_after(r, bmcf->cooldown_max);
        break;

    default:
        /* 5xx, 404, ...: the provider's or the caller's problem */
        (void) ngx_http_byok_cache_health(r, &ctx->user, &ctx->provider,
                                          ctx->selected.id,
                                          NGX_HTTP_BYOK_KEY_ACTIVE, 0, 1);
        return;
    }

    rc = ngx_http_byok_cache_health(r, &ctx->user, &ctx->provider,
                                    ctx->selected.id, state, until, 1);

    if (rc != NGX_OK || bmcf->store == NULL) {
        return;
    }

    ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->health[state], 1);

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "byok: key %L of user \"%V\" is now %s: provider \"%V\" "
                  "answered %ui", ctx->selected.id, &ctx->user,
                  ngx_http_byok_key_state_name(state), &ctx->provider,
                  status);

    ngx_memzero(&audit, sizeof(ngx_http_byok_audit_t));
    audit.actor = "provider";
    audit.actor_kind = "runtime";
    audit.action = "key.health";
    audit.user = (char *) ctx->user.data;
    audit.key_id = ctx->selected.id;
    audit.provider = (char *) ctx->provider.data;
    audit.remote_addr = ngx_http_byok_cstr(r->pool,
                                           &r->connection->addr_text);
    audit.outcome = ngx_http_byok_key_state_name(state);

    if (ngx_http_byok_store_set_health(bmcf->store, (char *) ctx->user.data,
                                       ctx->selected.id, audit.outcome, now,
                                       until, &audit)
        != NGX_HTTP_BYOK_STORE_OK)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok_store: %s",
                      ngx_http_byok_store_error(bmcf->store));
    }
}


/* Retry-After as delta-seconds or an HTTP-date; 60 s when absent */

static time_t
ngx_http_byok_retry_after(ngx_http_request_t *r, time_t max)
{
    time_t            delay, t;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    delay = 60;

    part = &r->upstream->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len != sizeof("Retry-After") - 1
            || ngx_strncasecmp(h[i].key.data, (u_char *) "Retry-After",
                               h[i].key.len) != 0)
        {
            continue;
        }

        t = ngx_atotm(h[i].value.data, h[i].value.len);

        if (t == NGX_ERROR) {
            t = ngx_parse_http_time(h[i].value.data, h[i].value.len);
            t = (t == NGX_ERROR) ? 60 : t - ngx_time();
        }

        delay = t;
        break;
    }

    if (delay < 1) {
        delay = 1;
    }

    return ngx_min(delay, max);
}


static ngx_int_t
ngx_http_byok_no_key(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    ngx_int_t  rc;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    switch (ctx->lookup_status) {

    case NGX_HTTP_UNAUTHORIZED:
        return ngx_http_byok_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                        "unauthorized",
                                        "A valid identity is required.",
                                        NULL);

    case NGX_HTTP_BAD_REQUEST:
        return ngx_http_byok_send_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_request",
                                        "Unknown provider.", NULL);

    case NGX_HTTP_SERVICE_UNAVAILABLE:
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable.",
                                        NULL);

    default:
        return ngx_http_byok_send_error(r, NGX_HTTP_FORBIDDEN,
                                        "no_key_available",
                                        "No key is available for this "
                                        "provider.", NULL);
    }
}


/*
 * The list is rebuilt without the client's credentials rather than shifted
 * in place: r->headers_in.user_agent, .referer, ... point at elements of the
 * old list, which stay valid.
 */

/*
 * The client's credential headers are replaced with the key: the slot of a
 * removed header takes one of the headers added, so the list is not
 * rebuilt and the pointers r->headers_in keeps into it (host, user_agent,
 * ...) stay right.  Only a client that sent more of them than are added
 * gets its list rebuilt without them.
 */

#define NGX_HTTP_BYOK_SLOTS  8

static ngx_int_t
ngx_http_byok_set_input_headers(ngx_http_request_t *r,
    ngx_http_byok_inject_t *inject, ngx_str_t *credential)
{
    ngx_uint_t        i, nslots;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh, *slots[NGX_HTTP_BYOK_SLOTS];

    nslots = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;

            if (part->nelts == 0) {
                continue;
            }
        }

        if (!ngx_http_byok_stripped(inject, &h[i])) {
            continue;
        }

        if (nslots == ngx_min(inject->nadd, NGX_HTTP_BYOK_SLOTS)) {
            if (ngx_http_byok_rebuild_input_headers(r, inject) != NGX_OK) {
                return NGX_ERROR;
            }

            nslots = 0;
            break;
        }

        slots[nslots++] = &h[i];
    }

    r->headers_in.authorization = NULL;

    for (i = 0; i < inject->nadd; i++) {
        if (i < nslots) {
            nh = slots[i];

        } else {
            nh = ngx_list_push(&r->headers_in.headers);
            if (nh == NULL) {
                return NGX_ERROR;
            }
        }

        *nh = inject->add[i];

        if (i == 0) {
            nh->value = *credential;
        }
    }

    return NGX_OK;
}


/* the list without the headers to strip */

static ngx_int_t
ngx_http_byok_rebuild_input_headers(ngx_http_request_t *r,
    ngx_http_byok_inject_t *inject)
{
    ngx_uint_t        i, n;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    /* the list heads its own first part: it is rebuilt in place */

    headers = r->headers_in.headers;

    n = inject->nadd;

    for (part = &headers.part; part; part = part->next) {
        n += part->nelts;
    }

    if (ngx_list_init(&r->headers_in.headers, r->pool, n,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;

            if (part->nelts == 0) {
                continue;
            }
        }

        if (ngx_http_byok_stripped(inject, &h[i])) {
            continue;
        }

        nh = ngx_list_push(&r->headers_in.headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    return NGX_OK;
}


/* Authorization, any provider's credential header, this provider's extras */

static ngx_uint_t
ngx_http_byok_stripped(ngx_http_byok_inject_t *inject, ngx_table_elt_t *h)
{
    ngx_str_t   *name;
    ngx_uint_t   n;

    /* most headers differ in length from every name */

    if (!(inject->lengths & ((uint64_t) 1 << (h->key.len % 64)))) {
        return 0;
    }

    name = inject->strip;

    for (n = inject->nstrip; n; n--, name++) {
        if (h->key.len == name->len
            && ngx_tolower(h->key.data[0]) == name->data[0]
            && ngx_strncasecmp(h->key.data, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_byok_set_output_header(ngx_http_request_t *r, ngx_str_t *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key = *name;
    h->value = *value;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    return NGX_OK;
}


/* the proxied request's header buffer holds the key: wipe it at the end */

static void
ngx_http_byok_wipe_upstream(void *data)
{
    ngx_http_request_t  *r = data;

    if (r->upstream != NULL) {
        ngx_http_byok_wipe_request(r->upstream);
    }
}


static ngx_inline void
ngx_http_byok_wipe_request(ngx_http_upstream_t *u)
{
    ngx_buf_t  *b;

    if (u->request_bufs == NULL) {
        return;
    }

    b = u->request_bufs->buf;

    if (b != NULL && !b->in_file && b->start != NULL && b->temporary) {
        ngx_explicit_memzero(b->start, b->end - b->start);
    }
}


static ngx_int_t
ngx_http_byok_source_header_filter(ngx_http_request_t *r)
{
    ngx_http_byok_ctx_t       *ctx;
    ngx_http_byok_loc_conf_t  *blcf;

    if (r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_byok_module);

    if (ctx == NULL || !ctx->inject_done) {
        return ngx_http_next_header_filter(r);
    }

    if (r->upstream != NULL) {
        ngx_http_byok_report(r, ctx, r->upstream->headers_in.status_n);
    }

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    if (!blcf->source_header) {
        return ngx_http_next_header_filter(r);
    }

    if (ngx_http_byok_set_output_header(r, &ngx_http_byok_source_header,
                                      &ngx_http_byok_source_names[ctx->source])
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_byok_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char               *p;
    ngx_str_t             s;
    ngx_http_byok_ctx_t  *ctx;

    if (ngx_http_byok_lookup(r, &ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_str_null(&s);

    switch (data) {

    case NGX_HTTP_BYOK_VAR_KEY:
        if (ctx->lookup_status == 0) {
            s = ctx->selected.value;
            ngx_http_byok_expose(ctx);

            if (ngx_http_byok_keyed(r, ctx) != NGX_OK) {
                return NGX_ERROR;
            }
        }
        break;

    case NGX_HTTP_BYOK_VAR_KEY_ID:
        if (ctx->lookup_status == 0 && ctx->selected.id) {
            p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            s.data = p;
            s.len = ngx_sprintf(p, "%L", ctx->selected.id) - p;
        }
        break;

    case NGX_HTTP_BYOK_VAR_SOURCE:
        s = ngx_http_byok_source_names[ctx->lookup_status ? 0 : ctx->source];
        break;

    case NGX_HTTP_BYOK_VAR_MASKED:
        if (ctx->lookup_status != 0) {
            break;
        }

        /* never more than half of a (short, platform) key */

        p = ngx_pnalloc(r->pool, 8 + 3);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_sprintf(p, "%*s***",
                            ngx_min(ctx->selected.value.len / 2, 8),
                            ctx->selected.value.data)
                - p;
        break;

    case NGX_HTTP_BYOK_VAR_USER:
        s = ctx->user;
        break;

    default: /* NGX_HTTP_BYOK_VAR_PROVIDER */
        s = ctx->provider;
        break;
    }

    if (s.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->data = s.data;

    return NGX_OK;
}


ngx_int_t
ngx_http_byok_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_byok_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_byok_lookup_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_byok_main_conf_t  *bmcf;

    /* the raw master key was needed for configuration checks only */

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_byok_module);
    ngx_http_byok_wipe(bmcf->master_raw, sizeof(bmcf->master_raw));

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_SERVER_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_byok_relocated;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_REWRITE_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_byok_relocated;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_byok_inject_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_byok_log_handler;

    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_byok_source_header_filter;

    return NGX_OK;
}


/* byok_platform_key PROVIDER VALUE: a complex value, env:NAME or file:PATH */

/* byok_inject's headers for every provider of the catalog */

ngx_int_t
ngx_http_byok_inject_prepare(ngx_conf_t *cf, ngx_http_byok_main_conf_t *bmcf)
{
    size_t                           i, j, k;
    ngx_str_t                       *name;
    ngx_http_byok_inject_t          *inject;
    ngx_http_byok_catalog_t         *c;
    const ngx_http_byok_provider_t  *p;

    c = bmcf->catalog;

    bmcf->inject = ngx_pcalloc(cf->pool, (c->nproviders + 1)
                                         * sizeof(ngx_http_byok_inject_t));
    if (bmcf->inject == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < c->ncategories; i++) {
        for (j = 0; j < c->categories[i].nproviders; j++) {
            p = &c->categories[i].providers[j];
            inject = &bmcf->inject[p->index];

            /*
             * Removed, in lower case: Authorization, every provider's
             * credential header (the catalog's list is in lower case) and
             * this provider's extra headers.
             */

            inject->strip = ngx_palloc(cf->pool, (1 + c->nauth_headers
                                                  + p->nheaders)
                                                 * sizeof(ngx_str_t));
            if (inject->strip == NULL) {
                return NGX_ERROR;
            }

            name = inject->strip;
            ngx_str_set(name, "authorization");
            name++;

            for (k = 0; k < c->nauth_headers; k++, name++) {
                name->data = (u_char *) c->auth_headers[k];
                name->len = ngx_strlen(c->auth_headers[k]);
            }

            for (k = 0; k < p->nheaders; k++, name++) {
                name->len = ngx_strlen(p->headers[k].name);
                name->data = ngx_pnalloc(cf->pool, name->len);
                if (name->data == NULL) {
                    return NGX_ERROR;
                }

                ngx_strlow(name->data, (u_char *) p->headers[k].name,
                           name->len);
            }

            inject->nstrip = name - inject->strip;

            for (k = 0; k < inject->nstrip; k++) {
                inject->lengths |= (uint64_t) 1 << (inject->strip[k].len % 64);
            }

            /* added: the credential (its value is set per request), extras */

            inject->nadd = 1 + p->nheaders;

            inject->add = ngx_palloc(cf->pool,
                                     inject->nadd * sizeof(ngx_table_elt_t));
            if (inject->add == NULL) {
                return NGX_ERROR;
            }

            if (ngx_http_byok_inject_header(cf, &inject->add[0],
                                            p->auth_header, p->auth_prefix)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            for (k = 0; k < p->nheaders; k++) {
                if (ngx_http_byok_inject_header(cf, &inject->add[1 + k],
                                                p->headers[k].name,
                                                p->headers[k].value)
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_inject_header(ngx_conf_t *cf, ngx_table_elt_t *h, char *name,
    char *value)
{
    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    h->lowcase_key = ngx_pnalloc(cf->pool, h->key.len);
    if (h->lowcase_key == NULL) {
        return NGX_ERROR;
    }

    h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

    return NGX_OK;
}


char *
ngx_http_byok_set_param_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t                          *value, name;
    ngx_uint_t                          i;
    ngx_http_byok_param_t             **pp, *param;
    ngx_http_compile_complex_value_t    ccv;

    pp = (ngx_http_byok_param_t **) (p + cmd->offset);

    if (*pp != NGX_CONF_UNSET_PTR && *pp != NULL) {
        return "is duplicate";
    }

    param = ngx_pcalloc(cf->pool, sizeof(ngx_http_byok_param_t));
    if (param == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &param->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    param->index = NGX_ERROR;
    *pp = param;

    /* "$name": one variable, not a regex capture such as "$1" */

    name.data = value[1].data + 1;
    name.len = value[1].len - 1;

    if (value[1].len < 2 || value[1].data[0] != '$'
        || (name.data[0] >= '0' && name.data[0] <= '9'))
    {
        return NGX_CONF_OK;
    }

    for (i = 0; i < name.len; i++) {
        if (!((name.data[i] >= 'a' && name.data[i] <= 'z')
              || (name.data[i] >= 'A' && name.data[i] <= 'Z')
              || (name.data[i] >= '0' && name.data[i] <= '9')
              || name.data[i] == '_'))
        {
            return NGX_CONF_OK;
        }
    }

    param->index = ngx_http_get_variable_index(cf, &name);
    if (param->index == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_byok_platform_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_loc_conf_t *blcf = conf;

    ngx_str_t                         *value;
    ngx_http_byok_platform_key_t      *pk;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (blcf->platform_keys == NGX_CONF_UNSET_PTR) {
        blcf->platform_keys = ngx_array_create(cf->pool, 4,
                                       sizeof(ngx_http_byok_platform_key_t));
        if (blcf->platform_keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    pk = ngx_array_push(blcf->platform_keys);
    if (pk == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(pk, sizeof(ngx_http_byok_platform_key_t));

    pk->provider = value[1];

    if (ngx_strncmp(value[2].data, "env:", 4) == 0
        || ngx_strncmp(value[2].data, "file:", 5) == 0)
    {
        if (ngx_http_byok_read_secret(cf, &value[2], &pk->key) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "byok_platform_key: %V is not available",
                               &value[2]);
            return NGX_CONF_ERROR;
        }

        while (pk->key.len && (pk->key.data[pk->key.len - 1] == '\n'
                               || pk->key.data[pk->key.len - 1] == '\r'))
        {
            pk->key.len--;
        }

        if (!ngx_http_byok_header_value_valid(pk->key.data, pk->key.len)) {
            ngx_http_byok_wipe_str(&pk->key);
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "byok_platform_key: %V is not a valid "
                               "header value", &value[2]);
            return NGX_CONF_ERROR;
        }

        return NGX_CONF_OK;
    }

    pk->value = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (pk->value == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = pk->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}
