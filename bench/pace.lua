-- wrk script for the soak: each connection waits DELAY_MS between its requests (wrk's delay()),
-- so the rate is about connections / (delay + latency). args: DELAY_MS
local pause = 10

function init(args)
  pause = tonumber(args[1]) or pause
end

function delay()
  return pause
end
