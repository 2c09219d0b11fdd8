-- wrk script: walk through a file of request lines (signed click URLs, with
-- headers if wanted) for CLICK_SECONDS, then ask /healthz until wrk stops.
--
-- Usage:
--   wrk -t1 -c50 -d10s --latency -s benches/load/urls.lua http://127.0.0.1:8080 \
--       -- FILE [CLICK_SECONDS]
--
-- FILE has one request a line, fields separated by a TAB:
--
--   PATH [TAB USER-AGENT [TAB NAME: VALUE]...]
--
--   /c?u=...&sig=...                                  GET, no User-Agent
--   /c?u=...&sig=...<TAB>Mozilla/5.0 (...)            GET with that User-Agent
--   /c?u=...&sig=...<TAB>Mozilla/5.0 (...)<TAB>Sec-Purpose: prefetch
--
-- An empty USER-AGENT field sends none. Every request is a GET. Lines that
-- are empty or start with `#` are skipped. `clickedge sign --count N` prints
-- such a file (paths only, each with its own impression).
--
-- Each wrk thread walks the file from its own offset (thread k starts at
-- frac(k * 0.618) of the file, so threads overlap as little as possible
-- without knowing how many there are) and wraps at the end. Wrapping sends a
-- URL again: with clickedge, a repeated impression within the duplicate
-- window is logged `duplicate`. done() says whether a thread wrapped.
--
-- Why /healthz at the end: wrk abandons the requests it has in flight when
-- its duration ends. Those may have been answered (and logged) by the server
-- without wrk counting them. Clicking stops CLICK_SECONDS after the first
-- request (default: 0.2 s before a 10 s run ends; pass it for other
-- durations) and the last requests in flight are /healthz, which is not a
-- click: every click answered is counted, so the count can be compared
-- exactly with the events on disk. Note that wrk's latency figures include
-- those /healthz requests (a few per cent of the samples).
--
-- Printed when a thread has loaded FILE (wrk starts its clock right after):
--   bench ready THREAD
-- Printed by done(), one figure a line, for scripts (benches/load/run.sh):
--   bench click_seconds S           how long clicks were sent
--   bench click_rps R               click answers (any status but 200) / S
--   bench latency_us P50 P99 P999 MAX   wrk's latency percentiles, all requests
--   bench status CODE N             answers per HTTP status (200: /healthz)
--   bench clicks_answered N         answers 302 + 204 + 403 + 503
--   bench unexpected N              answers other than those and 200
--   bench errors CONNECT READ WRITE TIMEOUT
--   bench lines N walked W wrapped yes|no

local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clk_id, bench_timespec *tp);
]]
local ts = ffi.new("bench_timespec")
local function now()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) + tonumber(ts.tv_nsec) * 1e-9
end

local threads = {}
local thread_count = 0

function setup(thread)
  thread_count = thread_count + 1
  thread:set("thread_index", thread_count - 1)
  table.insert(threads, thread)
end

