
/*
 * The admin endpoints (byok_admin): stats, Prometheus metrics, health, the
 * audit log, a user's keys, master-key rewrap and cache flush.  Requests
 * need a JWT carrying byok_admin_claim.
 */


#include "ngx_http_byok.h"


#define NGX_HTTP_BYOK_AUDIT_LIMIT    50
#define NGX_HTTP_BYOK_AUDIT_MAX      500
#define NGX_HTTP_BYOK_REWRAP_BATCH   50
#define NGX_HTTP_BYOK_REWRAP_MAX     250


typedef struct {
    ngx_http_byok_main_conf_t   *bmcf;
} ngx_http_byok_reseal_ctx_t;


static ngx_int_t ngx_http_byok_admin_authorize(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_admin_stats(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_admin_metrics(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_admin_health(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_admin_audit(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_admin_user_keys(ngx_http_request_t *r,
    ngx_str_t *user);
static ngx_int_t ngx_http_byok_admin_rewrap(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static ngx_int_t ngx_http_byok_admin_flush(ngx_http_request_t *r,
    ngx_http_byok_ctx_t *ctx);
static int ngx_http_byok_admin_reseal(void *data,
    const ngx_http_byok_row_t *row, unsigned char *out, size_t *out_len,
    uint32_t *master_id);
static ngx_int_t ngx_http_byok_arg_int(ngx_http_request_t *r, char *name,
    int64_t *value);
static ngx_int_t ngx_http_byok_arg_str(ngx_http_request_t *r, char *name,
    char **value);
static ngx_uint_t ngx_http_byok_status_index(ngx_uint_t status);
static json_t *ngx_http_byok_json_text(const char *s);


typedef struct {
    ngx_str_t                    path;
    ngx_uint_t                   methods;
    char                        *allow;
    ngx_int_t                  (*handler)(ngx_http_request_t *r,
                                          ngx_http_byok_ctx_t *ctx);
} ngx_http_byok_admin_route_t;


static ngx_http_byok_admin_route_t  ngx_http_byok_admin_routes[] = {

    { ngx_string("/stats"), NGX_HTTP_GET|NGX_HTTP_HEAD, "GET",
      ngx_http_byok_admin_stats },

    { ngx_string("/metrics"), NGX_HTTP_GET|NGX_HTTP_HEAD, "GET",
      ngx_http_byok_admin_metrics },

    { ngx_string("/health"), NGX_HTTP_GET|NGX_HTTP_HEAD, "GET",
      ngx_http_byok_admin_health },

    { ngx_string("/audit"), NGX_HTTP_GET|NGX_HTTP_HEAD, "GET",
      ngx_http_byok_admin_audit },

    { ngx_string("/rewrap"), NGX_HTTP_POST, "POST",
      ngx_http_byok_admin_rewrap },

    { ngx_string("/cache/flush"), NGX_HTTP_POST, "POST",
      ngx_http_byok_admin_flush },

    { ngx_null_string, 0, NULL, NULL }
};


static ngx_uint_t  ngx_http_byok_statuses[NGX_HTTP_BYOK_STATUS_MAX - 1] = {
    200, 201, 204, 400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 501, 503
};

static const char  *ngx_http_byok_route_names[NGX_HTTP_BYOK_METRIC_MAX] = {
    "none", "keys_list", "keys_create", "key_get", "key_update",
    "key_revoke", "key_test", "keys_order", "catalog", "oauth", "lookup",
    "inject", "admin"
};


ngx_int_t
ngx_http_byok_admin_handler(ngx_http_request_t *r)
{
    u_char                       *p, *last;
    ngx_int_t                     rc;
    ngx_str_t                     path, user;
    ngx_http_byok_ctx_t          *ctx;
    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_byok_admin_route_t  *route;

    rc = ngx_http_byok_authenticate(r, &ctx);

    if (rc == NGX_HTTP_UNAUTHORIZED) {
        ngx_http_discard_request_body(r);
        return ngx_http_byok_send_error(r, NGX_HTTP_UNAUTHORIZED,
                                        "unauthorized",
                                        "A valid bearer token is required.",
                                        NULL);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->metric = NGX_HTTP_BYOK_METRIC_ADMIN;

    if (ngx_http_byok_admin_authorize(r, ctx) != NGX_OK) {
        ngx_http_discard_request_body(r);
        return ngx_http_byok_send_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "This token does not carry the "
                                        "admin claim.", NULL);
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;

        if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
            path.data--;
            path.len++;
        }
    }

    for (route = ngx_http_byok_admin_routes; route->path.len; route++) {

        if (path.len != route->path.len
            || ngx_strncmp(path.data, route->path.data, path.len) != 0)
        {
            continue;
        }

        if (!(r->method & route->methods)) {
            return ngx_http_byok_method_not_allowed(r, route->allow);
        }

        return route->handler(r, ctx);
    }

    /* /users/{user}/keys, the user id percent-encoded */

    if (path.len > sizeof("/users//keys") - 1
        && ngx_strncmp(path.data, "/users/", 7) == 0
        && ngx_strncmp(path.data + path.len - 5, "/keys", 5) == 0)
    {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
            return ngx_http_byok_method_not_allowed(r, "GET");
        }

        p = path.data + 7;
        last = path.data + path.len - 5;

        user.data = ngx_pnalloc(r->pool, last - p + 1);
        if (user.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        user.len = last - p;
        ngx_memcpy(user.data, p, user.len);
        user.data[user.len] = '\0';

        if (user.len > NGX_HTTP_BYOK_USER_MAX
            || ngx_strlchr(user.data, user.data + user.len, '/') != NULL)
        {
            return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND,
                                            "not_found", "No such resource.",
                                            NULL);
        }

        return ngx_http_byok_admin_user_keys(r, &user);
    }

    return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                    "No such resource.", NULL);
}


static ngx_int_t
ngx_http_byok_admin_authorize(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    size_t                     i;
    json_t                    *claim, *v;
    ngx_http_byok_loc_conf_t  *blcf;

    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    claim = json_object_get(ctx->claims,
                            (char *) blcf->admin_claim_name.data);

    if (json_is_string(claim)
        && json_string_length(claim) == blcf->admin_claim_value.len
        && ngx_strncmp(json_string_value(claim), blcf->admin_claim_value.data,
                       blcf->admin_claim_value.len) == 0)
    {
        return NGX_OK;
    }

    /* "roles": ["admin", ...] */

    json_array_foreach(claim, i, v) {
        if (json_is_string(v)
            && json_string_length(v) == blcf->admin_claim_value.len
            && ngx_strncmp(json_string_value(v), blcf->admin_claim_value.data,
                           blcf->admin_claim_value.len) == 0)
        {
            return NGX_OK;
        }
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "byok: admin request by \"%V\" without the admin claim",
                  &ctx->user);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_byok_admin_stats(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    size_t                      i, n;
    json_t                     *body, *keys;
    int64_t                     bytes, audit_rows;
    ngx_uint_t                  entries, hits, misses, evictions;
    ngx_http_byok_zone_t       *zone;
    ngx_http_byok_stat_t       *stats;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    bytes = 0;
    audit_rows = 0;

    if (bmcf->store == NULL
        || ngx_http_byok_store_stats(bmcf->store, &stats, &n, &bytes,
                                     &audit_rows)
           != NGX_HTTP_BYOK_STORE_OK)
    {
        ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->store_errors, 1);
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable.",
                                        NULL);
    }

    keys = json_array();

    for (i = 0; keys != NULL && i < n; i++) {
        json_array_append_new(keys, json_pack("{s:s, s:s, s:I}",
                                              "provider", stats[i].provider,
                                              "status", stats[i].status,
                                              "count",
                                              (json_int_t) stats[i].count));
    }

    free(stats);

    zone = bmcf->shm_zone->data;

    ngx_shmtx_lock(&zone->shpool->mutex);
    entries = zone->sh->entries;
    hits = zone->sh->hits;
    misses = zone->sh->misses;
    evictions = zone->sh->evictions;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    body = json_pack("{s:o, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I}}",
                     "keys", keys,
                     "cache",
                     "entries", (json_int_t) entries,
                     "hits", (json_int_t) hits,
                     "misses", (json_int_t) misses,
                     "evictions", (json_int_t) evictions,
                     "zone_bytes", (json_int_t) bmcf->shm_zone->shm.size,
                     "store",
                     "bytes", (json_int_t) bytes,
                     "audit_rows", (json_int_t) audit_rows);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK, body);
}


static ngx_int_t
ngx_http_byok_admin_metrics(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    u_char                     *p, *start;
    size_t                      size;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, k, v, entries, hits, misses, evictions;
    ngx_chain_t                 out;
    ngx_http_byok_zone_t       *zone;
    ngx_http_byok_metrics_t    *m;
    ngx_http_byok_main_conf_t  *bmcf;

    static const char  *sources[] = { "none", "user", "platform" };
    static const char  *results[] = { "valid", "invalid", "error",
                                      "skipped" };
    static const char  *states[] = { "active", "invalid", "exhausted",
                                     "cooldown" };

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    zone = bmcf->shm_zone->data;
    m = &zone->sh->metrics;

    ngx_shmtx_lock(&zone->shpool->mutex);
    entries = zone->sh->entries;
    hits = zone->sh->hits;
    misses = zone->sh->misses;
    evictions = zone->sh->evictions;
    ngx_shmtx_unlock(&zone->shpool->mutex);

    size = 4096 + NGX_HTTP_BYOK_METRIC_MAX * NGX_HTTP_BYOK_STATUS_MAX * 96;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    start = b->pos;
    p = start;

    p = ngx_sprintf(p,
        "# HELP byok_http_requests_total Requests answered by the module, "
        "by route and status.\n"
        "# TYPE byok_http_requests_total counter\n");

    for (i = 1; i < NGX_HTTP_BYOK_METRIC_MAX; i++) {
        for (k = 0; k < NGX_HTTP_BYOK_STATUS_MAX; k++) {
            v = m->requests[i][k];

            if (v == 0) {
                continue;
            }

            if (k < NGX_HTTP_BYOK_STATUS_MAX - 1) {
                p = ngx_sprintf(p, "byok_http_requests_total{route=\"%s\","
                                "status=\"%ui\"} %ui\n",
                                ngx_http_byok_route_names[i],
                                ngx_http_byok_statuses[k], v);

            } else {
                p = ngx_sprintf(p, "byok_http_requests_total{route=\"%s\","
                                "status=\"other\"} %ui\n",
                                ngx_http_byok_route_names[i], v);
            }
        }
    }

    p = ngx_sprintf(p,
        "# HELP byok_lookups_total Key lookups by the source of the key.\n"
        "# TYPE byok_lookups_total counter\n");

    for (i = 0; i < 3; i++) {
        p = ngx_sprintf(p, "byok_lookups_total{source=\"%s\"} %uA\n",
                        sources[i], m->lookups[i]);
    }

    p = ngx_sprintf(p,
        "# HELP byok_cache_hits_total Lookups answered from the zone.\n"
        "# TYPE byok_cache_hits_total counter\n"
        "byok_cache_hits_total %ui\n"
        "# HELP byok_cache_misses_total Lookups that read the store.\n"
        "# TYPE byok_cache_misses_total counter\n"
        "byok_cache_misses_total %ui\n"
        "# HELP byok_cache_evictions_total Entries evicted from a full "
        "zone.\n"
        "# TYPE byok_cache_evictions_total counter\n"
        "byok_cache_evictions_total %ui\n"
        "# HELP byok_cache_entries Selections cached in the zone.\n"
        "# TYPE byok_cache_entries gauge\n"
        "byok_cache_entries %ui\n"
        "# HELP byok_cache_zone_size_bytes Size of the shared zone.\n"
        "# TYPE byok_cache_zone_size_bytes gauge\n"
        "byok_cache_zone_size_bytes %uz\n",
        hits, misses, evictions, entries, bmcf->shm_zone->shm.size);

    p = ngx_sprintf(p,
        "# HELP byok_key_tests_total Key tests by result.\n"
        "# TYPE byok_key_tests_total counter\n");

    for (i = 0; i < 4; i++) {
        p = ngx_sprintf(p, "byok_key_tests_total{result=\"%s\"} %uA\n",
                        results[i], m->tests[i]);
    }

    p = ngx_sprintf(p,
        "# HELP byok_key_health_transitions_total Keys that a provider's "
        "answer moved to a health state.\n"
        "# TYPE byok_key_health_transitions_total counter\n");

    for (i = 1; i < 4; i++) {
        p = ngx_sprintf(p, "byok_key_health_transitions_total"
                        "{state=\"%s\"} %uA\n", states[i], m->health[i]);
    }

    p = ngx_sprintf(p,
        "# HELP byok_store_errors_total Store operations that failed.\n"
        "# TYPE byok_store_errors_total counter\n"
        "byok_store_errors_total %uA\n"
        "# HELP byok_rewrap_keys_total Sealed values handled by rewrap.\n"
        "# TYPE byok_rewrap_keys_total counter\n"
        "byok_rewrap_keys_total{outcome=\"rewrapped\"} %uA\n"
        "byok_rewrap_keys_total{outcome=\"failed\"} %uA\n"
        "# HELP byok_rewrap_remaining_keys Sealed values not under the "
        "current master key at the last rewrap.\n"
        "# TYPE byok_rewrap_remaining_keys gauge\n"
        "byok_rewrap_remaining_keys %uA\n",
        m->store_errors, m->rewrapped, m->rewrap_failed,
        m->rewrap_remaining);

    b->last = p;
    b->last_buf = 1;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = p - start;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    if (r->method == NGX_HTTP_HEAD) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_byok_admin_health(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    char                        reason[256];
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    if (bmcf->store == NULL) {
        ngx_cpystrn((u_char *) reason, (u_char *) "store is not open",
                    sizeof(reason));
        goto unavailable;
    }

    if (ngx_http_byok_store_check(bmcf->store, 1, reason, sizeof(reason))
        != NGX_HTTP_BYOK_STORE_OK)
    {
        goto unavailable;
    }

    if (ngx_http_byok_store_master_check(bmcf->store, bmcf->masters[0].id,
                                         bmcf->masters[0].check,
                                         NGX_HTTP_BYOK_SEAL_CHECK_LEN, 0)
        != 0)
    {
        ngx_cpystrn((u_char *) reason,
                    (u_char *) "the master key does not match the store",
                    sizeof(reason));
        goto unavailable;
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK,
                                   json_pack("{s:s}", "status", "ok"));

unavailable:

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "byok: health check failed: %s", reason);

    return ngx_http_byok_send_json(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   json_pack("{s:s, s:s}",
                                             "status", "unavailable",
                                             "reason", reason));
}


static ngx_int_t
ngx_http_byok_admin_audit(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    u_char                       when[sizeof("2026-11-26T21:00:00Z")];
    char                        *since;
    size_t                       i, n;
    json_t                      *body, *list, *e;
    int64_t                      limit;
    ngx_tm_t                     tm;
    ngx_http_byok_audit_row_t   *rows;
    ngx_http_byok_main_conf_t   *bmcf;
    ngx_http_byok_audit_query_t  q;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    ngx_memzero(&q, sizeof(ngx_http_byok_audit_query_t));

    limit = NGX_HTTP_BYOK_AUDIT_LIMIT;
    since = NULL;

    if (ngx_http_byok_arg_str(r, "user", (char **) &q.user) != NGX_OK
        || ngx_http_byok_arg_str(r, "action", (char **) &q.action) != NGX_OK
        || ngx_http_byok_arg_str(r, "since", &since) != NGX_OK
        || ngx_http_byok_arg_int(r, "key_id", &q.key_id) != NGX_OK
        || ngx_http_byok_arg_int(r, "before", &q.before) != NGX_OK
        || ngx_http_byok_arg_int(r, "limit", &limit) != NGX_OK
        || limit < 1 || limit > NGX_HTTP_BYOK_AUDIT_MAX)
    {
        return ngx_http_byok_send_error(r, 422, "validation_failed",
                                        "Filters: user, action, since "
                                        "(unix time or YYYY-MM-DDTHH:MM:SSZ),"
                                        " key_id, before, limit (1-500).",
                                        NULL);
    }

    if (since != NULL) {
        q.since = ngx_atotm((u_char *) since, ngx_strlen(since));

        if (q.since == NGX_ERROR) {
            ngx_memzero(&tm, sizeof(ngx_tm_t));

            if (sscanf(since, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.ngx_tm_year,
                       &tm.ngx_tm_mon, &tm.ngx_tm_mday, &tm.ngx_tm_hour,
                       &tm.ngx_tm_min, &tm.ngx_tm_sec)
                != 6)
            {
                return ngx_http_byok_send_error(r, 422, "validation_failed",
                                                "since must be unix time or "
                                                "YYYY-MM-DDTHH:MM:SSZ.",
                                                "since");
            }

            tm.ngx_tm_mon--;
            tm.ngx_tm_year -= 1900;
            q.since = timegm(&tm);
        }
    }

    q.limit = (size_t) limit;

    if (bmcf->store == NULL
        || ngx_http_byok_store_audit_query(bmcf->store, &q, &rows, &n)
           != NGX_HTTP_BYOK_STORE_OK)
    {
        ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->store_errors, 1);
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable.",
                                        NULL);
    }

    list = json_array();
    body = json_pack("{s:o}", "entries", list);

    for (i = 0; body != NULL && i < n; i++) {
        e = json_pack("{s:I, s:s#, s:o, s:s, s:s, s:o, s:o, s:o, s:o, s:s}",
                      "id", (json_int_t) rows[i].id,
                      "at", when,
                      (int) (ngx_http_byok_time_iso(when, rows[i].at)
                             - when),
                      "actor", ngx_http_byok_json_text(rows[i].actor),
                      "actor_kind", rows[i].actor_kind,
                      "action", rows[i].action,
                      "user", ngx_http_byok_json_text(rows[i].user),
                      "key_id", rows[i].key_id
                                ? json_integer(rows[i].key_id) : json_null(),
                      "provider", ngx_http_byok_json_text(rows[i].provider),
                      "remote_addr",
                      ngx_http_byok_json_text(rows[i].remote_addr),
                      "outcome", rows[i].outcome);

        json_array_append_new(list, e);
    }

    if (body != NULL) {
        json_object_set_new(body, "next",
                            (n == q.limit && n > 0)
                            ? json_integer(rows[n - 1].id) : json_null());
    }

    free(rows);

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK, body);
}


