
/*
 * Provider catalog (catalog/providers.json): parsing, validation and the
 * public view served by byok_catalog_api.  Plain C and jansson only, so it
 * can be unit-tested and fuzzed without nginx.
 */


#ifndef _NGX_HTTP_BYOK_CATALOG_H_INCLUDED_
#define _NGX_HTTP_BYOK_CATALOG_H_INCLUDED_


#include <stddef.h>


typedef struct {
    char                            *name;
    char                            *value;
} ngx_http_byok_catalog_header_t;


typedef struct ngx_http_byok_category_s  ngx_http_byok_category_t;


typedef struct {
    char                            *id;
    size_t                           id_len;
    char                            *name;
    ngx_http_byok_category_t        *category;
    unsigned                         api_key:1;         /* in auth_methods */
    unsigned                         oauth:1;           /* in auth_methods */
    unsigned                         oauth_available:1;
    char                            *oauth_notice;      /* NULL if absent */
    char                            *auth_header;       /* as written */
    char                            *auth_prefix;       /* may be "" */
    ngx_http_byok_catalog_header_t  *headers;
    size_t                           nheaders;
    char                            *test_method;       /* NULL: no test */
    char                            *test_url;          /* NULL: no test */
    char                            *key_hint;          /* NULL if absent */
    char                            *docs_url;          /* NULL if absent */
    size_t                           index;             /* in catalog order,
                                                           0 .. nproviders-1 */
} ngx_http_byok_provider_t;


struct ngx_http_byok_category_s {
    char                            *id;
    char                            *name;
    ngx_http_byok_provider_t        *providers;
    size_t                           nproviders;
};


typedef struct {
    ngx_http_byok_category_t        *categories;
    size_t                           ncategories;
    size_t                           nproviders;        /* in all categories */
    char                            *public_json;       /* NUL-terminated */
    size_t                           public_len;
    char                           **auth_headers;      /* lowercased */
    size_t                           nauth_headers;
} ngx_http_byok_catalog_t;


/*
 * Returns NULL on error and writes a one-line reason to err, either
 * "JSON.path: what is wrong" or "line L column C: JSON syntax error".
 * allow_insecure_urls admits http:// and loopback/private test URLs.
 */
ngx_http_byok_catalog_t *ngx_http_byok_catalog_parse(const char *text,
    size_t len, int allow_insecure_urls, char *err, size_t err_len);
void ngx_http_byok_catalog_free(ngx_http_byok_catalog_t *c);

const ngx_http_byok_provider_t *ngx_http_byok_catalog_provider(
    const ngx_http_byok_catalog_t *c, const char *id, size_t len);
const ngx_http_byok_category_t *ngx_http_byok_catalog_category(
    const ngx_http_byok_catalog_t *c, const char *id, size_t len);

/*
 * 1 if s[0..len) may be sent as an HTTP header value: non-empty, visible
 * ASCII, SP and HTAB only (no CR, LF, NUL, DEL, other controls or bytes
 * 0x80 and above), no leading or trailing whitespace.
 */
int ngx_http_byok_header_value_valid(const unsigned char *s, size_t len);

/* 1 if s[0..len) is an RFC 7230 token */
int ngx_http_byok_header_name_valid(const unsigned char *s, size_t len);

/*
 * 1 if a test request must not go to this address (network byte order):
 * loopback, private, link-local, shared, multicast, reserved; an IPv6
 * address that maps, embeds (NAT64) or is compatible with such an IPv4
 * address
 */
int ngx_http_byok_ipv4_internal(const unsigned char *a);
int ngx_http_byok_ipv6_internal(const unsigned char *a);


#endif /* _NGX_HTTP_BYOK_CATALOG_H_INCLUDED_ */
