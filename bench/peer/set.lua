-- Fills the peer's dictionary (benchmark set-up only):
--   POST /lua/set?user=U&provider=P&id=N          the key is the body
--   POST /lua/set?prefix=P&count=N&provider=P     N more entries with the
--        body as the key, for users P00000001 ..: a dictionary as full as
--        the module's zone in the same run

ngx.req.read_body()
local args = ngx.req.get_uri_args()
local key = ngx.req.get_body_data()
local dict = ngx.shared.byok_peer

if args.prefix then
    for i = 1, tonumber(args.count) do
        local user = string.format("%s%08d", args.prefix, i)
        local ok, err = dict:set(user .. "\0" .. args.provider, key, 0, i)
        if not ok then
            ngx.status = 500
            ngx.say(err)
            return
        end
    end
    ngx.say("ok")
    return
end

local ok, err = dict:set(args.user .. "\0" .. args.provider, key, 0,
                         tonumber(args.id))
if not ok then
    ngx.status = 500
    ngx.say(err)
    return
end
ngx.say("ok")
