
/*
 * ngx_http_byok_parse_body() on raw request bodies, then the create,
 * patch and order validators on every object it returns, against the
 * shipped catalog and a small one with the other OAuth cases (no notice,
 * OAuth available).  The body is copied into a buffer of exactly its size
 * and the order ids into one of exactly max entries, to catch overreads
 * and overruns.
 *
 * Properties:
 *   - parsing leaves the body bytes as they were; a refusal is a 400 with
 *     invalid_json or invalid_request, a message and no field;
 *   - each validator accepts exactly the bodies that SPEC §4.2-§4.5,
 *     rewritten here on their own, admit;
 *   - an accepted create's value is 16-4096 bytes of 0x21-0x7E inside the
 *     JSON string, with only whitespace trimmed around it, and its masked
 *     prefix is its first 8 bytes and "***"; its label is a non-empty
 *     string of at most 64 bytes or none; raw is the "value" string;
 *   - an accepted patch or order carries what the body says;
 *   - a refusal has a status of 422 or 501 matching its code, a message,
 *     and a field exactly for the 422s that name one: a member of the
 *     body, or "(field)" for an unknown name longer than 64 bytes;
 *   - ngx_http_byok_mask() writes the first 8 bytes (fewer when shorter),
 *     "***" and a NUL.
 */


#include <libgen.h>
#include <string.h>

#include <jansson.h>

#include "ngx_http_byok_catalog.h"
#include "ngx_http_byok_validate.h"
#include "fuzz.h"


#define BODY_MAX       16384        /* the API's body limit */
#define LABEL_MAX      64
#define FIELD_MAX      64
#define PATH_LEN       4096

#define TEST_PROVIDER(id, extra)                                             \
    "{\"id\":\"" id "\",\"name\":\"" id "\","                                \
    "\"auth_methods\":[\"api_key\",\"oauth\"]" extra ","                     \
    "\"auth\":{\"header\":\"x-api-key\",\"prefix\":\"\"},\"test\":null}"

#define TEST_CATALOG                                                         \
    "{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\",\"providers\":["      \
    TEST_PROVIDER("quiet", ",\"oauth\":{\"available\":false}") ","           \
    TEST_PROVIDER("ready", ",\"oauth\":{\"available\":true,"                 \
                  "\"notice\":\"Ready\"}") "]},"                             \
    "{\"id\":\"audio\",\"name\":\"Audio\",\"providers\":["                   \
    TEST_PROVIDER("anthropic", "") "]}]}"


static ngx_http_byok_catalog_t *load_catalog(const char *path);
static void check_create(json_t *body, const ngx_http_byok_catalog_t *c);
static void check_patch(json_t *body);
static void check_order(json_t *body, const ngx_http_byok_catalog_t *c,
    size_t max);
static void check_refusal(json_t *body, const ngx_http_byok_invalid_t *err,
    const char **allowed);
static void check_mask(const uint8_t *data, size_t size);
static int expect_create(json_t *body, const ngx_http_byok_catalog_t *c);
static int expect_patch(json_t *body);
static int expect_order(json_t *body, const ngx_http_byok_catalog_t *c);
static int only_members(json_t *body, const char **allowed);
static int is_allowed(const char *name, const char **allowed);
static const ngx_http_byok_category_t *find_category(
    const ngx_http_byok_catalog_t *c, json_t *id);
static const ngx_http_byok_provider_t *find_provider(
    const ngx_http_byok_catalog_t *c, json_t *id);
static int id_is(const char *id, json_t *v);
static int str_is(json_t *v, const char *s);
static int label_ok(json_t *label);
static int is_space(unsigned char c);
static int cmp_ids(const void *a, const void *b);


static const char  *create_fields[] = {
    "category", "provider", "auth_type", "label", "value", "rentable", NULL
};

static const char  *patch_fields[] = {
    "label", "rotation_priority", "rentable", "status", NULL
};

static const char  *order_fields[] = {
    "provider", "ids", NULL
};

