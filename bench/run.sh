#!/bin/bash
# `make bench`: measures the module against nginx's own baseline and its
# peers in one run and prints one table (also written to
# build/bench/results.txt).  See bench/README.md for what each line means.
#
#   bash bench/run.sh [BUILD_DIR] [NGINX_BINARY]
#
# Everything listens on 127.0.0.1 only.  One nginx worker pinned to one CPU
# (BENCH_NGINX_CPU), wrk pinned to another (BENCH_LOAD_CPU); the scenarios
# are interleaved round by round and the medians are quoted.

set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
NGINX=${2:-/usr/sbin/nginx}
BENCH=$ROOT/bench
OUT=$BUILD/bench
RUN=$OUT/run
RAW=$OUT/raw

ROUNDS=${BENCH_ROUNDS:-5}             # rounds of the main table
SECONDS_RUN=${BENCH_SECONDS:-5}       # measured seconds per scenario
WARMUP=${BENCH_WARMUP:-1}             # discarded seconds before each
CONNS=${BENCH_CONNECTIONS:-32}        # wrk connections (one thread)
WRITE_ROUNDS=${BENCH_WRITE_ROUNDS:-4}
WRITE_SECONDS=${BENCH_WRITE_SECONDS:-3}
STORM_ROUNDS=${BENCH_STORM_ROUNDS:-3}
ZONE_SIZE=${BENCH_ZONE_SIZE:-16m}
ZONE_USERS=${BENCH_ZONE_USERS:-80000}
ZONE_CONNS=${BENCH_ZONE_CONNECTIONS:-4}   # lookups in flight while counting
BG_USERS=${BENCH_BACKGROUND_USERS:-1000}
PORT=${BENCH_PORT:-18480}
NGINX_CPU=${BENCH_NGINX_CPU:-0}
LOAD_CPU=${BENCH_LOAD_CPU:-1}

PORT_MISS=$((PORT + 10))
PORT_CAP=$((PORT + 20))

# a key shaped like a real Anthropic key (108 characters)
BENCH_KEY=sk-ant-api03-$(printf '%093d' 0 | tr 0 k)AA

log() {
    printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}


# --- what the benchmark needs ----------------------------------------------

EXTRA_PKGS="wrk libnginx-mod-http-lua" sh "$ROOT/t/install-deps.sh"

for m in ndk_http_module ngx_http_lua_module; do
    [ -f /usr/lib/nginx/modules/$m.so ] \
        || die "/usr/lib/nginx/modules/$m.so is missing"
done

[ -f "$BUILD/ngx_http_byok_module.so" ] || die "run make first"

if [ "$(nproc)" -lt 2 ]; then
    log "warning: one CPU only: nginx and wrk share it"
    LOAD_CPU=$NGINX_CPU
fi

# instances an interrupted earlier run may have left behind
for i in main miss cap; do
    if [ -s "$RUN/$i/nginx.pid" ] \
       && grep -q nginx "/proc/$(cat "$RUN/$i/nginx.pid")/cmdline" 2>/dev/null
    then
        kill -QUIT "$(cat "$RUN/$i/nginx.pid")" || true
        sleep 1
    fi
done

rm -rf "$RUN" "$RAW"
mkdir -p "$RUN/secrets" "$RAW"
chmod 0755 "$OUT" "$RUN"

# a private copy: a rebuild of build/ngx_http_byok_module.so while the
# benchmark runs must not change the code the running workers map
cp "$BUILD/ngx_http_byok_module.so" "$RUN/ngx_http_byok_module.so"

${CC:-cc} -O2 -Wall -Wextra -o "$RUN/sqlite_commits" \
    "$BENCH/sqlite_commits.c" -lsqlite3
${CC:-cc} -O2 -Wall -Wextra -I"$ROOT/ngx_http_byok_module" \
    -o "$RUN/zonefill" "$BENCH/zonefill.c" \
    "$ROOT/ngx_http_byok_module/ngx_http_byok_seal.c" \
    "$ROOT/ngx_http_byok_module/ngx_http_byok_store_sqlite.c" \
    -lcrypto -lsqlite3 -ljansson

( umask 077
  openssl rand -hex 32 > "$RUN/secrets/master.key"
  openssl rand -hex 32 > "$RUN/secrets/jwt.secret" )

