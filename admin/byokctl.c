
/*
 * byokctl: operations on the key store without nginx, with the module's
 * own sealing and store code: create the store, verify that every sealed
 * value opens, rewrap values under the current master key, take an online
 * backup, count keys.  Master keys are read from the same env:NAME and
 * file:PATH sources as nginx reads them; no key is ever printed.
 */


#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ngx_http_byok_seal.h"
#include "ngx_http_byok_store.h"


#define NGX_HTTP_BYOK_CTL_MASTER_MAX   16
#define NGX_HTTP_BYOK_CTL_SECRET_MAX   1024
#define NGX_HTTP_BYOK_CTL_VALUE_MAX    4096
#define NGX_HTTP_BYOK_CTL_IDS_MAX      64
#define NGX_HTTP_BYOK_CTL_BATCH        100
#define NGX_HTTP_BYOK_CTL_BATCH_MAX    10000
#define NGX_HTTP_BYOK_CTL_SHOW_MAX     20

/* exit codes */
#define NGX_HTTP_BYOK_CTL_OK           0
#define NGX_HTTP_BYOK_CTL_FAILED       1
#define NGX_HTTP_BYOK_CTL_USAGE        2

/* options, as bits of a command's allowed and required sets */
#define NGX_HTTP_BYOK_CTL_STORE        0x01
#define NGX_HTTP_BYOK_CTL_MASTER       0x02
#define NGX_HTTP_BYOK_CTL_PREVIOUS     0x04
#define NGX_HTTP_BYOK_CTL_BATCH_OPT    0x08
#define NGX_HTTP_BYOK_CTL_TO           0x10


typedef struct {
    const char                *store;
    const char                *to;
    const char                *master;
    const char                *previous[NGX_HTTP_BYOK_CTL_MASTER_MAX - 1];
    size_t                     nprevious;
    size_t                     batch;
    unsigned                   given;
} ngx_http_byok_ctl_args_t;


typedef int (*ngx_http_byok_ctl_pt)(ngx_http_byok_ctl_args_t *args);

typedef struct {
    const char                *name;
    ngx_http_byok_ctl_pt       handler;
    unsigned                   allowed;
    unsigned                   required;
} ngx_http_byok_ctl_command_t;


/* masters[0] is the current key, the others are previous keys */
typedef struct {
    ngx_http_byok_master_t     masters[NGX_HTTP_BYOK_CTL_MASTER_MAX];
    size_t                     nmasters;
} ngx_http_byok_ctl_keys_t;


typedef struct {
    ngx_http_byok_ctl_keys_t  *keys;
    size_t                     rows;
    size_t                     current;
    size_t                     previous;
    size_t                     failed;
} ngx_http_byok_ctl_verify_t;


static int ngx_http_byok_ctl_init(ngx_http_byok_ctl_args_t *args);
static int ngx_http_byok_ctl_verify(ngx_http_byok_ctl_args_t *args);
static int ngx_http_byok_ctl_verify_row(void *data,
    const ngx_http_byok_row_t *row);
static int ngx_http_byok_ctl_rewrap(ngx_http_byok_ctl_args_t *args);
static int ngx_http_byok_ctl_reseal(void *data,
    const ngx_http_byok_row_t *row, unsigned char *out, size_t *out_len,
    uint32_t *master_id);
static int ngx_http_byok_ctl_backup(ngx_http_byok_ctl_args_t *args);
static int ngx_http_byok_ctl_stats(ngx_http_byok_ctl_args_t *args);
static ngx_http_byok_store_t *ngx_http_byok_ctl_open(const char *path,
    int create);
static int ngx_http_byok_ctl_load_keys(ngx_http_byok_ctl_args_t *args,
    ngx_http_byok_ctl_keys_t *keys);
static int ngx_http_byok_ctl_load_master(const char *source,
    const char *option, ngx_http_byok_master_t *m);
static int ngx_http_byok_ctl_read_secret(const char *source,
    const char *option, unsigned char *buf, size_t size, size_t *len);
static int ngx_http_byok_ctl_check_keys(ngx_http_byok_store_t *s,
    ngx_http_byok_ctl_keys_t *keys, int verbose);
static const char *ngx_http_byok_ctl_open_error(int rc);
static void ngx_http_byok_ctl_print_str(FILE *f, const char *s);
static int ngx_http_byok_ctl_parse(int argc, char *const *argv,
    const ngx_http_byok_ctl_command_t *cmd, ngx_http_byok_ctl_args_t *args);
