#!/bin/sh
# Builds the libFuzzer harnesses with ASan and UBSan and runs each for
# FUZZ_TIME seconds, FUZZ_JOBS at a time, then prints one line per target.
#
#   sh fuzz/run.sh [TARGET...]   build and run (all targets by default)
#   sh fuzz/run.sh build         build only
#   sh fuzz/run.sh seeds         regenerate the committed seed corpora
#
# Each run reads fuzz/corpus/TARGET (committed seeds, never written) and
# fuzz/crashes-found/TARGET (reproducers of reported bugs, so a bug that
# comes back stops the run at once), and keeps what it finds in
# $FUZZ_OUT/corpus/TARGET, which later runs start from.  Crashes, leaks and
# timeouts are written to $FUZZ_OUT/artifacts/TARGET/; the exit status is
# non-zero when there is any.

set -eu

cd "$(dirname "$0")/.."

FUZZ_TIME=${FUZZ_TIME:-180}
FUZZ_JOBS=${FUZZ_JOBS:-2}
FUZZ_OUT=${FUZZ_OUT:-build/fuzz}
CLANG=${CLANG:-clang}

MOD=ngx_http_byok_module
CFLAGS="-g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -std=gnu99 -Wall -Wextra -Wno-unused-parameter -I$MOD -Ifuzz"
LIBS="-lcrypto -ljansson"

export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

# target, the module sources it fuzzes (the first, then what it needs, by
# commas), the harness helpers it links ("-": none).  A target whose harness
# or first source does not exist yet is skipped.
TARGETS="
jwt_verify      ngx_http_byok_jwt.c       fuzz_jwt_util.c
jwt_claims      ngx_http_byok_jwt.c       fuzz_jwt_util.c
jwt_key         ngx_http_byok_jwt.c       -
seal_open       ngx_http_byok_seal.c      fuzz_seal_util.c
seal_roundtrip  ngx_http_byok_seal.c      fuzz_seal_util.c
master_decode   ngx_http_byok_seal.c      -
catalog         ngx_http_byok_catalog.c   -
header          ngx_http_byok_catalog.c   -
validate        ngx_http_byok_validate.c,ngx_http_byok_catalog.c  -
"


field() {
    echo "$TARGETS" | awk -v t="$1" -v f="$2" '$1 == t { print $f }'
}


available() {
    echo "$TARGETS" | while read -r t src helper; do
        [ -n "$t" ] || continue
        if [ -f "$MOD/${src%%,*}" ] && [ -f "fuzz/fuzz_$t.c" ]; then
            echo "$t"
        fi
    done
}


build_one() {
    t=$1
    bin=$FUZZ_OUT/bin/fuzz_$t
    srcs="fuzz/fuzz_$t.c"
    for src in $(field "$t" 2 | tr , ' '); do
        srcs="$srcs $MOD/$src"
    done
    helper=$(field "$t" 3)
    [ "$helper" = - ] || srcs="$srcs fuzz/$helper"

    if [ -f "$bin" ] && [ -z "$(find $srcs fuzz/*.h $MOD/*.h -newer "$bin")" ]
    then
        return 0
    fi

    # shellcheck disable=SC2086
    if ! $CLANG $CFLAGS -o "$bin" $srcs $LIBS \
            > "$FUZZ_OUT/logs/build-$t.log" 2>&1
    then
        cat "$FUZZ_OUT/logs/build-$t.log" >&2
        echo "fuzz: cannot build fuzz_$t" >&2
        return 1
    fi
}