static ngx_int_t
ngx_http_byok_admin_user_keys(ngx_http_request_t *r, ngx_str_t *user)
{
    size_t                      i, n;
    json_t                     *body, *list, *name;
    ngx_http_byok_key_t        *keys;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    /* r->uri is decoded once already; a user id is valid UTF-8 */

    name = json_stringn((char *) user->data, user->len);

    if (name == NULL || user->len == 0
        || ngx_strlen(user->data) != user->len)
    {
        json_decref(name);
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "No such resource.", NULL);
    }

    if (bmcf->store == NULL
        || ngx_http_byok_store_list(bmcf->store, (char *) user->data, NULL,
                                    NULL, 1, &keys, &n)
           != NGX_HTTP_BYOK_STORE_OK)
    {
        json_decref(name);
        ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->store_errors, 1);
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable.",
                                        NULL);
    }

    list = json_array();
    body = json_pack("{s:o, s:o}", "user", name, "keys", list);

    for (i = 0; body != NULL && i < n; i++) {
        json_array_append_new(list, ngx_http_byok_key_json(&keys[i]));
    }

    free(keys);

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK, body);
}


static ngx_int_t
ngx_http_byok_admin_rewrap(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    int                          rc;
    int64_t                      after;
    ngx_http_byok_audit_t        audit;
    ngx_http_byok_rewrap_t       res, sum;
    ngx_http_byok_metrics_t     *m;
    ngx_http_byok_main_conf_t   *bmcf;
    ngx_http_byok_reseal_ctx_t   rctx;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    m = ngx_http_byok_metrics(r);

    if (bmcf->store == NULL) {
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable.",
                                        NULL);
    }

    ngx_memzero(&audit, sizeof(ngx_http_byok_audit_t));
    audit.actor = (char *) ctx->user.data;
    audit.actor_kind = "admin";
    audit.action = "key.rewrap";
    audit.remote_addr = ngx_http_byok_cstr(r->pool,
                                           &r->connection->addr_text);
    audit.outcome = "ok";

    rctx.bmcf = bmcf;

    ngx_memzero(&sum, sizeof(ngx_http_byok_rewrap_t));

    /*
     * Batches of short transactions, at most REWRAP_MAX rows per call so
     * the worker stays responsive; "remaining" says whether to call again.
     */

    /*
     * Batches of short transactions, at most REWRAP_MAX values re-sealed
     * per call so the worker stays responsive (each is a synced commit);
     * "remaining" says whether to call again.  The id cursor walks past
     * values that do not open: they cost a failed open, never a write.
     */

    after = 0;

    while (sum.rewrapped < NGX_HTTP_BYOK_REWRAP_MAX) {
        rc = ngx_http_byok_store_rewrap(bmcf->store, bmcf->masters[0].id,
                                        after,
                                        ngx_min(NGX_HTTP_BYOK_REWRAP_BATCH,
                                                NGX_HTTP_BYOK_REWRAP_MAX
                                                - sum.rewrapped),
                                        ngx_http_byok_admin_reseal, &rctx,
                                        &audit, &res);
        if (rc != NGX_HTTP_BYOK_STORE_OK) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "byok_store: rewrap: %s",
                          ngx_http_byok_store_error(bmcf->store));
            ngx_atomic_fetch_add(&m->store_errors, 1);
            return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                            "store_unavailable",
                                            "The key store is unavailable; "
                                            "run the rewrap again.", NULL);
        }

        sum.rewrapped += res.rewrapped;
        sum.skipped += res.skipped;
        sum.failed += res.failed;
        sum.remaining = res.remaining;

        if (res.last == after) {
            break;
        }

        after = res.last;
    }

    ngx_atomic_fetch_add(&m->rewrapped, sum.rewrapped);
    ngx_atomic_fetch_add(&m->rewrap_failed, sum.failed);
    m->rewrap_remaining = sum.remaining;

    if (sum.rewrapped) {
        /* cached plaintext is unchanged, but selections re-read cleanly */
        (void) ngx_http_byok_cache_flush(bmcf->shm_zone->data);
    }

    if (sum.failed) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "byok: rewrap: %uz sealed values do not open with "
                      "any configured master key", sum.failed);
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK,
                                   json_pack("{s:I, s:I, s:I, s:I, s:s}",
                                             "rewrapped",
                                             (json_int_t) sum.rewrapped,
                                             "skipped",
                                             (json_int_t) sum.skipped,
                                             "failed",
                                             (json_int_t) sum.failed,
                                             "remaining",
                                             (json_int_t) sum.remaining,
                                             "master_key_id",
                                             ngx_http_byok_hex_id(r,
                                                 bmcf->masters[0].id)));
}


