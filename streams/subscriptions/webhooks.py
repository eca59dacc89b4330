"""Webhooks: each subscription with a URL gets its queue POSTed, in order, signed, retried.

- **Body**: a JSON array of notifications (at most ``batch`` per request), the exact bytes
  signed: ``Notification-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>``;
  after a rotation, the previous secret's signature too, in ``Notification-Signature-Previous``,
  until its grace period ends.
- **At least once, in order**: one request in flight per subscription; the queue position
  (``delivered_seq``) moves only after a 2xx, so a crash or a failure resends the same
  notifications with the same ids (a receiver deduplicates on ``id``), never later ones first.
- **Retries**: exponential backoff with jitter, ``base_s * 2**attempt`` capped at ``max_s``,
  each wait drawn uniformly between half of it and all of it; a subscription failing for
  ``suspend_after_s`` is suspended with the reason (``PATCH {"status": "ACTIVE"}`` resumes it
  from where it stopped).
- **Delivery log**: every attempt with its status or error and latency.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from streams.ops import metrics
from streams.subscriptions.destinations import DestinationRefused, Destinations
from streams.subscriptions.store import Queued, Row, Store, dumps

LOG = logging.getLogger("iotrack.subscriptions")


@dataclass(frozen=True)
class RetryPolicy:
    """How failed deliveries are retried, and when a subscription is suspended."""

    base_s: float = 0.5
    max_s: float = 60.0
    suspend_after_s: float = 3600.0
    timeout_s: float = 10.0
    batch: int = 100

    def wait(self, attempt: int, rng: random.Random) -> float:
        """The pause before retry number ``attempt`` (1, 2, ...), with jitter.

        >>> policy = RetryPolicy(base_s=1, max_s=8)
        >>> [round(policy.wait(n, random.Random(0)), 2) for n in (1, 2, 3, 4, 5)]
        [0.92, 1.84, 3.69, 7.38, 7.38]
        """
        ceiling = min(self.max_s, self.base_s * 2.0 ** (attempt - 1))
        return float(ceiling * (0.5 + 0.5 * rng.random()))


def signature(secret: str, body: bytes) -> str:
    """The ``Notification-Signature`` value of a body.

    >>> signature("k", b"[]")
    'sha256=963bbbf48d35eaaf037ca6cf347e6b41c1cadf366f1593ec03405725a0e5f2f4'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sender:
    """Delivers one subscription's queue to its URL until stopped or suspended."""

    def __init__(
        self, store: Store, subscription: Row, policy: RetryPolicy, destinations: Destinations
    ) -> None:
        self.store = store
        self.id = subscription.subscription_id
        self.policy = policy
        self.destinations = destinations
        # A client (and its connections) of this subscription's own: a connection made to one
        # subscriber's host is never reused for another's at the same address.
        self.client = httpx.Client(follow_redirects=False)
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"webhook-{self.id[:8]}", daemon=True)
        self._rng = random.Random()  # noqa: S311 - jitter, not a secret

    def start(self) -> None:
        self.thread.start()

    def _run(self) -> None:
        try:
            self._deliver_until_stopped()
        finally:
            self.client.close()

    def _deliver_until_stopped(self) -> None:
        attempt = 0
        while not self.stop.is_set():
            try:
                self.wake.clear()  # before reading the queue: a wake-up after it is kept
                subscription = self.store.row(self.id)
                if subscription is None or subscription.status != "ACTIVE" or not subscription.url:
                    return
                queued = self.store.queued(self.id, subscription.delivered_seq, self.policy.batch)
                metrics.SUBSCRIPTION_PENDING.labels(self.id).set(
                    self.store.last_seq(self.id) - subscription.delivered_seq
                )
                if not queued:
                    attempt = 0
                    self.wake.wait(1.0)
                    continue
                attempt += 1
                if self._deliver(subscription, queued, attempt):
                    attempt = 0
                    continue
            except Exception:  # the database away: wait and try again
                LOG.exception("webhook delivery of subscription %s", self.id)
                attempt += 1
            self.stop.wait(self.policy.wait(attempt, self._rng))

    def _deliver(self, subscription: Row, queued: list[Queued], attempt: int) -> bool:
        body = dumps([q.notification(self.id) for q in queued])
        headers = {
            "Content-Type": "application/json",
            "Notification-Signature": signature(subscription.secret, body),
            "User-Agent": "iotrack-webhooks",
        }
        until = subscription.previous_secret_until
        if subscription.previous_secret and until is not None and until > datetime.now(UTC):
            headers["Notification-Signature-Previous"] = signature(
                subscription.previous_secret, body
            )
        seqs = (queued[0].seq, queued[-1].seq, len(queued))
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            # Checked at every delivery, and sent to the address checked (DNS rebinding).
            to = self.destinations.pin(str(subscription.url))
            headers["Host"] = to.host
            answer = self.client.post(
                to.url,
                content=body,
                headers=headers,
                timeout=self.policy.timeout_s,
                extensions={"sni_hostname": to.server_name} if to.server_name else None,
            )
            status = answer.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except DestinationRefused as exc:
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        elapsed = time.perf_counter() - started
        self.store.log(
            self.id,
            attempt=attempt,
            seqs=seqs,
            status_code=status,
            error=error,
            latency_ms=1000 * elapsed,
        )
        metrics.SUBSCRIPTION_DELIVERY.observe(elapsed)
        if error is None:
            self.store.delivered(self.id, queued[-1].seq)
            metrics.SUBSCRIPTION_DELIVERIES.labels("delivered").inc()
            metrics.SUBSCRIPTION_NOTIFICATIONS.inc(len(queued))
            return True
        metrics.SUBSCRIPTION_DELIVERIES.labels("failed").inc()
        if self.store.failing(self.id, self.policy.suspend_after_s, error):
            LOG.warning("subscription %s suspended: %s", self.id, error)
            metrics.SUBSCRIPTION_DELIVERIES.labels("suspended").inc()
        return False
