"""Window scores: what the model says about one activity window, kept on the device only.

A score never leaves the device; daily aggregates are computed from the stored scores and
released through the mechanism (:mod:`edge_sdk.privacy.daily`).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Final

import msgspec

from edge_sdk.privacy.errors import InvalidWindowScores

FUTURE_TOLERANCE_MS: Final = 60_000
"""A window may end at most this far after the device clock's now (clock jitter), never later."""
_DAY_MS: Final = 86_400_000


class WindowScore(msgspec.Struct, frozen=True, kw_only=True):
    """The model's output for one activity window.

    Ranges (checked when stored): ``stress_prob`` in ``[0, 1]``; ``valence`` in ``[-1, 1]``
    (unpleasant to pleasant); ``arousal`` in ``[-1, 1]`` (calm to activated); ``end_ms`` the
    window's end in epoch ms; ``model_version`` the model that scored it (1-64 characters).
    """

    end_ms: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    stress_prob: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    valence: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
    arousal: Annotated[float, msgspec.Meta(ge=-1.0, le=1.0)]
    model_version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


def check_scores(scores: Sequence[WindowScore | Mapping[str, Any]], now_ms: int) -> list[WindowScore]:
    """Validated copies of ``scores``; :class:`InvalidWindowScores` names the first bad one.

    Structs built in code skip msgspec's constraint checks, so every score goes through
    ``convert`` (NaN and infinities fail the range checks, bools are not numbers).
    """
    if isinstance(scores, str | bytes) or not isinstance(scores, Sequence):
        raise InvalidWindowScores(f"scores must be a list, got {type(scores).__name__}")
    checked: list[WindowScore] = []
    seen: set[int] = set()
    for index, score in enumerate(scores):
        try:
            raw = msgspec.to_builtins(score) if isinstance(score, WindowScore) else score
            value = msgspec.convert(raw, WindowScore)
        except (msgspec.ValidationError, TypeError) as exc:
            raise InvalidWindowScores(f"scores[{index}]: {exc}") from exc
        if value.end_ms > now_ms + FUTURE_TOLERANCE_MS:
            raise InvalidWindowScores(f"scores[{index}]: window ends in the future ({value.end_ms})")
        if value.end_ms in seen:
            raise InvalidWindowScores(f"scores[{index}]: a second window ending at {value.end_ms}")
        seen.add(value.end_ms)
        checked.append(value)
    return checked


def local_day(epoch_ms: int, tz_offset_min: int) -> str:
    """The ISO date of ``epoch_ms`` on a clock ``tz_offset_min`` minutes ahead of UTC."""
    shifted = epoch_ms + tz_offset_min * 60_000
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=shifted // _DAY_MS)).isoformat()
