"""The hub at run time: verifies intents, and sends queued deliveries and pings with retries.

Each process runs one dispatcher that claims due jobs from the Redis queue, so deliveries
spread over all workers and a restart loses none. A failed attempt is retried after
retry_delay, doubling each time up to retry_max_delay, until max_attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
from redis.exceptions import RedisError

from finews.core.clock import SYSTEM, Clock
from finews.core.metrics import REDIS_ERRORS
from finews.core.redis_client import AnyRedis
from finews.core.settings import Settings
from websub import delivery
from websub.guard import RESOLVE_TIMEOUT, GuardedResolver, Refused, check_callback
from websub.metrics import WEBSUB_DELIVERIES
from websub.queue import Job, JobQueue
from websub.store import Claim, Subscription, SubscriptionStore, subscription_id

log = logging.getLogger("finews.websub")

POLL_SECONDS = 1.0  # how soon a worker sees jobs that another worker queued
# Seconds a slot claimed for a subscription that awaits verification outlives the longest
# verification, in case its process dies before it stores or frees it.
CLAIM_MARGIN = 60.0


class Dropped(Exception):
    """Nothing left to send: the subscription ended or the content expired."""


class AddressFull(Refused):
    """The callback's address already holds websub.max_subscriptions_per_host subscriptions."""


@dataclass(frozen=True)
class Intent:
    """A subscribe or unsubscribe request that passed the checks and awaits verification."""

    mode: str
    topic: str
    callback: str
    lease_seconds: int
    secret: str
    address: str = ""  # the resolved callback address its subscription counts against
    new_claim: bool = False  # its slot was claimed for it, and is freed if it fails


def hub_url(settings: Settings) -> str:
    site: str = settings.site.url
    return site.rstrip("/") + "/websub"


def hub_urls(settings: Settings) -> list[str]:
    """The hubs a feed should advertise with rel="hub": the built-in one, then the external ones."""
    own = [hub_url(settings)] if settings.websub.enabled else []
    return own + list(settings.websub.publish_hubs)


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


