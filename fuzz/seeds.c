
/*
 * Writes the seed corpora under fuzz/corpus/: tokens signed with the
 * HS256 secret of fuzz.h (and RS256/ES256 tokens under keys made here,
 * which the harnesses do not trust), blobs sealed under the masters of
 * fuzz.h, master key texts, header values, and the shipped catalog with
 * one change each.  Run through "sh fuzz/run.sh seeds".
 *
 * usage: seeds CORPUS_DIR CATALOG_JSON
 */


#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ngx_http_byok_jwt.h"
#include "ngx_http_byok_seal.h"
#include "fuzz.h"
#include "fuzz_jwt_util.h"
#include "fuzz_seal_util.h"


#define NOW     FUZZ_NOW
#define LATER   "1700000300"
#define PAST    "1699990000"
#define HDR_HS  "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define CLAIMS  "\"sub\":\"user-1\",\"exp\":" LATER ",\"iat\":1699999990"
#define FULL    "{" CLAIMS ",\"iss\":\"" FUZZ_ISSUER "\",\"aud\":\"" \
                FUZZ_AUDIENCE "\"}"


typedef struct {
    const char  *name;
    const char  *header;
    const char  *payload;
} jwt_seed_t;


typedef struct {
    const char  *name;
    const char  *path;      /* dotted, numbers index arrays */
    const char  *json;      /* NULL: delete the member */
} catalog_seed_t;


static void jwt_seeds(void);
static void key_seeds(void);
static void seal_seeds(void);
static void master_seeds(void);
static void header_seeds(void);
static void catalog_seeds(const char *path);
static char *token(int signer, const char *header, const char *payload,
    size_t *len);
static void key_seed(const char *name, int alg, const char *material,
    size_t len);
static char *pem(EVP_PKEY *pkey, int public);
static void open_seed(const char *name, int flags, int seal_with,
    const char *user, int64_t key_id, const char *provider,
    const char *plain, int mangle);
static void roundtrip_seed(const char *name, int flags, const char *user,
    int64_t key_id, const char *provider, uint16_t bit, const char *plain,
    size_t plain_len);
static size_t put_aad(unsigned char *p, int flags, const char *user,
    int64_t key_id, const char *provider);
static int set_path(json_t *root, const char *path, json_t *value);
static void dir(const char *target);
static void put(const char *target, const char *name, const void *data,
    size_t len);


static const char  *corpus;


