
/*
 * ngx_http_byok_catalog_parse() on operator-edited catalog files, with
 * allow_insecure_urls off and on.  The error buffer of the second parse
 * is 1-64 bytes, sized from the input, to catch overruns on truncation.
 *
 * Properties:
 *   - a refusal has a one-line, printable, NUL-terminated reason;
 *   - what parses without insecure URLs also parses with them, to the
 *     same public view;
 *   - a parsed catalog holds only what SPEC §6 admits: valid ids, unique
 *     provider ids, header names that are tokens, header values without
 *     CR, LF, NUL or other controls, https:// URLs (http:// for tests
 *     only when insecure), a test method exactly when a test URL;
 *   - the lookups find every provider and category by id;
 *   - the public view is JSON without test URLs or header names.
 */


#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "ngx_http_byok_catalog.h"
#include "fuzz.h"


#define ERR_LEN  256


static ngx_http_byok_catalog_t *parse(const uint8_t *data, size_t size,
    int insecure, size_t err_len);
static void check_catalog(const ngx_http_byok_catalog_t *c, int insecure);
static void check_provider(const ngx_http_byok_catalog_t *c,
    const ngx_http_byok_category_t *cat, const ngx_http_byok_provider_t *p,
    int insecure);
static void check_public(const ngx_http_byok_catalog_t *c);
static int id_valid(const char *s, size_t max);
static int text_valid(const char *s);
static int no_ctl(const char *s, size_t len);
static int value_chars(const char *s, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_http_byok_catalog_t  *strict, *loose;

    strict = parse(data, size, 0, ERR_LEN);
    loose = parse(data, size, 1, 1 + size % 64);

    if (strict != NULL) {
        fuzz_assert(loose != NULL,
                    "allow_insecure_urls only admits more catalogs");
        fuzz_assert(strict->public_len == loose->public_len
                    && memcmp(strict->public_json, loose->public_json,
                              strict->public_len) == 0,
                    "allow_insecure_urls does not change the public view");
    }

    ngx_http_byok_catalog_free(strict);
    ngx_http_byok_catalog_free(loose);

    return 0;
}


static ngx_http_byok_catalog_t *
parse(const uint8_t *data, size_t size, int insecure, size_t err_len)
{
    char                     *err, *text;
    size_t                    i, n;
    ngx_http_byok_catalog_t  *c;

    /* exactly sized and not NUL-terminated, like a file read into memory */

    text = malloc(size + 1);
    err = malloc(err_len);

    if (text == NULL || err == NULL) {
        abort();
    }

    memcpy(text, data, size);
    memset(err, 'x', err_len);

    c = ngx_http_byok_catalog_parse(text, size, insecure, err, err_len);

    if (c == NULL) {
        n = strnlen(err, err_len);

        fuzz_assert(n < err_len, "the reason is NUL-terminated");
        fuzz_assert(n > 0 || err_len == 1, "a refusal has a reason");

        for (i = 0; i < n; i++) {
            fuzz_assert(err[i] >= 0x20 && err[i] < 0x7f,
                        "the reason is one printable line");
        }

    } else {
        check_catalog(c, insecure);
    }

    free(text);
    free(err);

    return c;
}


static void
check_catalog(const ngx_http_byok_catalog_t *c, int insecure)
{
    size_t                           i, j, k, total;
    const ngx_http_byok_category_t  *cat;

    fuzz_assert(c->ncategories > 0, "at least one category");

    total = 0;

    for (i = 0; i < c->ncategories; i++) {
        cat = &c->categories[i];

        fuzz_assert(id_valid(cat->id, 32), "category id is a-z0-9- 1..32");
        fuzz_assert(text_valid(cat->name), "category name is text");
        fuzz_assert(ngx_http_byok_catalog_category(c, cat->id,
                                                   strlen(cat->id)) == cat,
                    "a category is found by its id");

        for (j = 0; j < cat->nproviders; j++) {
            check_provider(c, cat, &cat->providers[j], insecure);
        }

        total += cat->nproviders;
    }

    fuzz_assert(total == c->nproviders, "nproviders adds up");
    fuzz_assert(c->nauth_headers <= c->nproviders,
                "no more auth headers than providers");

    for (i = 0; i < c->nauth_headers; i++) {
        for (k = 0; c->auth_headers[i][k] != '\0'; k++) {
            fuzz_assert(c->auth_headers[i][k] < 'A'
                        || c->auth_headers[i][k] > 'Z',
                        "auth headers are lowercased");
        }

        for (j = 0; j < i; j++) {
            fuzz_assert(strcmp(c->auth_headers[i], c->auth_headers[j]) != 0,
                        "auth headers are listed once");
        }
    }

    check_public(c);
}


