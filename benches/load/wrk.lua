-- wrk script for benches/load/run.sh. Settings come from the environment:
--   WL_BODY         the JSON body to POST (required)
--   WL_TOKEN        one bearer token for every request (optional)
--   WL_TOKENS_FILE  one token per line; each request takes the next one,
--                   each thread starting at a different offset (optional)
--   WL_PATH         the request path (default /graphql)
-- At the end it prints one machine-readable line starting with RESULT.

local body = os.getenv("WL_BODY") or error("WL_BODY must be set")
local token = os.getenv("WL_TOKEN")
local file = os.getenv("WL_TOKENS_FILE")
local path = os.getenv("WL_PATH") or "/graphql"
local body2 = os.getenv("WL_BODY2") -- with WL_TOKENS_FILE: every other request sends this body

wrk.method = "POST"
wrk.path = path
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end

local threads_started = 0
function setup(thread)
  thread:set("tid", threads_started)
  threads_started = threads_started + 1
end

if file and file ~= "" then
  local tokens = {}
  for line in io.lines(file) do
    if line ~= "" then tokens[#tokens + 1] = line end
  end
  local i = 0
  local n = 0
  if body2 == "" then body2 = nil end
  function init(args)
    i = ((tid or 0) * 7919) % #tokens
  end
  function request()
    i = i % #tokens + 1
    n = n + 1
    local b = body
    if body2 and n % 2 == 0 then b = body2 end
    return wrk.format("POST", path, {
      ["Content-Type"] = "application/json",
      ["Authorization"] = "Bearer " .. tokens[i],
    }, b)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
