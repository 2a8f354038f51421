
/*
 * Structure-aware JWT harness: the input is a header JSON text and a
 * payload JSON text separated by the first newline.  The harness encodes
 * both and signs them with a configured key (ES256 or RS256 when the
 * header names it, HS256 otherwise), so every input passes the signature
 * and reaches the header and claims checks.
 *
 * Property: with and without a configured issuer and audience, the
 * verifier accepts exactly the tokens that the rules of SPEC §4,
 * rewritten here on their own, accept; an accepted token yields the
 * payload unchanged.
 */


#define _GNU_SOURCE                 /* memmem() */

#include <string.h>
#include <strings.h>

#include "ngx_http_byok_jwt.h"
#include "fuzz.h"
#include "fuzz_jwt_util.h"


#define MAX_PART  (NGX_HTTP_BYOK_JWT_MAX_LEN + 16)


static void check(const unsigned char *t, size_t n, const char *header,
    size_t hlen, const char *body, size_t plen, int signer,
    const ngx_http_byok_jwt_opts_t *opts);
static int expected(const char *header, size_t hlen, const char *payload,
    size_t plen, int signer, const ngx_http_byok_jwt_opts_t *opts);
static int header_ok(json_t *h, int signer);
static int claims_ok(json_t *c, const ngx_http_byok_jwt_opts_t *opts);
static int sub_ok(json_t *sub);
static int str_is(json_t *v, const char *s);


static char  token[2 * MAX_PART + FUZZ_JWT_SIG_MAX * 2];


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_jwt_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                        signer;
    size_t                     hlen, plen, n, slen;
    const char                *header, *body, *nl;
    unsigned char              sig[FUZZ_JWT_SIG_MAX];
    ngx_http_byok_jwt_opts_t   opts;

    if (size > MAX_PART) {
        return 0;
    }

    header = (const char *) data;
    nl = memchr(data, '\n', size);

    hlen = (nl != NULL) ? (size_t) (nl - header) : size;
    body = (nl != NULL) ? nl + 1 : header + size;
    plen = size - hlen - (nl != NULL);

    if (memmem(header, hlen, "\"ES256\"", 7) != NULL) {
        signer = FUZZ_JWT_ES;

    } else if (memmem(header, hlen, "\"RS256\"", 7) != NULL) {
        signer = FUZZ_JWT_RS;

    } else {
        signer = FUZZ_JWT_HS;
    }

    n = fuzz_b64url((const unsigned char *) header, hlen, token);
    token[n++] = '.';
    n += fuzz_b64url((const unsigned char *) body, plen, token + n);

    slen = fuzz_jwt_sign(signer, (unsigned char *) token, n, sig);
    fuzz_assert(slen > 0, "the harness signs");

    token[n++] = '.';
    n += fuzz_b64url(sig, slen, token + n);

    opts.now = FUZZ_NOW;
    opts.leeway = FUZZ_LEEWAY;
    opts.issuer = FUZZ_ISSUER;
    opts.audience = FUZZ_AUDIENCE;

    check((unsigned char *) token, n, header, hlen, body, plen, signer,
          &opts);

    opts.issuer = NULL;
    opts.audience = NULL;

    check((unsigned char *) token, n, header, hlen, body, plen, signer,
          &opts);

    return 0;
}


static void
check(const unsigned char *t, size_t n, const char *header, size_t hlen,
    const char *body, size_t plen, int signer,
    const ngx_http_byok_jwt_opts_t *opts)
{
    int          rc, want;
    json_t      *claims, *payload;
    const char  *reason;

    rc = ngx_http_byok_jwt_verify(t, n, fuzz_jwt_keys, FUZZ_JWT_NKEYS, opts,
                                  &claims, &reason);

    want = (n <= NGX_HTTP_BYOK_JWT_MAX_LEN)
           && expected(header, hlen, body, plen, signer, opts);

    if (want && rc != 0) {
        fprintf(stderr, "refused: %s\n", reason);
    }

    fuzz_assert((rc == 0) == want, "verify agrees with the rules");

    if (rc != 0) {
        fuzz_assert(claims == NULL && reason != NULL, "refusal has a reason");
        return;
    }

    payload = json_loadb(body, plen, JSON_REJECT_DUPLICATES, NULL);
    fuzz_assert(json_equal(payload, claims), "claims are the payload");

    json_decref(payload);
    json_decref(claims);
}