static ngx_http_byok_catalog_t  *shipped, *test;


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char          path[PATH_LEN], self[PATH_LEN];
    const char   *env;

    env = getenv("BYOK_CATALOG");

    if (env != NULL && env[0] != '\0') {
        shipped = load_catalog(env);

    } else {
        /*
         * the binary is build/fuzz/bin/fuzz_validate; run.sh runs it from
         * the top of the tree
         */

        snprintf(self, sizeof(self), "%s", (*argv)[0]);
        snprintf(path, sizeof(path), "%s/../../../catalog/providers.json",
                 dirname(self));

        shipped = load_catalog(path);

        if (shipped == NULL) {
            shipped = load_catalog("catalog/providers.json");
        }
    }

    test = ngx_http_byok_catalog_parse(TEST_CATALOG,
                                       sizeof(TEST_CATALOG) - 1, 0,
                                       path, sizeof(path));

    if (shipped == NULL || test == NULL) {
        fprintf(stderr, "fuzz_validate: cannot load the catalogs (set "
                "BYOK_CATALOG to catalog/providers.json)\n");
        abort();
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                    i;
    json_t                   *body;
    unsigned char            *copy;
    ngx_http_byok_invalid_t   err;

    if (size > BODY_MAX) {
        return 0;
    }

    check_mask(data, size);

    /* exactly sized and not NUL-terminated, like the body nginx read */

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);
    memset(&err, 0, sizeof(ngx_http_byok_invalid_t));

    body = ngx_http_byok_parse_body(copy, size, &err);

    fuzz_assert(memcmp(copy, data, size) == 0,
                "parsing leaves the body as it was");
    free(copy);

    if (body == NULL) {
        fuzz_assert(err.status == 400 && err.code != NULL
                    && (strcmp(err.code, "invalid_json") == 0
                        || strcmp(err.code, "invalid_request") == 0),
                    "a body that does not parse is a 400 invalid_json or "
                    "invalid_request");
        fuzz_assert(err.message != NULL && err.message[0] != '\0'
                    && err.field == NULL,
                    "a parse refusal has a message and no field");
        return 0;
    }

    fuzz_assert(json_is_object(body), "a parsed body is an object");

    check_create(body, shipped);
    check_create(body, test);
    check_patch(body);

    /* room for every valid list, and room for fewer ids than sent */

    check_order(body, shipped, NGX_HTTP_BYOK_ORDER_IDS_MAX);
    check_order(body, test, NGX_HTTP_BYOK_ORDER_IDS_MAX);

    i = json_array_size(json_object_get(body, "ids"));
    check_order(body, shipped, i > 1 ? i - 1 : 1);

    json_decref(body);

    return 0;
}


static ngx_http_byok_catalog_t *
load_catalog(const char *path)
{
    FILE                     *f;
    char                     *text, err[256];
    size_t                    len;
    ngx_http_byok_catalog_t  *c;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    text = malloc(1024 * 1024);
    if (text == NULL) {
        abort();
    }

    len = fread(text, 1, 1024 * 1024, f);
    fclose(f);

    c = ngx_http_byok_catalog_parse(text, len, 0, err, sizeof(err));
    free(text);

    if (c == NULL) {
        fprintf(stderr, "fuzz_validate: %s: %s\n", path, err);
    }

    return c;
}


