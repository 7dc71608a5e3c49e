/**
 * Lua scripts of the Redis connection limits. Places are zset members (connection ids) scored by admission time
 * (rates) or by the end of their lease (open connections). Time is Redis's own clock (TIME), one for every
 * replica, so a replica whose clock is off cannot end the leases of the others; a caller may pass its own
 * milliseconds instead (tests move a fake clock), 0 meaning TIME.
 */

const CLOCK = `
local function clock(arg)
  local now = tonumber(arg)
  if now == 0 then
    local t = redis.call('TIME')
    now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return now
end
`;

/**
 * The handshakes of one event-loop turn, in order: KEYS three per handshake (the user's rate window, the address's,
 * the user's open connections); ARGV now, window, user rate, address rate, user cap, lease, then one connection id
 * per handshake. Each is decided after the ones before it in the call, as if they had come one by one. Returns
 * two numbers per handshake: {0, 0} when admitted (counted in all three), else {1 | 2 | 3, ms until the window
 * frees a place} for the user's rate, the address's rate, the user's cap; a refused handshake counts nowhere.
 */
export const ADMIT_SCRIPT = `${CLOCK}
local now, window = clock(ARGV[1]), tonumber(ARGV[2])
local limits = { tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]) }
local lease = tonumber(ARGV[6])
-- A set is pruned only when it looks full: below its limit it admits whatever its old members, and it never
-- grows past its limit (its key expires one window or lease after its last addition or renewal).
local function full(key, limit, floor)
  if redis.call('ZCARD', key) < limit then return false end
  redis.call('ZREMRANGEBYSCORE', key, '-inf', floor)
  return redis.call('ZCARD', key) >= limit
end
local out = {}
for h = 0, #KEYS / 3 - 1 do
  local keys = { KEYS[3 * h + 1], KEYS[3 * h + 2], KEYS[3 * h + 3] }
  local conn = ARGV[7 + h]
  local code, wait = 0, 0
  for i = 1, 2 do
    if code == 0 and full(keys[i], limits[i], now - window) then
      local oldest = redis.call('ZRANGE', keys[i], 0, 0, 'WITHSCORES')
      code, wait = i, tonumber(oldest[2]) + window - now
    end
  end
  if code == 0 and full(keys[3], limits[3], now) then code = 3 end
  if code == 0 then
    for i = 1, 2 do
      redis.call('ZADD', keys[i], now, conn)
      redis.call('PEXPIRE', keys[i], window)
    end
    redis.call('ZADD', keys[3], now + lease, conn)
    redis.call('PEXPIRE', keys[3], lease)
  end
  out[2 * h + 1] = code
  out[2 * h + 2] = wait
end
return out
`;

/**
 * The first subscriptions in one project of one event-loop turn, in order: KEYS[1] the project's open
 * connections; ARGV now, lease, cap, then one connection id each. Returns 1 or 0 per connection: it holds a place
 * (already, or now), or the cap is reached. Pruned of ended leases only when it looks full, as the admission's sets.
 */
export const JOIN_PROJECT_SCRIPT = `${CLOCK}
local now, lease, cap = clock(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 4, #ARGV do
  local conn = ARGV[i]
  local ok = 1
  if redis.call('ZCARD', KEYS[1]) >= cap and not redis.call('ZSCORE', KEYS[1], conn) then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
    if redis.call('ZCARD', KEYS[1]) >= cap then ok = 0 end
  end
  if ok == 1 then redis.call('ZADD', KEYS[1], now + lease, conn) end
  out[i - 3] = ok
end
redis.call('PEXPIRE', KEYS[1], lease)
return out
`;

/**
 * Lease renewal: KEYS the zsets (one slot), ARGV[1] now, ARGV[2] the lease, then for each key the number of its
 * members and the members: one ZADD and one PEXPIRE per key however many of its members are renewed. Each key
 * keeps a TTL of one lease after its last renewal, so a key whose replicas all died goes too.
 */
export const RENEW_SCRIPT = `${CLOCK}
local lease = tonumber(ARGV[2])
local lease_end = clock(ARGV[1]) + lease
local a = 3
for i = 1, #KEYS do
  local n = tonumber(ARGV[a])
  local pairs = {}
  for k = 1, n do
    pairs[2 * k - 1] = lease_end
    pairs[2 * k] = ARGV[a + k]
  end
  a = a + n + 1
  redis.call('ZADD', KEYS[i], unpack(pairs))
  redis.call('PEXPIRE', KEYS[i], lease)
end
return #KEYS
`;