static int
ngx_http_byok_admin_reseal(void *data, const ngx_http_byok_row_t *row,
    unsigned char *out, size_t *out_len, uint32_t *master_id)
{
    ngx_http_byok_reseal_ctx_t *rctx = data;

    int                         rc;
    size_t                      len;
    u_char                      plain[NGX_HTTP_BYOK_VALUE_MAX];
    ngx_http_byok_aad_t         aad;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = rctx->bmcf;

    if (row->blob_len < NGX_HTTP_BYOK_SEAL_OVERHEAD
        || row->blob_len - NGX_HTTP_BYOK_SEAL_OVERHEAD > sizeof(plain))
    {
        return -1;
    }

    aad.user = (const u_char *) row->user;
    aad.user_len = ngx_strlen(row->user);
    aad.key_id = row->id;
    aad.provider = (const u_char *) row->provider;
    aad.provider_len = ngx_strlen(row->provider);

    if (ngx_http_byok_open(bmcf->masters, bmcf->nmasters, &aad, row->blob,
                           row->blob_len, plain, &len)
        != NGX_HTTP_BYOK_SEAL_OK)
    {
        return -1;
    }

    rc = ngx_http_byok_seal(&bmcf->masters[0], &aad, plain, len, out,
                            out_len);

    ngx_http_byok_wipe(plain, sizeof(plain));

    *master_id = bmcf->masters[0].id;

    return rc;
}


