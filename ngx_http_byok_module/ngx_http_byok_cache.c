
/*
 * The shared zone: decrypted selections keyed by (user, provider) and the
 * per-user key test rate limiter, in one rbtree with an LRU queue.
 */


#include "ngx_http_byok.h"

#include <sys/mman.h>


#define NGX_HTTP_BYOK_NODE_SELECTION  1
#define NGX_HTTP_BYOK_NODE_RATE       2

/*
 * No node takes more than an eighth of the zone: room for a larger one
 * would be made by evicting a large part of everyone else's entries, or
 * all of them in vain when it can never fit.  Such a selection is served
 * without being cached.
 */
#define NGX_HTTP_BYOK_NODE_SHARE      8

/* usage counters: keys per thread task, each batch one commit */
#define NGX_HTTP_BYOK_USAGE_BATCH     256


/*
 * Kept small: an entry for a 108-byte key fits a 256-byte slab chunk, so a
 * 16 MiB zone holds about 60,000 of them.
 */

typedef struct {
    u_char                       color;
    u_char                       kind;
    u_short                      len;        /* of the name in data[] */
    uint32_t                     size;       /* bytes of data[] */
    ngx_queue_t                  queue;
    ngx_msec_t                   loaded;
    uint32_t                     nkeys;
    int32_t                      excess;     /* rate limiter, in 1/1000 */
    u_char                       data[1];
} ngx_http_byok_node_t;


typedef struct {
    ngx_http_byok_main_conf_t   *bmcf;
    ngx_uint_t                   n;
    int64_t                      ids[NGX_HTTP_BYOK_USAGE_BATCH];
    int64_t                      uses[NGX_HTTP_BYOK_USAGE_BATCH];
    int64_t                      fails[NGX_HTTP_BYOK_USAGE_BATCH];
    int64_t                      last[NGX_HTTP_BYOK_USAGE_BATCH];
    int                          rc;
    char                         err[256];
} ngx_http_byok_usage_write_t;


static ngx_http_byok_zone_t *ngx_http_byok_zone(ngx_http_request_t *r);
static void ngx_http_byok_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_byok_node_t *ngx_http_byok_node_find(
    ngx_http_byok_shctx_t *sh, u_char kind, u_char *name, size_t len,
    uint32_t hash);
static ngx_http_byok_node_t *ngx_http_byok_node_alloc(
    ngx_http_byok_zone_t *zone, u_char kind, u_char *name, size_t len,
    uint32_t hash, size_t extra);
static void ngx_http_byok_node_free(ngx_http_byok_zone_t *zone,
    ngx_http_byok_node_t *bn);
static size_t ngx_http_byok_node_size(size_t len, size_t extra);
static size_t ngx_http_byok_node_name(u_char *buf, ngx_str_t *a,
    ngx_str_t *b);
static ngx_uint_t ngx_http_byok_usage_collect(
    ngx_http_byok_main_conf_t *bmcf, ngx_http_byok_usage_write_t *w);
static void ngx_http_byok_usage_post(ngx_http_byok_main_conf_t *bmcf,
    ngx_log_t *log);
static void ngx_http_byok_usage_thread(void *data, ngx_log_t *log);
static void ngx_http_byok_usage_done(ngx_event_t *ev);


static ngx_thread_task_t  *ngx_http_byok_usage_task;


ngx_int_t
ngx_http_byok_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_byok_zone_t  *ozone = data;

    size_t                  len;
    ngx_http_byok_zone_t   *zone;

    zone = shm_zone->data;

    zone->node_max = shm_zone->shm.size / NGX_HTTP_BYOK_NODE_SHARE;

    if (ozone) {
        zone->sh = ozone->sh;
        zone->shpool = ozone->shpool;
        return NGX_OK;
    }

    zone->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

#if (NGX_HAVE_MADV_DONTDUMP) || defined(MADV_DONTDUMP)
    /* decrypted keys live here: keep them out of core dumps */
    if (madvise(shm_zone->shm.addr, shm_zone->shm.size, MADV_DONTDUMP)
        == -1)
    {
        ngx_log_error(NGX_LOG_CRIT, shm_zone->shm.log, ngx_errno,
                      "madvise(MADV_DONTDUMP) failed on byok zone \"%V\"",
                      &shm_zone->shm.name);
    }
