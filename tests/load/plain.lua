-- plain.lua - wrk script for unauthenticated GETs (bare responder, health).
-- Sends wrk's default request unchanged; only counts non-2xx responses, so
-- every bench run pays the same client-side cost for response() as the
-- authenticated ones. Prints "non2xx=N" from done().

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