class Hub:
    """One per process: the Redis-backed store and queue, HTTP clients, background tasks."""

    def __init__(
        self, settings: Settings, redis: AnyRedis, redis_bytes: AnyRedis, clock: Clock = SYSTEM
    ) -> None:
        self.config = config = settings.websub
        self.clock = clock
        self.url = hub_url(settings)
        self.store = SubscriptionStore(redis, config.max_lease_seconds, clock)
        visibility = 2 * config.delivery_timeout + 5
        waits = sum(self.backoff(n) for n in range(config.max_attempts))
        self.queue = JobQueue(
            redis,
            redis_bytes,
            visibility=visibility,
            ttl=int(1.25 * waits + config.max_attempts * visibility + 3600),
            clock=clock,
        )
        self.resolver = GuardedResolver(config.allow_private_callbacks)
        self.callbacks = delivery.session(
            self.resolver,
            config.delivery_timeout,
            config.concurrency + config.max_pending_verifications,
        )
        self.hubs = delivery.session(None, config.delivery_timeout, config.concurrency)
        self.wake = asyncio.Event()
        self.sending: set[asyncio.Task[None]] = set()
        self.verifying: set[asyncio.Task[None]] = set()
        self.closed = False
        self.dispatcher = asyncio.create_task(self._dispatch())

    async def close(self) -> None:
        """Stop; claimed jobs return to the queue when their visibility timeout ends."""
        self.closed = True  # redis-py can swallow a cancel: the dispatcher checks this too
        self.wake.set()
        tasks = [self.dispatcher, *self.sending, *self.verifying]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.callbacks.close()
        await self.hubs.close()
        await self.resolver.close()

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after `attempts` + 1 failed attempts."""
        delay: float = self.config.retry_delay * 2 ** min(attempts, 60)
        ceiling: float = self.config.retry_max_delay
        return min(delay, ceiling)

    def lease(self, requested: int | None) -> int:
        """The lease granted: the request, or the default, within the configured bounds."""
        wanted: int = self.config.lease_seconds if requested is None else requested
        shortest: int = self.config.min_lease_seconds
        longest: int = self.config.max_lease_seconds
        return min(max(wanted, shortest), longest)

    def _spawn(self, tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        task.add_done_callback(lambda _: self.wake.set())

    def redis_error(self, what: str, exc: RedisError) -> None:
        REDIS_ERRORS.labels("websub").inc()
        log.error("event=websub_redis_error during=%s reason=%s", what, describe(exc))

    # Subscribing

    async def admit(self, intent: Intent) -> bool:
        """Check the callback, claim its slot under the per-address cap, and verify in the
        background. False when too many verifications already wait; Refused (AddressFull
        included) when the callback may not subscribe. A waiting subscription holds its
        slot, so the cap counts it, and concurrent requests cannot all pass the check."""
        address = str(await check_callback(intent.callback, self.resolver))
        intent = replace(intent, address=address)
        if intent.mode == "subscribe":
            sub_id = subscription_id(intent.topic, intent.callback)
            hold = self.clock.time() + self.config.delivery_timeout + RESOLVE_TIMEOUT + CLAIM_MARGIN
            claim = await self.store.claim(sub_id, address, self.cap, hold, keep_later=True)
            if claim is Claim.FULL:
                self.address_full(intent, "subscribe")
                raise AddressFull(
                    f"hub.callback: its address {address} already holds {self.cap} "
                    "subscriptions (websub.max_subscriptions_per_host)"
                )
            intent = replace(intent, new_claim=claim is Claim.NEW)
        if len(self.verifying) >= self.config.max_pending_verifications:
            await self._release(intent)
            return False
        self._spawn(self.verifying, self._verify(intent))
        return True

    @property
    def cap(self) -> int:
        cap: int = self.config.max_subscriptions_per_host
        return cap

    def address_full(self, intent: Intent, stage: str) -> None:
        """Log and count a subscription refused by the per-address cap."""
        WEBSUB_DELIVERIES.labels("subscribe", "address_full").inc()
        log.warning(
            "event=websub_address_full stage=%s address=%s cap=%d topic=%s callback=%s",
            stage,
            intent.address,
            self.cap,
            intent.topic,
            intent.callback,
        )

    async def _release(self, intent: Intent) -> None:
        if intent.new_claim:
            await self.store.release(subscription_id(intent.topic, intent.callback), intent.address)

    async def _verify(self, intent: Intent) -> None:
        subscribing = intent.mode == "subscribe"
        try:
            problem = await delivery.verify(
                self.callbacks,
                self.resolver.allow_private,
                intent.mode,
                intent.topic,
                intent.callback,
                secrets.token_urlsafe(32),
                intent.lease_seconds if subscribing else None,
                self.config.max_response_bytes,
            )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:  # Refused included
            problem = describe(exc)
        try:
            if problem:
                log.warning(
                    "event=websub_verify_failed mode=%s topic=%s callback=%s reason=%s",
                    intent.mode,
                    intent.topic,
                    intent.callback,
                    problem,
                )
                await self._release(intent)
                return
            if not subscribing:
                await self.store.delete(intent.topic, intent.callback)
            elif not await self.store.save(
                Subscription(
                    intent.topic,
                    intent.callback,
                    intent.secret,
                    intent.lease_seconds,
                    self.clock.time() + intent.lease_seconds,
                    intent.address,
                ),
                self.cap,
            ):
                self.address_full(intent, "verified")  # its claim expired while it waited
                return
        except RedisError as exc:
            self.redis_error(intent.mode, exc)
            return
        log.info(
            "event=websub_%s topic=%s callback=%s lease=%d",
            intent.mode,
            intent.topic,
            intent.callback,
            intent.lease_seconds,
        )

    # Sending

    async def notify(self, topic: str, body: bytes, content_type: str) -> None:
        """Queue the new bytes for the topic's subscribers and a ping for each external hub."""
        try:
            callbacks = await self.store.active(topic) if self.config.enabled else []
            jobs = [Job("publish", hub, topic) for hub in self.config.publish_hubs]
            if callbacks:
                sha = await self.queue.put_content(body)
                jobs += [
                    Job("deliver", callback, topic, sha, content_type) for callback in callbacks
                ]
            await self.queue.enqueue(jobs)
        except RedisError as exc:
            self.redis_error("notify", exc)
            return
        if jobs:
            log.info(
                "event=websub_notify topic=%s subscribers=%d hubs=%d",
                topic,
                len(callbacks),
                len(self.config.publish_hubs),
            )
            self.wake.set()

    async def _dispatch(self) -> None:
        while not self.closed:
            self.wake.clear()
            delay = POLL_SECONDS
            free = self.config.concurrency - len(self.sending)
            if free > 0:
                try:
                    jobs, next_due = await self.queue.claim(free)
                except RedisError as exc:
                    self.redis_error("claim", exc)
                    jobs, next_due = [], None
                for job in jobs:
                    self._spawn(self.sending, self._run(job))
                if next_due is not None:
                    delay = min(max(next_due - self.clock.time(), 0.0), POLL_SECONDS)
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self.wake.wait()

    async def _run(self, job: Job) -> None:
        try:
            outcome, detail = await self._attempt(job)
        except RedisError as exc:  # the job stays claimed and comes back after the timeout
            self.redis_error(job.kind, exc)
            return
        WEBSUB_DELIVERIES.labels(job.kind, outcome).inc()
        level = logging.INFO if outcome in ("ok", "dropped") else logging.WARNING
        log.log(
            level,
            "event=websub_%s outcome=%s target=%s topic=%s attempt=%d detail=%s",
            job.kind,
            outcome,
            job.target,
            job.topic,
            job.attempt + 1,
            detail,
        )

    async def _attempt(self, job: Job) -> tuple[str, str]:
        """Send the job once and settle it in the queue; the outcome and a detail for the log."""
        try:
            status = await self._send(job)
        except (Dropped, Refused) as exc:
            await self.queue.done(job)
            return ("refused" if isinstance(exc, Refused) else "dropped"), str(exc)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            detail = describe(exc)
        else:
            if 200 <= status < 300:
                await self.queue.done(job)
                return "ok", f"status {status}"
            detail = f"status {status}"
        if job.attempt + 1 >= self.config.max_attempts:
            await self.queue.done(job)
            return "failed", detail
        await self.queue.retry(job, self.backoff(job.attempt) * random.uniform(1.0, 1.25))
        return "retry", detail

    async def _send(self, job: Job) -> int:
        if job.kind == "publish":
            return await delivery.ping(self.hubs, job.target, job.topic)
        sub = await self.store.get(job.topic, job.target)
        if sub is None:
            raise Dropped("subscription ended")
        body = await self.queue.content(job.content)
        if body is None:
            raise Dropped("content expired")
        status = await delivery.deliver(
            self.callbacks,
            self.resolver.allow_private,
            sub.callback,
            sub.secret,
            self.url,
            sub.topic,
            body,
            job.content_type,
        )
        if status == 410:
            await self.store.delete(sub.topic, sub.callback)
            raise Dropped("callback answered 410 Gone: subscription removed")
        return status
