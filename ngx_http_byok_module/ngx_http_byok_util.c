
/*
 * Helpers shared by the handlers: secret sources, JSON replies, times.
 */


#include "ngx_http_byok.h"

#include <malloc.h>
#include <sys/mman.h>


typedef struct {
    u_char    *data;
    size_t     len;
    u_char     skip[256];
} ngx_http_byok_search_t;


/* the needle's last places that set moves: a move is at most one more */
#define NGX_HTTP_BYOK_SKIP_WINDOW  32


static u_char *ngx_http_byok_json_dump(ngx_pool_t *pool, json_t *body,
    size_t *len);


ngx_int_t
ngx_http_byok_read_file(ngx_conf_t *cf, ngx_str_t *path, ngx_str_t *text)
{
    ssize_t          n;
    ngx_fd_t         fd;
    ngx_file_t       file;
    ngx_file_info_t  fi;

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.fd = fd;
    file.name = *path;
    file.log = cf->log;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    text->len = (size_t) ngx_file_size(&fi);
    text->data = ngx_pnalloc(cf->pool, text->len + 1);
    if (text->data == NULL) {
        ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = ngx_read_file(&file, text->data, text->len, 0);

    ngx_close_file(fd);

    if (n != (ssize_t) text->len) {
        ngx_http_byok_wipe_str(text);
        return NGX_ERROR;
    }

    text->data[text->len] = '\0';

    return NGX_OK;
}


/*
 * Reads "env:NAME" or "file:PATH" (relative to the configuration prefix).
 * The environment is the master's: key material is read at configuration
 * time, so no "env" directive is needed and workers never see it.
 */

ngx_int_t
ngx_http_byok_read_secret(ngx_conf_t *cf, ngx_str_t *source,
    ngx_str_t *value)
{
    char                       *v;
    ngx_str_t                   name, *env;
    ngx_http_byok_main_conf_t  *bmcf;

    if (ngx_strncmp(source->data, "env:", 4) == 0) {
        name.len = source->len - 4;
        name.data = source->data + 4;

        if (name.len == 0) {
            return NGX_ERROR;
        }

        v = getenv(ngx_http_byok_cstr(cf->temp_pool, &name));
        if (v == NULL || *v == '\0') {
            return NGX_ERROR;
        }

        /* workers wipe their inherited copy of it (init_process) */

        bmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_byok_module);

        if (bmcf->env_secrets == NULL) {
            bmcf->env_secrets = ngx_array_create(cf->pool, 4,
                                                 sizeof(ngx_str_t));
            if (bmcf->env_secrets == NULL) {
                return NGX_ERROR;
            }
        }

        env = ngx_array_push(bmcf->env_secrets);
        if (env == NULL) {
            return NGX_ERROR;
        }

        env->data = (u_char *) v;
        env->len = ngx_strlen(v);

        value->len = ngx_strlen(v);
        value->data = ngx_pnalloc(cf->pool, value->len + 1);
        if (value->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(value->data, v, value->len + 1);

        return NGX_OK;
    }

    if (ngx_strncmp(source->data, "file:", 5) == 0) {
        name.len = source->len - 5;
        name.data = source->data + 5;

        if (name.len == 0
            || ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK)
        {
            return NGX_ERROR;
        }

        name.data = (u_char *) ngx_http_byok_cstr(cf->temp_pool, &name);
        if (name.data == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_byok_read_file(cf, &name, value);
    }

    return NGX_ERROR;
}


/*
 * The worker's writer connection, for the thread tasks; opened again here
 * when it could not be opened at start.  NULL (logged) when it cannot.
 */

ngx_http_byok_store_t *
ngx_http_byok_writer(ngx_http_byok_main_conf_t *bmcf, ngx_log_t *log)
{
    char  err[256];

    if (bmcf->writer == NULL) {
        bmcf->writer = ngx_http_byok_store_open((char *) bmcf->store_path.data,
                                                err, sizeof(err));
        if (bmcf->writer == NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0, "byok_store: %s", err);
        }
    }

    return bmcf->writer;
}


void
ngx_http_byok_wipe_str(ngx_str_t *s)
{
    if (s->data != NULL && s->len) {
        ngx_explicit_memzero(s->data, s->len);
    }

    s->len = 0;
}


char *
ngx_http_byok_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return (char *) p;
}


static const char  *ngx_http_byok_state_names[] = {
    "active", "invalid", "exhausted", "cooldown"
};


ngx_uint_t
ngx_http_byok_key_state(const char *name)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(ngx_http_byok_state_names) / sizeof(char *); i++) {
        if (ngx_strcmp(name, ngx_http_byok_state_names[i]) == 0) {
            return i;
        }
    }

    return NGX_HTTP_BYOK_KEY_ACTIVE;
}


