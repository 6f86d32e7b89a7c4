"""A demo population in the configured database, evaluated once: ``python -m cloud.seed``.

Each user gets a credit profile (varied limits, balances and rates) and credit features drawn from
plausible distributions, one enrolled device, and ``--days`` days of daily aggregates released on
that device's behalf through the release contract the SDK uses (:mod:`sync.rr`: k-ary randomized
response, with the SDK's default levels and ε split) from a persona's true share of high-stress
days. The aggregates enter through the store's sync transaction, as a phone's would. Every user is
then evaluated in-process by :class:`cloud.domain.credit.services.EvaluationService` (the job's
code, without a queue), and a table reports the offers made and how often the empathic guardrail
fired, overall and per persona.

The seed refuses to run on a database it has already seeded (users ``seed_0000`` ...): a second run
would add a second population and evaluate the first one again. Use a fresh ``DATA_DIR``.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np

from cloud.clock import now_ms
from cloud.domain.credit.evaluation import EvaluationResult
from cloud.domain.credit.guardrail import (
    GUARDRAIL_BELOW_THRESHOLD,
    GUARDRAIL_INCREASE_LOWERED,
    GUARDRAIL_INTERVAL_TOO_WIDE,
    GUARDRAIL_NO_SIGNAL,
    GUARDRAIL_OFFER_WITHHELD,
    GUARDRAIL_PROMO_DEFERRED,
    GUARDRAIL_TOO_FEW_DAYS,
)
from cloud.domain.credit.services import EvaluationService, utc_day
from cloud.domain.sync.digest import mutation_digest
from cloud.settings import Settings, load_settings
from cloud.store import Store, open_store
from cloud.store.records import CreditFeaturesRecord, ProfileRecord, PushItem, RefreshGrant
from sync.messages import (
    ConsentScope,
    FieldMechanism,
    Levels,
    Mechanism,
    Mutation,
    Platform,
    RegisterPushToken,
    SetConsent,
    SubmitAggregate,
)
from sync.rr import K_RR, release_levels

SEED_ACTOR: Final = "seed"
DAY_MS: Final = 86_400_000

SEED_MECHANISM: Final = Mechanism(
    name=K_RR,
    stress=FieldMechanism(k=2, epsilon=0.6),
    valence=FieldMechanism(k=3, epsilon=0.2),
    arousal=FieldMechanism(k=3, epsilon=0.2),
)
"""The SDK's default release (``PrivacySettings()``: ε 1.0 a day split 0.6 / 0.2 / 0.2, stress over
2 levels, valence and arousal over 3). The cloud does not import the SDK, so it is written out
here; a test checks that it is still what the SDK releases with."""


class AlreadySeeded(RuntimeError):
    """The database already holds a seeded population."""


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    high_stress_rate: float
    """True share of this persona's days that are high-stress."""
    weight: float


PERSONAS: Final = (
    Persona("calm", 0.05, 0.40),
    Persona("typical", 0.20, 0.35),
    Persona("strained", 0.50, 0.15),
    Persona("crisis", 0.85, 0.10),
)
LIMITS: Final = (50_000, 100_000, 200_000, 300_000, 500_000, 1_000_000, 2_000_000, 4_800_000)
RATES: Final = (990, 1_290, 1_590, 1_990, 2_490)
INCOME_BANDS: Final = (("low", 0.25), ("medium", 0.40), ("high", 0.25), ("very_high", 0.10))
PUSH_CONSENT_SHARE: Final = 0.7

OUTCOMES: Final = (
    ("no signal", GUARDRAIL_NO_SIGNAL),
    ("too few days", GUARDRAIL_TOO_FEW_DAYS),
    ("interval too wide", GUARDRAIL_INTERVAL_TOO_WIDE),
    ("below threshold", GUARDRAIL_BELOW_THRESHOLD),
    ("increase lowered", GUARDRAIL_INCREASE_LOWERED),
    ("withheld", GUARDRAIL_OFFER_WITHHELD),
    ("promo deferred", GUARDRAIL_PROMO_DEFERRED),
)
"""Report rows: a label and the guardrail reason code it counts."""


@dataclass(slots=True)
class PersonaTally:
    users: int = 0
    fired: int = 0
    """Evaluations where the guardrail acted (posterior above the threshold: promotions deferred)."""
    offers: int = 0
    posterior_sum: float = 0.0
    with_estimate: int = 0


@dataclass(slots=True)
class SeedReport:
    users: int = 0
    offers: int = 0
    failed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """Guardrail reason code → evaluations carrying it."""
    personas: dict[str, PersonaTally] = field(default_factory=dict)

    @property
    def fired(self) -> int:
        return self.outcomes[GUARDRAIL_PROMO_DEFERRED]