-- One request line of FILE as HTTP/1.1 bytes. `common` holds wrk's own
-- headers (Host, and any -H). Built by hand rather than with wrk.format:
-- loading a file of 600,000 lines takes a second instead of seven.
local function build(line, common)
  local tab = line:find("\t", 1, true)
  if not tab then
    return "GET " .. line .. " HTTP/1.1\r\n" .. common .. "\r\n"
  end
  local out = { "GET ", line:sub(1, tab - 1), " HTTP/1.1\r\n", common }
  local field = 2
  local from = tab + 1
  while true do
    local next_tab = line:find("\t", from, true)
    local value = line:sub(from, (next_tab or 0) - 1)
    if field == 2 then
      if value ~= "" then
        out[#out + 1] = "User-Agent: " .. value .. "\r\n"
      end
    elseif value:find(":", 1, true) then
      out[#out + 1] = value .. "\r\n"
    end
    if not next_tab then
      break
    end
    field, from = field + 1, next_tab + 1
  end
  out[#out + 1] = "\r\n"
  return table.concat(out)
end

function init(args)
  local file = args[1]
  if not file then
    error("usage: wrk ... -s urls.lua URL -- FILE [CLICK_SECONDS]")
  end
  click_seconds = tonumber(args[2] or "9.8")
  local common = {}
  for name, value in pairs(wrk.headers) do
    common[#common + 1] = name .. ": " .. value .. "\r\n"
  end
  common = table.concat(common)
  -- The requests live in one C buffer, not as one Lua string each: with
  -- 600,000 strings on its heap LuaJIT's collector stalls the thread for
  -- a few hundred milliseconds at a time once the answers carry new strings
  -- (every click's Location is new), and wrk counts those stalls as latency.
  local parts, offs, lens = {}, {}, {}
  local n, size = 0, 0
  for line in io.lines(file) do
    if line ~= "" and line:byte(1) ~= 35 then -- 35: "#"
      local r = build(line, common)
      n = n + 1
      parts[n], offs[n], lens[n] = r, size, #r
      size = size + #r
    end
  end
  if n == 0 then
    error("no request lines in " .. file)
  end
  buf = ffi.new("char[?]", size)
  offsets = ffi.new("uint32_t[?]", n + 1)
  for i = 1, n do
    ffi.copy(buf + offs[i], parts[i], lens[i])
    offsets[i - 1] = offs[i]
  end
  offsets[n] = size
  parts, offs, lens = nil, nil, nil
  collectgarbage()
  nreqs = n
  health_req = wrk.format("GET", "/healthz")
  pos = math.floor(nreqs * (((thread_index or 0) * 0.6180339887) % 1))
  walked = 0
  clicking = true
  started = nil
  stopped_at = nil
  statuses = {}
  -- For scripts that time the run: the file is loaded, requests start now.
  io.write(string.format("bench ready %d\n", thread_index or 0))
  io.flush()
end

function request()
  if clicking then
    -- The clock is read every 64 requests: cheap, and precise to well
    -- under a millisecond at these rates.
    if walked % 64 == 0 then
      local t = now()
      if not started then
        started = t
      elseif t - started >= click_seconds then
        clicking = false
        stopped_at = t
        return health_req
      end
    end
    pos = pos + 1
    if pos > nreqs then
      pos = 1
    end
    walked = walked + 1
    return ffi.string(buf + offsets[pos - 1], offsets[pos] - offsets[pos - 1])
  end
  return health_req
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts, lines, walk, wrapped, secs = {}, 0, 0, false, 0
  for _, t in ipairs(threads) do
    for code, n in pairs(t:get("statuses")) do
      counts[code] = (counts[code] or 0) + n
    end
    local n, w = t:get("nreqs"), t:get("walked")
    lines, walk = n, walk + w
    wrapped = wrapped or w > n
    local s, e = t:get("started"), t:get("stopped_at")
    if s and e and e - s > secs then
      secs = e - s
    end
  end
  local codes, clicks, answered, unexpected = {}, 0, 0, 0
  for code, n in pairs(counts) do
    table.insert(codes, code)
    if code ~= 200 then
      clicks = clicks + n
    end
    if code == 302 or code == 204 or code == 403 or code == 503 then
      answered = answered + n
    elseif code ~= 200 then
      unexpected = unexpected + n
    end
  end
  table.sort(codes)
  local out = io.write
  out(string.format("bench click_seconds %.3f\n", secs))
  out(string.format("bench click_rps %.0f\n", secs > 0 and clicks / secs or 0))
  out(string.format("bench latency_us %d %d %d %d\n", latency:percentile(50),
    latency:percentile(99), latency:percentile(99.9), latency.max))
  for _, code in ipairs(codes) do
    out(string.format("bench status %d %d\n", code, counts[code]))
  end
  out(string.format("bench clicks_answered %d\n", answered))
  out(string.format("bench unexpected %d\n", unexpected))
  out(string.format("bench errors %d %d %d %d\n", summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.timeout))
  out(string.format("bench lines %d walked %d wrapped %s\n", lines, walk,
    wrapped and "yes" or "no"))
end
