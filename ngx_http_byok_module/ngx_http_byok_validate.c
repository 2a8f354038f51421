
/*
 * Validation of the user API's request bodies.  The checks run in a fixed
 * order and each refusal names one rule, so that a client always learns
 * about the same first problem of a body.
 */


#include <string.h>

#include <jansson.h>

#include "ngx_http_byok_store.h"
#include "ngx_http_byok_validate.h"


#define NGX_HTTP_BYOK_FIELD_NAME_MAX   64

#define ngx_http_byok_is_trimmed(c)                                          \
    ((c) == ' ' || (c) == '\t' || (c) == '\r' || (c) == '\n')


static int ngx_http_byok_invalid(ngx_http_byok_invalid_t *err, int status,
    const char *code, const char *message, const char *field);
static int ngx_http_byok_unknown_field(json_t *body, const char **allowed,
    ngx_http_byok_invalid_t *err);
static int ngx_http_byok_rentable(json_t *v, ngx_http_byok_invalid_t *err);
static int ngx_http_byok_label_valid(json_t *label);
static void ngx_http_byok_validate_wipe(void *p, size_t n);


static const char  *ngx_http_byok_create_fields[] = {
    "category", "provider", "auth_type", "label", "value", "rentable", NULL
};

static const char  *ngx_http_byok_patch_fields[] = {
    "label", "rotation_priority", "rentable", "status", NULL
};

static const char  *ngx_http_byok_order_fields[] = {
    "provider", "ids", NULL
};

static const char  ngx_http_byok_label_message[] =
    "label must be text of at most 64 bytes without control characters.";

static const char  ngx_http_byok_auth_type_message[] =
    "auth_type must be \"api_key\" or \"oauth\".";


json_t *
ngx_http_byok_parse_body(const unsigned char *p, size_t len,
    ngx_http_byok_invalid_t *err)
{
    json_t        *body;
    json_error_t   error;

    body = json_loadb((const char *) p, len,
                      JSON_REJECT_DUPLICATES|JSON_DECODE_ANY, &error);

    if (body == NULL) {
        ngx_http_byok_invalid(err, 400, "invalid_json",
                              strstr(error.text, "duplicate")
                              ? "The body repeats a JSON member."
                              : "The body is not valid JSON.", NULL);

        /* jansson quotes the text near a syntax error: it may be a key */

        ngx_http_byok_validate_wipe(&error, sizeof(json_error_t));

        return NULL;
    }

    if (!json_is_object(body)) {
        json_decref(body);
        ngx_http_byok_invalid(err, 400, "invalid_request",
                              "The body must be a JSON object.", NULL);
        return NULL;
    }

    return body;
}


