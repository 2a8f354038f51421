
/*
 * Provider catalog parsing and validation.  Every rule reports the JSON
 * path of the offending value, so that "nginx -t" can say exactly what is
 * wrong with an operator's catalog.
 */


#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ngx_http_byok_catalog.h"


#define NGX_HTTP_BYOK_CATALOG_PATH_LEN    256
#define NGX_HTTP_BYOK_CATALOG_KEY_LEN     48
#define NGX_HTTP_BYOK_CATALOG_HOST_LEN    253

#define NGX_HTTP_BYOK_REQUIRED            1

#define NGX_HTTP_BYOK_URL_DOCS            0
#define NGX_HTTP_BYOK_URL_TEST            1


typedef int (*ngx_http_byok_catalog_check_pt)(const unsigned char *s,
    size_t len);


typedef struct {
    ngx_http_byok_catalog_t  *catalog;
    char                     *err;
    size_t                    err_len;
    size_t                    path_len;
    int                       insecure;
    char                      path[NGX_HTTP_BYOK_CATALOG_PATH_LEN];
} ngx_http_byok_catalog_ctx_t;


static int ngx_http_byok_catalog_categories(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *root);
static int ngx_http_byok_catalog_category_parse(
    ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    ngx_http_byok_category_t *cat);
static int ngx_http_byok_catalog_provider_parse(
    ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_unique(ngx_http_byok_catalog_ctx_t *ctx,
    ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_auth_methods(
    ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_auth(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_oauth(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_headers(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_test(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p);
static int ngx_http_byok_catalog_url(ngx_http_byok_catalog_ctx_t *ctx,
    const char *url, int kind);
static int ngx_http_byok_catalog_host(ngx_http_byok_catalog_ctx_t *ctx,
    const char *host, size_t len, int *internal);
static int ngx_http_byok_catalog_auth_headers(
    ngx_http_byok_catalog_ctx_t *ctx);
static int ngx_http_byok_catalog_public(ngx_http_byok_catalog_ctx_t *ctx);
static json_t *ngx_http_byok_catalog_public_provider(
    ngx_http_byok_provider_t *p);

static int ngx_http_byok_catalog_fields(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *obj, const char **fields);
static int ngx_http_byok_catalog_object(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, const char **fields);
static int ngx_http_byok_catalog_string(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *obj, const char *key, int required,
    ngx_http_byok_catalog_check_pt check, const char *msg, char **out);
static json_t *ngx_http_byok_catalog_required(
    ngx_http_byok_catalog_ctx_t *ctx, json_t *obj, const char *key);
static size_t ngx_http_byok_catalog_push(ngx_http_byok_catalog_ctx_t *ctx,
    const char *key);
static size_t ngx_http_byok_catalog_push_index(
    ngx_http_byok_catalog_ctx_t *ctx, size_t i);
static void ngx_http_byok_catalog_pop(ngx_http_byok_catalog_ctx_t *ctx,
    size_t len);
static int ngx_http_byok_catalog_error(ngx_http_byok_catalog_ctx_t *ctx,
    const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__ ((format (printf, 2, 3)))
#endif
    ;
static void ngx_http_byok_catalog_sanitize(char *s);

static int ngx_http_byok_category_id_valid(const unsigned char *s,
    size_t len);
static int ngx_http_byok_provider_id_valid(const unsigned char *s,
    size_t len);
static int ngx_http_byok_id_valid(const unsigned char *s, size_t len,
    size_t max);
static int ngx_http_byok_text_valid(const unsigned char *s, size_t len);
static int ngx_http_byok_prefix_valid(const unsigned char *s, size_t len);
static int ngx_http_byok_method_valid(const unsigned char *s, size_t len);
static int ngx_http_byok_header_reserved(const char *name);
static int ngx_http_byok_strcaseeq(const char *a, const char *b);
static char *ngx_http_byok_strndup(const char *s, size_t len);


static const char  *ngx_http_byok_catalog_root_fields[] = {
    "categories", NULL
};

static const char  *ngx_http_byok_category_fields[] = {
    "id", "name", "providers", NULL
};

static const char  *ngx_http_byok_provider_fields[] = {
    "id", "name", "auth_methods", "oauth", "auth", "headers", "test",
    "key_hint", "docs_url", NULL
};

static const char  *ngx_http_byok_auth_fields[] = {
    "header", "prefix", NULL
};

static const char  *ngx_http_byok_oauth_fields[] = {
    "available", "notice", NULL
};

static const char  *ngx_http_byok_test_fields[] = {
    "method", "url", NULL
};

/* hop-by-hop and framing headers belong to the proxy, not to the catalog */
static const char  *ngx_http_byok_reserved_headers[] = {
    "connection", "content-length", "host", "keep-alive",
    "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
    NULL
};


ngx_http_byok_catalog_t *
ngx_http_byok_catalog_parse(const char *text, size_t len,
    int allow_insecure_urls, char *err, size_t err_len)
{
    json_t                       *root;
    json_error_t                  jerr;
    ngx_http_byok_catalog_ctx_t   ctx;

    memset(&ctx, 0, sizeof(ngx_http_byok_catalog_ctx_t));
    ctx.err = err;
    ctx.err_len = err_len;
    ctx.insecure = allow_insecure_urls;

    if (err != NULL && err_len > 0) {
        err[0] = '\0';
    }

    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        if (err != NULL && err_len > 0) {
            if (json_error_code(&jerr) == json_error_out_of_memory
                || jerr.text[0] == '\0')
            {
                snprintf(err, err_len, "out of memory");

            } else if (jerr.line > 0) {
                snprintf(err, err_len, "line %d column %d: %s",
                         jerr.line, jerr.column, jerr.text);

            } else {
                snprintf(err, err_len, "%s", jerr.text);
            }

            ngx_http_byok_catalog_sanitize(err);
        }

        return NULL;
    }

    ctx.catalog = calloc(1, sizeof(ngx_http_byok_catalog_t));
    if (ctx.catalog == NULL) {
        json_decref(root);
        ngx_http_byok_catalog_error(&ctx, "out of memory");
        return NULL;
    }

    if (ngx_http_byok_catalog_categories(&ctx, root) != 0
        || ngx_http_byok_catalog_auth_headers(&ctx) != 0
        || ngx_http_byok_catalog_public(&ctx) != 0)
    {
        json_decref(root);
        ngx_http_byok_catalog_free(ctx.catalog);
        return NULL;
    }

    json_decref(root);

    return ctx.catalog;
}


void
ngx_http_byok_catalog_free(ngx_http_byok_catalog_t *c)
{
    size_t                     i, j, k;
    ngx_http_byok_category_t  *cat;
    ngx_http_byok_provider_t  *p;

    if (c == NULL) {
        return;
    }

    for (i = 0; i < c->ncategories; i++) {
        cat = &c->categories[i];

        for (j = 0; j < cat->nproviders; j++) {
            p = &cat->providers[j];

            for (k = 0; k < p->nheaders; k++) {
                free(p->headers[k].name);
                free(p->headers[k].value);
            }

            free(p->headers);
            free(p->id);
            free(p->name);
            free(p->oauth_notice);
            free(p->auth_header);
            free(p->auth_prefix);
            free(p->test_method);
            free(p->test_url);
            free(p->key_hint);
            free(p->docs_url);
        }

        free(cat->providers);
        free(cat->id);
        free(cat->name);
    }

    for (i = 0; i < c->nauth_headers; i++) {
        free(c->auth_headers[i]);
    }

    free(c->auth_headers);
    free(c->categories);
    free(c->public_json);
    free(c);
}


const ngx_http_byok_provider_t *
ngx_http_byok_catalog_provider(const ngx_http_byok_catalog_t *c,
    const char *id, size_t len)
{
    size_t                     i, j;
    ngx_http_byok_provider_t  *p;

    for (i = 0; i < c->ncategories; i++) {
        for (j = 0; j < c->categories[i].nproviders; j++) {
            p = &c->categories[i].providers[j];

            if (p->id_len == len && memcmp(p->id, id, len) == 0) {
                return p;
            }
        }
    }

    return NULL;
}


const ngx_http_byok_category_t *
ngx_http_byok_catalog_category(const ngx_http_byok_catalog_t *c,
    const char *id, size_t len)
{
    size_t                     i;
    ngx_http_byok_category_t  *cat;

    for (i = 0; i < c->ncategories; i++) {
        cat = &c->categories[i];

        if (strlen(cat->id) == len && memcmp(cat->id, id, len) == 0) {
            return cat;
        }
    }

    return NULL;
}


int
ngx_http_byok_header_value_valid(const unsigned char *s, size_t len)
{
    size_t         i;
    unsigned char  bad;

    /* 1: not allowed in a header value (controls but tab, DEL, non-ASCII) */
    static const unsigned char  not_allowed[256] = {
        1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
        1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    };

    if (len == 0 || s[0] == ' ' || s[0] == '\t'
        || s[len - 1] == ' ' || s[len - 1] == '\t')
    {
        return 0;
    }

    /* no early exit: every stored key is checked when it is read */

    bad = 0;

    for (i = 0; i < len; i++) {
        bad |= not_allowed[s[i]];
    }

    return !bad;
}


int
ngx_http_byok_header_name_valid(const unsigned char *s, size_t len)
{
    size_t         i;
    unsigned char  c;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        c = s[i];

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            continue;
        }

        if (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_byok_catalog_categories(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *root)
{
    size_t                     i, j, old;
    json_t                    *cats, *json;
    ngx_http_byok_catalog_t   *c;
    ngx_http_byok_category_t  *cat;

    c = ctx->catalog;

    if (!json_is_object(root)) {
        return ngx_http_byok_catalog_error(ctx, "must be a JSON object");
    }

    if (ngx_http_byok_catalog_fields(ctx, root,
                                     ngx_http_byok_catalog_root_fields)
        != 0)
    {
        return -1;
    }

    cats = ngx_http_byok_catalog_required(ctx, root, "categories");
    if (cats == NULL) {
        return -1;
    }

    ngx_http_byok_catalog_push(ctx, "categories");

    if (!json_is_array(cats) || json_array_size(cats) == 0) {
        return ngx_http_byok_catalog_error(ctx, "must be a non-empty array");
    }

    c->categories = calloc(json_array_size(cats),
                           sizeof(ngx_http_byok_category_t));
    if (c->categories == NULL) {
        return ngx_http_byok_catalog_error(ctx, "out of memory");
    }

    c->ncategories = json_array_size(cats);

    json_array_foreach(cats, i, json) {
        old = ngx_http_byok_catalog_push_index(ctx, i);
        cat = &c->categories[i];

        if (ngx_http_byok_catalog_category_parse(ctx, json, cat) != 0) {
            return -1;
        }

        for (j = 0; j < i; j++) {
            if (strcmp(c->categories[j].id, cat->id) == 0) {
                ngx_http_byok_catalog_push(ctx, "id");
                return ngx_http_byok_catalog_error(ctx,
                           "duplicate category id \"%s\" "
                           "(also categories[%zu])", cat->id, j);
            }
        }

        ngx_http_byok_catalog_pop(ctx, old);
    }

    return 0;
}


static int
ngx_http_byok_catalog_category_parse(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_category_t *cat)
{
    size_t   i, n, old, old2;
    json_t  *providers, *pj;

    if (ngx_http_byok_catalog_object(ctx, json, ngx_http_byok_category_fields)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "id", NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_category_id_valid,
                                     "must be 1-32 characters of a-z, 0-9 "
                                     "and -", &cat->id)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "name",
                                     NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_text_valid,
                                     "must be a non-empty string without "
                                     "control characters", &cat->name)
        != 0)
    {
        return -1;
    }

    providers = ngx_http_byok_catalog_required(ctx, json, "providers");
    if (providers == NULL) {
        return -1;
    }

    old = ngx_http_byok_catalog_push(ctx, "providers");

    if (!json_is_array(providers)) {
        return ngx_http_byok_catalog_error(ctx, "must be an array");
    }

    n = json_array_size(providers);

    if (n > 0) {
        cat->providers = calloc(n, sizeof(ngx_http_byok_provider_t));
        if (cat->providers == NULL) {
            return ngx_http_byok_catalog_error(ctx, "out of memory");
        }

        cat->nproviders = n;
    }

    json_array_foreach(providers, i, pj) {
        old2 = ngx_http_byok_catalog_push_index(ctx, i);

        cat->providers[i].category = cat;

        if (ngx_http_byok_catalog_provider_parse(ctx, pj, &cat->providers[i])
            != 0)
        {
            return -1;
        }

        ngx_http_byok_catalog_pop(ctx, old2);
    }

    ngx_http_byok_catalog_pop(ctx, old);

    ctx->catalog->nproviders += n;

    return 0;
}


static int
ngx_http_byok_catalog_provider_parse(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p)
{
    json_t  *v;

    if (ngx_http_byok_catalog_object(ctx, json, ngx_http_byok_provider_fields)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "id", NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_provider_id_valid,
                                     "must be 1-64 characters of a-z, 0-9 "
                                     "and -", &p->id)
        != 0
        || ngx_http_byok_catalog_unique(ctx, p) != 0)
    {
        return -1;
    }

    p->id_len = strlen(p->id);

    if (ngx_http_byok_catalog_string(ctx, json, "name",
                                     NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_text_valid,
                                     "must be a non-empty string without "
                                     "control characters", &p->name)
        != 0)
    {
        return -1;
    }

    v = ngx_http_byok_catalog_required(ctx, json, "auth_methods");
    if (v == NULL || ngx_http_byok_catalog_auth_methods(ctx, v, p) != 0) {
        return -1;
    }

    v = ngx_http_byok_catalog_required(ctx, json, "auth");
    if (v == NULL || ngx_http_byok_catalog_auth(ctx, v, p) != 0) {
        return -1;
    }

    v = json_object_get(json, "oauth");
    if (v != NULL && ngx_http_byok_catalog_oauth(ctx, v, p) != 0) {
        return -1;
    }

    v = json_object_get(json, "headers");
    if (v != NULL && ngx_http_byok_catalog_headers(ctx, v, p) != 0) {
        return -1;
    }

    v = ngx_http_byok_catalog_required(ctx, json, "test");
    if (v == NULL || ngx_http_byok_catalog_test(ctx, v, p) != 0) {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "key_hint", 0,
                                     ngx_http_byok_text_valid,
                                     "must be a non-empty string without "
                                     "control characters", &p->key_hint)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "docs_url", 0, NULL, NULL,
                                     &p->docs_url)
        != 0)
    {
        return -1;
    }

    if (p->docs_url != NULL) {
        ngx_http_byok_catalog_push(ctx, "docs_url");

        if (ngx_http_byok_catalog_url(ctx, p->docs_url,
                                      NGX_HTTP_BYOK_URL_DOCS)
            != 0)
        {
            return -1;
        }
    }

    return 0;
}


static int
ngx_http_byok_catalog_unique(ngx_http_byok_catalog_ctx_t *ctx,
    ngx_http_byok_provider_t *p)
{
    size_t                     i, j;
    ngx_http_byok_catalog_t   *c;
    ngx_http_byok_provider_t  *q;

    c = ctx->catalog;

    for (i = 0; i < c->ncategories; i++) {
        for (j = 0; j < c->categories[i].nproviders; j++) {
            q = &c->categories[i].providers[j];

            if (q != p && q->id != NULL && strcmp(q->id, p->id) == 0) {
                ngx_http_byok_catalog_push(ctx, "id");
                return ngx_http_byok_catalog_error(ctx,
                           "duplicate provider id \"%s\" "
                           "(also categories[%zu].providers[%zu])",
                           p->id, i, j);
            }
        }
    }

    return 0;
}


static int
ngx_http_byok_catalog_auth_methods(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p)
{
    size_t       i, old, old2;
    json_t      *v;
    unsigned     api_key, oauth;
    unsigned    *seen;
    const char  *m;

    old = ngx_http_byok_catalog_push(ctx, "auth_methods");

    if (!json_is_array(json) || json_array_size(json) == 0) {
        return ngx_http_byok_catalog_error(ctx, "must be a non-empty array");
    }

    api_key = 0;
    oauth = 0;

    json_array_foreach(json, i, v) {
        old2 = ngx_http_byok_catalog_push_index(ctx, i);

        m = json_string_value(v);

        if (m != NULL && strcmp(m, "api_key") == 0) {
            seen = &api_key;

        } else if (m != NULL && strcmp(m, "oauth") == 0) {
            seen = &oauth;

        } else {
            return ngx_http_byok_catalog_error(ctx,
                                           "must be \"api_key\" or \"oauth\"");
        }

        if (*seen) {
            return ngx_http_byok_catalog_error(ctx, "duplicate method \"%s\"",
                                               m);
        }

        *seen = 1;

        ngx_http_byok_catalog_pop(ctx, old2);
    }

    p->api_key = api_key;
    p->oauth = oauth;

    ngx_http_byok_catalog_pop(ctx, old);

    return 0;
}


static int
ngx_http_byok_catalog_auth(ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    ngx_http_byok_provider_t *p)
{
    size_t  old;

    old = ngx_http_byok_catalog_push(ctx, "auth");

    if (ngx_http_byok_catalog_object(ctx, json, ngx_http_byok_auth_fields)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "header",
                                     NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_header_name_valid,
                                     "must be a header name", &p->auth_header)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_header_reserved(p->auth_header)) {
        ngx_http_byok_catalog_push(ctx, "header");
        return ngx_http_byok_catalog_error(ctx,
                                           "must not be a hop-by-hop or "
                                           "framing header");
    }

    if (ngx_http_byok_catalog_string(ctx, json, "prefix",
                                     NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_prefix_valid,
                                     "must be header value characters, "
                                     "optionally ending in one space",
                                     &p->auth_prefix)
        != 0)
    {
        return -1;
    }

    ngx_http_byok_catalog_pop(ctx, old);

    return 0;
}


static int
ngx_http_byok_catalog_oauth(ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    ngx_http_byok_provider_t *p)
{
    size_t   old;
    json_t  *v;

    old = ngx_http_byok_catalog_push(ctx, "oauth");

    if (!p->oauth) {
        return ngx_http_byok_catalog_error(ctx,
                                           "only allowed when auth_methods "
                                           "has \"oauth\"");
    }

    if (ngx_http_byok_catalog_object(ctx, json, ngx_http_byok_oauth_fields)
        != 0)
    {
        return -1;
    }

    v = ngx_http_byok_catalog_required(ctx, json, "available");
    if (v == NULL) {
        return -1;
    }

    if (!json_is_boolean(v)) {
        ngx_http_byok_catalog_push(ctx, "available");
        return ngx_http_byok_catalog_error(ctx, "must be true or false");
    }

    p->oauth_available = json_is_true(v);

    if (ngx_http_byok_catalog_string(ctx, json, "notice", 0,
                                     ngx_http_byok_text_valid,
                                     "must be a non-empty string without "
                                     "control characters", &p->oauth_notice)
        != 0)
    {
        return -1;
    }

    ngx_http_byok_catalog_pop(ctx, old);

    return 0;
}


static int
ngx_http_byok_catalog_headers(ngx_http_byok_catalog_ctx_t *ctx,
    json_t *json, ngx_http_byok_provider_t *p)
{
    size_t                           i, n, old, old2;
    json_t                          *v;
    const char                      *name, *value;
    ngx_http_byok_catalog_header_t  *h;

    old = ngx_http_byok_catalog_push(ctx, "headers");

    if (!json_is_object(json)) {
        return ngx_http_byok_catalog_error(ctx, "must be an object");
    }

    n = json_object_size(json);

    if (n == 0) {
        ngx_http_byok_catalog_pop(ctx, old);
        return 0;
    }

    p->headers = calloc(n, sizeof(ngx_http_byok_catalog_header_t));
    if (p->headers == NULL) {
        return ngx_http_byok_catalog_error(ctx, "out of memory");
    }

    p->nheaders = n;
    h = p->headers;

    json_object_foreach(json, name, v) {
        old2 = ngx_http_byok_catalog_push(ctx, name);

        if (!ngx_http_byok_header_name_valid((const unsigned char *) name,
                                             strlen(name)))
        {
            return ngx_http_byok_catalog_error(ctx, "must be a header name");
        }

        if (ngx_http_byok_header_reserved(name)) {
            return ngx_http_byok_catalog_error(ctx,
                                               "must not be a hop-by-hop or "
                                               "framing header");
        }

        if (ngx_http_byok_strcaseeq(name, p->auth_header)) {
            return ngx_http_byok_catalog_error(ctx,
                                               "repeats the auth header");
        }

        for (i = 0; i < (size_t) (h - p->headers); i++) {
            if (ngx_http_byok_strcaseeq(name, p->headers[i].name)) {
                return ngx_http_byok_catalog_error(ctx,
                                                   "duplicate header (also "
                                                   "\"%s\")",
                                                   p->headers[i].name);
            }
        }

        value = json_string_value(v);

        if (value == NULL) {
            return ngx_http_byok_catalog_error(ctx, "must be a string");
        }

        if (!ngx_http_byok_header_value_valid((const unsigned char *) value,
                                                 json_string_length(v)))
        {
            return ngx_http_byok_catalog_error(ctx,
                                               "must be a valid header value");
        }

        h->name = ngx_http_byok_strndup(name, strlen(name));
        h->value = ngx_http_byok_strndup(value, json_string_length(v));

        if (h->name == NULL || h->value == NULL) {
            return ngx_http_byok_catalog_error(ctx, "out of memory");
        }

        h++;

        ngx_http_byok_catalog_pop(ctx, old2);
    }

    ngx_http_byok_catalog_pop(ctx, old);

    return 0;
}


static int
ngx_http_byok_catalog_test(ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    ngx_http_byok_provider_t *p)
{
    size_t  old;

    if (json_is_null(json)) {
        return 0;
    }

    old = ngx_http_byok_catalog_push(ctx, "test");

    if (!json_is_object(json)) {
        return ngx_http_byok_catalog_error(ctx, "must be null or an object");
    }

    if (ngx_http_byok_catalog_fields(ctx, json, ngx_http_byok_test_fields)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "method",
                                     NGX_HTTP_BYOK_REQUIRED,
                                     ngx_http_byok_method_valid,
                                     "must be GET, POST or HEAD",
                                     &p->test_method)
        != 0)
    {
        return -1;
    }

    if (ngx_http_byok_catalog_string(ctx, json, "url",
                                     NGX_HTTP_BYOK_REQUIRED, NULL, NULL,
                                     &p->test_url)
        != 0)
    {
        return -1;
    }

    ngx_http_byok_catalog_push(ctx, "url");

    if (ngx_http_byok_catalog_url(ctx, p->test_url, NGX_HTTP_BYOK_URL_TEST)
        != 0)
    {
        return -1;
    }

    ngx_http_byok_catalog_pop(ctx, old);

    return 0;
}


