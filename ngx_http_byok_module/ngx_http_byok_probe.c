
/*
 * Key tests (POST .../{id}/test): the catalog's test request is sent with
 * libcurl in a thread pool task, and its result is recorded there too, on
 * the worker's writer connection, so the event loop never waits for a
 * provider nor for the store's write lock.  The task touches only its own
 * data; the request is kept alive the way the copy filter does it
 * (r->main->blocked, r->aio).
 */


#include "ngx_http_byok.h"

#include <curl/curl.h>


#if !(NGX_THREADS)
#error ngx_http_byok_module needs nginx built --with-threads
#endif


typedef struct {
    /* input, prepared on the event loop */
    char                        *url;
    char                        *method;
    char                        *auth;        /* "Header: prefix+key" */
    char                       **headers;     /* NULL-terminated */
    ngx_msec_t                   timeout;
    ngx_uint_t                   insecure;

    /* the recording, prepared on the event loop */
    ngx_http_byok_store_t       *store;       /* the writer connection */
    ngx_http_byok_audit_t        audit;

    /* output, written by the thread */
    long                         status;      /* 0: no HTTP answer */
    ngx_msec_t                   latency;
    CURLcode                     code;
    char                         error[CURL_ERROR_SIZE];
    const char                  *result;
    int                          rc;          /* NGX_HTTP_BYOK_STORE_* */
    char                         store_error[256];

    /* request side, never touched by the thread */
    ngx_http_request_t          *request;
    ngx_http_byok_ctx_t         *ctx;
    const ngx_http_byok_provider_t  *provider;
    int64_t                      id;
    size_t                       auth_len;
    unsigned                     unusable:1;  /* not a header value */
} ngx_http_byok_probe_t;


typedef struct {
    ngx_http_byok_main_conf_t   *bmcf;
    ngx_str_t                   *user;
    ngx_str_t                    provider;
    ngx_str_t                    value;
    ngx_pool_t                  *pool;
} ngx_http_byok_open_ctx_t;


static int ngx_http_byok_probe_open(void *data,
    const ngx_http_byok_sealed_t *sealed);
static ngx_int_t ngx_http_byok_probe_post(ngx_http_request_t *r,
    ngx_thread_task_t *task);
static void ngx_http_byok_probe_thread(void *data, ngx_log_t *log);
static void ngx_http_byok_probe_send(ngx_http_byok_probe_t *pr);
static void ngx_http_byok_probe_done(ngx_event_t *ev);
static ngx_int_t ngx_http_byok_probe_finish(ngx_http_request_t *r,
    ngx_http_byok_probe_t *pr);
static void ngx_http_byok_probe_cleanup(void *data);
static size_t ngx_http_byok_probe_discard(char *ptr, size_t size,
    size_t nmemb, void *userdata);
static curl_socket_t ngx_http_byok_probe_socket(void *clientp,
    curlsocktype purpose, struct curl_sockaddr *address);
static ngx_uint_t ngx_http_byok_addr_is_private(struct sockaddr *sa);


