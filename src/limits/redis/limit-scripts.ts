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
 * A handshake: KEYS[1] the user's rate window, KEYS[2] the address's, KEYS[3] the user's open connections.
 * ARGV: now, window, user rate, address rate, user cap, connection id, lease.
 * Returns {0, 0} when admitted (counted in all three), else {1 | 2 | 3, ms until the window frees a place}
 * for the user's rate, the address's rate, the user's cap; a refused handshake counts nowhere.
 */
export const ADMIT_SCRIPT = `${CLOCK}
local now, window = clock(ARGV[1]), tonumber(ARGV[2])
local limits = { tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]) }
local conn, lease = ARGV[6], tonumber(ARGV[7])
-- A set is pruned only when it looks full: below its limit it admits whatever its old members, and it never
-- grows past its limit (its key expires one window or lease after its last addition or renewal).
local function full(i, floor)
  if redis.call('ZCARD', KEYS[i]) < limits[i] then return false end
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', floor)
  return redis.call('ZCARD', KEYS[i]) >= limits[i]
end
for i = 1, 2 do
  if full(i, now - window) then
    local oldest = redis.call('ZRANGE', KEYS[i], 0, 0, 'WITHSCORES')
    return { i, tonumber(oldest[2]) + window - now }
  end
end
if full(3, now) then return { 3, 0 } end
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, conn)
  redis.call('PEXPIRE', KEYS[i], window)
end
redis.call('ZADD', KEYS[3], now + lease, conn)
redis.call('PEXPIRE', KEYS[3], lease)
return { 0, 0 }
`;

/**
 * A connection's first subscription in a project: KEYS[1] the project's open connections.
 * ARGV: now, lease, cap, connection id. Returns 1 when the connection holds a place (already, or now), 0 when
 * the cap is reached. Pruned of ended leases only when it looks full, as the admission's sets.
 */
export const JOIN_PROJECT_SCRIPT = `${CLOCK}
local now, lease, cap, conn = clock(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
if redis.call('ZCARD', KEYS[1]) >= cap and not redis.call('ZSCORE', KEYS[1], conn) then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
end
redis.call('ZADD', KEYS[1], now + lease, conn)
redis.call('PEXPIRE', KEYS[1], lease)
return 1
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
