-- wrk script for benches/load/run.sh. Settings come from the environment:
--   WL_BODY         the JSON body to POST (required)
--   WL_BODY2        with WL_TOKENS_FILE: every other request sends this body (optional)
--   WL_BODIES_FILE  one JSON body per line; each request takes the next one,
--                   each thread starting at a different offset (optional;
--                   replaces WL_BODY and WL_BODY2)
--   WL_OFFSET       where in WL_BODIES_FILE this run starts (default 0), so
--                   short runs do not all replay the same part of the file
--   WL_TOKEN        one bearer token for every request (optional)
--   WL_TOKENS_FILE  one token per line; each request takes the next one,
--                   each thread starting at a different offset (optional)
--   WL_PATH         the request path (default /graphql)
-- At the end it prints one machine-readable line starting with RESULT.

local body = os.getenv("WL_BODY") or error("WL_BODY must be set")
local body2 = os.getenv("WL_BODY2")
local token = os.getenv("WL_TOKEN")
local tokens_file = os.getenv("WL_TOKENS_FILE")
local bodies_file = os.getenv("WL_BODIES_FILE")
local path = os.getenv("WL_PATH") or "/graphql"
if body2 == "" then body2 = nil end

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

local function read_lines(file)
  local lines = {}
  for line in io.lines(file) do
    if line ~= "" then lines[#lines + 1] = line end
  end
  if #lines == 0 then error(file .. " is empty") end
  return lines
end

local tokens = (tokens_file and tokens_file ~= "") and read_lines(tokens_file) or nil
local bodies = (bodies_file and bodies_file ~= "") and read_lines(bodies_file) or nil

if tokens or bodies then
  -- each thread walks the lists from its own offset (a prime stride apart),
  -- so threads do not send the same token or document at the same moment
  local ti, bi, n = 0, 0, 0
  function init(args)
    if tokens then ti = ((tid or 0) * 7919) % #tokens end
    if bodies then bi = ((tonumber(os.getenv("WL_OFFSET")) or 0) + (tid or 0) * 7919) % #bodies end
  end
  function request()
    n = n + 1
    local headers = { ["Content-Type"] = "application/json" }
    if tokens then
      ti = ti % #tokens + 1
      headers["Authorization"] = "Bearer " .. tokens[ti]
    elseif token and token ~= "" then
      headers["Authorization"] = "Bearer " .. token
    end
    local b = body
    if bodies then
      bi = bi % #bodies + 1
      b = bodies[bi]
    elseif body2 and n % 2 == 0 then
      b = body2
    end
    return wrk.format("POST", path, headers, b)
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status, e.connect + e.read + e.write + e.timeout))
end
