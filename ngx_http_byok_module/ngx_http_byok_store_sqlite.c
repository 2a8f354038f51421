
/*
 * SQLite backend of the key store: WAL, synchronous=FULL, every write in a
 * BEGIN IMMEDIATE transaction together with its audit row.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sqlite3.h>

#include "ngx_http_byok_store.h"


#define NGX_HTTP_BYOK_SCHEMA_VERSION  2
#define NGX_HTTP_BYOK_BUSY_TIMEOUT    5000


enum {
    BYOK_SQL_BEGIN = 0,
    BYOK_SQL_COMMIT,
    BYOK_SQL_ROLLBACK,
    BYOK_SQL_AUDIT,
    BYOK_SQL_GET,
    BYOK_SQL_INSERT,
    BYOK_SQL_SET_SEALED,
    BYOK_SQL_SET_LABEL,
    BYOK_SQL_SET_PRIORITY,
    BYOK_SQL_REVOKE,
    BYOK_SQL_ACTIVE_IDS,
    BYOK_SQL_TEST,
    BYOK_SQL_SEALED_ONE,
    BYOK_SQL_SEALED_ALL,
    BYOK_SQL_CHECK_GET,
    BYOK_SQL_CHECK_PUT,
    BYOK_SQL_MASTER_IDS,
    BYOK_SQL_SET_HEALTH,
    BYOK_SQL_CLEAR_HEALTH,
    BYOK_SQL_ADD_USAGE,
    BYOK_SQL_MARK_INVALID,
    BYOK_SQL_LAST
};


struct ngx_http_byok_store_s {
    sqlite3       *db;
    sqlite3_stmt  *stmt[BYOK_SQL_LAST];
    int            schema_found;
    char           err[256];
};


#define BYOK_KEY_COLUMNS                                                      \
    "id, category, provider, auth_type, label, masked, rotation_priority, "   \
    "rentable, status, status_at, created_at, updated_at, revoked_at, "       \
    "test_result, test_status, test_at, last_used_at, status_until, "         \
    "use_count, failure_count"


static const char  *ngx_http_byok_sql[BYOK_SQL_LAST] = {
    "BEGIN IMMEDIATE",
    "COMMIT",
    "ROLLBACK",

    "INSERT INTO audit_log (at, actor, actor_kind, action, user_id, key_id,"
    " provider, remote_addr, outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",

    "SELECT " BYOK_KEY_COLUMNS " FROM provider_keys"
    " WHERE user_id = ? AND id = ?",

    "INSERT INTO provider_keys (user_id, category, provider, auth_type,"
    " label, masked, rotation_priority, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",

    "UPDATE provider_keys SET sealed = ?, master_key_id = ? WHERE id = ?",

    "UPDATE provider_keys SET label = ?, updated_at = ?"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL",

    "UPDATE provider_keys SET rotation_priority = ?, updated_at = ?"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL",

    "UPDATE provider_keys SET revoked_at = ?, updated_at = ?,"
    " status = 'revoked', sealed = NULL, master_key_id = NULL"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL",

    "SELECT id FROM provider_keys"
    " WHERE user_id = ? AND provider = ? AND revoked_at IS NULL",

    "UPDATE provider_keys SET test_result = ?, test_status = ?, test_at = ?"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL",

    "SELECT id, rotation_priority, created_at, sealed, status, status_until"
    " FROM provider_keys WHERE user_id = ? AND id = ?"
    " AND revoked_at IS NULL AND sealed IS NOT NULL",

    "SELECT id, rotation_priority, created_at, sealed, status, status_until"
    " FROM provider_keys WHERE user_id = ? AND provider = ?"
    " AND revoked_at IS NULL AND sealed IS NOT NULL"
    " ORDER BY rotation_priority, created_at DESC, id DESC",

    "SELECT value FROM meta WHERE name = ?",
    "INSERT INTO meta (name, value) VALUES (?, ?)",

    "SELECT DISTINCT master_key_id FROM provider_keys"
    " WHERE master_key_id IS NOT NULL",

    "UPDATE provider_keys SET status = ?, status_at = ?, status_until = ?"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL",

    "UPDATE provider_keys SET status = 'active', status_at = ?,"
    " status_until = NULL"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL"
    " AND status != 'active'",

    "UPDATE provider_keys SET use_count = use_count + ?,"
    " failure_count = failure_count + ?,"
    " last_used_at = CASE WHEN ?3 > coalesce(last_used_at, 0) THEN ?3"
    " ELSE last_used_at END"
    " WHERE id = ?4",

    "UPDATE provider_keys SET status = 'invalid', status_at = ?,"
    " status_until = NULL"
    " WHERE user_id = ? AND id = ? AND revoked_at IS NULL"
    " AND status != 'invalid'"
};


static const char  *ngx_http_byok_schema_v1 =
    "CREATE TABLE meta ("
    "  name   TEXT PRIMARY KEY,"
    "  value  BLOB NOT NULL"
    ");"
    "CREATE TABLE provider_keys ("
    "  id                 INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  user_id            TEXT NOT NULL,"
    "  category           TEXT NOT NULL,"
    "  provider           TEXT NOT NULL,"
    "  auth_type          TEXT NOT NULL DEFAULT 'api_key',"
    "  label              TEXT,"
    "  masked             TEXT NOT NULL,"
    "  rotation_priority  INTEGER NOT NULL DEFAULT 0,"
    "  rentable           INTEGER NOT NULL DEFAULT 0 CHECK (rentable = 0),"
    "  status             TEXT NOT NULL DEFAULT 'active',"
    "  status_at          INTEGER,"
    "  status_until       INTEGER,"
    "  sealed             BLOB,"
    "  master_key_id      INTEGER,"
    "  created_at         INTEGER NOT NULL,"
    "  updated_at         INTEGER NOT NULL,"
    "  revoked_at         INTEGER,"
    "  test_result        TEXT,"
    "  test_status        INTEGER,"
    "  test_at            INTEGER,"
    "  last_used_at       INTEGER,"
    "  use_count          INTEGER NOT NULL DEFAULT 0,"
    "  failure_count      INTEGER NOT NULL DEFAULT 0,"
    "  CHECK (revoked_at IS NULL OR sealed IS NULL)"
    ");"
    "CREATE INDEX provider_keys_selection ON provider_keys"
    "  (user_id, provider, rotation_priority, created_at);"
    "CREATE TABLE audit_log ("
    "  id           INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at           INTEGER NOT NULL,"
    "  actor        TEXT,"
    "  actor_kind   TEXT NOT NULL,"
    "  action       TEXT NOT NULL,"
    "  user_id      TEXT,"
    "  key_id       INTEGER,"
    "  provider     TEXT,"
    "  remote_addr  TEXT,"
    "  outcome      TEXT NOT NULL"
    ");"
    "CREATE INDEX audit_log_user ON audit_log (user_id, id);"
    "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;"
    "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    " BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;";


/*
 * 2: the selection index in the lookup's order (priority, newest first), so
 * that a cache miss reads the rows in index order instead of sorting them
 */

