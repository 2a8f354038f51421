
/*
 * Unit tests of the provider catalog parser.
 *
 *   cc -I ngx_http_byok_module t/unit/test_catalog.c \
 *      ngx_http_byok_module/ngx_http_byok_catalog.c -ljansson
 *   ./a.out [catalog/providers.json]      (or BYOK_CATALOG=...)
 */


#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <ngx_http_byok_catalog.h>

#include "tap.h"


#define ERR_LEN  512

#define CATALOG(providers)                                                   \
    "{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\",\"providers\":["     \
    providers "]}]}"

#define P_ID       "\"id\":\"acme\""
#define P_NAME     "\"name\":\"Acme\""
#define P_METHODS  "\"auth_methods\":[\"api_key\"]"
#define P_AUTH                                                               \
    "\"auth\":{\"header\":\"Authorization\",\"prefix\":\"Bearer \"}"
#define P_TEST                                                               \
    "\"test\":{\"method\":\"GET\",\"url\":\"https://api.acme.test/v1/me\"}"

/* a valid provider with one more member, or with one member replaced */
#define PROVIDER_WITH(extra)                                                 \
    "{" P_ID "," P_NAME "," P_METHODS "," P_AUTH "," P_TEST extra "}"
#define PROVIDER_AUTH(auth)                                                  \
    "{" P_ID "," P_NAME "," P_METHODS ",\"auth\":" auth "," P_TEST "}"
#define PROVIDER_TEST(test)                                                  \
    "{" P_ID "," P_NAME "," P_METHODS "," P_AUTH ",\"test\":" test "}"
#define PROVIDER_METHODS(methods)                                            \
    "{" P_ID "," P_NAME ",\"auth_methods\":" methods "," P_AUTH "," P_TEST "}"

#define MINIMAL    CATALOG(PROVIDER_WITH(""))

#define PATH       "categories[0].providers[0]"

#define A16        "aaaaaaaaaaaaaaaa"


static ngx_http_byok_catalog_t *parse(const char *text, int insecure,
    char *err);
static void passes(const char *text, int insecure, const char *name);
static void fails(const char *text, int insecure, const char *expect,
    const char *name);
static void url_passes(const char *url, int insecure, const char *name);
static void url_fails(const char *url, int insecure, const char *expect,
    const char *name);
static void value_is(const char *s, size_t len, int expect,
    const char *name);
static void name_is(const char *s, size_t len, int expect,
    const char *name);
static char *read_file(const char *path, size_t *len);

static void test_minimal(void);
static void test_full_provider(void);
static void test_public_json(void);
static void test_json_errors(void);
static void test_structure(void);
static void test_ids(void);
static void test_auth(void);
static void test_oauth(void);
static void test_headers(void);
static void test_test(void);
static void test_urls(void);
static void test_addresses(void);
static void test_optional(void);
static void test_header_checks(void);
static void test_shipped(const char *path);


int
main(int argc, char **argv)
{
    const char  *path;

    path = (argc > 1) ? argv[1] : getenv("BYOK_CATALOG");

    test_minimal();
    test_full_provider();
    test_public_json();
    test_json_errors();
    test_structure();
    test_ids();
    test_auth();
    test_oauth();
    test_headers();
    test_test();
    test_urls();
    test_addresses();
    test_optional();
    test_header_checks();
    test_shipped(path);

    return done_testing();
}


static void
test_minimal(void)
{
    char                             err[ERR_LEN];
    ngx_http_byok_catalog_t         *c;
    const ngx_http_byok_category_t  *cat;
    const ngx_http_byok_provider_t  *p;

    c = parse(MINIMAL, 0, err);
    ok(c != NULL, "minimal catalog parses");

    if (c == NULL) {
        printf("#   %s\n", err);
        return;
    }

    is_int(c->ncategories, 1, "minimal: one category");
    is_int(c->nproviders, 1, "minimal: one provider");

    cat = ngx_http_byok_catalog_category(c, "llm", 3);
    ok(cat == &c->categories[0], "category lookup by id");
    ok(ngx_http_byok_catalog_category(c, "ll", 2) == NULL,
       "category lookup needs the whole id");

    p = ngx_http_byok_catalog_provider(c, "acmeX", 4);
    ok(p == &c->categories[0].providers[0], "provider lookup by id and length");
    ok(ngx_http_byok_catalog_provider(c, "acm", 3) == NULL,
       "provider lookup needs the whole id");
    ok(ngx_http_byok_catalog_provider(c, "llm", 3) == NULL,
       "a category id is not a provider id");

    if (p != NULL) {
        ok(p->category == cat, "provider points to its category");
        is_str(p->name, "Acme", "provider name");
        ok(p->api_key && !p->oauth && !p->oauth_available,
           "auth method flags");
        is_str(p->auth_header, "Authorization", "auth header kept as written");
        is_str(p->auth_prefix, "Bearer ", "auth prefix kept with its space");
        is_str(p->test_method, "GET", "test method");
        is_str(p->test_url, "https://api.acme.test/v1/me", "test url");
        ok(p->headers == NULL && p->nheaders == 0, "no extra headers");
        ok(p->oauth_notice == NULL && p->key_hint == NULL
           && p->docs_url == NULL, "absent optional fields are NULL");
    }

    is_int(c->nauth_headers, 1, "one auth header name");
    is_str(c->nauth_headers ? c->auth_headers[0] : NULL, "authorization",
           "auth header names are lowercased");

    ngx_http_byok_catalog_free(c);
    ngx_http_byok_catalog_free(NULL);
}


