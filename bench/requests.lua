-- wrk script: sends the pre-written requests of a file, cycling through them.
-- wrk -c C -d D -t T -s bench/requests.lua URL -- FILE T
-- FILE: one raw HTTP/1.1 request per line, its CRLFs written as tabs (bench/wrkrun.py).
-- Thread k of T sends lines k, k+T, k+2T, ...; done() prints one JSON line of figures.

local counter = 0
local threads = {}

function setup(thread)
   thread:set("id", counter)
   counter = counter + 1
   table.insert(threads, thread)
end

function init(args)
   local path, nthreads = args[1], tonumber(args[2] or "1")
   requests, index, n = {}, 0, 0
   local i = 0
   for line in io.lines(path) do
      if i % nthreads == id then
         n = n + 1
         requests[n] = line:gsub("\t", "\r\n")
      end
      i = i + 1
   end
   if n == 0 then error("no requests for thread " .. id .. " in " .. path) end
end

function request()
   index = index + 1
   if index > n then index = 1 end
   return requests[index]
end

function done(summary, latency, requests)
   local e = summary.errors
   io.write(string.format(
      '{"requests":%d,"duration_us":%d,"bytes":%d,"connect_errors":%d,"read_errors":%d,"write_errors":%d,' ..
      '"non_2xx":%d,"timeouts":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f}\n',
      summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
      latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