ngx_int_t
ngx_http_byok_probe_handler(ngx_http_request_t *r, ngx_http_byok_ctx_t *ctx,
    int64_t id)
{
    u_char                          *p;
    time_t                           retry;
    ngx_int_t                        rc;
    ngx_uint_t                       i;
    ngx_table_elt_t                 *h;
    ngx_thread_task_t               *task;
    ngx_pool_cleanup_t              *cln;
    ngx_http_byok_key_t              key;
    ngx_http_byok_probe_t           *pr;
    ngx_http_byok_store_t           *store;
    ngx_http_byok_loc_conf_t        *blcf;
    ngx_http_byok_open_ctx_t         octx;
    ngx_http_byok_main_conf_t       *bmcf;
    const ngx_http_byok_provider_t  *provider;

    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);
    blcf = ngx_http_get_module_loc_conf(r, ngx_http_byok_module);

    store = bmcf->store;

    if (store == NULL) {
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable. "
                                        "Try again later.", NULL);
    }

    rc = ngx_http_byok_store_get(store, (char *) ctx->user.data, id, &key);

    if (rc == NGX_HTTP_BYOK_STORE_OK && key.revoked_at != 0) {
        rc = NGX_HTTP_BYOK_STORE_NOT_FOUND;
    }

    if (rc == NGX_HTTP_BYOK_STORE_NOT_FOUND) {
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "No such key.", NULL);
    }

    if (rc != NGX_HTTP_BYOK_STORE_OK) {
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable. "
                                        "Try again later.", NULL);
    }

    if (ngx_http_byok_rate_limit(r, &ctx->user, bmcf->test_rate,
                                 bmcf->test_burst, &retry)
        == NGX_BUSY)
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");
        h->value.data = p;
        h->value.len = ngx_sprintf(p, "%T", retry) - p;

        return ngx_http_byok_send_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                        "rate_limited",
                                        "Too many key tests; try again "
                                        "later.", NULL);
    }

    provider = ngx_http_byok_catalog_provider(bmcf->catalog, key.provider,
                                              ngx_strlen(key.provider));

    task = ngx_thread_task_alloc(r->pool, sizeof(ngx_http_byok_probe_t));
    if (task == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pr = task->ctx;
    pr->request = r;
    pr->ctx = ctx;
    pr->provider = provider;
    pr->id = id;

    if (provider == NULL || provider->test_url == NULL) {
        /* a provider without a cheap authenticated request: "skipped" */
        return ngx_http_byok_probe_post(r, task);
    }

    pr->url = provider->test_url;
    pr->method = provider->test_method;
    pr->timeout = blcf->test_timeout;
    pr->insecure = bmcf->allow_insecure_test_urls;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_byok_probe_cleanup;
    cln->data = pr;

    octx.bmcf = bmcf;
    octx.user = &ctx->user;
    octx.provider.data = (u_char *) provider->id;
    octx.provider.len = ngx_strlen(provider->id);
    octx.pool = r->pool;
    ngx_str_null(&octx.value);

    rc = ngx_http_byok_store_sealed(store, (char *) ctx->user.data, NULL, id,
                                    ngx_http_byok_probe_open, &octx);

    if (rc != NGX_HTTP_BYOK_STORE_OK || octx.value.data == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok: key %L of user \"%V\" cannot be opened: %s",
                      id, &ctx->user, ngx_http_byok_store_error(store));
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key could not be read. "
                                        "Try again later.", NULL);
    }

    /*
     * the API stores header-safe values of at most NGX_HTTP_BYOK_VALUE_MAX
     * bytes only; one written into the store some other way would smuggle
     * headers into the test request: it is not sent, and it is "invalid",
     * as it can never be used
     */

    if (octx.value.len > NGX_HTTP_BYOK_VALUE_MAX
        || !ngx_http_byok_header_value_valid(octx.value.data, octx.value.len))
    {
        ngx_http_byok_wipe_str(&octx.value);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "byok: key %L is not a valid header value and is not "
                      "tested", id);

        pr->url = NULL;
        pr->unusable = 1;

        return ngx_http_byok_probe_post(r, task);
    }

    pr->auth_len = ngx_strlen(provider->auth_header) + 2
                   + ngx_strlen(provider->auth_prefix) + octx.value.len + 1;

    pr->auth = ngx_pnalloc(r->pool, pr->auth_len);
    if (pr->auth == NULL) {
        ngx_http_byok_wipe_str(&octx.value);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_sprintf((u_char *) pr->auth, "%s: %s%V%Z", provider->auth_header,
                provider->auth_prefix, &octx.value);

    ngx_http_byok_wipe_str(&octx.value);

    pr->headers = ngx_pcalloc(r->pool,
                              (provider->nheaders + 1) * sizeof(char *));
    if (pr->headers == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < provider->nheaders; i++) {
        p = ngx_pnalloc(r->pool, ngx_strlen(provider->headers[i].name) + 2
                                 + ngx_strlen(provider->headers[i].value) + 1);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_sprintf(p, "%s: %s%Z", provider->headers[i].name,
                    provider->headers[i].value);

        pr->headers[i] = (char *) p;
    }

    return ngx_http_byok_probe_post(r, task);
}