static void
test_full_provider(void)
{
    char                             err[ERR_LEN];
    ngx_http_byok_catalog_t         *c;
    const ngx_http_byok_provider_t  *p;

    c = parse("{\"categories\":["
              "{\"id\":\"llm\",\"name\":\"LLM\",\"providers\":["
              "{\"id\":\"anthropic\",\"name\":\"Anthropic\","
              "\"auth_methods\":[\"api_key\",\"oauth\"],"
              "\"oauth\":{\"available\":false,"
              "\"notice\":\"OAuth Max \\u2014 coming soon\"},"
              "\"auth\":{\"header\":\"x-api-key\",\"prefix\":\"\"},"
              "\"headers\":{\"anthropic-version\":\"2023-06-01\"},"
              "\"test\":{\"method\":\"GET\","
              "\"url\":\"https://api.anthropic.com/v1/models\"},"
              "\"key_hint\":\"sk-ant-\","
              "\"docs_url\":\"https://console.anthropic.com/settings/keys\"},"
              "{\"id\":\"openai\",\"name\":\"OpenAI\","
              "\"auth_methods\":[\"api_key\"],"
              "\"auth\":{\"header\":\"Authorization\",\"prefix\":\"Bearer \"},"
              "\"test\":{\"method\":\"GET\","
              "\"url\":\"https://api.openai.com/v1/models\"}}]},"
              "{\"id\":\"audio\",\"name\":\"Audio\",\"providers\":["
              "{\"id\":\"cartesia\",\"name\":\"Cartesia\","
              "\"auth_methods\":[\"api_key\"],"
              "\"auth\":{\"header\":\"X-API-Key\",\"prefix\":\"\"},"
              "\"test\":null},"
              "{\"id\":\"elevenlabs\",\"name\":\"ElevenLabs\","
              "\"auth_methods\":[\"api_key\"],"
              "\"auth\":{\"header\":\"xi-api-key\",\"prefix\":\"\"},"
              "\"test\":{\"method\":\"HEAD\","
              "\"url\":\"https://api.elevenlabs.io/v1/user\"}}]},"
              "{\"id\":\"empty\",\"name\":\"Nothing yet\",\"providers\":[]}]}",
              0, err);

    ok(c != NULL, "catalog in the shape of SPEC section 6 parses");

    if (c == NULL) {
        printf("#   %s\n", err);
        return;
    }

    is_int(c->ncategories, 3, "three categories");
    is_int(c->nproviders, 4, "four providers");
    is_int(c->categories[2].nproviders, 0, "a category may be empty");

    p = ngx_http_byok_catalog_provider(c, "anthropic", 9);

    if (p != NULL) {
        ok(p->api_key && p->oauth && !p->oauth_available,
           "anthropic: api_key and unavailable oauth");
        is_str(p->oauth_notice, "OAuth Max \xe2\x80\x94 coming soon",
               "anthropic: oauth notice in UTF-8");
        is_str(p->auth_header, "x-api-key", "anthropic: auth header");
        is_str(p->auth_prefix, "", "anthropic: empty prefix");
        is_int(p->nheaders, 1, "anthropic: one extra header");
        is_str(p->nheaders ? p->headers[0].name : NULL, "anthropic-version",
               "anthropic: extra header name");
        is_str(p->nheaders ? p->headers[0].value : NULL, "2023-06-01",
               "anthropic: extra header value");
        is_str(p->key_hint, "sk-ant-", "anthropic: key hint");
        is_str(p->docs_url, "https://console.anthropic.com/settings/keys",
               "anthropic: docs url");

    } else {
        ok(0, "anthropic found");
    }

    p = ngx_http_byok_catalog_provider(c, "cartesia", 8);
    ok(p != NULL && p->test_method == NULL && p->test_url == NULL,
       "\"test\": null leaves method and url NULL");
    ok(p != NULL && p->category == &c->categories[1],
       "cartesia belongs to the audio category");

    p = ngx_http_byok_catalog_provider(c, "elevenlabs", 10);
    is_str(p != NULL ? p->test_method : NULL, "HEAD", "HEAD test method");

    /* x-api-key and X-API-Key are one header */

    is_int(c->nauth_headers, 3, "auth header names are distinct");

    if (c->nauth_headers == 3) {
        is_str(c->auth_headers[0], "x-api-key", "first auth header");
        is_str(c->auth_headers[1], "authorization", "second auth header");
        is_str(c->auth_headers[2], "xi-api-key", "third auth header");
    }

    ok(c->public_json != NULL
       && strstr(c->public_json,
                 "{\"id\":\"anthropic\",\"name\":\"Anthropic\","
                 "\"auth_methods\":[\"api_key\",\"oauth\"],"
                 "\"oauth\":{\"available\":false,"
                 "\"notice\":\"OAuth Max \xe2\x80\x94 coming soon\"},"
                 "\"key_hint\":\"sk-ant-\","
                 "\"docs_url\":\"https://console.anthropic.com/settings/keys\","
                 "\"testable\":true}")
          != NULL,
       "public json: provider with oauth, key hint and docs url");
    ok(c->public_json != NULL
       && strstr(c->public_json,
                 "{\"id\":\"cartesia\",\"name\":\"Cartesia\","
                 "\"auth_methods\":[\"api_key\"],\"testable\":false}")
          != NULL,
       "public json: provider without a test is not testable");
    ok(c->public_json != NULL
       && strstr(c->public_json, "\"x-api-key\"") == NULL
       && strstr(c->public_json, "\"xi-api-key\"") == NULL
       && strstr(c->public_json, "anthropic-version") == NULL
       && strstr(c->public_json, "2023-06-01") == NULL
       && strstr(c->public_json, "api.openai.com") == NULL
       && strstr(c->public_json, "HEAD") == NULL,
       "public json: no header names, extra headers, test urls or methods");

    ngx_http_byok_catalog_free(c);
}