def user_id_of(index: int) -> str:
    return f"seed_{index:04d}"


def _persona(rng: np.random.Generator) -> Persona:
    weights = np.array([p.weight for p in PERSONAS])
    return PERSONAS[int(rng.choice(len(PERSONAS), p=weights / weights.sum()))]


def _profile(rng: np.random.Generator, user_id: str, now: int) -> ProfileRecord:
    limit = int(rng.choice(LIMITS))
    used = int(limit * rng.beta(2.0, 4.0))
    if rng.random() < 0.05:
        used = limit + int(rng.integers(0, limit // 10 + 1))  # a few over the limit
    return ProfileRecord(
        user_id=user_id,
        currency="EUR",
        limit_cents=limit,
        used_cents=used,
        rate_bps=int(rng.choice(RATES)),
        updated_at=now,
    )


def _features(rng: np.random.Generator, user_id: str, now: int) -> CreditFeaturesRecord:
    months = int(min(240, rng.gamma(2.0, 18.0)))
    payments = min(12, months)
    missed = int(rng.binomial(payments, rng.beta(1.0, 10.0)))
    bands = [b for b, _ in INCOME_BANDS]
    weights = [w for _, w in INCOME_BANDS]
    return CreditFeaturesRecord(
        user_id=user_id,
        months_on_book=months,
        on_time_payments_12m=payments - missed,
        missed_payments_12m=missed,
        income_band=str(rng.choice(bands, p=weights)),
        updated_at=now,
    )


def _aggregates(
    rng: np.random.Generator, source: random.Random, persona: Persona, days: int, now: int, first_seq: int
) -> list[Mutation]:
    """``days`` released days up to yesterday (UTC), through the SDK's default mechanism."""
    mechanism = SEED_MECHANISM
    randbelow = source.randrange
    ks, kv, ka = mechanism.stress.k, mechanism.valence.k, mechanism.arousal.k
    today = datetime.fromtimestamp(now / 1000, tz=UTC).date()
    out: list[Mutation] = []
    for i in range(days):
        high = rng.random() < persona.high_stress_rate
        true = Levels(
            stress=ks - 1 if high else int(rng.integers(0, ks - 1)),
            valence=int(rng.integers(0, kv)),
            arousal=int(rng.integers(0, ka)),
        )
        day = today - timedelta(days=days - i)
        out.append(
            SubmitAggregate(
                seq=first_seq + i,
                created_at=now,
                day=day.isoformat(),
                tz_offset_min=0,
                window_bucket=int(rng.integers(1, 5)),
                levels=release_levels(true, mechanism, randbelow),
                mechanism=mechanism,
                model_version="seed",
            )
        )
    return out


async def _enroll(store: Store, user_id: str, now: int) -> str:
    device_id = f"dev_{user_id}"
    code = f"seed-code-{user_id}"
    await store.create_enrollment_code(user_id, code, now + DAY_MS, now)
    await store.enroll_device(
        code_hash=code,
        device_id=device_id,
        platform=Platform.ANDROID.value,
        app_version="seed",
        # A refresh token nobody holds: the demo device never syncs by itself.
        refresh=RefreshGrant(token_hash=f"seed-refresh-{user_id}", expires_at=now + DAY_MS),
        now=now,
    )
    return device_id


async def seed(store: Store, settings: Settings, *, users: int, days: int, seed_value: int) -> SeedReport:
    """Create and evaluate the population; raises :class:`AlreadySeeded` on a seeded database."""
    if await store.get_user(user_id_of(0)) is not None:
        raise AlreadySeeded(f"this database already holds the demo population ({user_id_of(0)} exists)")
    rng = np.random.default_rng(seed_value)
    source = random.Random(seed_value)
    now = now_ms()
    service = EvaluationService(store, settings.credit, clock=lambda: now)
    report = SeedReport(personas={p.name: PersonaTally() for p in PERSONAS})
    for index in range(users):
        user_id = user_id_of(index)
        persona = _persona(rng)
        await store.create_user(user_id, f"seed:{persona.name}", now)
        await store.set_profile(_profile(rng, user_id, now), actor=SEED_ACTOR, reason_code="profile_set")
        await store.set_credit_features(_features(rng, user_id, now))
        device_id = await _enroll(store, user_id, now)
        mutations: list[Mutation] = [
            SetConsent(seq=1, created_at=now, scope=ConsentScope.SHARE_AGGREGATES, granted=True)
        ]
        if rng.random() < PUSH_CONSENT_SHARE:
            mutations.append(SetConsent(seq=2, created_at=now, scope=ConsentScope.PUSH, granted=True))
            mutations.append(
                RegisterPushToken(
                    seq=3, created_at=now, token=f"seed-token-{user_id}", platform=Platform.ANDROID
                )
            )
        mutations.extend(_aggregates(rng, source, persona, days, now, len(mutations) + 1))
        items = [PushItem(seq=m.seq, mutation=m, digest=mutation_digest(m)) for m in mutations]
        synced = await store.sync(
            device_id=device_id, items=items, skew_ms=0, after_version=0, pull_limit=1, now=now
        )
        refused = [r for r in synced.results if r.status != "applied" or r.detail is not None]
        if refused or len(synced.results) != len(items):
            # A population whose data the cloud did not take would report guardrails on nothing.
            raise RuntimeError(f"the seed's sync for {user_id} was not applied as a whole: {synced.results}")

        requested = await store.request_evaluation(
            user_id, f"eval_{user_id}", trigger=SEED_ACTOR, day=utc_day(now), now=now
        )
        outcome = await service.run(requested.outbox.outbox_id, ref=f"seed:{requested.outbox.outbox_id}")
        evaluation = await service.get(requested.evaluation.evaluation_id)
        _tally(report, persona, outcome.offer_id is not None, evaluation.status, evaluation.result)
    return report


def _tally(
    report: SeedReport, persona: Persona, offered: bool, status: str, result: EvaluationResult | None
) -> None:
    tally = report.personas[persona.name]
    report.users += 1
    tally.users += 1
    if status != "done" or result is None or result.guardrail is None:
        report.failed += 1
        return
    report.offers += int(offered)
    tally.offers += int(offered)
    report.outcomes.update(result.guardrail.reason_codes)
    tally.fired += int(GUARDRAIL_PROMO_DEFERRED in result.guardrail.reason_codes)
    if result.guardrail.estimate is not None:
        tally.with_estimate += 1
        tally.posterior_sum += result.guardrail.estimate.posterior_mean


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "-"


def print_report(report: SeedReport, settings: Settings, days: int) -> None:
    from rich.console import Console  # only the command prints
    from rich.table import Table

    console = Console()
    summary = Table(title=f"Demo population: {report.users} users, {days} days of aggregates")
    summary.add_column("")
    summary.add_column("evaluations", justify="right")
    summary.add_column("share", justify="right")
    summary.add_row("offers made", str(report.offers), _pct(report.offers, report.users))
    summary.add_row("failed", str(report.failed), _pct(report.failed, report.users))
    for label, code in OUTCOMES:
        summary.add_row(
            f"guardrail: {label}", str(report.outcomes[code]), _pct(report.outcomes[code], report.users)
        )
    summary.add_row("guardrail fired", str(report.fired), _pct(report.fired, report.users), style="bold")
    console.print(summary)

    personas = Table(
        title=f"Guardrail by persona (acts above a posterior mean of {settings.credit.act_threshold},"
        f" window {settings.credit.stress_window_days} days)"
    )
    for column in (
        "persona",
        "true high-stress share",
        "users",
        "mean posterior",
        "fired",
        "firing rate",
        "offers",
    ):
        personas.add_column(column, justify="left" if column == "persona" else "right")
    for persona in PERSONAS:
        tally = report.personas[persona.name]
        mean = f"{tally.posterior_sum / tally.with_estimate:.2f}" if tally.with_estimate else "-"
        personas.add_row(
            persona.name,
            f"{persona.high_stress_rate:.2f}",
            str(tally.users),
            mean,
            str(tally.fired),
            _pct(tally.fired, tally.users),
            str(tally.offers),
        )
    console.print(personas)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cloud.seed", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200, help="users to create (default 200)")
    parser.add_argument("--days", type=int, default=30, help="days of aggregates per user (default 30)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= 10_000 or not 1 <= args.days <= 365:
        parser.error("--users must be in 1..10000 and --days in 1..365")
    settings = load_settings()

    async def run() -> SeedReport:
        store = await open_store(settings.database)
        try:
            await store.migrate()
            return await seed(store, settings, users=args.users, days=args.days, seed_value=args.seed)
        finally:
            await store.close()

    try:
        report = asyncio.run(run())
    except AlreadySeeded as exc:
        print(f"error: {exc}; nothing was changed. Seed a fresh DATA_DIR instead.", file=sys.stderr)
        return 1
    print_report(report, settings, args.days)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