static ngx_int_t
ngx_http_byok_probe_post(ngx_http_request_t *r, ngx_thread_task_t *task)
{
    ngx_http_byok_probe_t      *pr;
    ngx_http_byok_main_conf_t  *bmcf;

    pr = task->ctx;
    bmcf = ngx_http_get_module_main_conf(r, ngx_http_byok_module);

    pr->store = ngx_http_byok_writer(bmcf, r->connection->log);

    if (pr->store == NULL) {
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable. "
                                        "Try again later.", NULL);
    }

    pr->audit.actor = (char *) pr->ctx->user.data;
    pr->audit.actor_kind = "user";
    pr->audit.action = "key.test";
    pr->audit.user = (char *) pr->ctx->user.data;
    pr->audit.key_id = pr->id;
    pr->audit.provider = pr->provider ? pr->provider->id : NULL;
    pr->audit.remote_addr = ngx_http_byok_cstr(r->pool,
                                               &r->connection->addr_text);

    task->handler = ngx_http_byok_probe_thread;
    task->event.handler = ngx_http_byok_probe_done;
    task->event.data = r;

    if (bmcf->thread_pool == NULL
        || ngx_thread_task_post(bmcf->thread_pool, task) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->blocked++;
    r->aio = 1;
    r->main->count++;

    return NGX_DONE;
}


static int
ngx_http_byok_probe_open(void *data, const ngx_http_byok_sealed_t *sealed)
{
    ngx_http_byok_open_ctx_t *octx = data;

    return ngx_http_byok_unseal(octx->bmcf, octx->pool, octx->user,
                                &octx->provider, sealed, &octx->value)
           == NGX_OK ? 0 : -1;
}


/* in a thread: the test request, then its result and audit row */

static void
ngx_http_byok_probe_thread(void *data, ngx_log_t *log)
{
    ngx_http_byok_probe_t *pr = data;

    long  status;

    status = -1;

    if (pr->url == NULL) {
        pr->result = pr->unusable ? "invalid" : "skipped";

    } else {
        ngx_http_byok_probe_send(pr);

        if (pr->code != CURLE_OK) {
            pr->result = "error";

        } else {
            status = pr->status;

            pr->result = (status >= 200 && status < 300) ? "valid"
                         : (status == 401 || status == 403) ? "invalid"
                         : "error";
        }
    }

    pr->audit.outcome = pr->result;

    (void) pthread_mutex_lock(&ngx_http_byok_writer_lock);

    pr->rc = ngx_http_byok_store_record_test(pr->store,
                                             (char *) pr->ctx->user.data,
                                             pr->id, pr->result, (int) status,
                                             (int64_t) time(NULL),
                                             &pr->audit);

    if (pr->rc == NGX_HTTP_BYOK_STORE_ERROR) {
        ngx_cpystrn((u_char *) pr->store_error,
                    (u_char *) ngx_http_byok_store_error(pr->store),
                    sizeof(pr->store_error));
    }

    (void) pthread_mutex_unlock(&ngx_http_byok_writer_lock);
}


static void
ngx_http_byok_probe_send(ngx_http_byok_probe_t *pr)
{
    CURL               *curl;
    ngx_uint_t          i;
    struct timeval      start, end;
    struct curl_slist  *list, *l;

    list = NULL;

    curl = curl_easy_init();
    if (curl == NULL) {
        pr->code = CURLE_FAILED_INIT;
        return;
    }

    l = curl_slist_append(list, pr->auth);

    for (i = 0; l != NULL && pr->headers[i] != NULL; i++) {
        list = l;
        l = curl_slist_append(list, pr->headers[i]);
    }

    if (l != NULL && ngx_strcmp(pr->method, "POST") == 0) {
        /* no form content type for an empty body */
        list = l;
        l = curl_slist_append(list, "Content-Type:");
    }

    if (l == NULL) {
        pr->code = CURLE_OUT_OF_MEMORY;
        goto done;
    }

    list = l;

    curl_easy_setopt(curl, CURLOPT_URL, pr->url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) pr->timeout);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, (long) pr->timeout);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                     ngx_http_byok_probe_discard);
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, pr->error);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "ngx_http_byok_module");
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR,
                     pr->insecure ? "http,https" : "https");

    if (!pr->insecure) {
        /* the catalog names public hosts; DNS must not point us inward */
        curl_easy_setopt(curl, CURLOPT_OPENSOCKETFUNCTION,
                         ngx_http_byok_probe_socket);
    }

    if (ngx_strcmp(pr->method, "HEAD") == 0) {
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

    } else if (ngx_strcmp(pr->method, "POST") == 0) {
        /* an empty body with "Content-Length: 0", as front ends expect */
        curl_easy_setopt(curl, CURLOPT_POST, 1L);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, 0L);

    } else if (ngx_strcmp(pr->method, "GET") != 0) {
        curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, pr->method);
    }

    ngx_gettimeofday(&start);

    pr->code = curl_easy_perform(curl);

    ngx_gettimeofday(&end);

    pr->latency = (end.tv_sec - start.tv_sec) * 1000
                  + (end.tv_usec - start.tv_usec) / 1000;

    if (pr->code == CURLE_OK) {
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &pr->status);
    }