static int
ngx_http_byok_catalog_url(ngx_http_byok_catalog_ctx_t *ctx, const char *url,
    int kind)
{
    int                   http, internal;
    size_t                n;
    unsigned long         port;
    const char           *p, *end, *host_end;
    const unsigned char  *c;

    http = (kind == NGX_HTTP_BYOK_URL_TEST && ctx->insecure);

    for (c = (const unsigned char *) url; *c != '\0'; c++) {
        if (*c <= 0x20 || *c >= 0x7f) {
            return ngx_http_byok_catalog_error(ctx,
                                               "must not contain spaces, "
                                               "control or non-ASCII "
                                               "characters");
        }
    }

    if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;

    } else if (http && strncmp(url, "http://", 7) == 0) {
        p = url + 7;

    } else {
        return ngx_http_byok_catalog_error(ctx, "must start with %s",
                                           http ? "https:// or http://"
                                                : "https://");
    }

    end = p + strcspn(p, "/?#");

    if (memchr(p, '@', end - p) != NULL) {
        return ngx_http_byok_catalog_error(ctx,
                                           "must not contain userinfo "
                                           "(user@host)");
    }

    if (kind == NGX_HTTP_BYOK_URL_TEST) {
        if (*end != '/') {
            return ngx_http_byok_catalog_error(ctx, "must be %s",
                                               "scheme://host[:port]/path");
        }

        if (strchr(end, '#') != NULL) {
            return ngx_http_byok_catalog_error(ctx,
                                               "must not contain a fragment");
        }
    }

    if (*p == '[') {
        host_end = memchr(p, ']', end - p);
        if (host_end == NULL) {
            return ngx_http_byok_catalog_error(ctx, "invalid IPv6 address");
        }

        host_end++;

    } else {
        host_end = memchr(p, ':', end - p);
        if (host_end == NULL) {
            host_end = end;
        }
    }

    if (ngx_http_byok_catalog_host(ctx, p, host_end - p, &internal) != 0) {
        return -1;
    }

    if (host_end != end) {
        n = end - host_end - 1;

        if (*host_end != ':' || n == 0 || n > 5
            || strspn(host_end + 1, "0123456789") < n)
        {
            return ngx_http_byok_catalog_error(ctx, "invalid port");
        }

        port = strtoul(host_end + 1, NULL, 10);

        if (port == 0 || port > 65535) {
            return ngx_http_byok_catalog_error(ctx, "invalid port");
        }
    }

    if (internal && kind == NGX_HTTP_BYOK_URL_TEST && !ctx->insecure) {
        return ngx_http_byok_catalog_error(ctx,
                                           "must not point to a loopback, "
                                           "private, link-local or "
                                           "unspecified address");
    }

    return 0;
}


