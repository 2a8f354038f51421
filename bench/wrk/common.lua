-- Shared by the benchmark's wrk scripts.

local ffi = require "ffi"

ffi.cdef [[
    typedef struct { long tv_sec; long tv_nsec; } bench_timespec_t;
    int clock_gettime(int clk, bench_timespec_t *ts);
    int getpid(void);
    int kill(int pid, int sig);
]]

local M = {}

local ts = ffi.new("bench_timespec_t")

-- CLOCK_MONOTONIC, in seconds
function M.now()
    ffi.C.clock_gettime(1, ts)
    return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) / 1e9
end

-- Ends the whole run early: wrk's main thread sleeps for the full -d
-- duration unless interrupted, and SIGINT is how wrk is interrupted.
-- Only for -t1 runs.
function M.finish()
    wrk.thread:stop()
    ffi.C.kill(ffi.C.getpid(), 2)
end

-- "USER TOKEN" lines (bench/tokens.pl) or "ID TOKEN" lines
function M.read_lines(path)
    local rows = {}
    for line in io.lines(path) do
        local row = {}
        for field in line:gmatch("%S+") do
            row[#row + 1] = field
        end
        rows[#rows + 1] = row
    end
    return rows
end

-- a key value shaped like a real Anthropic key: 108 printable characters
function M.key_value(n)
    local body = string.format("%016x", n)
    body = string.rep(body, 6):sub(1, 93)
    return "sk-ant-api03-" .. body .. "AA"
end

return M