static const char  ngx_http_byok_schema_v2[] =
    "DROP INDEX provider_keys_selection;"
    "CREATE INDEX provider_keys_selection ON provider_keys"
    "  (user_id, provider, rotation_priority, created_at DESC, id DESC);";


static int ngx_http_byok_store_migrate(ngx_http_byok_store_t *s);
static int ngx_http_byok_migrate_step(ngx_http_byok_store_t *s,
    const char *sql, const char *version);
static sqlite3_stmt *ngx_http_byok_stmt(ngx_http_byok_store_t *s, int n);
static int ngx_http_byok_step_done(ngx_http_byok_store_t *s,
    sqlite3_stmt *st);
static int ngx_http_byok_begin(ngx_http_byok_store_t *s);
static int ngx_http_byok_commit(ngx_http_byok_store_t *s);
static void ngx_http_byok_rollback(ngx_http_byok_store_t *s);
static int ngx_http_byok_write_audit(ngx_http_byok_store_t *s,
    const ngx_http_byok_audit_t *a, int64_t now);
static void ngx_http_byok_bind_text(sqlite3_stmt *st, int i, const char *v);
static void ngx_http_byok_read_key(sqlite3_stmt *st, ngx_http_byok_key_t *k);
static int ngx_http_byok_get_locked(ngx_http_byok_store_t *s,
    const char *user, int64_t id, ngx_http_byok_key_t *key);
static void ngx_http_byok_copy_column(sqlite3_stmt *st, int i, char *dst,
    size_t size);
static int ngx_http_byok_fail(ngx_http_byok_store_t *s, const char *what);
static void ngx_http_byok_wipe_buffer(void *p, size_t n);
static int ngx_http_byok_test_health(ngx_http_byok_store_t *s, int n,
    const char *user, int64_t id, int64_t at,
    const ngx_http_byok_audit_t *audit, const char *outcome);


ngx_http_byok_store_t *
ngx_http_byok_store_open(const char *path, char *err, size_t err_len)
{
    int                     rc, persist;
    ngx_http_byok_store_t  *s;

    s = calloc(1, sizeof(ngx_http_byok_store_t));
    if (s == NULL) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }

    /*
     * a handle is never used by two threads at once (see the header), so
     * SQLite's per-connection mutex would only cost every call a lock
     */

    rc = sqlite3_open_v2(path, &s->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "cannot open \"%s\": %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto failed;
    }

    sqlite3_busy_timeout(s->db, NGX_HTTP_BYOK_BUSY_TIMEOUT);
    sqlite3_extended_result_codes(s->db, 1);

    /*
     * The -wal and -shm files stay when the last connection closes, so the
     * master can create them and hand them to the worker user: workers
     * need no write access to the store's directory.
     */

    persist = 1;
    (void) sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL,
                                &persist);

    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL;"
                            "PRAGMA synchronous=FULL;"
                            "PRAGMA foreign_keys=ON;"
                            "PRAGMA secure_delete=ON;",
                     NULL, NULL, NULL)
        != SQLITE_OK)
    {
        snprintf(err, err_len, "cannot set up \"%s\": %s", path,
                 sqlite3_errmsg(s->db));
        goto failed;
    }

    if (ngx_http_byok_store_migrate(s) != 0) {
        snprintf(err, err_len, "cannot migrate \"%s\": %s", path, s->err);
        goto failed;
    }

    return s;

failed:

    ngx_http_byok_store_close(s);
    return NULL;
}


void
ngx_http_byok_store_busy_timeout(ngx_http_byok_store_t *s, int ms)
{
    sqlite3_busy_timeout(s->db, ms);
}


void
ngx_http_byok_store_close(ngx_http_byok_store_t *s)
{
    int  i;

    if (s == NULL) {
        return;
    }

    for (i = 0; i < BYOK_SQL_LAST; i++) {
        sqlite3_finalize(s->stmt[i]);
    }

    sqlite3_close_v2(s->db);
    free(s);
}


const char *
ngx_http_byok_store_error(ngx_http_byok_store_t *s)
{
    return s->err;
}


static int
ngx_http_byok_store_migrate(ngx_http_byok_store_t *s)
{
    int            version;
    sqlite3_stmt  *st;

    if (ngx_http_byok_begin(s) != 0) {
        return -1;
    }

    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL)
        != SQLITE_OK)
    {
        ngx_http_byok_rollback(s);
        return ngx_http_byok_fail(s, "user_version");
    }

    version = (sqlite3_step(st) == SQLITE_ROW) ? sqlite3_column_int(st, 0)
                                               : -1;
    sqlite3_finalize(st);

    if (version < 0 || version > NGX_HTTP_BYOK_SCHEMA_VERSION) {
        ngx_http_byok_rollback(s);
        snprintf(s->err, sizeof(s->err),
                 "schema version %d is newer than this module knows (%d)",
                 version, NGX_HTTP_BYOK_SCHEMA_VERSION);
        return -1;
    }

    s->schema_found = version;

    if ((version < 1
         && ngx_http_byok_migrate_step(s, ngx_http_byok_schema_v1,
                                       "PRAGMA user_version = 1") != 0)
        || (version < 2
            && ngx_http_byok_migrate_step(s, ngx_http_byok_schema_v2,
                                          "PRAGMA user_version = 2") != 0))
    {
        ngx_http_byok_rollback(s);
        return -1;
    }

    return ngx_http_byok_commit(s);
}


int
ngx_http_byok_store_schema(ngx_http_byok_store_t *s, int *found)
{
    *found = s->schema_found;

    return NGX_HTTP_BYOK_SCHEMA_VERSION;
}


static int
ngx_http_byok_migrate_step(ngx_http_byok_store_t *s, const char *sql,
    const char *version)
{
    char  *msg;

    msg = NULL;

    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK
        || sqlite3_exec(s->db, version, NULL, NULL, &msg) != SQLITE_OK)
    {
        snprintf(s->err, sizeof(s->err), "%s", msg ? msg : "error");
        sqlite3_free(msg);
        return -1;
    }

    return 0;
}


