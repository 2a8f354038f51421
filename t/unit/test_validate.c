
/*
 * Unit tests of the user API's request body validation (SPEC §4.2-§4.5):
 * every rule, in the order the API checks them, with the exact status,
 * code, message and field a client gets.
 *
 *   cc -I ngx_http_byok_module t/unit/test_validate.c \
 *      ngx_http_byok_module/ngx_http_byok_validate.c \
 *      ngx_http_byok_module/ngx_http_byok_catalog.c -ljansson
 *
 * Bodies are written with ' for " to stay readable; body() swaps them.
 */


#include <stdlib.h>
#include <string.h>

#include <ngx_http_byok_catalog.h>
#include <ngx_http_byok_validate.h>

#include "tap.h"


#define ERR_LEN     512
#define BODY_MAX    16384

#define PROVIDER(id, methods, extra)                                         \
    "{\"id\":\"" id "\",\"name\":\"" id "\",\"auth_methods\":" methods       \
    extra ",\"auth\":{\"header\":\"Authorization\",\"prefix\":\"Bearer \"},"  \
    "\"test\":null}"

/* anthropic as shipped; quiet has no notice; ready offers oauth already */
#define CATALOG                                                              \
    "{\"categories\":["                                                      \
    "{\"id\":\"llm\",\"name\":\"LLM\",\"providers\":["                       \
    PROVIDER("anthropic", "[\"api_key\",\"oauth\"]",                         \
             ",\"oauth\":{\"available\":false,"                              \
             "\"notice\":\"OAuth Max \\u2014 coming soon\"}") ","            \
    PROVIDER("openai", "[\"api_key\"]", "") ","                              \
    PROVIDER("quiet", "[\"api_key\",\"oauth\"]",                             \
             ",\"oauth\":{\"available\":false}") ","                         \
    PROVIDER("ready", "[\"api_key\",\"oauth\"]",                             \
             ",\"oauth\":{\"available\":true}") "]},"                        \
    "{\"id\":\"audio\",\"name\":\"Audio\",\"providers\":["                   \
    PROVIDER("cartesia", "[\"api_key\"]", "") "]}]}"

#define KEY         "sk-test-0123456789abcdef"       /* 24 bytes */
#define K16         "abcdefghijklmnop"
#define LLM_OPENAI  "'category':'llm','provider':'openai'"

#define LABEL_MSG                                                            \
    "label must be text of at most 64 bytes without control characters."
#define VALUE_LEN_MSG                                                        \
    "value must be 16 to 4096 characters long."
#define VALUE_CHARS_MSG                                                      \
    "value may contain printable ASCII characters only, without spaces."
#define AUTH_TYPE_MSG                                                        \
    "auth_type must be \"api_key\" or \"oauth\"."
#define PRIORITY_MSG                                                         \
    "rotation_priority must be an integer from 0 to 1000000."
#define STATUS_MSG                                                           \
    "status can only be set to \"active\"."
#define IDS_ARRAY_MSG                                                        \
    "ids must be a non-empty array of key ids."
#define IDS_INT_MSG                                                          \
    "ids must be positive integer key ids."


static json_t *body(const char *text);
static int err_is(const ngx_http_byok_invalid_t *err, int status,
    const char *code, const char *message, const char *field);
static void parse_fails(const char *text, size_t len, const char *code,
    const char *message, const char *name);
static void create_fails(const char *text, int status, const char *code,
    const char *message, const char *field, const char *name);
static void create_invalid(const char *text, const char *message,
    const char *field, const char *name);
static int create(const char *text, ngx_http_byok_create_t *out,
    json_t **json);
static void label_is(const char *label, int valid, const char *name);
static void patch_fails(const char *text, int status, const char *code,
    const char *message, const char *field, const char *name);
static void patch_invalid(const char *text, const char *message,
    const char *field, const char *name);
static void order_invalid(const char *text, const char *message,
    const char *field, const char *name);
static char *repeat(char c, size_t n);

static void test_parse(void);
static void test_create(void);
static void test_create_order(void);
static void test_create_catalog(void);
static void test_create_auth_type(void);
static void test_create_rentable(void);
static void test_create_value(void);
static void test_create_label(void);
static void test_unknown_fields(void);
static void test_patch(void);
static void test_order(void);
static void test_mask(void);


static ngx_http_byok_catalog_t  *catalog;


int
main(void)
{
    char  err[ERR_LEN];

    catalog = ngx_http_byok_catalog_parse(CATALOG, sizeof(CATALOG) - 1, 0,
                                          err, sizeof(err));
    ok(catalog != NULL, "the test catalog parses");

    if (catalog == NULL) {
        printf("#   %s\n", err);
        return done_testing();
    }

    test_parse();
    test_create();
    test_create_order();
    test_create_catalog();
    test_create_auth_type();
    test_create_rentable();
    test_create_value();
    test_create_label();
    test_unknown_fields();
    test_patch();
    test_order();
    test_mask();

    ngx_http_byok_catalog_free(catalog);

    return done_testing();
}