static const jwt_seed_t  jwt_seeds_list[] = {
    { "hs256-valid", HDR_HS, FULL },
    { "hs256-minimal", "{\"alg\":\"HS256\"}", "{" CLAIMS "}" },
    { "hs256-aud-array", HDR_HS,
      "{" CLAIMS ",\"iss\":\"" FUZZ_ISSUER "\",\"aud\":[\"x\",\""
      FUZZ_AUDIENCE "\"]}" },
    { "hs256-nbf-in-leeway", HDR_HS,
      "{" CLAIMS ",\"nbf\":1700000030,\"iss\":\"" FUZZ_ISSUER
      "\",\"aud\":\"" FUZZ_AUDIENCE "\"}" },
    { "hs256-nbf-ahead", HDR_HS, "{" CLAIMS ",\"nbf\":1700009999}" },
    { "hs256-nbf-string", HDR_HS, "{" CLAIMS ",\"nbf\":\"1\"}" },
    { "hs256-aud-other", HDR_HS,
      "{" CLAIMS ",\"iss\":\"" FUZZ_ISSUER "\",\"aud\":\"other\"}" },
    { "hs256-aud-array-other", HDR_HS,
      "{" CLAIMS ",\"iss\":\"" FUZZ_ISSUER "\",\"aud\":[\"x\",1]}" },
    { "hs256-iss-other", HDR_HS,
      "{" CLAIMS ",\"iss\":\"https://other.example\",\"aud\":\""
      FUZZ_AUDIENCE "\"}" },
    { "hs256-expired", HDR_HS, "{\"sub\":\"user-1\",\"exp\":" PAST "}" },
    { "hs256-exp-in-leeway", HDR_HS,
      "{\"sub\":\"u\",\"exp\":1699999950,\"iss\":\"" FUZZ_ISSUER
      "\",\"aud\":\"" FUZZ_AUDIENCE "\"}" },
    { "hs256-exp-real", HDR_HS, "{\"sub\":\"u\",\"exp\":1.7e9}" },
    { "hs256-exp-string", HDR_HS, "{\"sub\":\"u\",\"exp\":\"" LATER "\"}" },
    { "hs256-no-exp", HDR_HS, "{\"sub\":\"u\"}" },
    { "hs256-no-sub", HDR_HS, "{\"exp\":" LATER "}" },
    { "hs256-sub-number", HDR_HS, "{\"sub\":7,\"exp\":" LATER "}" },
    { "hs256-sub-empty", HDR_HS, "{\"sub\":\"\",\"exp\":" LATER "}" },
    { "hs256-sub-ctl", HDR_HS, "{\"sub\":\"a\\u0001b\",\"exp\":" LATER "}" },
    { "hs256-sub-c1", HDR_HS, "{\"sub\":\"a\\u0085b\",\"exp\":" LATER "}" },
    { "hs256-sub-nul", HDR_HS, "{\"sub\":\"a\\u0000b\",\"exp\":" LATER "}" },
    { "hs256-sub-utf8", HDR_HS,
      "{\"sub\":\"\xc3\xa9l\xc3\xa8ve-\xe2\x82\xac\",\"exp\":" LATER "}" },
    { "hs256-sub-128",  HDR_HS,
      "{\"sub\":\"0123456789abcdef0123456789abcdef0123456789abcdef"
      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
      "0123456789abcdef\",\"exp\":" LATER "}" },
    { "hs256-iat-string", HDR_HS,
      "{\"sub\":\"u\",\"exp\":" LATER ",\"iat\":\"x\"}" },
    { "hs256-duplicate", HDR_HS,
      "{\"sub\":\"a\",\"sub\":\"b\",\"exp\":" LATER "}" },
    { "hs256-crit", "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", FULL },
    { "hs256-typ-lower", "{\"alg\":\"HS256\",\"typ\":\"jwt\"}", FULL },
    { "hs256-typ-other", "{\"alg\":\"HS256\",\"typ\":\"JOSE\"}", FULL },
    { "hs256-typ-number", "{\"alg\":\"HS256\",\"typ\":1}", FULL },
    { "alg-none", "{\"alg\":\"none\"}", FULL },
    { "alg-lower", "{\"alg\":\"hs256\"}", FULL },
    { "alg-missing", "{\"typ\":\"JWT\"}", FULL },
    { "alg-number", "{\"alg\":256}", FULL },
    { "header-array", "[\"HS256\"]", FULL },
    { "payload-array", HDR_HS, "[1]" },
    { "payload-garbage", HDR_HS, "{\"sub\":" },
    { NULL, NULL, NULL }
};


