-- wrk script: click for `click_seconds`, then ask /healthz until wrk stops.
--
-- wrk abandons the requests it has in flight when its duration ends. Those
-- may have been answered (and logged) by the edge without wrk counting
-- them, so a plain `wrk -d 10s` can never be compared exactly with the
-- events on disk. Here the last requests in flight are health checks,
-- which are not clicks: every click answered is read and counted (status
-- 302 in response()), and the count is printed as `clicks_answered N`.
--
-- Usage: wrk -c50 -d12s -s clicks.lua URL -- CLICK_PATH [CLICK_SECONDS=10]

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  click_path = args[1]
  click_seconds = tonumber(args[2] or "10")
  started = os.time()
  click_req = wrk.format("GET", click_path)
  health_req = wrk.format("GET", "/healthz")
  answered = 0
  other = 0
end

function request()
  if os.time() - started < click_seconds then
    return click_req
  end
  return health_req
end

function response(status, headers, body)
  if status == 302 then
    answered = answered + 1
  elseif status ~= 200 then
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("answered")
    o = o + t:get("other")
  end
  io.write(string.format("clicks_answered %d\n", a))
  io.write(string.format("unexpected_status %d\n", o))
  io.write(string.format("errors connect %d read %d write %d timeout %d status %d\n",
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, summary.errors.status))
end
