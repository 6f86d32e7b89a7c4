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
from cloud.store.records import AggregateRecord
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
        try:
            mechanism = msgspec.convert(agg.mechanism, Mechanism)
            level = agg.levels[field]
        except (msgspec.ValidationError, KeyError):
            skipped += 1
            continue
        if mechanism.name != K_RR:
            skipped += 1
            continue
        fm: FieldMechanism = getattr(mechanism, field)
        days.append(agg.day)
        levels.append(int(level))
        ks.append(int(fm.k))
        eps.append(float(fm.epsilon))
    if skipped:
        logger.warning("analytics skipped %d aggregates with an unknown mechanism", skipped)
    try:
        reports = Reports.of(
            np.asarray(levels, dtype=np.int64),
            np.asarray(ks, dtype=np.int64),
            np.asarray(eps, dtype=np.float64),
        )
    except AnalyticsInputError:
        # Unreachable for aggregates that passed sync validation; re-raised for visibility.
        logger.exception("stored aggregates failed analytics validation")
        raise
    return FieldReports(days=days, reports=reports, skipped=skipped)