int
ngx_http_byok_validate_create(json_t *body, const ngx_http_byok_catalog_t *c,
    ngx_http_byok_create_t *out, ngx_http_byok_invalid_t *err)
{
    json_t                          *v, *label;
    const char                      *auth_type;
    const unsigned char             *p, *last;
    const ngx_http_byok_category_t  *category;
    const ngx_http_byok_provider_t  *provider;

    memset(out, 0, sizeof(ngx_http_byok_create_t));

    /* whatever is refused below, the caller can wipe the key it was sent */

    v = json_object_get(body, "value");

    if (json_is_string(v)) {
        out->raw = (unsigned char *) json_string_value(v);
        out->raw_len = json_string_length(v);
    }

    if (ngx_http_byok_unknown_field(body, ngx_http_byok_create_fields, err)
        != 0)
    {
        return -1;
    }

    v = json_object_get(body, "category");

    category = json_is_string(v)
               ? ngx_http_byok_catalog_category(c, json_string_value(v),
                                                json_string_length(v))
               : NULL;

    if (category == NULL) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "category must be one of the "
                                     "catalog's categories.", "category");
    }

    v = json_object_get(body, "provider");

    provider = json_is_string(v)
               ? ngx_http_byok_catalog_provider(c, json_string_value(v),
                                                json_string_length(v))
               : NULL;

    if (provider == NULL || provider->category != category) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "provider must be a provider of the "
                                     "chosen category.", "provider");
    }

    v = json_object_get(body, "auth_type");

    if (v != NULL) {
        if (!json_is_string(v)) {
            return ngx_http_byok_invalid(err, 422, "validation_failed",
                                         ngx_http_byok_auth_type_message,
                                         "auth_type");
        }

        auth_type = json_string_value(v);

        if (strcmp(auth_type, "oauth") == 0) {
            if (provider->oauth && !provider->oauth_available) {
                return ngx_http_byok_invalid(err, 501, "oauth_not_available",
                                             provider->oauth_notice
                                             ? provider->oauth_notice
                                             : "OAuth is not available yet.",
                                             NULL);
            }

            return ngx_http_byok_invalid(err, 422, "validation_failed",
                                         "This provider accepts API keys "
                                         "only.", "auth_type");
        }

        if (strcmp(auth_type, "api_key") != 0) {
            return ngx_http_byok_invalid(err, 422, "validation_failed",
                                         ngx_http_byok_auth_type_message,
                                         "auth_type");
        }
    }

    if (ngx_http_byok_rentable(json_object_get(body, "rentable"), err) != 0) {
        return -1;
    }

    v = json_object_get(body, "value");

    if (!json_is_string(v)) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "value must be the key as a string.",
                                     "value");
    }

    p = (const unsigned char *) json_string_value(v);
    last = p + json_string_length(v);

    while (p < last && ngx_http_byok_is_trimmed(*p)) {
        p++;
    }

    while (last > p && ngx_http_byok_is_trimmed(last[-1])) {
        last--;
    }

    out->value = p;
    out->value_len = last - p;

    if (out->value_len < NGX_HTTP_BYOK_VALUE_MIN
        || out->value_len > NGX_HTTP_BYOK_VALUE_MAX)
    {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "value must be 16 to 4096 characters "
                                     "long.", "value");
    }

    for ( /* void */ ; p < last; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            return ngx_http_byok_invalid(err, 422, "validation_failed",
                                         "value may contain printable ASCII "
                                         "characters only, without spaces.",
                                         "value");
        }
    }

    label = json_object_get(body, "label");

    if (!ngx_http_byok_label_valid(label)) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     ngx_http_byok_label_message, "label");
    }

    out->category = category;
    out->provider = provider;

    if (json_is_string(label) && json_string_length(label) > 0) {
        out->label = json_string_value(label);
    }

    ngx_http_byok_mask(out->value, out->value_len, out->masked);

    return 0;
}


int
ngx_http_byok_validate_patch(json_t *body, ngx_http_byok_patch_t *out,
    ngx_http_byok_invalid_t *err)
{
    json_t  *label, *prio, *rentable, *status;

    memset(out, 0, sizeof(ngx_http_byok_patch_t));

    if (ngx_http_byok_unknown_field(body, ngx_http_byok_patch_fields, err)
        != 0)
    {
        return -1;
    }

    label = json_object_get(body, "label");
    prio = json_object_get(body, "rotation_priority");
    rentable = json_object_get(body, "rentable");
    status = json_object_get(body, "status");

    /* "status":"active" re-enables a key the provider refused */

    if (status != NULL
        && (!json_is_string(status)
            || strcmp(json_string_value(status), "active") != 0))
    {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "status can only be set to "
                                     "\"active\".", "status");
    }

    if (ngx_http_byok_rentable(rentable, err) != 0) {
        return -1;
    }

    if (label == NULL && prio == NULL && rentable == NULL && status == NULL) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "Send label and/or rotation_priority.",
                                     NULL);
    }

    if (label != NULL && !ngx_http_byok_label_valid(label)) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     ngx_http_byok_label_message, "label");
    }

    if (prio != NULL
        && (!json_is_integer(prio) || json_integer_value(prio) < 0
            || json_integer_value(prio) > NGX_HTTP_BYOK_PRIORITY_MAX))
    {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "rotation_priority must be an integer "
                                     "from 0 to 1000000.",
                                     "rotation_priority");
    }

    if (label != NULL) {
        out->label = json_is_string(label) ? json_string_value(label) : "";
    }

    if (prio != NULL) {
        out->priority = json_integer_value(prio);
        out->set_priority = 1;
    }

    out->activate = (status != NULL);

    return 0;
}


