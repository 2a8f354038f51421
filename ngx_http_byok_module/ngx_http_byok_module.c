
/*
 * ngx_http_byok_module: directives, configuration and process lifecycle.
 */


#include "ngx_http_byok.h"

#include <curl/curl.h>
#include <malloc.h>
#include <openssl/crypto.h>


#ifndef NGX_HTTP_BYOK_CATALOG_PATH
#define NGX_HTTP_BYOK_CATALOG_PATH  "/usr/share/nginx-byok/providers.json"
#endif


static void *ngx_http_byok_malloc(size_t size);
static void ngx_http_byok_free(void *p);
static void *ngx_http_byok_curl_realloc(void *p, size_t size);
static char *ngx_http_byok_curl_strdup(const char *s);
static void *ngx_http_byok_curl_calloc(size_t n, size_t size);
static ngx_int_t ngx_http_byok_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_byok_postconfiguration(ngx_conf_t *cf);
static void *ngx_http_byok_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_byok_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_byok_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_byok_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_byok_test_timeout_check(ngx_conf_t *cf, void *post,
    void *data);
static ngx_int_t ngx_http_byok_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_http_byok_init_process(ngx_cycle_t *cycle);
static void ngx_http_byok_exit_process(ngx_cycle_t *cycle);

static ngx_int_t ngx_http_byok_load_catalog(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf);
static ngx_int_t ngx_http_byok_load_masters(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf);
static ngx_int_t ngx_http_byok_load_master(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf, ngx_str_t *source, const char *name);
static ngx_int_t ngx_http_byok_check_store(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf);
static void ngx_http_byok_cleanup_catalog(void *data);
static void ngx_http_byok_cleanup_jwt_keys(void *data);

