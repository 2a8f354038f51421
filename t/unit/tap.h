/*
 * Minimal TAP producer for the C unit tests: each program prints
 * "ok N - name" / "not ok N - name" lines and a trailing plan, and exits
 * non-zero when any check failed, so prove(1) can run it directly.
 */

#ifndef _BYOK_TAP_H_INCLUDED_
#define _BYOK_TAP_H_INCLUDED_


#include <stdio.h>
#include <string.h>


static int  tap_n;
static int  tap_failed;


#define ok(cond, name)                                                       \
    do {                                                                     \
        tap_n++;                                                             \
        if (cond) {                                                          \
            printf("ok %d - %s\n", tap_n, name);                             \
        } else {                                                             \
            tap_failed++;                                                    \
            printf("not ok %d - %s\n#   at %s line %d\n", tap_n, name,       \
                   __FILE__, __LINE__);                                      \
        }                                                                    \
    } while (0)

#define is_int(got, expected, name)                                          \
    do {                                                                     \
        long long  g_ = (long long) (got), e_ = (long long) (expected);      \
        ok(g_ == e_, name);                                                  \
        if (g_ != e_) {                                                      \
            printf("#   got %lld, expected %lld\n", g_, e_);                 \
        }                                                                    \
    } while (0)

#define is_str(got, expected, name)                                          \
    do {                                                                     \
        const char  *g_ = (got), *e_ = (expected);                           \
        int          same_ = (g_ != NULL && e_ != NULL && strcmp(g_, e_) == 0)\
                             || (g_ == NULL && e_ == NULL);                  \
        ok(same_, name);                                                     \
        if (!same_) {                                                        \
            printf("#   got \"%s\", expected \"%s\"\n", g_ ? g_ : "(null)",  \
                   e_ ? e_ : "(null)");                                      \
        }                                                                    \
    } while (0)

#define done_testing()                                                       \
    (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)


#endif /* _BYOK_TAP_H_INCLUDED_ */
