-- tasks_nocache.lua - wrk script: GET /api/tasks/ with "Cache-Control:
-- no-cache", which makes the app skip its Redis read and query Postgres on
-- every request. Env: BENCH_TOKEN (the user's API token).
-- Counts non-2xx responses per thread and prints "non2xx=N" from done().

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")

wrk.method = "GET"
wrk.path = "/api/tasks/"
wrk.headers["Authorization"] = "Token " .. token
wrk.headers["Cache-Control"] = "no-cache"

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
