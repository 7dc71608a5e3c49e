/**
 * Lua scripts of the Redis read model. Every key a script touches belongs to one project and carries its
 * hash tag, so each script runs on one slot of a cluster. Key names are built from the project's key base
 * (`<prefix>{<projectId>}:`) passed in, exactly as RedisReadModel.base() builds it.
 */

/**
 * The metrics of a project (analytics.md) under its key base: `mx` (hash: the counters of METRIC_COUNTERS, plus
 * `wsum` the sum of the waiting requests' createdAt, `hsum`/`hn` the sum and number of handle times in the
 * window), `mx:wait` (zset: waiting request _id by createdAt), and the windows, each a zset by event time:
 * `mx:arr` (arrivals), `mx:cls` (closures; `mx:hdl` hash _id → handle time), `mx:frt` (first responses;
 * `mx:frd` the same _ids by response duration, for the median). Times are ms. Windows are cut by Redis's TIME,
 * so every replica sees the same window whatever its own clock.
 */
const METRICS_LUA = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- The negative of an integer string, for HINCRBY ('-0' and '--5' are not integers to Redis).
local function neg(n)
  if n == '0' then return '0' end
  if string.sub(n, 1, 1) == '-' then return string.sub(n, 2) end
  return '-' .. n
end
local function mx_wait(base, id, at)
  local old = redis.call('ZSCORE', base .. 'mx:wait', id)
  if old then
    redis.call('HINCRBY', base .. 'mx', 'wsum', neg(old))
    redis.call('ZREM', base .. 'mx:wait', id)
  end
  if at ~= '' then
    redis.call('ZADD', base .. 'mx:wait', at, id)
    redis.call('HINCRBY', base .. 'mx', 'wsum', at)
  end
end
local function mx_drop_handle(base, id)
  local h = redis.call('HGET', base .. 'mx:hdl', id)
  if h then
    redis.call('HINCRBY', base .. 'mx', 'hsum', neg(h))
    redis.call('HINCRBY', base .. 'mx', 'hn', -1)
    redis.call('HDEL', base .. 'mx:hdl', id)
  end
end
local function mx_close(base, id, at, handle)
  mx_drop_handle(base, id)
  redis.call('ZADD', base .. 'mx:cls', at, id)
  if handle ~= '' then
    redis.call('HSET', base .. 'mx:hdl', id, handle)
    redis.call('HINCRBY', base .. 'mx', 'hsum', handle)
    redis.call('HINCRBY', base .. 'mx', 'hn', 1)
  end