static const catalog_seed_t  catalog_seeds_list[] = {
    { "http-loopback", "categories.0.providers.0.test.url",
      "\"http://127.0.0.1:8080/v1/models\"" },
    { "ipv6-loopback", "categories.0.providers.0.test.url",
      "\"https://[::1]/v1\"" },
    { "ipv6-mapped", "categories.0.providers.0.test.url",
      "\"https://[::ffff:10.0.0.1]:8443/v1\"" },
    { "ipv6-link-local", "categories.0.providers.0.test.url",
      "\"https://[fe80::1]/v1\"" },
    { "private-ipv4", "categories.0.providers.0.test.url",
      "\"https://192.168.1.10/v1\"" },
    { "numeric-host", "categories.0.providers.0.test.url",
      "\"https://0x7f.1/v1\"" },
    { "localhost-dot", "categories.0.providers.0.test.url",
      "\"https://api.localhost./v1\"" },
    { "userinfo", "categories.0.providers.0.test.url",
      "\"https://user@api.example.com/v1\"" },
    { "bad-port", "categories.0.providers.0.test.url",
      "\"https://api.example.com:65536/v1\"" },
    { "fragment", "categories.0.providers.0.test.url",
      "\"https://api.example.com/v1#x\"" },
    { "no-path", "categories.0.providers.0.test.url",
      "\"https://api.example.com\"" },
    { "url-space", "categories.0.providers.0.test.url",
      "\"https://api.example.com/a b\"" },
    { "docs-http", "categories.0.providers.0.docs_url",
      "\"http://docs.example.com/\"" },
    { "docs-query", "categories.0.providers.0.docs_url",
      "\"https://docs.example.com?x=1\"" },
    { "header-crlf", "categories.0.providers.0.headers",
      "{\"x-a\":\"b\\r\\nx-c: d\"}" },
    { "header-nul", "categories.0.providers.0.headers",
      "{\"x-a\":\"b\\u0000c\"}" },
    { "header-tab", "categories.0.providers.0.headers",
      "{\"x-a\":\"b\\tc\"}" },
    { "header-hop", "categories.0.providers.0.headers",
      "{\"Connection\":\"close\"}" },
    { "header-auth-repeat", "categories.0.providers.0.headers",
      "{\"X-API-KEY\":\"x\"}" },
    { "header-dup-case", "categories.0.providers.0.headers",
      "{\"x-a\":\"1\",\"X-A\":\"2\"}" },
    { "header-bad-name", "categories.0.providers.0.headers",
      "{\"x a\":\"1\"}" },
    { "headers-empty", "categories.0.providers.0.headers", "{}" },
    { "auth-framing", "categories.0.providers.0.auth.header",
      "\"Transfer-Encoding\"" },
    { "prefix-two-spaces", "categories.0.providers.1.auth.prefix",
      "\"Bearer  \"" },
    { "prefix-crlf", "categories.0.providers.1.auth.prefix",
      "\"Bearer\\r\\n\"" },
    { "methods-dup", "categories.0.providers.1.auth_methods",
      "[\"api_key\",\"api_key\"]" },
    { "methods-empty", "categories.0.providers.1.auth_methods", "[]" },
    { "oauth-without-method", "categories.0.providers.1.oauth",
      "{\"available\":true}" },
    { "oauth-notice-missing", "categories.0.providers.0.oauth.notice",
      NULL },
    { "unknown-field", "categories.0.providers.0.extra", "1" },
    { "dup-provider", "categories.1.providers.0.id", "\"anthropic\"" },
    { "dup-category", "categories.1.id", "\"llm\"" },
    { "test-null", "categories.0.providers.0.test", "null" },
    { "test-put", "categories.0.providers.0.test.method", "\"PUT\"" },
    { "bad-id", "categories.0.providers.0.id", "\"Bad_ID\"" },
    { "name-empty", "categories.0.name", "\"\"" },
    { "hint-ctl", "categories.0.providers.0.key_hint", "\"sk-\\u0007\"" },
    { "no-providers", "categories.0.providers", "[]" },
    { "no-categories", "categories", "[]" },
    { "categories-object", "categories", "{}" },
    { "providers-object", "categories.0.providers", "{}" },
    { "provider-string", "categories.0.providers", "[\"anthropic\"]" },
    { "available-string", "categories.0.providers.0.oauth.available",
      "\"no\"" },
    { "oauth-array", "categories.0.providers.0.oauth", "[]" },
    { "headers-array", "categories.0.providers.0.headers", "[]" },
    { "header-number", "categories.0.providers.0.headers", "{\"x-a\":1}" },
    { "auth-missing", "categories.0.providers.0.auth", NULL },
    { "auth-string", "categories.0.providers.0.auth", "\"x-api-key\"" },
    { "test-string", "categories.0.providers.0.test",
      "\"https://api.example.com/\"" },
    { "test-no-url", "categories.0.providers.0.test.url", NULL },
    { "empty-host", "categories.0.providers.0.test.url",
      "\"https:///v1\"" },
    { "long-label", "categories.0.providers.0.test.url",
      "\"https://a123456789012345678901234567890123456789012345678901234"
      "567890123.example.com/\"" },
    { "long-host", "categories.0.providers.0.test.url",
      "\"https://a23456789.a23456789.a23456789.a23456789.a23456789."
      "a23456789.a23456789.a23456789.a23456789.a23456789.a23456789."
      "a23456789.a23456789.a23456789.a23456789.a23456789.a23456789."
      "a23456789.a23456789.a23456789.a23456789.a23456789.a23456789."
      "a23456789.a23456789.example/\"" },
    { "host-underscore", "categories.0.providers.0.test.url",
      "\"https://api_x.example.com/\"" },
    { "host-upper", "categories.0.providers.0.test.url",
      "\"https://API.Example.COM:443/v1?x=1\"" },
    { "ipv6-nat64", "categories.0.providers.0.test.url",
      "\"https://[64:ff9b::a00:1]/v1\"" },
    { "ipv6-public", "categories.0.providers.0.test.url",
      "\"https://[2001:db8::1]:8443/v1\"" },
    { "ipv6-unclosed", "categories.0.providers.0.test.url",
      "\"https://[::1/v1\"" },
    { "port-zero", "categories.0.providers.0.test.url",
      "\"https://api.example.com:0/v1\"" },
    { "cgnat", "categories.0.providers.0.test.url",
      "\"https://100.64.0.1/v1\"" },
    { "docs-userinfo", "categories.0.providers.0.docs_url",
      "\"https://a:b@docs.example.com/\"" },
    { "root-field", "version", "1" },
    { NULL, NULL, NULL }
};