int
ngx_http_byok_store_master_check(ngx_http_byok_store_t *s, uint32_t id,
    const unsigned char *check, size_t len, int record)
{
    int            rc, same;
    char           name[32];
    sqlite3_stmt  *st;

    snprintf(name, sizeof(name), "master_check:%08x", id);

    if (ngx_http_byok_begin(s) != 0) {
        return -1;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_CHECK_GET);
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        same = ((size_t) sqlite3_column_bytes(st, 0) == len
                && memcmp(sqlite3_column_blob(st, 0), check, len) == 0);
        sqlite3_reset(st);
        ngx_http_byok_rollback(s);
        return same ? 0 : 1;
    }

    sqlite3_reset(st);

    if (rc != SQLITE_DONE) {
        ngx_http_byok_fail(s, "meta");
        goto failed;
    }

    if (!record) {
        ngx_http_byok_rollback(s);
        return 2;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_CHECK_PUT);
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, check, (int) len, SQLITE_STATIC);

    if (ngx_http_byok_step_done(s, st) != 0) {
        goto failed;
    }

    return ngx_http_byok_commit(s) == NGX_HTTP_BYOK_STORE_OK ? 2 : -1;

failed:

    ngx_http_byok_rollback(s);
    return -1;
}


int
ngx_http_byok_store_master_count(ngx_http_byok_store_t *s, size_t *n)
{
    int            rc;
    sqlite3_stmt  *st;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM meta"
                           " WHERE name LIKE 'master_check:%'", -1, &st, NULL)
        != SQLITE_OK)
    {
        return ngx_http_byok_fail(s, "meta");
    }

    rc = sqlite3_step(st);
    *n = (rc == SQLITE_ROW) ? (size_t) sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);

    if (rc != SQLITE_ROW) {
        return ngx_http_byok_fail(s, "meta");
    }

    return NGX_HTTP_BYOK_STORE_OK;
}


int
ngx_http_byok_store_master_ids(ngx_http_byok_store_t *s, uint32_t *ids,
    size_t *n, size_t max)
{
    int            rc;
    sqlite3_stmt  *st;

    *n = 0;

    st = ngx_http_byok_stmt(s, BYOK_SQL_MASTER_IDS);
    if (st == NULL) {
        return -1;
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n < max) {
            ids[(*n)++] = (uint32_t) sqlite3_column_int64(st, 0);
        }
    }

    sqlite3_reset(st);

    if (rc != SQLITE_DONE) {
        return ngx_http_byok_fail(s, "master ids");
    }

    return 0;
}


int
ngx_http_byok_store_list(ngx_http_byok_store_t *s, const char *user,
    const char *category, const char *provider, int include_revoked,
    ngx_http_byok_key_t **keys, size_t *n)
{
    int                   rc, i;
    char                  sql[512];
    size_t                cap;
    sqlite3_stmt         *st;
    ngx_http_byok_key_t  *k, *nk;

    *keys = NULL;
    *n = 0;

    /* the filters vary per call, so this statement is not cached */

    snprintf(sql, sizeof(sql),
             "SELECT " BYOK_KEY_COLUMNS " FROM provider_keys"
             " WHERE user_id = ?1%s%s%s"
             " ORDER BY provider, revoked_at IS NOT NULL, rotation_priority,"
             " created_at DESC, id DESC",
             include_revoked ? "" : " AND revoked_at IS NULL",
             category ? " AND category = ?2" : "",
             provider ? " AND provider = ?3" : "");

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return ngx_http_byok_fail(s, "list");
    }

    ngx_http_byok_bind_text(st, 1, user);

    if (category) {
        ngx_http_byok_bind_text(st, 2, category);
    }

    if (provider) {
        ngx_http_byok_bind_text(st, 3, provider);
    }

    cap = 0;
    k = NULL;
    i = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {

        if ((size_t) i == cap) {
            cap = cap ? cap * 2 : 8;
            nk = realloc(k, cap * sizeof(ngx_http_byok_key_t));
            if (nk == NULL) {
                free(k);
                sqlite3_finalize(st);
                snprintf(s->err, sizeof(s->err), "out of memory");
                return -1;
            }

            k = nk;
        }

        ngx_http_byok_read_key(st, &k[i++]);
    }

    if (rc != SQLITE_DONE) {
        free(k);
        ngx_http_byok_fail(s, "list");
        sqlite3_finalize(st);
        return -1;
    }

    sqlite3_finalize(st);

    *keys = k;
    *n = i;

    return 0;
}


int
ngx_http_byok_store_get(ngx_http_byok_store_t *s, const char *user,
    int64_t id, ngx_http_byok_key_t *key)
{
    return ngx_http_byok_get_locked(s, user, id, key);
}


