
/*
 * ngx_http_byok_module: the internal interface shared by the module's files.
 */


#ifndef _NGX_HTTP_BYOK_H_INCLUDED_
#define _NGX_HTTP_BYOK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>

#include "ngx_http_byok_seal.h"
#include "ngx_http_byok_jwt.h"
#include "ngx_http_byok_catalog.h"
#include "ngx_http_byok_store.h"
#include "ngx_http_byok_validate.h"


#define NGX_HTTP_BYOK_MASTER_MAX      16
#define NGX_HTTP_BYOK_BODY_MAX        16384

/*
 * the event loop's own connection waits this long (ms) for another write
 * lock: every worker's requests wait with it
 */
#define NGX_HTTP_BYOK_LOOP_BUSY_TIMEOUT  100


/* an HS256 secret read before the master key, to compare with it later */
typedef struct {
    ngx_str_t                    source;
    u_char                       candidates[2][NGX_HTTP_BYOK_MASTER_KEY_LEN];
    ngx_uint_t                   n;
} ngx_http_byok_jwt_pending_t;


/*
 * What byok_inject does to a provider's request, prepared from the catalog
 * when the configuration is read: the headers it removes (lower case) and
 * the ones it adds, their hashes computed.
 */
typedef struct {
    ngx_str_t                   *strip;
    ngx_uint_t                   nstrip;
    uint64_t                     lengths;     /* bit len % 64 of each */
    ngx_table_elt_t             *add;         /* the credential (its value:
                                                 the prefix), the extras */
    ngx_uint_t                   nadd;
} ngx_http_byok_inject_t;


typedef struct {
    ngx_str_t                    store_path;
    ngx_str_t                    catalog_path;
    ngx_http_byok_catalog_t     *catalog;
    ngx_http_byok_inject_t      *inject;      /* per provider, by index */

    ngx_str_t                    master;      /* "env:NAME" or "file:PATH" */
    ngx_array_t                 *previous;    /* ngx_str_t sources */
    ngx_http_byok_master_t      *masters;     /* a DONTDUMP page */
    ngx_uint_t                   nmasters;    /* masters[0] is current */
    u_char                       master_raw[NGX_HTTP_BYOK_MASTER_KEY_LEN];

    ngx_shm_zone_t              *shm_zone;
    ngx_thread_pool_t           *thread_pool;
    ngx_str_t                    thread_pool_name;
    ngx_uint_t                   test_rate;   /* tests per minute * 1000 */
    ngx_uint_t                   test_burst;
    ngx_msec_t                   cache_ttl;
    ngx_flag_t                   allow_insecure_test_urls;
    time_t                       cooldown_max;
    ngx_msec_t                   usage_flush;
    ngx_event_t                  usage_event;

    ngx_array_t                 *default_jwt_keys;
    ngx_array_t                 *jwt_pending;
    ngx_array_t                 *env_secrets; /* ngx_str_t: the values of
                                                 env: sources in environ */

    ngx_http_byok_store_t       *store;       /* this worker's connection */
    ngx_http_byok_store_t       *writer;      /* user API writes, threads */
    ngx_uint_t                   enabled;     /* unsigned flag */
} ngx_http_byok_main_conf_t;


/* byok_provider, byok_user: a complex value, often one variable */
typedef struct {
    ngx_http_complex_value_t     value;
    ngx_int_t                    index;       /* that variable's index, or
                                                 NGX_ERROR */
} ngx_http_byok_param_t;


typedef struct {
    ngx_array_t                 *jwt_keys;    /* ngx_http_byok_jwt_key_t */
    time_t                       jwt_leeway;
    ngx_str_t                    jwt_issuer;  /* NUL-terminated */
    ngx_str_t                    jwt_audience;

    ngx_str_t                    admin_claim_name;
    ngx_str_t                    admin_claim_value;

    ngx_msec_t                   test_timeout;

    ngx_http_byok_param_t       *provider;
    const ngx_http_byok_provider_t *provider_entry; /* when a literal */
    ngx_http_byok_param_t       *user;
    ngx_array_t                 *platform_keys;
    ngx_flag_t                   inject;
    ngx_flag_t                   source_header;

    unsigned                     lookup:1;
    unsigned                     handler:1;
    unsigned                     needs_jwt:1;
} ngx_http_byok_loc_conf_t;


