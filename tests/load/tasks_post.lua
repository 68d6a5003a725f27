-- tasks_post.lua - wrk script: POST /api/tasks/ creating a task in one
-- residence on every request. Env: BENCH_TOKEN (the user's API token),
-- BENCH_RESIDENCE_ID (a residence of that user).
-- Counts non-2xx responses per thread and prints "non2xx=N" from done().

local token = os.getenv("BENCH_TOKEN") or error("BENCH_TOKEN is not set")
local residence = tonumber(os.getenv("BENCH_RESIDENCE_ID") or "")
    or error("BENCH_RESIDENCE_ID is not set to a number")

wrk.method = "POST"
wrk.path = "/api/tasks/"
wrk.headers["Authorization"] = "Token " .. token
wrk.headers["Content-Type"] = "application/json"
wrk.body = string.format('{"residence_id": %d, "title": "bench task"}', residence)

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