int
main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CORPUS_DIR CATALOG_JSON\n", argv[0]);
        return 2;
    }

    corpus = argv[1];

    fuzz_jwt_init();
    fuzz_seal_init();

    jwt_seeds();
    key_seeds();
    seal_seeds();
    master_seeds();
    header_seeds();
    catalog_seeds(argv[2]);

    return 0;
}


static void
jwt_seeds(void)
{
    char              *t, *p, name[64], text[8192];
    size_t             len, n;
    const jwt_seed_t  *s;

    dir("jwt_verify");
    dir("jwt_claims");

    for (s = jwt_seeds_list; s->name != NULL; s++) {
        t = token(FUZZ_JWT_HS, s->header, s->payload, &len);
        put("jwt_verify", s->name, t, len);
        free(t);

        n = snprintf(text, sizeof(text), "%s\n%s", s->header, s->payload);
        put("jwt_claims", s->name, text, n);
    }

    /* signed under keys the harnesses do not have */

    t = token(FUZZ_JWT_RS, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", FULL, &len);
    put("jwt_verify", "rs256-other-key", t, len);
    free(t);

    t = token(FUZZ_JWT_ES, "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", FULL, &len);
    put("jwt_verify", "es256-other-key", t, len);

    /* an ES256 signature one byte short */
    put("jwt_verify", "es256-short-sig", t, len - 2);
    free(t);

    n = snprintf(text, sizeof(text), "%s\n%s",
                 "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", FULL);
    put("jwt_claims", "es256-valid", text, n);

    n = snprintf(text, sizeof(text), "%s\n%s", "{\"alg\":\"RS256\"}", FULL);
    put("jwt_claims", "rs256-valid", text, n);

    /* shapes the parser must refuse before any crypto */

    t = token(FUZZ_JWT_HS, HDR_HS, FULL, &len);

    p = malloc(len + 2);
    memcpy(p, t, len);
    memcpy(p + len, "==", 2);
    put("jwt_verify", "padded", p, len + 2);

    p[len - 3] ^= 0x01;
    put("jwt_verify", "bad-sig", p, len);

    put("jwt_verify", "no-signature", t, strchr(strchr(t, '.') + 1, '.') - t
                                          + 1);
    put("jwt_verify", "two-segments", t, strchr(strchr(t, '.') + 1, '.') - t);
    put("jwt_verify", "dots", "..", 2);
    put("jwt_verify", "four-segments", "e30.e30.e30.e30", 15);

    free(p);
    free(t);

    /* a token near the 8 KiB limit */

    n = snprintf(text, sizeof(text), "{" CLAIMS ",\"pad\":\"%0*d\"}", 5900,
                 0);
    t = token(FUZZ_JWT_HS, HDR_HS, text, &len);
    snprintf(name, sizeof(name), "hs256-%zu-bytes", len);
    put("jwt_verify", name, t, len);
    free(t);

    n = snprintf(text, sizeof(text), "{" CLAIMS ",\"pad\":\"%0*d\"}", 6100,
                 0);
    t = token(FUZZ_JWT_HS, HDR_HS, text, &len);
    snprintf(name, sizeof(name), "hs256-%zu-bytes", len);
    put("jwt_verify", name, t, len);
    free(t);
}


static char *
token(int signer, const char *header, const char *payload, size_t *len)
{
    char           *t;
    size_t          n, slen, hlen, plen;
    unsigned char   sig[FUZZ_JWT_SIG_MAX];

    hlen = strlen(header);
    plen = strlen(payload);

    t = malloc(2 * (hlen + plen) + 2 * FUZZ_JWT_SIG_MAX + 8);
    if (t == NULL) {
        abort();
    }

    n = fuzz_b64url((const unsigned char *) header, hlen, t);
    t[n++] = '.';
    n += fuzz_b64url((const unsigned char *) payload, plen, t + n);

    slen = fuzz_jwt_sign(signer, (unsigned char *) t, n, sig);
    if (slen == 0) {
        abort();
    }

    t[n++] = '.';
    n += fuzz_b64url(sig, slen, t + n);

    *len = n;

    return t;
}


static void
key_seeds(void)
{
    char               *p;
    size_t              i;
    EVP_PKEY           *k;
    static const char  *curves[][2] = {
        { "es256-p256", "P-256" },
        { "es256-p384", "P-384" },
        { "es256-secp256k1", "secp256k1" }
    };

    dir("jwt_key");

    key_seed("hs256-32", NGX_HTTP_BYOK_JWT_HS256,
             "0123456789abcdef0123456789abcdef", 32);
    key_seed("hs256-31", NGX_HTTP_BYOK_JWT_HS256,
             "0123456789abcdef0123456789abcde", 31);
    key_seed("none", 0, FUZZ_HS256_SECRET, strlen(FUZZ_HS256_SECRET));

    k = EVP_RSA_gen(2048);
    p = pem(k, 1);
    key_seed("rs256-2048", NGX_HTTP_BYOK_JWT_RS256, p, strlen(p));
    key_seed("es256-given-rsa", NGX_HTTP_BYOK_JWT_ES256, p, strlen(p));
    key_seed("rs256-truncated", NGX_HTTP_BYOK_JWT_RS256, p, strlen(p) / 2);
    free(p);

    p = pem(k, 0);
    key_seed("rs256-private", NGX_HTTP_BYOK_JWT_RS256, p, strlen(p));
    free(p);
    EVP_PKEY_free(k);

    k = EVP_RSA_gen(1024);
    p = pem(k, 1);
    key_seed("rs256-1024", NGX_HTTP_BYOK_JWT_RS256, p, strlen(p));
    free(p);
    EVP_PKEY_free(k);

    for (i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        k = EVP_EC_gen(curves[i][1]);
        p = pem(k, 1);
        key_seed(curves[i][0], NGX_HTTP_BYOK_JWT_ES256, p, strlen(p));
        free(p);
        EVP_PKEY_free(k);
    }

    k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    p = pem(k, 1);
    key_seed("es256-ed25519", NGX_HTTP_BYOK_JWT_ES256, p, strlen(p));
    free(p);
    EVP_PKEY_free(k);

    p = "-----BEGIN PUBLIC KEY-----\nxx\n-----END PUBLIC KEY-----\n";
    key_seed("garbage-pem", NGX_HTTP_BYOK_JWT_RS256, p, strlen(p));
}


static void
key_seed(const char *name, int alg, const char *material, size_t len)
{
    char  *buf;

    buf = malloc(len + 1);
    if (buf == NULL) {
        abort();
    }

    buf[0] = (char) alg;
    memcpy(buf + 1, material, len);

    put("jwt_key", name, buf, len + 1);

    free(buf);
}


static char *
pem(EVP_PKEY *pkey, int public)
{
    BIO   *bio;
    char  *data, *copy;
    long   len;

    bio = BIO_new(BIO_s_mem());

    if (pkey == NULL || bio == NULL
        || (public ? PEM_write_bio_PUBKEY(bio, pkey)
                   : PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL,
                                              NULL)) != 1)
    {
        fprintf(stderr, "cannot write a PEM key\n");
        exit(1);
    }

    len = BIO_get_mem_data(bio, &data);
    copy = strndup(data, (size_t) len);

    BIO_free(bio);

    return copy;
}


