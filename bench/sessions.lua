-- wrk script: each request carries the next of the Cookie headers in a file (one per line), round robin,
-- so the requests in flight carry different sessions, as many people's would. args: FILE
local cookies = {}
local n, i = 0, 0

function init(args)
  for line in io.lines(args[1]) do
    n = n + 1
    cookies[n] = line
  end
end

function request()
  i = i % n + 1
  wrk.headers["Cookie"] = cookies[i]
  return wrk.format()
end