static void
check_create(json_t *body, const ngx_http_byok_catalog_t *c)
{
    int                       rc;
    json_t                   *v;
    size_t                    i;
    const unsigned char      *p;
    ngx_http_byok_create_t    out;
    ngx_http_byok_invalid_t   err;

    memset(&err, 0, sizeof(ngx_http_byok_invalid_t));

    rc = ngx_http_byok_validate_create(body, c, &out, &err);

    fuzz_assert((rc == 0) == expect_create(body, c),
                "create accepts exactly what SPEC 4.2 admits");

    v = json_object_get(body, "value");

    fuzz_assert(out.raw == (json_is_string(v)
                            ? (unsigned char *) json_string_value(v) : NULL)
                && out.raw_len == (json_is_string(v)
                                   ? json_string_length(v) : 0),
                "raw is the value string, whatever the outcome");

    if (rc != 0) {
        check_refusal(body, &err, create_fields);
        return;
    }

    fuzz_assert(out.value_len >= 16 && out.value_len <= 4096,
                "an accepted value is 16 to 4096 bytes");

    for (i = 0; i < out.value_len; i++) {
        fuzz_assert(out.value[i] >= 0x21 && out.value[i] <= 0x7e,
                    "an accepted value is printable ASCII without spaces");
    }

    fuzz_assert(out.value >= out.raw
                && out.value + out.value_len <= out.raw + out.raw_len,
                "the value lies inside the JSON string");

    for (p = out.raw; p < out.value; p++) {
        fuzz_assert(is_space(*p), "only whitespace is trimmed before");
    }

    for (p = out.value + out.value_len; p < out.raw + out.raw_len; p++) {
        fuzz_assert(is_space(*p), "only whitespace is trimmed after");
    }

    fuzz_assert(strlen(out.masked) == 11
                && memcmp(out.masked, out.value, 8) == 0
                && strcmp(out.masked + 8, "***") == 0,
                "the masked prefix is the first 8 bytes and ***");

    fuzz_assert(out.category != NULL && out.provider != NULL
                && out.provider->category == out.category
                && id_is(out.category->id, json_object_get(body, "category"))
                && id_is(out.provider->id, json_object_get(body, "provider")),
                "the category and provider are the ones named");

    v = json_object_get(body, "label");

    if (out.label == NULL) {
        fuzz_assert(v == NULL || json_is_null(v)
                    || (json_is_string(v) && json_string_length(v) == 0),
                    "no label only for an absent, null or empty one");

    } else {
        fuzz_assert(out.label == json_string_value(v)
                    && out.label[0] != '\0'
                    && strlen(out.label) <= LABEL_MAX,
                    "a label is the non-empty string sent");
    }
}


static void
check_patch(json_t *body)
{
    int                       rc;
    json_t                   *label, *prio;
    ngx_http_byok_patch_t     out;
    ngx_http_byok_invalid_t   err;

    memset(&err, 0, sizeof(ngx_http_byok_invalid_t));

    rc = ngx_http_byok_validate_patch(body, &out, &err);

    fuzz_assert((rc == 0) == expect_patch(body),
                "patch accepts exactly what SPEC 4 admits");

    if (rc != 0) {
        check_refusal(body, &err, patch_fields);
        return;
    }

    label = json_object_get(body, "label");
    prio = json_object_get(body, "rotation_priority");

    fuzz_assert(label == NULL ? out.label == NULL
                : json_is_null(label) ? out.label != NULL
                                        && out.label[0] == '\0'
                : out.label == json_string_value(label),
                "the label is kept, removed or the string sent");

    fuzz_assert(prio == NULL ? !out.set_priority
                : out.set_priority
                  && out.priority == json_integer_value(prio)
                  && out.priority >= 0 && out.priority <= 1000000,
                "the priority is the integer sent, 0 to 1000000");

    fuzz_assert(out.activate == (json_object_get(body, "status") != NULL),
                "status re-enables exactly when sent");
}


static void
check_order(json_t *body, const ngx_http_byok_catalog_t *c, size_t max)
{
    int                       rc, expect;
    size_t                    i;
    json_t                   *list;
    int64_t                  *ids;
    ngx_http_byok_order_t     out;
    ngx_http_byok_invalid_t   err;

    ids = malloc(max * sizeof(int64_t));
    if (ids == NULL) {
        abort();
    }

    memset(&err, 0, sizeof(ngx_http_byok_invalid_t));

    rc = ngx_http_byok_validate_order(body, c, ids, max, &out, &err);

    list = json_object_get(body, "ids");
    expect = expect_order(body, c) && json_array_size(list) <= max;

    fuzz_assert((rc == 0) == expect,
                "order accepts exactly what SPEC 4 admits and has room for");

    if (rc != 0) {
        check_refusal(body, &err, order_fields);
        free(ids);
        return;
    }

    fuzz_assert(out.provider != NULL
                && id_is(out.provider->id, json_object_get(body, "provider")),
                "the provider is the one named");
    fuzz_assert(out.n >= 1 && out.n <= NGX_HTTP_BYOK_ORDER_IDS_MAX
                && out.n <= max && out.n == json_array_size(list),
                "every id sent is listed");

    for (i = 0; i < out.n; i++) {
        fuzz_assert(ids[i] > 0
                    && ids[i] == json_integer_value(json_array_get(list, i)),
                    "the ids are the positive integers sent, in order");
    }

    free(ids);
}