static void
test_parse(void)
{
    json_t                   *j;
    ngx_http_byok_invalid_t   err;

    j = ngx_http_byok_parse_body((const unsigned char *) "{\"a\":1}", 7,
                                 &err);
    ok(json_is_object(j) && json_integer_value(json_object_get(j, "a")) == 1,
       "parse: an object is returned");
    json_decref(j);

    j = ngx_http_byok_parse_body((const unsigned char *) "{}trailing", 2,
                                 &err);
    ok(json_is_object(j), "parse: only len bytes are read");
    json_decref(j);

    j = ngx_http_byok_parse_body((const unsigned char *) " \r\n{}\n", 6,
                                 &err);
    ok(json_is_object(j), "parse: whitespace around the object is fine");
    json_decref(j);

    parse_fails("", 0, "invalid_json", "The body is not valid JSON.",
                "parse: an empty body is not JSON");
    parse_fails("{", 1, "invalid_json", "The body is not valid JSON.",
                "parse: a truncated object");
    parse_fails("{} {}", 5, "invalid_json", "The body is not valid JSON.",
                "parse: text after the object");
    parse_fails("{'a':1}", 7, "invalid_json", "The body is not valid JSON.",
                "parse: single quotes are not JSON");
    parse_fails("{\"a\":\"\\u0000\"}", 14, "invalid_json",
                "The body is not valid JSON.",
                "parse: an escaped NUL is refused");
    parse_fails("{\"a\":\"\xc3\x28\"}", 9, "invalid_json",
                "The body is not valid JSON.",
                "parse: invalid UTF-8 is refused");
    parse_fails("{\"a\":1,\"a\":1}", 13, "invalid_json",
                "The body repeats a JSON member.",
                "parse: a repeated member");
    parse_fails("{\"x\":{\"b\":1,\"b\":2}}", 19, "invalid_json",
                "The body repeats a JSON member.",
                "parse: a repeated member in a nested object");
    parse_fails("[]", 2, "invalid_request", "The body must be a JSON object.",
                "parse: an array is JSON but not an object");
    parse_fails("\"text\"", 6, "invalid_request",
                "The body must be a JSON object.", "parse: a string");
    parse_fails("42", 2, "invalid_request",
                "The body must be a JSON object.", "parse: a number");
    parse_fails("null", 4, "invalid_request",
                "The body must be a JSON object.", "parse: null");
}


static void
test_create(void)
{
    json_t                  *j;
    ngx_http_byok_create_t   out;

    ok(create("{" LLM_OPENAI ",'value':'" KEY "'}", &out, &j) == 0,
       "create: category, provider and value are enough");
    ok(out.category == ngx_http_byok_catalog_category(catalog, "llm", 3),
       "create: the category is the catalog's");
    ok(out.provider == ngx_http_byok_catalog_provider(catalog, "openai", 6),
       "create: the provider is the catalog's");
    ok(out.value_len == sizeof(KEY) - 1
       && memcmp(out.value, KEY, out.value_len) == 0,
       "create: the value");
    ok(out.raw == (unsigned char *) out.value
       && out.raw_len == out.value_len,
       "create: raw is the JSON string");
    ok(out.label == NULL, "create: no label");
    is_str(out.masked, "sk-test-***", "create: masked prefix");
    json_decref(j);

    ok(create("{" LLM_OPENAI ",'auth_type':'api_key','label':'main',"
              "'value':'" KEY "','rentable':false}", &out, &j) == 0,
       "create: every field");
    is_str(out.label, "main", "create: the label");
    json_decref(j);

    ok(create("{'category':'audio','provider':'cartesia','value':'" KEY "'}",
              &out, &j) == 0, "create: a provider of another category");
    json_decref(j);

    ok(create("{" LLM_OPENAI ",'label':'','value':'" KEY "'}", &out, &j)
       == 0 && out.label == NULL, "create: an empty label is no label");
    json_decref(j);

    ok(create("{" LLM_OPENAI ",'label':null,'value':'" KEY "'}", &out, &j)
       == 0 && out.label == NULL, "create: a null label is no label");
    json_decref(j);
}


/* the first broken rule is reported: fields, category, provider, ... */