/* what /metrics counts, per route of the module */
typedef enum {
    NGX_HTTP_BYOK_METRIC_NONE = 0,
    NGX_HTTP_BYOK_METRIC_LIST,
    NGX_HTTP_BYOK_METRIC_CREATE,
    NGX_HTTP_BYOK_METRIC_GET,
    NGX_HTTP_BYOK_METRIC_UPDATE,
    NGX_HTTP_BYOK_METRIC_REVOKE,
    NGX_HTTP_BYOK_METRIC_TEST,
    NGX_HTTP_BYOK_METRIC_ORDER,
    NGX_HTTP_BYOK_METRIC_CATALOG,
    NGX_HTTP_BYOK_METRIC_OAUTH,
    NGX_HTTP_BYOK_METRIC_LOOKUP,
    NGX_HTTP_BYOK_METRIC_INJECT,
    NGX_HTTP_BYOK_METRIC_ADMIN,
    NGX_HTTP_BYOK_METRIC_MAX
} ngx_http_byok_metric_route_e;

#define NGX_HTTP_BYOK_STATUS_MAX      16


typedef struct {
    ngx_atomic_t                 requests[NGX_HTTP_BYOK_METRIC_MAX]
                                         [NGX_HTTP_BYOK_STATUS_MAX];
    ngx_atomic_t                 lookups[3];  /* none, user, platform */
    ngx_atomic_t                 tests[4];    /* valid, invalid, error,
                                                 skipped */
    ngx_atomic_t                 health[4];   /* transitions to a state */
    ngx_atomic_t                 store_errors;
    ngx_atomic_t                 rewrapped;
    ngx_atomic_t                 rewrap_failed;
    ngx_atomic_t                 rewrap_remaining;
} ngx_http_byok_metrics_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  lru;
    ngx_uint_t                   generation;  /* bumped by invalidations */
    ngx_uint_t                   entries;
    ngx_uint_t                   hits;
    ngx_uint_t                   misses;
    ngx_uint_t                   evictions;
    ngx_http_byok_metrics_t      metrics;     /* atomics, no lock */
} ngx_http_byok_shctx_t;


typedef struct {
    ngx_http_byok_shctx_t       *sh;
    ngx_slab_pool_t             *shpool;
    size_t                       node_max;    /* largest cacheable node */
} ngx_http_byok_zone_t;


/* key health (SPEC 7.4); the names are the key object's "status" */
#define NGX_HTTP_BYOK_KEY_ACTIVE      0
#define NGX_HTTP_BYOK_KEY_INVALID     1
#define NGX_HTTP_BYOK_KEY_EXHAUSTED   2
#define NGX_HTTP_BYOK_KEY_COOLDOWN    3


/* a key of a cached selection, inside the zone */
typedef struct {
    int64_t                      id;
    uint32_t                     until;       /* end of a cool-down */
    uint32_t                     last_used;
    uint32_t                     uses;        /* not yet written */
    uint32_t                     failures;
    /* at most NGX_HTTP_BYOK_VALUE_MAX */
    uint16_t                     len;
    uint8_t                      state;
    u_char                       value[1];
} ngx_http_byok_record_t;


/* one key of a selection, as copied out of the zone or the store */
typedef struct {
    int64_t                      id;
    ngx_str_t                    value;       /* plaintext, wiped */
    ngx_uint_t                   state;
    time_t                       until;
} ngx_http_byok_selected_t;


/* usage counters on their way from the zone to the store */
typedef struct {
    int64_t                      id;
    ngx_uint_t                   uses;
    ngx_uint_t                   failures;
    time_t                       last_used;
} ngx_http_byok_usage_t;