/*
 * Checks the host part of a URL and tells whether it names this machine
 * or an internal network.  A name whose last label is numeric is taken as
 * an IPv4 address, as browsers and resolvers do ("127.1", "0x7f.1"), and
 * must then be a plain dotted quad, so that no spelling slips past.
 */

static int
ngx_http_byok_catalog_host(ngx_http_byok_catalog_ctx_t *ctx,
    const char *host, size_t len, int *internal)
{
    size_t         i, label, n;
    const char    *last;
    unsigned char  addr[16];
    char           buf[NGX_HTTP_BYOK_CATALOG_HOST_LEN + 2];

    *internal = 0;

    if (len == 0) {
        return ngx_http_byok_catalog_error(ctx, "must have a host");
    }

    if (host[0] == '[') {
        if (len - 2 >= sizeof(buf) || host[len - 1] != ']') {
            return ngx_http_byok_catalog_error(ctx, "invalid IPv6 address");
        }

        memcpy(buf, host + 1, len - 2);
        buf[len - 2] = '\0';

        if (inet_pton(AF_INET6, buf, addr) != 1) {
            return ngx_http_byok_catalog_error(ctx, "invalid IPv6 address");
        }

        *internal = ngx_http_byok_ipv6_internal(addr);
        return 0;
    }

    if (len > NGX_HTTP_BYOK_CATALOG_HOST_LEN + 1) {
        return ngx_http_byok_catalog_error(ctx, "host name is too long");
    }

    n = len;
    if (host[n - 1] == '.') {
        n--;
    }

    label = 0;

    for (i = 0; i < n; i++) {
        if (host[i] == '.') {
            if (label == 0 || host[i - 1] == '-') {
                return ngx_http_byok_catalog_error(ctx, "invalid host name");
            }

            label = 0;
            continue;
        }

        if (!((host[i] >= 'a' && host[i] <= 'z')
              || (host[i] >= 'A' && host[i] <= 'Z')
              || (host[i] >= '0' && host[i] <= '9')
              || (host[i] == '-' && label > 0))
            || ++label > 63)
        {
            return ngx_http_byok_catalog_error(ctx, "invalid host name");
        }
    }

    if (n == 0 || label == 0 || host[n - 1] == '-') {
        return ngx_http_byok_catalog_error(ctx, "invalid host name");
    }

    memcpy(buf, host, n);
    buf[n] = '\0';

    last = strrchr(buf, '.');
    last = (last != NULL) ? last + 1 : buf;

    if (strspn(last, "0123456789") == strlen(last)
        || (last[0] == '0' && (last[1] == 'x' || last[1] == 'X')))
    {
        if (n != len || inet_pton(AF_INET, buf, addr) != 1) {
            return ngx_http_byok_catalog_error(ctx,
                                               "numeric host must be a "
                                               "dotted-quad IPv4 address");
        }

        *internal = ngx_http_byok_ipv4_internal(addr);
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (buf[i] >= 'A' && buf[i] <= 'Z') {
            buf[i] |= 0x20;
        }
    }

    if (strcmp(buf, "localhost") == 0
        || (n > 10 && strcmp(buf + n - 10, ".localhost") == 0))
    {
        *internal = 1;
    }

    return 0;
}