static void
test_create_order(void)
{
    create_invalid("{'category':'x','bogus':1}", "Unknown field.", "bogus",
                   "create order: unknown fields before the category");
    create_invalid("{'category':'x','provider':'x'}",
                   "category must be one of the catalog's categories.",
                   "category", "create order: category before provider");
    create_invalid("{'category':'llm','provider':'x','auth_type':1}",
                   "provider must be a provider of the chosen category.",
                   "provider", "create order: provider before auth_type");
    create_fails("{" LLM_OPENAI ",'auth_type':1,'rentable':true}", 422,
                 "validation_failed", AUTH_TYPE_MSG, "auth_type",
                 "create order: auth_type before rentable");
    create_fails("{'category':'llm','provider':'anthropic',"
                 "'auth_type':'oauth','rentable':true}", 501,
                 "oauth_not_available", "OAuth Max \xe2\x80\x94 coming soon",
                 NULL, "create order: the oauth 501 before rentable");
    create_fails("{" LLM_OPENAI ",'rentable':true,'value':1}", 501,
                 "rentable_not_available", "Renting keys out is coming soon.",
                 NULL, "create order: rentable before value");
    create_invalid("{" LLM_OPENAI ",'value':'short','label':1}",
                   VALUE_LEN_MSG, "value",
                   "create order: value before label");
    create_invalid("{" LLM_OPENAI ",'value':'a b'}", VALUE_LEN_MSG, "value",
                   "create order: length before characters");
}


static void
test_create_catalog(void)
{
    const char  *cat_msg, *prov_msg;

    cat_msg = "category must be one of the catalog's categories.";
    prov_msg = "provider must be a provider of the chosen category.";

    create_invalid("{'provider':'openai','value':'" KEY "'}", cat_msg,
                   "category", "create: category is required");
    create_invalid("{'category':'nope','provider':'openai'}", cat_msg,
                   "category", "create: an unknown category");
    create_invalid("{'category':'LLM','provider':'openai'}", cat_msg,
                   "category", "create: category ids are case-sensitive");
    create_invalid("{'category':'ll','provider':'openai'}", cat_msg,
                   "category", "create: a category prefix is not enough");
    create_invalid("{'category':1,'provider':'openai'}", cat_msg,
                   "category", "create: a category that is not a string");
    create_invalid("{'category':null,'provider':'openai'}", cat_msg,
                   "category", "create: a null category");
    create_invalid("{'category':'openai','provider':'openai'}", cat_msg,
                   "category", "create: a provider id is not a category");

    create_invalid("{'category':'llm','value':'" KEY "'}", prov_msg,
                   "provider", "create: provider is required");
    create_invalid("{'category':'llm','provider':'nope'}", prov_msg,
                   "provider", "create: an unknown provider");
    create_invalid("{'category':'llm','provider':'cartesia'}", prov_msg,
                   "provider", "create: a provider of another category");
    create_invalid("{'category':'llm','provider':['openai']}", prov_msg,
                   "provider", "create: a provider that is not a string");
    create_invalid("{'category':'llm','provider':'llm'}", prov_msg,
                   "provider", "create: a category id is not a provider");
}


static void
test_create_auth_type(void)
{
    json_t                  *j;
    ngx_http_byok_create_t   out;

    ok(create("{" LLM_OPENAI ",'auth_type':'api_key','value':'" KEY "'}",
              &out, &j) == 0, "auth_type: api_key");
    json_decref(j);

    create_invalid("{" LLM_OPENAI ",'auth_type':1}", AUTH_TYPE_MSG,
                   "auth_type", "auth_type: a number");
    create_invalid("{" LLM_OPENAI ",'auth_type':null}", AUTH_TYPE_MSG,
                   "auth_type", "auth_type: null is not a default");
    create_invalid("{" LLM_OPENAI ",'auth_type':''}", AUTH_TYPE_MSG,
                   "auth_type", "auth_type: empty");
    create_invalid("{" LLM_OPENAI ",'auth_type':'API_KEY'}", AUTH_TYPE_MSG,
                   "auth_type", "auth_type: case-sensitive");
    create_invalid("{" LLM_OPENAI ",'auth_type':'password'}", AUTH_TYPE_MSG,
                   "auth_type", "auth_type: another method");

    create_fails("{'category':'llm','provider':'anthropic',"
                 "'auth_type':'oauth','value':'" KEY "'}", 501,
                 "oauth_not_available", "OAuth Max \xe2\x80\x94 coming soon",
                 NULL, "auth_type: oauth answers with the provider's notice");
    create_fails("{'category':'llm','provider':'quiet','auth_type':'oauth'}",
                 501, "oauth_not_available", "OAuth is not available yet.",
                 NULL, "auth_type: oauth without a notice");
    create_invalid("{" LLM_OPENAI ",'auth_type':'oauth'}",
                   "This provider accepts API keys only.", "auth_type",
                   "auth_type: oauth for an api_key-only provider");
    create_invalid("{'category':'llm','provider':'ready',"
                   "'auth_type':'oauth'}",
                   "This provider accepts API keys only.", "auth_type",
                   "auth_type: oauth marked available is still not taken");
}