int
ngx_http_byok_store_create(ngx_http_byok_store_t *s, const char *user,
    ngx_http_byok_key_t *key, size_t blob_max,
    ngx_http_byok_store_seal_pt seal, void *data,
    const ngx_http_byok_audit_t *audit)
{
    size_t                  blob_len;
    int64_t                 now, id;
    uint32_t                master_id;
    sqlite3_stmt           *st;
    unsigned char          *blob;
    ngx_http_byok_audit_t   a;

    blob = malloc(blob_max);
    if (blob == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return -1;
    }

    now = time(NULL);

    if (ngx_http_byok_begin(s) != 0) {
        free(blob);
        return -1;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_INSERT);
    if (st == NULL) {
        goto failed;
    }

    ngx_http_byok_bind_text(st, 1, user);
    ngx_http_byok_bind_text(st, 2, key->category);
    ngx_http_byok_bind_text(st, 3, key->provider);
    ngx_http_byok_bind_text(st, 4, key->auth_type);
    ngx_http_byok_bind_text(st, 5, key->has_label ? key->label : NULL);
    ngx_http_byok_bind_text(st, 6, key->masked);
    sqlite3_bind_int64(st, 7, now);
    sqlite3_bind_int64(st, 8, now);

    if (ngx_http_byok_step_done(s, st) != 0) {
        goto failed;
    }

    id = sqlite3_last_insert_rowid(s->db);

    blob_len = blob_max;

    if (seal(data, id, blob, &blob_len, &master_id) != 0) {
        snprintf(s->err, sizeof(s->err), "sealing failed");
        goto failed;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_SET_SEALED);
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_blob(st, 1, blob, (int) blob_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, master_id);
    sqlite3_bind_int64(st, 3, id);

    if (ngx_http_byok_step_done(s, st) != 0) {
        goto failed;
    }

    a = *audit;
    a.key_id = id;

    if (ngx_http_byok_write_audit(s, &a, now) != 0) {
        goto failed;
    }

    if (ngx_http_byok_get_locked(s, user, id, key) != 0) {
        goto failed;
    }

    free(blob);

    return ngx_http_byok_commit(s);

failed:

    free(blob);
    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_update(ngx_http_byok_store_t *s, const char *user,
    int64_t id, const char *label, const int64_t *priority, int reenable,
    const ngx_http_byok_audit_t *audit, ngx_http_byok_key_t *key)
{
    int                     rc;
    int64_t                 now;
    sqlite3_stmt           *st;
    ngx_http_byok_audit_t   a;

    now = time(NULL);

    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    rc = ngx_http_byok_get_locked(s, user, id, key);

    if (rc != 0 || key->revoked_at != 0) {
        ngx_http_byok_rollback(s);
        return rc == NGX_HTTP_BYOK_STORE_ERROR ? rc
                                               : NGX_HTTP_BYOK_STORE_NOT_FOUND;
    }

    /* the audit row names the key's provider, as for create and revoke */

    a = *audit;
    a.provider = key->provider;

    if (label) {
        st = ngx_http_byok_stmt(s, BYOK_SQL_SET_LABEL);
        if (st == NULL) {
            goto failed;
        }

        ngx_http_byok_bind_text(st, 1, *label ? label : NULL);
        sqlite3_bind_int64(st, 2, now);
        ngx_http_byok_bind_text(st, 3, user);
        sqlite3_bind_int64(st, 4, id);

        if (ngx_http_byok_step_done(s, st) != 0) {
            goto failed;
        }
    }

    if (priority) {
        st = ngx_http_byok_stmt(s, BYOK_SQL_SET_PRIORITY);
        if (st == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(st, 1, *priority);
        sqlite3_bind_int64(st, 2, now);
        ngx_http_byok_bind_text(st, 3, user);
        sqlite3_bind_int64(st, 4, id);

        if (ngx_http_byok_step_done(s, st) != 0) {
            goto failed;
        }
    }

    if (ngx_http_byok_write_audit(s, &a, now) != 0
        || (reenable
            && ngx_http_byok_test_health(s, BYOK_SQL_CLEAR_HEALTH, user, id,
                                         now, &a, "active")
               != 0)
        || ngx_http_byok_get_locked(s, user, id, key) != 0)
    {
        goto failed;
    }

    return ngx_http_byok_commit(s);

failed:

    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_order(ngx_http_byok_store_t *s, const char *user,
    const char *provider, const int64_t *ids, size_t n,
    const ngx_http_byok_audit_t *audit)
{
    int            rc;
    size_t         i, active, found;
    int64_t        now, id;
    sqlite3_stmt  *st;

    now = time(NULL);

    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_ACTIVE_IDS);
    if (st == NULL) {
        goto failed;
    }

    ngx_http_byok_bind_text(st, 1, user);
    ngx_http_byok_bind_text(st, 2, provider);

    active = 0;
    found = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        id = sqlite3_column_int64(st, 0);
        active++;

        for (i = 0; i < n; i++) {
            if (ids[i] == id) {
                found++;
                break;
            }
        }
    }

    sqlite3_reset(st);

    if (rc != SQLITE_DONE) {
        ngx_http_byok_fail(s, "order");
        goto failed;
    }

    /* the caller has checked that ids holds no duplicates */

    if (active != n || found != n) {
        ngx_http_byok_rollback(s);
        return NGX_HTTP_BYOK_STORE_CONFLICT;
    }

    for (i = 0; i < n; i++) {
        st = ngx_http_byok_stmt(s, BYOK_SQL_SET_PRIORITY);
        if (st == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(st, 1, (int64_t) i);
        sqlite3_bind_int64(st, 2, now);
        ngx_http_byok_bind_text(st, 3, user);
        sqlite3_bind_int64(st, 4, ids[i]);

        if (ngx_http_byok_step_done(s, st) != 0) {
            goto failed;
        }
    }

    if (ngx_http_byok_write_audit(s, audit, now) != 0) {
        goto failed;
    }

    return ngx_http_byok_commit(s);

failed:

    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_revoke(ngx_http_byok_store_t *s, const char *user,
    int64_t id, const ngx_http_byok_audit_t *audit, ngx_http_byok_key_t *key)
{
    int                     rc;
    int64_t                 now;
    sqlite3_stmt           *st;
    ngx_http_byok_audit_t   a;

    now = time(NULL);

    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    rc = ngx_http_byok_get_locked(s, user, id, key);

    if (rc != 0 || key->revoked_at != 0) {
        ngx_http_byok_rollback(s);
        return rc == NGX_HTTP_BYOK_STORE_ERROR ? rc
                                               : NGX_HTTP_BYOK_STORE_NOT_FOUND;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_REVOKE);
    if (st == NULL) {
        goto failed;
    }

    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, now);
    ngx_http_byok_bind_text(st, 3, user);
    sqlite3_bind_int64(st, 4, id);

    if (ngx_http_byok_step_done(s, st) != 0) {
        goto failed;
    }

    a = *audit;
    a.provider = key->provider;

    if (ngx_http_byok_write_audit(s, &a, now) != 0
        || ngx_http_byok_get_locked(s, user, id, key) != 0)
    {
        goto failed;
    }

    return ngx_http_byok_commit(s);

failed:

    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_record_test(ngx_http_byok_store_t *s, const char *user,
    int64_t id, const char *result, int status, int64_t at,
    const ngx_http_byok_audit_t *audit)
{
    sqlite3_stmt  *st;

    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_TEST);
    if (st == NULL) {
        goto failed;
    }

    ngx_http_byok_bind_text(st, 1, result);

    if (status >= 0) {
        sqlite3_bind_int(st, 2, status);

    } else {
        sqlite3_bind_null(st, 2);
    }

    sqlite3_bind_int64(st, 3, at);
    ngx_http_byok_bind_text(st, 4, user);
    sqlite3_bind_int64(st, 5, id);

    if (ngx_http_byok_step_done(s, st) != 0) {
        goto failed;
    }

    if (sqlite3_changes(s->db) == 0) {
        ngx_http_byok_rollback(s);
        return NGX_HTTP_BYOK_STORE_NOT_FOUND;
    }

    if (ngx_http_byok_write_audit(s, audit, at) != 0) {
        goto failed;
    }

    /*
     * A key the provider accepts again is healthy again; one it refuses is
     * invalid now, as if a proxied call had been refused.
     */

    if (strcmp(result, "valid") == 0
        && ngx_http_byok_test_health(s, BYOK_SQL_CLEAR_HEALTH, user, id, at,
                                     audit, "active") != 0)
    {
        goto failed;
    }

    if (strcmp(result, "invalid") == 0
        && ngx_http_byok_test_health(s, BYOK_SQL_MARK_INVALID, user, id, at,
                                     audit, "invalid") != 0)
    {
        goto failed;
    }

    return ngx_http_byok_commit(s);

failed:

    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_sealed(ngx_http_byok_store_t *s, const char *user,
    const char *provider, int64_t id, ngx_http_byok_store_sealed_pt handler,
    void *data)
{
    int                     rc, found;
    sqlite3_stmt           *st;
    ngx_http_byok_sealed_t  sealed;

    st = ngx_http_byok_stmt(s, id ? BYOK_SQL_SEALED_ONE : BYOK_SQL_SEALED_ALL);
    if (st == NULL) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    /*
     * the lookup's miss path: the caller's strings outlive the statement's
     * use of them (the bindings are cleared below), so SQLite need not copy
     */

    if (user == NULL || (!id && provider == NULL)) {
        snprintf(s->err, sizeof(s->err), "sealed: no user or provider");
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);

    if (id) {
        sqlite3_bind_int64(st, 2, id);

    } else {
        sqlite3_bind_text(st, 2, provider, -1, SQLITE_STATIC);
    }

    found = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sealed.id = sqlite3_column_int64(st, 0);
        sealed.rotation_priority = sqlite3_column_int64(st, 1);
        sealed.created_at = sqlite3_column_int64(st, 2);
        sealed.blob = sqlite3_column_blob(st, 3);
        sealed.blob_len = sqlite3_column_bytes(st, 3);
        ngx_http_byok_copy_column(st, 4, sealed.status,
                                  sizeof(sealed.status));
        sealed.status_until = sqlite3_column_int64(st, 5);

        found++;

        if (handler(data, &sealed) != 0) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            snprintf(s->err, sizeof(s->err), "sealed value refused");
            return NGX_HTTP_BYOK_STORE_ERROR;
        }
    }

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);

    if (rc != SQLITE_DONE) {
        return ngx_http_byok_fail(s, "sealed");
    }

    return (id && !found) ? NGX_HTTP_BYOK_STORE_NOT_FOUND
                          : NGX_HTTP_BYOK_STORE_OK;
}