/*
 * Addresses a catalog test URL must not reach, checked on the catalog's
 * literal hosts and again on every address a test connects to.
 */

int
ngx_http_byok_ipv4_internal(const unsigned char *a)
{
    return a[0] == 0                                  /* 0/8 */
           || a[0] == 10                              /* 10/8 */
           || a[0] == 127                             /* 127/8 */
           || (a[0] == 100 && (a[1] & 0xc0) == 64)    /* 100.64/10 */
           || (a[0] == 169 && a[1] == 254)            /* 169.254/16 */
           || (a[0] == 172 && (a[1] & 0xf0) == 16)    /* 172.16/12 */
           || (a[0] == 192 && a[1] == 168)            /* 192.168/16 */
           || a[0] >= 224;                            /* multicast, 240/4 */
}


int
ngx_http_byok_ipv6_internal(const unsigned char *a)
{
    static const unsigned char  compat[12] = { 0 };
    static const unsigned char  mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };
    static const unsigned char  nat64[12] = {
        0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
    };

    /* ::/96 holds ::, ::1 and the deprecated IPv4-compatible forms */

    if (memcmp(a, compat, 12) == 0) {
        return 1;
    }

    if (memcmp(a, mapped, 12) == 0 || memcmp(a, nat64, 12) == 0) {
        return ngx_http_byok_ipv4_internal(a + 12);
    }

    return (a[0] & 0xfe) == 0xfc                      /* fc00::/7 */
           || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) /* fe80::/10 */
           || (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0) /* fec0::/10 */
           || a[0] == 0xff;                           /* multicast */
}


