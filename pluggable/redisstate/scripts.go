package main

import "github.com/redis/go-redis/v9"

// The layout of a record is state.redis's, so that data written by either
// store reads back in the other: a hash with the value in field "data" and
// the ETag, an integer counting the writes, in field "version". state.redis
// also leaves a field "first-write" on records written with first-write
// concurrency; it means nothing here and is removed on the next write. A
// plain string (what older state.redis versions wrote) reads as a record
// without an ETag and is replaced by a hash on the next write.

// writeScript applies a list of operations as one Redis script, so that
// nothing else runs between its checks and its writes. KEYS[i] is the key
// of operation i; ARGV holds five values per operation: its kind ("set" or
// "del"), its ETag ("" for none), "1" when it is an insert (first-write
// concurrency without an ETag), its TTL in seconds ("" to keep the
// record's, 0 or less to remove it) and, for a set, the value.
//
// It checks every operation first, in order, against the records as the
// operations before it leave them: an ETag must name a record that exists
// and has that version, and an insert needs a key that does not exist. It
// writes only when every check passes, and otherwise returns the failing
// operation's number (from 1) and why ("etag", "missing" or "exists");
// {0, ""} means applied. The checks run before any write, so a script
// refused half-way (Redis out of memory) has written nothing either: the
// writes themselves (DEL, HSET, HDEL, EXPIRE, PERSIST on the right types)
// cannot fail.
var writeScript = redis.NewScript(`
local n = #KEYS
local view = {}
for i = 1, n do
  local k, b = KEYS[i], (i - 1) * 5
  local kind, etag, insert = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local cur = view[k]
  if cur == nil then
    local t = redis.call("TYPE", k)["ok"]
    if t == "none" then
      cur = false
    elseif t == "hash" then
      cur = redis.call("HGET", k, "version") or ""
    else
      cur = ""
    end
  end
  if etag ~= "" then
    if cur == false then return {i, "missing"} end
    if cur ~= etag then return {i, "etag"} end
  elseif insert == "1" and cur ~= false then
    return {i, "exists"}
  end
  if kind == "del" then
    view[k] = false
  else
    view[k] = tostring((tonumber(cur) or 0) + 1)
  end
end
for i = 1, n do
  local k, b = KEYS[i], (i - 1) * 5
  if ARGV[b + 1] == "del" then
    redis.call("DEL", k)
  else
    local t = redis.call("TYPE", k)["ok"]
    local version = 0
    if t == "hash" then
      version = tonumber(redis.call("HGET", k, "version")) or 0
      redis.call("HDEL", k, "first-write")
    elseif t ~= "none" then
      redis.call("DEL", k)
    end
    redis.call("HSET", k, "data", ARGV[b + 5], "version", tostring(version + 1))
    local ttl = ARGV[b + 4]
    if ttl ~= "" then
      local seconds = tonumber(ttl)
      if seconds > 0 then
        redis.call("EXPIRE", k, seconds)
      else
        redis.call("PERSIST", k)
      end
    end
  end
end
return {0, ""}
`)

// readScript reads records: for each key in KEYS, four values: "1" when it
// exists (else "0" and the rest empty), its value, its version ("" for a
// plain string) and its remaining time to live in milliseconds (-1 for
// none).
var readScript = redis.NewScript(`
local out = {}
for i = 1, #KEYS do
  local k = KEYS[i]
  local t = redis.call("TYPE", k)["ok"]
  if t == "hash" then
    local v = redis.call("HMGET", k, "data", "version")
    table.insert(out, "1")
    table.insert(out, v[1] or "")
    table.insert(out, v[2] or "")
    table.insert(out, tostring(redis.call("PTTL", k)))
  elseif t == "string" then
    table.insert(out, "1")
    table.insert(out, redis.call("GET", k))
    table.insert(out, "")
    table.insert(out, tostring(redis.call("PTTL", k)))
  else
    table.insert(out, "0")
    table.insert(out, "")
    table.insert(out, "")
    table.insert(out, "-1")
  end
end
return out
`)