static int ngx_http_byok_ctl_usage(FILE *f);


static const ngx_http_byok_ctl_command_t  ngx_http_byok_ctl_commands[] = {

    { "init", ngx_http_byok_ctl_init,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_MASTER,
      NGX_HTTP_BYOK_CTL_STORE },

    { "verify", ngx_http_byok_ctl_verify,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_MASTER
      |NGX_HTTP_BYOK_CTL_PREVIOUS,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_MASTER },

    { "rewrap", ngx_http_byok_ctl_rewrap,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_MASTER
      |NGX_HTTP_BYOK_CTL_PREVIOUS|NGX_HTTP_BYOK_CTL_BATCH_OPT,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_MASTER },

    { "backup", ngx_http_byok_ctl_backup,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_TO,
      NGX_HTTP_BYOK_CTL_STORE|NGX_HTTP_BYOK_CTL_TO },

    { "stats", ngx_http_byok_ctl_stats,
      NGX_HTTP_BYOK_CTL_STORE,
      NGX_HTTP_BYOK_CTL_STORE },

    { NULL, NULL, 0, 0 }
};


int
main(int argc, char *const *argv)
{
    int                                 rc;
    ngx_http_byok_ctl_args_t            args;
    const ngx_http_byok_ctl_command_t  *cmd;

    if (argc < 2) {
        return ngx_http_byok_ctl_usage(stderr);
    }

    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0
        || strcmp(argv[1], "help") == 0)
    {
        (void) ngx_http_byok_ctl_usage(stdout);
        return NGX_HTTP_BYOK_CTL_OK;
    }

    for (cmd = ngx_http_byok_ctl_commands; cmd->name != NULL; cmd++) {
        if (strcmp(argv[1], cmd->name) == 0) {
            break;
        }
    }

    if (cmd->name == NULL) {
        fprintf(stderr, "byokctl: unknown command \"%s\"\n", argv[1]);
        return ngx_http_byok_ctl_usage(stderr);
    }

    memset(&args, 0, sizeof(ngx_http_byok_ctl_args_t));
    args.batch = NGX_HTTP_BYOK_CTL_BATCH;

    if (ngx_http_byok_ctl_parse(argc - 2, argv + 2, cmd, &args) != 0) {
        return NGX_HTTP_BYOK_CTL_USAGE;
    }

    /* a new store and a backup hold sealed values: owner only */

    umask(077);

    rc = cmd->handler(&args);

    fflush(stdout);

    return rc;
}