static int
ngx_http_byok_catalog_auth_headers(ngx_http_byok_catalog_ctx_t *ctx)
{
    char                      *h;
    size_t                     i, j, k, n;
    ngx_http_byok_catalog_t   *c;
    ngx_http_byok_provider_t  *p;

    c = ctx->catalog;

    if (c->nproviders == 0) {
        return 0;
    }

    c->auth_headers = calloc(c->nproviders, sizeof(char *));
    if (c->auth_headers == NULL) {
        return ngx_http_byok_catalog_error(ctx, "out of memory");
    }

    n = 0;

    for (i = 0; i < c->ncategories; i++) {
        for (j = 0; j < c->categories[i].nproviders; j++) {
            p = &c->categories[i].providers[j];
            p->index = n++;

            for (k = 0; k < c->nauth_headers; k++) {
                if (ngx_http_byok_strcaseeq(c->auth_headers[k],
                                            p->auth_header))
                {
                    break;
                }
            }

            if (k < c->nauth_headers) {
                continue;
            }

            h = ngx_http_byok_strndup(p->auth_header, strlen(p->auth_header));
            if (h == NULL) {
                return ngx_http_byok_catalog_error(ctx, "out of memory");
            }

            for (k = 0; h[k] != '\0'; k++) {
                if (h[k] >= 'A' && h[k] <= 'Z') {
                    h[k] |= 0x20;
                }
            }

            c->auth_headers[c->nauth_headers++] = h;
        }
    }

    return 0;
}