SHM=$(mktemp -d /dev/shm/byok-bench.XXXXXX)

export LUA_PATH="$BENCH/wrk/?.lua;;"

BG_PIDS=
INSTANCES=

cleanup() {
    set +e
    for p in $BG_PIDS; do
        kill "$p" 2>/dev/null
    done
    for i in $INSTANCES; do
        stop_instance "$i"
    done
    rm -rf "$SHM"
}

trap cleanup EXIT
trap 'exit 130' INT TERM


# --- nginx instances -------------------------------------------------------

cpu_mask() {
    local m=1 i
    for ((i = 0; i < $1; i++)); do
        m=${m}0
    done
    echo "$m"
}

# start_instance NAME PORT STORE TTL
start_instance() {
    local name=$1 port=$2 store=$3 ttl=$4 dir=$RUN/$1 i

    mkdir -p "$dir/tmp"

    sed -e "s|@BYOK_SO@|$RUN/ngx_http_byok_module.so|" \
        -e "s|@CPU_MASK@|$(cpu_mask "$NGINX_CPU")|" \
        -e "s|@DIR@|$dir|g" \
        -e "s|@STORE@|$store|" \
        -e "s|@ZONE@|bench:$ZONE_SIZE|" \
        -e "s|@SECRETS@|$RUN/secrets|g" \
        -e "s|@TTL@|$ttl|" \
        -e "s|@PORT_UP@|$((port + 1))|g" \
        -e "s|@PORT_KEY@|$((port + 2))|g" \
        -e "s|@PORT@|$port|g" \
        -e "s|@BENCH@|$BENCH|g" \
        -e "s|@BENCH_KEY@|$BENCH_KEY|" \
        "$BENCH/nginx.conf.in" > "$dir/nginx.conf"

    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -t -q \
        || die "nginx -t failed for the $name instance"
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" \
        || die "the $name instance did not start (see $dir/error.log)"

    INSTANCES="$INSTANCES $name"

    for ((i = 0; i < 50; i++)); do
        curl -s -o /dev/null "http://127.0.0.1:$port/gif" && return 0
        sleep 0.1
    done

    die "the $name instance does not answer on 127.0.0.1:$port"
}