typedef struct {
    ngx_str_t                    provider;    /* catalog id */
    ngx_http_complex_value_t    *value;       /* NULL: static value below */
    ngx_str_t                    key;         /* from env:/file:, wiped */
} ngx_http_byok_platform_key_t;


/* pool blocks whose end is marked when a key leaves the module */
#define NGX_HTTP_BYOK_MARKS            4


#define NGX_HTTP_BYOK_SOURCE_NONE      0
#define NGX_HTTP_BYOK_SOURCE_USER      1
#define NGX_HTTP_BYOK_SOURCE_PLATFORM  2


typedef struct {
    ngx_http_request_t          *request;
    ngx_pool_t                  *pool;        /* r->pool, for the cleanup */

    /* where the pool stood when the key first left the module */
    ngx_pool_t                  *mark_block;  /* pool->current then */
    u_char                      *mark_last[NGX_HTTP_BYOK_MARKS];
    ngx_uint_t                   mark_n;      /* blocks in mark_last */
    ngx_pool_large_t            *mark_large;
    ngx_str_t                    user;        /* NUL-terminated */
    json_t                      *claims;
    ngx_str_t                    bearer;      /* the token verified */
    ngx_http_byok_loc_conf_t    *verified_by; /* with whose JWT settings */
    int64_t                      id;
    ngx_uint_t                   route;

    /* the runtime lookup, done at most once per request */
    ngx_str_t                    provider;
    const ngx_http_byok_provider_t  *entry;   /* its catalog entry */
    ngx_http_byok_selected_t     selected;    /* plaintext wiped at end */
    ngx_uint_t                   source;
    ngx_int_t                    lookup_status;  /* 0, or 400/401/403 */
    ngx_uint_t                   metric;      /* route for /metrics */
    ngx_str_t                    injected;    /* header value we set */

    unsigned                     authenticated:1;
    unsigned                     looked_up:1;
    unsigned                     inject_done:1;
    unsigned                     reported:1;
    unsigned                     exposed:1;   /* key left the module */
    unsigned                     retried:1;
    /* the request holds a key: in the main request's ctx only */
    unsigned                     keyed:1;
    unsigned                     too_large:1; /* nginx's 413 page replaced */
    unsigned                     too_large_sent:1;
} ngx_http_byok_ctx_t;


extern ngx_module_t  ngx_http_byok_module;

/* the writer connection's transactions, from any thread, take turns */
extern pthread_mutex_t  ngx_http_byok_writer_lock;


/* ngx_http_byok_auth.c */
ngx_int_t ngx_http_byok_authenticate(ngx_http_request_t *r,
    ngx_http_byok_ctx_t **ctxp);
void ngx_http_byok_tokens_free(void);
ngx_int_t ngx_http_byok_authenticate_cached(ngx_http_request_t *r,
    ngx_http_byok_ctx_t **ctxp);
ngx_http_byok_ctx_t *ngx_http_byok_get_ctx(ngx_http_request_t *r);
ngx_http_byok_ctx_t *ngx_http_byok_find_ctx(ngx_http_request_t *r);

/* ngx_http_byok_lookup.c */
ngx_int_t ngx_http_byok_lookup(ngx_http_request_t *r,
    ngx_http_byok_ctx_t **ctxp);
ngx_int_t ngx_http_byok_lookup_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_byok_inject_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_byok_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_byok_lookup_init(ngx_conf_t *cf);
ngx_int_t ngx_http_byok_inject_prepare(ngx_conf_t *cf,
    ngx_http_byok_main_conf_t *bmcf);