static int
ngx_http_byok_catalog_public(ngx_http_byok_catalog_ctx_t *ctx)
{
    size_t                     i, j, n;
    json_t                    *root, *cats, *cat, *providers;
    ngx_http_byok_catalog_t   *c;
    ngx_http_byok_category_t  *cc;

    c = ctx->catalog;

    /* containers are attached before they are filled: *_new() steals */

    root = json_object();
    if (root == NULL) {
        return ngx_http_byok_catalog_error(ctx, "out of memory");
    }

    cats = json_array();
    if (json_object_set_new(root, "categories", cats) != 0) {
        goto failed;
    }

    for (i = 0; i < c->ncategories; i++) {
        cc = &c->categories[i];

        cat = json_object();

        if (json_array_append_new(cats, cat) != 0
            || json_object_set_new(cat, "id", json_string(cc->id)) != 0
            || json_object_set_new(cat, "name", json_string(cc->name)) != 0
            || json_object_set_new(cat, "providers", json_array()) != 0)
        {
            goto failed;
        }

        providers = json_object_get(cat, "providers");

        for (j = 0; j < cc->nproviders; j++) {
            if (json_array_append_new(providers,
                    ngx_http_byok_catalog_public_provider(&cc->providers[j]))
                != 0)
            {
                goto failed;
            }
        }
    }

    n = json_dumpb(root, NULL, 0, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (n == 0) {
        goto failed;
    }

    c->public_json = malloc(n + 1);
    if (c->public_json == NULL) {
        goto failed;
    }

    c->public_len = json_dumpb(root, c->public_json, n,
                               JSON_COMPACT | JSON_PRESERVE_ORDER);
    c->public_json[c->public_len] = '\0';

    json_decref(root);

    return 0;

failed:

    json_decref(root);

    return ngx_http_byok_catalog_error(ctx, "out of memory");
}


static json_t *
ngx_http_byok_catalog_public_provider(ngx_http_byok_provider_t *p)
{
    json_t  *obj, *methods, *oauth;

    obj = json_object();
    if (obj == NULL) {
        return NULL;
    }

    if (json_object_set_new(obj, "id", json_string(p->id)) != 0
        || json_object_set_new(obj, "name", json_string(p->name)) != 0
        || json_object_set_new(obj, "auth_methods", json_array()) != 0)
    {
        goto failed;
    }

    methods = json_object_get(obj, "auth_methods");

    if ((p->api_key
         && json_array_append_new(methods, json_string("api_key")) != 0)
        || (p->oauth
            && json_array_append_new(methods, json_string("oauth")) != 0))
    {
        goto failed;
    }

    if (p->oauth) {
        oauth = json_object();

        if (json_object_set_new(obj, "oauth", oauth) != 0
            || json_object_set_new(oauth, "available",
                                   json_boolean(p->oauth_available)) != 0
            || (p->oauth_notice != NULL
                && json_object_set_new(oauth, "notice",
                                       json_string(p->oauth_notice)) != 0))
        {
            goto failed;
        }
    }

    if ((p->key_hint != NULL
         && json_object_set_new(obj, "key_hint", json_string(p->key_hint))
            != 0)
        || (p->docs_url != NULL
            && json_object_set_new(obj, "docs_url", json_string(p->docs_url))
               != 0)
        || json_object_set_new(obj, "testable",
                               json_boolean(p->test_url != NULL)) != 0)
    {
        goto failed;
    }

    return obj;

failed:

    json_decref(obj);

    return NULL;
}


static int
ngx_http_byok_catalog_fields(ngx_http_byok_catalog_ctx_t *ctx, json_t *obj,
    const char **fields)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    json_object_foreach(obj, key, v) {
        for (i = 0; fields[i] != NULL; i++) {
            if (strcmp(key, fields[i]) == 0) {
                break;
            }
        }

        if (fields[i] == NULL) {
            ngx_http_byok_catalog_push(ctx, key);
            return ngx_http_byok_catalog_error(ctx, "unknown field");
        }
    }

    return 0;
}