static void
seal_seeds(void)
{
    dir("seal_open");
    dir("seal_roundtrip");

    /* flags % 3: 0 = A and B configured, 1 = B only, 2 = none */

    open_seed("a-opens", 0, 0, "user-42", 7, "openai", "sk-test-0123", 0);
    open_seed("b-opens", 1, 1, "user-42", 7, "anthropic", "sk-ant-xyz", 0);
    open_seed("a-not-configured", 1, 0, "user-42", 7, "openai", "sk", 0);
    open_seed("no-masters", 2, 0, "u", 1, "p", "sk", 0);
    open_seed("empty-plain", 0, 0, "", 0, "", "", 0);
    open_seed("other-user", 0, 0, "user-42", 7, "openai", "sk", 1);
    open_seed("wrong-version", 0, 0, "user-42", 7, "openai", "sk", 2);
    open_seed("truncated", 0, 0, "user-42", 7, "openai", "sk", 3);

    roundtrip_seed("empty", 0, "", 0, "", 0, "", 0);
    roundtrip_seed("api-key", 0, "user-42", 7, "openai", 100,
                   "sk-test-0123456789", 18);
    roundtrip_seed("master-b", 1, "user-7", -1, "anthropic", 9000,
                   "sk-ant-api03-abcdefghijklmnopqrstuvwxyz", 39);
    roundtrip_seed("long", 0, "a-user-with-a-long-name@example.com",
                   INT64_MAX, "fal-video", 2047,
                   "0123456789abcdef0123456789abcdef0123456789abcdef"
                   "0123456789abcdef0123456789abcdef0123456789abcdef"
                   "0123456789abcdef0123456789abcdef0123456789abcdef", 144);
    roundtrip_seed("binary", 0, "u\xff", 1, "p\x01q", 3,
                   "\x00\x01\x02\xfe\xff", 5);
}