static char *ngx_http_byok_store(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_byok_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_byok_master_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_byok_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_byok_set_cstr(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_byok_jwt_is_master(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf, ngx_http_byok_jwt_pending_t *pending,
    u_char *raw, ngx_str_t *source);
static ngx_int_t ngx_http_byok_check_jwt_pending(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf);
static char *ngx_http_byok_admin_claim(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_byok_test_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_byok_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


static ngx_conf_post_handler_pt  ngx_http_byok_test_timeout_post =
    ngx_http_byok_test_timeout_check;


static ngx_command_t  ngx_http_byok_commands[] = {

    { ngx_string("byok_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_store,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_catalog"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_byok_main_conf_t, catalog_path),
      NULL },

    { ngx_string("byok_master_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_master_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_master_key_previous"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_master_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      1,
      NULL },

    { ngx_string("byok_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_byok_main_conf_t, cache_ttl),
      NULL },

    { ngx_string("byok_allow_insecure_test_urls"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_byok_main_conf_t, allow_insecure_test_urls),
      NULL },

    { ngx_string("byok_cooldown_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_byok_main_conf_t, cooldown_max),
      NULL },

    { ngx_string("byok_usage_flush"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_byok_main_conf_t, usage_flush),
      NULL },

    { ngx_string("byok_test_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_byok_test_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_byok_main_conf_t, thread_pool_name),
      NULL },

    { ngx_string("byok_jwt_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_byok_jwt_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("byok_jwt_issuer"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_set_cstr,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, jwt_issuer),
      NULL },

    { ngx_string("byok_jwt_audience"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_set_cstr,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, jwt_audience),
      NULL },

    { ngx_string("byok_admin_claim"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_byok_admin_claim,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_test_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, test_timeout),
      &ngx_http_byok_test_timeout_post },

    { ngx_string("byok_provider"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_set_param_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, provider),
      NULL },

    { ngx_string("byok_user"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_byok_set_param_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, user),
      NULL },

    { ngx_string("byok_platform_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_byok_platform_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("byok_inject"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, inject),
      NULL },

    { ngx_string("byok_source_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_byok_loc_conf_t, source_header),
      NULL },

    { ngx_string("byok_lookup"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_byok_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_byok_lookup_handler },

    { ngx_string("byok_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_byok_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_byok_admin_handler },

    { ngx_string("byok_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_byok_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_byok_api_handler },

    { ngx_string("byok_catalog_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_byok_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_byok_catalog_api_handler },

    { ngx_string("byok_oauth"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_byok_handler_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      (void *) ngx_http_byok_oauth_handler },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_byok_module_ctx = {
    ngx_http_byok_preconfiguration,        /* preconfiguration */
    ngx_http_byok_postconfiguration,       /* postconfiguration */

    ngx_http_byok_create_main_conf,        /* create main configuration */
    ngx_http_byok_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_byok_create_loc_conf,         /* create location configuration */
    ngx_http_byok_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_byok_module = {
    NGX_MODULE_V1,
    &ngx_http_byok_module_ctx,             /* module context */
    ngx_http_byok_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_http_byok_init_module,             /* init module */
    ngx_http_byok_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_byok_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_str_t  ngx_http_byok_default_master = ngx_string(
    "env:AGENTS_MASTER_KEY");
static ngx_str_t  ngx_http_byok_default_jwt_alg = ngx_string("hs256");
static ngx_str_t  ngx_http_byok_default_jwt = ngx_string(
    "env:AGENTS_JWT_SECRET");
static ngx_str_t  ngx_http_byok_default_zone = ngx_string("byok");


static ngx_int_t
ngx_http_byok_init_module(ngx_cycle_t *cycle)
{
    u_char                     *p, name[NGX_MAX_PATH];
    ngx_uint_t                  i;
    ngx_core_conf_t            *ccf;
    ngx_http_byok_main_conf_t  *bmcf;

    static const char  *suffix[] = { "", "-wal", "-shm" };

    bmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_byok_module);

    if (bmcf == NULL || !bmcf->enabled) {
        return NGX_OK;
    }

    /* before any worker or thread exists, as libcurl requires */

    /* libcurl's buffers hold the key of a test: they are wiped on free */

    if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, ngx_http_byok_malloc,
                             ngx_http_byok_free,
                             ngx_http_byok_curl_realloc,
                             ngx_http_byok_curl_strdup,
                             ngx_http_byok_curl_calloc)
        != CURLE_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "curl_global_init() failed");
        return NGX_ERROR;
    }

    if (geteuid() != 0) {
        return NGX_OK;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    /* the master created the database as root; workers must write it */

    for (i = 0; i < 3; i++) {
        p = ngx_cpymem(name, bmcf->store_path.data,
                       ngx_min(bmcf->store_path.len, NGX_MAX_PATH - 8));
        ngx_cpystrn(p, (u_char *) suffix[i], 5);

        if (chown((char *) name, ccf->user, ccf->group) == -1
            && (i == 0 || ngx_errno != NGX_ENOENT))
        {
            ngx_log_error(NGX_LOG_EMERG, cycle->log, ngx_errno,
                          "byok_store: chown(\"%s\") failed", name);
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_init_process(ngx_cycle_t *cycle)
{
    char                        err[256];
    ngx_str_t                  *env;
    ngx_uint_t                  i;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_byok_module);

    if (bmcf == NULL || !bmcf->enabled) {
        return NGX_OK;
    }

    /*
     * env: sources were read by the master; a worker never reads them
     * again, so its inherited copy of the environment loses them (the
     * master keeps its own for reloads).  So do the cache manager and
     * loader, which serve no request.
     */

    if ((ngx_process == NGX_PROCESS_WORKER
         || ngx_process == NGX_PROCESS_HELPER)
        && bmcf->env_secrets != NULL)
    {
        env = bmcf->env_secrets->elts;

        for (i = 0; i < bmcf->env_secrets->nelts; i++) {
            ngx_explicit_memzero(env[i].data, env[i].len);
        }
    }

    if (ngx_process == NGX_PROCESS_HELPER) {

        /* no master key, no store, no usage timer */

        ngx_explicit_memzero(bmcf->masters, ngx_pagesize);
        bmcf->nmasters = 0;

        return NGX_OK;
    }

    bmcf->store = ngx_http_byok_store_open((char *) bmcf->store_path.data,
                                           err, sizeof(err));
    if (bmcf->store == NULL) {
        /* the user API answers 503 until the store can be opened */
        ngx_log_error(NGX_LOG_CRIT, cycle->log, 0, "byok_store: %s", err);

    } else {
        ngx_http_byok_store_busy_timeout(bmcf->store,
                                         NGX_HTTP_BYOK_LOOP_BUSY_TIMEOUT);
    }

    /* a second connection for the writes that run in the thread pool */

    bmcf->writer = ngx_http_byok_store_open((char *) bmcf->store_path.data,
                                            err, sizeof(err));
    if (bmcf->writer == NULL) {
        ngx_log_error(NGX_LOG_CRIT, cycle->log, 0, "byok_store: %s", err);
    }

    if (bmcf->usage_flush) {
        bmcf->usage_event.handler = ngx_http_byok_usage_flush;
        bmcf->usage_event.data = bmcf;
        bmcf->usage_event.log = cycle->log;
        bmcf->usage_event.cancelable = 1;

        ngx_add_timer(&bmcf->usage_event, bmcf->usage_flush);
    }

    return NGX_OK;
}


static void
ngx_http_byok_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_byok_module);

    if (bmcf == NULL || !bmcf->enabled || ngx_process == NGX_PROCESS_HELPER) {
        return;
    }

    if (bmcf->usage_event.timer_set) {
        ngx_del_timer(&bmcf->usage_event);
    }

    /* the last counters of this worker: the thread pool is gone by now */

    ngx_http_byok_usage_exit(bmcf, cycle->log);

    if (bmcf->store != NULL) {
        ngx_http_byok_store_close(bmcf->store);
        bmcf->store = NULL;
    }

    if (bmcf->writer != NULL) {
        ngx_http_byok_store_close(bmcf->writer);
        bmcf->writer = NULL;
    }

    ngx_http_byok_tokens_free();
    ngx_http_byok_seal_done();
}


/* 0 would be libcurl's "no limit": a silent provider would hold a thread */

static char *
ngx_http_byok_test_timeout_check(ngx_conf_t *cf, void *post, void *data)
{
    ngx_msec_t  *t = data;

    if (*t == 0) {
        return "must be greater than 0";
    }

    return NGX_CONF_OK;
}


/* libcurl and jansson allocate through these: their frees are wiped */

static void *
ngx_http_byok_malloc(size_t size)
{
    return malloc(size);
}


static void
ngx_http_byok_free(void *p)
{
    if (p != NULL) {
        ngx_explicit_memzero(p, malloc_usable_size(p));
        free(p);
    }
}


static void *
ngx_http_byok_curl_realloc(void *p, size_t size)
{
    void    *np;
    size_t   old;

    /* never realloc(): the old block would be freed unwiped */

    np = malloc(size ? size : 1);
    if (np == NULL || p == NULL) {
        return np;
    }

    old = malloc_usable_size(p);
    ngx_memcpy(np, p, ngx_min(old, size));
    ngx_http_byok_free(p);

    return np;
}


static char *
ngx_http_byok_curl_strdup(const char *s)
{
    return strdup(s);
}


static void *
ngx_http_byok_curl_calloc(size_t n, size_t size)
{
    return calloc(n, size);
}


static ngx_int_t
ngx_http_byok_preconfiguration(ngx_conf_t *cf)
{
    /*
     * jansson's parser copies the key of a create into buffers of its own
     * and frees them as it goes: they are wiped too.  The hooks are plain
     * malloc() and a wiping free(), so a block jansson allocated before
     * they were set is freed correctly as well
     */

    json_set_alloc_funcs(ngx_http_byok_malloc, ngx_http_byok_free);

    return ngx_http_byok_add_variables(cf);
}


static ngx_int_t
ngx_http_byok_postconfiguration(ngx_conf_t *cf)
{
    if (ngx_http_byok_lookup_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_byok_api_filter_init(cf);
}


static void *
ngx_http_byok_create_main_conf(ngx_conf_t *cf)
{
    ngx_pool_cleanup_t         *cln;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_byok_main_conf_t));
    if (bmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     bmcf->store_path = { 0, NULL };
     *     bmcf->catalog_path = { 0, NULL };
     *     bmcf->catalog = NULL;
     *     bmcf->inject = NULL;
     *     bmcf->master = { 0, NULL };
     *     bmcf->previous = NULL;
     *     bmcf->nmasters = 0;
     *     bmcf->shm_zone = NULL;
     *     bmcf->store = NULL;
     *     bmcf->enabled = 0;
     */

    bmcf->masters = ngx_http_byok_alloc_secret(cf,
                          NGX_HTTP_BYOK_MASTER_MAX
                          * sizeof(ngx_http_byok_master_t));
    if (bmcf->masters == NULL) {
        return NULL;
    }

    bmcf->cache_ttl = NGX_CONF_UNSET_MSEC;
    bmcf->allow_insecure_test_urls = NGX_CONF_UNSET;
    bmcf->test_rate = NGX_CONF_UNSET_UINT;
    bmcf->test_burst = NGX_CONF_UNSET_UINT;
    bmcf->cooldown_max = NGX_CONF_UNSET;
    bmcf->usage_flush = NGX_CONF_UNSET_MSEC;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /* key material lives in configuration memory: wipe it with the cycle */

    cln->handler = ngx_http_byok_cleanup_catalog;
    cln->data = bmcf;

    return bmcf;
}


static char *
ngx_http_byok_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_byok_main_conf_t  *bmcf = conf;

    ngx_str_t  zone;

    ngx_conf_init_msec_value(bmcf->cache_ttl, 60000);
    ngx_conf_init_value(bmcf->allow_insecure_test_urls, 0);
    ngx_conf_init_uint_value(bmcf->test_rate, 6 * 1000);
    ngx_conf_init_uint_value(bmcf->test_burst, 5);
    ngx_conf_init_value(bmcf->cooldown_max, 600);
    ngx_conf_init_msec_value(bmcf->usage_flush, 10000);

    if (bmcf->store_path.data == NULL) {
        return NGX_CONF_OK;
    }

    bmcf->enabled = 1;

    /* key tests run in this pool; "default" is created when not defined */

    bmcf->thread_pool = ngx_thread_pool_add(cf,
                                            bmcf->thread_pool_name.len
                                            ? &bmcf->thread_pool_name : NULL);
    if (bmcf->thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    if (bmcf->catalog_path.data == NULL) {
        ngx_str_set(&bmcf->catalog_path, NGX_HTTP_BYOK_CATALOG_PATH);
    }

    if (ngx_http_byok_load_catalog(cf, bmcf) != NGX_OK
        || ngx_http_byok_inject_prepare(cf, bmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (bmcf->master.data == NULL) {
        bmcf->master = ngx_http_byok_default_master;
    }

    if (ngx_http_byok_load_masters(cf, bmcf) != NGX_OK
        || ngx_http_byok_check_jwt_pending(cf, bmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_byok_check_store(cf, bmcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (bmcf->shm_zone == NULL) {
        zone = ngx_http_byok_default_zone;

        bmcf->shm_zone = ngx_shared_memory_add(cf, &zone, 16 * 1024 * 1024,
                                               &ngx_http_byok_module);
        if (bmcf->shm_zone == NULL) {
            return NGX_CONF_ERROR;
        }

        bmcf->shm_zone->init = ngx_http_byok_init_zone;
        bmcf->shm_zone->data = ngx_pcalloc(cf->pool,
                                           sizeof(ngx_http_byok_zone_t));
        if (bmcf->shm_zone->data == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_byok_load_catalog(ngx_conf_t *cf, ngx_http_byok_main_conf_t *bmcf)
{
    char       err[512];
    ngx_str_t  text;

    if (ngx_conf_full_name(cf->cycle, &bmcf->catalog_path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_byok_read_file(cf, &bmcf->catalog_path, &text) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "byok_catalog: cannot read \"%V\"",
                           &bmcf->catalog_path);
        return NGX_ERROR;
    }

    bmcf->catalog = ngx_http_byok_catalog_parse((char *) text.data, text.len,
                                         bmcf->allow_insecure_test_urls,
                                         err, sizeof(err));
    if (bmcf->catalog == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok_catalog: \"%V\": %s",
                           &bmcf->catalog_path, err);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_load_masters(ngx_conf_t *cf, ngx_http_byok_main_conf_t *bmcf)
{
    ngx_str_t   *source;
    ngx_uint_t   i;

    if (ngx_http_byok_load_master(cf, bmcf, &bmcf->master,
                                  "byok_master_key")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (bmcf->previous == NULL) {
        return NGX_OK;
    }

    source = bmcf->previous->elts;

    for (i = 0; i < bmcf->previous->nelts; i++) {
        if (ngx_http_byok_load_master(cf, bmcf, &source[i],
                                      "byok_master_key_previous")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_load_master(ngx_conf_t *cf, ngx_http_byok_main_conf_t *bmcf,
    ngx_str_t *source, const char *name)
{
    u_char                   raw[NGX_HTTP_BYOK_MASTER_KEY_LEN];
    ngx_int_t                rc;
    ngx_str_t                text;
    ngx_uint_t               i;
    const char              *reason;
    ngx_http_byok_master_t  *m;

    if (bmcf->nmasters == NGX_HTTP_BYOK_MASTER_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: too many master keys (at most %d)",
                           name, NGX_HTTP_BYOK_MASTER_MAX);
        return NGX_ERROR;
    }

    if (ngx_http_byok_read_secret(cf, source, &text) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: %V is not available",
                           name, source);
        return NGX_ERROR;
    }

    rc = ngx_http_byok_master_decode(text.data, text.len, raw, &reason);

    ngx_http_byok_wipe_str(&text);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s: %V: %s",
                           name, source, reason);
        return NGX_ERROR;
    }

    m = &bmcf->masters[bmcf->nmasters];

    if (ngx_http_byok_master_derive(raw, m) != 0) {
        ngx_http_byok_wipe(raw, sizeof(raw));
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%s: %V: key derivation failed", name, source);
        return NGX_ERROR;
    }

    if (bmcf->nmasters == 0) {
        ngx_memcpy(bmcf->master_raw, raw, sizeof(raw));
    }

    ngx_http_byok_wipe(raw, sizeof(raw));

    for (i = 0; i < bmcf->nmasters; i++) {
        if (bmcf->masters[i].id == m->id) {
            ngx_http_byok_wipe(m, sizeof(ngx_http_byok_master_t));
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: %V is the same key as another "
                               "configured master key", name, source);
            return NGX_ERROR;
        }
    }

    bmcf->nmasters++;

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_check_store(ngx_conf_t *cf, ngx_http_byok_main_conf_t *bmcf)
{
    int                     rc, found, version;
    char                    err[256];
    size_t                  n, i, known;
    uint32_t                ids[64];
    ngx_uint_t              k, matched;
    ngx_http_byok_store_t  *store;

    store = ngx_http_byok_store_open((char *) bmcf->store_path.data,
                                     err, sizeof(err));
    if (store == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "byok_store: %s", err);
        return NGX_ERROR;
    }

    version = ngx_http_byok_store_schema(store, &found);

    if (found != 0 && found != version) {
        ngx_conf_log_error(NGX_LOG_NOTICE, cf, 0,
                           "byok_store: \"%V\": schema %d migrated to %d",
                           &bmcf->store_path, found, version);
    }

    if (ngx_http_byok_store_master_count(store, &known) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "byok_store: %s",
                           ngx_http_byok_store_error(store));
        goto failed;
    }

    matched = 0;

    for (k = 0; k < bmcf->nmasters; k++) {
        rc = ngx_http_byok_store_master_check(store, bmcf->masters[k].id,
                                              bmcf->masters[k].check,
                                              NGX_HTTP_BYOK_SEAL_CHECK_LEN, 0);
        if (rc == 1) {
            /* an id collision with a different key: never in practice */
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: key %08xD does not match the check "
                               "value stored in \"%V\"",
                               k ? "byok_master_key_previous"
                                 : "byok_master_key",
                               bmcf->masters[k].id, &bmcf->store_path);
            goto failed;
        }

        if (rc < 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "byok_store: %s",
                               ngx_http_byok_store_error(store));
            goto failed;
        }

        if (rc == 0) {
            matched++;
        }
    }

    if (ngx_http_byok_store_master_ids(store, ids, &n, 64) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "byok_store: %s",
                           ngx_http_byok_store_error(store));
        goto failed;
    }

    for (i = 0; i < n; i++) {
        for (k = 0; k < bmcf->nmasters; k++) {
            if (bmcf->masters[k].id == ids[i]) {
                break;
            }
        }

        if (k == bmcf->nmasters) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "byok_master_key: \"%V\" holds keys sealed "
                               "under master key %08xD, which neither "
                               "byok_master_key nor byok_master_key_previous "
                               "provides", &bmcf->store_path, ids[i]);
            goto failed;
        }
    }

    /*
     * A store that knows master keys but none of the configured ones was
     * made with another key: a rotation keeps the old key as previous.
     */

    if (known && matched == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok_master_key: \"%V\" was created with "
                           "another master key: none of the configured keys "
                           "matches a check value stored in it (to rotate, "
                           "keep the old key as byok_master_key_previous)",
                           &bmcf->store_path);
        goto failed;
    }

    /* only a key set that passed every check leaves its check values */

    for (k = 0; k < bmcf->nmasters; k++) {
        if (ngx_http_byok_store_master_check(store, bmcf->masters[k].id,
                                             bmcf->masters[k].check,
                                             NGX_HTTP_BYOK_SEAL_CHECK_LEN, 1)
            < 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "byok_store: %s",
                               ngx_http_byok_store_error(store));
            goto failed;
        }
    }

    ngx_http_byok_store_close(store);

    return NGX_OK;

failed:

    ngx_http_byok_store_close(store);
    return NGX_ERROR;
}


static void
ngx_http_byok_cleanup_catalog(void *data)
{
    ngx_http_byok_main_conf_t  *bmcf = data;

    if (bmcf->catalog != NULL) {
        ngx_http_byok_catalog_free(bmcf->catalog);
        bmcf->catalog = NULL;
    }

    ngx_http_byok_wipe(bmcf->master_raw, sizeof(bmcf->master_raw));
}


static void
ngx_http_byok_cleanup_jwt_keys(void *data)
{
    ngx_array_t  *keys = data;

    ngx_uint_t                i;
    ngx_http_byok_jwt_key_t  *key;

    key = keys->elts;

    for (i = 0; i < keys->nelts; i++) {
        ngx_http_byok_jwt_key_free(&key[i]);
    }
}


static void *
ngx_http_byok_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_byok_loc_conf_t  *blcf;

    blcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_byok_loc_conf_t));
    if (blcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     blcf->jwt_keys = NULL;
     *     blcf->jwt_issuer = { 0, NULL };
     *     blcf->jwt_audience = { 0, NULL };
     *     blcf->admin_claim_name = { 0, NULL };
     *     blcf->admin_claim_value = { 0, NULL };
     *     blcf->provider_entry = NULL;
     *     blcf->lookup = 0;
     *     blcf->handler = 0;
     *     blcf->needs_jwt = 0;
     */

    blcf->jwt_leeway = NGX_CONF_UNSET;
    blcf->test_timeout = NGX_CONF_UNSET_MSEC;
    blcf->provider = NGX_CONF_UNSET_PTR;
    blcf->user = NGX_CONF_UNSET_PTR;
    blcf->platform_keys = NGX_CONF_UNSET_PTR;
    blcf->inject = NGX_CONF_UNSET;
    blcf->source_header = NGX_CONF_UNSET;

    return blcf;
}


static char *
ngx_http_byok_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_byok_loc_conf_t *prev = parent;
    ngx_http_byok_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_byok_main_conf_t  *bmcf;

    if (conf->jwt_keys == NULL) {
        conf->jwt_keys = prev->jwt_keys;
    }

    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 30);
    ngx_conf_merge_str_value(conf->jwt_issuer, prev->jwt_issuer, "");
    ngx_conf_merge_str_value(conf->jwt_audience, prev->jwt_audience, "");
    ngx_conf_merge_str_value(conf->admin_claim_name, prev->admin_claim_name,
                             "role");
    ngx_conf_merge_str_value(conf->admin_claim_value,
                             prev->admin_claim_value, "admin");
    ngx_conf_merge_msec_value(conf->test_timeout, prev->test_timeout, 10000);
    ngx_conf_merge_ptr_value(conf->provider, prev->provider, NULL);
    ngx_conf_merge_ptr_value(conf->user, prev->user, NULL);
    ngx_conf_merge_ptr_value(conf->platform_keys, prev->platform_keys, NULL);
    ngx_conf_merge_value(conf->inject, prev->inject, 0);
    ngx_conf_merge_value(conf->source_header, prev->source_header, 0);

    if (conf->inject || conf->lookup) {
        conf->handler = 1;

        if (conf->provider == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"%s\" requires \"byok_provider\"",
                               conf->lookup ? "byok_lookup" : "byok_inject");
            return NGX_CONF_ERROR;
        }

        /* without a trusted identity the JWT's sub is the user */

        conf->needs_jwt = (conf->user == NULL);
    }

    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_byok_module);

    /* a literal provider is found in the catalog once, here */

    if (conf->provider != NULL && conf->provider->value.lengths == NULL
        && bmcf->catalog != NULL)
    {
        conf->provider_entry = ngx_http_byok_catalog_provider(bmcf->catalog,
                                   (char *) conf->provider->value.value.data,
                                   conf->provider->value.value.len);

        if (conf->provider_entry == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "byok_provider \"%V\" is not in the catalog",
                               &conf->provider->value.value);
            return NGX_CONF_ERROR;
        }
    }

    if (!conf->handler) {
        return NGX_CONF_OK;
    }

    /* a body that carries a key is kept in memory, never in a temp file */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->client_body_buffer_size < NGX_HTTP_BYOK_BODY_MAX) {
        clcf->client_body_buffer_size = NGX_HTTP_BYOK_BODY_MAX;
    }

    if (!bmcf->enabled) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok handlers require \"byok_store\" in the "
                           "http block");
        return NGX_CONF_ERROR;
    }

    if (!conf->needs_jwt) {
        return NGX_CONF_OK;
    }

    if (conf->jwt_keys == NULL) {

        /* the default key is read once and shared by every location */

        if (bmcf->default_jwt_keys == NULL
            && ngx_http_byok_jwt_key_add(cf, &bmcf->default_jwt_keys,
                                         &ngx_http_byok_default_jwt_alg,
                                         &ngx_http_byok_default_jwt, bmcf)
               != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }

        conf->jwt_keys = bmcf->default_jwt_keys;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_store(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_main_conf_t *bmcf = conf;

    ngx_str_t  *value;

    if (bmcf->store_path.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    bmcf->store_path = value[1];

    if (ngx_conf_full_name(cf->cycle, &bmcf->store_path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    /* SQLite wants a NUL-terminated name */

    bmcf->store_path.data = (u_char *) ngx_http_byok_cstr(cf->pool,
                                                         &bmcf->store_path);
    if (bmcf->store_path.data == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_main_conf_t *bmcf = conf;

    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    if (bmcf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone \"%V\", expected NAME:SIZE",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", &value[1]);
        return NGX_CONF_ERROR;
    }

    bmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_byok_module);
    if (bmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (bmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    bmcf->shm_zone->init = ngx_http_byok_init_zone;
    bmcf->shm_zone->data = ngx_pcalloc(cf->pool,
                                       sizeof(ngx_http_byok_zone_t));
    if (bmcf->shm_zone->data == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_master_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_main_conf_t *bmcf = conf;

    ngx_str_t  *value, *source;

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "env:", 4) != 0
        && ngx_strncmp(value[1].data, "file:", 5) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid key source \"%V\", expected "
                           "env:NAME or file:PATH", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cmd->offset == 0) {
        if (bmcf->master.data != NULL) {
            return "is duplicate";
        }

        bmcf->master = value[1];
        return NGX_CONF_OK;
    }

    if (bmcf->previous == NULL) {
        bmcf->previous = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
        if (bmcf->previous == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    source = ngx_array_push(bmcf->previous);
    if (source == NULL) {
        return NGX_CONF_ERROR;
    }

    *source = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_jwt_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_loc_conf_t *blcf = conf;

    ngx_str_t                  *value;
    ngx_http_byok_main_conf_t  *bmcf;

    value = cf->args->elts;
    bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_byok_module);

    if (ngx_http_byok_jwt_key_add(cf, &blcf->jwt_keys, &value[1], &value[2],
                                  bmcf)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_byok_jwt_key_add(ngx_conf_t *cf, ngx_array_t **keys, ngx_str_t *alg,
    ngx_str_t *source, ngx_http_byok_main_conf_t *bmcf)
{
    u_char                        raw[NGX_HTTP_BYOK_MASTER_KEY_LEN];
    ngx_int_t                     rc;
    ngx_str_t                     text;
    const char                   *reason;
    ngx_pool_cleanup_t           *cln;
    ngx_http_byok_jwt_key_t      *key;
    ngx_http_byok_jwt_alg_e       a;
    ngx_http_byok_jwt_pending_t  *pending;

    a = ngx_http_byok_jwt_alg((char *) alg->data, alg->len);

    if (a == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok_jwt_key: unknown algorithm \"%V\", "
                           "expected hs256, rs256 or es256", alg);
        return NGX_ERROR;
    }

    if (ngx_strncmp(source->data, "env:", 4) != 0
        && ngx_strncmp(source->data, "file:", 5) != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok_jwt_key: invalid key source \"%V\", "
                           "expected env:NAME or file:PATH", source);
        return NGX_ERROR;
    }

    if (ngx_http_byok_read_secret(cf, source, &text) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok_jwt_key: %V is not available", source);
        return NGX_ERROR;
    }

    if (a == NGX_HTTP_BYOK_JWT_HS256) {

        /* a key file usually ends in a newline that is not part of it */

        while (text.len && (text.data[text.len - 1] == '\n'
                            || text.data[text.len - 1] == '\r'))
        {
            text.len--;
        }

        /*
         * The secret must not be the master key, raw or encoded.  Master
         * keys are read after the whole http block: until then the
         * comparison waits in bmcf->jwt_pending.
         */

        pending = NULL;

        if (bmcf->nmasters == 0) {
            if (bmcf->jwt_pending == NULL) {
                bmcf->jwt_pending = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_byok_jwt_pending_t));
                if (bmcf->jwt_pending == NULL) {
                    ngx_http_byok_wipe_str(&text);
                    return NGX_ERROR;
                }
            }

            pending = ngx_array_push(bmcf->jwt_pending);
            if (pending == NULL) {
                ngx_http_byok_wipe_str(&text);
                return NGX_ERROR;
            }

            ngx_memzero(pending, sizeof(ngx_http_byok_jwt_pending_t));
            pending->source = *source;
        }

        if (text.len == sizeof(raw)) {
            ngx_memcpy(raw, text.data, sizeof(raw));

            if (ngx_http_byok_jwt_is_master(cf, bmcf, pending, raw, source)
                != NGX_OK)
            {
                ngx_http_byok_wipe_str(&text);
                return NGX_ERROR;
            }
        }

        if (ngx_http_byok_master_decode(text.data, text.len, raw, &reason)
            == 0
            && ngx_http_byok_jwt_is_master(cf, bmcf, pending, raw, source)
               != NGX_OK)
        {
            ngx_http_byok_wipe_str(&text);
            return NGX_ERROR;
        }
    }

    if (*keys == NULL) {
        *keys = ngx_array_create(cf->pool, 2,
                                 sizeof(ngx_http_byok_jwt_key_t));
        if (*keys == NULL) {
            ngx_http_byok_wipe_str(&text);
            return NGX_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ngx_http_byok_wipe_str(&text);
            return NGX_ERROR;
        }

        cln->handler = ngx_http_byok_cleanup_jwt_keys;
        cln->data = *keys;
    }

    key = ngx_array_push(*keys);
    if (key == NULL) {
        ngx_http_byok_wipe_str(&text);
        return NGX_ERROR;
    }

    ngx_memzero(key, sizeof(ngx_http_byok_jwt_key_t));

    rc = ngx_http_byok_jwt_key_load(a, text.data, text.len, key, &reason);

    ngx_http_byok_wipe_str(&text);

    if (rc != 0) {
        (*keys)->nelts--;
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "byok_jwt_key: %V %V: %s",
                           alg, source, reason);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * With the master key known, refuses a secret equal to it; before that,
 * keeps the candidate in "pending" for ngx_http_byok_check_jwt_pending().
 * Wipes "raw" either way.
 */

static ngx_int_t
ngx_http_byok_jwt_is_master(ngx_conf_t *cf, ngx_http_byok_main_conf_t *bmcf,
    ngx_http_byok_jwt_pending_t *pending, u_char *raw, ngx_str_t *source)
{
    ngx_int_t  same;

    if (pending != NULL) {
        if (pending->n < 2) {
            ngx_memcpy(pending->candidates[pending->n++], raw,
                       NGX_HTTP_BYOK_MASTER_KEY_LEN);
        }

        ngx_http_byok_wipe(raw, NGX_HTTP_BYOK_MASTER_KEY_LEN);
        return NGX_OK;
    }

    same = (CRYPTO_memcmp(raw, bmcf->master_raw,
                          NGX_HTTP_BYOK_MASTER_KEY_LEN) == 0);

    ngx_http_byok_wipe(raw, NGX_HTTP_BYOK_MASTER_KEY_LEN);

    if (same) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "byok_jwt_key: %V must not be the master key",
                           source);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_check_jwt_pending(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf)
{
    ngx_int_t                     rc;
    ngx_uint_t                    i, k;
    ngx_http_byok_jwt_pending_t  *p;

    if (bmcf->jwt_pending == NULL) {
        return NGX_OK;
    }

    rc = NGX_OK;
    p = bmcf->jwt_pending->elts;

    for (i = 0; i < bmcf->jwt_pending->nelts; i++) {
        for (k = 0; k < p[i].n; k++) {
            if (rc == NGX_OK
                && ngx_http_byok_jwt_is_master(cf, bmcf, NULL,
                                               p[i].candidates[k],
                                               &p[i].source)
                   != NGX_OK)
            {
                rc = NGX_ERROR;
            }

            ngx_http_byok_wipe(p[i].candidates[k],
                               NGX_HTTP_BYOK_MASTER_KEY_LEN);
        }
    }

    bmcf->jwt_pending = NULL;

    return rc;
}


static char *
ngx_http_byok_set_cstr(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t  *field, *value;

    field = (ngx_str_t *) (p + cmd->offset);

    if (field->data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        ngx_str_set(field, "");
        return NGX_CONF_OK;
    }

    /* the configuration parser NUL-terminates every argument */

    *field = value[1];

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_admin_claim(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_loc_conf_t *blcf = conf;

    ngx_str_t  *value;

    if (blcf->admin_claim_name.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    blcf->admin_claim_name = value[1];
    blcf->admin_claim_value = value[2];

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_handler_slot(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_loc_conf_t *blcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler != NULL) {
        return "is duplicate";
    }

    clcf->handler = (ngx_http_handler_pt) cmd->post;
    blcf->handler = 1;

    if (cmd->post == (void *) ngx_http_byok_lookup_handler) {
        blcf->lookup = 1;

    } else if (cmd->post != (void *) ngx_http_byok_catalog_api_handler
               && cmd->post != (void *) ngx_http_byok_oauth_handler)
    {
        blcf->needs_jwt = 1;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_byok_test_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_byok_main_conf_t *bmcf = conf;

    u_char      *p;
    size_t       len;
    ngx_int_t    rate, scale, burst;
    ngx_str_t   *value;
    ngx_uint_t   i;

    if (bmcf->test_rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rate = NGX_ERROR;
    burst = 5;
    scale = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "rate=", 5) == 0) {

            /* a bare number is refused: limit_req would read it as r/s */

            len = value[i].len;
            p = value[i].data + len - 3;
            scale = 0;

            if (len > 8 && ngx_strncmp(p, "r/s", 3) == 0) {
                scale = 60;

            } else if (len > 8 && ngx_strncmp(p, "r/m", 3) == 0) {
                scale = 1;
            }

            rate = scale ? ngx_atoi(value[i].data + 5, len - 8) : NGX_ERROR;

            if (rate <= 0 || rate > 1000000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid rate \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {

            burst = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (burst <= 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid burst value \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "off") == 0 && cf->args->nelts == 2) {
            bmcf->test_rate = 0;
            bmcf->test_burst = 0;
            return NGX_CONF_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rate == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"byok_test_limit\" must have \"rate\" "
                           "parameter");
        return NGX_CONF_ERROR;
    }

    bmcf->test_rate = rate * scale * 1000;
    bmcf->test_burst = burst;

    return NGX_CONF_OK;
}