int
ngx_http_byok_store_set_health(ngx_http_byok_store_t *s, const char *user,
    int64_t id, const char *status, int64_t at, int64_t until,
    const ngx_http_byok_audit_t *audit)
{
    sqlite3_stmt  *st;

    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    st = ngx_http_byok_stmt(s, BYOK_SQL_SET_HEALTH);
    if (st == NULL) {
        goto failed;
    }

    ngx_http_byok_bind_text(st, 1, status);
    sqlite3_bind_int64(st, 2, at);

    if (until) {
        sqlite3_bind_int64(st, 3, until);

    } else {
        sqlite3_bind_null(st, 3);
    }

    ngx_http_byok_bind_text(st, 4, user);
    sqlite3_bind_int64(st, 5, id);

    if (ngx_http_byok_step_done(s, st) != 0) {
        goto failed;
    }

    if (sqlite3_changes(s->db) == 0) {
        ngx_http_byok_rollback(s);
        return NGX_HTTP_BYOK_STORE_NOT_FOUND;
    }

    if (ngx_http_byok_write_audit(s, audit, at) != 0) {
        goto failed;
    }

    return ngx_http_byok_commit(s);

failed:

    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


/*
 * A test result or a re-enable changes a key's health: "active" clears
 * invalid/exhausted/cooldown, "invalid" marks a refused key; the change, if
 * any, is audited in the caller's transaction.
 */

static int
ngx_http_byok_test_health(ngx_http_byok_store_t *s, int n, const char *user,
    int64_t id, int64_t at, const ngx_http_byok_audit_t *audit,
    const char *outcome)
{
    sqlite3_stmt           *st;
    ngx_http_byok_audit_t   a;

    st = ngx_http_byok_stmt(s, n);
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, at);
    ngx_http_byok_bind_text(st, 2, user);
    sqlite3_bind_int64(st, 3, id);

    if (ngx_http_byok_step_done(s, st) != 0) {
        return -1;
    }

    if (sqlite3_changes(s->db) == 0) {
        return 0;
    }

    a = *audit;
    a.action = "key.health";
    a.outcome = outcome;

    return ngx_http_byok_write_audit(s, &a, at);
}


/* usage counters, many keys in one transaction */

