#!/bin/sh
# `make run`: a working cabinet on 127.0.0.1:8080 with development secrets
# generated under build/dev (never in git).  Runs in the foreground.
set -e

BUILD=$1
NGINX=$2
DEV=$BUILD/dev
ROOT=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$DEV/logs"
umask 077

[ -s "$DEV/master.key" ] || openssl rand -hex 32 > "$DEV/master.key"
[ -s "$DEV/jwt.secret" ] || openssl rand -hex 32 > "$DEV/jwt.secret"

# the cabinet page is served from the work tree, so edits show on reload;
# when the workers (nobody) cannot read it there, from a copy
CABINET=$ROOT/cabinet
if [ "$(id -u)" = 0 ] &&
   ! su -s /bin/sh nobody -c "test -r '$CABINET/index.html'" 2>/dev/null
then
    rm -rf "$DEV/cabinet"
    cp -R "$CABINET" "$DEV/cabinet"
    chmod -R a+rX "$DEV/cabinet"
    CABINET=$DEV/cabinet
fi

sed -e "s|@BUILD@|$BUILD|g" -e "s|@DEV@|$DEV|g" -e "s|@ROOT@|$ROOT|g" \
    -e "s|@CABINET@|$CABINET|g" \
    "$ROOT/dev/nginx.conf.in" > "$DEV/nginx.conf"

"$NGINX" -p "$DEV" -c "$DEV/nginx.conf" -t -q

# the workers run as nobody: they must be able to write the store
chmod 0755 "$BUILD" "$DEV" 2>/dev/null || true
[ "$(id -u)" != 0 ] || chown nobody "$DEV"

JWT=$(sh "$ROOT/dev/jwt.sh" "$DEV/jwt.secret" demo-user)

cat <<END

  ngx_http_byok_module is running on http://127.0.0.1:8080  (Ctrl-C stops it)

  The cabinet page, signed in as demo-user (the token stays in the tab):
  http://127.0.0.1:8080/account/keys/#token=$JWT

  export BASE=http://127.0.0.1:8080
  export JWT=$JWT

  # List active keys
  curl -s "\$BASE/me/provider-keys" -H "Authorization: Bearer \$JWT"

  # Add an Anthropic key
  curl -s "\$BASE/me/provider-keys" -X POST \\
    -H "Content-Type: application/json" -H "Authorization: Bearer \$JWT" \\
    -d '{"category":"llm","provider":"anthropic","auth_type":"api_key","label":"main","value":"sk-ant-demo-0123456789abcdef"}'

  # Test a key (id 1)
  curl -s -X POST "\$BASE/me/provider-keys/1/test" -H "Authorization: Bearer \$JWT"

  # Reorder two Anthropic keys (ids 2 then 1)
  curl -s -X PUT "\$BASE/me/provider-keys/order" \\
    -H "Content-Type: application/json" -H "Authorization: Bearer \$JWT" \\
    -d '{"provider":"anthropic","ids":[2,1]}'

  # Revoke
  curl -s -X DELETE "\$BASE/me/provider-keys/1" -H "Authorization: Bearer \$JWT"

  # The catalog the cabinet wizard shows
  curl -s "\$BASE/catalog"

  Logs: $DEV/logs/error.log

END

exec "$NGINX" -p "$DEV" -c "$DEV/nginx.conf"
