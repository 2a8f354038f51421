-- The OpenResty peer of `byok_lookup` (content handler): the same
-- (user, provider) -> key lookup in a lua_shared_dict and the same
-- response headers.  The key id is kept in the entry's flags.

local providers = { anthropic = true, openai = true, openrouter = true }

local provider = ngx.var.arg_provider
if not provider or not providers[provider] then
    return ngx.exit(ngx.HTTP_BAD_REQUEST)
end

local user = ngx.var.http_x_user
if not user or #user == 0 or #user > 128 then
    return ngx.exit(ngx.HTTP_UNAUTHORIZED)
end

local key, id = ngx.shared.byok_peer:get(user .. "\0" .. provider)
if not key then
    return ngx.exit(ngx.HTTP_FORBIDDEN)
end

local h = ngx.header
h["X-BYOK-Key"] = key
h["X-BYOK-Key-Id"] = id
h["X-BYOK-Source"] = "user"
h["Content-Length"] = 0

return ngx.exit(ngx.HTTP_OK)