char *ngx_http_byok_set_param_slot(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_byok_platform_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_byok_jwt_key_add(ngx_conf_t *cf, ngx_array_t **keys,
    ngx_str_t *alg, ngx_str_t *source, ngx_http_byok_main_conf_t *bmcf);

/* ngx_http_byok_api.c */
ngx_int_t ngx_http_byok_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_byok_catalog_api_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_byok_oauth_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_byok_api_filter_init(ngx_conf_t *cf);
json_t *ngx_http_byok_key_json(ngx_http_byok_key_t *key);

/* ngx_http_byok_probe.c */
ngx_int_t ngx_http_byok_probe_handler(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx, int64_t id);

/* ngx_http_byok_cache.c */
ngx_int_t ngx_http_byok_init_zone(ngx_shm_zone_t *shm_zone, void *data);
void ngx_http_byok_cache_invalidate(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider);
ngx_int_t ngx_http_byok_cache_get(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider, ngx_http_byok_selected_t *sel,
    ngx_uint_t *generation);
void ngx_http_byok_cache_put(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider, ngx_http_byok_selected_t *keys, ngx_uint_t n,
    ngx_uint_t generation, int64_t used);
ngx_uint_t ngx_http_byok_key_usable(ngx_uint_t state, time_t until,
    time_t now);
ngx_int_t ngx_http_byok_cache_health(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider, int64_t id, ngx_uint_t state, time_t until,
    ngx_uint_t failure);
ngx_uint_t ngx_http_byok_cache_usage(ngx_http_byok_zone_t *zone,
    ngx_http_byok_usage_t *usage, ngx_uint_t max);
ngx_int_t ngx_http_byok_cache_flush(ngx_http_byok_zone_t *zone);
ngx_int_t ngx_http_byok_rate_limit(ngx_http_request_t *r, ngx_str_t *user,
    ngx_uint_t rate, ngx_uint_t burst, time_t *retry_after);

/* admin/ngx_http_byok_admin.c */
ngx_int_t ngx_http_byok_admin_handler(ngx_http_request_t *r);
ngx_http_byok_metrics_t *ngx_http_byok_metrics(ngx_http_request_t *r);
void ngx_http_byok_metric_route(ngx_http_request_t *r, ngx_uint_t route);
ngx_int_t ngx_http_byok_log_handler(ngx_http_request_t *r);

/* ngx_http_byok_util.c */
ngx_int_t ngx_http_byok_read_secret(ngx_conf_t *cf, ngx_str_t *source,
    ngx_str_t *value);
ngx_int_t ngx_http_byok_read_file(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *text);
void ngx_http_byok_wipe_str(ngx_str_t *s);
ngx_http_byok_store_t *ngx_http_byok_writer(ngx_http_byok_main_conf_t *bmcf,
    ngx_log_t *log);
ngx_int_t ngx_http_byok_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body);
ngx_int_t ngx_http_byok_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, const char *field);
ngx_int_t ngx_http_byok_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len);
ngx_int_t ngx_http_byok_method_not_allowed(ngx_http_request_t *r,
    const char *allow);
char *ngx_http_byok_cstr(ngx_pool_t *pool, ngx_str_t *s);
ngx_uint_t ngx_http_byok_key_state(const char *name);
const char *ngx_http_byok_key_state_name(ngx_uint_t state);
void ngx_http_byok_usage_flush(ngx_event_t *ev);
void ngx_http_byok_usage_exit(ngx_http_byok_main_conf_t *bmcf,
    ngx_log_t *log);
u_char *ngx_http_byok_time_iso(u_char *buf, int64_t t);
char *ngx_http_byok_hex_id(ngx_http_request_t *r, uint32_t id);
void *ngx_http_byok_alloc_secret(ngx_conf_t *cf, size_t size);
ngx_int_t ngx_http_byok_unseal(ngx_http_byok_main_conf_t *bmcf,
    ngx_pool_t *pool, ngx_str_t *user, ngx_str_t *provider,
    const ngx_http_byok_sealed_t *sealed, ngx_str_t *value);
void ngx_http_byok_expose(ngx_http_byok_ctx_t *ctx);
void ngx_http_byok_wipe_copies(ngx_http_byok_ctx_t *ctx);


#endif /* _NGX_HTTP_BYOK_H_INCLUDED_ */
