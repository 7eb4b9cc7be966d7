"""Deliveries and publish pings waiting to be sent, persisted in Redis.

Jobs survive a restart and are shared by all workers. Claiming a job pushes its due time
forward by a visibility timeout instead of removing it, so a job whose worker died in the
middle is claimed again once that time has passed: delivery is at least once. Keys
(websub/keys.py): the queue, a sorted set of job ids by due time; a hash per job; the
bytes to deliver, shared by the jobs of one change.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import cast

from finews.core.clock import SYSTEM, Clock
from finews.core.redis_client import AnyRedis
from websub import keys
from websub.store import digest

# Due jobs get a new due time (now + visibility) in the same step that hands them out.
CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[3], id) end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {ids, first[2] or false}
"""


@dataclass(frozen=True)
class Job:
    kind: str  # "deliver" to a subscriber, or "publish" to an external hub
    target: str  # the callback URL, or the external hub URL
    topic: str
    content: str = ""  # sha256 of the bytes to deliver
    content_type: str = ""
    attempt: int = 0  # attempts already made

    @property
    def id(self) -> str:
        return digest(self.kind, self.target, self.topic, self.content)


class JobQueue:
    def __init__(
        self,
        redis: AnyRedis,
        redis_bytes: AnyRedis,
        ttl: int,
        visibility: float,
        clock: Clock = SYSTEM,
    ) -> None:
        self.redis = redis
        self.clock = clock
        self.redis_bytes = redis_bytes
        self.ttl = ttl  # seconds a job and its content may wait: longer than all its retries
        self.visibility = visibility
        self._claim = redis.register_script(CLAIM)

    async def put_content(self, body: bytes) -> str:
        sha = hashlib.sha256(body).hexdigest()
        await self.redis_bytes.set(keys.content(sha), body, ex=self.ttl)
        return sha

    async def content(self, sha: str) -> bytes | None:
        # the bytes client: redis-py's types cannot tell it from the decoding one
        return cast(bytes | None, await self.redis_bytes.get(keys.content(sha)))

    async def enqueue(self, jobs: list[Job]) -> None:
        """Make the jobs due now; the same change for the same target is one job."""
        if not jobs:
            return
        now = self.clock.time()
        async with self.redis.pipeline(transaction=False) as pipe:
            for job in jobs:
                pipe.hset(keys.job(job.id), mapping={k: str(v) for k, v in asdict(job).items()})
                pipe.expire(keys.job(job.id), self.ttl)
            pipe.zadd(keys.QUEUE, {job.id: now for job in jobs})
            await pipe.execute()

    async def claim(self, limit: int) -> tuple[list[Job], float | None]:
        """Up to `limit` due jobs, and when the next one falls due (None: queue empty)."""
        now = self.clock.time()
        ids, first = await self._claim(keys=[keys.QUEUE], args=[now, limit, now + self.visibility])
        jobs = []
        if ids:
            async with self.redis.pipeline(transaction=False) as pipe:
                for job_id in ids:
                    pipe.hgetall(keys.job(job_id))
                found = await pipe.execute()
            for job_id, fields in zip(ids, found, strict=True):
                if fields:
                    jobs.append(Job(**{**fields, "attempt": int(fields["attempt"])}))
                else:  # its hash expired: nothing left to send
                    await self.redis.zrem(keys.QUEUE, job_id)
        return jobs, None if first is None else float(first)

    async def done(self, job: Job) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrem(keys.QUEUE, job.id)
            pipe.delete(keys.job(job.id))
            await pipe.execute()

    async def retry(self, job: Job, delay: float) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hset(keys.job(job.id), "attempt", str(job.attempt + 1))
            pipe.zadd(keys.QUEUE, {job.id: self.clock.time() + delay})
            await pipe.execute()

    async def pending(self) -> int:
        return await self.redis.zcard(keys.QUEUE)
