"""One simulated phone: its own store and :class:`~mobile_bridge.Bridge`, driven with JSON strings
only, as a host app would drive it. Its days are real past days (the D days ending now), so the
cloud's own clock, skew bounds and stress window hold; the phone's clock is the real one."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecs.fleet.activity import batches, simulate_day
from ecs.fleet.errors import PhoneError
from ecs.fleet.personas import Persona
from edge_sdk.capture import Event
from edge_sdk.errors import TransportError
from edge_sdk.sync_client.http import HttpTransport
from edge_sdk.sync_client.transport import TransportRequest, TransportResponse
from mobile_bridge import Bridge

SYNC_PATH = "/v1/sync"


@dataclass(slots=True)
class Wire:
    """Requests and body bytes each way, counted by the phones' transports."""

    sync_requests: int = 0
    other_requests: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class CountingTransport:
    """The real HTTP transport, counting what crosses it; ``kill_after_send`` makes the next sync
    reply never reach the app, as when the app is killed while the cloud answers."""

    def __init__(self, base_url: str, wire: Wire) -> None:
        self._inner = HttpTransport(base_url, 15.0)
        self._wire = wire
        self.kill_after_send = False

    def send(self, request: TransportRequest) -> TransportResponse:
        response = self._inner.send(request)
        with self._wire.lock:
            if request.path == SYNC_PATH:
                self._wire.sync_requests += 1
            else:
                self._wire.other_requests += 1
            self._wire.bytes_up += len(request.body)
            self._wire.bytes_down += len(response.body)
        if self.kill_after_send and request.path == SYNC_PATH:
            self.kill_after_send = False
            raise TransportError("the app was killed before the reply arrived")
        return response

    def close(self) -> None:
        self._inner.close()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


_FIELDS: dict[type, list[tuple[str, str]]] = {}


def wire_event(event: Event) -> dict[str, Any]:
    """A capture event as a host sends it to the bridge: a camelCase JSON object with its type."""
    kind = type(event)
    names = _FIELDS.get(kind)
    if names is None:
        names = _FIELDS[kind] = [(n, _camel(n)) for n in kind.__struct_fields__]
    out: dict[str, Any] = {"type": kind.__struct_config__.tag}
    for name, key in names:
        out[key] = getattr(event, name)
    return out


@dataclass(slots=True)
class PhoneTally:
    events: int = 0
    windows: int = 0
    released: int = 0
    epsilon: float = 0.0
    offers_seen: set[str] = field(default_factory=set)
    accepted: set[str] = field(default_factory=set)
    accepted_offline: int = 0
    notices: int = 0
    pushes: int = 0
    restarts: int = 0
    offline_days: int = 0


class Phone:
    """A phone of ``persona``'s user, with its store in ``folder``."""

    def __init__(
        self,
        name: str,
        persona: Persona,
        folder: Path,
        server_url: str,
        wire: Wire,
        rng: np.random.Generator,
        tz_offset_min: int,
    ) -> None:
        self.name = name
        self.persona = persona
        self.tz_offset_min = tz_offset_min
        self.tally = PhoneTally()
        self._rng = rng
        self._open_args = json.dumps({"dataDir": str(folder), "serverUrl": server_url})
        self._server_url = server_url
        self._wire = wire
        # The randomized response draws from its own seeded stream: a fleet is reproducible.
        self._rr = np.random.default_rng(rng.integers(0, 2**63))
        self._transport: CountingTransport
        self.bridge = self._new_bridge()
        self.call("open", self._open_args)

    def _new_bridge(self) -> Bridge:
        rr = self._rr
        # A bridge given a transport leaves closing it to its owner: this phone.
        self._transport = CountingTransport(self._server_url, self._wire)
        return Bridge(transport=self._transport, random=lambda n: int(rr.integers(0, n)))

    def call(self, method: str, args: dict[str, Any] | str | None = None) -> Any:
        text = args if isinstance(args, str) else json.dumps(args or {})
        reply = json.loads(self.bridge.call(method, text))
        if not reply["ok"]:
            raise PhoneError(self.name, method, reply["error"])
        return reply["result"]

    # --- a phone's life ------------------------------------------------------------------

    def setup(self, code: str) -> None:
        self.call("enroll", {"code": code})
        self.call("grantConsent", {"scope": "inference"})
        self.call("grantConsent", {"scope": "share_aggregates"})
        if self.persona.grants_push:
            self.call("grantConsent", {"scope": "push"})
            self.call("updatePushToken", {"token": f"sim-token-{self.name}"})

    def restart(self, mid_sync: bool = False) -> None:
        """The app is killed and started again (its process, its bridge): the store carries on.

        ``mid_sync``: killed while a sync was in flight, after the cloud committed the push and
        before its reply arrived; the next sync resends it and the cloud replays its results."""
        if mid_sync:
            self._transport.kill_after_send = True
            self.call("sync", {"force": True})  # the reply is lost: the sync reports a retry
        self.call("close")
        self._transport.close()
        self.bridge = self._new_bridge()
        self.call("open", self._open_args)
        self.tally.restarts += 1

    def live_day(self, day: str, stressed: bool, end_ms: int, online: bool) -> None:
        """One local day: the user's sessions are recorded and scored; at day's end the phone
        releases what is complete and, if it has a network, syncs."""
        p = self.persona
        sessions = simulate_day(
            self._rng,
            day,
            self.tz_offset_min,
            sessions=int(self._rng.integers(p.sessions[0], p.sessions[1] + 1)),
            first_hour=p.first_hour,
            last_hour=p.last_hour,
            tension=p.tense if stressed else p.calm,
        )
        for session in sessions:
            events = [wire_event(e) for e in session.events]
            for batch in batches(events):
                self.tally.events += self.call("record", {"events": list(batch)})["kept"]
        report = self.call("process", {"nowMs": end_ms, "tzOffsetMin": self.tz_offset_min})
        self.tally.windows += report["stored"]
        released = self.call("releaseDailyAggregates", {"nowMs": end_ms, "tzOffsetMin": self.tz_offset_min})
        self.tally.released += len(released["released"])
        self.tally.epsilon += sum(d["epsilon"] for d in released["released"])
        if online:
            self.sync()
        else:
            self.tally.offline_days += 1
        self.consider_offers(online)

    def sync(self) -> dict[str, Any]:
        result: dict[str, Any] = self.call("sync", {"force": True})
        self.tally.notices += len(result["newNotices"])
        return result

    def push(self) -> None:
        """A sync ping arrives (the platform woke the app for it)."""
        result = self.call("handlePush", {"data": {"type": "sync"}})
        self.tally.pushes += 1
        if result["sync"] is not None:
            self.tally.notices += len(result["sync"]["newNotices"])

    def consider_offers(self, online: bool) -> None:
        """The user opens the app: an offer not yet decided is accepted with the persona's chance
        the day it is first seen, and with a third of it on each later day (offline too: the
        acceptance waits in the outbox for the next sync)."""
        for offer in self.call("offers")["offers"]:
            offer_id = offer["offerId"]
            if offer["status"] != "offered" or offer_id in self.tally.accepted:
                continue
            first_look = offer_id not in self.tally.offers_seen
            self.tally.offers_seen.add(offer_id)
            chance = self.persona.accepts if first_look else self.persona.accepts / 3
            if self._rng.random() < chance:
                self.call("acceptOffer", {"offerId": offer_id})
                self.tally.accepted.add(offer_id)
                if not online:
                    self.tally.accepted_offline += 1

    def close(self) -> None:
        try:
            self.call("close")
        finally:
            self._transport.close()