static void
test_public_json(void)
{
    char                      err[ERR_LEN];
    ngx_http_byok_catalog_t  *c;

    c = parse(MINIMAL, 0, err);

    if (c == NULL) {
        ok(0, "minimal catalog parses");
        return;
    }

    is_str(c->public_json,
           "{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\",\"providers\":"
           "[{\"id\":\"acme\",\"name\":\"Acme\",\"auth_methods\":[\"api_key\"],"
           "\"testable\":true}]}]}",
           "public json of the minimal catalog, compact, in fixed order");
    is_int(c->public_len, strlen(c->public_json), "public_len");
    ok(strstr(c->public_json, "\"url\"") == NULL
       && strstr(c->public_json, "\"header\"") == NULL
       && strstr(c->public_json, "\"headers\"") == NULL
       && strstr(c->public_json, "\"prefix\"") == NULL
       && strstr(c->public_json, "\"method\"") == NULL
       && strstr(c->public_json, "\"test\"") == NULL
       && strstr(c->public_json, "Bearer") == NULL,
       "public json has no url, header, prefix, method or test");

    ngx_http_byok_catalog_free(c);

    /* member order in the file does not change the output */

    c = parse("{\"categories\":[{\"providers\":[{\"test\":null,"
              "\"auth\":{\"prefix\":\"\",\"header\":\"X-Key\"},"
              "\"auth_methods\":[\"oauth\",\"api_key\"],"
              "\"oauth\":{\"notice\":\"soon\",\"available\":true},"
              "\"name\":\"B\",\"id\":\"b\"}],\"name\":\"N\",\"id\":\"n\"}]}",
              0, err);

    is_str(c != NULL ? c->public_json : err,
           "{\"categories\":[{\"id\":\"n\",\"name\":\"N\",\"providers\":"
           "[{\"id\":\"b\",\"name\":\"B\",\"auth_methods\":[\"api_key\","
           "\"oauth\"],\"oauth\":{\"available\":true,\"notice\":\"soon\"},"
           "\"testable\":false}]}]}",
           "public json order does not follow the file");

    ngx_http_byok_catalog_free(c);

    c = parse(CATALOG("{" P_ID "," P_NAME ",\"auth_methods\":[\"oauth\"],"
                      P_AUTH "," P_TEST "}"), 0, err);

    ok(c != NULL && c->categories[0].providers[0].oauth
       && !c->categories[0].providers[0].api_key,
       "oauth may be the only method");
    ok(c != NULL && strstr(c->public_json,
                           "\"auth_methods\":[\"oauth\"],"
                           "\"oauth\":{\"available\":false},") != NULL,
       "oauth without an oauth object is shown as unavailable");

    ngx_http_byok_catalog_free(c);
}


static void
test_json_errors(void)
{
    char                      err[ERR_LEN];
    ngx_http_byok_catalog_t  *c;
    static const char         nul[] = "{\"categories\":[{\"id\":\"a\0b\"}]}";

    fails("{\"categories\":[{\"id\":\"llm\",\n\"name\":\"LLM\",\n"
          "\"id\":\"x\",\"providers\":[]}]}", 0,
          "line 3 column", "duplicate JSON member: line and column");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\",\"id\":\"x\","
          "\"providers\":[]}]}", 0,
          "duplicate object key", "duplicate JSON member is refused");
    fails("{\"categories\": [", 0, "line 1 column", "truncated JSON");
    fails("", 0, "line 1 column 0", "empty input");
    fails("{\"categories\":[]} x", 0, "end of file expected",
          "trailing garbage");
    c = ngx_http_byok_catalog_parse(nul, sizeof(nul) - 1, 0, err,
                                    sizeof(err));
    ok(c == NULL && strstr(err, "line 1 column") != NULL,
       "raw NUL inside the text");
    ngx_http_byok_catalog_free(c);
    fails("{\"categories\":[{\"id\":\"\\u0000\"}]}", 0, "\\u0000",
          "escaped NUL in a string");
    fails("{\"categories\":[{\"id\":\"\xff\"}]}", 0,
          "unable to decode byte 0xff",
          "invalid UTF-8");
    fails("[]", 0, "catalog: must be a JSON object", "top level array");

    c = parse("{\"categories\":[{\"id\":\"a\",\"n\x01\":1}]}", 0, err);
    ok(c == NULL && strchr(err, '\x01') == NULL && strchr(err, '\n') == NULL,
       "error messages stay on one printable line");
    ngx_http_byok_catalog_free(c);

    /* a small err buffer is filled and terminated, a NULL one is fine */

    c = ngx_http_byok_catalog_parse("[]", 2, 0, err, 8);
    ok(c == NULL && strcmp(err, "catalog") == 0, "error is truncated");
    ok(ngx_http_byok_catalog_parse("[]", 2, 0, NULL, 0) == NULL,
       "err may be NULL");
    ok(ngx_http_byok_catalog_parse("{}x", 2, 0, err, sizeof(err)) == NULL
       && strstr(err, "categories: is required") != NULL,
       "only len bytes are read");
}


static void
test_structure(void)
{
    fails("{\"categories\":[],\"version\":1}", 0,
          "version: unknown field", "unknown top level field");
    fails("{}", 0, "categories: is required", "categories is required");
    fails("{\"categories\":[]}", 0, "categories: must be a non-empty array",
          "categories must not be empty");
    fails("{\"categories\":{}}", 0, "categories: must be a non-empty array",
          "categories must be an array");
    fails("{\"categories\":[1]}", 0, "categories[0]: must be an object",
          "a category must be an object");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\","
          "\"providers\":[],\"icon\":\"x\"}]}", 0,
          "categories[0].icon: unknown field", "unknown category field");
    fails("{\"categories\":[{\"name\":\"LLM\",\"providers\":[]}]}", 0,
          "categories[0].id: is required", "category id is required");
    fails("{\"categories\":[{\"id\":\"llm\",\"providers\":[]}]}", 0,
          "categories[0].name: is required", "category name is required");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":\"\",\"providers\":[]}]}",
          0, "categories[0].name: must be a non-empty string",
          "category name must not be empty");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":7,\"providers\":[]}]}",
          0, "categories[0].name: must be a string",
          "category name must be a string");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":\"L\\tM\","
          "\"providers\":[]}]}", 0,
          "categories[0].name: must be a non-empty string without control",
          "category name without control characters");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\"}]}", 0,
          "categories[0].providers: is required", "providers is required");
    fails("{\"categories\":[{\"id\":\"llm\",\"name\":\"LLM\","
          "\"providers\":{}}]}", 0,
          "categories[0].providers: must be an array",
          "providers must be an array");
    fails(CATALOG("[]"), 0, PATH ": must be an object",
          "a provider must be an object");
    fails(CATALOG(PROVIDER_WITH(",\"region\":\"eu\"")), 0,
          PATH ".region: unknown field", "unknown provider field");
    fails(CATALOG("{" P_NAME "," P_METHODS "," P_AUTH "," P_TEST "}"), 0,
          PATH ".id: is required", "provider id is required");
    fails(CATALOG("{" P_ID "," P_METHODS "," P_AUTH "," P_TEST "}"), 0,
          PATH ".name: is required", "provider name is required");
    fails(CATALOG("{" P_ID ",\"name\":\"\"," P_METHODS "," P_AUTH ","
                  P_TEST "}"), 0,
          PATH ".name: must be a non-empty string",
          "provider name must not be empty");
    fails(CATALOG("{" P_ID "," P_NAME "," P_AUTH "," P_TEST "}"), 0,
          PATH ".auth_methods: is required", "auth_methods is required");
    fails(CATALOG("{" P_ID "," P_NAME "," P_METHODS "," P_TEST "}"), 0,
          PATH ".auth: is required", "auth is required");
    fails(CATALOG("{" P_ID "," P_NAME "," P_METHODS "," P_AUTH "}"), 0,
          PATH ".test: is required", "test is required");
    fails(CATALOG(PROVIDER_WITH("") "," "{\"id\":\"b\"," P_NAME ","
                  P_METHODS "," P_AUTH "," P_TEST ",\"x\":1}"), 0,
          "categories[0].providers[1].x: unknown field",
          "the path names the right array element");
    fails(CATALOG(PROVIDER_WITH(",\"n\\u00e9\\nw\":1")), 0,
          PATH ".n???w: unknown field",
          "unknown field names are printed safely");
}