static void
open_seed(const char *name, int flags, int seal_with, const char *user,
    int64_t key_id, const char *provider, const char *plain, int mangle)
{
    size_t               n, blob_len;
    unsigned char        buf[1024];
    ngx_http_byok_aad_t  aad;

    aad.user = (const unsigned char *) user;
    aad.user_len = strlen(user);
    aad.key_id = key_id;
    aad.provider = (const unsigned char *) provider;
    aad.provider_len = strlen(provider);

    n = put_aad(buf, flags, user, key_id, provider);

    if (ngx_http_byok_seal(&fuzz_master[seal_with], &aad,
                           (const unsigned char *) plain, strlen(plain),
                           buf + n, &blob_len)
        != NGX_HTTP_BYOK_SEAL_OK)
    {
        fprintf(stderr, "cannot seal\n");
        exit(1);
    }

    switch (mangle) {
    case 1:
        buf[3 + 8 + 1] ^= 0x20;         /* the user's first byte */
        break;
    case 2:
        buf[n] = 0x02;
        break;
    case 3:
        blob_len = NGX_HTTP_BYOK_SEAL_OVERHEAD - 1;
        break;
    }

    put("seal_open", name, buf, n + blob_len);
}


static void
roundtrip_seed(const char *name, int flags, const char *user,
    int64_t key_id, const char *provider, uint16_t bit, const char *plain,
    size_t plain_len)
{
    size_t         n, ulen, plen;
    unsigned char  buf[1024];

    /* flags | user_len | provider_len | key_id | bit | user | provider */

    ulen = strlen(user);
    plen = strlen(provider);

    buf[0] = (unsigned char) flags;
    buf[1] = (unsigned char) ulen;
    buf[2] = (unsigned char) plen;

    for (n = 0; n < 8; n++) {
        buf[3 + n] = (unsigned char) ((uint64_t) key_id >> (56 - 8 * n));
    }

    buf[11] = (unsigned char) (bit >> 8);
    buf[12] = (unsigned char) bit;
    n = 13;

    memcpy(buf + n, user, ulen);
    n += ulen;
    memcpy(buf + n, provider, plen);
    n += plen;
    memcpy(buf + n, plain, plain_len);
    n += plain_len;

    put("seal_roundtrip", name, buf, n);
}


static size_t
put_aad(unsigned char *p, int flags, const char *user, int64_t key_id,
    const char *provider)
{
    size_t  n, ulen, plen;

    ulen = strlen(user);
    plen = strlen(provider);

    p[0] = (unsigned char) flags;
    p[1] = (unsigned char) ulen;
    p[2] = (unsigned char) plen;

    for (n = 0; n < 8; n++) {
        p[3 + n] = (unsigned char) ((uint64_t) key_id >> (56 - 8 * n));
    }

    memcpy(p + 11, user, ulen);
    memcpy(p + 11 + ulen, provider, plen);

    return 11 + ulen + plen;
}


