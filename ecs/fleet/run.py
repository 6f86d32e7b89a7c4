"""A fleet of simulated phones living D days against a running cloud, as operators and users would.

The library API is :func:`simulate`; ``ecs simulate`` is its command. Per device the operator side
(the lender's backend, over the admin API) creates a user with a credit profile and scorecard
inputs and an enrollment code; the phone enrolls and grants its consents. Then day after day, for
the D days ending now: every phone records its user's sessions, scores them, releases the day and
syncs (unless offline that day; some app restarts happen mid-month); every ``evaluate_every`` days
the operator asks the cloud to evaluate every user, the worker makes offers, and the phones of
users who allowed pushes get a sync ping; users look at their offers and accept some, offline too.
At the end every phone syncs, the run waits for the worker to apply what was accepted, and the
summary counts it all.

Deterministic from the seed (personas, sessions, tensions, offline days, decisions, and the
randomized response): two runs with the same seed against fresh clouds make the same fleet.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import numpy as np

from ecs.fleet.errors import FleetError
from ecs.fleet.personas import draw_persona, stressed_calendar
from ecs.fleet.phone import Phone, Wire

DAY_MS: Final = 86_400_000
APPLIED_WAIT_S: Final = 30.0
"""How long the end of a run waits for the worker to apply the accepted offers."""


@dataclass(frozen=True, slots=True)
class FleetConfig:
    server_url: str
    admin_token: str
    data_dir: Path
    """Each phone's store lives in a folder of its own below it."""
    devices: int = 10
    days: int = 30
    seed: int = 7
    evaluate_every: int = 7
    """Days between the operator's evaluation rounds (one more at the end)."""
    restart_chance: float = 0.03
    """Chance that a phone's app is killed and restarted on a given day (mid-sync when online)."""


class FleetSummary(msgspec.Struct, kw_only=True):
    devices: int
    days: int
    personas: dict[str, int]
    events: int
    windows: int
    aggregates_released: int
    aggregates_synced: int
    epsilon_spent: float
    offline_days: int
    restarts: int
    evaluations: int
    offers_seen: int
    offers_accepted: int
    offers_accepted_offline: int
    offers_applied: int
    notices: int
    pushes: int
    sync_requests: int
    other_requests: int
    bytes_up: int
    bytes_down: int
    seconds: float


@dataclass(slots=True)
class _Member:
    """One phone of the fleet, its user and its drawn calendar."""

    phone: Phone
    user_id: str
    stressed: list[bool]
    offline: list[bool]
    restarts: list[bool]


Progress = Callable[[str, int, int], None]
"""``progress(what, done, total)``."""


def _no_progress(what: str, done: int, total: int) -> None:
    return None


