"""The feature spec: which features, in which order, in which unit, defined how.

This is the single source of truth for the feature vector. The model manifest copies
:data:`FEATURE_SPEC_VERSION` and the names of :data:`FEATURE_SPEC`; ``docs/features.md`` holds the
table :func:`render_feature_table` renders (``python -m edge_sdk.features`` prints it), and a test
keeps the two equal. Changing a definition, the order or the set of features means a new version
and a retrained model.

Missing data. The model needs finite inputs, so a feature that cannot be computed (no keys in the
window, too few motion samples for a spectrum) takes a fixed neutral value, 0 unless its definition
says otherwise, and the ``has_*`` presence features tell the model which modalities were observed.
Every value is finite and clipped to the float32 range.
"""

from __future__ import annotations

from typing import Final, NamedTuple

FEATURE_SPEC_VERSION: Final = "features-v1"

PAUSE_THRESHOLD_MS: Final = 2000
"""An inter-key interval longer than this is a pause, not part of the typing rhythm."""
TREMOR_BAND_HZ: Final = (4.0, 12.0)
"""Physiological and stress-enhanced tremor lies roughly in 4-12 Hz."""
MIN_TREMOR_SAMPLES: Final = 64
"""Fewest distinct motion samples for a spectrum worth reading (about 1.3 s at 50 Hz)."""
MIN_TREMOR_RATE_HZ: Final = 2 * TREMOR_BAND_HZ[1]
"""Below this sampling rate the band's upper part is above Nyquist and cannot be observed."""


class FeatureDef(NamedTuple):
    """One feature: its name (a stable identifier), its unit and its definition."""

    name: str
    unit: str
    definition: str


FEATURE_SPEC: Final[tuple[FeatureDef, ...]] = (
    FeatureDef(
        "iki_mean_ms",
        "ms",
        "Mean inter-key interval: mean of the differences between consecutive key-down times that are "
        f"at most {PAUSE_THRESHOLD_MS} ms (longer ones are pauses). 0 when there is no such interval.",
    ),
    FeatureDef(
        "iki_cv",
        "ratio",
        "Coefficient of variation of the same intervals: population standard deviation divided by "
        "the mean. 0 when there is no such interval or their mean is 0.",
    ),
    FeatureDef(
        "hold_mean_ms",
        "ms",
        "Mean key hold time, up time minus down time, over the window's key events. 0 without keys.",
    ),
    FeatureDef(
        "backspace_ratio",
        "ratio",
        "Backspace key events divided by all key events. 0 without keys.",
    ),
    FeatureDef(
        "pause_rate_per_min",
        "1/min",
        f"Inter-key intervals longer than {PAUSE_THRESHOLD_MS} ms per minute of window span "
        "(session_length_s / 60). 0 when there is no pause.",
    ),
    FeatureDef(
        "burstiness",
        "ratio in [-1, 1]",
        "(sigma - mu) / (sigma + mu) of all inter-key intervals, pauses included (population standard "
        "deviation sigma, mean mu): -1 perfectly regular, 0 random (Poisson), towards 1 bursty. "
        "0 with fewer than 2 intervals or when sigma + mu is 0.",
    ),
    FeatureDef(
        "touch_pressure_mean",
        "normalised, 0..1",
        "Mean pressure over all touch samples (every phase). 0 without touch.",
    ),
    FeatureDef(
        "touch_pressure_std",
        "normalised, 0..1",
        "Population standard deviation of pressure over all touch samples. 0 without touch.",
    ),
    FeatureDef(
        "contact_size_mean",
        "platform contact-size unit",
        "Mean contact size over all touch samples. 0 without touch.",
    ),
    FeatureDef(
        "swipe_speed_px_s",
        "px/s",
        "Total path length divided by total duration of the swipes: a stroke runs from a down sample "
        "(or the sample after an up, or the window's first sample) to the next up; a swipe is a stroke "
        "with at least one move sample; path length sums the distances between its consecutive samples. "
        "0 without swipes or when their total duration is 0.",
    ),
    FeatureDef(
        "motion_jitter_ms2",
        "m/s^2",
        "Population standard deviation of the acceleration magnitude sqrt(ax^2 + ay^2 + az^2). "
        "0 without motion.",
    ),
    FeatureDef(
        "tremor_band_share",
        "ratio in [0, 1]",
        "Share of the acceleration magnitude's spectral power (mean removed, Hann window, periodogram, "
        "DC excluded) in 4-12 Hz. Samples are resampled by linear interpolation to a uniform grid at "
        "their actual rate, 1000 / median interval between distinct sample times. 0 with fewer than "
        f"{MIN_TREMOR_SAMPLES} distinct sample times, a rate below {MIN_TREMOR_RATE_HZ:g} Hz, or no power.",
    ),
    FeatureDef(
        "tod_sin",
        "[-1, 1]",
        "sin(2 pi h / 24), h the local hour (fractional) of the window start: UTC time plus the "
        "device's UTC offset in minutes (UTC+2 = 120).",
    ),
    FeatureDef(
        "tod_cos",
        "[-1, 1]",
        "cos(2 pi h / 24), h as for tod_sin.",
    ),
    FeatureDef(
        "session_length_s",
        "s",
        "Window span: time from its first to its last event (a key event's time is its down time).",
    ),
    FeatureDef(
        "has_keys",
        "0 or 1",
        "1 when the window holds at least one key event, else 0.",
    ),
    FeatureDef(
        "has_touch",
        "0 or 1",
        "1 when the window holds at least one touch sample, else 0.",
    ),
    FeatureDef(
        "has_motion",
        "0 or 1",
        "1 when the window holds at least one motion sample, else 0.",
    ),
)
"""The features in vector order."""

FEATURE_NAMES: Final[tuple[str, ...]] = tuple(feature.name for feature in FEATURE_SPEC)
N_FEATURES: Final = len(FEATURE_SPEC)
FEATURE_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(FEATURE_NAMES)}
"""Position of each feature in the vector, by name."""


def render_feature_table() -> str:
    """The spec as the Markdown table ``docs/features.md`` holds (one line per feature)."""
    lines = ["| # | Name | Unit | Definition |", "|---|---|---|---|"]
    for i, feature in enumerate(FEATURE_SPEC):
        lines.append(f"| {i} | `{feature.name}` | {feature.unit} | {feature.definition} |")
    return "\n".join(lines) + "\n"
