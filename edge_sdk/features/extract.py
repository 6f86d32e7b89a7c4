"""Activity window → feature vector, in the order and version of :mod:`edge_sdk.features.spec`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from edge_sdk.capture.window import ActivityWindow
from edge_sdk.features import context, keystroke, motion, touch
from edge_sdk.features.context import check_tz_offset
from edge_sdk.features.errors import InvalidTzOffset
from edge_sdk.features.spec import FEATURE_NAMES, N_FEATURES

_F32_MAX: Final = float(np.finfo(np.float32).max)


def _values(window: ActivityWindow, tz_offset_min: int) -> dict[str, float]:
    keys, touches, accel = window.keys, window.touches, window.motion
    tod_sin, tod_cos = context.time_of_day(window.start_ms, tz_offset_min)
    return {
        "iki_mean_ms": keystroke.iki_mean_ms(keys.down_ms),
        "iki_cv": keystroke.iki_cv(keys.down_ms),
        "hold_mean_ms": keystroke.hold_mean_ms(keys.down_ms, keys.up_ms),
        "backspace_ratio": keystroke.backspace_ratio(keys.key_class),
        "pause_rate_per_min": keystroke.pause_rate_per_min(keys.down_ms, window.span_ms),
        "burstiness": keystroke.burstiness(keys.down_ms),
        "touch_pressure_mean": touch.pressure_mean(touches.pressure),
        "touch_pressure_std": touch.pressure_std(touches.pressure),
        "contact_size_mean": touch.contact_size_mean(touches.size),
        "swipe_speed_px_s": touch.swipe_speed_px_s(touches.t_ms, touches.phase, touches.x, touches.y),
        "motion_jitter_ms2": motion.motion_jitter_ms2(accel.ax, accel.ay, accel.az),
        "tremor_band_share": motion.tremor_band_share(accel.t_ms, accel.ax, accel.ay, accel.az),
        "tod_sin": tod_sin,
        "tod_cos": tod_cos,
        "session_length_s": context.session_length_s(window.start_ms, window.end_ms),
        "has_keys": 1.0 if len(keys) else 0.0,
        "has_touch": 1.0 if len(touches) else 0.0,
        "has_motion": 1.0 if len(accel) else 0.0,
    }


def _fill(out: npt.NDArray[np.float32], window: ActivityWindow, tz_offset_min: int) -> None:
    values = _values(window, tz_offset_min)
    row = np.array([values[name] for name in FEATURE_NAMES], dtype=np.float64)
    # Inputs are validated finite, but extreme ones (a position of 1e300 px) could still overflow
    # float32; the model needs finite inputs, so clip rather than pass inf on.
    np.clip(row, -_F32_MAX, _F32_MAX, out=row)
    out[:] = row


def extract(window: ActivityWindow, tz_offset_min: int) -> npt.NDArray[np.float32]:
    """The feature vector of one window: float32, shape ``(N_FEATURES,)``, every value finite.

    ``tz_offset_min`` is the device's UTC offset in minutes (UTC+2 = 120), used for time of day;
    raises :class:`~edge_sdk.features.errors.InvalidTzOffset` outside -840..840.
    """
    check_tz_offset(tz_offset_min)
    out = np.empty(N_FEATURES, dtype=np.float32)
    _fill(out, window, tz_offset_min)
    return out


def extract_many(
    windows: Sequence[ActivityWindow], tz_offset_min: int | Sequence[int]
) -> npt.NDArray[np.float32]:
    """Feature vectors of ``windows`` as one float32 matrix of shape ``(len(windows), N_FEATURES)``.

    Row ``i`` equals ``extract(windows[i], ...)``; the matrix is what batched inference takes.
    ``tz_offset_min`` is one offset for all windows or one per window (a day may cross a DST change);
    raises :class:`~edge_sdk.features.errors.InvalidTzOffset` for a bad one or a count mismatch.
    """
    offsets = [tz_offset_min] * len(windows) if isinstance(tz_offset_min, int) else list(tz_offset_min)
    if len(offsets) != len(windows):
        raise InvalidTzOffset(f"{len(offsets)} UTC offsets for {len(windows)} windows")
    for offset in offsets:
        check_tz_offset(offset)
    out = np.empty((len(windows), N_FEATURES), dtype=np.float32)
    for i, (window, offset) in enumerate(zip(windows, offsets, strict=True)):
        _fill(out[i], window, offset)
    return out