static void
test_ids(void)
{
    passes("{\"categories\":[{\"id\":\"a-0\",\"name\":\"A\","
           "\"providers\":[]}]}", 0, "category id of a-z, 0-9 and -");
    passes("{\"categories\":[{\"id\":\"" A16 A16 "\","
           "\"name\":\"A\",\"providers\":[]}]}", 0, "category id of 32");
    fails("{\"categories\":[{\"id\":\"" A16 A16 "a\","
          "\"name\":\"A\",\"providers\":[]}]}", 0,
          "categories[0].id: must be 1-32 characters",
          "category id of 33 is refused");
    fails("{\"categories\":[{\"id\":\"LLM\",\"name\":\"A\",\"providers\":[]}]}",
          0, "categories[0].id: must be 1-32 characters of a-z, 0-9 and -",
          "uppercase category id is refused");
    fails("{\"categories\":[{\"id\":\"\",\"name\":\"A\",\"providers\":[]}]}",
          0, "categories[0].id: must be 1-32", "empty category id");
    fails("{\"categories\":[{\"id\":1,\"name\":\"A\",\"providers\":[]}]}",
          0, "categories[0].id: must be a string", "numeric category id");
    fails("{\"categories\":[{\"id\":\"a\",\"name\":\"A\",\"providers\":[]},"
          "{\"id\":\"a\",\"name\":\"B\",\"providers\":[]}]}", 0,
          "categories[1].id: duplicate category id \"a\" "
          "(also categories[0])", "duplicate category id");

    passes(CATALOG("{\"id\":\"" A16 A16 A16 A16 "\"," P_NAME "," P_METHODS
                   "," P_AUTH "," P_TEST "}"), 0, "provider id of 64");
    fails(CATALOG("{\"id\":\"" A16 A16 A16 A16 "a\"," P_NAME "," P_METHODS
                  "," P_AUTH "," P_TEST "}"), 0,
          PATH ".id: must be 1-64 characters of a-z, 0-9 and -",
          "provider id of 65 is refused");
    fails(CATALOG("{\"id\":\"open_ai\"," P_NAME "," P_METHODS "," P_AUTH ","
                  P_TEST "}"), 0, PATH ".id: must be 1-64",
          "provider id with _ is refused");
    fails(CATALOG("{\"id\":\"OpenAI\"," P_NAME "," P_METHODS "," P_AUTH ","
                  P_TEST "}"), 0, PATH ".id: must be 1-64",
          "uppercase provider id is refused");
    fails(CATALOG(PROVIDER_WITH("") "," PROVIDER_WITH("")), 0,
          "categories[0].providers[1].id: duplicate provider id \"acme\" "
          "(also categories[0].providers[0])",
          "duplicate provider id in one category");
    fails("{\"categories\":["
          "{\"id\":\"llm\",\"name\":\"LLM\",\"providers\":["
          PROVIDER_WITH("") "]},"
          "{\"id\":\"audio\",\"name\":\"Audio\",\"providers\":["
          "{\"id\":\"tts\"," P_NAME "," P_METHODS "," P_AUTH "," P_TEST "},"
          PROVIDER_WITH("") "]}]}", 0,
          "categories[1].providers[1].id: duplicate provider id \"acme\" "
          "(also categories[0].providers[0])",
          "duplicate provider id across categories");
}