done:

    /* the list holds copies of the key header: wiped before freed */

    for (l = list; l != NULL; l = l->next) {
        ngx_http_byok_wipe(l->data, ngx_strlen(l->data));
    }

    curl_slist_free_all(list);
    curl_easy_cleanup(curl);

    /* libcurl copied the header into its own memory, freed above */

    ngx_http_byok_wipe(pr->auth, pr->auth_len);
}


static void
ngx_http_byok_probe_done(ngx_event_t *ev)
{
    ngx_int_t               rc;
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_thread_task_t      *task;
    ngx_http_byok_probe_t  *pr;

    r = ev->data;
    c = r->connection;

    task = (ngx_thread_task_t *) ((u_char *) ev
                                  - offsetof(ngx_thread_task_t, event));
    pr = task->ctx;

    ngx_http_set_log_request(c->log, r);

    r->main->blocked--;
    r->aio = 0;

    if (pr->url != NULL && pr->code != CURLE_OK) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "byok: key %L test failed: %s", pr->id,
                      pr->error[0] ? pr->error
                                   : curl_easy_strerror(pr->code));
    }

    rc = ngx_http_byok_probe_finish(r, pr);

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_byok_probe_finish(ngx_http_request_t *r, ngx_http_byok_probe_t *pr)
{
    long         status;
    json_t      *body;
    ngx_str_t    provider;
    const char  *result;

    if (pr->rc == NGX_HTTP_BYOK_STORE_NOT_FOUND) {
        /* revoked while the test was running */
        return ngx_http_byok_send_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                        "No such key.", NULL);
    }

    if (pr->rc != NGX_HTTP_BYOK_STORE_OK) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0, "byok_store: %s",
                      pr->store_error);
        return ngx_http_byok_send_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                        "store_unavailable",
                                        "The key store is unavailable. "
                                        "Try again later.", NULL);
    }

    result = pr->result;
    status = (pr->url != NULL && pr->code == CURLE_OK) ? pr->status : -1;

    ngx_atomic_fetch_add(&ngx_http_byok_metrics(r)->tests[
                             result[0] == 'v' ? 0 : result[0] == 'i' ? 1
                             : result[0] == 'e' ? 2 : 3],
                         1);

    if ((ngx_strcmp(result, "valid") == 0
         || ngx_strcmp(result, "invalid") == 0)
        && pr->provider != NULL)
    {
        /* the store changed the key's health: workers must re-read it */
        provider.data = (u_char *) pr->provider->id;
        provider.len = ngx_strlen(pr->provider->id);

        ngx_http_byok_cache_invalidate(r, &pr->ctx->user, &provider);
    }

    body = json_pack("{s:s, s:o, s:I}",
                     "result", result,
                     "status", status >= 0 ? json_integer(status)
                                           : json_null(),
                     "latency_ms", (json_int_t) pr->latency);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_byok_send_json(r, NGX_HTTP_OK, body);
}


static void
ngx_http_byok_probe_cleanup(void *data)
{
    ngx_http_byok_probe_t *pr = data;

    if (pr->auth != NULL) {
        ngx_http_byok_wipe(pr->auth, pr->auth_len);
    }
}


static size_t
ngx_http_byok_probe_discard(char *ptr, size_t size, size_t nmemb,
    void *userdata)
{
    return size * nmemb;
}


static curl_socket_t
ngx_http_byok_probe_socket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *address)
{
    if (ngx_http_byok_addr_is_private(&address->addr)) {
        return CURL_SOCKET_BAD;
    }

    return socket(address->family, address->socktype, address->protocol);
}


/* the catalog's own rules: a host name must not resolve inward either */

static ngx_uint_t
ngx_http_byok_addr_is_private(struct sockaddr *sa)
{
    switch (sa->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        return ngx_http_byok_ipv6_internal(
                   ((struct sockaddr_in6 *) sa)->sin6_addr.s6_addr);
#endif

    case AF_INET:
        return ngx_http_byok_ipv4_internal(
                   (u_char *) &((struct sockaddr_in *) sa)->sin_addr.s_addr);

    default:
        return 1;
    }
}
