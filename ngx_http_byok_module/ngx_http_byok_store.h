
/*
 * The key store: the only interface the API, lookup and admin code use to
 * reach durable state.  It is free of nginx types so that a second backend
 * (PostgreSQL, for several nginx hosts sharing one cabinet) can be added by
 * writing another implementation of these functions.
 *
 * A store handle is used by one thread at a time (its statements, its last
 * error): a worker reads through its own handle in the event loop and
 * writes through a second one from its thread pool, under a lock.
 */


#ifndef _NGX_HTTP_BYOK_STORE_H_INCLUDED_
#define _NGX_HTTP_BYOK_STORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define NGX_HTTP_BYOK_STORE_OK          0
#define NGX_HTTP_BYOK_STORE_ERROR      -1   /* unavailable, nothing written */
#define NGX_HTTP_BYOK_STORE_NOT_FOUND  -2
#define NGX_HTTP_BYOK_STORE_CONFLICT   -3

#define NGX_HTTP_BYOK_USER_MAX         128
#define NGX_HTTP_BYOK_LABEL_MAX        64
#define NGX_HTTP_BYOK_ID_MAX           64
#define NGX_HTTP_BYOK_MASKED_MAX       16


typedef struct ngx_http_byok_store_s  ngx_http_byok_store_t;


typedef struct {
    int64_t     id;
    char        category[NGX_HTTP_BYOK_ID_MAX + 1];
    char        provider[NGX_HTTP_BYOK_ID_MAX + 1];
    char        auth_type[16];
    char        label[NGX_HTTP_BYOK_LABEL_MAX + 1];
    char        masked[NGX_HTTP_BYOK_MASKED_MAX];
    char        status[16];
    char        test_result[16];    /* "" when never tested */
    int64_t     rotation_priority;
    int64_t     created_at;         /* unix seconds; 0 means null */
    int64_t     updated_at;
    int64_t     revoked_at;
    int64_t     status_at;
    int64_t     test_at;
    int64_t     last_used_at;
    int64_t     status_until;
    int64_t     use_count;
    int64_t     failure_count;
    int         test_status;        /* provider HTTP status, -1 for null */
    unsigned    has_label:1;
    unsigned    rentable:1;
} ngx_http_byok_key_t;


typedef struct {
    const char  *actor;             /* who acted: user id, admin sub, ... */
    const char  *actor_kind;        /* "user", "admin", "runtime" */
    const char  *action;
    const char  *user;              /* whose key */
    int64_t      key_id;            /* 0: none */
    const char  *provider;          /* NULL: none */
    const char  *remote_addr;
    const char  *outcome;
} ngx_http_byok_audit_t;


/* a sealed value as stored, for lookup and key tests */
typedef struct {
    int64_t         id;
    int64_t         rotation_priority;
    int64_t         created_at;
    const void     *blob;
    size_t          blob_len;
    char            status[16];
    int64_t         status_until;
} ngx_http_byok_sealed_t;


typedef struct {
    char        provider[NGX_HTTP_BYOK_ID_MAX + 1];
    char        status[16];
    int64_t     count;
} ngx_http_byok_stat_t;


typedef struct {
    int64_t     id;
    int64_t     at;
    int64_t     key_id;             /* 0: null */
    char        actor[NGX_HTTP_BYOK_USER_MAX + 1];
    char        actor_kind[16];
    char        action[32];
    char        user[NGX_HTTP_BYOK_USER_MAX + 1];
    char        provider[NGX_HTTP_BYOK_ID_MAX + 1];
    char        remote_addr[64];
    char        outcome[32];
} ngx_http_byok_audit_row_t;


typedef struct {
    const char  *user;              /* NULL: any */
    const char  *action;            /* NULL: any */
    int64_t      key_id;            /* 0: any */
    int64_t      since;             /* 0: any */
    int64_t      before;            /* cursor: rows with id < before */
    size_t       limit;
} ngx_http_byok_audit_query_t;


typedef struct {
    size_t      rewrapped;
    size_t      skipped;            /* changed or revoked meanwhile */
    size_t      failed;             /* does not open with any key */
    size_t      remaining;          /* not under the current key, any id */
    int64_t     last;               /* cursor: the highest id looked at */
} ngx_http_byok_rewrap_t;


/* a sealed value with its binding, for rewrap and verification */
typedef struct {
    int64_t                  id;
    const char              *user;
    const char              *provider;
    const unsigned char     *blob;
    size_t                   blob_len;
    uint32_t                 master_id;
} ngx_http_byok_row_t;


/*
 * Re-seals a row: 0 with out/out_len/master_id set, -1 when it does not
 * open.
 */
typedef int (*ngx_http_byok_store_reseal_pt)(void *data,
    const ngx_http_byok_row_t *row, unsigned char *out, size_t *out_len,
    uint32_t *master_id);

typedef int (*ngx_http_byok_store_row_pt)(void *data,
    const ngx_http_byok_row_t *row);


/*
 * Seals the value of a new key once its id is known; called inside the
 * create transaction.  Returns 0, or -1 to roll the create back.
 */