static ngx_int_t
ngx_http_byok_admin_flush(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx)
{
    ngx_int_t                   n;
    ngx_http_byok_audit_t       audit;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    n = ngx_http_byok_cache_flush(bmcf->shm_zone->data);

    ngx_memzero(&audit, sizeof(ngx_http_byok_audit_t));
    audit.actor = (char *) ctx->user.data;
    audit.actor_kind = "admin";
    audit.action = "cache.flush";
    audit.remote_addr = ngx_http_byok_cstr(r->pool,
                                           &r->connection->addr_text);
    audit.outcome = "ok";

    if (bmcf->store == NULL
        || ngx_http_byok_store_audit(bmcf->store, &audit)
           != NGX_HTTP_BYOK_STORE_OK)
    {
        ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->store_errors, 1);
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok: cache flushed, but the audit row could not be "
                      "written");
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK,
                                   json_pack("{s:i}", "flushed", (int) n));
}


static ngx_int_t
ngx_http_byok_arg_str(ngx_http_request_t *r, char *name, char **value)
{
    u_char     *dst, *src;
    ngx_str_t   arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    *value = ngx_pnalloc(r->pool, arg.len + 1);
    if (*value == NULL) {
        return NGX_ERROR;
    }

    dst = (u_char *) *value;
    src = arg.data;

    ngx_unescape_uri(&dst, &src, arg.len, 0);
    *dst = '\0';

    if ((size_t) (dst - (u_char *) *value) != ngx_strlen(*value)
        || dst - (u_char *) *value > NGX_HTTP_BYOK_USER_MAX)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_byok_arg_int(ngx_http_request_t *r, char *name, int64_t *value)
{
    ngx_int_t  n;
    ngx_str_t  arg;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &arg) != NGX_OK) {
        return NGX_OK;
    }

    n = ngx_atoi(arg.data, arg.len);
    if (n == NGX_ERROR || n == 0) {
        return NGX_ERROR;
    }

    *value = n;

    return NGX_OK;
}