static int
ngx_http_byok_catalog_object(ngx_http_byok_catalog_ctx_t *ctx, json_t *json,
    const char **fields)
{
    if (!json_is_object(json)) {
        return ngx_http_byok_catalog_error(ctx, "must be an object");
    }

    return ngx_http_byok_catalog_fields(ctx, json, fields);
}


/*
 * Copies the string member obj.key to *out after checking it with check();
 * an absent optional member leaves *out NULL.
 */

static int
ngx_http_byok_catalog_string(ngx_http_byok_catalog_ctx_t *ctx, json_t *obj,
    const char *key, int required, ngx_http_byok_catalog_check_pt check,
    const char *msg, char **out)
{
    size_t   len, old;
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL) {
        if (required) {
            ngx_http_byok_catalog_push(ctx, key);
            return ngx_http_byok_catalog_error(ctx, "is required");
        }

        return 0;
    }

    old = ngx_http_byok_catalog_push(ctx, key);

    if (!json_is_string(v)) {
        return ngx_http_byok_catalog_error(ctx, "must be a string");
    }

    len = json_string_length(v);

    if (check != NULL
        && !check((const unsigned char *) json_string_value(v), len))
    {
        return ngx_http_byok_catalog_error(ctx, "%s", msg);
    }

    *out = ngx_http_byok_strndup(json_string_value(v), len);
    if (*out == NULL) {
        return ngx_http_byok_catalog_error(ctx, "out of memory");
    }

    ngx_http_byok_catalog_pop(ctx, old);

    return 0;
}