static int
ngx_http_byok_ctl_init(ngx_http_byok_ctl_args_t *args)
{
    int                       rc, existed, found, version;
    ngx_http_byok_store_t    *s;
    ngx_http_byok_ctl_keys_t  keys;

    existed = (access(args->store, F_OK) == 0);

    s = ngx_http_byok_ctl_open(args->store, 1);
    if (s == NULL) {
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    version = ngx_http_byok_store_schema(s, &found);

    if (!existed || found == 0) {
        printf("store \"%s\": created\n", args->store);

    } else if (found != version) {
        printf("store \"%s\": schema %d migrated to %d\n", args->store,
               found, version);

    } else {
        printf("store \"%s\": schema is current\n", args->store);
    }

    rc = NGX_HTTP_BYOK_CTL_OK;

    if (args->master != NULL) {
        if (ngx_http_byok_ctl_load_keys(args, &keys) != 0
            || ngx_http_byok_ctl_check_keys(s, &keys, 1) != 0)
        {
            rc = NGX_HTTP_BYOK_CTL_FAILED;
        }

        ngx_http_byok_wipe(&keys, sizeof(ngx_http_byok_ctl_keys_t));
    }

    ngx_http_byok_store_close(s);

    return rc;
}


/*
 * The store's own consistency (PRAGMA integrity_check), the check value of
 * every given key, no value sealed under a key that was not given, and
 * every sealed value opening with its binding to user, key id and provider.
 */

static int
ngx_http_byok_ctl_verify(ngx_http_byok_ctl_args_t *args)
{
    char                        result[512];
    size_t                      i, k, n, problems;
    uint32_t                    ids[NGX_HTTP_BYOK_CTL_IDS_MAX];
    ngx_http_byok_store_t      *s;
    ngx_http_byok_ctl_keys_t    keys;
    ngx_http_byok_ctl_verify_t  v;

    s = ngx_http_byok_ctl_open(args->store, 0);
    if (s == NULL) {
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    if (ngx_http_byok_ctl_load_keys(args, &keys) != 0) {
        ngx_http_byok_store_close(s);
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    problems = 0;

    if (ngx_http_byok_store_check(s, -1, result, sizeof(result))
        != NGX_HTTP_BYOK_STORE_OK)
    {
        problems++;
    }

    printf("integrity_check: %s\n", result);

    if (ngx_http_byok_ctl_check_keys(s, &keys, 1) != 0) {
        problems++;
    }

    if (ngx_http_byok_store_master_ids(s, ids, &n, NGX_HTTP_BYOK_CTL_IDS_MAX)
        != NGX_HTTP_BYOK_STORE_OK)
    {
        fprintf(stderr, "byokctl: %s\n", ngx_http_byok_store_error(s));
        goto failed;
    }

    for (i = 0; i < n; i++) {
        for (k = 0; k < keys.nmasters; k++) {
            if (keys.masters[k].id == ids[i]) {
                break;
            }
        }

        if (k == keys.nmasters) {
            printf("master key %08x: values are sealed under it, but it "
                   "was not given\n", ids[i]);
            problems++;
        }
    }

    memset(&v, 0, sizeof(ngx_http_byok_ctl_verify_t));
    v.keys = &keys;

    if (ngx_http_byok_store_each_sealed(s, ngx_http_byok_ctl_verify_row, &v)
        != NGX_HTTP_BYOK_STORE_OK)
    {
        fprintf(stderr, "byokctl: %s\n", ngx_http_byok_store_error(s));
        goto failed;
    }

    if (v.failed > NGX_HTTP_BYOK_CTL_SHOW_MAX) {
        printf("... and %zu more\n", v.failed - NGX_HTTP_BYOK_CTL_SHOW_MAX);
    }

    printf("sealed values: %zu, open: %zu (current key: %zu, previous keys: "
           "%zu), do not open: %zu\n", v.rows, v.current + v.previous,
           v.current, v.previous, v.failed);

    problems += v.failed;

    ngx_http_byok_wipe(&keys, sizeof(ngx_http_byok_ctl_keys_t));
    ngx_http_byok_store_close(s);

    if (problems) {
        printf("verify: FAILED (%zu problem%s)\n", problems,
               problems == 1 ? "" : "s");
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    printf("verify: ok\n");

    return NGX_HTTP_BYOK_CTL_OK;

failed:

    ngx_http_byok_wipe(&keys, sizeof(ngx_http_byok_ctl_keys_t));
    ngx_http_byok_store_close(s);

    return NGX_HTTP_BYOK_CTL_FAILED;
}


static int
ngx_http_byok_ctl_verify_row(void *data, const ngx_http_byok_row_t *row)
{
    ngx_http_byok_ctl_verify_t  *v = data;

    int                  rc;
    size_t               len;
    uint32_t             id;
    const char          *reason;
    unsigned char        plain[NGX_HTTP_BYOK_CTL_VALUE_MAX];
    ngx_http_byok_aad_t  aad;

    v->rows++;

    reason = NULL;

    if (row->user == NULL || row->provider == NULL
        || row->blob_len < NGX_HTTP_BYOK_SEAL_OVERHEAD
        || row->blob_len - NGX_HTTP_BYOK_SEAL_OVERHEAD > sizeof(plain))
    {
        reason = "malformed row";
        goto failed;
    }

    if (ngx_http_byok_seal_key_id(row->blob, row->blob_len, &id)
        != NGX_HTTP_BYOK_SEAL_OK)
    {
        reason = ngx_http_byok_ctl_open_error(NGX_HTTP_BYOK_SEAL_MALFORMED);
        goto failed;
    }

    /* rewrap selects rows by the column: it must name the sealing key */

    if (id != row->master_id) {
        reason = "master_key_id column does not match the sealed value";
        goto failed;
    }

    aad.user = (const unsigned char *) row->user;
    aad.user_len = strlen(row->user);
    aad.key_id = row->id;
    aad.provider = (const unsigned char *) row->provider;
    aad.provider_len = strlen(row->provider);

    rc = ngx_http_byok_open(v->keys->masters, v->keys->nmasters, &aad,
                            row->blob, row->blob_len, plain, &len);

    ngx_http_byok_wipe(plain, sizeof(plain));

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        reason = ngx_http_byok_ctl_open_error(rc);
        goto failed;
    }

    if (id == v->keys->masters[0].id) {
        v->current++;

    } else {
        v->previous++;
    }

    return 0;

failed:

    if (++v->failed <= NGX_HTTP_BYOK_CTL_SHOW_MAX) {
        printf("key %lld (user ", (long long) row->id);
        ngx_http_byok_ctl_print_str(stdout, row->user);
        printf(", provider ");
        ngx_http_byok_ctl_print_str(stdout, row->provider);
        printf(", master key %08x): does not open: %s\n", row->master_id,
               reason);
    }

    return 0;
}


/*
 * Re-seals every value that is not under the current key, batch by batch,
 * each row in its own transaction with its audit row: an interrupted run
 * loses nothing and is resumed by running it again.
 */

static int
ngx_http_byok_ctl_rewrap(ngx_http_byok_ctl_args_t *args)
{
    int                        rc;
    char                       id[sizeof("01234567")];
    json_t                    *body;
    int64_t                    after;
    ngx_http_byok_store_t     *s;
    ngx_http_byok_audit_t      audit;
    ngx_http_byok_rewrap_t     res, sum;
    ngx_http_byok_ctl_keys_t   keys;

    s = ngx_http_byok_ctl_open(args->store, 0);
    if (s == NULL) {
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    if (ngx_http_byok_ctl_load_keys(args, &keys) != 0) {
        ngx_http_byok_store_close(s);
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    /* the same refusal as nginx's start: a key that is not the stored one */

    if (ngx_http_byok_ctl_check_keys(s, &keys, 0) != 0) {
        rc = NGX_HTTP_BYOK_CTL_FAILED;
        goto done;
    }

    memset(&audit, 0, sizeof(ngx_http_byok_audit_t));
    audit.actor = "byokctl";
    audit.actor_kind = "admin";
    audit.action = "key.rewrap";
    audit.outcome = "ok";

    memset(&sum, 0, sizeof(ngx_http_byok_rewrap_t));

    /* batches walk the ids upwards: rows that do not open stay behind */

    after = 0;
    rc = NGX_HTTP_BYOK_CTL_OK;

    for ( ;; ) {
        if (ngx_http_byok_store_rewrap(s, keys.masters[0].id, after,
                                       args->batch, ngx_http_byok_ctl_reseal,
                                       &keys, &audit, &res)
            != NGX_HTTP_BYOK_STORE_OK)
        {
            fprintf(stderr, "byokctl: rewrap: %s; run it again to resume\n",
                    ngx_http_byok_store_error(s));
            rc = NGX_HTTP_BYOK_CTL_FAILED;
            break;
        }

        sum.rewrapped += res.rewrapped;
        sum.skipped += res.skipped;
        sum.failed += res.failed;
        sum.remaining = res.remaining;

        fprintf(stderr, "byokctl: rewrap: %zu rewrapped, %zu remaining\n",
                sum.rewrapped, res.remaining);

        if (res.last == after) {
            break;
        }

        after = res.last;
    }

    if (rc == NGX_HTTP_BYOK_CTL_OK) {
        snprintf(id, sizeof(id), "%08x", keys.masters[0].id);

        body = json_pack("{s:I, s:I, s:I, s:I, s:s}",
                         "rewrapped", (json_int_t) sum.rewrapped,
                         "skipped", (json_int_t) sum.skipped,
                         "failed", (json_int_t) sum.failed,
                         "remaining", (json_int_t) sum.remaining,
                         "master_key_id", id);

        if (body == NULL
            || json_dumpf(body, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER)
               != 0)
        {
            fprintf(stderr, "byokctl: out of memory\n");
            rc = NGX_HTTP_BYOK_CTL_FAILED;

        } else {
            printf("\n");
        }

        json_decref(body);

        if (sum.failed) {
            fprintf(stderr, "byokctl: rewrap: %zu sealed values do not open "
                    "with any given master key (see \"byokctl verify\")\n",
                    sum.failed);
            rc = NGX_HTTP_BYOK_CTL_FAILED;
        }
    }

done:

    ngx_http_byok_wipe(&keys, sizeof(ngx_http_byok_ctl_keys_t));
    ngx_http_byok_store_close(s);

    return rc;
}


static int
ngx_http_byok_ctl_reseal(void *data, const ngx_http_byok_row_t *row,
    unsigned char *out, size_t *out_len, uint32_t *master_id)
{
    ngx_http_byok_ctl_keys_t  *keys = data;

    int                  rc;
    size_t               len;
    unsigned char        plain[NGX_HTTP_BYOK_CTL_VALUE_MAX];
    ngx_http_byok_aad_t  aad;

    if (row->blob_len < NGX_HTTP_BYOK_SEAL_OVERHEAD
        || row->blob_len - NGX_HTTP_BYOK_SEAL_OVERHEAD > sizeof(plain)
        || *out_len < row->blob_len)
    {
        return -1;
    }

    aad.user = (const unsigned char *) row->user;
    aad.user_len = strlen(row->user);
    aad.key_id = row->id;
    aad.provider = (const unsigned char *) row->provider;
    aad.provider_len = strlen(row->provider);

    rc = ngx_http_byok_open(keys->masters, keys->nmasters, &aad, row->blob,
                            row->blob_len, plain, &len);

    if (rc == NGX_HTTP_BYOK_SEAL_OK) {
        rc = ngx_http_byok_seal(&keys->masters[0], &aad, plain, len, out,
                                out_len);
    }

    ngx_http_byok_wipe(plain, sizeof(plain));

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        return -1;
    }

    *master_id = keys->masters[0].id;

    return 0;
}


static int
ngx_http_byok_ctl_backup(ngx_http_byok_ctl_args_t *args)
{
    int                     fd, rc;
    struct stat             st;
    ngx_http_byok_store_t  *s;

    if (access(args->to, F_OK) == 0) {
        fprintf(stderr, "byokctl: backup: \"%s\" exists\n", args->to);
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    s = ngx_http_byok_ctl_open(args->store, 0);
    if (s == NULL) {
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    /* VACUUM INTO: a consistent copy while nginx keeps writing */

    rc = ngx_http_byok_store_backup(s, args->to);

    if (rc != NGX_HTTP_BYOK_STORE_OK) {
        fprintf(stderr, "byokctl: %s\n", ngx_http_byok_store_error(s));
        ngx_http_byok_store_close(s);
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    ngx_http_byok_store_close(s);

    /* VACUUM INTO does not sync its output */

    fd = open(args->to, O_RDONLY);

    if (fd == -1 || fsync(fd) == -1 || fstat(fd, &st) == -1) {
        fprintf(stderr, "byokctl: backup: \"%s\": %s\n", args->to,
                strerror(errno));

        if (fd != -1) {
            (void) close(fd);
        }

        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    (void) close(fd);

    printf("backup \"%s\": %lld bytes\n", args->to, (long long) st.st_size);

    return NGX_HTTP_BYOK_CTL_OK;
}


static int
ngx_http_byok_ctl_stats(ngx_http_byok_ctl_args_t *args)
{
    int                     rc;
    char                    hex[sizeof("01234567")];
    size_t                  i, n, nids;
    json_t                 *body, *list, *ids;
    int64_t                 bytes, audit_rows;
    uint32_t                id[NGX_HTTP_BYOK_CTL_IDS_MAX];
    ngx_http_byok_stat_t   *stats;
    ngx_http_byok_store_t  *s;

    s = ngx_http_byok_ctl_open(args->store, 0);
    if (s == NULL) {
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    bytes = 0;
    audit_rows = 0;

    if (ngx_http_byok_store_stats(s, &stats, &n, &bytes, &audit_rows)
        != NGX_HTTP_BYOK_STORE_OK
        || ngx_http_byok_store_master_ids(s, id, &nids,
                                          NGX_HTTP_BYOK_CTL_IDS_MAX)
           != NGX_HTTP_BYOK_STORE_OK)
    {
        fprintf(stderr, "byokctl: %s\n", ngx_http_byok_store_error(s));
        ngx_http_byok_store_close(s);
        return NGX_HTTP_BYOK_CTL_FAILED;
    }

    ngx_http_byok_store_close(s);

    list = json_array();
    ids = json_array();

    for (i = 0; list != NULL && i < n; i++) {
        json_array_append_new(list, json_pack("{s:s, s:s, s:I}",
                                              "provider", stats[i].provider,
                                              "status", stats[i].status,
                                              "count",
                                              (json_int_t) stats[i].count));
    }

    free(stats);

    for (i = 0; ids != NULL && i < nids; i++) {
        snprintf(hex, sizeof(hex), "%08x", id[i]);
        json_array_append_new(ids, json_string(hex));
    }

    body = json_pack("{s:o, s:{s:I, s:I, s:o}}",
                     "keys", list,
                     "store",
                     "bytes", (json_int_t) bytes,
                     "audit_rows", (json_int_t) audit_rows,
                     "master_key_ids", ids);

    rc = NGX_HTTP_BYOK_CTL_OK;

    if (body == NULL
        || json_dumpf(body, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0)
    {
        fprintf(stderr, "byokctl: out of memory\n");
        rc = NGX_HTTP_BYOK_CTL_FAILED;

    } else {
        printf("\n");
    }

    json_decref(body);

    return rc;
}


static ngx_http_byok_store_t *
ngx_http_byok_ctl_open(const char *path, int create)
{
    char                    err[512];
    ngx_http_byok_store_t  *s;

    /* SQLite would create a missing file: a mistyped path is an error */

    if (!create && access(path, F_OK) != 0) {
        fprintf(stderr, "byokctl: store \"%s\": %s\n", path, strerror(errno));
        return NULL;
    }

    s = ngx_http_byok_store_open(path, err, sizeof(err));
    if (s == NULL) {
        fprintf(stderr, "byokctl: %s\n", err);
    }

    return s;
}


static int
ngx_http_byok_ctl_load_keys(ngx_http_byok_ctl_args_t *args,
    ngx_http_byok_ctl_keys_t *keys)
{
    size_t  i, k;

    memset(keys, 0, sizeof(ngx_http_byok_ctl_keys_t));

    if (ngx_http_byok_ctl_load_master(args->master, "--master-key",
                                      &keys->masters[0])
        != 0)
    {
        return -1;
    }

    keys->nmasters = 1;

    for (i = 0; i < args->nprevious; i++) {
        if (ngx_http_byok_ctl_load_master(args->previous[i], "--previous",
                                          &keys->masters[keys->nmasters])
            != 0)
        {
            goto failed;
        }

        for (k = 0; k < keys->nmasters; k++) {
            if (keys->masters[k].id == keys->masters[keys->nmasters].id) {
                fprintf(stderr, "byokctl: --previous %s is the same key as "
                        "another given master key\n", args->previous[i]);
                goto failed;
            }
        }

        keys->nmasters++;
    }

    return 0;

failed:

    ngx_http_byok_wipe(keys, sizeof(ngx_http_byok_ctl_keys_t));

    return -1;
}


static int
ngx_http_byok_ctl_load_master(const char *source, const char *option,
    ngx_http_byok_master_t *m)
{
    int             rc;
    size_t          len;
    const char     *reason;
    unsigned char   raw[NGX_HTTP_BYOK_MASTER_KEY_LEN];
    unsigned char   text[NGX_HTTP_BYOK_CTL_SECRET_MAX];

    if (ngx_http_byok_ctl_read_secret(source, option, text, sizeof(text),
                                      &len)
        != 0)
    {
        return -1;
    }

    rc = ngx_http_byok_master_decode(text, len, raw, &reason);

    ngx_http_byok_wipe(text, sizeof(text));

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        fprintf(stderr, "byokctl: %s %s: %s\n", option, source, reason);
        return -1;
    }

    rc = ngx_http_byok_master_derive(raw, m);

    ngx_http_byok_wipe(raw, sizeof(raw));

    if (rc != NGX_HTTP_BYOK_SEAL_OK) {
        fprintf(stderr, "byokctl: %s %s: key derivation failed\n", option,
                source);
        return -1;
    }

    return 0;
}


/* "env:NAME" or "file:PATH", as byok_master_key reads them */

static int
ngx_http_byok_ctl_read_secret(const char *source, const char *option,
    unsigned char *buf, size_t size, size_t *len)
{
    int          fd;
    size_t       n;
    ssize_t      got;
    const char  *v;

    *len = 0;

    if (strncmp(source, "env:", 4) == 0 && source[4] != '\0') {
        v = getenv(source + 4);

        if (v == NULL || *v == '\0') {
            fprintf(stderr, "byokctl: %s %s: the variable is not set\n",
                    option, source);
            return -1;
        }

        n = strlen(v);

        if (n >= size) {
            fprintf(stderr, "byokctl: %s %s: too long\n", option, source);
            return -1;
        }

        memcpy(buf, v, n);
        *len = n;

        return 0;
    }

    if (strncmp(source, "file:", 5) != 0 || source[5] == '\0') {
        fprintf(stderr, "byokctl: %s \"%s\": must be env:NAME or "
                "file:PATH\n", option, source);
        return -1;
    }

    fd = open(source + 5, O_RDONLY);
    if (fd == -1) {
        fprintf(stderr, "byokctl: %s %s: %s\n", option, source,
                strerror(errno));
        return -1;
    }

    n = 0;

    for ( ;; ) {
        got = read(fd, buf + n, size - n);

        if (got > 0) {
            n += got;

            if (n < size) {
                continue;
            }

            ngx_http_byok_wipe(buf, size);
            (void) close(fd);
            fprintf(stderr, "byokctl: %s %s: too long\n", option, source);
            return -1;
        }

        if (got == -1 && errno == EINTR) {
            continue;
        }

        break;
    }

    if (got == -1) {
        ngx_http_byok_wipe(buf, size);
        fprintf(stderr, "byokctl: %s %s: %s\n", option, source,
                strerror(errno));
        (void) close(fd);
        return -1;
    }

    (void) close(fd);

    *len = n;

    return 0;
}


/*
 * Compares each key with the check value stored for its id; like nginx at
 * start, a key id the store has not seen gets its check value recorded.
 */

static int
ngx_http_byok_ctl_check_keys(ngx_http_byok_store_t *s,
    ngx_http_byok_ctl_keys_t *keys, int verbose)
{
    int     rc, failed;
    size_t  k;

    failed = 0;

    for (k = 0; k < keys->nmasters; k++) {
        rc = ngx_http_byok_store_master_check(s, keys->masters[k].id,
                                              keys->masters[k].check,
                                              NGX_HTTP_BYOK_SEAL_CHECK_LEN, 1);
        if (rc < 0) {
            fprintf(stderr, "byokctl: %s\n", ngx_http_byok_store_error(s));
            return -1;
        }

        if (rc == 1) {
            fprintf(stderr, "byokctl: %s: key %08x does not match the "
                    "check value stored for it\n",
                    k ? "--previous" : "--master-key", keys->masters[k].id);
            failed = 1;
            continue;
        }

        if (verbose) {
            printf("master key %08x (%s): check value ok\n",
                   keys->masters[k].id, k ? "previous" : "current");
        }
    }

    return failed ? -1 : 0;
}


static const char *
ngx_http_byok_ctl_open_error(int rc)
{
    switch (rc) {

    case NGX_HTTP_BYOK_SEAL_MALFORMED:
        return "malformed sealed value";

    case NGX_HTTP_BYOK_SEAL_NO_KEY:
        return "no given master key has its id";

    case NGX_HTTP_BYOK_SEAL_DENIED:
        return "authentication failed (altered, or bound to another row)";

    default:
        return "decryption error";
    }
}


/* user ids come from tokens: control characters are shown escaped */

static void
ngx_http_byok_ctl_print_str(FILE *f, const char *s)
{
    const unsigned char  *p;

    if (s == NULL) {
        fputs("(null)", f);
        return;
    }

    fputc('"', f);

    for (p = (const unsigned char *) s; *p; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
            fprintf(f, "\\x%02x", *p);

        } else {
            fputc(*p, f);
        }
    }

    fputc('"', f);
}


static int
ngx_http_byok_ctl_parse(int argc, char *const *argv,
    const ngx_http_byok_ctl_command_t *cmd, ngx_http_byok_ctl_args_t *args)
{
    int          i;
    char        *end;
    unsigned     opt;
    long long    n;
    const char  *name, *value, *eq;

    for (i = 0; i < argc; i++) {
        name = argv[i];
        eq = strchr(name, '=');

        if (strncmp(name, "--", 2) != 0) {
            fprintf(stderr, "byokctl: %s: unexpected argument \"%s\"\n",
                    cmd->name, name);
            return -1;
        }

#define ngx_http_byok_ctl_is(s)                                              \
    (eq ? (size_t) (eq - name) == sizeof(s) - 1                              \
          && strncmp(name, s, sizeof(s) - 1) == 0                            \
        : strcmp(name, s) == 0)

        if (ngx_http_byok_ctl_is("--store")) {
            opt = NGX_HTTP_BYOK_CTL_STORE;

        } else if (ngx_http_byok_ctl_is("--master-key")) {
            opt = NGX_HTTP_BYOK_CTL_MASTER;

        } else if (ngx_http_byok_ctl_is("--previous")) {
            opt = NGX_HTTP_BYOK_CTL_PREVIOUS;

        } else if (ngx_http_byok_ctl_is("--batch")) {
            opt = NGX_HTTP_BYOK_CTL_BATCH_OPT;

        } else if (ngx_http_byok_ctl_is("--to")) {
            opt = NGX_HTTP_BYOK_CTL_TO;

        } else {
            opt = 0;
        }

#undef ngx_http_byok_ctl_is

        if (!(opt & cmd->allowed)) {
            fprintf(stderr, "byokctl: %s: unknown option \"%s\"\n",
                    cmd->name, name);
            return -1;
        }

        if (eq != NULL) {
            value = eq + 1;

        } else if (i + 1 < argc) {
            value = argv[++i];

        } else {
            fprintf(stderr, "byokctl: %s: \"%s\" needs a value\n",
                    cmd->name, name);
            return -1;
        }

        if (*value == '\0') {
            fprintf(stderr, "byokctl: %s: empty value of \"%s\"\n",
                    cmd->name, name);
            return -1;
        }

        if ((args->given & opt) && opt != NGX_HTTP_BYOK_CTL_PREVIOUS) {
            fprintf(stderr, "byokctl: %s: \"%s\" given twice\n", cmd->name,
                    name);
            return -1;
        }

        args->given |= opt;

        switch (opt) {

        case NGX_HTTP_BYOK_CTL_STORE:
            args->store = value;
            break;

        case NGX_HTTP_BYOK_CTL_MASTER:
            args->master = value;
            break;

        case NGX_HTTP_BYOK_CTL_PREVIOUS:
            if (args->nprevious == NGX_HTTP_BYOK_CTL_MASTER_MAX - 1) {
                fprintf(stderr, "byokctl: %s: too many master keys (at most "
                        "%d)\n", cmd->name, NGX_HTTP_BYOK_CTL_MASTER_MAX);
                return -1;
            }

            args->previous[args->nprevious++] = value;
            break;

        case NGX_HTTP_BYOK_CTL_BATCH_OPT:
            errno = 0;
            n = strtoll(value, &end, 10);

            if (errno != 0 || *end != '\0' || n < 1
                || n > NGX_HTTP_BYOK_CTL_BATCH_MAX)
            {
                fprintf(stderr, "byokctl: %s: --batch must be 1-%d\n",
                        cmd->name, NGX_HTTP_BYOK_CTL_BATCH_MAX);
                return -1;
            }

            args->batch = (size_t) n;
            break;

        default: /* NGX_HTTP_BYOK_CTL_TO */
            args->to = value;
            break;
        }
    }

    if ((args->given & cmd->required) != cmd->required) {
        fprintf(stderr, "byokctl: %s: missing %s\n", cmd->name,
                !(args->given & NGX_HTTP_BYOK_CTL_STORE) ? "--store PATH"
                : !(args->given & NGX_HTTP_BYOK_CTL_MASTER)
                  ? "--master-key env:NAME|file:PATH"
                : "--to FILE");
        return -1;
    }

    return 0;
}


static int
ngx_http_byok_ctl_usage(FILE *f)
{
    fputs(
"usage: byokctl COMMAND --store PATH [OPTIONS]\n"
"\n"
"  init    --store PATH [--master-key SRC]\n"
"          create the store or bring its schema up to date; with a key,\n"
"          record (or compare) its check value\n"
"  verify  --store PATH --master-key SRC [--previous SRC]...\n"
"          integrity_check, check values, and that every sealed value\n"
"          opens; exit status 1 on any problem\n"
"  rewrap  --store PATH --master-key SRC [--previous SRC]... [--batch N]\n"
"          re-seal every value not under --master-key (resumable)\n"
"  backup  --store PATH --to FILE\n"
"          consistent copy of a live store (VACUUM INTO)\n"
"  stats   --store PATH\n"
"          keys by provider and status, store size, audit rows (JSON)\n"
"\n"
"SRC is env:NAME or file:PATH holding 32 bytes as 64 hex characters or\n"
"base64, as for byok_master_key.  Exit status: 0 ok, 1 failed, 2 usage.\n",
          f);

    return NGX_HTTP_BYOK_CTL_USAGE;
}