static void
master_seeds(void)
{
    size_t              i;
    static const char  *texts[][2] = {
        { "hex", FUZZ_MASTER_A },
        { "hex-upper",
          "F0E1D2C3B4A5968778695A4B3C2D1E0F00112233445566778899AABBCCDDEEFF" },
        { "hex-spaces",
          " \t" FUZZ_MASTER_B "\r\n" },
        { "hex-63", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b"
                    "1c1d1e1" },
        { "hex-bad-digit",
          "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g" },
        { "base64", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" },
        { "base64-newline", "8OHSw7SlloZ4aVpLPC0eDwARIjNEVWZ3iJmqu8zd7v8=\n" },
        { "base64-trailing-bits",
          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh9=" },
        { "base64-no-pad", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8" },
        { "base64-double-pad",
          "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh==" },
        { "base64url", "8OHSw7SlloZ4aVpLPC0eDwARIjNEVWZ3iJmqu8zd7v8-" },
        { "empty", "" },
        { "spaces", "   \n" }
    };

    dir("master_decode");

    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        put("master_decode", texts[i][0], texts[i][1], strlen(texts[i][1]));
    }
}


static void
header_seeds(void)
{
    size_t              i;
    static const char  *values[][2] = {
        { "bearer", "Bearer sk-test-0123456789" },
        { "version", "2023-06-01" },
        { "token", "x-api-key" },
        { "tchars", "!#$%&'*+-.^_`|~09AZaz" },
        { "inner-tab", "a\tb" },
        { "crlf", "sk\r\nX-Injected: 1" },
        { "lf", "sk\nx" },
        { "leading-space", " sk" },
        { "trailing-tab", "sk\t" },
        { "del", "sk\x7f" },
        { "utf8", "cl\xc3\xa9" },
        { "colon", "x-a:b" }
    };

    dir("header");

    for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        put("header", values[i][0], values[i][1], strlen(values[i][1]));
    }

    put("header", "nul", "sk\0x", 4);
}


static void
catalog_seeds(const char *path)
{
    char                  *text;
    json_t                *root, *copy, *cats, *v;
    json_error_t           err;
    const catalog_seed_t  *s;

    dir("catalog");

    root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (root == NULL) {
        fprintf(stderr, "%s: %s\n", path, err.text);
        exit(1);
    }

    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    put("catalog", "shipped", text, strlen(text));
    free(text);

    /* one provider in one category: small, so mutations are cheap */

    copy = json_deep_copy(root);
    cats = json_object_get(copy, "categories");

    while (json_array_size(cats) > 1) {
        json_array_remove(cats, 1);
    }

    v = json_object_get(json_array_get(cats, 0), "providers");

    while (json_array_size(v) > 1) {
        json_array_remove(v, 1);
    }

    text = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
    put("catalog", "one-provider", text, strlen(text));

    put("catalog", "syntax-error", text, strlen(text) / 2);
    free(text);
    json_decref(copy);

    for (s = catalog_seeds_list; s->name != NULL; s++) {
        copy = json_deep_copy(root);
        v = NULL;

        if (s->json != NULL) {
            v = json_loads(s->json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
            if (v == NULL) {
                fprintf(stderr, "%s: %s\n", s->name, err.text);
                exit(1);
            }
        }

        if (set_path(copy, s->path, v) != 0) {
            fprintf(stderr, "%s: no %s in the catalog\n", s->name, s->path);
            exit(1);
        }

        text = json_dumps(copy, JSON_COMPACT | JSON_PRESERVE_ORDER);
        put("catalog", s->name, text, strlen(text));

        free(text);
        json_decref(copy);
    }

    json_decref(root);
}


/* sets (or with value NULL deletes) the member at a dotted path */

static int
set_path(json_t *root, const char *path, json_t *value)
{
    char    *p, *dot, *copy;
    json_t  *node;

    copy = strdup(path);
    node = root;
    p = copy;

    while ((dot = strchr(p, '.')) != NULL) {
        *dot = '\0';

        node = json_is_array(node) ? json_array_get(node, atoi(p))
                                   : json_object_get(node, p);
        if (node == NULL) {
            free(copy);
            return -1;
        }

        p = dot + 1;
    }

    if (!json_is_object(node)) {
        free(copy);
        return -1;
    }

    if (value == NULL) {
        json_object_del(node, p);

    } else {
        json_object_set_new(node, p, value);
    }

    free(copy);

    return 0;
}


static void
dir(const char *target)
{
    char  path[512];

    snprintf(path, sizeof(path), "%s/%s", corpus, target);

    if (mkdir(corpus, 0755) != 0 && errno != EEXIST) {
        perror(corpus);
        exit(1);
    }

    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
}


static void
put(const char *target, const char *name, const void *data, size_t len)
{
    char   path[512];
    FILE  *f;

    snprintf(path, sizeof(path), "%s/%s/%s", corpus, target, name);

    f = fopen(path, "wb");

    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}