static void
test_create_rentable(void)
{
    json_t                  *j;
    ngx_http_byok_create_t   out;

    ok(create("{" LLM_OPENAI ",'rentable':false,'value':'" KEY "'}", &out,
              &j) == 0, "rentable: false is accepted");
    json_decref(j);

    create_invalid("{" LLM_OPENAI ",'rentable':'false'}",
                   "rentable must be false.", "rentable",
                   "rentable: a string");
    create_invalid("{" LLM_OPENAI ",'rentable':0}",
                   "rentable must be false.", "rentable",
                   "rentable: a number");
    create_invalid("{" LLM_OPENAI ",'rentable':null}",
                   "rentable must be false.", "rentable",
                   "rentable: null");
    create_fails("{" LLM_OPENAI ",'rentable':true,'value':'" KEY "'}", 501,
                 "rentable_not_available", "Renting keys out is coming soon.",
                 NULL, "rentable: true is not available");
}


static void
test_create_value(void)
{
    char                    *text, *v;
    json_t                  *j;
    ngx_http_byok_create_t   out;

    text = malloc(BODY_MAX);
    if (text == NULL) {
        abort();
    }

    create_invalid("{" LLM_OPENAI "}", "value must be the key as a string.",
                   "value", "value: required");
    create_invalid("{" LLM_OPENAI ",'value':12345678901234567}",
                   "value must be the key as a string.", "value",
                   "value: a number");
    create_invalid("{" LLM_OPENAI ",'value':null}",
                   "value must be the key as a string.", "value",
                   "value: null");
    create_invalid("{" LLM_OPENAI ",'value':['" KEY "']}",
                   "value must be the key as a string.", "value",
                   "value: an array");

    ok(create("{" LLM_OPENAI ",'value':' \\t\\r\\n" KEY "\\n\\r\\t '}",
              &out, &j) == 0, "value: surrounding whitespace is trimmed");
    ok(out.value_len == sizeof(KEY) - 1
       && memcmp(out.value, KEY, out.value_len) == 0,
       "value: trimmed to the key");
    ok(out.raw_len == sizeof(KEY) - 1 + 8
       && out.value == out.raw + 4,
       "value: raw is the whole string, whitespace included");
    is_str(out.masked, "sk-test-***", "value: the mask skips the whitespace");
    json_decref(j);

    ok(create("{" LLM_OPENAI ",'value':'" K16 "'}", &out, &j) == 0
       && out.value_len == 16, "value: 16 bytes");
    json_decref(j);

    create_invalid("{" LLM_OPENAI ",'value':'abcdefghijklmno'}",
                   VALUE_LEN_MSG, "value", "value: 15 bytes");
    create_invalid("{" LLM_OPENAI ",'value':'   abcdefghijklmno   '}",
                   VALUE_LEN_MSG, "value",
                   "value: 15 bytes once trimmed");
    create_invalid("{" LLM_OPENAI ",'value':''}", VALUE_LEN_MSG, "value",
                   "value: empty");
    create_invalid("{" LLM_OPENAI ",'value':' \\n\\t '}", VALUE_LEN_MSG,
                   "value", "value: only whitespace");

    v = repeat('k', 4096);
    snprintf(text, BODY_MAX, "{" LLM_OPENAI ",'value':'%s'}", v);
    ok(create(text, &out, &j) == 0 && out.value_len == 4096,
       "value: 4096 bytes");
    is_str(out.masked, "kkkkkkkk***", "value: 4096 bytes masked");
    json_decref(j);

    snprintf(text, BODY_MAX, "{" LLM_OPENAI ",'value':'%sk'}", v);
    create_invalid(text, VALUE_LEN_MSG, "value", "value: 4097 bytes");

    snprintf(text, BODY_MAX, "{" LLM_OPENAI ",'value':'  %s\\n'}", v);
    ok(create(text, &out, &j) == 0 && out.value_len == 4096,
       "value: 4096 bytes inside whitespace");
    json_decref(j);
    free(v);

    ok(create("{" LLM_OPENAI ",'value':'!\\\"#$%&()*+,-./0123456789:;<=>?@"
              "AZ[\\\\]^_`az{|}~'}", &out, &j) == 0,
       "value: every kind of printable ASCII");
    json_decref(j);

    create_invalid("{" LLM_OPENAI ",'value':'" K16 " x'}", VALUE_CHARS_MSG,
                   "value", "value: an inner space");
    create_invalid("{" LLM_OPENAI ",'value':'" K16 "\\tx'}", VALUE_CHARS_MSG,
                   "value", "value: an inner tab");
    create_invalid("{" LLM_OPENAI ",'value':'" K16 "\\r\\nX-Evil: 1'}",
                   VALUE_CHARS_MSG, "value", "value: CR LF");
    create_invalid("{" LLM_OPENAI ",'value':'" K16 "\\u0001'}",
                   VALUE_CHARS_MSG, "value", "value: a control character");
    create_invalid("{" LLM_OPENAI ",'value':'" K16 "\\u007f'}",
                   VALUE_CHARS_MSG, "value", "value: DEL");
    create_invalid("{" LLM_OPENAI ",'value':'" K16 "\\u00e9'}",
                   VALUE_CHARS_MSG, "value", "value: a non-ASCII letter");
    create_invalid("{" LLM_OPENAI ",'value':'" K16 "\\u0085'}",
                   VALUE_CHARS_MSG, "value", "value: a C1 control");

    free(text);
}


