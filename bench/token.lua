-- wrk script for the token benches: POSTs one form body per request, each line of the file once.
-- args: FILE AUTHORIZATION SPENT. When the file is used up, SPENT is sent (a body the provider refuses,
-- counted as errors) -- never a used code or token again: a replay makes providers revoke the grant.
local bodies = {}
local i = 0
local auth = ""
local spent = ""

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  auth = args[2]
  spent = args[3]
end

function request()
  i = i + 1
  local body = bodies[i] or spent
  return wrk.format("POST", nil, {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
