"""``/subscriptions``: a party's subscriptions, their delivery log and their streams.

- ``POST /subscriptions`` ``{"topic", "filters", "url"}``: 201 with the subscription and its
  secret (shown this once); 403 for a topic the role may not read, 400 naming a bad filter;
- ``GET /subscriptions``, ``GET|PATCH|DELETE /subscriptions/{id}``: the party's own only (another
  party's answers 404, like one that does not exist); PATCH changes filters, the URL or the
  status (``ACTIVE`` resumes a suspended subscription from where it stopped);
- ``POST /subscriptions/{id}/secret``: a new secret; the previous one signs too for a day;
- ``GET /subscriptions/{id}/deliveries``: the webhook attempts, newest first;
- ``GET /subscriptions/{id}/events``: ``text/event-stream`` of the subscription's notifications
  (``id:`` is its ``seq``), from after ``Last-Event-ID`` (or ``?after=``; default: only new
  ones), a ``: heartbeat`` comment when nothing came for a while.

Routes are thin: rules in :mod:`streams.http.access` and :mod:`streams.subscriptions.model`,
SQL in :mod:`streams.subscriptions.store`.
"""

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Response
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from streams.http.access import BadParameter, Principal, authorize_subscription
from streams.http.api import Api, roles
from streams.http.app import error_responses
from streams.subscriptions.destinations import DestinationRefused, Destinations
from streams.subscriptions.model import (
    Deliveries,
    NewSubscription,
    Owner,
    Subscription,
    SubscriptionUpdate,
    checked_filters,
)
from streams.subscriptions.notify import Notifier
from streams.subscriptions.store import Store

ERRORS = error_responses(400, 401, 403, 404, 405, 501, 503)
ROLES = roles("subscriptions")
GRACE_S = 24 * 3600.0
"""How long a rotated secret's predecessor still signs deliveries."""


class SubscriptionList(BaseModel):
    items: list[Subscription]


SubscriptionId = Annotated[str, PathParam(description="The subscription's id (UUID).")]


def _owner(who: Principal) -> Owner:
    return Owner(who.role, who.operator)


def _uuid(text: str) -> str:
    import uuid

    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise BadParameter("subscription_id", f"{text!r} is not a UUID") from None