static void
test_auth(void)
{
    fails(CATALOG(PROVIDER_METHODS("[]")), 0,
          PATH ".auth_methods: must be a non-empty array",
          "auth_methods must not be empty");
    fails(CATALOG(PROVIDER_METHODS("\"api_key\"")), 0,
          PATH ".auth_methods: must be a non-empty array",
          "auth_methods must be an array");
    fails(CATALOG(PROVIDER_METHODS("[\"api_key\",\"password\"]")), 0,
          PATH ".auth_methods[1]: must be \"api_key\" or \"oauth\"",
          "unknown auth method");
    fails(CATALOG(PROVIDER_METHODS("[null]")), 0,
          PATH ".auth_methods[0]: must be \"api_key\" or \"oauth\"",
          "auth method must be a string");
    fails(CATALOG(PROVIDER_METHODS("[\"api_key\",\"api_key\"]")), 0,
          PATH ".auth_methods[1]: duplicate method \"api_key\"",
          "auth methods are unique");

    fails(CATALOG(PROVIDER_AUTH("\"Bearer\"")), 0,
          PATH ".auth: must be an object", "auth must be an object");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":\"\","
                                "\"scheme\":\"b\"}")), 0,
          PATH ".auth.scheme: unknown field", "unknown auth field");
    fails(CATALOG(PROVIDER_AUTH("{\"prefix\":\"\"}")), 0,
          PATH ".auth.header: is required", "auth header is required");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\"}")), 0,
          PATH ".auth.prefix: is required", "auth prefix is required");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"x api key\",\"prefix\":\"\"}")),
          0, PATH ".auth.header: must be a header name",
          "auth header with spaces");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"x-key:\",\"prefix\":\"\"}")),
          0, PATH ".auth.header: must be a header name",
          "auth header with a colon");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"\",\"prefix\":\"\"}")),
          0, PATH ".auth.header: must be a header name", "empty auth header");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"Host\",\"prefix\":\"\"}")),
          0, PATH ".auth.header: must not be a hop-by-hop or framing header",
          "auth header Host is refused");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":1}")),
          0, PATH ".auth.prefix: must be a string", "prefix must be a string");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":\"Bearer  \"}")),
          0, PATH ".auth.prefix: must be header value characters, "
          "optionally ending in one space", "prefix with two trailing spaces");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":\" \"}")),
          0, PATH ".auth.prefix: must be header value",
          "prefix of a single space");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":\" Bearer \"}")),
          0, PATH ".auth.prefix: must be header value",
          "prefix with a leading space");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\","
                                "\"prefix\":\"Bearer\\r\\n\"}")),
          0, PATH ".auth.prefix: must be header value", "prefix with CRLF");
    fails(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":\"Bearer\\t\"}")),
          0, PATH ".auth.prefix: must be header value",
          "prefix ending in a tab");
    passes(CATALOG(PROVIDER_AUTH("{\"header\":\"a\",\"prefix\":\"Token=\"}")),
           0, "prefix without a trailing space");
}


static void
test_oauth(void)
{
    passes(CATALOG(PROVIDER_METHODS("[\"api_key\",\"oauth\"]")), 0,
           "the oauth object is optional");
    fails(CATALOG(PROVIDER_WITH(",\"oauth\":{\"available\":false}")), 0,
          PATH ".oauth: only allowed when auth_methods has \"oauth\"",
          "oauth object without the oauth method");
    fails(CATALOG("{" P_ID "," P_NAME ",\"auth_methods\":[\"oauth\"],"
                  P_AUTH "," P_TEST ",\"oauth\":[]}"), 0,
          PATH ".oauth: must be an object", "oauth must be an object");
    fails(CATALOG("{" P_ID "," P_NAME ",\"auth_methods\":[\"oauth\"],"
                  P_AUTH "," P_TEST ",\"oauth\":{\"notice\":\"x\"}}"), 0,
          PATH ".oauth.available: is required", "oauth.available is required");
    fails(CATALOG("{" P_ID "," P_NAME ",\"auth_methods\":[\"oauth\"],"
                  P_AUTH "," P_TEST ",\"oauth\":{\"available\":\"no\"}}"), 0,
          PATH ".oauth.available: must be true or false",
          "oauth.available must be a boolean");
    fails(CATALOG("{" P_ID "," P_NAME ",\"auth_methods\":[\"oauth\"],"
                  P_AUTH "," P_TEST ",\"oauth\":{\"available\":true,"
                  "\"notice\":5}}"), 0,
          PATH ".oauth.notice: must be a string",
          "oauth.notice must be a string");
    fails(CATALOG("{" P_ID "," P_NAME ",\"auth_methods\":[\"oauth\"],"
                  P_AUTH "," P_TEST ",\"oauth\":{\"available\":true,"
                  "\"url\":\"https://a.test/\"}}"), 0,
          PATH ".oauth.url: unknown field", "unknown oauth field");
}


static void
test_headers(void)
{
    fails(CATALOG(PROVIDER_WITH(",\"headers\":[]")), 0,
          PATH ".headers: must be an object", "headers must be an object");
    passes(CATALOG(PROVIDER_WITH(",\"headers\":{}")), 0,
           "headers may be empty");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"x y\":\"1\"}")), 0,
          PATH ".headers.x y: must be a header name",
          "extra header name must be a token");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"\":\"1\"}")), 0,
          PATH ".headers.\"\": must be a header name",
          "empty extra header name");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"x-v\":1}")), 0,
          PATH ".headers.x-v: must be a string",
          "extra header value must be a string");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"x-v\":\"\"}")), 0,
          PATH ".headers.x-v: must be a valid header value",
          "empty extra header value");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"x-v\":\"1\\r\\nx-w: 2\"}")),
          0, PATH ".headers.x-v: must be a valid header value",
          "header injection through a value");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"x-v\":\"1 \"}")), 0,
          PATH ".headers.x-v: must be a valid header value",
          "trailing space in a value");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"AUTHORIZATION\":\"x\"}")), 0,
          PATH ".headers.AUTHORIZATION: repeats the auth header",
          "extra header repeats the auth header, case-insensitively");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"X-V\":\"1\",\"x-v\":\"2\"}")),
          0, PATH ".headers.x-v: duplicate header (also \"X-V\")",
          "extra headers differing only in case");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"Content-Length\":\"0\"}")),
          0, PATH ".headers.Content-Length: must not be a hop-by-hop",
          "framing header is refused");
    fails(CATALOG(PROVIDER_WITH(",\"headers\":{\"Connection\":\"close\"}")),
          0, PATH ".headers.Connection: must not be a hop-by-hop",
          "hop-by-hop header is refused");
}


static void
test_test(void)
{
    fails(CATALOG(PROVIDER_TEST("\"GET https://a.test/\"")), 0,
          PATH ".test: must be null or an object",
          "test must be null or an object");
    fails(CATALOG(PROVIDER_TEST("{\"method\":\"GET\","
                                "\"url\":\"https://a.test/\","
                                "\"body\":\"{}\"}")), 0,
          PATH ".test.body: unknown field", "unknown test field");
    fails(CATALOG(PROVIDER_TEST("{\"url\":\"https://a.test/\"}")), 0,
          PATH ".test.method: is required", "test method is required");
    fails(CATALOG(PROVIDER_TEST("{\"method\":\"GET\"}")), 0,
          PATH ".test.url: is required", "test url is required");
    fails(CATALOG(PROVIDER_TEST("{\"method\":\"DELETE\","
                                "\"url\":\"https://a.test/\"}")), 0,
          PATH ".test.method: must be GET, POST or HEAD",
          "DELETE is not a test method");
    fails(CATALOG(PROVIDER_TEST("{\"method\":\"get\","
                                "\"url\":\"https://a.test/\"}")), 0,
          PATH ".test.method: must be GET, POST or HEAD",
          "methods are uppercase");
    passes(CATALOG(PROVIDER_TEST("{\"method\":\"POST\","
                                 "\"url\":\"https://a.test/search\"}")), 0,
           "POST test");
    fails(CATALOG(PROVIDER_TEST("{\"method\":\"GET\",\"url\":null}")), 0,
          PATH ".test.url: must be a string", "test url must be a string");
}


