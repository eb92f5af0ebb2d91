"""Pacing storage in Redis, shared by every worker process on every host.

Every operation is one call of one Lua script, so checking and recording a grant is a
single atomic step however many workers race for the same slot. Without an explicit
``now`` the script reads Redis's own clock (TIME), so workers on hosts whose clocks
disagree still share one timeline.

Per key: ``{key}:log`` a list of the last grant times (oldest first), ``{key}:meta`` a
hash holding ``until`` (blocked until), and ``{key}:holds`` a sorted set of concurrency
holds scored by their expiry. Every key gets
a TTL, so nothing is left behind when a campaign ends.
"""

from __future__ import annotations

import redis

# Numbers leave the script as strings: Redis would truncate a Lua number to an integer.
_SCRIPT = """
local op = ARGV[1]
local now = tonumber(ARGV[2])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function num(x) return string.format('%.17g', x) end
local function blocked_until()
  return tonumber(redis.call('HGET', KEYS[2], 'until') or '0') or 0
end

if op == 'take' then
  local window, size, n, slack = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
  local b = blocked_until()
  if b > now then return num(b - now) end
  local len = redis.call('LLEN', KEYS[1])
  local drop = len + n - size
  local at = now
  if drop > 0 then
    local freed = tonumber(redis.call('LINDEX', KEYS[1], drop - 1)) + window
    if freed > now then return num(freed - now) end
    at = math.max(freed, now - slack)
  end
  if len > 0 then at = math.max(at, tonumber(redis.call('LINDEX', KEYS[1], -1))) end
  for i = 1, n do redis.call('RPUSH', KEYS[1], num(at)) end
  redis.call('LTRIM', KEYS[1], -size, -1)
  redis.call('PEXPIRE', KEYS[1], math.ceil((math.max(at, now) - now + window + slack) * 1000) + 1000)
  return '0'

elseif op == 'block' then
  local untilv = math.max(blocked_until(), now + tonumber(ARGV[3]))
  redis.call('HSET', KEYS[2], 'until', num(untilv))
  local ttl = math.ceil((untilv - now) * 1000) + 1000
  if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
  return num(untilv - now)

elseif op == 'blocked' then
  return num(math.max(0, blocked_until() - now))

elseif op == 'hold' then
  local token, limit, ttl = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', num(now))
  if redis.call('ZCARD', KEYS[1]) < limit then
    redis.call('ZADD', KEYS[1], num(now + ttl), token)
    redis.call('PEXPIRE', KEYS[1], math.ceil(ttl * 1000) + 1000)
    return '0'
  end
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return num(tonumber(first[2]) - now)

elseif op == 'release' then
  redis.call('ZREM', KEYS[1], ARGV[3])
  return '0'
end
return redis.error_reply('unknown pacing operation ' .. tostring(op))
"""


class RedisBackend:
    """The same operations as ``memory.MemoryBackend``, atomic across processes."""

    def __init__(self, client: redis.Redis):
        self._client = client
        self._script = client.register_script(_SCRIPT)

    @classmethod
    def from_url(cls, url: str) -> "RedisBackend":
        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5))

    def _run(self, keys: list[str], *args) -> float:
        return float(self._script(keys=keys, args=[str(a) for a in args]))

    @staticmethod
    def _now(now: float | None) -> str:
        return "" if now is None else repr(float(now))

    def take(
        self, key: str, window: float, size: int, n: int, *, slack: float = 0.0, now: float | None = None
    ) -> float:
        """See ``MemoryBackend.take``."""
        return self._run(
            [f"{{{key}}}:log", f"{{{key}}}:meta"], "take", self._now(now), repr(float(window)), size, n, repr(float(slack))
        )

    def block(self, key: str, seconds: float, *, now: float | None = None) -> float:
        """See ``MemoryBackend.block``."""
        return self._run([f"{{{key}}}:log", f"{{{key}}}:meta"], "block", self._now(now), repr(float(seconds)))

    def blocked(self, key: str, *, now: float | None = None) -> float:
        """See ``MemoryBackend.blocked``."""
        return self._run([f"{{{key}}}:log", f"{{{key}}}:meta"], "blocked", self._now(now))

    def hold(self, key: str, token: str, limit: int, ttl: float, *, now: float | None = None) -> float:
        """See ``MemoryBackend.hold``."""
        return self._run([f"{{{key}}}:holds", f"{{{key}}}:meta"], "hold", self._now(now), token, limit, repr(float(ttl)))

    def release(self, key: str, token: str) -> None:
        """See ``MemoryBackend.release``."""
        self._run([f"{{{key}}}:holds", f"{{{key}}}:meta"], "release", "", token)

    def clear(self, prefix: str) -> None:
        """Delete every key of keys starting with ``prefix`` (tests)."""
        names = list(self._client.scan_iter(match=f"{{{prefix}*"))
        if names:
            self._client.delete(*names)

    def close(self) -> None:
        self._client.close()