static json_t *
ngx_http_byok_catalog_required(ngx_http_byok_catalog_ctx_t *ctx, json_t *obj,
    const char *key)
{
    json_t  *v;

    v = json_object_get(obj, key);

    if (v == NULL) {
        ngx_http_byok_catalog_push(ctx, key);
        ngx_http_byok_catalog_error(ctx, "is required");
    }

    return v;
}


/*
 * Path components are appended in place; keys come from the file, so they
 * are shortened and stripped of anything that would break a log line.
 */

static size_t
ngx_http_byok_catalog_push(ngx_http_byok_catalog_ctx_t *ctx, const char *key)
{
    char    *p, *last;
    size_t   old, i;

    old = ctx->path_len;
    p = ctx->path + old;
    last = ctx->path + sizeof(ctx->path) - 4;

    if (old > 0 && p < last) {
        *p++ = '.';
    }

    if (key[0] == '\0') {
        key = "\"\"";
    }

    for (i = 0; key[i] != '\0' && p < last; i++) {
        if (i == NGX_HTTP_BYOK_CATALOG_KEY_LEN) {
            memcpy(p, "...", 3);
            p += 3;
            break;
        }

        *p++ = ((unsigned char) key[i] >= 0x20
                && (unsigned char) key[i] < 0x7f) ? key[i] : '?';
    }

    *p = '\0';
    ctx->path_len = p - ctx->path;

    return old;
}


static size_t
ngx_http_byok_catalog_push_index(ngx_http_byok_catalog_ctx_t *ctx, size_t i)
{
    int     n;
    size_t  old;

    old = ctx->path_len;

    n = snprintf(ctx->path + old, sizeof(ctx->path) - old, "[%zu]", i);

    if (n > 0 && (size_t) n < sizeof(ctx->path) - old) {
        ctx->path_len += n;

    } else {
        ctx->path[old] = '\0';
    }

    return old;
}


static void
ngx_http_byok_catalog_pop(ngx_http_byok_catalog_ctx_t *ctx, size_t len)
{
    ctx->path_len = len;
    ctx->path[len] = '\0';
}


static int
ngx_http_byok_catalog_error(ngx_http_byok_catalog_ctx_t *ctx,
    const char *fmt, ...)
{
    int      n;
    va_list  args;

    if (ctx->err == NULL || ctx->err_len == 0) {
        return -1;
    }

    n = snprintf(ctx->err, ctx->err_len, "%s: ",
                 ctx->path_len > 0 ? ctx->path : "catalog");

    if (n > 0 && (size_t) n < ctx->err_len) {
        va_start(args, fmt);
        vsnprintf(ctx->err + n, ctx->err_len - n, fmt, args);
        va_end(args);
    }

    ngx_http_byok_catalog_sanitize(ctx->err);

    return -1;
}


static void
ngx_http_byok_catalog_sanitize(char *s)
{
    for ( /* void */ ; *s != '\0'; s++) {
        if ((unsigned char) *s < 0x20 || (unsigned char) *s >= 0x7f) {
            *s = '?';
        }
    }
}


static int
ngx_http_byok_category_id_valid(const unsigned char *s, size_t len)
{
    return ngx_http_byok_id_valid(s, len, 32);
}


static int
ngx_http_byok_provider_id_valid(const unsigned char *s, size_t len)
{
    return ngx_http_byok_id_valid(s, len, 64);
}


static int
ngx_http_byok_id_valid(const unsigned char *s, size_t len, size_t max)
{
    size_t  i;

    if (len == 0 || len > max) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
              || s[i] == '-'))
        {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_byok_text_valid(const unsigned char *s, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static int
ngx_http_byok_prefix_valid(const unsigned char *s, size_t len)
{
    if (len == 0) {
        return 1;
    }

    /* "Bearer ": the one trailing space separates the scheme from the key */

    if (s[len - 1] == ' ') {
        len--;
    }

    return ngx_http_byok_header_value_valid(s, len);
}


static int
ngx_http_byok_method_valid(const unsigned char *s, size_t len)
{
    return (len == 3 && memcmp(s, "GET", 3) == 0)
           || (len == 4 && memcmp(s, "POST", 4) == 0)
           || (len == 4 && memcmp(s, "HEAD", 4) == 0);
}


static int
ngx_http_byok_header_reserved(const char *name)
{
    size_t  i;

    for (i = 0; ngx_http_byok_reserved_headers[i] != NULL; i++) {
        if (ngx_http_byok_strcaseeq(name, ngx_http_byok_reserved_headers[i])) {
            return 1;
        }
    }

    return 0;
}


static int
ngx_http_byok_strcaseeq(const char *a, const char *b)
{
    unsigned char  ca, cb;

    do {
        ca = (unsigned char) *a++;
        cb = (unsigned char) *b++;

        if (ca >= 'A' && ca <= 'Z') {
            ca |= 0x20;
        }

        if (cb >= 'A' && cb <= 'Z') {
            cb |= 0x20;
        }

        if (ca != cb) {
            return 0;
        }

    } while (ca != '\0');

    return 1;
}


static char *
ngx_http_byok_strndup(const char *s, size_t len)
{
    char  *p;

    p = malloc(len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}