const char *
ngx_http_byok_key_state_name(ngx_uint_t state)
{
    if (state >= sizeof(ngx_http_byok_state_names) / sizeof(char *)) {
        return "active";
    }

    return ngx_http_byok_state_names[state];
}


u_char *
ngx_http_byok_time_iso(u_char *buf, int64_t t)
{
    ngx_tm_t  tm;

    ngx_gmtime((time_t) t, &tm);

    return ngx_sprintf(buf, "%4d-%02d-%02dT%02d:%02d:%02dZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec);
}


ngx_int_t
ngx_http_byok_send_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    u_char  *p;
    size_t   len;

    p = ngx_http_byok_json_dump(r->pool, body, &len);

    json_decref(body);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_byok_send_raw(r, status, p, len);
}


ngx_int_t
ngx_http_byok_send_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message, const char *field)
{
    json_t  *body;

    body = json_pack("{s:s, s:s}", "error", code, "message", message);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (field != NULL
        && json_object_set_new(body, "field", json_string(field)) != 0)
    {
        json_decref(body);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_byok_send_json(r, status, body);
}


ngx_int_t
ngx_http_byok_send_raw(ngx_http_request_t *r, ngx_uint_t status,
    u_char *body, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    /*
     * a body nobody reads would be taken for the next request on the
     * connection: a refused create would run its JSON as a request line
     * and log the key in it; like nginx's own error pages, an error does
     * not invite the body with "100 Continue"
     */

    if (status >= NGX_HTTP_BAD_REQUEST) {
        r->expect_tested = 1;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (r->method == NGX_HTTP_HEAD || len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static u_char *
ngx_http_byok_json_dump(ngx_pool_t *pool, json_t *body, size_t *len)
{
    u_char  *p;
    size_t   n;

    n = json_dumpb(body, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (n == 0) {
        return NULL;
    }

    p = ngx_pnalloc(pool, n + 1);
    if (p == NULL) {
        return NULL;
    }

    (void) json_dumpb(body, (char *) p, n, JSON_COMPACT | JSON_PRESERVE_ORDER);
    p[n] = '\n';
    *len = n + 1;

    return p;
}


char *
ngx_http_byok_hex_id(ngx_http_request_t *r, uint32_t id)
{
    u_char  *p;

    p = ngx_pnalloc(r->pool, sizeof("01234567"));
    if (p == NULL) {
        return "";
    }

    ngx_sprintf(p, "%08xD%Z", id);

    return (char *) p;
}


static void
ngx_http_byok_free_secret(void *data)
{
    ngx_http_byok_wipe(data, ngx_pagesize);
    ngx_free(data);
}


/*
 * A page for long-lived key material (derived master keys): wiped when the
 * configuration goes, and left out of core dumps.
 */

void *
ngx_http_byok_alloc_secret(ngx_conf_t *cf, size_t size)
{
    void                *p;
    ngx_pool_cleanup_t  *cln;

    if (size > ngx_pagesize) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    p = ngx_memalign(ngx_pagesize, ngx_pagesize, cf->log);
    if (p == NULL) {
        return NULL;
    }

    ngx_memzero(p, ngx_pagesize);

#if defined(MADV_DONTDUMP)
    (void) madvise(p, ngx_pagesize, MADV_DONTDUMP);
#endif

    cln->handler = ngx_http_byok_free_secret;
    cln->data = p;

    return p;
}


/*
 * Every copy of the key in [p, last) is wiped.  Boyer-Moore-Horspool with
 * one skip table per request: memmem() built its tables again for every
 * range and after every copy found, which cost more than the search.
 */

static void
ngx_http_byok_wipe_range(u_char *p, u_char *last,
    ngx_http_byok_search_t *key)
{
    u_char  c;
    size_t  m;

    m = key->len - 1;

    while (last - p >= (ssize_t) key->len) {
        c = p[m];

        if (c == key->data[m] && ngx_memcmp(p, key->data, m) == 0) {
            ngx_explicit_memzero(p, key->len);
            p += key->len;
            continue;
        }

        p += key->skip[c];
    }
}


/*
 * The key leaves the module (byok_lookup's answer, $byok_key): nginx will
 * copy it into buffers we do not own — the response header, auth_request_set
 * values, the proxied request — all allocated from the request pool after
 * this point.  The marks let the cleanup search only that part of the pool:
 * small allocations go to the free end of a block from pool->current on,
 * or to new blocks added at the end of the chain; large ones are added at
 * the head of pool->large.
 */

void
ngx_http_byok_expose(ngx_http_byok_ctx_t *ctx)
{
    ngx_pool_t  *p;

    if (ctx->exposed) {
        return;
    }

    ctx->exposed = 1;
    ctx->mark_block = ctx->pool->current;
    ctx->mark_n = 0;

    for (p = ctx->pool->current;
         p != NULL && ctx->mark_n < NGX_HTTP_BYOK_MARKS;
         p = p->d.next)
    {
        ctx->mark_last[ctx->mark_n++] = p->d.last;
    }

    ctx->mark_large = ctx->pool->large;
}


/*
 * Called from a cleanup of the request pool (by then r->pool is NULL): every
 * copy of the key allocated since ngx_http_byok_expose() is wiped.
 */

void
ngx_http_byok_wipe_copies(ngx_http_byok_ctx_t *ctx)
{
    u_char                  needle[NGX_HTTP_BYOK_VALUE_MAX];
    size_t                  i;
    ngx_uint_t              n;
    ngx_pool_t             *p;
    ngx_pool_large_t       *l;
    ngx_http_byok_search_t  k;

    if (!ctx->exposed || ctx->selected.value.len < 8
        || ctx->selected.value.len > sizeof(needle))
    {
        return;
    }

    /* the needle itself may lie in the searched range */

    ngx_memcpy(needle, ctx->selected.value.data, ctx->selected.value.len);
    k.data = needle;
    k.len = ctx->selected.value.len;

    /*
     * How far a window may move when its last byte is c: the distance from
     * c's last place in the needle (but the last byte) to the needle's end.
     * Only the needle's last places are looked at, so no move is longer
     * than the window plus one: the table is cheap to build, and the
     * ranges searched are a few hundred bytes.
     */

    ngx_memset(k.skip, (u_char) ngx_min(k.len, NGX_HTTP_BYOK_SKIP_WINDOW + 1),
               sizeof(k.skip));

    for (i = k.len > NGX_HTTP_BYOK_SKIP_WINDOW + 1
             ? k.len - NGX_HTTP_BYOK_SKIP_WINDOW - 1 : 0;
         i < k.len - 1;
         i++)
    {
        k.skip[needle[i]] = (u_char) (k.len - 1 - i);
    }

    /* the marked blocks from their marks, the blocks added since whole */

    n = 0;

    for (p = ctx->mark_block; p != NULL; p = p->d.next) {
        ngx_http_byok_wipe_range(n < ctx->mark_n
                                 ? ctx->mark_last[n]
                                 : (u_char *) p + sizeof(ngx_pool_data_t),
                                 p->d.last, &k);
        n++;
    }

    for (l = ctx->pool->large; l != NULL && l != ctx->mark_large;
         l = l->next)
    {
        if (l->alloc != NULL) {
            ngx_http_byok_wipe_range(l->alloc,
                                     (u_char *) l->alloc
                                     + malloc_usable_size(l->alloc), &k);
        }
    }

    ngx_explicit_memzero(needle, k.len);
    ngx_explicit_memzero(k.skip, sizeof(k.skip));
}


ngx_int_t
ngx_http_byok_method_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t  *h;

    ngx_http_discard_request_body(r);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_http_byok_send_error(r, NGX_HTTP_NOT_ALLOWED,
                                    "method_not_allowed",
                                    "This method is not allowed here.",
                                    NULL);
}


/*
 * Opens a stored value with its binding to user, key id and provider into
 * request memory: NGX_OK, NGX_DECLINED when it does not open (altered or
 * copied from another row), NGX_ERROR.
 */

ngx_int_t
ngx_http_byok_unseal(ngx_http_byok_main_conf_t *bmcf, ngx_pool_t *pool,
    ngx_str_t *user, ngx_str_t *provider,
    const ngx_http_byok_sealed_t *sealed, ngx_str_t *value)
{
    size_t               len;
    ngx_http_byok_aad_t  aad;

    ngx_str_null(value);

    if (sealed->blob_len <= NGX_HTTP_BYOK_SEAL_OVERHEAD) {
        return NGX_DECLINED;
    }

    value->data = ngx_pnalloc(pool,
                              sealed->blob_len - NGX_HTTP_BYOK_SEAL_OVERHEAD);
    if (value->data == NULL) {
        return NGX_ERROR;
    }

    aad.user = user->data;
    aad.user_len = user->len;
    aad.key_id = sealed->id;
    aad.provider = provider->data;
    aad.provider_len = provider->len;

    if (ngx_http_byok_open(bmcf->masters, bmcf->nmasters, &aad, sealed->blob,
                           sealed->blob_len, value->data, &len)
        != NGX_HTTP_BYOK_SEAL_OK)
    {
        value->data = NULL;
        return NGX_DECLINED;
    }

    value->len = len;

    return NGX_OK;
}