run_one() {
    t=$1
    work=$FUZZ_OUT/corpus/$t
    art=$FUZZ_OUT/artifacts/$t
    dirs="$work fuzz/corpus/$t"
    dict=

    mkdir -p "$work" "$art"
    [ -d "fuzz/crashes-found/$t" ] && dirs="$dirs fuzz/crashes-found/$t"
    [ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"

    rc=0

    # shellcheck disable=SC2086
    "$FUZZ_OUT/bin/fuzz_$t" -max_total_time="$FUZZ_TIME" \
        -print_final_stats=1 -timeout=30 -rss_limit_mb=2048 \
        -artifact_prefix="$art/" $dict $dirs \
        > "$FUZZ_OUT/logs/$t.log" 2>&1 || rc=$?

    echo "$rc" > "$FUZZ_OUT/logs/$t.rc"
}


final_stat() {
    sed -n "s/^stat::$2: *//p" "$FUZZ_OUT/logs/$1.log" | tail -n 1
}


report() {
    failed=0

    printf '\n%-16s %12s %8s %6s %8s %8s\n' \
        target executions exec/s cov corpus crashes
    printf '%-16s %12s %8s %6s %8s %8s\n' \
        ---------------- ------------ -------- ------ -------- --------

    for t in $1; do
        n=$(find "$FUZZ_OUT/artifacts/$t" -type f \
                \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' \
                   -o -name 'oom-*' \) -newer "$FUZZ_OUT/logs/.start" \
            | wc -l)
        cov=$(grep -o 'cov: [0-9]*' "$FUZZ_OUT/logs/$t.log" | tail -n 1 \
              | cut -d' ' -f2)
        units=$(find "$FUZZ_OUT/corpus/$t" -type f | wc -l)

        printf '%-16s %12s %8s %6s %8s %8s\n' "$t" \
            "$(final_stat "$t" number_of_executed_units)" \
            "$(final_stat "$t" average_exec_per_sec)" "${cov:--}" "$units" \
            "$n"

        # a harness that dies without an artifact (in its set-up, say)
        # fails the run too
        if [ "$n" -ne 0 ] || [ "$(cat "$FUZZ_OUT/logs/$t.rc")" -ne 0 ]; then
            failed=1
        fi
    done

    if [ "$failed" -ne 0 ]; then
        echo
        for t in $1; do
            grep -h -m 1 -E '^SUMMARY|property violated|ERROR: libFuzzer' \
                "$FUZZ_OUT/logs/$t.log" | sed "s|^|$t: |" || true
        done
        echo
        echo "fuzz: findings in $FUZZ_OUT/artifacts/*/, logs in" \
             "$FUZZ_OUT/logs/; reproduce with $FUZZ_OUT/bin/fuzz_TARGET FILE"
        return 1
    fi
}


seeds() {
    mkdir -p "$FUZZ_OUT"
    # shellcheck disable=SC2086
    ${CC:-cc} -std=gnu99 -g -O1 -Wall -Wextra -Wno-unused-parameter \
        -I$MOD -Ifuzz -o "$FUZZ_OUT/seeds" fuzz/seeds.c \
        fuzz/fuzz_jwt_util.c fuzz/fuzz_seal_util.c \
        $MOD/ngx_http_byok_jwt.c $MOD/ngx_http_byok_seal.c $LIBS
    "$FUZZ_OUT/seeds" fuzz/corpus catalog/providers.json
}


batch() {
    # run "$1" on each of the remaining targets, FUZZ_JOBS at a time
    cmd=$1
    shift
    pids=
    status=0

    for t in "$@"; do
        $cmd "$t" &
        pids="$pids $!"

        if [ "$(echo $pids | wc -w)" -ge "$FUZZ_JOBS" ]; then
            for p in $pids; do wait "$p" || status=1; done
            pids=
        fi
    done

    for p in $pids; do wait "$p" || status=1; done

    return $status
}


only_build=

case "${1:-}" in
seeds)
    seeds
    exit 0
    ;;
build)
    only_build=1
    shift
    ;;
esac

if [ $# -gt 0 ]; then
    targets=$*

    for t in $targets; do
        if [ -z "$(field "$t" 1)" ]; then
            echo "fuzz: unknown target $t" >&2
            exit 2
        fi
    done

else
    targets=$(available | tr '\n' ' ')

    for t in $(echo "$TARGETS" | awk 'NF { print $1 }'); do
        case " $targets " in
        *" $t "*) ;;
        *) echo "fuzz: $t skipped: its sources do not exist yet" ;;
        esac
    done
fi

mkdir -p "$FUZZ_OUT/bin" "$FUZZ_OUT/logs"

# shellcheck disable=SC2086
batch build_one $targets

[ -z "$only_build" ] || exit 0

touch "$FUZZ_OUT/logs/.start"

echo "fuzz: $(echo $targets | wc -w) targets, ${FUZZ_TIME}s each," \
     "$FUZZ_JOBS at a time"

# shellcheck disable=SC2086
batch run_one $targets

report "$targets"