static void
check_refusal(json_t *body, const ngx_http_byok_invalid_t *err,
    const char **allowed)
{
    fuzz_assert(err->code != NULL && err->message != NULL
                && err->message[0] != '\0',
                "a refusal has a code and a message");

    if (err->status == 501) {
        fuzz_assert(strcmp(err->code, "oauth_not_available") == 0
                    || strcmp(err->code, "rentable_not_available") == 0,
                    "a 501 is oauth_ or rentable_not_available");
        fuzz_assert(err->field == NULL, "a 501 names no field");
        return;
    }

    fuzz_assert(err->status == 422
                && strcmp(err->code, "validation_failed") == 0,
                "any other refusal is a 422 validation_failed");

    if (err->field == NULL) {
        fuzz_assert(strcmp(err->message,
                           "Send label and/or rotation_priority.") == 0,
                    "only an empty patch names no field");
        return;
    }

    if (strcmp(err->message, "Unknown field.") == 0) {
        fuzz_assert(strcmp(err->field, "(field)") == 0
                    || (strlen(err->field) <= FIELD_MAX
                        && json_object_get(body, err->field) != NULL
                        && !is_allowed(err->field, allowed)),
                    "an unknown field is a member of at most 64 bytes");
        return;
    }

    fuzz_assert(is_allowed(err->field, allowed),
                "any other refusal names a field of the request");
}


static void
check_mask(const uint8_t *data, size_t size)
{
    char    out[NGX_HTTP_BYOK_MASK_SIZE + 1];
    size_t  n;

    out[NGX_HTTP_BYOK_MASK_SIZE] = 'x';

    ngx_http_byok_mask(data, size, out);

    n = size < 8 ? size : 8;

    fuzz_assert(memcmp(out, data, n) == 0 && memcmp(out + n, "***", 4) == 0
                && out[NGX_HTTP_BYOK_MASK_SIZE] == 'x',
                "the mask is the first 8 bytes, *** and a NUL, 12 at most");
}


/* SPEC §4.2, §4.5 and §4.6 on their own */

static int
expect_create(json_t *body, const ngx_http_byok_catalog_t *c)
{
    json_t                          *v, *at, *r;
    size_t                           i, start, end;
    const unsigned char             *s;
    const ngx_http_byok_category_t  *cat;
    const ngx_http_byok_provider_t  *prov;

    if (!only_members(body, create_fields)) {
        return 0;
    }

    cat = find_category(c, json_object_get(body, "category"));
    prov = find_provider(c, json_object_get(body, "provider"));

    if (cat == NULL || prov == NULL || prov < cat->providers
        || prov >= cat->providers + cat->nproviders)
    {
        return 0;
    }

    at = json_object_get(body, "auth_type");
    r = json_object_get(body, "rentable");

    if ((at != NULL && !str_is(at, "api_key"))
        || (r != NULL && !json_is_false(r)))
    {
        return 0;
    }

    v = json_object_get(body, "value");

    if (!json_is_string(v)) {
        return 0;
    }

    s = (const unsigned char *) json_string_value(v);
    end = json_string_length(v);

    for (start = 0; start < end && is_space(s[start]); start++) {
        /* void */
    }

    while (end > start && is_space(s[end - 1])) {
        end--;
    }

    if (end - start < 16 || end - start > 4096) {
        return 0;
    }

    for (i = start; i < end; i++) {
        if (s[i] <= ' ' || s[i] >= 0x7f) {
            return 0;
        }
    }

    return label_ok(json_object_get(body, "label"));
}


static int
expect_patch(json_t *body)
{
    json_t  *status, *r, *prio;

    if (!only_members(body, patch_fields) || json_object_size(body) == 0) {
        return 0;
    }

    status = json_object_get(body, "status");
    r = json_object_get(body, "rentable");
    prio = json_object_get(body, "rotation_priority");

    if ((status != NULL && !str_is(status, "active"))
        || (r != NULL && !json_is_false(r)))
    {
        return 0;
    }

    if (prio != NULL
        && !(json_is_integer(prio) && json_integer_value(prio) >= 0
             && json_integer_value(prio) <= 1000000))
    {
        return 0;
    }

    return label_ok(json_object_get(body, "label"));
}