def subscription_routes(
    api: Api,
    store: Store,
    notifier: Notifier | None = None,
    *,
    heartbeat_s: float = 15.0,
    stopping: threading.Event | None = None,
    destinations: Destinations | None = None,
) -> APIRouter:
    """The subscription routes of ``iotrack api``; streams end when ``stopping`` is set (the
    server's, so that a stop does not wait for them). A webhook URL must be one of
    ``destinations`` (global addresses by default)."""
    stop = stopping or threading.Event()
    allowed = destinations or Destinations()

    def checked_url(url: object | None) -> str | None:
        if url is None:
            return None
        try:
            allowed.pin(str(url))
        except DestinationRefused as exc:
            raise BadParameter("url", str(exc).removeprefix("url: ")) from None
        return str(url)

    router = APIRouter(tags=["subscriptions"])
    caller = Depends(api.caller("subscriptions"))

    @router.post(
        "/subscriptions",
        operation_id="createSubscription",
        summary="Subscribe to deviations, verdicts or trains (webhook or stream)",
        status_code=201,
        response_model=Subscription,
        response_model_exclude_unset=True,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def create(
        who: Annotated[Principal, caller],
        new: Annotated[NewSubscription, Body()],
    ) -> Any:
        authorize_subscription(who, new.topic)
        filters = checked_filters(who.role, new.topic, new.filters.model_dump())
        url = checked_url(new.url)
        return store.create(_owner(who), new.topic, filters, url).view(with_secret=True)

    @router.get(
        "/subscriptions",
        operation_id="listSubscriptions",
        summary="The party's subscriptions",
        response_model=SubscriptionList,
        response_model_exclude_unset=True,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def listing(who: Annotated[Principal, caller]) -> Any:
        return {"items": [row.view() for row in store.of(_owner(who))]}

    @router.get(
        "/subscriptions/{subscription_id}",
        operation_id="getSubscription",
        summary="One of the party's subscriptions",
        response_model=Subscription,
        response_model_exclude_unset=True,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def one(subscription_id: SubscriptionId, who: Annotated[Principal, caller]) -> Any:
        return store.get(_owner(who), _uuid(subscription_id)).view()

    @router.patch(
        "/subscriptions/{subscription_id}",
        operation_id="updateSubscription",
        summary="Change filters, URL or status (ACTIVE resumes from where it stopped)",
        response_model=Subscription,
        response_model_exclude_unset=True,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def update(
        subscription_id: SubscriptionId,
        who: Annotated[Principal, caller],
        changes: Annotated[SubscriptionUpdate, Body()],
    ) -> Any:
        sid = _uuid(subscription_id)
        found = store.get(_owner(who), sid)
        wanted: dict[str, Any] = {}
        if "filters" in changes.model_fields_set:
            wanted["filters"] = checked_filters(who.role, found.topic, changes.filters or {})
        if "url" in changes.model_fields_set:
            wanted["url"] = checked_url(changes.url)
        if "status" in changes.model_fields_set:
            if changes.status is None:
                raise BadParameter("status", "ACTIVE or SUSPENDED")
            wanted["status"] = changes.status
        return store.update(_owner(who), sid, wanted).view()

    @router.delete(
        "/subscriptions/{subscription_id}",
        operation_id="deleteSubscription",
        summary="End a subscription (its queue and log go with it)",
        status_code=204,
        response_class=Response,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def delete(subscription_id: SubscriptionId, who: Annotated[Principal, caller]) -> Response:
        store.delete(_owner(who), _uuid(subscription_id))
        return Response(status_code=204)

    @router.post(
        "/subscriptions/{subscription_id}/secret",
        operation_id="rotateSecret",
        summary="A new signing secret; the previous one goes on signing for a day",
        response_model=Subscription,
        response_model_exclude_unset=True,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def rotate(subscription_id: SubscriptionId, who: Annotated[Principal, caller]) -> Any:
        row = store.rotate(_owner(who), _uuid(subscription_id), GRACE_S)
        return row.view(with_secret=True)

    @router.get(
        "/subscriptions/{subscription_id}/deliveries",
        operation_id="subscriptionDeliveries",
        summary="The webhook attempts of a subscription, newest first",
        response_model=Deliveries,
        responses=ERRORS,
        openapi_extra=ROLES,
    )
    def deliveries(
        subscription_id: SubscriptionId,
        who: Annotated[Principal, caller],
        limit: Annotated[int, Query(ge=1, le=500, description="How many (default 50).")] = 50,
    ) -> Any:
        return {"items": store.deliveries(_owner(who), _uuid(subscription_id), limit)}

    @router.get(
        "/subscriptions/{subscription_id}/events",
        operation_id="subscriptionEvents",
        summary="The subscription's notifications as server-sent events, resumable",
        description="Each event: `id:` the notification's seq, `event:` its type, `data:` the "
        "notification (JSON, as in a webhook's array). Reconnect with `Last-Event-ID` (or "
        "`after`) to go on after the last one received; without either, only new ones come. "
        "A `: heartbeat` comment comes when nothing did for a while. Resumed from before "
        "what the retention deleted, a `gap` event (`id:` the last seq deleted, `data:` "
        "`after`, `pruned_through`) says so first, then the stream goes on after it.",
        response_class=StreamingResponse,
        responses={
            200: {
                "description": "The stream.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}},
            },
            **ERRORS,
        },
        openapi_extra=ROLES,
    )
    async def events(
        subscription_id: SubscriptionId,
        who: Annotated[Principal, caller],
        last_event_id: Annotated[
            int | None, Header(ge=0, description="The last seq received.")
        ] = None,
        after: Annotated[
            int | None, Query(ge=0, description="As Last-Event-ID, for clients without it.")
        ] = None,
        close_after_s: Annotated[
            float | None,
            Query(ge=0, le=86400, description="End the stream after this long (default never)."),
        ] = None,
    ) -> StreamingResponse:
        sid = _uuid(subscription_id)
        found = await run_in_threadpool(store.get, _owner(who), sid)
        start = last_event_id if last_event_id is not None else after
        if start is None:
            start = await run_in_threadpool(store.last_seq, sid)
        body = _stream(
            store=store,
            notifier=notifier,
            subscription_id=found.subscription_id,
            after=start,
            pruned_through=found.pruned_through,
            heartbeat_s=heartbeat_s,
            close_after_s=close_after_s,
            stopping=stop,
        )
        return StreamingResponse(
            api.streams.hold(who, body),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return router


async def _stream(
    *,
    store: Store,
    notifier: Notifier | None,
    subscription_id: str,
    after: int,
    pruned_through: int,
    heartbeat_s: float,
    close_after_s: float | None,
    stopping: threading.Event,
) -> AsyncIterator[bytes]:
    ends = None if close_after_s is None else time.monotonic() + close_after_s
    yield b": connected\n\n"
    if after < pruned_through:
        # Told, not skipped in silence: what came after ``after`` up to here is gone.
        gap = {
            "after": after,
            "pruned_through": pruned_through,
            "message": f"notifications after {after} up to {pruned_through} were deleted past "
            "the retention",
        }
        yield f"id: {pruned_through}\nevent: gap\ndata: {json.dumps(gap)}\n\n".encode()
        after = pruned_through
    if notifier is None:
        async for chunk in _poll(
            store=store,
            subscription_id=subscription_id,
            after=after,
            heartbeat_s=heartbeat_s,
            ends=ends,
            woken=None,
            stopping=stopping,
        ):
            yield chunk
        return
    with notifier.listening(subscription_id) as woken:
        async for chunk in _poll(
            store=store,
            subscription_id=subscription_id,
            after=after,
            heartbeat_s=heartbeat_s,
            ends=ends,
            woken=woken,
            stopping=stopping,
        ):
            yield chunk


async def _poll(
    *,
    store: Store,
    subscription_id: str,
    after: int,
    heartbeat_s: float,
    ends: float | None,
    woken: asyncio.Event | None,
    stopping: threading.Event,
) -> AsyncIterator[bytes]:
    """The queue after ``after``, then what comes (woken by the notifier, or every 0.5 s
    without one), with a heartbeat when nothing was sent for ``heartbeat_s``."""
    sent = time.monotonic()
    while (ends is None or time.monotonic() < ends) and not stopping.is_set():
        if woken is not None:
            woken.clear()
        queued = await run_in_threadpool(store.queued, subscription_id, after, 100)
        for item in queued:
            data = json.dumps(item.notification(subscription_id), separators=(",", ":"))
            yield f"id: {item.seq}\nevent: {item.event_type}\ndata: {data}\n\n".encode()
            after = item.seq
        now = time.monotonic()
        if queued:
            sent = now
            continue
        if now - sent >= heartbeat_s:
            yield b": heartbeat\n\n"
            sent = now
        wait = min(1.0, heartbeat_s - (now - sent))  # and look at `stopping` every second
        if ends is not None:
            wait = min(wait, ends - now)
        if woken is None:
            await asyncio.sleep(max(0.0, min(wait, 0.5)))
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(woken.wait(), max(0.0, wait))