int
ngx_http_byok_store_add_usage(ngx_http_byok_store_t *s, const int64_t *ids,
    const int64_t *uses, const int64_t *failures, const int64_t *last_used,
    size_t n)
{
    size_t         i;
    sqlite3_stmt  *st;

    if (n == 0) {
        return NGX_HTTP_BYOK_STORE_OK;
    }

    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    for (i = 0; i < n; i++) {
        st = ngx_http_byok_stmt(s, BYOK_SQL_ADD_USAGE);
        if (st == NULL) {
            goto failed;
        }

        sqlite3_bind_int64(st, 1, uses[i]);
        sqlite3_bind_int64(st, 2, failures[i]);
        sqlite3_bind_int64(st, 3, last_used[i]);
        sqlite3_bind_int64(st, 4, ids[i]);

        if (ngx_http_byok_step_done(s, st) != 0) {
            goto failed;
        }
    }

    return ngx_http_byok_commit(s);

failed:

    ngx_http_byok_rollback(s);
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_audit(ngx_http_byok_store_t *s,
    const ngx_http_byok_audit_t *audit)
{
    if (ngx_http_byok_begin(s) != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    if (ngx_http_byok_write_audit(s, audit, time(NULL)) != 0) {
        ngx_http_byok_rollback(s);
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    return ngx_http_byok_commit(s);
}


static int
ngx_http_byok_write_audit(ngx_http_byok_store_t *s,
    const ngx_http_byok_audit_t *a, int64_t now)
{
    sqlite3_stmt  *st;

    st = ngx_http_byok_stmt(s, BYOK_SQL_AUDIT);
    if (st == NULL) {
        return -1;
    }

    sqlite3_bind_int64(st, 1, now);
    ngx_http_byok_bind_text(st, 2, a->actor);
    ngx_http_byok_bind_text(st, 3, a->actor_kind);
    ngx_http_byok_bind_text(st, 4, a->action);
    ngx_http_byok_bind_text(st, 5, a->user);

    if (a->key_id) {
        sqlite3_bind_int64(st, 6, a->key_id);

    } else {
        sqlite3_bind_null(st, 6);
    }

    ngx_http_byok_bind_text(st, 7, a->provider);
    ngx_http_byok_bind_text(st, 8, a->remote_addr);
    ngx_http_byok_bind_text(st, 9, a->outcome ? a->outcome : "ok");

    return ngx_http_byok_step_done(s, st);
}


static int
ngx_http_byok_get_locked(ngx_http_byok_store_t *s, const char *user,
    int64_t id, ngx_http_byok_key_t *key)
{
    int            rc;
    sqlite3_stmt  *st;

    st = ngx_http_byok_stmt(s, BYOK_SQL_GET);
    if (st == NULL) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    ngx_http_byok_bind_text(st, 1, user);
    sqlite3_bind_int64(st, 2, id);

    rc = sqlite3_step(st);

    if (rc == SQLITE_ROW) {
        ngx_http_byok_read_key(st, key);
        sqlite3_reset(st);
        return NGX_HTTP_BYOK_STORE_OK;
    }

    sqlite3_reset(st);

    if (rc == SQLITE_DONE) {
        return NGX_HTTP_BYOK_STORE_NOT_FOUND;
    }

    return ngx_http_byok_fail(s, "get");
}


static void
ngx_http_byok_read_key(sqlite3_stmt *st, ngx_http_byok_key_t *k)
{
    memset(k, 0, sizeof(ngx_http_byok_key_t));

    k->id = sqlite3_column_int64(st, 0);
    ngx_http_byok_copy_column(st, 1, k->category, sizeof(k->category));
    ngx_http_byok_copy_column(st, 2, k->provider, sizeof(k->provider));
    ngx_http_byok_copy_column(st, 3, k->auth_type, sizeof(k->auth_type));

    if (sqlite3_column_type(st, 4) != SQLITE_NULL) {
        k->has_label = 1;
        ngx_http_byok_copy_column(st, 4, k->label, sizeof(k->label));
    }

    ngx_http_byok_copy_column(st, 5, k->masked, sizeof(k->masked));
    k->rotation_priority = sqlite3_column_int64(st, 6);
    k->rentable = sqlite3_column_int(st, 7) ? 1 : 0;
    ngx_http_byok_copy_column(st, 8, k->status, sizeof(k->status));
    k->status_at = sqlite3_column_int64(st, 9);
    k->created_at = sqlite3_column_int64(st, 10);
    k->updated_at = sqlite3_column_int64(st, 11);
    k->revoked_at = sqlite3_column_int64(st, 12);
    ngx_http_byok_copy_column(st, 13, k->test_result,
                              sizeof(k->test_result));
    k->test_status = (sqlite3_column_type(st, 14) == SQLITE_NULL)
                     ? -1 : sqlite3_column_int(st, 14);
    k->test_at = sqlite3_column_int64(st, 15);
    k->last_used_at = sqlite3_column_int64(st, 16);
    k->status_until = sqlite3_column_int64(st, 17);
    k->use_count = sqlite3_column_int64(st, 18);
    k->failure_count = sqlite3_column_int64(st, 19);
}


static void
ngx_http_byok_copy_column(sqlite3_stmt *st, int i, char *dst, size_t size)
{
    size_t                len;
    const unsigned char  *v;

    v = sqlite3_column_text(st, i);
    len = (v != NULL) ? (size_t) sqlite3_column_bytes(st, i) : 0;

    if (len >= size) {
        len = size - 1;
    }

    if (len) {
        memcpy(dst, v, len);
    }

    dst[len] = '\0';
}


static void
ngx_http_byok_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v == NULL) {
        sqlite3_bind_null(st, i);
        return;
    }

    sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
}


static sqlite3_stmt *
ngx_http_byok_stmt(ngx_http_byok_store_t *s, int n)
{
    if (s->stmt[n] == NULL) {
        if (sqlite3_prepare_v3(s->db, ngx_http_byok_sql[n], -1,
                               SQLITE_PREPARE_PERSISTENT, &s->stmt[n], NULL)
            != SQLITE_OK)
        {
            ngx_http_byok_fail(s, "prepare");
            return NULL;
        }

    } else {
        sqlite3_reset(s->stmt[n]);
        sqlite3_clear_bindings(s->stmt[n]);
    }

    return s->stmt[n];
}


static int
ngx_http_byok_step_done(ngx_http_byok_store_t *s, sqlite3_stmt *st)
{
    int  rc;

    rc = sqlite3_step(st);
    sqlite3_reset(st);

    if (rc != SQLITE_DONE) {
        return ngx_http_byok_fail(s, "write");
    }

    return 0;
}


static int
ngx_http_byok_begin(ngx_http_byok_store_t *s)
{
    sqlite3_stmt  *st;

    st = ngx_http_byok_stmt(s, BYOK_SQL_BEGIN);
    if (st == NULL) {
        return -1;
    }

    return ngx_http_byok_step_done(s, st);
}


static int
ngx_http_byok_commit(ngx_http_byok_store_t *s)
{
    sqlite3_stmt  *st;

    st = ngx_http_byok_stmt(s, BYOK_SQL_COMMIT);

    if (st == NULL || ngx_http_byok_step_done(s, st) != 0) {
        ngx_http_byok_rollback(s);
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    return NGX_HTTP_BYOK_STORE_OK;
}


static void
ngx_http_byok_rollback(ngx_http_byok_store_t *s)
{
    if (sqlite3_get_autocommit(s->db)) {
        return;
    }

    /* a failed COMMIT or statement may already have ended the transaction */

    (void) sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}


static int
ngx_http_byok_fail(ngx_http_byok_store_t *s, const char *what)
{
    snprintf(s->err, sizeof(s->err), "%s: %s (%d)", what,
             sqlite3_errmsg(s->db), sqlite3_extended_errcode(s->db));
    return NGX_HTTP_BYOK_STORE_ERROR;
}


int
ngx_http_byok_store_stats(ngx_http_byok_store_t *s,
    ngx_http_byok_stat_t **stats, size_t *n, int64_t *bytes,
    int64_t *audit_rows)
{
    int                    rc;
    size_t                 cap;
    sqlite3_stmt          *st;
    ngx_http_byok_stat_t  *a, *na;

    *stats = NULL;
    *n = 0;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT provider, status, count(*)"
                           " FROM provider_keys GROUP BY provider, status"
                           " ORDER BY provider, status", -1, &st, NULL)
        != SQLITE_OK)
    {
        return ngx_http_byok_fail(s, "stats");
    }

    a = NULL;
    cap = 0;

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            na = realloc(a, cap * sizeof(ngx_http_byok_stat_t));
            if (na == NULL) {
                break;
            }

            a = na;
        }

        ngx_http_byok_copy_column(st, 0, a[*n].provider,
                                  sizeof(a[*n].provider));
        ngx_http_byok_copy_column(st, 1, a[*n].status, sizeof(a[*n].status));
        a[*n].count = sqlite3_column_int64(st, 2);
        (*n)++;
    }

    sqlite3_finalize(st);

    if (rc != SQLITE_DONE) {
        free(a);
        *n = 0;
        return ngx_http_byok_fail(s, "stats");
    }

    *stats = a;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT page_count FROM pragma_page_count)"
                           " * (SELECT page_size FROM pragma_page_size),"
                           " (SELECT count(*) FROM audit_log)", -1, &st,
                           NULL)
        != SQLITE_OK)
    {
        return ngx_http_byok_fail(s, "stats");
    }

    if (sqlite3_step(st) == SQLITE_ROW) {
        *bytes = sqlite3_column_int64(st, 0);
        *audit_rows = sqlite3_column_int64(st, 1);
    }

    sqlite3_finalize(st);

    return NGX_HTTP_BYOK_STORE_OK;
}


