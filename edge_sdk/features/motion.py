"""Motion features from the accelerometer: jitter and tremor-band energy. Pure numpy.

Both work on the acceleration magnitude, which does not depend on how the phone is held.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge_sdk.features.spec import MIN_TREMOR_RATE_HZ, MIN_TREMOR_SAMPLES, TREMOR_BAND_HZ

Floats = npt.NDArray[np.float64]


def accel_magnitude(ax: Floats, ay: Floats, az: Floats) -> Floats:
    """``sqrt(ax² + ay² + az²)`` per sample, m/s²."""
    result: Floats = np.sqrt(ax * ax + ay * ay + az * az)
    return result


def motion_jitter_ms2(ax: Floats, ay: Floats, az: Floats) -> float:
    """Population standard deviation of the acceleration magnitude; 0 without motion."""
    if not len(ax):
        return 0.0
    return float(accel_magnitude(ax, ay, az).std())


def sample_rate_hz(t_ms: npt.NDArray[np.int64]) -> float:
    """The samples' actual rate: 1000 / median interval between distinct times; 0 below 2 times."""
    distinct = np.unique(t_ms)
    if len(distinct) < 2:
        return 0.0
    return 1000.0 / float(np.median(np.diff(distinct)))


def tremor_band_share(t_ms: npt.NDArray[np.int64], ax: Floats, ay: Floats, az: Floats) -> float:
    """Share of the magnitude's spectral power in ``TREMOR_BAND_HZ`` (DC excluded), in ``[0, 1]``.

    Sensor timestamps jitter and samples get dropped, so the magnitude is first resampled by linear
    interpolation onto a uniform grid at the measured rate (repeated times keep their first sample).
    Then: mean removed, Hann window against leakage from strong low-frequency movement, periodogram.
    Returns 0 with fewer than ``MIN_TREMOR_SAMPLES`` distinct times, a rate below
    ``MIN_TREMOR_RATE_HZ`` (the band would not be observable) or a flat signal.
    """
    times, first = np.unique(t_ms, return_index=True)
    if len(times) < MIN_TREMOR_SAMPLES:
        return 0.0
    rate = 1000.0 / float(np.median(np.diff(times)))
    if rate < MIN_TREMOR_RATE_HZ:
        return 0.0
    magnitude = accel_magnitude(ax[first], ay[first], az[first])
    seconds = (times - times[0]).astype(np.float64) / 1000.0
    n_grid = int(np.floor(seconds[-1] * rate)) + 1
    grid = np.arange(n_grid, dtype=np.float64) / rate
    signal = np.interp(grid, seconds, magnitude)
    signal -= signal.mean()
    power = np.abs(np.fft.rfft(signal * np.hanning(n_grid))) ** 2
    freqs = np.fft.rfftfreq(n_grid, d=1.0 / rate)
    total = float(power[freqs > 0.0].sum())
    if total <= 0.0:
        return 0.0
    low, high = TREMOR_BAND_HZ
    band = float(power[(freqs >= low) & (freqs <= high)].sum())
    return band / total
