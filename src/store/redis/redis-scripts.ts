/**
 * Lua scripts of the Redis read model. Every key a script touches belongs to one project and carries its
 * hash tag, so each script runs on one slot of a cluster. Key names are built from the project's key base
 * (`<prefix>{<projectId>}:`) passed in, exactly as src/store/redis/redis-keys.ts builds them.
 */

/**
 * Commit: applies a list of writes if the project's write version is still the one the plan was read at,
 * then (when asked) numbers the change and publishes its envelope, all in one atomic step.
 * KEYS[1] version key, KEYS[2] seq key. ARGV[1] expected version, ARGV[2] JSON array of commands,
 * ARGV[3] '' | 'PUBLISH' | 'SPUBLISH', ARGV[4] channel, ARGV[5] envelope text before the seq, ARGV[6] after it.
 * Returns -1 on a version conflict, else the new seq (0 when nothing was published).
 * Commands are Redis commands, plus CAPPED_ADD hash zset id score json cap (a map kept to the `cap` members
 * of highest score) and CAPPED_DEL hash zset (delete both).
 */
export const COMMIT_SCRIPT = `
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return -1 end
redis.call('INCR', KEYS[1])
local cmds = cjson.decode(ARGV[2])
for _, c in ipairs(cmds) do
  if c[1] == 'CAPPED_ADD' then
    redis.call('HSET', c[2], c[4], c[6])
    redis.call('ZADD', c[3], c[5], c[4])
    local n = redis.call('ZCARD', c[3]) - tonumber(c[7])
    if n > 0 then
      local out = redis.call('ZPOPMIN', c[3], n)
      for i = 1, #out, 2 do redis.call('HDEL', c[2], out[i]) end
    end
  elseif c[1] == 'CAPPED_DEL' then
    redis.call('DEL', c[2], c[3])
  else
    redis.call(unpack(c))
  end
end
if ARGV[3] == '' then return 0 end
local seq = redis.call('INCR', KEYS[2])
redis.call(ARGV[3], ARGV[4], ARGV[5] .. seq .. ARGV[6])
return seq
`;

/**
 * Listed requests a viewer sees, as [score, json, score, json, ...] newest first (ties in any order: the
 * caller sorts). ARGV[1] key base, ARGV[2] scope, ARGV[3] user id, ARGV[4] limit (0 = all).
 */
const LIST_OPEN = `
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
  local docs = redis.call('HMGET', base .. 'req', unpack(names))
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
 * KEYS[1] the seq key (routing). ARGV: base, kind, user id, a, b, limit, min event score (ms).
 * Returns { seq, project|false, member|false, scope|false, payload... } where payload depends on the kind.
 */
export const READ_TOPIC_SCRIPT = `${LIST_OPEN}
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
  if scope and scope ~= '' then
    local list = list_open(base, scope, user, limit)
    for i = 1, #list do res[#res + 1] = list[i] end
  end
elseif kind == 'request' then
  res[5] = redis.call('HGET', base .. 'req', a)
elseif kind == 'messages' then
  res[5] = redis.call('HGET', base .. 'req', a)
  local ids = redis.call('ZRANGE', base .. 'msgz:' .. a, -limit, -1)
  if #ids > 0 then
    local docs = redis.call('HMGET', base .. 'msg:' .. a, unpack(ids))
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
      local docs = redis.call('HMGET', base .. 'ev:' .. a .. ':' .. name, unpack(ns))
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
end
return res
`;
