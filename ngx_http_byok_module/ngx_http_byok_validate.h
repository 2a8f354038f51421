
/*
 * Validation of the user API's JSON request bodies (SPEC §4.2-§4.5) and
 * the masked prefix of a key.  Plain C and jansson only, so that it can be
 * unit-tested and fuzzed without nginx; the API only reads the body, calls
 * these and answers with what they report.
 */


#ifndef _NGX_HTTP_BYOK_VALIDATE_H_INCLUDED_
#define _NGX_HTTP_BYOK_VALIDATE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ngx_http_byok_catalog.h"


/* the same limits as in ngx_http_byok.h (an identical redefinition) */
#define NGX_HTTP_BYOK_VALUE_MIN        16
#define NGX_HTTP_BYOK_VALUE_MAX        4096

#define NGX_HTTP_BYOK_MASK_PREFIX      8
#define NGX_HTTP_BYOK_MASK_SIZE        12      /* prefix, "***", NUL */
#define NGX_HTTP_BYOK_PRIORITY_MAX     1000000
#define NGX_HTTP_BYOK_ORDER_IDS_MAX    1000


/*
 * Why a body was refused, as the API answers it: the HTTP status (400, 422
 * or 501), the error code, the message and, for some 422s, the field.  The
 * strings are static, or point into the body or the catalog.
 */
typedef struct {
    int                              status;
    const char                      *code;
    const char                      *message;
    const char                      *field;     /* NULL: none */
} ngx_http_byok_invalid_t;


typedef struct {
    const ngx_http_byok_category_t  *category;
    const ngx_http_byok_provider_t  *provider;
    const unsigned char             *value;     /* trimmed, in the body */
    size_t                           value_len;
    unsigned char                   *raw;       /* the JSON string, set */
    size_t                           raw_len;   /* even on errors: wipe */
    const char                      *label;     /* NULL: no label */
    char                             masked[NGX_HTTP_BYOK_MASK_SIZE];
} ngx_http_byok_create_t;


typedef struct {
    const char                      *label;     /* NULL: kept, "": none */
    int64_t                          priority;
    unsigned                         set_priority:1;
    unsigned                         activate:1;  /* "status":"active" */
} ngx_http_byok_patch_t;


typedef struct {
    const ngx_http_byok_provider_t  *provider;
    size_t                           n;         /* ids[0..n) */
} ngx_http_byok_order_t;


/*
 * Parses a request body.  Returns the JSON object (the caller
 * json_decref()s it), or NULL with err set: 400 invalid_json for bad or
 * repeated members, 400 invalid_request for JSON that is not an object.
 * The body bytes are not changed; the caller wipes them.
 */
json_t *ngx_http_byok_parse_body(const unsigned char *p, size_t len,
    ngx_http_byok_invalid_t *err);

/*
 * POST: returns 0 with out set (pointers into body and c), or -1 with err
 * set.
 */
int ngx_http_byok_validate_create(json_t *body,
    const ngx_http_byok_catalog_t *c, ngx_http_byok_create_t *out,
    ngx_http_byok_invalid_t *err);

/* PATCH: returns 0 with out set (pointers into body), or -1 with err set */
int ngx_http_byok_validate_patch(json_t *body, ngx_http_byok_patch_t *out,
    ngx_http_byok_invalid_t *err);

/*
 * PUT order: returns 0 with the ids in ids[0..out->n), or -1 with err set.
 * max is the room in ids, NGX_HTTP_BYOK_ORDER_IDS_MAX for every valid body.
 */
int ngx_http_byok_validate_order(json_t *body,
    const ngx_http_byok_catalog_t *c, int64_t *ids, size_t max,
    ngx_http_byok_order_t *out, ngx_http_byok_invalid_t *err);

/* the first 8 bytes of value (fewer if shorter), "***" and a NUL */
void ngx_http_byok_mask(const unsigned char *value, size_t len, char *out);


#endif /* _NGX_HTTP_BYOK_VALIDATE_H_INCLUDED_ */