int
ngx_http_byok_store_audit_query(ngx_http_byok_store_t *s,
    const ngx_http_byok_audit_query_t *q, ngx_http_byok_audit_row_t **rows,
    size_t *n)
{
    int                         rc;
    char                        sql[512];
    sqlite3_stmt               *st;
    ngx_http_byok_audit_row_t  *a;

    *rows = NULL;
    *n = 0;

    snprintf(sql, sizeof(sql),
             "SELECT id, at, actor, actor_kind, action, user_id, key_id,"
             " provider, remote_addr, outcome FROM audit_log WHERE 1%s%s%s%s%s"
             " ORDER BY id DESC LIMIT ?6",
             q->user ? " AND user_id = ?1" : "",
             q->action ? " AND action = ?2" : "",
             q->key_id ? " AND key_id = ?3" : "",
             q->since ? " AND at >= ?4" : "",
             q->before ? " AND id < ?5" : "");

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        return ngx_http_byok_fail(s, "audit");
    }

    if (q->user) {
        ngx_http_byok_bind_text(st, 1, q->user);
    }

    if (q->action) {
        ngx_http_byok_bind_text(st, 2, q->action);
    }

    sqlite3_bind_int64(st, 3, q->key_id);
    sqlite3_bind_int64(st, 4, q->since);
    sqlite3_bind_int64(st, 5, q->before);
    sqlite3_bind_int64(st, 6, (sqlite3_int64) q->limit);

    a = calloc(q->limit ? q->limit : 1, sizeof(ngx_http_byok_audit_row_t));
    if (a == NULL) {
        sqlite3_finalize(st);
        snprintf(s->err, sizeof(s->err), "out of memory");
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    while (*n < q->limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        a[*n].id = sqlite3_column_int64(st, 0);
        a[*n].at = sqlite3_column_int64(st, 1);
        ngx_http_byok_copy_column(st, 2, a[*n].actor, sizeof(a[*n].actor));
        ngx_http_byok_copy_column(st, 3, a[*n].actor_kind,
                                  sizeof(a[*n].actor_kind));
        ngx_http_byok_copy_column(st, 4, a[*n].action, sizeof(a[*n].action));
        ngx_http_byok_copy_column(st, 5, a[*n].user, sizeof(a[*n].user));
        a[*n].key_id = sqlite3_column_int64(st, 6);
        ngx_http_byok_copy_column(st, 7, a[*n].provider,
                                  sizeof(a[*n].provider));
        ngx_http_byok_copy_column(st, 8, a[*n].remote_addr,
                                  sizeof(a[*n].remote_addr));
        ngx_http_byok_copy_column(st, 9, a[*n].outcome,
                                  sizeof(a[*n].outcome));
        (*n)++;
    }

    rc = sqlite3_errcode(s->db);
    sqlite3_finalize(st);

    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW) {
        free(a);
        *n = 0;
        return ngx_http_byok_fail(s, "audit");
    }

    *rows = a;

    return NGX_HTTP_BYOK_STORE_OK;
}


/*
 * Re-seals values not under the current master key, each row in its own
 * short transaction with a compare-and-swap on the old value, so lookups
 * and the user API keep working, and an interrupted run is resumed by
 * running it again.
 */

int
ngx_http_byok_store_rewrap(ngx_http_byok_store_t *s, uint32_t current,
    int64_t after, size_t batch, ngx_http_byok_store_reseal_pt reseal,
    void *data, const ngx_http_byok_audit_t *audit,
    ngx_http_byok_rewrap_t *result)
{
    int                     rc;
    char                   *user, *provider;
    size_t                  i, n, out_len;
    int64_t                 now, *ids;
    uint32_t                master_id;
    sqlite3_stmt           *st, *up;
    unsigned char          *blob, *out;
    ngx_http_byok_row_t     row;
    ngx_http_byok_audit_t   a;

    memset(result, 0, sizeof(ngx_http_byok_rewrap_t));

    ids = calloc(batch ? batch : 1, sizeof(int64_t));
    if (ids == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    /* an id cursor: rows that do not open never hold the batch back */

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id FROM provider_keys"
                           " WHERE sealed IS NOT NULL AND master_key_id != ?"
                           " AND id > ? ORDER BY id LIMIT ?", -1, &st, NULL)
        != SQLITE_OK)
    {
        free(ids);
        return ngx_http_byok_fail(s, "rewrap");
    }

    sqlite3_bind_int64(st, 1, current);
    sqlite3_bind_int64(st, 2, after);
    sqlite3_bind_int64(st, 3, (sqlite3_int64) batch);

    n = 0;
    result->last = after;

    while (n < batch && sqlite3_step(st) == SQLITE_ROW) {
        ids[n++] = sqlite3_column_int64(st, 0);
    }

    sqlite3_finalize(st);

    if (n) {
        result->last = ids[n - 1];
    }

    if (sqlite3_prepare_v2(s->db,
                           "SELECT user_id, provider, sealed, master_key_id"
                           " FROM provider_keys WHERE id = ?"
                           " AND sealed IS NOT NULL AND master_key_id != ?",
                           -1, &st, NULL)
        != SQLITE_OK)
    {
        free(ids);
        return ngx_http_byok_fail(s, "rewrap");
    }

    if (sqlite3_prepare_v2(s->db,
                           "UPDATE provider_keys SET sealed = ?,"
                           " master_key_id = ? WHERE id = ? AND sealed = ?",
                           -1, &up, NULL)
        != SQLITE_OK)
    {
        sqlite3_finalize(st);
        free(ids);
        return ngx_http_byok_fail(s, "rewrap");
    }

    out = NULL;
    rc = NGX_HTTP_BYOK_STORE_OK;

    for (i = 0; i < n; i++) {
        now = time(NULL);

        if (ngx_http_byok_begin(s) != 0) {
            rc = NGX_HTTP_BYOK_STORE_ERROR;
            break;
        }

        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, ids[i]);
        sqlite3_bind_int64(st, 2, current);

        if (sqlite3_step(st) != SQLITE_ROW) {
            /* revoked or rewrapped meanwhile */
            ngx_http_byok_rollback(s);
            result->skipped++;
            continue;
        }

        /* copied out: no statement stays active across the write */

        row.id = ids[i];
        row.blob_len = sqlite3_column_bytes(st, 2);
        row.master_id = (uint32_t) sqlite3_column_int64(st, 3);

        user = strdup((char *) sqlite3_column_text(st, 0));
        provider = strdup((char *) sqlite3_column_text(st, 1));
        blob = malloc(row.blob_len);
        out = malloc(row.blob_len);

        if (user == NULL || provider == NULL || blob == NULL || out == NULL)
        {
            sqlite3_reset(st);
            free(user);
            free(provider);
            free(blob);
            ngx_http_byok_rollback(s);
            rc = NGX_HTTP_BYOK_STORE_ERROR;
            break;
        }

        memcpy(blob, sqlite3_column_blob(st, 2), row.blob_len);
        sqlite3_reset(st);

        row.user = user;
        row.provider = provider;
        row.blob = blob;

        out_len = row.blob_len;

        if (reseal(data, &row, out, &out_len, &master_id) != 0) {
            ngx_http_byok_rollback(s);
            result->failed++;
            goto next;
        }

        sqlite3_reset(up);
        sqlite3_bind_blob(up, 1, out, (int) out_len, SQLITE_STATIC);
        sqlite3_bind_int64(up, 2, master_id);
        sqlite3_bind_int64(up, 3, ids[i]);
        sqlite3_bind_blob(up, 4, row.blob, (int) row.blob_len,
                          SQLITE_STATIC);

        rc = sqlite3_step(up);
        sqlite3_reset(up);

        if (rc != SQLITE_DONE) {
            ngx_http_byok_fail(s, "rewrap");
            ngx_http_byok_rollback(s);
            rc = NGX_HTTP_BYOK_STORE_ERROR;
            goto next;
        }

        rc = NGX_HTTP_BYOK_STORE_OK;

        if (sqlite3_changes(s->db) == 0) {
            ngx_http_byok_rollback(s);
            result->skipped++;
            goto next;
        }

        a = *audit;
        a.user = user;
        a.key_id = ids[i];
        a.provider = provider;

        if (ngx_http_byok_write_audit(s, &a, now) != 0
            || ngx_http_byok_commit(s) != NGX_HTTP_BYOK_STORE_OK)
        {
            ngx_http_byok_rollback(s);
            rc = NGX_HTTP_BYOK_STORE_ERROR;
            goto next;
        }

        result->rewrapped++;

    next:

        ngx_http_byok_wipe_buffer(out, row.blob_len);
        free(out);
        free(blob);
        free(user);
        free(provider);
        out = NULL;

        if (rc != NGX_HTTP_BYOK_STORE_OK) {
            break;
        }
    }

    free(ids);
    sqlite3_finalize(st);
    sqlite3_finalize(up);

    if (rc != NGX_HTTP_BYOK_STORE_OK) {
        return rc;
    }

    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM provider_keys"
                           " WHERE sealed IS NOT NULL AND master_key_id != ?",
                           -1, &st, NULL)
        != SQLITE_OK)
    {
        return ngx_http_byok_fail(s, "rewrap");
    }

    sqlite3_bind_int64(st, 1, current);

    if (sqlite3_step(st) == SQLITE_ROW) {
        result->remaining = (size_t) sqlite3_column_int64(st, 0);
    }

    sqlite3_finalize(st);

    return NGX_HTTP_BYOK_STORE_OK;
}


