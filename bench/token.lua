-- wrk script for the token benches: POSTs one form body per request, each line of the file once.
-- args: FILE AUTHORIZATION. When the file is used up the last body repeats (refused: counted as errors).
local bodies = {}
local i = 0
local auth = ""

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then bodies[#bodies + 1] = line end
  end
  auth = args[2]
end

function request()
  i = i + 1
  local body = bodies[i] or bodies[#bodies]
  return wrk.format("POST", nil, {
    ["Authorization"] = auth,
    ["Content-Type"] = "application/x-www-form-urlencoded",
  }, body)
end
