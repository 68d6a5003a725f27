-- count.lua - the wrk script of the fault tests (tests/fault/run.py).
-- Sends "Authorization: Token $FAULT_TOKEN" when FAULT_TOKEN is set and
-- "Cache-Control: no-cache" when FAULT_NOCACHE=1, counts the responses by
-- status per thread, and prints from done() one line:
--   counts ok=N s502=N s503=N s503json=N other=N
-- where ok is 2xx, s503json the 503s whose body is the API's JSON error
-- envelope ("service_unavailable"), and other every other status.

local token = os.getenv("FAULT_TOKEN")
if token and token ~= "" then
    wrk.headers["Authorization"] = "Token " .. token
end
if os.getenv("FAULT_NOCACHE") == "1" then
    wrk.headers["Cache-Control"] = "no-cache"
end

local threads = {}

function setup(thread)
    table.insert(threads, thread)
end

function init(args)
    ok, s502, s503, s503json, other = 0, 0, 0, 0, 0
end

function response(status, headers, body)
    if status >= 200 and status <= 299 then
        ok = ok + 1
    elseif status == 502 then
        s502 = s502 + 1
    elseif status == 503 then
        s503 = s503 + 1
        if body and string.find(body, '"service_unavailable"', 1, true) then
            s503json = s503json + 1
        end
    else
        other = other + 1
    end
end

function done(summary, latency, requests)
    local t = {ok = 0, s502 = 0, s503 = 0, s503json = 0, other = 0}
    for _, th in ipairs(threads) do
        for k, _ in pairs(t) do
            t[k] = t[k] + (th:get(k) or 0)
        end
    end
    print(string.format("counts ok=%d s502=%d s503=%d s503json=%d other=%d",
        t.ok, t.s502, t.s503, t.s503json, t.other))
end