int
ngx_http_byok_store_each_sealed(ngx_http_byok_store_t *s,
    ngx_http_byok_store_row_pt handler, void *data)
{
    int                   rc;
    sqlite3_stmt         *st;
    ngx_http_byok_row_t   row;

    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, user_id, provider, sealed,"
                           " master_key_id FROM provider_keys"
                           " WHERE sealed IS NOT NULL ORDER BY id",
                           -1, &st, NULL)
        != SQLITE_OK)
    {
        return ngx_http_byok_fail(s, "rows");
    }

    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        row.id = sqlite3_column_int64(st, 0);
        row.user = (const char *) sqlite3_column_text(st, 1);
        row.provider = (const char *) sqlite3_column_text(st, 2);
        row.blob = sqlite3_column_blob(st, 3);
        row.blob_len = sqlite3_column_bytes(st, 3);
        row.master_id = (uint32_t) sqlite3_column_int64(st, 4);

        if (handler(data, &row) != 0) {
            break;
        }
    }

    sqlite3_finalize(st);

    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        return ngx_http_byok_fail(s, "rows");
    }

    return NGX_HTTP_BYOK_STORE_OK;
}


/*
 * "ok", or the reason the store cannot serve: quick_check (or
 * integrity_check when asked to be thorough through write < 0) and, with
 * write, whether a write lock can be taken.
 */

int
ngx_http_byok_store_check(ngx_http_byok_store_t *s, int write, char *result,
    size_t len)
{
    int            rc;
    sqlite3_stmt  *st;

    if (sqlite3_prepare_v2(s->db, write < 0 ? "PRAGMA integrity_check"
                                            : "PRAGMA quick_check",
                           -1, &st, NULL)
        != SQLITE_OK)
    {
        ngx_http_byok_fail(s, "check");
        snprintf(result, len, "%s", s->err);
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    rc = sqlite3_step(st);

    if (rc != SQLITE_ROW) {
        ngx_http_byok_fail(s, "check");
        snprintf(result, len, "%s", s->err);
        sqlite3_finalize(st);
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    snprintf(result, len, "%s", sqlite3_column_text(st, 0));
    sqlite3_finalize(st);

    if (strcmp(result, "ok") != 0) {
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    /* a real, committed write: a lock alone does not touch the disk */

    if (write > 0
        && sqlite3_exec(s->db, "BEGIN IMMEDIATE;"
                               "INSERT OR REPLACE INTO meta (name, value)"
                               " VALUES ('health_check', unixepoch());"
                               "COMMIT;", NULL, NULL, NULL)
           != SQLITE_OK)
    {
        ngx_http_byok_fail(s, "write");
        ngx_http_byok_rollback(s);
        snprintf(result, len, "store is not writable: %s", s->err);
        return NGX_HTTP_BYOK_STORE_ERROR;
    }

    return NGX_HTTP_BYOK_STORE_OK;
}


int
ngx_http_byok_store_backup(ngx_http_byok_store_t *s, const char *path)
{
    int            rc;
    sqlite3_stmt  *st;

    /* a consistent copy while the store stays online */

    if (sqlite3_prepare_v2(s->db, "VACUUM INTO ?", -1, &st, NULL)
        != SQLITE_OK)
    {
        return ngx_http_byok_fail(s, "backup");
    }

    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);

    rc = sqlite3_step(st);
    sqlite3_finalize(st);

    if (rc != SQLITE_DONE) {
        return ngx_http_byok_fail(s, "backup");
    }

    return NGX_HTTP_BYOK_STORE_OK;
}


static void
ngx_http_byok_wipe_buffer(void *p, size_t n)
{
    volatile unsigned char  *v = p;

    while (p != NULL && n--) {
        *v++ = 0;
    }
}