stop_instance() {
    local dir=$RUN/$1 pid i

    [ -s "$dir/nginx.pid" ] || return 0
    pid=$(cat "$dir/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || return 0

    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done

    INSTANCES=$(echo "$INSTANCES" | sed "s/ $1\b//")
}

worker_pid() {
    pgrep -P "$(cat "$RUN/$1/nginx.pid")" | head -1
}

load() {
    taskset -c "$LOAD_CPU" wrk "$@"
}


# --- set-up ----------------------------------------------------------------

log "starting nginx (worker on CPU $NGINX_CPU, wrk on CPU $LOAD_CPU)"

start_instance main "$PORT" "$RUN/main/byok.db" 60s
start_instance miss "$PORT_MISS" "$RUN/main/byok.db" 0s

BASE=http://127.0.0.1:$PORT

perl "$BENCH/tokens.pl" "$RUN/secrets/jwt.secret" bench- 1 1 > "$RUN/bench.tokens"
BENCH_USER=$(cut -d' ' -f1 "$RUN/bench.tokens")
BENCH_JWT=$(cut -d' ' -f2 "$RUN/bench.tokens")
ADMIN_JWT=$(sh "$ROOT/dev/jwt.sh" "$RUN/secrets/jwt.secret" bench-admin \
                '"role":"admin"' 7200)

# metrics NAME PORT: the instance's cache counters, into the raw results
metrics() {
    curl -s -H "Authorization: Bearer $ADMIN_JWT" \
         "http://127.0.0.1:$2/admin/metrics" \
        | grep -E '^byok_cache_[a-z_]+ ' > "$RAW/metrics.$1.txt" || true
}

body=$(printf '{"category":"llm","provider":"anthropic","label":"bench","value":"%s"}' "$BENCH_KEY")
created=$(curl -s "$BASE/me/provider-keys" -X POST \
               -H "Authorization: Bearer $BENCH_JWT" \
               -H "Content-Type: application/json" -d "$body")
BENCH_KEY_ID=$(echo "$created" | sed -n 's/^{"id":\([0-9]*\).*/\1/p')
[ -n "$BENCH_KEY_ID" ] || die "creating the benchmark key failed: $created"

# other users with keys, so that the zone, the store and the Lua dictionary
# are not trivially small; all of them looked up once (cached)
log "creating $BG_USERS background users"
perl "$BENCH/tokens.pl" "$RUN/secrets/jwt.secret" bg- 1 "$BG_USERS" \
    > "$RUN/bg.tokens"
load -t1 -c8 -d120s -s "$BENCH/wrk/writes.lua" "$BASE" \
    -- create "$RUN/bg.tokens" - "$BG_USERS" > "$RAW/setup.bg.txt"
load -t1 -c8 -d120s -s "$BENCH/wrk/lookups.lua" "$BASE" \
    -- asc bg- "$BG_USERS" >> "$RAW/setup.bg.txt"
grep -q "^lookups ok $BG_USERS " "$RAW/setup.bg.txt" \
    || die "background users: $(tail -1 "$RAW/setup.bg.txt")"

curl -sf "$BASE/lua/set?prefix=bg-&count=$BG_USERS&provider=anthropic" \
     -d "$BENCH_KEY" > /dev/null || die "filling the Lua dictionary failed"
curl -sf "$BASE/lua/set?user=$BENCH_USER&provider=anthropic&id=$BENCH_KEY_ID" \
     -d "$BENCH_KEY" > /dev/null || die "filling the Lua dictionary failed"


# --- the scenarios ---------------------------------------------------------

# name|label|instance|path|extra headers (jwt: the bearer JWT; key: the
# credential, sent by the client itself)
SCENARIOS="
a|(a) empty_gif: minimal C content handler [baseline]|main|/gif|
lk|byok_lookup content handler, cached key|main|/lookup?provider=anthropic|
e1|(e) Lua peer lookup (lua_shared_dict), content|main|/lua/lookup?provider=anthropic|
d|(d) byok_lookup, cache miss (ttl 0: store + decrypt)|miss|/lookup?provider=anthropic|
b0|(b0) proxy to keepalive upstream, no module|main|/plain/v1/messages|
b1|(b1) proxy, no module, client sends the key|main|/plain/v1/messages|key
b|(b) byok_inject, cached, trusted header + proxy|main|/anthropic/v1/messages|
c|(c) byok_inject, JWT HS256 sub + proxy|main|/jwt/anthropic/v1/messages|jwt
c0|(c0) proxy, no module, requests of (c) (bearer JWT)|main|/plain/v1/messages|jwt
e2|(e) Lua peer inject (access_by_lua) + proxy|main|/lua/anthropic/v1/messages|
f|(f) auth_request -> keepalive byok_lookup + proxy|main|/authreq/anthropic/v1/messages|
f0|(f0) auth_request -> loopback fixed key + proxy|main|/authreq0/anthropic/v1/messages|
f1|(f1) auth_request, connection per key request + proxy|main|/authreq1/anthropic/v1/messages|
"

scenario_names=$(echo "$SCENARIOS" | sed -n 's/^\([a-z0-9]*\)|.*/\1/p')
printf '%s\n' "$SCENARIOS" | sed '/^$/d' > "$RAW/scenarios.txt"

field() {
    echo "$SCENARIOS" | awk -F'|' -v n="$1" -v f="$2" '$1 == n { print $f }'
}

# the headers a scenario's requests carry besides X-User, into hdr[]
scenario_headers() {
    hdr=()
    case $(field "$1" 5) in
    jwt) hdr=(-H "Authorization: Bearer $BENCH_JWT") ;;
    key) hdr=(-H "x-api-key: $BENCH_KEY" -H "anthropic-version: 2023-06-01") ;;
    esac
}

port_of() {
    case $1 in
    main) echo "$PORT" ;;
    miss) echo "$PORT_MISS" ;;
    esac
}

# the worker's time on a CPU and waiting for one, in ns (schedstat)
schedstat() {
    cat "/proc/$1/schedstat" 2>/dev/null || echo "0 0 0"
}

# the time the hypervisor gave the worker's CPU to others, in ns (the
# "steal" column of /proc/stat: the worker cannot see it as waiting)
CLK_TCK=$(getconf CLK_TCK)
steal_ns() {
    awk -v c="cpu$NGINX_CPU" -v t="$CLK_TCK" \
        '$1 == c { printf "%.0f\n", $9 * 1e9 / t }' /proc/stat
}