static void
check_provider(const ngx_http_byok_catalog_t *c,
    const ngx_http_byok_category_t *cat, const ngx_http_byok_provider_t *p,
    int insecure)
{
    size_t       i, j, len;
    const char  *v, *host;

    fuzz_assert(id_valid(p->id, 64), "provider id is a-z0-9- 1..64");
    fuzz_assert(ngx_http_byok_catalog_provider(c, p->id, strlen(p->id)) == p,
                "a provider is found by its id, which is unique");
    fuzz_assert(p->category == cat, "a provider points to its category");
    fuzz_assert(text_valid(p->name), "provider name is text");
    fuzz_assert(p->api_key || p->oauth, "at least one auth method");
    fuzz_assert(p->oauth || (!p->oauth_available && p->oauth_notice == NULL),
                "oauth details only with the oauth method");
    fuzz_assert(p->oauth_notice == NULL || text_valid(p->oauth_notice),
                "oauth notice is text");
    fuzz_assert(p->key_hint == NULL || text_valid(p->key_hint),
                "key hint is text");

    fuzz_assert(ngx_http_byok_header_name_valid(
                    (const unsigned char *) p->auth_header,
                    strlen(p->auth_header)),
                "the auth header is a token");

    for (i = 0; i < c->nauth_headers; i++) {
        if (strcasecmp(c->auth_headers[i], p->auth_header) == 0) {
            break;
        }
    }

    fuzz_assert(i < c->nauth_headers, "the auth header is listed");

    /* the value sent is prefix + key: the prefix may end in one space */

    len = strlen(p->auth_prefix);
    fuzz_assert(value_chars(p->auth_prefix, len),
                "the prefix is visible ASCII, SP and HTAB");

    if (len > 0 && p->auth_prefix[len - 1] == ' ') {
        len--;
    }

    fuzz_assert(len == 0
                || ngx_http_byok_header_value_valid(
                       (const unsigned char *) p->auth_prefix, len),
                "the prefix is a header value");

    for (i = 0; i < p->nheaders; i++) {
        v = p->headers[i].value;

        fuzz_assert(ngx_http_byok_header_name_valid(
                        (const unsigned char *) p->headers[i].name,
                        strlen(p->headers[i].name)),
                    "an extra header name is a token");
        fuzz_assert(strcasecmp(p->headers[i].name, p->auth_header) != 0,
                    "an extra header is not the auth header");
        fuzz_assert(strlen(v) > 0 && value_chars(v, strlen(v))
                    && strpbrk(v, "\r\n") == NULL,
                    "an extra header value has no CR, LF, NUL or controls");

        for (j = 0; j < i; j++) {
            fuzz_assert(strcasecmp(p->headers[i].name, p->headers[j].name)
                        != 0, "extra headers are unique");
        }
    }

    fuzz_assert((p->test_method == NULL) == (p->test_url == NULL),
                "a test method exactly when a test URL");

    if (p->test_url != NULL) {
        fuzz_assert(strcmp(p->test_method, "GET") == 0
                    || strcmp(p->test_method, "POST") == 0
                    || strcmp(p->test_method, "HEAD") == 0,
                    "the test method is GET, POST or HEAD");
        fuzz_assert(strncmp(p->test_url, "https://", 8) == 0
                    || (insecure && strncmp(p->test_url, "http://", 7) == 0),
                    "the test URL is https (http only when insecure)");
        fuzz_assert(no_ctl(p->test_url, strlen(p->test_url))
                    && strchr(p->test_url, ' ') == NULL
                    && strchr(p->test_url, '#') == NULL,
                    "the test URL has no spaces or fragment");

        /* "@" may appear in the path, not in the authority */

        host = strstr(p->test_url, "://") + 3;
        fuzz_assert(memchr(host, '@', strcspn(host, "/?#")) == NULL,
                    "the test URL has no userinfo");
        fuzz_assert(host[strcspn(host, "/?#")] == '/',
                    "the test URL has a path");
    }

    if (p->docs_url != NULL) {
        fuzz_assert(strncmp(p->docs_url, "https://", 8) == 0,
                    "the docs URL is https");
        fuzz_assert(no_ctl(p->docs_url, strlen(p->docs_url)),
                    "the docs URL has no controls");
    }
}


static void
check_public(const ngx_http_byok_catalog_t *c)
{
    size_t       i, j;
    json_t      *root, *cats, *cat, *provs, *prov, *v;
    const char  *key;

    fuzz_assert(c->public_json != NULL
                && strlen(c->public_json) == c->public_len,
                "the public view is a C string of public_len bytes");

    root = json_loadb(c->public_json, c->public_len, 0, NULL);
    cats = json_object_get(root, "categories");

    fuzz_assert(json_is_array(cats)
                && json_array_size(cats) == c->ncategories,
                "the public view lists every category");

    json_array_foreach(cats, i, cat) {
        provs = json_object_get(cat, "providers");

        fuzz_assert(json_is_array(provs)
                    && json_array_size(provs) == c->categories[i].nproviders,
                    "the public view lists every provider");

        json_array_foreach(provs, j, prov) {
            json_object_foreach(prov, key, v) {
                fuzz_assert(strcmp(key, "test") != 0
                            && strcmp(key, "auth") != 0
                            && strcmp(key, "headers") != 0,
                            "no test URL or header names in public");
            }

            fuzz_assert(json_is_boolean(json_object_get(prov, "testable"))
                        && json_is_true(json_object_get(prov, "testable"))
                           == (c->categories[i].providers[j].test_url
                               != NULL),
                        "testable tells whether there is a test");
        }
    }

    json_decref(root);
}


static int
id_valid(const char *s, size_t max)
{
    size_t  len;

    len = strlen(s);

    return len > 0 && len <= max
           && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == len;
}


static int
text_valid(const char *s)
{
    return s[0] != '\0' && no_ctl(s, strlen(s));
}


static int
no_ctl(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


/* visible ASCII, SP and HTAB */

static int
value_chars(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (!(s[i] == '\t' || (s[i] >= 0x20 && s[i] < 0x7f))) {
            return 0;
        }
    }

    return 1;
}