ngx_http_byok_metrics_t *
ngx_http_byok_metrics(ngx_http_request_t *r)
{
    ngx_http_byok_zone_t       *zone;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    zone = bmcf->shm_zone->data;

    return &zone->sh->metrics;
}


void
ngx_http_byok_metric_route(ngx_http_request_t *r, ngx_uint_t route)
{
    ngx_http_byok_ctx_t  *ctx;

    ctx = ngx_http_byok_get_ctx(r);

    if (ctx != NULL && ctx->metric == NGX_HTTP_BYOK_METRIC_NONE) {
        ctx->metric = route;
    }
}


static ngx_uint_t
ngx_http_byok_status_index(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_BYOK_STATUS_MAX - 1; i++) {
        if (ngx_http_byok_statuses[i] == status) {
            return i;
        }
    }

    return NGX_HTTP_BYOK_STATUS_MAX - 1;
}


/* the log phase: one count per request the module answered or shaped */

ngx_int_t
ngx_http_byok_log_handler(ngx_http_request_t *r)
{
    ngx_http_byok_ctx_t        *ctx;
    ngx_http_byok_main_conf_t  *bmcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_byok_module);

    if (ctx == NULL || ctx->metric == NGX_HTTP_BYOK_METRIC_NONE
        || ctx->metric >= NGX_HTTP_BYOK_METRIC_MAX)
    {
        return NGX_OK;
    }

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    if (bmcf->shm_zone == NULL) {
        return NGX_OK;
    }

    ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->requests[ctx->metric]
                             [ngx_http_byok_status_index(
                                  r->headers_out.status)],
                         1);

    return NGX_OK;
}


/* an absent text column reads as "": answer null, as for a missing id */

static json_t *
ngx_http_byok_json_text(const char *s)
{
    return *s ? json_string(s) : json_null();
}