static void
test_urls(void)
{
    url_passes("https://api.example.com/v1/models", 0, "https url");
    url_passes("https://api.example.com:8443/v1?limit=1", 0,
               "https url with port and query");
    url_passes("https://8.8.8.8/", 0, "public IPv4 literal");
    url_passes("https://[2001:db8::1]:443/x", 0, "public IPv6 literal");
    url_passes("https://api.example.com./v1", 0, "trailing dot in a name");

    url_fails("http://api.example.com/v1", 0,
              PATH ".test.url: must start with https://",
              "http:// refused by default");
    url_passes("http://api.example.com/v1", 1,
               "http:// allowed with insecure test urls");
    url_fails("ftp://api.example.com/v1", 1,
              "must start with https:// or http://",
              "other schemes refused even when insecure");
    url_fails("HTTPS://api.example.com/", 0, "must start with https://",
              "scheme is lowercase");
    url_fails("https://api.example.com", 0,
              "must be scheme://host[:port]/path", "path is required");
    url_fails("https://api.example.com?x=1", 0,
              "must be scheme://host[:port]/path", "query without a path");
    url_fails("https:///v1", 0, "must have a host", "empty host");
    url_fails("https://api.example.com/v1#frag", 0,
              "must not contain a fragment", "fragment");
    url_fails("https://api.example.com/v 1", 0,
              "must not contain spaces, control or non-ASCII", "space in url");
    url_fails("https://api.example.com/\\u00e9", 0,
              "must not contain spaces, control or non-ASCII",
              "non-ASCII in url");
    url_fails("https://api_x.example.com/", 0, "invalid host name",
              "underscore in host");
    url_fails("https://a..b/", 0, "invalid host name", "empty label");
    url_fails("https://-a.test/", 0, "invalid host name",
              "label starting with a hyphen");
    url_fails("https://a-.test/", 0, "invalid host name",
              "label ending with a hyphen");
    url_fails("https://a.test:0/", 0, "invalid port", "port 0");
    url_fails("https://a.test:65536/", 0, "invalid port", "port 65536");
    url_fails("https://a.test:/", 0, "invalid port", "empty port");
    url_fails("https://a.test:44x/", 0, "invalid port", "non-numeric port");
    url_fails("https://[::1/", 0, "invalid IPv6 address",
              "unterminated IPv6 literal");
    url_fails("https://[fe80::1%25eth0]/", 1, "invalid IPv6 address",
              "IPv6 zone id");
    url_fails("https://[2001:db8::1]x/", 0, "invalid port",
              "garbage after an IPv6 literal");

    url_fails("https://user:pw@api.example.com/", 0,
              "must not contain userinfo", "userinfo refused");
    url_fails("http://user@127.0.0.1/", 1, "must not contain userinfo",
              "userinfo refused even when insecure");
    url_passes("https://api.example.com/v1/@me", 0, "@ in the path is fine");

    url_fails("https://localhost/", 0,
              PATH ".test.url: must not point to a loopback, private, "
              "link-local or unspecified address", "localhost refused");
    url_fails("https://LocalHost./", 0, "must not point to a loopback",
              "localhost in any case, with a dot");
    url_fails("https://api.localhost:8443/", 0, "must not point to a loopback",
              "*.localhost refused");
    url_passes("https://localhost.example.com/", 0,
               "a name merely starting with localhost is fine");
    url_fails("https://127.0.0.1/", 0, "must not point", "127/8");
    url_fails("https://127.255.0.9:8080/", 0, "must not point", "127/8 end");
    url_fails("https://10.1.2.3/", 0, "must not point", "10/8");
    url_fails("https://172.16.0.1/", 0, "must not point", "172.16/12 start");
    url_fails("https://172.31.255.255/", 0, "must not point", "172.16/12 end");
    url_passes("https://172.32.0.1/", 0, "172.32 is public");
    url_passes("https://172.15.0.1/", 0, "172.15 is public");
    url_fails("https://192.168.1.1/", 0, "must not point", "192.168/16");
    url_fails("https://169.254.169.254/", 0, "must not point",
              "169.254/16 (cloud metadata)");
    url_fails("https://0.0.0.0/", 0, "must not point", "0/8");
    url_fails("https://100.64.0.1/", 0, "must not point", "100.64/10 start");
    url_fails("https://100.127.255.255/", 0, "must not point",
              "100.64/10 end");
    url_passes("https://100.128.0.1/", 0, "100.128 is public");
    url_fails("https://224.0.0.1/", 0, "must not point", "multicast");
    url_fails("https://127.1/", 0, "numeric host must be a dotted-quad",
              "short IPv4 form");
    url_fails("https://2130706433/", 0, "numeric host must be a dotted-quad",
              "integer IPv4 form");
    url_fails("https://0x7f.0.0.1/", 0, "numeric host must be a dotted-quad",
              "hex IPv4 form");
    url_fails("https://0177.0.0.1/", 0, "numeric host must be a dotted-quad",
              "octal IPv4 form");
    url_fails("https://127.0.0.1./", 0, "numeric host must be a dotted-quad",
              "IPv4 with a trailing dot");
    url_fails("https://[::1]/", 0, "must not point", "[::1]");
    url_fails("https://[::]/", 0, "must not point", "[::]");
    url_fails("https://[0:0:0:0:0:0:0:1]/", 0, "must not point",
              "[::1] written out");
    url_fails("https://[fc00::1]/", 0, "must not point", "fc00::/7");
    url_fails("https://[fdff:ffff::1]/", 0, "must not point", "fd00::/8");
    url_fails("https://[fe80::1]/", 0, "must not point", "fe80::/10");
    url_fails("https://[febf::1]/", 0, "must not point", "fe80::/10 end");
    url_fails("https://[::ffff:127.0.0.1]/", 0, "must not point",
              "IPv4-mapped loopback");
    url_fails("https://[::ffff:a9fe:a9fe]/", 0, "must not point",
              "IPv4-mapped 169.254.169.254 in hex");
    url_fails("https://[::ffff:10.0.0.1]/", 0, "must not point",
              "IPv4-mapped 10/8");
    url_passes("https://[::ffff:8.8.8.8]/", 0, "IPv4-mapped public address");
    url_fails("https://[::127.0.0.1]/", 0, "must not point",
              "IPv4-compatible form");

    url_passes("http://127.0.0.1:8080/v1", 1, "loopback allowed when insecure");
    url_passes("http://localhost:1984/", 1, "localhost allowed when insecure");
    url_passes("https://[::1]:8443/", 1, "[::1] allowed when insecure");
    url_passes("https://192.168.1.1/", 1, "private allowed when insecure");
}