static int
expect_order(json_t *body, const ngx_http_byok_catalog_t *c)
{
    int       unique;
    size_t    i, n;
    json_t   *list, *id;
    int64_t  *sorted;

    if (!only_members(body, order_fields)
        || find_provider(c, json_object_get(body, "provider")) == NULL)
    {
        return 0;
    }

    list = json_object_get(body, "ids");
    n = json_array_size(list);

    if (!json_is_array(list) || n < 1 || n > 1000) {
        return 0;
    }

    sorted = malloc(n * sizeof(int64_t));
    if (sorted == NULL) {
        abort();
    }

    json_array_foreach(list, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) < 1) {
            free(sorted);
            return 0;
        }

        sorted[i] = json_integer_value(id);
    }

    qsort(sorted, n, sizeof(int64_t), cmp_ids);

    unique = 1;

    for (i = 1; i < n; i++) {
        if (sorted[i] == sorted[i - 1]) {
            unique = 0;
        }
    }

    free(sorted);

    return unique;
}


/* every member of body is one of allowed */

static int
only_members(json_t *body, const char **allowed)
{
    size_t  known;

    for (known = 0; *allowed != NULL; allowed++) {
        known += (json_object_get(body, *allowed) != NULL);
    }

    return known == json_object_size(body);
}


static int
is_allowed(const char *name, const char **allowed)
{
    for ( /* void */ ; *allowed != NULL; allowed++) {
        if (strcmp(name, *allowed) == 0) {
            return 1;
        }
    }

    return 0;
}


static const ngx_http_byok_category_t *
find_category(const ngx_http_byok_catalog_t *c, json_t *id)
{
    size_t  i;

    for (i = 0; i < c->ncategories; i++) {
        if (id_is(c->categories[i].id, id)) {
            return &c->categories[i];
        }
    }

    return NULL;
}


static const ngx_http_byok_provider_t *
find_provider(const ngx_http_byok_catalog_t *c, json_t *id)
{
    size_t                           i, j;
    const ngx_http_byok_category_t  *cat;

    for (i = 0; i < c->ncategories; i++) {
        cat = &c->categories[i];

        for (j = 0; j < cat->nproviders; j++) {
            if (id_is(cat->providers[j].id, id)) {
                return &cat->providers[j];
            }
        }
    }

    return NULL;
}


static int
id_is(const char *id, json_t *v)
{
    return str_is(v, id);
}


static int
str_is(json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s)
           && memcmp(json_string_value(v), s, strlen(s)) == 0;
}


/* absent, null, or <= 64 bytes of UTF-8 without U+0000-001F, U+007F-009F */

static int
label_ok(json_t *label)
{
    size_t                cp, i, n, len;
    const unsigned char  *s;

    if (label == NULL || json_is_null(label)) {
        return 1;
    }

    if (!json_is_string(label) || json_string_length(label) > LABEL_MAX) {
        return 0;
    }

    s = (const unsigned char *) json_string_value(label);
    len = json_string_length(label);

    /* jansson admits only valid UTF-8: decode it */

    for (i = 0; i < len; i += n) {
        if (s[i] < 0x80) {
            cp = s[i];
            n = 1;

        } else if (s[i] < 0xe0) {
            cp = ((s[i] & 0x1f) << 6) | (s[i + 1] & 0x3f);
            n = 2;

        } else if (s[i] < 0xf0) {
            cp = ((s[i] & 0x0f) << 12) | ((s[i + 1] & 0x3f) << 6)
                 | (s[i + 2] & 0x3f);
            n = 3;

        } else {
            cp = 0x10000;
            n = 4;
        }

        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)
            || (cp >= 0x2028 && cp <= 0x202e)
            || (cp >= 0x2066 && cp <= 0x2069))
        {
            return 0;
        }
    }

    return 1;
}


static int
is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}


static int
cmp_ids(const void *a, const void *b)
{
    int64_t  x, y;

    x = *(const int64_t *) a;
    y = *(const int64_t *) b;

    return (x > y) - (x < y);
}