static int
expected(const char *header, size_t hlen, const char *payload, size_t plen,
    int signer, const ngx_http_byok_jwt_opts_t *opts)
{
    int      ok;
    json_t  *h, *c;

    h = json_loadb(header, hlen, JSON_REJECT_DUPLICATES, NULL);
    c = json_loadb(payload, plen, JSON_REJECT_DUPLICATES, NULL);

    ok = hlen > 0 && plen > 0
         && json_is_object(h) && header_ok(h, signer)
         && json_is_object(c) && claims_ok(c, opts);

    json_decref(h);
    json_decref(c);

    return ok;
}


/* the harness signs with the key the header names, so alg must match it */

static int
header_ok(json_t *h, int signer)
{
    json_t      *typ;
    const char  *alg;

    alg = (signer == FUZZ_JWT_ES) ? "ES256"
          : (signer == FUZZ_JWT_RS) ? "RS256" : "HS256";

    if (!str_is(json_object_get(h, "alg"), alg)
        || json_object_get(h, "crit") != NULL)
    {
        return 0;
    }

    typ = json_object_get(h, "typ");

    return typ == NULL
           || (json_is_string(typ) && json_string_length(typ) == 3
               && strncasecmp(json_string_value(typ), "jwt", 3) == 0);
}


static int
claims_ok(json_t *c, const ngx_http_byok_jwt_opts_t *opts)
{
    size_t   i;
    json_t  *exp, *nbf, *iat, *aud, *item;
    double   now, leeway;

    now = (double) opts->now;
    leeway = (double) opts->leeway;

    exp = json_object_get(c, "exp");
    nbf = json_object_get(c, "nbf");
    iat = json_object_get(c, "iat");

    if (!json_is_number(exp) || now > json_number_value(exp) + leeway) {
        return 0;
    }

    if (nbf != NULL
        && (!json_is_number(nbf) || now + leeway < json_number_value(nbf)))
    {
        return 0;
    }

    if (iat != NULL && !json_is_number(iat)) {
        return 0;
    }

    if (!sub_ok(json_object_get(c, "sub"))) {
        return 0;
    }

    if (opts->issuer != NULL
        && !str_is(json_object_get(c, "iss"), opts->issuer))
    {
        return 0;
    }

    if (opts->audience == NULL) {
        return 1;
    }

    aud = json_object_get(c, "aud");

    if (!json_is_array(aud)) {
        return str_is(aud, opts->audience);
    }

    json_array_foreach(aud, i, item) {
        if (str_is(item, opts->audience)) {
            return 1;
        }
    }

    return 0;
}


/* 1-128 bytes of UTF-8 without C0, DEL or C1 control characters */

static int
sub_ok(json_t *sub)
{
    size_t                i, len;
    uint32_t              cp;
    const unsigned char  *s;

    if (!json_is_string(sub)) {
        return 0;
    }

    s = (const unsigned char *) json_string_value(sub);
    len = json_string_length(sub);

    if (len == 0 || len > NGX_HTTP_BYOK_JWT_SUB_MAX) {
        return 0;
    }

    for (i = 0; i < len; /* void */) {
        if (s[i] < 0x80) {
            cp = s[i++];

        } else if ((s[i] & 0xe0) == 0xc0 && i + 1 < len) {
            cp = (uint32_t) (s[i] & 0x1f) << 6 | (s[i + 1] & 0x3f);
            i += 2;

        } else {
            /* three- and four-byte sequences are never controls */
            cp = 0x10000;
            i++;

            while (i < len && (s[i] & 0xc0) == 0x80) {
                i++;
            }
        }

        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            return 0;
        }
    }

    return 1;
}


static int
str_is(json_t *v, const char *s)
{
    return json_is_string(v) && json_string_length(v) == strlen(s)
           && memcmp(json_string_value(v), s, strlen(s)) == 0;
}