/* the rules a key test applies again to every address it connects to */

static int
v4_internal(const char *text)
{
    unsigned char  a[4];

    return inet_pton(AF_INET, text, a) == 1 ? ngx_http_byok_ipv4_internal(a)
                                            : -1;
}


static int
v6_internal(const char *text)
{
    unsigned char  a[16];

    return inet_pton(AF_INET6, text, a) == 1 ? ngx_http_byok_ipv6_internal(a)
                                             : -1;
}


static void
test_addresses(void)
{
    ok(v4_internal("127.0.0.1") == 1, "address: loopback");
    ok(v4_internal("10.1.2.3") == 1, "address: 10/8");
    ok(v4_internal("172.31.255.255") == 1, "address: 172.16/12 end");
    ok(v4_internal("172.32.0.1") == 0, "address: 172.32 is public");
    ok(v4_internal("169.254.169.254") == 1, "address: link-local metadata");
    ok(v4_internal("100.64.0.1") == 1, "address: shared 100.64/10");
    ok(v4_internal("0.0.0.0") == 1, "address: 0/8");
    ok(v4_internal("224.0.0.1") == 1, "address: multicast");
    ok(v4_internal("255.255.255.255") == 1, "address: broadcast, 240/4");
    ok(v4_internal("8.8.8.8") == 0, "address: public IPv4");

    ok(v6_internal("::1") == 1, "address: ::1");
    ok(v6_internal("::") == 1, "address: ::");
    ok(v6_internal("::10.0.0.1") == 1, "address: IPv4-compatible");
    ok(v6_internal("::ffff:192.168.0.1") == 1, "address: IPv4-mapped private");
    ok(v6_internal("::ffff:8.8.8.8") == 0, "address: IPv4-mapped public");
    ok(v6_internal("64:ff9b::a00:5") == 1, "address: NAT64 of 10.0.0.5");
    ok(v6_internal("64:ff9b::7f00:1") == 1, "address: NAT64 of 127.0.0.1");
    ok(v6_internal("64:ff9b::808:808") == 0, "address: NAT64 of 8.8.8.8");
    ok(v6_internal("fd12::1") == 1, "address: fc00::/7");
    ok(v6_internal("fe80::1") == 1, "address: link-local");
    ok(v6_internal("fec0::1") == 1, "address: site-local fec0::/10");
    ok(v6_internal("ff02::1") == 1, "address: multicast");
    ok(v6_internal("2606:4700::1111") == 0, "address: public IPv6");
}


static void
test_optional(void)
{
    passes(CATALOG(PROVIDER_WITH(",\"key_hint\":\"sk-\","
                                 "\"docs_url\":\"https://localhost/keys\"")),
           0, "key_hint and docs_url (docs may point anywhere https)");
    passes(CATALOG(PROVIDER_WITH(",\"docs_url\":\"https://a.test/d#auth\"")),
           0, "docs_url may have a fragment");
    passes(CATALOG(PROVIDER_WITH(",\"docs_url\":\"https://a.test\"")),
           0, "docs_url may have no path");
    fails(CATALOG(PROVIDER_WITH(",\"key_hint\":\"\"")), 0,
          PATH ".key_hint: must be a non-empty string", "empty key_hint");
    fails(CATALOG(PROVIDER_WITH(",\"key_hint\":[\"sk-\"]")), 0,
          PATH ".key_hint: must be a string", "key_hint must be a string");
    fails(CATALOG(PROVIDER_WITH(",\"docs_url\":\"http://a.test/keys\"")), 0,
          PATH ".docs_url: must start with https://", "http docs_url");
    fails(CATALOG(PROVIDER_WITH(",\"docs_url\":\"http://a.test/keys\"")), 1,
          PATH ".docs_url: must start with https://",
          "http docs_url even when test urls may be insecure");
    fails(CATALOG(PROVIDER_WITH(",\"docs_url\":\"javascript:alert(1)\"")), 0,
          PATH ".docs_url: must start with https://", "javascript docs_url");
    fails(CATALOG(PROVIDER_WITH(",\"docs_url\":\"https://u@a.test/\"")), 0,
          PATH ".docs_url: must not contain userinfo", "docs_url userinfo");
    fails(CATALOG(PROVIDER_WITH(",\"docs_url\":3")), 0,
          PATH ".docs_url: must be a string", "docs_url must be a string");
}