class _Operator:
    """The lender's backend: the admin API."""

    def __init__(self, base_url: str, token: str) -> None:
        self._http = httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )

    def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            return self._http.request(method, f"/v1/admin{path}", json=body)
        except httpx.HTTPError as exc:
            raise FleetError(f"the cloud did not answer {method} {path}: {exc}") from exc

    def _call(self, method: str, path: str, expected: int, body: Any = None) -> Any:
        response = self._request(method, path, body)
        if response.status_code != expected:
            raise FleetError(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    def new_user(self, rng: np.random.Generator, ref: str) -> tuple[str, str]:
        user_id: str = self._call("POST", "/users", 201, {"external_ref": ref})["user_id"]
        limit = int(rng.choice([50_000, 100_000, 200_000, 300_000]))
        profile = {
            "currency": "EUR",
            "limit_cents": limit,
            "used_cents": int(limit * rng.beta(2.0, 4.0)),
            "rate_bps": int(rng.choice([1_490, 1_990, 2_490])),
        }
        self._call("POST", f"/users/{user_id}/profile", 200, profile)
        months = int(min(240, rng.gamma(2.0, 18.0)))
        missed = int(rng.binomial(min(12, months), rng.beta(1.0, 10.0)))
        features = {
            "months_on_book": months,
            "on_time_payments_12m": min(12, months) - missed,
            "missed_payments_12m": missed,
            "income_band": str(rng.choice(["low", "medium", "high", "very_high"], p=[0.25, 0.4, 0.25, 0.1])),
        }
        self._call("PUT", f"/users/{user_id}/credit-features", 200, features)
        code: str = self._call("POST", f"/users/{user_id}/enrollment-codes", 201, {})["code"]
        return user_id, code

    def evaluate(self, user_id: str) -> bool:
        """Ask for an evaluation; ``False`` when the user already has an offer in flight."""
        response = self._request("POST", f"/users/{user_id}/evaluate", {})
        if response.status_code == 202:
            return True
        if response.status_code == 409:
            return False
        raise FleetError(f"evaluate {user_id} -> {response.status_code}: {response.text[:300]}")

    def offers(self, user_id: str) -> list[dict[str, Any]]:
        offers: list[dict[str, Any]] = self._call("GET", f"/users/{user_id}/offers", 200)
        return offers

    def aggregates(self, user_id: str) -> int:
        return len(self._call("GET", f"/users/{user_id}/view", 200)["aggregates"])

    def close(self) -> None:
        self._http.close()


def _days(count: int, offset_min: int, now_ms: int) -> list[tuple[str, int]]:
    """The ``count`` complete local days before today at ``offset_min``: (ISO day, its end in ms)."""
    local_today = (datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(minutes=offset_min)).date()
    out = []
    for back in range(count, 0, -1):
        day = local_today - timedelta(days=back)
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(minutes=offset_min)
        out.append((day.isoformat(), int(midnight.timestamp() * 1000) + DAY_MS))
    return out


def simulate(config: FleetConfig, progress: Progress = _no_progress) -> FleetSummary:
    """Run the fleet (module docstring); raises :class:`FleetError` when it cannot go on."""
    if config.devices < 1 or config.days < 1:
        raise FleetError("a fleet needs at least one device and one day")
    started = time.monotonic()
    rng = np.random.default_rng(config.seed)
    wire = Wire()
    operator = _Operator(config.server_url, config.admin_token)
    members: list[_Member] = []
    now = int(time.time() * 1000)
    offset = int(rng.choice([-180, -60, 0, 60, 120]))  # one time zone per fleet: the days line up
    days = _days(config.days, offset, now)
    evaluations = 0
    try:
        for index in range(config.devices):
            persona = draw_persona(rng)
            user_id, code = operator.new_user(rng, f"fleet-{config.seed}-{index}")
            phone = Phone(
                f"phone-{index:04d}",
                persona,
                config.data_dir / f"phone-{index:04d}",
                config.server_url,
                wire,
                np.random.default_rng(rng.integers(0, 2**63)),
                offset,
            )
            phone.setup(code)
            stressed = stressed_calendar(rng, persona, config.days)
            offline = [bool(rng.random() < persona.offline_days) for _ in range(config.days)]
            restarts = [bool(rng.random() < config.restart_chance) for _ in range(config.days)]
            members.append(_Member(phone, user_id, stressed, offline, restarts))
            progress("enrolling", index + 1, config.devices)
        total = config.days * config.devices
        for d, (day, end_ms) in enumerate(days):
            for i, m in enumerate(members):
                if m.restarts[d]:
                    m.phone.restart(mid_sync=not m.offline[d])
                m.phone.live_day(day, m.stressed[d], end_ms, online=not m.offline[d])
                progress("living", d * config.devices + i + 1, total)
            if (d + 1) % config.evaluate_every == 0 or d == len(days) - 1:
                evaluations += _evaluation_round(operator, members, d)
        for m in members:
            m.phone.sync()
            m.phone.consider_offers(online=True)
            m.phone.sync()
        applied = _wait_applied(operator, members)
        synced = sum(operator.aggregates(m.user_id) for m in members)
    finally:
        for m in members:
            m.phone.close()
        operator.close()
    tallies = [m.phone.tally for m in members]
    return FleetSummary(
        devices=config.devices,
        days=config.days,
        personas=dict(Counter(m.phone.persona.name for m in members)),
        events=sum(t.events for t in tallies),
        windows=sum(t.windows for t in tallies),
        aggregates_released=sum(t.released for t in tallies),
        aggregates_synced=synced,
        epsilon_spent=round(sum(t.epsilon for t in tallies), 6),
        offline_days=sum(t.offline_days for t in tallies),
        restarts=sum(t.restarts for t in tallies),
        evaluations=evaluations,
        offers_seen=sum(len(t.offers_seen) for t in tallies),
        offers_accepted=sum(len(t.accepted) for t in tallies),
        offers_accepted_offline=sum(t.accepted_offline for t in tallies),
        offers_applied=applied,
        notices=sum(t.notices for t in tallies),
        pushes=sum(t.pushes for t in tallies),
        sync_requests=wire.sync_requests,
        other_requests=wire.other_requests,
        bytes_up=wire.bytes_up,
        bytes_down=wire.bytes_down,
        seconds=round(time.monotonic() - started, 1),
    )


def _evaluation_round(operator: _Operator, members: list[_Member], day: int) -> int:
    """The operator evaluates every user; the phones of users who allowed pushes and have a network
    that day get a sync ping once the worker made the offer (FCM is outside this machine: the fleet
    delivers the ping itself)."""
    requested = [m.user_id for m in members if operator.evaluate(m.user_id)]
    if requested:
        time.sleep(0.5)  # the worker's poll and the evaluation job
    for m in members:
        if m.phone.persona.grants_push and not m.offline[day]:
            m.phone.push()
            m.phone.consider_offers(online=True)
    return len(requested)


def _wait_applied(operator: _Operator, members: list[_Member]) -> int:
    """Offers the phones accepted that the worker applied, waiting a little for the last ones."""
    accepted = {offer for m in members for offer in m.phone.tally.accepted}
    deadline = time.monotonic() + APPLIED_WAIT_S
    while True:
        statuses = {
            o["offer"]["offer_id"]: o["offer"]["status"] for m in members for o in operator.offers(m.user_id)
        }
        applied = sum(1 for offer in accepted if statuses.get(offer) == "applied")
        settled = all(statuses.get(offer) not in ("offered", "accepted") for offer in accepted)
        if settled or time.monotonic() > deadline:
            return applied
        time.sleep(0.2)
