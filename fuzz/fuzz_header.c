
/*
 * ngx_http_byok_header_value_valid() and ngx_http_byok_header_name_valid()
 * on arbitrary bytes: these two decide what reaches an upstream request
 * as a header, so a value they accept must not be able to split it.
 *
 * Properties: an accepted value never contains CR, LF or NUL, and both
 * functions agree with the rules of their header comments, rewritten here
 * (value: non-empty visible ASCII, SP and HTAB, no leading or trailing
 * whitespace; name: an RFC 7230 token).
 */


#include <string.h>

#include "ngx_http_byok_catalog.h"
#include "fuzz.h"


static int value_ok(const uint8_t *s, size_t len);
static int name_ok(const uint8_t *s, size_t len);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int  value, name;

    value = ngx_http_byok_header_value_valid(data, size);
    name = ngx_http_byok_header_name_valid(data, size);

    if (value) {
        fuzz_assert(memchr(data, '\r', size) == NULL
                    && memchr(data, '\n', size) == NULL
                    && memchr(data, '\0', size) == NULL,
                    "an accepted value has no CR, LF or NUL");
    }

    fuzz_assert(value == value_ok(data, size),
                "header_value_valid follows its contract");
    fuzz_assert(name == name_ok(data, size),
                "header_name_valid follows its contract");

    /* a token is always a valid value */

    fuzz_assert(!name || value, "a valid name is a valid value");

    return 0;
}


static int
value_ok(const uint8_t *s, size_t len)
{
    size_t  i;

    if (len == 0 || s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' '
        || s[len - 1] == '\t')
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (s[i] != '\t' && (s[i] < 0x20 || s[i] > 0x7e)) {
            return 0;
        }
    }

    return 1;
}


static int
name_ok(const uint8_t *s, size_t len)
{
    size_t  i;

    if (len == 0) {
        return 0;
    }

    /*
     * tchar: DIGIT, ALPHA and
     * "!" "#" "$" "%" "&" "'" "*" "+" "-" "." "^" "_" "`" "|" "~"
     */

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'z')
              || (s[i] >= 'A' && s[i] <= 'Z')
              || memchr("!#$%&'*+-.^_`|~", s[i], 15) != NULL))
        {
            return 0;
        }
    }

    return 1;
}
