"""Motion features: jitter on a hand-computed fixture, tremor band on synthetic sinusoids."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge_sdk.features import motion
from edge_sdk.features.spec import MIN_TREMOR_SAMPLES


def sinusoid(
    freq_hz: float, rate_hz: float = 50.0, seconds: float = 10.0, jitter_ms: int = 0
) -> tuple[
    np.ndarray, np.ndarray, np.ndarray, np.ndarray  # type: ignore[type-arg]
]:
    """Magnitude 9.81 + 0.5 sin(2 pi f t) along z, sampled at ``rate_hz`` with optional timestamp jitter."""
    n = int(seconds * rate_hz)
    t_ms = np.round(np.arange(n) * 1000.0 / rate_hz).astype(np.int64)
    if jitter_ms:
        t_ms = t_ms + np.random.default_rng(7).integers(-jitter_ms, jitter_ms + 1, size=n)
        t_ms = np.maximum.accumulate(t_ms)
    az = 9.81 + 0.5 * np.sin(2 * np.pi * freq_hz * t_ms / 1000.0)
    zeros = np.zeros(n)
    return t_ms, zeros, zeros, az


def test_accel_magnitude() -> None:
    mag = motion.accel_magnitude(np.array([3.0, 0.0]), np.array([4.0, 0.0]), np.array([0.0, 7.0]))
    assert mag.tolist() == [5.0, 7.0]


def test_motion_jitter() -> None:
    # Magnitudes 5, 7, 9: mean 7, population variance (4 + 0 + 4) / 3.
    ax, ay, az = np.array([3.0, 0.0, 0.0]), np.array([4.0, 0.0, 0.0]), np.array([0.0, 7.0, 9.0])
    assert motion.motion_jitter_ms2(ax, ay, az) == pytest.approx(math.sqrt(8 / 3))


def test_motion_jitter_of_a_still_phone_held_any_way_is_zero() -> None:
    ax, ay, az = np.array([9.81, 0.0, 0.0]), np.array([0.0, 9.81, 0.0]), np.array([0.0, 0.0, 9.81])
    assert motion.motion_jitter_ms2(ax, ay, az) == pytest.approx(0.0, abs=1e-12)


def test_motion_jitter_without_motion_is_zero() -> None:
    empty = np.array([], dtype=np.float64)
    assert motion.motion_jitter_ms2(empty, empty, empty) == 0.0


def test_sample_rate_ignores_repeated_times() -> None:
    assert motion.sample_rate_hz(np.array([0, 20, 40, 40, 60], dtype=np.int64)) == pytest.approx(50.0)
    assert motion.sample_rate_hz(np.array([5, 5], dtype=np.int64)) == 0.0


def test_an_8_hz_tremor_lies_in_the_band() -> None:
    assert motion.tremor_band_share(*sinusoid(8.0)) > 0.99


def test_a_1_hz_movement_lies_outside_the_band() -> None:
    assert motion.tremor_band_share(*sinusoid(1.0)) < 0.01


def test_a_15_hz_vibration_lies_outside_the_band() -> None:
    assert motion.tremor_band_share(*sinusoid(15.0, rate_hz=100.0)) < 0.01


def test_the_band_uses_the_samples_actual_rate() -> None:
    # At 100 Hz an 8 Hz signal is still 8 Hz: a fixed assumed rate would move it out of the band.
    assert motion.tremor_band_share(*sinusoid(8.0, rate_hz=100.0, seconds=3.0)) > 0.99
    assert motion.tremor_band_share(*sinusoid(1.0, rate_hz=100.0, seconds=3.0)) < 0.05


def test_jittered_timestamps_still_find_the_tremor() -> None:
    assert motion.tremor_band_share(*sinusoid(8.0, jitter_ms=3)) > 0.9


def test_a_mix_splits_power_by_amplitude() -> None:
    t, ax, ay, _ = sinusoid(1.0)
    seconds = t / 1000.0
    az = 9.81 + 1.0 * np.sin(2 * np.pi * 1.0 * seconds) + 1.0 * np.sin(2 * np.pi * 8.0 * seconds)
    assert motion.tremor_band_share(t, ax, ay, az) == pytest.approx(0.5, abs=0.02)


def test_too_few_samples_give_zero() -> None:
    t, ax, ay, az = sinusoid(8.0)
    n = MIN_TREMOR_SAMPLES - 1
    assert motion.tremor_band_share(t[:n], ax[:n], ay[:n], az[:n]) == 0.0
    assert motion.tremor_band_share(t[: n + 1], ax[: n + 1], ay[: n + 1], az[: n + 1]) > 0.9


def test_a_rate_too_low_for_the_band_gives_zero() -> None:
    assert motion.tremor_band_share(*sinusoid(8.0, rate_hz=20.0)) == 0.0


def test_a_flat_signal_gives_zero() -> None:
    t, ax, ay, _ = sinusoid(8.0)
    assert motion.tremor_band_share(t, ax, ay, np.full(len(t), 9.81)) == 0.0


def test_repeated_times_keep_their_first_sample() -> None:
    t, ax, ay, az = sinusoid(8.0)
    doubled_t = np.repeat(t, 2)
    doubled_az = np.repeat(az, 2)
    doubled_az[1::2] = 100.0  # the repeats would be a huge square wave if they were used
    zeros = np.zeros(len(doubled_t))
    share = motion.tremor_band_share(doubled_t, zeros, zeros, doubled_az)
    assert share == pytest.approx(motion.tremor_band_share(t, ax, ay, az))