end
local function mx_prune(base, cutoff)
  redis.call('ZREMRANGEBYSCORE', base .. 'mx:arr', '-inf', cutoff)
  local closed = redis.call('ZRANGEBYSCORE', base .. 'mx:cls', '-inf', cutoff)
  for i = 1, #closed do mx_drop_handle(base, closed[i]) end
  redis.call('ZREMRANGEBYSCORE', base .. 'mx:cls', '-inf', cutoff)
  local answered = redis.call('ZRANGEBYSCORE', base .. 'mx:frt', '-inf', cutoff)
  for from = 1, #answered, 1000 do
    local slice = {}
    for k = from, math.min(from + 999, #answered) do slice[#slice + 1] = answered[k] end
    redis.call('ZREM', base .. 'mx:frd', unpack(slice))
  end
  redis.call('ZREMRANGEBYSCORE', base .. 'mx:frt', '-inf', cutoff)
end
local function first_score(key)
  local e = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return e[2] or false
end
-- The window cut at TIME, then { now, counters (flat hash), waiting count, oldest waiting createdAt, arrivals,
-- closures, the median's one or two middle durations, each window's oldest time, ready } where ready is 0 when
-- the project has documents (a version) but no metrics state yet (see MX_GUARD), else 1.
local function mx_read(base, window_ms)
  local now = now_ms()
  mx_prune(base, now - window_ms)
  local res = { now, redis.call('HGETALL', base .. 'mx'), redis.call('ZCARD', base .. 'mx:wait'), first_score(base .. 'mx:wait'),
    redis.call('ZCARD', base .. 'mx:arr'), redis.call('ZCARD', base .. 'mx:cls') }
  local n = redis.call('ZCARD', base .. 'mx:frd')
  local middle = {}
  if n > 0 then
    local e = redis.call('ZRANGE', base .. 'mx:frd', math.floor((n - 1) / 2), math.floor(n / 2), 'WITHSCORES')
    for i = 2, #e, 2 do middle[#middle + 1] = e[i] end
  end
  res[7] = middle
  res[8] = { first_score(base .. 'mx:arr'), first_score(base .. 'mx:cls'), first_score(base .. 'mx:frt') }
  res[9] = 1
  if redis.call('HEXISTS', base .. 'mx', 'v') == 0 and redis.call('EXISTS', base .. 'ver') == 1 then res[9] = 0 end
  return res
end
`;

/**
 * Commit: applies a list of writes if what the plan was made on still holds, then (when asked) numbers the change
 * and publishes its envelope, all in one atomic step. What the plan was made on: the point reads it recorded, each
 * a value (or absence) the replica only guessed or learned earlier, compared here with what Redis holds (by
 * SHA-1); and, when the plan also read what no value check covers (every member, a list), the project's write
 * version read before those reads.
 * KEYS[1] version key, KEYS[2] seq key: every key the script touches shares their slot (the project's hash tag),
 * so they route it on a cluster. ARGV[1] expected version ('' checks none), ARGV[2] '' | 'PUBLISH' | 'SPUBLISH',
 * ARGV[3] channel, ARGV[4] envelope text before the seq, ARGV[5] after it, ARGV[6] the number of reads, then per
 * read its kind ('g' GET key, 'h' HGET key field, 'x' HEXISTS key field, whose value is '1' or absent), key, field
 * ('' for 'g') and expected SHA-1 of the value ('' for absent); then the commands, each as its name, its argument
 * count, then its arguments (flat, so no document goes through a Lua JSON decoder: cjson refuses some strings JSON
 * allows, such as lone surrogates).
 * Returns, writing nothing, { -3, per read: 1 if it holds the expected value, else the value (nil if absent) }
 * when a read does not match, so that the caller can plan again without reading; -1 when the version moved;
 * else the new seq (0 when nothing was published). The version is bumped by every commit that writes (a commit
 * with no commands and nothing to publish only checks its reads). A publishing commit that finds no `life` key
 * (the project's first, or the first since its data was wiped) stamps one with the server's TIME: seq numbers are
 * only comparable within one life.
 * Commands are Redis commands, plus CAPPED_ADD hash zset id score json cap (a map kept to the `cap` members
 * of highest score), CAPPED_DEL hash zset (delete both) and CAPPED_EXPIRE hash zset maxScore (drop members
 * scored at or below maxScore from both) and UNLINK_IF hash field value [hash2] (delete the field only while it
 * still holds value, and then set the same field of hash2 to '').
 */
export const COMMIT_SCRIPT = `${METRICS_LUA}
local ver = redis.call('GET', KEYS[1]) or '0'
local i = 7
local mismatch = false
for r = 1, tonumber(ARGV[6]) do
  local kind, key, field, expected = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  i = i + 4
  local v
  if kind == 'g' then
    v = redis.call('GET', key)
  elseif kind == 'h' then
    v = redis.call('HGET', key, field)
  elseif redis.call('HEXISTS', key, field) == 1 then
    v = '1'
  else
    v = false
  end
  local same
  if v then same = expected ~= '' and redis.sha1hex(v) == expected else same = expected == '' end
  if not same and not mismatch then
    mismatch = { -3 }
    for k = 1, r - 1 do mismatch[k + 1] = 1 end
  end
  if mismatch then
    if same then mismatch[r + 1] = 1 else mismatch[r + 1] = v end
  end
end
if mismatch then return mismatch end
if ARGV[1] ~= '' and ver ~= ARGV[1] then return -1 end
if i > #ARGV and ARGV[2] == '' then return 0 end
redis.call('INCR', KEYS[1])
while i <= #ARGV do
  local name = ARGV[i]
  local n = tonumber(ARGV[i + 1])
  local c = {}
  for k = 1, n do c[k] = ARGV[i + 1 + k] end
  i = i + 2 + n
  if name == 'CAPPED_ADD' then
    redis.call('HSET', c[1], c[3], c[5])
    redis.call('ZADD', c[2], c[4], c[3])
    local over = redis.call('ZCARD', c[2]) - tonumber(c[6])
    if over > 0 then
      local out = redis.call('ZPOPMIN', c[2], over)
      for j = 1, #out, 2 do redis.call('HDEL', c[1], out[j]) end
    end
  elseif name == 'CAPPED_DEL' then
    redis.call('DEL', c[1], c[2])
  elseif name == 'UNLINK_IF' then
    if redis.call('HGET', c[1], c[2]) == c[3] then
      redis.call('HDEL', c[1], c[2])
      if c[4] then redis.call('HSET', c[4], c[2], '') end
    end
  elseif name == 'MX_GUARD' then
    if redis.call('HEXISTS', c[1] .. 'mx', 'v') == 0 then
      -- The project's first commit starts its metrics; documents stored before the metrics existed need a rebuild.
      if ver ~= '0' then return -2 end
      redis.call('HSET', c[1] .. 'mx', 'v', 1)
    end
  elseif name == 'MX_WAIT' then
    mx_wait(c[1], c[2], c[3])
  elseif name == 'MX_CLOSE' then
    mx_close(c[1], c[2], c[3], c[4])
  elseif name == 'MX_PRUNE' then
    mx_prune(c[1], now_ms() - tonumber(c[2]))
  elseif name == 'CAPPED_EXPIRE' then
    local old = redis.call('ZRANGEBYSCORE', c[2], '-inf', c[3])
    for j = 1, #old do
      redis.call('HDEL', c[1], old[j])
      redis.call('ZREM', c[2], old[j])
    end
  else
    redis.call(name, unpack(c))
  end
end
if ARGV[2] == '' then return 0 end
local seq = redis.call('INCR', KEYS[2])
local life = string.sub(KEYS[2], 1, -4) .. 'life'
if redis.call('EXISTS', life) == 0 then
  local t = redis.call('TIME')
  redis.call('SET', life, t[1] .. '.' .. t[2])
end
redis.call(ARGV[2], ARGV[3], ARGV[4] .. seq .. ARGV[5])
return seq
`;

/** HMGET in slices: Lua's unpack has a limit of a few thousand values. */
const HMGET_CHUNKED = `
local function hmget_chunked(key, names)
  local out = {}
  for from = 1, #names, 1000 do
    local slice = {}
    for k = from, math.min(from + 999, #names) do slice[#slice + 1] = names[k] end
    local docs = redis.call('HMGET', key, unpack(slice))
    for k = 1, #slice do out[from + k - 1] = docs[k] end
  end
  return out
end
`;

/**
 * Listed requests a viewer sees, as [score, json, score, json, ...] newest first (ties in any order: the
 * caller sorts). ARGV[1] key base, ARGV[2] scope, ARGV[3] user id, ARGV[4] limit (0 = all).
 */
const LIST_OPEN = `${HMGET_CHUNKED}
local function list_open(base, scope, user, limit)
  local stop = -1
  if limit > 0 then stop = limit + 9 end
  local ids
  if scope == 'all' then
    ids = redis.call('ZREVRANGE', base .. 'open', 0, stop, 'WITHSCORES')
  elseif scope == 'group' then
    local all = redis.call('ZUNION', 2, base .. 'open:p:' .. user, base .. 'open:a:' .. user, 'AGGREGATE', 'MAX', 'WITHSCORES')
    ids = {}
    local first = 1
    if stop >= 0 and #all > 2 * (stop + 1) then first = #all - 2 * (stop + 1) + 1 end
    for i = #all - 1, first, -2 do
      ids[#ids + 1] = all[i]
      ids[#ids + 1] = all[i + 1]
    end
  else
    ids = redis.call('ZREVRANGE', base .. 'open:p:' .. user, 0, stop, 'WITHSCORES')
  end
  local out = {}
  if #ids == 0 then return out end
  local names = {}
  for i = 1, #ids, 2 do names[#names + 1] = ids[i] end
  local docs = hmget_chunked(base .. 'req', names)
  for i = 1, #names do
    if docs[i] then
      out[#out + 1] = ids[2 * i]
      out[#out + 1] = docs[i]
    end
  end
  return out
end
`;

/** ARGV[1] key base, ARGV[2] scope, ARGV[3] user id, ARGV[4] limit (0 = all). KEYS[1] the seq key (routing). */
export const LIST_OPEN_SCRIPT = `${LIST_OPEN}
return list_open(ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
`;

/**
 * Everything a subscribe needs, read atomically with the project's seq.
 * KEYS[1] the seq key (routing). ARGV: base, kind, user id, a, b, limit, min event score (ms), and for
 * `requests` the seq and life at which the caller already holds the see-all list ('' if none).
 * Returns { seq, project|false, member|false, scope|false, payload... } where payload depends on the kind.
 * `requests`: the project's life ('' before its first publishing commit), then the list; for a see-all member
 * whose caller holds the list at this very seq and life, the single marker '=' instead of the list.
 */
export const READ_TOPIC_SCRIPT = `${LIST_OPEN}${METRICS_LUA}
local base, kind, user, a, b = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local limit = tonumber(ARGV[6])
local seq = tonumber(redis.call('GET', base .. 'seq') or '0')
local project = redis.call('GET', base .. 'project')
local puid = redis.call('HGET', base .. 'pu:user', user)
local member = false
if puid then member = redis.call('HGET', base .. 'pu', puid) end
local scope = redis.call('HGET', base .. 'scope', user)
local res = { seq, project, member, scope }
if kind == 'requests' then
  local life = redis.call('GET', base .. 'life') or ''
  res[5] = life
  if scope == 'all' and life ~= '' and ARGV[9] == life and tonumber(ARGV[8]) == seq then
    res[6] = '='
  elseif scope and scope ~= '' then
    local list = list_open(base, scope, user, limit)
    for i = 1, #list do res[#res + 1] = list[i] end
  end
elseif kind == 'request' then
  res[5] = redis.call('HGET', base .. 'req', a)
elseif kind == 'messages' then
  res[5] = redis.call('HGET', base .. 'req', a)
  local ids = redis.call('ZRANGE', base .. 'msgz:' .. a, -limit, -1)
  if #ids > 0 then
    local docs = hmget_chunked(base .. 'msg:' .. a, ids)
    for i = 1, #ids do if docs[i] then res[#res + 1] = docs[i] end end
  end
elseif kind == 'project_user' then
  res[5] = redis.call('HGET', base .. 'pu', a)
elseif kind == 'project_user_by_user' then
  local id = redis.call('HGET', base .. 'pu:user', a) or redis.call('HGET', base .. 'pu:uuid', a)
  if id then res[5] = redis.call('HGET', base .. 'pu', id) else res[5] = false end
elseif kind == 'events' then
  local names
  if b ~= '' then names = { b } else names = redis.call('SMEMBERS', base .. 'evn:' .. a) end
  local found = {}
  for _, name in ipairs(names) do
    local z = base .. 'evz:' .. a .. ':' .. name
    local ids = redis.call('ZREVRANGEBYSCORE', z, '+inf', ARGV[7], 'WITHSCORES', 'LIMIT', 0, limit)
    if #ids > 0 then
      local ns = {}
      for i = 1, #ids, 2 do ns[#ns + 1] = ids[i] end
      local docs = hmget_chunked(base .. 'ev:' .. a .. ':' .. name, ns)
      for i = 1, #ns do
        if docs[i] then found[#found + 1] = { tonumber(ids[2 * i]), docs[i] } end
      end
    end
  end
  table.sort(found, function(x, y) return x[1] > y[1] end)
  for i = 1, math.min(limit, #found) do
    res[#res + 1] = tostring(found[i][1])
    res[#res + 1] = found[i][2]
  end
elseif kind == 'bot' then
  res[5] = redis.call('HGET', base .. 'bot', a)
elseif kind == 'metrics' then
  res[5] = mx_read(base, tonumber(a))
end
return res
`;

/** A project's metrics state (see mx_read). KEYS[1] the seq key (routing). ARGV: base, window (ms). Returns { seq, state }. */
export const METRICS_SCRIPT = `${METRICS_LUA}
local seq = tonumber(redis.call('GET', ARGV[1] .. 'seq') or '0')
return { seq, mx_read(ARGV[1], tonumber(ARGV[2])) }
`;

/** Cuts a project's metrics windows at TIME − window. KEYS[1] the seq key (routing). ARGV: base, window (ms). */
export const METRICS_PRUNE_SCRIPT = `${METRICS_LUA}
mx_prune(ARGV[1], now_ms() - tonumber(ARGV[2]))
return 0
`;

/** A user's membership in one project. KEYS[1] the seq key (routing). ARGV: base, user id. Returns { project|false, member|false }. */
export const MEMBERSHIP_SCRIPT = `
local puid = redis.call('HGET', ARGV[1] .. 'pu:user', ARGV[2])
local member = false
if puid then member = redis.call('HGET', ARGV[1] .. 'pu', puid) end
return { redis.call('GET', ARGV[1] .. 'project'), member }
`;
