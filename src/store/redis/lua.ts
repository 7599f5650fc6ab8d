/**
 * The Lua scripts behind the shared limits. Each decision is one script, so it is atomic in
 * Redis, and each reads Redis's own clock (TIME), so that clock skew between the hosts of a
 * fleet does not move a limit. They mirror the pure algorithms in src/limits (gcra.ts,
 * token-bucket.ts) and return integers only (Redis truncates Lua numbers).
 */

/** Milliseconds on Redis's clock, with microseconds as the fraction. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
`;

/**
 * The GCRA step on KEYS[1] (TAT) with ARGV limit, periodMs, burst: a refusal returns
 * {0, 0, resetMs, retryAfterMs} followed by `refusedTail`; an admission stores the new TAT and
 * leaves `remaining` and `resetMs` for the script to return.
 */
const gcraStep = (refusedTail: string) => `
local limit = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local interval = period / limit
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
local start = math.max(tat, now)
local nxt = start + interval
local allowAt = nxt - burst * interval
if now < allowAt then
  return {0, 0, math.ceil(start - now), math.ceil(allowAt - now)${refusedTail}}
end
redis.call('SET', KEYS[1], string.format('%.3f', nxt), 'PX', math.ceil(nxt - now) + 1000)
local remaining = math.max(0, math.floor((now - allowAt) / interval))
local resetMs = math.ceil(nxt - now)
`;

/** KEYS[1] TAT; ARGV limit, periodMs, burst → {allowed, remaining, resetMs, retryAfterMs}. */
export const GCRA = `${NOW}${gcraStep("")}return {1, remaining, resetMs, 0}
`;

const REFILL = `${NOW}
local limit = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local v = redis.call('HMGET', KEYS[1], 'l', 'a')
local level = limit
if v[1] then
  level = math.min(limit, tonumber(v[1]) + math.max(0, now - tonumber(v[2])) * limit / period)
end
local function store(l)
  redis.call('HSET', KEYS[1], 'l', string.format('%.3f', l), 'a', string.format('%.3f', now))
  redis.call('PEXPIRE', KEYS[1], period + 1000)
end
local function resetMs(l) return math.ceil((limit - l) * period / limit) end
`;

/**
 * KEYS[1] bucket; ARGV amount, limit, periodMs →
 * {allowed, never, remaining, resetMs, retryAfterMs}.
 */
export const RESERVE = `${REFILL}
local amount = tonumber(ARGV[1])
if amount > limit then
  return {0, 1, math.floor(level), resetMs(level), 0}
end
if level < amount then
  return {0, 0, math.floor(level), resetMs(level), math.ceil((amount - level) * period / limit)}
end
level = level - amount
store(level)
return {1, 0, math.floor(level), resetMs(level), 0}
`;

/**
 * KEYS[1] bucket, KEYS[2] budget counter; ARGV amount, limit, periodMs, budgetLimit, baseline,
 * ttlMs → {allowed, never, remaining, resetMs, retryAfterMs, budgetOk, budgetValue}: a token
 * reservation and the daily budget in one round trip. The budget is asked only when the bucket
 * admits (budgetOk -1 otherwise), and the tokens are taken only when the budget admits too.
 */
export const RESERVE_WITHIN = `${REFILL}
local amount = tonumber(ARGV[1])
if amount > limit then
  return {0, 1, math.floor(level), resetMs(level), 0, -1, 0}
end
if level < amount then
  return {0, 0, math.floor(level), resetMs(level), math.ceil((amount - level) * period / limit), -1, 0}
end
local v = redis.call('GET', KEYS[2])
local spent = tonumber(v or ARGV[5])
if spent + amount > tonumber(ARGV[4]) then
  return {1, 0, math.floor(level - amount), resetMs(level - amount), 0, 0, spent}
end
redis.call('SET', KEYS[2], spent + amount, 'PX', tonumber(ARGV[6]))
level = level - amount
store(level)
return {1, 0, math.floor(level), resetMs(level), 0, 1, spent + amount}
`;