#endif

    if (shm_zone->shm.exists) {
        zone->sh = zone->shpool->data;
        return NGX_OK;
    }

    zone->sh = ngx_slab_alloc(zone->shpool, sizeof(ngx_http_byok_shctx_t));
    if (zone->sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(zone->sh, sizeof(ngx_http_byok_shctx_t));

    zone->shpool->data = zone->sh;

    ngx_rbtree_init(&zone->sh->rbtree, &zone->sh->sentinel,
                    ngx_http_byok_rbtree_insert_value);

    ngx_queue_init(&zone->sh->lru);

    len = sizeof(" in byok zone \"\"") + shm_zone->shm.name.len;

    zone->shpool->log_ctx = ngx_slab_alloc(zone->shpool, len);
    if (zone->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(zone->shpool->log_ctx, " in byok zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* a full zone evicts: the allocation failure is not an error then */

    zone->shpool->log_nomem = 0;

    return NGX_OK;
}


void
ngx_http_byok_cache_invalidate(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider)
{
    u_char                 name[NGX_HTTP_BYOK_USER_MAX + NGX_HTTP_BYOK_ID_MAX
                                + 2];
    size_t                 len;
    uint32_t               hash;
    ngx_http_byok_node_t  *bn;
    ngx_http_byok_zone_t  *zone;

    zone = ngx_http_byok_zone(r);
    if (zone == NULL) {
        return;
    }

    len = ngx_http_byok_node_name(name, user, provider);
    hash = ngx_murmur_hash2(name, len);

    ngx_shmtx_lock(&zone->shpool->mutex);

    /* a lookup that read the store before this change must not cache it */

    zone->sh->generation++;

    bn = ngx_http_byok_node_find(zone->sh, NGX_HTTP_BYOK_NODE_SELECTION,
                                 name, len, hash);
    if (bn != NULL) {
        ngx_http_byok_node_free(zone, bn);
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


/*
 * A token bucket per user: "rate" tokens per minute (in 1/1000), at most
 * "burst" in reserve.  NGX_BUSY with *retry_after when the bucket is empty.
 */

ngx_int_t
ngx_http_byok_rate_limit(ngx_http_request_t *r, ngx_str_t *user,
    ngx_uint_t rate, ngx_uint_t burst, time_t *retry_after)
{
    u_char                 name[NGX_HTTP_BYOK_USER_MAX + 2];
    size_t                 len;
    uint32_t               hash;
    ngx_msec_t             now;
    ngx_msec_int_t         ms, excess;
    ngx_str_t              none;
    ngx_http_byok_node_t  *bn;
    ngx_http_byok_zone_t  *zone;

    zone = ngx_http_byok_zone(r);
    if (zone == NULL || rate == 0) {
        return NGX_OK;
    }

    ngx_str_null(&none);
    len = ngx_http_byok_node_name(name, user, &none);
    hash = ngx_murmur_hash2(name, len);
    now = ngx_current_msec;

    ngx_shmtx_lock(&zone->shpool->mutex);

    bn = ngx_http_byok_node_find(zone->sh, NGX_HTTP_BYOK_NODE_RATE,
                                 name, len, hash);

    if (bn == NULL) {
        bn = ngx_http_byok_node_alloc(zone, NGX_HTTP_BYOK_NODE_RATE, name,
                                      len, hash, 0);
        if (bn == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_OK;
        }

        bn->loaded = now;
    }

    /*
     * the same leaky bucket arithmetic as limit_req, per minute; the worker
     * that last took from the bucket may have a cached clock ahead of ours,
     * and time that seems to run back drains nothing
     */

    ms = (ngx_msec_int_t) (now - bn->loaded);

    if (ms < -60000) {
        ms = 1;

    } else if (ms < 0) {
        ms = 0;
    }

    excess = bn->excess - (ngx_msec_int_t) (rate * ms / 60000) + 1000;

    if (excess < 0) {
        excess = 0;
    }

    if ((ngx_uint_t) excess > burst * 1000) {
        *retry_after = (time_t) ((excess - (ngx_msec_int_t) burst * 1000)
                                 * 60 / (ngx_msec_int_t) rate) + 1;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_BUSY;
    }

    bn->excess = (int32_t) excess;

    if (ms) {
        bn->loaded = now;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * Copies the first usable key of a cached selection into request memory.
 * NGX_OK: an entry was found (sel->id == 0 when it says "no key");
 * NGX_DECLINED: not cached or expired; *generation is what a later
 * ngx_http_byok_cache_put() must present.
 */

ngx_int_t
ngx_http_byok_cache_get(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider, ngx_http_byok_selected_t *sel,
    ngx_uint_t *generation)
{
    u_char                      name[NGX_HTTP_BYOK_USER_MAX
                                     + NGX_HTTP_BYOK_ID_MAX + 2];
    u_char                     *p;
    size_t                      len;
    time_t                      now;
    uint32_t                    hash;
    ngx_uint_t                  i;
    ngx_msec_int_t              age;
    ngx_http_byok_node_t       *bn;
    ngx_http_byok_zone_t       *zone;
    ngx_http_byok_record_t     *rec;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    zone = bmcf->shm_zone->data;

    len = ngx_http_byok_node_name(name, user, provider);
    hash = ngx_murmur_hash2(name, len);

    sel->id = 0;
    ngx_str_null(&sel->value);

    ngx_shmtx_lock(&zone->shpool->mutex);

    *generation = zone->sh->generation;

    bn = ngx_http_byok_node_find(zone->sh, NGX_HTTP_BYOK_NODE_SELECTION,
                                 name, len, hash);

    age = 0;

    if (bn != NULL) {
        age = (ngx_msec_int_t) (ngx_current_msec - bn->loaded);

        /*
         * loaded by a worker whose cached clock is ahead of ours: fresh,
         * unless it seems to come from further ahead than a clock can lag
         */

        if (age < -60000) {
            age = (ngx_msec_int_t) bmcf->cache_ttl;

        } else if (age < 0) {
            age = 0;
        }
    }

    if (bn == NULL || (ngx_msec_t) age >= bmcf->cache_ttl) {

        if (bn != NULL) {
            ngx_http_byok_node_free(zone, bn);
        }

        zone->sh->misses++;
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return NGX_DECLINED;
    }

    zone->sh->hits++;

    ngx_queue_remove(&bn->queue);
    ngx_queue_insert_head(&zone->sh->lru, &bn->queue);

    now = ngx_time();
    p = bn->data + ngx_align(bn->len, sizeof(int64_t));

    for (i = 0; i < bn->nkeys; i++) {
        rec = (ngx_http_byok_record_t *) p;
        p += ngx_align(offsetof(ngx_http_byok_record_t, value) + rec->len,
                       sizeof(int64_t));

        if (!ngx_http_byok_key_usable(rec->state, rec->until, now)) {
            continue;
        }

        /* a small pool copy under the lock, no crypto and no I/O */

        sel->value.data = ngx_pnalloc(r->pool, rec->len);
        if (sel->value.data == NULL) {
            ngx_shmtx_unlock(&zone->shpool->mutex);
            return NGX_ERROR;
        }

        ngx_memcpy(sel->value.data, rec->value, rec->len);

        sel->id = rec->id;
        sel->value.len = rec->len;

        rec->uses++;
        rec->last_used = (uint32_t) now;

        break;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return NGX_OK;
}


/*
 * Caches a selection read from the store, unless something was
 * invalidated since the caller's ngx_http_byok_cache_get().
 */

void
ngx_http_byok_cache_put(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider, ngx_http_byok_selected_t *keys, ngx_uint_t n,
    ngx_uint_t generation, int64_t used)
{
    u_char                      name[NGX_HTTP_BYOK_USER_MAX
                                     + NGX_HTTP_BYOK_ID_MAX + 2];
    u_char                     *p;
    size_t                      len, size;
    uint32_t                    hash;
    ngx_uint_t                  i;
    ngx_http_byok_node_t       *bn;
    ngx_http_byok_zone_t       *zone;
    ngx_http_byok_record_t     *rec;
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    zone = bmcf->shm_zone->data;

    len = ngx_http_byok_node_name(name, user, provider);
    hash = ngx_murmur_hash2(name, len);

    size = 0;

    for (i = 0; i < n; i++) {

        /* a record's 16-bit length holds no more than a key may have */

        if (keys[i].value.len > NGX_HTTP_BYOK_VALUE_MAX) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "byok: key %L is longer than %d bytes and is not "
                          "cached", keys[i].id, NGX_HTTP_BYOK_VALUE_MAX);
            return;
        }

        size += ngx_align(offsetof(ngx_http_byok_record_t, value)
                          + keys[i].value.len, sizeof(int64_t));
    }

    if (ngx_http_byok_node_size(len, size) > zone->node_max) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "byok: the selection of user \"%V\" for \"%V\" "
                      "(%ui keys, %uz bytes) takes more than an eighth of "
                      "the zone and is not cached", user, provider, n, size);
        return;
    }

    ngx_shmtx_lock(&zone->shpool->mutex);

    if (zone->sh->generation != generation) {
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    bn = ngx_http_byok_node_find(zone->sh, NGX_HTTP_BYOK_NODE_SELECTION,
                                 name, len, hash);
    if (bn != NULL) {
        ngx_http_byok_node_free(zone, bn);
    }

    bn = ngx_http_byok_node_alloc(zone, NGX_HTTP_BYOK_NODE_SELECTION, name,
                                  len, hash, size);
    if (bn == NULL) {
        /* even an emptied zone had no room: the lookup goes on uncached */
        ngx_shmtx_unlock(&zone->shpool->mutex);
        return;
    }

    bn->nkeys = n;
    p = bn->data + ngx_align(len, sizeof(int64_t));

    for (i = 0; i < n; i++) {
        rec = (ngx_http_byok_record_t *) p;
        rec->id = keys[i].id;
        rec->len = (uint16_t) keys[i].value.len;
        rec->state = (uint8_t) keys[i].state;
        rec->until = (uint32_t) keys[i].until;
        rec->uses = (keys[i].id == used) ? 1 : 0;
        rec->failures = 0;
        rec->last_used = rec->uses ? (uint32_t) ngx_time() : 0;
        ngx_memcpy(rec->value, keys[i].value.data, keys[i].value.len);

        p += ngx_align(offsetof(ngx_http_byok_record_t, value)
                       + keys[i].value.len, sizeof(int64_t));
    }

    zone->sh->entries++;

    ngx_shmtx_unlock(&zone->shpool->mutex);
}


ngx_uint_t
ngx_http_byok_key_usable(ngx_uint_t state, time_t until, time_t now)
{
    return state == NGX_HTTP_BYOK_KEY_ACTIVE
           || (state == NGX_HTTP_BYOK_KEY_COOLDOWN && until <= now);
}


/*
 * Records what a provider said about a key: every worker sees the new
 * state at once.  NGX_OK when the state changed (the caller persists and
 * audits it), NGX_DONE when it was already known.
 */

ngx_int_t
ngx_http_byok_cache_health(ngx_http_request_t *r, ngx_str_t *user,
    ngx_str_t *provider, int64_t id, ngx_uint_t state, time_t until,
    ngx_uint_t failure)
{
    u_char                      name[NGX_HTTP_BYOK_USER_MAX
                                     + NGX_HTTP_BYOK_ID_MAX + 2];
    u_char                     *p;
    size_t                      len;
    uint32_t                    hash;
    ngx_int_t                   rc;
    ngx_uint_t                  i;
    ngx_http_byok_node_t       *bn;
    ngx_http_byok_zone_t       *zone;
    ngx_http_byok_record_t     *rec;

    zone = ngx_http_byok_zone(r);
    if (zone == NULL) {
        return NGX_DONE;
    }

    len = ngx_http_byok_node_name(name, user, provider);
    hash = ngx_murmur_hash2(name, len);

    rc = NGX_OK;

    ngx_shmtx_lock(&zone->shpool->mutex);

    bn = ngx_http_byok_node_find(zone->sh, NGX_HTTP_BYOK_NODE_SELECTION,
                                 name, len, hash);
    rec = NULL;

    if (bn != NULL) {
        p = bn->data + ngx_align(bn->len, sizeof(int64_t));

        for (i = 0; i < bn->nkeys; i++) {
            rec = (ngx_http_byok_record_t *) p;

            if (rec->id == id) {
                break;
            }

            p += ngx_align(offsetof(ngx_http_byok_record_t, value)
                           + rec->len, sizeof(int64_t));
            rec = NULL;
        }
    }

    if (rec == NULL) {

        /*
         * not cached: the store is the truth, and no load begun before it
         * changes may win; a failure alone changes nothing
         */

        if (state != NGX_HTTP_BYOK_KEY_ACTIVE) {
            zone->sh->generation++;
        }

    } else {
        if (failure) {
            rec->failures++;
        }

        if (state == NGX_HTTP_BYOK_KEY_ACTIVE
            || (rec->state == state
                && (state != NGX_HTTP_BYOK_KEY_COOLDOWN
                    || rec->until > ngx_time())))
        {
            rc = NGX_DONE;

        } else {
            rec->state = (uint8_t) state;
            rec->until = (uint32_t) until;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return rc;
}


/*
 * Takes the usage counters of cached keys out of the zone, at most "max";
 * the caller writes them to the store outside the lock.
 */

ngx_uint_t
ngx_http_byok_cache_usage(ngx_http_byok_zone_t *zone,
    ngx_http_byok_usage_t *usage, ngx_uint_t max)
{
    u_char                  *p;
    ngx_uint_t               i, n;
    ngx_queue_t             *q;
    ngx_http_byok_node_t    *bn;
    ngx_http_byok_record_t  *rec;

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    for (q = ngx_queue_head(&zone->sh->lru);
         q != ngx_queue_sentinel(&zone->sh->lru) && n < max;
         q = ngx_queue_next(q))
    {
        bn = ngx_queue_data(q, ngx_http_byok_node_t, queue);

        if (bn->kind != NGX_HTTP_BYOK_NODE_SELECTION) {
            continue;
        }

        p = bn->data + ngx_align(bn->len, sizeof(int64_t));

        for (i = 0; i < bn->nkeys && n < max; i++) {
            rec = (ngx_http_byok_record_t *) p;
            p += ngx_align(offsetof(ngx_http_byok_record_t, value)
                           + rec->len, sizeof(int64_t));

            if (rec->uses == 0 && rec->failures == 0) {
                continue;
            }

            usage[n].id = rec->id;
            usage[n].uses = rec->uses;
            usage[n].failures = rec->failures;
            usage[n].last_used = rec->last_used;
            n++;

            rec->uses = 0;
            rec->failures = 0;
        }
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


ngx_int_t
ngx_http_byok_cache_flush(ngx_http_byok_zone_t *zone)
{
    ngx_uint_t             n;
    ngx_queue_t           *q;
    ngx_http_byok_node_t  *bn;

    n = 0;

    ngx_shmtx_lock(&zone->shpool->mutex);

    zone->sh->generation++;

    while (!ngx_queue_empty(&zone->sh->lru)) {
        q = ngx_queue_last(&zone->sh->lru);
        bn = ngx_queue_data(q, ngx_http_byok_node_t, queue);
        ngx_http_byok_node_free(zone, bn);
        n++;
    }

    ngx_shmtx_unlock(&zone->shpool->mutex);

    return n;
}


/*
 * Usage counters are written every byok_usage_flush, in the thread pool on
 * the worker's writer connection, a batch of at most 256 keys per task:
 * each batch is a synced commit, which the event loop must not wait for.
 * One batch is written at a time; what is not collected yet stays in the
 * zone.  The last counters of an exiting worker are written in place, the
 * thread pool being gone by then.
 */

void
ngx_http_byok_usage_flush(ngx_event_t *ev)
{
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ev->data;

    ngx_http_byok_usage_post(bmcf, ev->log);

    if (!ngx_exiting && !ngx_quit && ev->timer_set == 0) {
        ngx_add_timer(ev, bmcf->usage_flush);
    }
}


/* collects the next batch; 0: nothing to write */

static ngx_uint_t
ngx_http_byok_usage_collect(ngx_http_byok_main_conf_t *bmcf,
    ngx_http_byok_usage_write_t *w)
{
    ngx_uint_t             i, n;
    ngx_http_byok_usage_t  usage[NGX_HTTP_BYOK_USAGE_BATCH];

    n = ngx_http_byok_cache_usage(bmcf->shm_zone->data, usage,
                                  NGX_HTTP_BYOK_USAGE_BATCH);

    for (i = 0; i < n; i++) {
        w->ids[i] = usage[i].id;
        w->uses[i] = usage[i].uses;
        w->fails[i] = usage[i].failures;
        w->last[i] = usage[i].last_used;
    }

    w->n = n;

    return n;
}


static void
ngx_http_byok_usage_post(ngx_http_byok_main_conf_t *bmcf, ngx_log_t *log)
{
    ngx_thread_task_t            *task;
    ngx_http_byok_usage_write_t  *w;

    if (bmcf->shm_zone == NULL) {
        return;
    }

    task = ngx_http_byok_usage_task;

    if (task == NULL) {

        /* for the worker's life, whatever becomes of a cycle's pool */

        task = ngx_calloc(sizeof(ngx_thread_task_t)
                          + sizeof(ngx_http_byok_usage_write_t), log);
        if (task == NULL) {
            return;
        }

        task->ctx = task + 1;

        task->handler = ngx_http_byok_usage_thread;
        task->event.handler = ngx_http_byok_usage_done;
        task->event.data = task;
        task->event.log = ngx_cycle->log;

        ngx_http_byok_usage_task = task;
    }

    if (task->event.active) {
        /* the last batch is still being written */
        return;
    }

    if (ngx_http_byok_writer(bmcf, log) == NULL) {
        return;
    }

    w = task->ctx;
    w->bmcf = bmcf;

    if (ngx_http_byok_usage_collect(bmcf, w) == 0) {
        return;
    }

    if (bmcf->thread_pool == NULL
        || ngx_thread_task_post(bmcf->thread_pool, task) != NGX_OK)
    {
        /* counters are statistics: losing one batch is acceptable */
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "byok: usage counters of %ui keys not written", w->n);
    }
}


static void
ngx_http_byok_usage_thread(void *data, ngx_log_t *log)
{
    ngx_http_byok_usage_write_t *w = data;

    ngx_http_byok_store_t  *store;

    store = w->bmcf->writer;

    (void) pthread_mutex_lock(&ngx_http_byok_writer_lock);

    w->rc = ngx_http_byok_store_add_usage(store, w->ids, w->uses, w->fails,
                                          w->last, w->n);

    if (w->rc != NGX_HTTP_BYOK_STORE_OK) {
        ngx_cpystrn((u_char *) w->err,
                    (u_char *) ngx_http_byok_store_error(store),
                    sizeof(w->err));
    }

    (void) pthread_mutex_unlock(&ngx_http_byok_writer_lock);
}


static void
ngx_http_byok_usage_done(ngx_event_t *ev)
{
    ngx_thread_task_t            *task;
    ngx_http_byok_usage_write_t  *w;

    task = ev->data;
    w = task->ctx;

    if (w->rc != NGX_HTTP_BYOK_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, ev->log, 0, "byok_store: %s", w->err);
        return;
    }

    /* a full batch: more may wait in the zone */

    if (w->n == NGX_HTTP_BYOK_USAGE_BATCH && !ngx_exiting && !ngx_quit) {
        ngx_http_byok_usage_post(w->bmcf, ev->log);
    }
}


void
ngx_http_byok_usage_exit(ngx_http_byok_main_conf_t *bmcf, ngx_log_t *log)
{
    ngx_http_byok_store_t        *store;
    ngx_http_byok_usage_write_t   w;

    /* the thread pool is gone: so is any use of the task */

    ngx_free(ngx_http_byok_usage_task);
    ngx_http_byok_usage_task = NULL;

    /*
     * the writer connection, idle by now, waits for another process's lock
     * as long as the thread tasks do
     */

    store = bmcf->writer ? bmcf->writer : bmcf->store;

    if (bmcf->shm_zone == NULL || store == NULL) {
        return;
    }

    while (ngx_http_byok_usage_collect(bmcf, &w)) {

        if (ngx_http_byok_store_add_usage(store, w.ids, w.uses, w.fails,
                                          w.last, w.n)
            != NGX_HTTP_BYOK_STORE_OK)
        {
            ngx_log_error(NGX_LOG_ERR, log, 0, "byok_store: %s",
                          ngx_http_byok_store_error(store));
            break;
        }

        if (w.n < NGX_HTTP_BYOK_USAGE_BATCH) {
            break;
        }
    }
}


static ngx_http_byok_zone_t *
ngx_http_byok_zone(ngx_http_request_t *r)
{
    ngx_http_byok_main_conf_t  *bmcf;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    if (bmcf->shm_zone == NULL) {
        return NULL;
    }

    return bmcf->shm_zone->data;
}


static size_t
ngx_http_byok_node_name(u_char *buf, ngx_str_t *a, ngx_str_t *b)
{
    u_char  *p;

    p = buf;

    /* an empty string may have a NULL data pointer: never memcpy() it */

    if (a->len) {
        p = ngx_cpymem(p, a->data, ngx_min(a->len, NGX_HTTP_BYOK_USER_MAX));
    }

    *p++ = '\0';

    if (b->len) {
        p = ngx_cpymem(p, b->data, ngx_min(b->len, NGX_HTTP_BYOK_ID_MAX));
    }

    return p - buf;
}


static ngx_http_byok_node_t *
ngx_http_byok_node_find(ngx_http_byok_shctx_t *sh, u_char kind, u_char *name,
    size_t len, uint32_t hash)
{
    ngx_int_t              rc;
    ngx_rbtree_node_t     *node, *sentinel;
    ngx_http_byok_node_t  *bn;

    node = sh->rbtree.root;
    sentinel = sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        /* hash == node->key */

        bn = (ngx_http_byok_node_t *) &node->color;

        rc = (ngx_int_t) kind - (ngx_int_t) bn->kind;

        if (rc == 0) {
            rc = ngx_memn2cmp(name, bn->data, len, (size_t) bn->len);
        }

        if (rc == 0) {
            return bn;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_byok_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_int_t              rc;
    ngx_rbtree_node_t    **p;
    ngx_http_byok_node_t  *bn, *bnt;

    for ( ;; ) {

        if (node->key < temp->key) {

            p = &temp->left;

        } else if (node->key > temp->key) {

            p = &temp->right;

        } else { /* node->key == temp->key */

            bn = (ngx_http_byok_node_t *) &node->color;
            bnt = (ngx_http_byok_node_t *) &temp->color;

            rc = (ngx_int_t) bn->kind - (ngx_int_t) bnt->kind;

            if (rc == 0) {
                rc = ngx_memn2cmp(bn->data, bnt->data, bn->len, bnt->len);
            }

            p = (rc < 0) ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Allocates and links a node, evicting the least recently used ones while
 * the zone is full; a node larger than zone->node_max evicts nothing and
 * is not allocated.  Called with the zone locked.
 */

static ngx_http_byok_node_t *
ngx_http_byok_node_alloc(ngx_http_byok_zone_t *zone, u_char kind,
    u_char *name, size_t len, uint32_t hash, size_t extra)
{
    size_t                 size;
    ngx_queue_t           *q;
    ngx_rbtree_node_t     *node;
    ngx_http_byok_node_t  *bn;

    size = ngx_http_byok_node_size(len, extra);

    if (size > zone->node_max) {
        return NULL;
    }

    for ( ;; ) {
        node = ngx_slab_alloc_locked(zone->shpool, size);
        if (node != NULL) {
            break;
        }

        if (ngx_queue_empty(&zone->sh->lru)) {
            return NULL;
        }

        q = ngx_queue_last(&zone->sh->lru);
        bn = ngx_queue_data(q, ngx_http_byok_node_t, queue);

        ngx_http_byok_node_free(zone, bn);
        zone->sh->evictions++;
    }

    node->key = hash;

    bn = (ngx_http_byok_node_t *) &node->color;

    bn->kind = kind;
    bn->len = (u_short) len;
    bn->size = ngx_align(len, sizeof(int64_t)) + extra;
    bn->loaded = ngx_current_msec;
    bn->nkeys = 0;
    bn->excess = 0;
    ngx_memcpy(bn->data, name, len);

    ngx_rbtree_insert(&zone->sh->rbtree, node);
    ngx_queue_insert_head(&zone->sh->lru, &bn->queue);

    return bn;
}


static void
ngx_http_byok_node_free(ngx_http_byok_zone_t *zone, ngx_http_byok_node_t *bn)
{
    ngx_rbtree_node_t  *node;

    node = (ngx_rbtree_node_t *)
               ((u_char *) bn - offsetof(ngx_rbtree_node_t, color));

    if (bn->kind == NGX_HTTP_BYOK_NODE_SELECTION && zone->sh->entries) {
        zone->sh->entries--;
    }

    ngx_queue_remove(&bn->queue);
    ngx_rbtree_delete(&zone->sh->rbtree, node);

    /* decrypted keys: wipe before the memory goes back to the slab */

    ngx_explicit_memzero(bn->data, bn->size);

    ngx_slab_free_locked(zone->shpool, node);
}


static size_t
ngx_http_byok_node_size(size_t len, size_t extra)
{
    return offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_byok_node_t, data)
           + ngx_align(len, sizeof(int64_t)) + extra;
}