typedef int (*ngx_http_byok_store_seal_pt)(void *data, int64_t id,
    unsigned char *blob, size_t *blob_len, uint32_t *master_id);

typedef int (*ngx_http_byok_store_sealed_pt)(void *data,
    const ngx_http_byok_sealed_t *sealed);


ngx_http_byok_store_t *ngx_http_byok_store_open(const char *path,
    char *err, size_t err_len);
void ngx_http_byok_store_close(ngx_http_byok_store_t *s);

/*
 * How long a write waits for another connection's write lock (a handle
 * opens with 5 s); reads in WAL mode do not wait for writers.
 */
void ngx_http_byok_store_busy_timeout(ngx_http_byok_store_t *s, int ms);
const char *ngx_http_byok_store_error(ngx_http_byok_store_t *s);

/*
 * The schema version the store has now; *found is the one it had when
 * opened (0: created then), so that a migration can be reported.
 */
int ngx_http_byok_store_schema(ngx_http_byok_store_t *s, int *found);

/*
 * Compares the check value of a master key with the stored one: 0 matches,
 * 1 mismatch, 2 no value stored for this id (stored now when "record"),
 * -1 error.
 */
int ngx_http_byok_store_master_check(ngx_http_byok_store_t *s, uint32_t id,
    const unsigned char *check, size_t len, int record);
/* how many master keys have a check value in the store */
int ngx_http_byok_store_master_count(ngx_http_byok_store_t *s, size_t *n);
/* master key ids that sealed values use, into ids[0..*n) */
int ngx_http_byok_store_master_ids(ngx_http_byok_store_t *s, uint32_t *ids,
    size_t *n, size_t max);

int ngx_http_byok_store_list(ngx_http_byok_store_t *s, const char *user,
    const char *category, const char *provider, int include_revoked,
    ngx_http_byok_key_t **keys, size_t *n);
int ngx_http_byok_store_get(ngx_http_byok_store_t *s, const char *user,
    int64_t id, ngx_http_byok_key_t *key);
int ngx_http_byok_store_create(ngx_http_byok_store_t *s, const char *user,
    ngx_http_byok_key_t *key, size_t blob_max,
    ngx_http_byok_store_seal_pt seal, void *data,
    const ngx_http_byok_audit_t *audit);
int ngx_http_byok_store_update(ngx_http_byok_store_t *s, const char *user,
    int64_t id, const char *label, const int64_t *priority, int reenable,
    const ngx_http_byok_audit_t *audit, ngx_http_byok_key_t *key);
int ngx_http_byok_store_order(ngx_http_byok_store_t *s, const char *user,
    const char *provider, const int64_t *ids, size_t n,
    const ngx_http_byok_audit_t *audit);
int ngx_http_byok_store_revoke(ngx_http_byok_store_t *s, const char *user,
    int64_t id, const ngx_http_byok_audit_t *audit, ngx_http_byok_key_t *key);
int ngx_http_byok_store_record_test(ngx_http_byok_store_t *s,
    const char *user, int64_t id, const char *result, int status,
    int64_t at, const ngx_http_byok_audit_t *audit);
int ngx_http_byok_store_sealed(ngx_http_byok_store_t *s, const char *user,
    const char *provider, int64_t id, ngx_http_byok_store_sealed_pt handler,
    void *data);
int ngx_http_byok_store_set_health(ngx_http_byok_store_t *s,
    const char *user, int64_t id, const char *status, int64_t at,
    int64_t until, const ngx_http_byok_audit_t *audit);
int ngx_http_byok_store_add_usage(ngx_http_byok_store_t *s,
    const int64_t *ids, const int64_t *uses, const int64_t *failures,
    const int64_t *last_used, size_t n);
int ngx_http_byok_store_audit(ngx_http_byok_store_t *s,
    const ngx_http_byok_audit_t *audit);

int ngx_http_byok_store_stats(ngx_http_byok_store_t *s,
    ngx_http_byok_stat_t **stats, size_t *n, int64_t *bytes,
    int64_t *audit_rows);
int ngx_http_byok_store_audit_query(ngx_http_byok_store_t *s,
    const ngx_http_byok_audit_query_t *q, ngx_http_byok_audit_row_t **rows,
    size_t *n);
int ngx_http_byok_store_rewrap(ngx_http_byok_store_t *s, uint32_t current,
    int64_t after, size_t batch, ngx_http_byok_store_reseal_pt reseal,
    void *data, const ngx_http_byok_audit_t *audit,
    ngx_http_byok_rewrap_t *result);
int ngx_http_byok_store_each_sealed(ngx_http_byok_store_t *s,
    ngx_http_byok_store_row_pt handler, void *data);
int ngx_http_byok_store_check(ngx_http_byok_store_t *s, int write,
    char *result, size_t len);
int ngx_http_byok_store_backup(ngx_http_byok_store_t *s, const char *path);


#endif /* _NGX_HTTP_BYOK_STORE_H_INCLUDED_ */
