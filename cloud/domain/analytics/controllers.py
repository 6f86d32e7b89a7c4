"""Analytics admin endpoints under ``/v1/admin`` (same admin bearer token as the admin API).

- ``GET /v1/admin/analytics/stress?day=YYYY-MM-DD[&window_days=N]``: the debiased population
  distribution of stress levels over the N days (default 1, at most 90) ending on ``day``.
- ``GET /v1/admin/users/{user_id}/stress[?as_of=YYYY-MM-DD]``: the user's stress posterior over
  the recent window (default 7 days) ending on ``as_of`` (default: today, UTC).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Final

from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from cloud.constants import ADMIN_PREFIX
from cloud.deps import ADMIN_SECURITY, AnalyticsDep, admin_guard
from cloud.domain.analytics.schemas import PopulationStressOut, UserStressOut
from cloud.errors import ValidationFailed

MAX_WINDOW_DAYS: Final = 90
FIRST_DAY: Final = date(1970, 1, 1)
"""Earliest ``day``/``as_of`` accepted: a window ending earlier could start before year 1, which
``date`` cannot hold (and no aggregate can be that old)."""


def _check_day(day: date | None, name: str) -> None:
    if day is not None and day < FIRST_DAY:
        raise ValidationFailed(f"`{name}` must be {FIRST_DAY.isoformat()} or later, got {day.isoformat()}")


class AnalyticsController(Controller):
    path = ADMIN_PREFIX
    guards = [admin_guard]
    security = ADMIN_SECURITY
    tags = ["admin", "analytics"]

    @get("/analytics/stress")
    async def population_stress(
        self,
        analytics: AnalyticsDep,
        day: Annotated[date, QueryParameter(description="Last day of the window (1970-01-01 or later)")],
        window_days: Annotated[int, QueryParameter(ge=1, le=MAX_WINDOW_DAYS)] = 1,
    ) -> PopulationStressOut:
        """Debiased share of each stress level with 95% intervals, per number of levels k."""
        _check_day(day, "day")
        return await analytics.population_stress(day, window_days)

    @get("/users/{user_id:str}/stress")
    async def user_stress(
        self,
        user_id: FromPath[str],
        analytics: AnalyticsDep,
        as_of: Annotated[
            date | None, QueryParameter(description="Last day of the window; today (UTC)")
        ] = None,
    ) -> UserStressOut:
        """Posterior P(high-stress day) with a 90% credible interval; ``estimate`` null = no signal."""
        _check_day(as_of, "as_of")
        return await analytics.user_stress(user_id, as_of)
