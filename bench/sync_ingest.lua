-- wrk script of bench.sync_ingest: one thread = one connection = one device.
--
-- wrk <options> <url> -- <mode> <dir> <expect_status> <applied_per_reply> <cycle>
--   mode               "post": thread n sends the bodies of <dir>/<n>.bodies, in order, each with
--                      the headers of <dir>/<n>.headers (content type, accept, the device's token);
--                      "get": thread n sends GET <path of the url>, nothing else
--   expect_status      the only status a reply may have (200 sync, 204 floor, 200 live)
--   applied_per_reply  how many times "applied" must occur in each reply's body (0: not checked)
--   cycle              "1": start again from the first body at the end (the floor keeps no
--                      state); "0": each body is sent once, and a thread that has none left
--                      stops and says so (the seqs of a device are never sent twice)
--
-- A .bodies file is a run of records "<8-digit decimal length><body>", written by the Python
-- side before the run, so no encoding happens in wrk. A thread moves to its next body when the
-- reply to the current one arrives, not when wrk asks for a request: wrk calls request() once
-- more than it sends (its check of the script, on the first thread), and with one connection per
-- thread a reply always belongs to the body last returned. So when wrk stops, the device's seqs
-- were applied up to its "ok" count, or one body further if a request was still in flight.
-- done() prints one line "BENCH-RESULT <json>" with wrk's summary, its latency percentiles and
-- each thread's counters; the Python side checks them (and, for sync, the server's own records)
-- before it reports anything.

local threads = {}
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
   table.insert(threads, thread)
end

-- Per thread (one Lua state each). Globals, so done() can read them with thread:get().
ok, bad, exhausted, bad_status, bad_hex = 0, 0, 0, 0, ""

local prefix, data, pos, next_pos, expect_status, applied_per_reply, cycle
local initialized = false

local function read_file(path)
   local f = assert(io.open(path, "rb"))
   local content = f:read("*a")
   f:close()
   return content
end

function init(args)
   local mode, dir = args[1], args[2]
   expect_status = tonumber(args[3])
   applied_per_reply = tonumber(args[4])
   cycle = args[5] == "1"
   local host = wrk.headers["Host"]
   if mode == "post" then
      prefix = "POST " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host .. "\r\n"
         .. read_file(dir .. "/" .. id .. ".headers")
      data = read_file(dir .. "/" .. id .. ".bodies")
      pos = 1
   elseif mode == "get" then
      prefix = "GET " .. wrk.path .. " HTTP/1.1\r\nHost: " .. host .. "\r\n\r\n"
   else
      error("mode must be post or get, not " .. tostring(mode))
   end
   initialized = true
end

function request()
   if not initialized then
      return wrk.format() -- the main state's copy of the script: never sent
   end
   if data == nil then
      return prefix
   end
   if pos > #data then
      -- Out of fresh seqs (never when cycling): stop this thread. wrk still writes what this
      -- call returns, so it is a harmless GET; the run is void anyway (the Python side refuses it).
      exhausted = 1
      wrk.thread:stop()
      return "GET /health/live HTTP/1.1\r\nHost: " .. wrk.headers["Host"] .. "\r\n\r\n"
   end
   local length = tonumber(string.sub(data, pos, pos + 7))
   next_pos = pos + 8 + length
   return prefix .. "Content-Length: " .. length .. "\r\n\r\n" .. string.sub(data, pos + 8, next_pos - 1)
end

local function count(haystack, needle)
   local n, at = 0, 1
   while true do
      local found = string.find(haystack, needle, at, true)
      if found == nil then
         return n
      end
      n = n + 1
      at = found + #needle
   end
end

local function hex(s)
   return (string.gsub(s, ".", function(c) return string.format("%02x", string.byte(c)) end))
end

function response(status, headers, body)
   local good = status == expect_status
   if good and applied_per_reply > 0 then
      good = body ~= nil and count(body, "applied") == applied_per_reply
   end
   if data ~= nil and exhausted == 0 then
      pos = next_pos
      if pos > #data and cycle then
         pos = 1
      end
   end
   if good then
      ok = ok + 1
   else
      bad = bad + 1
      if bad == 1 then
         bad_status = status
         bad_hex = hex(string.sub(body or "", 1, 400))
      end
   end
end

function done(summary, latency, requests)
   local rows = {}
   for _, t in ipairs(threads) do
      rows[#rows + 1] = string.format(
         '{"id":%d,"ok":%d,"bad":%d,"exhausted":%d,"bad_status":%d,"bad_hex":"%s"}',
         t:get("id"), t:get("ok"), t:get("bad"), t:get("exhausted"),
         t:get("bad_status"), t:get("bad_hex")
      )
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH-RESULT {"requests":%d,"duration_us":%d,"p50_us":%.0f,"p99_us":%.0f,"max_us":%.0f,'
         .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"threads":[%s]}\n',
      summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
      e.connect, e.read, e.write, e.status, e.timeout, table.concat(rows, ",")
   ))
end
