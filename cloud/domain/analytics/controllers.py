"""Analytics admin endpoints under ``/v1/admin`` (same admin bearer token as the admin API).

- ``GET /v1/admin/analytics/stress?day=YYYY-MM-DD[&window_days=N]``: the debiased population
  distribution of stress levels over the N days (default 1, at most 90) ending on ``day``.
- ``GET /v1/admin/users/{user_id}/stress[?as_of=YYYY-MM-DD]``: the user's stress posterior over
  the recent window (default 7 days) ending on ``as_of`` (default: today, UTC).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any, Final

from litestar import Controller, Request, get

from cloud.constants import ADMIN_PREFIX
from cloud.domain.admin.controllers import admin_guard
from cloud.domain.analytics.schemas import PopulationStressOut, UserStressOut
from cloud.domain.analytics.services import AnalyticsService
from cloud.errors import ValidationFailed
from cloud.services import services_of

MAX_WINDOW_DAYS: Final = 90
FIRST_DAY: Final = date(1970, 1, 1)
"""Earliest ``day``/``as_of`` accepted: a window ending earlier could start before year 1, which
``date`` cannot hold (and no aggregate can be that old)."""
_DAY: Final = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT: Final = re.compile(r"^\d{1,4}$")


def _day(value: str | None, name: str) -> date | None:
    if value is None:
        return None
    # fromisoformat alone also accepts forms such as 20240101; the API takes YYYY-MM-DD only.
    if not _DAY.match(value):
        raise ValidationFailed(f"`{name}` must be a date YYYY-MM-DD, got {value!r}")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(f"`{name}` is not a calendar date: {value!r}") from None
    if day < FIRST_DAY:
        raise ValidationFailed(f"`{name}` must be {FIRST_DAY.isoformat()} or later, got {value!r}")
    return day


def _window_days(value: str | None) -> int:
    if value is None:
        return 1
    if not _INT.match(value) or not 1 <= int(value) <= MAX_WINDOW_DAYS:
        raise ValidationFailed(f"`window_days` must be an integer 1..{MAX_WINDOW_DAYS}, got {value!r}")
    return int(value)


def _analytics(request: Request[Any, Any, Any]) -> AnalyticsService:
    return services_of(request).analytics


class AnalyticsController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    tags = ["admin", "analytics"]

    @get("/analytics/stress")
    async def population_stress(self, request: Request[Any, Any, Any]) -> PopulationStressOut:
        """Debiased share of each stress level with 95% intervals, per number of levels k."""
        day = _day(request.query_params.get("day"), "day")
        if day is None:
            raise ValidationFailed("`day` is required (YYYY-MM-DD)")
        window_days = _window_days(request.query_params.get("window_days"))
        return await _analytics(request).population_stress(day, window_days)

    @get("/users/{user_id:str}/stress")
    async def user_stress(self, request: Request[Any, Any, Any]) -> UserStressOut:
        """Posterior P(high-stress day) with a 90% credible interval; ``estimate`` null = no signal."""
        as_of = _day(request.query_params.get("as_of"), "as_of")
        return await _analytics(request).user_stress(str(request.path_params["user_id"]), as_of)