/** KEYS[1] bucket, KEYS[2] budget counter; ARGV amount, limit, periodMs: both given back. */
export const REFUND_WITHIN = `${REFILL}
store(math.min(limit, level + math.max(0, tonumber(ARGV[1]))))
local v = redis.call('GET', KEYS[2])
if v then
  redis.call('SET', KEYS[2], math.max(0, tonumber(v) - tonumber(ARGV[1])), 'KEEPTTL')
end
return 1
`;

/** KEYS[1] bucket; ARGV amount, limit, periodMs: gives tokens back. */
export const REFUND = `${REFILL}
store(math.min(limit, level + math.max(0, tonumber(ARGV[1]))))
return 1
`;

/**
 * KEYS[1] counter; ARGV amount, limit, baseline, ttlMs → {ok, value}. The baseline seeds a
 * counter the first time it is seen.
 */
export const ADD_WITHIN = `
local v = redis.call('GET', KEYS[1])
local value = tonumber(v or ARGV[3])
local amount = tonumber(ARGV[1])
if value + amount > tonumber(ARGV[2]) then return {0, value} end
redis.call('SET', KEYS[1], value + amount, 'PX', tonumber(ARGV[4]))
return {1, value + amount}
`;

/** KEYS[1] counter; ARGV amount: subtracts, never below 0, keeping the expiry. */
export const SUBTRACT = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
redis.call('SET', KEYS[1], math.max(0, tonumber(v) - tonumber(ARGV[1])), 'KEEPTTL')
return 1
`;

/**
 * take(key, token, cap, leaseMs) → ok, held: a place in flight in a sorted set of holders by
 * lease expiry, expired leases dropped first.
 */
const TAKE_PLACE = `
local function take(key, token, cap, lease)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local held = redis.call('ZCARD', key)
  if held >= cap then return 0, held end
  redis.call('ZADD', key, string.format('%.3f', now + lease), token)
  redis.call('PEXPIRE', key, lease)
  return 1, held + 1
end
`;

/**
 * KEYS[1] sorted set of holders by expiry; ARGV token, limit, leaseMs → {ok, held}. Expired
 * leases are dropped first.
 */
export const ACQUIRE = `${NOW}${TAKE_PLACE}
local ok, held = take(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
return {ok, held}
`;

/**
 * KEYS[1] sorted set of offence times; ARGV limit, windowMs, member → 1 when the threshold is
 * reached within the window (and the count starts over), else 0.
 */
export const OFFENCE = `${NOW}
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZADD', KEYS[1], string.format('%.3f', now), ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('PEXPIRE', KEYS[1], window)
return 0
`;

/**
 * KEYS[1] TAT, KEYS[2] holders; ARGV limit, periodMs, burst, token, holdLimit, leaseMs →
 * {allowed, remaining, resetMs, retryAfterMs, held}: a request's whole admission (requests per
 * minute, then a place in flight) in one round trip. The place is taken only when the rate
 * admits the request; a refusal by the in-flight cap still counts against the rate, as when the
 * two run apart.
 */
export const GCRA_ACQUIRE = `${NOW}${TAKE_PLACE}${gcraStep(", 0")}
local ok = take(KEYS[2], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]))
return {1, remaining, resetMs, 0, ok}
`;

export const SCRIPTS = {
  bwGcra: GCRA,
  bwReserve: RESERVE,
  bwRefund: REFUND,
  bwAddWithin: ADD_WITHIN,
  bwSubtract: SUBTRACT,
  bwAcquire: ACQUIRE,
  bwOffence: OFFENCE,
  bwGcraAcquire: GCRA_ACQUIRE,
  bwReserveWithin: RESERVE_WITHIN,
  bwRefundWithin: REFUND_WITHIN,
} as const;

/** How many of a script's arguments are keys (the rest are ARGV). */
export const SCRIPT_KEYS: Record<keyof typeof SCRIPTS, number> = {
  bwGcra: 1,
  bwReserve: 1,
  bwRefund: 1,
  bwAddWithin: 1,
  bwSubtract: 1,
  bwAcquire: 1,
  bwOffence: 1,
  bwGcraAcquire: 2,
  bwReserveWithin: 2,
  bwRefundWithin: 2,
};

export type ScriptName = keyof typeof SCRIPTS;
