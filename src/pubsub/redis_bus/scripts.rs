//! The bus's two Lua scripts, each one atomic operation on a topic's stream and meta hash (see
//! the parent module for the fields): the publish, which appends and publishes, and the read,
//! which returns a consistent view of one topic. Both start a topic's new epoch the same way.

/// Appends the event to each topic's stream and publishes it with its position.
/// KEYS: (stream, meta) per topic, then the idempotency key's result when there is one; ARGV:
/// event, entries kept, bytes kept, lifetime (ms), the epoch a topic without meta starts, how
/// long the idempotency key is kept (ms; 0: no key), the publish command (`PUBLISH`, or
/// `SPUBLISH` on a cluster, where every key and the channel share one slot), the deadline in
/// Redis's microseconds (0: none). Returns the event first published with the key (and writes
/// nothing), nil, or -1 when run after its deadline (and writes nothing).
pub(super) const PUBLISH: &str = r"
local deadline = tonumber(ARGV[8])
if deadline > 0 then
  local now = redis.call('TIME')
  if tonumber(now[1]) * 1000000 + tonumber(now[2]) > deadline then return -1 end
end
local history = string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or ''
local n = #KEYS
local remember = tonumber(ARGV[6])
if remember > 0 then
  local first = redis.call('GET', KEYS[n])
  if first then return first end
  n = n - 1
end
for i = 1, n, 2 do
  local s, m = KEYS[i], KEYS[i + 1]
  local kept = redis.call('HMGET', m, 'e', 'h')
  local epoch = kept[1]
  if not epoch then
    epoch = ARGV[5]
    redis.call('DEL', s)
    redis.call('HSET', m, 'e', epoch, 's', 0, 'b', 0, 'h', history, 'f', 0)
  else
    if kept[2] ~= history then
      redis.call('HSET', m, 'e', ARGV[5], 'p', epoch, 'h', history, 'f', redis.call('HGET', m, 's'))
      epoch = ARGV[5]
    end
    if redis.call('EXISTS', s) == 0 then
      redis.call('HSET', m, 'b', 0)
    end
  end
  local offset = redis.call('HINCRBY', m, 's', 1)
  redis.call('XADD', s, offset .. '-0', 'e', ARGV[1])
  local bytes = redis.call('HINCRBY', m, 'b', #ARGV[1])
  local len = redis.call('XLEN', s)
  while len > 1 and (len > tonumber(ARGV[2]) or bytes > tonumber(ARGV[3])) do
    local head = redis.call('XRANGE', s, '-', '+', 'COUNT', 1)[1]
    redis.call('XDEL', s, head[1])
    len = len - 1
    bytes = redis.call('HINCRBY', m, 'b', -#head[2][2])
  end
  redis.call('PEXPIRE', s, ARGV[4])
  redis.call('PEXPIRE', m, ARGV[4])
  redis.call(ARGV[7], s, offset .. ' ' .. epoch .. ' ' .. ARGV[1])
end
if remember > 0 then
  redis.call('SET', KEYS[#KEYS], ARGV[1], 'PX', remember)
end
return false
";

/// Reads one topic's stream as of one instant: `{epoch, newest offset, entries, fork, the
/// epoch forked from}`. A topic without meta gets its epoch now (the one its next publish will
/// use); one last written under another replication history a new epoch forked at its newest
/// offset, as a publish would.
/// KEYS: stream, meta; ARGV: the epoch to start, lifetime (ms), `after` / `last` / `none`, the
/// offset or the count, the most entries.
pub(super) const READ: &str = r"
local s, m = KEYS[1], KEYS[2]
local history = string.match(redis.call('INFO', 'replication'), 'master_replid:(%x+)') or ''
local kept = redis.call('HMGET', m, 'e', 'h', 'f', 'p')
local epoch, fork, previous = kept[1], kept[3], kept[4]
if not epoch then
  epoch, fork, previous = ARGV[1], 0, false
  redis.call('DEL', s)
  redis.call('HSET', m, 'e', epoch, 's', 0, 'b', 0, 'h', history, 'f', 0)
elseif kept[2] ~= history then
  epoch, fork, previous = ARGV[1], redis.call('HGET', m, 's'), epoch
  redis.call('HSET', m, 'e', epoch, 'p', previous, 'h', history, 'f', fork)
end
redis.call('PEXPIRE', m, ARGV[2])
local top = redis.call('HGET', m, 's')
local entries = {}
if ARGV[3] == 'after' then
  entries = redis.call('XRANGE', s, '(' .. ARGV[4] .. '-0', '+', 'COUNT', ARGV[5])
elseif ARGV[3] == 'last' then
  entries = redis.call('XREVRANGE', s, '+', '-', 'COUNT', ARGV[4])
end
return {epoch, top, entries, tonumber(fork) or 0, previous}
";
