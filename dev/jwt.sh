#!/bin/sh
# Mints an HS256 JWT: jwt.sh SECRET_FILE SUB [EXTRA_JSON_MEMBERS] [TTL]
# e.g. jwt.sh build/dev/jwt.secret alice '"role":"admin"' 3600
set -e
secret=$(cat "$1")
sub=$2
extra=${3:+,$3}
ttl=${4:-86400}
exp=$(( $(date +%s) + ttl ))

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

h=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
p=$(printf '{"sub":"%s","exp":%s%s}' "$sub" "$exp" "$extra" | b64url)
s=$(printf '%s.%s' "$h" "$p" \
    | openssl dgst -sha256 -mac HMAC -macopt "key:$secret" -binary | b64url)
printf '%s.%s.%s\n' "$h" "$p" "$s"