static void
test_create_label(void)
{
    char  *s, text[256];

    label_is("main", 1, "label: plain text");
    label_is("Prod key (team A) #2", 1, "label: spaces and punctuation");
    label_is("\\u00e9t\\u00e9", 1, "label: UTF-8 letters");
    label_is("\\ud83d\\udd11 key", 1, "label: a 4-byte character");
    label_is("\\u00a0", 1, "label: U+00A0 is not a control");

    s = repeat('x', 64);
    label_is(s, 1, "label: 64 bytes");
    free(s);

    s = repeat('x', 65);
    label_is(s, 0, "label: 65 bytes");
    free(s);

    /* 32 two-byte characters are 64 bytes, 33 are 66 */

    snprintf(text, sizeof(text), "%s", "");
    while (strlen(text) < 32 * 6) {
        strcat(text, "\\u00e9");
    }
    label_is(text, 1, "label: 64 bytes of two-byte characters");
    strcat(text, "\\u00e9");
    label_is(text, 0, "label: 66 bytes of two-byte characters");

    label_is("a\\nb", 0, "label: LF");
    label_is("a\\tb", 0, "label: TAB");
    label_is("\\u001f", 0, "label: US, the last C0 control");
    label_is("a\\u007f", 0, "label: DEL");
    label_is("\\u0080", 0, "label: U+0080, the first C1 control");
    label_is("x\\u0085", 0, "label: NEL");
    label_is("\\u009f", 0, "label: U+009F, the last C1 control");
    label_is("a\\u202eb", 0, "label: U+202E, a right-to-left override");
    label_is("a\\u2066b", 0, "label: U+2066, a bidi isolate");
    label_is("a\\u2028b", 0, "label: U+2028, a line separator");
    label_is("a\\u2029b", 0, "label: U+2029, a paragraph separator");
    label_is("a\\u2027b", 1, "label: U+2027 is a plain character");
    label_is("a\\u202fb", 1, "label: U+202F (narrow no-break space)");

    create_invalid("{" LLM_OPENAI ",'value':'" KEY "','label':1}",
                   LABEL_MSG, "label", "label: a number");
    create_invalid("{" LLM_OPENAI ",'value':'" KEY "','label':true}",
                   LABEL_MSG, "label", "label: a boolean");
    create_invalid("{" LLM_OPENAI ",'value':'" KEY "','label':['a']}",
                   LABEL_MSG, "label", "label: an array");
}


static void
test_unknown_fields(void)
{
    char  *name, text[256];

    create_invalid("{'zz':1,'yy':2}", "Unknown field.", "zz",
                   "unknown: the first unknown member is named");
    create_invalid("{" LLM_OPENAI ",'value':'" KEY "','rotation_priority':0}",
                   "Unknown field.", "rotation_priority",
                   "unknown: rotation_priority is not set on create");
    create_invalid("{" LLM_OPENAI ",'value':'" KEY "','Label':'a'}",
                   "Unknown field.", "Label",
                   "unknown: field names are case-sensitive");
    create_invalid("{'':1}", "Unknown field.", "",
                   "unknown: an empty name");

    name = repeat('f', 64);
    snprintf(text, sizeof(text), "{'%s':1}", name);
    create_invalid(text, "Unknown field.", name,
                   "unknown: a name of 64 bytes is echoed");
    free(name);

    name = repeat('f', 65);
    snprintf(text, sizeof(text), "{'%s':1}", name);
    create_invalid(text, "Unknown field.", "(field)",
                   "unknown: a longer name is not");
    free(name);

    patch_invalid("{'value':'" KEY "'}", "Unknown field.", "value",
                  "unknown: a patch cannot change the value");
    patch_invalid("{'provider':'openai'}", "Unknown field.", "provider",
                  "unknown: a patch cannot move a key");
    order_invalid("{'provider':'openai','ids':[1],'label':'a'}",
                  "Unknown field.", "label", "unknown: order fields");
}


