"""Stored aggregates → validated per-field report arrays for the estimators."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec
import numpy as np

from cloud.domain.analytics.errors import AnalyticsInputError
from cloud.domain.analytics.estimators import Reports
from cloud.store.records import AggregateGroupRecord, AggregateRecord
from sync.messages import FieldMechanism, Mechanism
from sync.rr import K_RR

logger = logging.getLogger(__name__)

Field = Literal["stress", "valence", "arousal"]


@dataclass(frozen=True, slots=True)
class FieldReports:
    """One field's reports with their days (``days[i]`` belongs to report ``i``)."""

    days: list[str]
    reports: Reports
    skipped: int
    """Aggregates left out because their mechanism is not k-RR or does not parse."""


def _report(levels: dict[str, int], mechanism: object, field: Field) -> tuple[int, int, float] | None:
    """``(level, k, epsilon)`` of ``field`` in one stored aggregate; ``None`` when its mechanism
    is not k-RR or does not parse."""
    try:
        parsed = msgspec.convert(mechanism, Mechanism)
        level = levels[field]
    except (msgspec.ValidationError, KeyError):
        return None
    if parsed.name != K_RR:
        return None
    fm: FieldMechanism = getattr(parsed, field)
    return int(level), int(fm.k), float(fm.epsilon)


def _reports(levels: list[int], ks: list[int], eps: list[float], counts: list[int] | None = None) -> Reports:
    columns = [
        np.asarray(levels, dtype=np.int64),
        np.asarray(ks, dtype=np.int64),
        np.asarray(eps, dtype=np.float64),
    ]
    if counts is not None:
        repeats = np.asarray(counts, dtype=np.int64)
        columns = [np.repeat(column, repeats) for column in columns]
    try:
        return Reports.of(*columns)
    except AnalyticsInputError:
        # Unreachable for aggregates that passed sync validation; re-raised for visibility.
        logger.exception("stored aggregates failed analytics validation")
        raise


def _log_skipped(skipped: int) -> None:
    if skipped:
        logger.warning("analytics skipped %d aggregates with an unknown mechanism", skipped)


def one_model(aggregates: Sequence[AggregateRecord]) -> tuple[str | None, list[AggregateRecord]]:
    """The aggregates of one model version, and that version: two models' scores are not one scale,
    so a user's estimate never pools them. The version with the most days reported wins (the most
    evidence); a tie goes to the one reported last. ``(None, [])`` for no aggregates."""
    days: dict[str, set[str]] = {}
    last: dict[str, int] = {}
    for agg in aggregates:
        days.setdefault(agg.model_version, set()).add(agg.day)
        last[agg.model_version] = max(last.get(agg.model_version, agg.received_at), agg.received_at)
    if not days:
        return None, []
    chosen = max(days, key=lambda version: (len(days[version]), last[version], version))
    return chosen, [agg for agg in aggregates if agg.model_version == chosen]


def by_model(groups: Sequence[AggregateGroupRecord]) -> dict[str, list[AggregateGroupRecord]]:
    """The counted groups of each model version, by version."""
    out: dict[str, list[AggregateGroupRecord]] = {}
    for group in groups:
        out.setdefault(group.model_version, []).append(group)
    return dict(sorted(out.items()))


def field_reports(aggregates: Sequence[AggregateRecord], field: Field) -> FieldReports:
    """Extract ``field`` from every aggregate, reading k and epsilon from each one's mechanism.

    Aggregates were validated when they were synced, so a skip means a mechanism this version does
    not know (a newer edge release); it is logged and counted rather than failing the estimate.
    """
    days: list[str] = []
    levels: list[int] = []
    ks: list[int] = []
    eps: list[float] = []
    skipped = 0
    for agg in aggregates:
        report = _report(agg.levels, agg.mechanism, field)
        if report is None:
            skipped += 1
            continue
        days.append(agg.day)
        levels.append(report[0])
        ks.append(report[1])
        eps.append(report[2])
    _log_skipped(skipped)
    return FieldReports(days=days, reports=_reports(levels, ks, eps), skipped=skipped)


def grouped_reports(groups: Sequence[AggregateGroupRecord], field: Field) -> tuple[Reports, int]:
    """``field``'s reports from counted groups of aggregates (each group's report ``count``
    times), and how many aggregates were skipped, under the rules of :func:`field_reports`."""
    levels: list[int] = []
    ks: list[int] = []
    eps: list[float] = []
    counts: list[int] = []
    skipped = 0
    for group in groups:
        report = _report(group.levels, group.mechanism, field)
        if report is None:
            skipped += group.count
            continue
        levels.append(report[0])
        ks.append(report[1])
        eps.append(report[2])
        counts.append(group.count)
    _log_skipped(skipped)
    return _reports(levels, ks, eps, counts), skipped
