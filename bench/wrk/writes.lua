-- Writes through the user API, one wrk thread (-t1):
--
--   wrk -t1 -cN -dD -s writes.lua URL -- create TOKENS_FILE [IDS_OUT [LIMIT]]
--       POST /me/provider-keys for the users of TOKENS_FILE ("USER TOKEN"
--       lines) in turn; writes "ID TOKEN" lines of what was created to
--       IDS_OUT; stops after LIMIT creates (one per user when LIMIT is the
--       number of users)
--   wrk -t1 -cN -dD -s writes.lua URL -- revoke IDS_FILE
--       DELETE /me/provider-keys/ID once for each "ID TOKEN" line
--   wrk -t1 -cN -dD -s writes.lua URL -- mix TOKENS_FILE
--       a write storm: creates, and revokes what it created, in turn
--
-- done() prints "writes MODE ok N failed M seconds S rate R": N counts the
-- successful writes (201 for a create, 2xx for a revoke) only, S is the
-- time from the first request to the last answer (wrk's own figure would
-- include the idle end of a run that finished its list early).

local common = require "common"

local rows, limit
local next_row, sent = 1, 0
local serial, owner = 0, {}
local pending = {}            -- mix: created ids waiting to be revoked

-- globals: done() reads them with thread:get()
mode = nil
ok, failed = 0, 0
started, finished = 0, 0      -- first request, last counted answer
created = {}                  -- create: { "ID TOKEN", ... }
ids_out_path = nil

function init(args)
    mode = args[1]
    rows = common.read_lines(args[2])
    ids_out_path = args[3]
    if ids_out_path == "" or ids_out_path == "-" then
        ids_out_path = nil
    end
    limit = tonumber(args[4] or "0")
    if mode == "revoke" then
        limit = #rows
    end
    math.randomseed(os.time())
    serial = math.random(1, 2^20) * 1000000
end

local function create()
    local i = next_row
    next_row = next_row % #rows + 1
    serial = serial + 1
    owner[serial] = i
    local body = string.format(
        '{"category":"llm","provider":"anthropic","label":"bench %d",'
        .. '"value":"%s"}', serial, common.key_value(serial))
    return wrk.format("POST", "/me/provider-keys", {
        ["Authorization"] = "Bearer " .. rows[i][2],
        ["Content-Type"] = "application/json",
    }, body)
end

local function revoke(id, token)
    return wrk.format("DELETE", "/me/provider-keys/" .. id, {
        ["Authorization"] = "Bearer " .. token,
    })
end

local verified = false

function request()
    if not verified then
        -- wrk builds one request to check it and never sends it
        verified = true
        return wrk.format("GET", "/me/provider-keys")
    end

    if started == 0 then
        started = common.now()
    end

    sent = sent + 1

    if limit > 0 and sent > limit then
        -- the work is done; the few requests still asked for read only
        return wrk.format("GET", "/me/provider-keys",
                          { ["Authorization"] = "Bearer " .. rows[1][#rows[1]] })
    end

    if mode == "revoke" then
        local row = rows[sent]
        return revoke(row[1], row[2])
    end

    if mode == "mix" and sent % 2 == 0 and #pending > 0 then
        local p = table.remove(pending)
        return revoke(p[1], p[2])
    end

    return create()
end

function response(status, headers, body)
    if limit > 0 and ok + failed >= limit then
        return                -- in flight when the run was ended
    end

    if status == 201 then
        ok = ok + 1
        local id = body:match('"id"%s*:%s*(%d+)')
        local s = tonumber(body:match('"label"%s*:%s*"bench (%d+)"') or "")
        local i = s and owner[s]
        if id and i then
            owner[s] = nil
            if mode == "mix" then
                pending[#pending + 1] = { id, rows[i][2] }
            elseif ids_out_path then
                created[#created + 1] = id .. " " .. rows[i][2]
            end
        end

    elseif status >= 200 and status < 300 then
        if mode ~= "create" then
            ok = ok + 1
        else
            return            -- the read-only filler after the last create
        end

    else
        failed = failed + 1
    end

    finished = common.now()

    if limit > 0 and ok + failed >= limit then
        common.finish()
    end
end

local threads = {}

function setup(thread)
    threads[#threads + 1] = thread
end

function done(summary, latency, requests)
    local n, f, m, s = 0, 0, "?", 0
    for _, t in ipairs(threads) do
        n = n + t:get("ok")
        f = f + t:get("failed")
        m = t:get("mode")
        s = math.max(s, t:get("finished") - t:get("started"))
        local out = t:get("ids_out_path")
        local list = t:get("created")
        if out and list then
            local fh = assert(io.open(out, "w"))
            for _, line in ipairs(list) do
                fh:write(line, "\n")
            end
            fh:close()
        end
    end
    io.write(string.format("writes %s ok %d failed %d seconds %.3f rate %.1f\n",
                           m, n, f, s, n / s))
end