static void
test_header_checks(void)
{
    value_is("Bearer abc", 10, 1, "value: visible ASCII and space");
    value_is("a\tb", 3, 1, "value: inner HTAB");
    value_is("", 0, 0, "value: empty");
    value_is("a\rb", 3, 0, "value: CR");
    value_is("a\nb", 3, 0, "value: LF");
    value_is("a\0b", 3, 0, "value: NUL");
    value_is("a\x7f" "b", 3, 0, "value: DEL");
    value_is("a\x01" "b", 3, 0, "value: other control");
    value_is("a\x80" "b", 3, 0, "value: 0x80");
    value_is("a\xc2\xa0", 3, 0, "value: UTF-8 no-break space");
    value_is("a\xff", 2, 0, "value: 0xff");
    value_is(" a", 2, 0, "value: leading space");
    value_is("a ", 2, 0, "value: trailing space");
    value_is("\ta", 2, 0, "value: leading HTAB");
    value_is("a\t", 2, 0, "value: trailing HTAB");
    value_is("abc\r\n", 3, 1, "value: only len bytes are checked");

    name_is("x-api-key", 9, 1, "name: token");
    name_is("!#$%&'*+-.^_`|~09azAZ", 21, 1, "name: every tchar");
    name_is("", 0, 0, "name: empty");
    name_is("x api", 5, 0, "name: space");
    name_is("x:a", 3, 0, "name: colon");
    name_is("x\ta", 3, 0, "name: HTAB");
    name_is("x\r", 2, 0, "name: CR");
    name_is("x\n", 2, 0, "name: LF");
    name_is("x\0y", 3, 0, "name: NUL");
    name_is("x\x7f", 2, 0, "name: DEL");
    name_is("x\x80", 2, 0, "name: 0x80");
    name_is("x\"", 2, 0, "name: quote");
    name_is("(x)", 3, 0, "name: parentheses");
}


static void
test_shipped(const char *path)
{
    char                            *text, err[ERR_LEN];
    size_t                           len, i, j, testable;
    ngx_http_byok_catalog_t         *c;
    const ngx_http_byok_provider_t  *p;
    static const char               *ids[] = {
        "llm", "image", "video", "audio", "research"
    };

    if (path == NULL || path[0] == '\0') {
        printf("ok %d # SKIP shipped catalog: no path in argv[1] or "
               "BYOK_CATALOG\n", ++tap_n);
        return;
    }

    text = read_file(path, &len);
    ok(text != NULL, "shipped catalog is readable");

    if (text == NULL) {
        return;
    }

    c = ngx_http_byok_catalog_parse(text, len, 0, err, sizeof(err));
    ok(c != NULL, "shipped catalog parses with https-only test urls");
    free(text);

    if (c == NULL) {
        printf("#   %s\n", err);
        return;
    }

    is_int(c->ncategories, 5, "shipped: 5 categories");

    for (i = 0; i < 5 && i < c->ncategories; i++) {
        is_str(c->categories[i].id, ids[i], "shipped: category id");
    }

    is_int(c->nproviders, 20, "shipped: 20 providers");

    p = ngx_http_byok_catalog_provider(c, "pika", 4);
    ok(p != NULL && p->test_url == NULL, "shipped: pika is untestable");
    p = ngx_http_byok_catalog_provider(c, "cartesia", 8);
    ok(p != NULL && p->test_url == NULL, "shipped: cartesia is untestable");

    testable = 0;

    for (i = 0; i < c->ncategories; i++) {
        for (j = 0; j < c->categories[i].nproviders; j++) {
            p = &c->categories[i].providers[j];
            testable += (p->test_url != NULL && p->test_method != NULL);
        }
    }

    ok(testable >= 15, "shipped: at least 15 providers are testable");

    p = ngx_http_byok_catalog_provider(c, "anthropic", 9);
    ok(p != NULL && p->oauth && !p->oauth_available,
       "shipped: anthropic offers oauth, not yet available");

    ok(strstr(c->public_json, "\"url\"") == NULL
       && strstr(c->public_json, "\"header\"") == NULL
       && strstr(c->public_json, "\"testable\":false") != NULL
       && strstr(c->public_json, "\"testable\":true") != NULL,
       "shipped: public json without urls and headers, with testable flags");

    ngx_http_byok_catalog_free(c);
}


static ngx_http_byok_catalog_t *
parse(const char *text, int insecure, char *err)
{
    return ngx_http_byok_catalog_parse(text, strlen(text), insecure, err,
                                       ERR_LEN);
}


static void
passes(const char *text, int insecure, const char *name)
{
    char                      err[ERR_LEN];
    ngx_http_byok_catalog_t  *c;

    c = parse(text, insecure, err);
    ok(c != NULL, name);

    if (c == NULL) {
        printf("#   %s\n", err);
    }

    ngx_http_byok_catalog_free(c);
}


static void
fails(const char *text, int insecure, const char *expect, const char *name)
{
    char                      err[ERR_LEN];
    ngx_http_byok_catalog_t  *c;

    c = parse(text, insecure, err);
    ok(c == NULL && strstr(err, expect) != NULL, name);

    if (c != NULL) {
        printf("#   parsed, expected \"%s\"\n", expect);

    } else if (strstr(err, expect) == NULL) {
        printf("#   got \"%s\"\n#   expected \"%s\"\n", err, expect);
    }

    ngx_http_byok_catalog_free(c);
}


static void
url_passes(const char *url, int insecure, const char *name)
{
    char  buf[1024];

    snprintf(buf, sizeof(buf),
             CATALOG(PROVIDER_TEST("{\"method\":\"GET\",\"url\":\"%s\"}")),
             url);
    passes(buf, insecure, name);
}


static void
url_fails(const char *url, int insecure, const char *expect, const char *name)
{
    char  buf[1024];

    snprintf(buf, sizeof(buf),
             CATALOG(PROVIDER_TEST("{\"method\":\"GET\",\"url\":\"%s\"}")),
             url);
    fails(buf, insecure, expect, name);
}


static void
value_is(const char *s, size_t len, int expect, const char *name)
{
    is_int(ngx_http_byok_header_value_valid((const unsigned char *) s, len),
           expect, name);
}


static void
name_is(const char *s, size_t len, int expect, const char *name)
{
    is_int(ngx_http_byok_header_name_valid((const unsigned char *) s, len),
           expect, name);
}


static char *
read_file(const char *path, size_t *len)
{
    long   n;
    char  *buf;
    FILE  *f;

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    buf = NULL;

    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0
        && fseek(f, 0, SEEK_SET) == 0)
    {
        buf = malloc(n + 1);

        if (buf != NULL && fread(buf, 1, n, f) != (size_t) n) {
            free(buf);
            buf = NULL;
        }

        *len = n;
    }

    fclose(f);

    return buf;
}