int
ngx_http_byok_validate_order(json_t *body, const ngx_http_byok_catalog_t *c,
    int64_t *ids, size_t max, ngx_http_byok_order_t *out,
    ngx_http_byok_invalid_t *err)
{
    size_t                           i, j, n;
    json_t                          *v, *list, *id;
    const ngx_http_byok_provider_t  *provider;

    memset(out, 0, sizeof(ngx_http_byok_order_t));

    if (ngx_http_byok_unknown_field(body, ngx_http_byok_order_fields, err)
        != 0)
    {
        return -1;
    }

    v = json_object_get(body, "provider");

    provider = json_is_string(v)
               ? ngx_http_byok_catalog_provider(c, json_string_value(v),
                                                json_string_length(v))
               : NULL;

    if (provider == NULL) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "provider must be a catalog provider.",
                                     "provider");
    }

    list = json_object_get(body, "ids");
    n = json_array_size(list);

    if (!json_is_array(list) || n == 0 || n > NGX_HTTP_BYOK_ORDER_IDS_MAX
        || n > max)
    {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "ids must be a non-empty array of key "
                                     "ids.", "ids");
    }

    json_array_foreach(list, i, id) {
        if (!json_is_integer(id) || json_integer_value(id) <= 0) {
            return ngx_http_byok_invalid(err, 422, "validation_failed",
                                         "ids must be positive integer key "
                                         "ids.", "ids");
        }

        ids[i] = json_integer_value(id);

        for (j = 0; j < i; j++) {
            if (ids[j] == ids[i]) {
                return ngx_http_byok_invalid(err, 422, "validation_failed",
                                             "ids must not repeat a key.",
                                             "ids");
            }
        }
    }

    out->provider = provider;
    out->n = n;

    return 0;
}


void
ngx_http_byok_mask(const unsigned char *value, size_t len, char *out)
{
    if (len > NGX_HTTP_BYOK_MASK_PREFIX) {
        len = NGX_HTTP_BYOK_MASK_PREFIX;
    }

    memcpy(out, value, len);
    memcpy(out + len, "***", sizeof("***"));
}


static int
ngx_http_byok_invalid(ngx_http_byok_invalid_t *err, int status,
    const char *code, const char *message, const char *field)
{
    err->status = status;
    err->code = code;
    err->message = message;
    err->field = field;

    return -1;
}


/* refuses the first member of body not in allowed */

static int
ngx_http_byok_unknown_field(json_t *body, const char **allowed,
    ngx_http_byok_invalid_t *err)
{
    json_t       *v;
    const char   *name, **a;

    json_object_foreach(body, name, v) {
        for (a = allowed; *a; a++) {
            if (strcmp(name, *a) == 0) {
                break;
            }
        }

        if (*a == NULL) {
            return ngx_http_byok_invalid(err, 422, "validation_failed",
                                         "Unknown field.",
                                         strlen(name)
                                         <= NGX_HTTP_BYOK_FIELD_NAME_MAX
                                         ? name : "(field)");
        }
    }

    return 0;
}


/* "rentable" may be absent or false (SPEC §4.5) */

static int
ngx_http_byok_rentable(json_t *v, ngx_http_byok_invalid_t *err)
{
    if (v != NULL && !json_is_boolean(v)) {
        return ngx_http_byok_invalid(err, 422, "validation_failed",
                                     "rentable must be false.", "rentable");
    }

    if (json_is_true(v)) {
        return ngx_http_byok_invalid(err, 501, "rentable_not_available",
                                     "Renting keys out is coming soon.",
                                     NULL);
    }

    return 0;
}


/* absent, null, or at most 64 bytes of text without control characters */

static int
ngx_http_byok_label_valid(json_t *label)
{
    const unsigned char  *p, *last;

    if (label == NULL || json_is_null(label)) {
        return 1;
    }

    if (!json_is_string(label)
        || json_string_length(label) > NGX_HTTP_BYOK_LABEL_MAX)
    {
        return 0;
    }

    p = (const unsigned char *) json_string_value(label);
    last = p + json_string_length(label);

    /*
     * jansson has checked UTF-8; refuse C0, DEL and C1 controls, and the
     * format characters that make a label display as something else in the
     * cabinet: U+2028/U+2029 (line breaks), U+202A-U+202E and U+2066-U+2069
     * (bidirectional overrides and isolates), as E2 80 A8-AE, E2 81 A6-A9.
     */

    for ( /* void */ ; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f
            || (*p == 0xc2 && p + 1 < last && p[1] >= 0x80 && p[1] <= 0x9f))
        {
            return 0;
        }

        if (*p == 0xe2 && p + 2 < last
            && ((p[1] == 0x80 && p[2] >= 0xa8 && p[2] <= 0xae)
                || (p[1] == 0x81 && p[2] >= 0xa6 && p[2] <= 0xa9)))
        {
            return 0;
        }
    }

    return 1;
}


/* a plain memset() of a buffer about to go out of scope may be dropped */

static void
ngx_http_byok_validate_wipe(void *p, size_t n)
{
    volatile unsigned char  *v;

    for (v = p; n > 0; n--) {
        *v++ = 0;
    }
}
