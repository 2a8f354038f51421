-- The OpenResty peer of `byok_inject` (access phase, before proxy_pass):
-- look the key up in a lua_shared_dict, drop the client's credentials,
-- set the provider's auth header and version header.

local user = ngx.var.http_x_user
if not user or #user == 0 or #user > 128 then
    return ngx.exit(ngx.HTTP_UNAUTHORIZED)
end

local key = ngx.shared.byok_peer:get(user .. "\0anthropic")
if not key then
    return ngx.exit(ngx.HTTP_FORBIDDEN)
end

ngx.req.clear_header("Authorization")
ngx.req.set_header("x-api-key", key)
ngx.req.set_header("anthropic-version", "2023-06-01")
