-- Looks up PREFIX00000001 .. PREFIX<N> once each, in ascending or
-- descending order (-t1 -c1 keeps the order exact), then ends the run:
--
--   wrk -t1 -c1 -d600s -s lookups.lua URL -- asc|desc PREFIX N
--
-- done() prints "lookups ok A other B late L seconds S": A answered 200,
-- L of them after the first answer that was not 200.

local common = require "common"

local order, prefix, n
local i = 0

-- globals, for thread:get()
answered, ok, other, started, finished = 0, 0, 0, 0, 0
late = 0                      -- 200s answered after the first non-200

function init(args)
    order, prefix, n = args[1], args[2], tonumber(args[3])
end

local verified = false

function request()
    if not verified then
        -- wrk builds one request to check it and never sends it
        verified = true
        return wrk.format("GET", "/lookup?provider=anthropic")
    end

    if started == 0 then
        started = common.now()
    end
    i = i + 1
    local k = (order == "desc") and (n - i + 1) or i
    if k < 1 or k > n then
        k = 1
    end
    return wrk.format("GET", "/lookup?provider=anthropic",
                      { ["X-User"] = string.format("%s%08d", prefix, k) })
end

function response(status, headers, body)
    if answered >= n then
        return                -- in flight when the run was ended
    end

    answered = answered + 1
    if status == 200 then
        ok = ok + 1
        if other > 0 then
            late = late + 1
        end
    else
        other = other + 1
    end
    if answered >= n then
        finished = common.now()
        common.finish()
    end
end

local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
end

function done(summary, latency, requests)
    local a, b, l, s = 0, 0, 0, 0
    for _, t in ipairs(threads) do
        a = a + t:get("ok")
        b = b + t:get("other")
        l = l + t:get("late")
        s = math.max(s, t:get("finished") - t:get("started"))
    end
    io.write(string.format("lookups ok %d other %d late %d seconds %.3f\n",
                           a, b, l, s))
end