static void
test_patch(void)
{
    json_t                   *j;
    ngx_http_byok_patch_t     out;
    ngx_http_byok_invalid_t   err;

    j = body("{'label':'work'}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0, "patch: a label");
    ok(out.label != NULL && strcmp(out.label, "work") == 0
       && !out.set_priority && !out.activate, "patch: only the label");
    json_decref(j);

    j = body("{'label':null}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0 && out.label != NULL
       && out.label[0] == '\0', "patch: null removes the label");
    json_decref(j);

    j = body("{'label':''}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0 && out.label != NULL
       && out.label[0] == '\0', "patch: an empty label removes it");
    json_decref(j);

    j = body("{'rotation_priority':7}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0
       && out.label == NULL && out.set_priority && out.priority == 7
       && !out.activate, "patch: only the priority");
    json_decref(j);

    j = body("{'rotation_priority':0,'label':'a'}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0
       && out.set_priority && out.priority == 0
       && strcmp(out.label, "a") == 0, "patch: priority 0 and a label");
    json_decref(j);

    j = body("{'rotation_priority':1000000}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0
       && out.priority == 1000000, "patch: priority 1000000");
    json_decref(j);

    j = body("{'status':'active'}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0 && out.activate
       && out.label == NULL && !out.set_priority,
       "patch: status active re-enables");
    json_decref(j);

    j = body("{'rentable':false}");
    ok(ngx_http_byok_validate_patch(j, &out, &err) == 0 && !out.activate
       && out.label == NULL && !out.set_priority,
       "patch: rentable false alone changes nothing");
    json_decref(j);

    patch_invalid("{}", "Send label and/or rotation_priority.", NULL,
                  "patch: an empty body");

    patch_invalid("{'status':'revoked'}", STATUS_MSG, "status",
                  "patch: status revoked");
    patch_invalid("{'status':'Active'}", STATUS_MSG, "status",
                  "patch: status is case-sensitive");
    patch_invalid("{'status':null}", STATUS_MSG, "status",
                  "patch: status null");
    patch_invalid("{'status':1}", STATUS_MSG, "status",
                  "patch: status a number");

    patch_invalid("{'rentable':'no'}", "rentable must be false.", "rentable",
                  "patch: rentable a string");
    patch_invalid("{'rentable':null}", "rentable must be false.", "rentable",
                  "patch: rentable null");
    patch_fails("{'rentable':true}", 501, "rentable_not_available",
                "Renting keys out is coming soon.", NULL,
                "patch: rentable true");

    patch_invalid("{'label':1}", LABEL_MSG, "label", "patch: label a number");
    patch_invalid("{'label':'a\\u0007b'}", LABEL_MSG, "label",
                  "patch: label with a control character");

    patch_invalid("{'rotation_priority':-1}", PRIORITY_MSG,
                  "rotation_priority", "patch: priority -1");
    patch_invalid("{'rotation_priority':1000001}", PRIORITY_MSG,
                  "rotation_priority", "patch: priority 1000001");
    patch_invalid("{'rotation_priority':1.0}", PRIORITY_MSG,
                  "rotation_priority", "patch: priority a real");
    patch_invalid("{'rotation_priority':'1'}", PRIORITY_MSG,
                  "rotation_priority", "patch: priority a string");
    patch_invalid("{'rotation_priority':null}", PRIORITY_MSG,
                  "rotation_priority", "patch: priority null");
    patch_invalid("{'rotation_priority':true}", PRIORITY_MSG,
                  "rotation_priority", "patch: priority a boolean");

    /* the order of the checks */

    patch_invalid("{'status':'x','bogus':1}", "Unknown field.", "bogus",
                  "patch order: unknown fields first");
    patch_invalid("{'rentable':true,'status':'x'}", STATUS_MSG, "status",
                  "patch order: status before rentable");
    patch_fails("{'rentable':true,'label':1}", 501, "rentable_not_available",
                "Renting keys out is coming soon.", NULL,
                "patch order: rentable before label");
    patch_invalid("{'label':1,'rotation_priority':-1}", LABEL_MSG, "label",
                  "patch order: label before priority");
}


static void
test_order(void)
{
    char                     *text, *p;
    size_t                    i;
    json_t                   *j;
    int64_t                   ids[NGX_HTTP_BYOK_ORDER_IDS_MAX];
    ngx_http_byok_order_t     out;
    ngx_http_byok_invalid_t   err;

    j = body("{'provider':'openai','ids':[43,42,7]}");
    ok(ngx_http_byok_validate_order(j, catalog, ids,
                                    NGX_HTTP_BYOK_ORDER_IDS_MAX, &out, &err)
       == 0, "order: a provider and its ids");
    ok(out.provider == ngx_http_byok_catalog_provider(catalog, "openai", 6),
       "order: the provider is the catalog's");
    ok(out.n == 3 && ids[0] == 43 && ids[1] == 42 && ids[2] == 7,
       "order: the ids in the order sent");
    json_decref(j);

    j = body("{'ids':[1],'provider':'cartesia'}");
    ok(ngx_http_byok_validate_order(j, catalog, ids, 1, &out, &err) == 0
       && out.n == 1, "order: any category's provider, members in any order");
    json_decref(j);

    j = body("{'provider':'openai','ids':[9007199254740991]}");
    ok(ngx_http_byok_validate_order(j, catalog, ids, 1, &out, &err) == 0
       && ids[0] == 9007199254740991LL, "order: a large id");
    json_decref(j);

    order_invalid("{'ids':[1]}", "provider must be a catalog provider.",
                  "provider", "order: provider is required");
    order_invalid("{'provider':'nope','ids':[1]}",
                  "provider must be a catalog provider.", "provider",
                  "order: an unknown provider");
    order_invalid("{'provider':'llm','ids':[1]}",
                  "provider must be a catalog provider.", "provider",
                  "order: a category is not a provider");
    order_invalid("{'provider':7,'ids':[1]}",
                  "provider must be a catalog provider.", "provider",
                  "order: a provider that is not a string");
    order_invalid("{'provider':'nope','ids':'x'}",
                  "provider must be a catalog provider.", "provider",
                  "order: provider before ids");

    order_invalid("{'provider':'openai'}", IDS_ARRAY_MSG, "ids",
                  "order: ids are required");
    order_invalid("{'provider':'openai','ids':[]}", IDS_ARRAY_MSG, "ids",
                  "order: ids empty");
    order_invalid("{'provider':'openai','ids':1}", IDS_ARRAY_MSG, "ids",
                  "order: ids a number");
    order_invalid("{'provider':'openai','ids':{'0':1}}", IDS_ARRAY_MSG,
                  "ids", "order: ids an object");

    order_invalid("{'provider':'openai','ids':[0]}", IDS_INT_MSG, "ids",
                  "order: id 0");
    order_invalid("{'provider':'openai','ids':[1,-2]}", IDS_INT_MSG, "ids",
                  "order: a negative id");
    order_invalid("{'provider':'openai','ids':[1.0]}", IDS_INT_MSG, "ids",
                  "order: a real id");
    order_invalid("{'provider':'openai','ids':['1']}", IDS_INT_MSG, "ids",
                  "order: a string id");
    order_invalid("{'provider':'openai','ids':[null]}", IDS_INT_MSG, "ids",
                  "order: a null id");
    order_invalid("{'provider':'openai','ids':[1,2,1]}",
                  "ids must not repeat a key.", "ids", "order: a repeated id");
    order_invalid("{'provider':'openai','ids':[1,1,'x']}",
                  "ids must not repeat a key.", "ids",
                  "order: ids are checked one by one, first to last");
    order_invalid("{'provider':'openai','ids':[1,'x',1]}", IDS_INT_MSG,
                  "ids", "order: the first bad id decides");

    /* 1000 ids at most */

    text = malloc(BODY_MAX);
    if (text == NULL) {
        abort();
    }

    p = text + sprintf(text, "{'provider':'openai','ids':[");

    for (i = 1; i <= NGX_HTTP_BYOK_ORDER_IDS_MAX; i++) {
        p += sprintf(p, "%s%zu", i > 1 ? "," : "", i);
    }

    strcpy(p, "]}");

    j = body(text);
    ok(ngx_http_byok_validate_order(j, catalog, ids,
                                    NGX_HTTP_BYOK_ORDER_IDS_MAX, &out, &err)
       == 0 && out.n == 1000 && ids[999] == 1000, "order: 1000 ids");
    ok(ngx_http_byok_validate_order(j, catalog, ids, 999, &out, &err) != 0
       && err_is(&err, 422, "validation_failed", IDS_ARRAY_MSG, "ids"),
       "order: no more ids than the caller has room for");
    json_decref(j);

    strcpy(p, ",1001]}");
    order_invalid(text, IDS_ARRAY_MSG, "ids", "order: 1001 ids");

    free(text);
}


static void
test_mask(void)
{
    char  out[NGX_HTTP_BYOK_MASK_SIZE + 4];

    memset(out, 'x', sizeof(out));
    ngx_http_byok_mask((const unsigned char *) "sk-ant-api03-abcdef", 19,
                       out);
    is_str(out, "sk-ant-a***", "mask: the first 8 characters and ***");
    ok(out[NGX_HTTP_BYOK_MASK_SIZE] == 'x', "mask: writes 12 bytes at most");

    ngx_http_byok_mask((const unsigned char *) "12345678", 8, out);
    is_str(out, "12345678***", "mask: exactly 8 characters");

    ngx_http_byok_mask((const unsigned char *) "abc", 3, out);
    is_str(out, "abc***", "mask: a shorter value is not padded");

    ngx_http_byok_mask((const unsigned char *) "", 0, out);
    is_str(out, "***", "mask: nothing");
}


/* text with ' for ", parsed as a request body */

static json_t *
body(const char *text)
{
    char                     *s, *p;
    json_t                   *j;
    ngx_http_byok_invalid_t   err;

    s = strdup(text);
    if (s == NULL) {
        abort();
    }

    for (p = s; *p; p++) {
        if (*p == '\'') {
            *p = '"';
        }
    }

    j = ngx_http_byok_parse_body((unsigned char *) s, strlen(s), &err);

    if (j == NULL) {
        printf("#   cannot parse %s: %s\n", s, err.message);
        abort();
    }

    free(s);

    return j;
}


static int
err_is(const ngx_http_byok_invalid_t *err, int status, const char *code,
    const char *message, const char *field)
{
    int  same;

    same = err->status == status
           && err->code != NULL && strcmp(err->code, code) == 0
           && err->message != NULL && strcmp(err->message, message) == 0
           && ((err->field == NULL && field == NULL)
               || (err->field != NULL && field != NULL
                   && strcmp(err->field, field) == 0));

    if (!same) {
        printf("#   got %d %s \"%s\" field %s\n", err->status,
               err->code ? err->code : "(null)",
               err->message ? err->message : "(null)",
               err->field ? err->field : "(none)");
        printf("#   expected %d %s \"%s\" field %s\n", status, code, message,
               field ? field : "(none)");
    }

    return same;
}


static void
parse_fails(const char *text, size_t len, const char *code,
    const char *message, const char *name)
{
    json_t                   *j;
    ngx_http_byok_invalid_t   err;

    j = ngx_http_byok_parse_body((const unsigned char *) text, len, &err);
    ok(j == NULL && err_is(&err, 400, code, message, NULL), name);
    json_decref(j);
}


static void
create_fails(const char *text, int status, const char *code,
    const char *message, const char *field, const char *name)
{
    json_t                  *j;
    ngx_http_byok_create_t   out;
    ngx_http_byok_invalid_t  err;

    j = body(text);
    ok(ngx_http_byok_validate_create(j, catalog, &out, &err) != 0
       && err_is(&err, status, code, message, field), name);
    json_decref(j);
}


static void
create_invalid(const char *text, const char *message, const char *field,
    const char *name)
{
    create_fails(text, 422, "validation_failed", message, field, name);
}


static int
create(const char *text, ngx_http_byok_create_t *out, json_t **json)
{
    int                       rc;
    ngx_http_byok_invalid_t   err;

    *json = body(text);

    rc = ngx_http_byok_validate_create(*json, catalog, out, &err);

    if (rc != 0) {
        printf("#   refused: %s\n", err.message);
    }

    return rc;
}


static void
label_is(const char *label, int valid, const char *name)
{
    char                     text[512], patch[128];
    json_t                  *j;
    ngx_http_byok_create_t   out;
    ngx_http_byok_invalid_t  err;

    snprintf(text, sizeof(text), "{" LLM_OPENAI ",'value':'" KEY "',"
             "'label':'%s'}", label);

    if (valid) {
        ok(create(text, &out, &j) == 0 && out.label != NULL, name);
        json_decref(j);
        return;
    }

    j = body(text);
    ok(ngx_http_byok_validate_create(j, catalog, &out, &err) != 0
       && err_is(&err, 422, "validation_failed", LABEL_MSG, "label"), name);
    json_decref(j);

    /* PATCH has the same rule */

    snprintf(text, sizeof(text), "{'label':'%s'}", label);
    snprintf(patch, sizeof(patch), "%s (patch)", name);
    patch_invalid(text, LABEL_MSG, "label", patch);
}


static void
patch_fails(const char *text, int status, const char *code,
    const char *message, const char *field, const char *name)
{
    json_t                   *j;
    ngx_http_byok_patch_t     out;
    ngx_http_byok_invalid_t   err;

    j = body(text);
    ok(ngx_http_byok_validate_patch(j, &out, &err) != 0
       && err_is(&err, status, code, message, field), name);
    json_decref(j);
}


static void
patch_invalid(const char *text, const char *message, const char *field,
    const char *name)
{
    patch_fails(text, 422, "validation_failed", message, field, name);
}


static void
order_invalid(const char *text, const char *message, const char *field,
    const char *name)
{
    json_t                   *j;
    int64_t                   ids[NGX_HTTP_BYOK_ORDER_IDS_MAX];
    ngx_http_byok_order_t     out;
    ngx_http_byok_invalid_t   err;

    j = body(text);
    ok(ngx_http_byok_validate_order(j, catalog, ids,
                                    NGX_HTTP_BYOK_ORDER_IDS_MAX, &out, &err)
       != 0 && err_is(&err, 422, "validation_failed", message, field), name);
    json_decref(j);
}


static char *
repeat(char c, size_t n)
{
    char  *s;

    s = malloc(n + 1);
    if (s == NULL) {
        abort();
    }

    memset(s, c, n);
    s[n] = '\0';

    return s;
}
