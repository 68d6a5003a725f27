-- request.lua - the one wrk script of `make bench`. What it sends comes from
-- the environment, so every run carries the same response() cost:
--   BENCH_AUTH=1        add "Authorization: Token $BENCH_TOKEN"
--   BENCH_NOCACHE=1     add "Cache-Control: no-cache" (the app skips its Redis read)
--   BENCH_POST=1        POST a task into residence $BENCH_RESIDENCE_ID
--   BENCH_ENCODING=...  add "Accept-Encoding: ..." (gzip, br: a compressed body)
-- Counts non-2xx responses per thread and prints "non2xx=N" from done().

local function flag(name)
    return os.getenv(name) == "1"
end

if flag("BENCH_AUTH") then
    local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
    wrk.headers["Authorization"] = "Token " .. token
end
if flag("BENCH_NOCACHE") then
    wrk.headers["Cache-Control"] = "no-cache"
end
local encoding = os.getenv("BENCH_ENCODING") or ""
if encoding ~= "" then
    wrk.headers["Accept-Encoding"] = encoding
end
if flag("BENCH_POST") then
    local residence = tonumber(os.getenv("BENCH_RESIDENCE_ID") or "")
        or error("BENCH_RESIDENCE_ID is not set to a number")
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"
    wrk.body = string.format('{"residence_id": %d, "title": "bench task"}', residence)
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    non2xx = 0
end

function response(status, headers, body)
    if status < 200 or status > 299 then
        non2xx = non2xx + 1
    end
end

function done(summary, latency, requests)
    local n = 0
    for _, t in ipairs(threads) do
        n = n + (t:get("non2xx") or 0)
    end
    print("non2xx=" .. n)
end