# pre-flight: every scenario answers 200, the proxied ones deliver the key
log "pre-flight checks"
for s in $scenario_names; do
    port=$(port_of "$(field "$s" 3)")
    path=$(field "$s" 4)
    scenario_headers "$s"

    code=$(curl -s -o /dev/null -w '%{http_code}' -H "X-User: $BENCH_USER" \
                "${hdr[@]}" "http://127.0.0.1:$port$path") || true
    [ "$code" = 200 ] || die "scenario $s ($path) answered ${code:-nothing}$(
        grep -q 'exited on signal' "$RUN"/*/error.log \
            && echo ": nginx workers crash, see $RUN/*/error.log")"

    case $path in
    /plain/*)
        [ "$(field "$s" 5)" = key ] || continue
        check=$(curl -s -H "X-User: $BENCH_USER" "${hdr[@]}" \
                     "http://127.0.0.1:$port/plain/check")
        [ "$check" = "$BENCH_KEY|2023-06-01|" ] \
            || die "scenario $s: the upstream received \"$check\""
        ;;
    /*anthropic/*)
        check=$(curl -s -H "X-User: $BENCH_USER" "${hdr[@]}" \
                     -H "x-api-key: client-sent" \
                     "http://127.0.0.1:$port${path%/v1/messages}/check")
        [ "$check" = "$BENCH_KEY|2023-06-01|" ] \
            || die "scenario $s: the upstream received \"$check\""
        ;;
    /*lookup*)
        curl -s -D - -o /dev/null -H "X-User: $BENCH_USER" \
             "http://127.0.0.1:$port$path" \
            | grep -qi "^X-BYOK-Key: $BENCH_KEY" \
            || die "scenario $s: no X-BYOK-Key in the answer"
        ;;
    esac
done

# also records the worker's CPU time, run-queue wait and its CPU's steal
# during the measured part: CPU per request depends less on what else the
# machine runs, the wait and the steal show how much it did
run_scenario() {
    local s=$1 r=$2 port path worker before after hdr=()

    port=$(port_of "$(field "$s" 3)")
    worker=$(worker_pid "$(field "$s" 3)")
    path=$(field "$s" 4)
    scenario_headers "$s"

    load -t1 -c"$CONNS" -d"${WARMUP}s" -H "X-User: $BENCH_USER" "${hdr[@]}" \
        "http://127.0.0.1:$port$path" > /dev/null
    before="$(schedstat "$worker") $(steal_ns)"
    load -t1 -c"$CONNS" -d"${SECONDS_RUN}s" --latency \
        -H "X-User: $BENCH_USER" "${hdr[@]}" \
        "http://127.0.0.1:$port$path" > "$RAW/scenario.$s.$r.txt"
    after="$(schedstat "$worker") $(steal_ns)"
    set -- $before $after
    echo "worker cpu_ns $(($5 - $1)) wait_ns $(($6 - $2)) steal_ns $(($8 - $4))" \
        >> "$RAW/scenario.$s.$r.txt"
}

nscen=$(echo "$scenario_names" | wc -w)
log "main table: $ROUNDS rounds x $nscen scenarios x (${WARMUP}s + ${SECONDS_RUN}s)"

for ((r = 1; r <= ROUNDS; r++)); do
    # each round starts one scenario later, so no scenario always follows
    # the same one
    order=$(echo "$scenario_names" | awk -v k=$(( (r - 1) % nscen )) \
        '{ a[NR - 1] = $0 } END { for (i = 0; i < NR; i++) print a[(i + k) % NR] }')
    for s in $order; do
        run_scenario "$s" "$r"
    done
    log "round $r/$ROUNDS done"
done

metrics main "$PORT"
metrics miss "$PORT_MISS"
stop_instance miss


# --- writes ----------------------------------------------------------------

log "writes: $WRITE_ROUNDS rounds of creates, revokes, raw SQLite commits"

perl "$BENCH/tokens.pl" "$RUN/secrets/jwt.secret" w- 1 100 > "$RUN/w.tokens"

for ((r = 1; r <= WRITE_ROUNDS; r++)); do
    load -t1 -c8 -d"${WRITE_SECONDS}s" -s "$BENCH/wrk/writes.lua" "$BASE" \
        -- create "$RUN/w.tokens" "$RUN/ids.$r.txt" \
        > "$RAW/writes.create.$r.txt"
    load -t1 -c8 -d"$((WRITE_SECONDS * 4))s" -s "$BENCH/wrk/writes.lua" \
        "$BASE" -- revoke "$RUN/ids.$r.txt" > "$RAW/writes.revoke.$r.txt"
    "$RUN/sqlite_commits" "$RUN/raw-commits.db" "$WRITE_SECONDS" \
        > "$RAW/writes.sqlite.$r.txt"
done


# --- lookups during a write storm ------------------------------------------

log "write storm: $STORM_ROUNDS rounds of quiet and stormy lookups"

perl "$BENCH/tokens.pl" "$RUN/secrets/jwt.secret" storm- 1 1 \
    > "$RUN/storm.tokens"

for ((r = 1; r <= STORM_ROUNDS; r++)); do
    load -t1 -c"$CONNS" -d"${SECONDS_RUN}s" --latency \
        -H "X-User: $BENCH_USER" "$BASE/lookup?provider=anthropic" \
        > "$RAW/storm.quiet.$r.txt"

    load -t1 -c8 -d"$((SECONDS_RUN + 2))s" -s "$BENCH/wrk/writes.lua" \
        "$BASE" -- mix "$RUN/storm.tokens" > "$RAW/storm.writes.$r.txt" &
    BG_PIDS=$!
    sleep 1
    load -t1 -c"$CONNS" -d"${SECONDS_RUN}s" --latency \
        -H "X-User: $BENCH_USER" "$BASE/lookup?provider=anthropic" \
        > "$RAW/storm.lookup.$r.txt"
    wait "$BG_PIDS" || true
    BG_PIDS=
done

stop_instance main


# --- zone capacity ---------------------------------------------------------

# A fresh instance with its store on tmpfs (this is not a disk test):
# ZONE_USERS users get one key each (bench/zonefill.c: the module's own
# store and sealing calls, as the user API makes them, without one HTTP
# request per user) and are looked up once, oldest first.  Then their keys
# are revoked in the store behind nginx's back: a lookup that still answers
# 200 is served from the zone.  Looking them up newest first counts the
# entries the zone kept.

log "zone capacity: $ZONE_USERS users into a $ZONE_SIZE zone"

CAP_DB=$SHM/byok.db
start_instance cap "$PORT_CAP" "$CAP_DB" 1h
CAP=http://127.0.0.1:$PORT_CAP

"$RUN/zonefill" create "$CAP_DB" "$RUN/secrets/master.key" z- "$ZONE_USERS" \
    > "$RAW/zone.create.txt"

load -t1 -c"$ZONE_CONNS" -d600s -s "$BENCH/wrk/lookups.lua" "$CAP" \
    -- asc z- "$ZONE_USERS" > "$RAW/zone.fill.txt"
metrics zone.fill "$PORT_CAP"

"$RUN/zonefill" revoke "$CAP_DB" "$RUN/secrets/master.key" z- "$ZONE_USERS" \
    > "$RAW/zone.revoke.txt"

load -t1 -c"$ZONE_CONNS" -d600s -s "$BENCH/wrk/lookups.lua" "$CAP" \
    -- desc z- "$ZONE_USERS" > "$RAW/zone.count.txt"
metrics zone.count "$PORT_CAP"

stop_instance cap

for i in main miss cap; do
    grep -E '\[(alert|emerg|crit)\]|signal' "$RUN/$i/error.log" 2>/dev/null \
        | sed "s/^/$i: /" >> "$RAW/errors.txt" || true
done


# --- the report ------------------------------------------------------------

{
    echo "rounds $ROUNDS"
    echo "seconds $SECONDS_RUN"
    echo "warmup $WARMUP"
    echo "connections $CONNS"
    echo "zone_size $ZONE_SIZE"
    echo "zone_users $ZONE_USERS"
    echo "zone_connections $ZONE_CONNS"
    echo "background_users $BG_USERS"
    echo "nginx_cpu $NGINX_CPU"
    echo "load_cpu $LOAD_CPU"
    echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*: //')"
    echo "cpu $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) x $(nproc)"
    echo "disk $(df -P "$RUN" | awk 'NR == 2 { print $1 }')"
} > "$RAW/meta.txt"

perl "$BENCH/report.pl" "$RAW" | tee "$OUT/results.txt"
