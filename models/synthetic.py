"""Synthetic training data: a latent emotional state per window → feature vectors.

No public affect data set with phone keystroke, touch and motion telemetry ships with this project,
so the model is trained on data drawn from the generative model below. It is a stand-in that makes
the pipeline real end to end (training, export, on-device inference, evaluation); it is not
evidence that the features predict anyone's emotions. Retrain on labelled real data with
``python -m models.train --csv`` (see :mod:`models.dataset` for the columns).

Generative model, per window::

    user   u ~ a persona (baseline offsets, stress base rate, activity hours) + own offsets
    stress s ~ Bernoulli(p_stress(u))                       (binary label, 1 = high stress)
    arousal a = clip(a0(u) + 0.35 s + N(0, 0.30), -1, 1)    (calm -1 … activated +1)
    valence v = clip(v0(u) - 0.35 s + N(0, 0.35), -1, 1)    (unpleasant -1 … pleasant +1)
    feature f, on its transformed scale t = T_f(x):
        t = T_f(centre_f) + spread_f * (persona_f(u) + user_f(u) + b_s,f s + b_v,f v + b_a,f a + N(0, 1))
        x = T_f^-1(t), clipped to the feature's range

``b`` are effects in within-person standard deviations per unit of the latent variable, so an effect
of 0.4 on stress means a high-stress window sits 0.4 within-person SDs above a calm one. ``T`` is log
for positive quantities (durations, energies), logit for proportions, identity otherwise.

Where the effects come from. Only sources whose text was read while writing this module are cited,
and only for what that text says (abstracts):

- [GOEL2020] Goel, An, Alayrangues, Koneshloo, Lincoln and Paredes, "Stress Tracker — Detecting
  Acute Stress From a Trackpad: Controlled Study", J Med Internet Res 2020;22(10):e22743,
  doi:10.2196/22743. Under stress the mean and SD of the finger's contact area were higher when
  clicking (effect sizes 0.76 and 0.69; 18 participants, laptop trackpad). Used for the
  *direction* of the contact-size effects; the sizes here are smaller (assumed) because a phone
  screen is not a trackpad.
- [LEE2015] Lee, Tsui, Hsiao, "The Influence of Emotion on Keyboard Typing: An Experimental Study
  Using Auditory Stimuli", PLoS One 2015, doi:10.1371/journal.pone.0129056. Arousal had a
  significant effect on keystroke duration and latency but not on typing accuracy, and the emotional
  effect was small compared with individual variability. Used for: arousal moves hold time and
  inter-key interval (the *direction* is not given in the abstract, so it is assumed), arousal has
  no effect on the error rate, and individual offsets are larger than emotional effects.
- [KEYSTRESS2021] "Does Peoples' Keyboard Typing Reflect Their Stress Level? An Exploratory Study",
  Zeitschrift für Psychologie 2021, doi:10.1027/2151-2604/a000468. Across a lab (N = 53) and an
  online study (N = 924), links between stress and 11 typing features were few and inconsistent.
  Used for: keyboard-timing stress effects are kept small.

Every other effect, and every effect size not attributed above, is **assumed**: its direction is the
one commonly reported in the affective-computing literature (stress and arousal → slower, more
variable, more error-prone typing with more pauses, harder and more variable presses, more motion
jitter), not taken from a source read here. Context features (time of day, session length) carry no
emotional effect by assumption, so the model cannot learn "late at night means stressed" from
synthetic data. The table :data:`EFFECTS` records each effect with its source tag.

This module uses numpy only (it runs in the SDK's environment for tests); it never imports
TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from edge_sdk.features.spec import FEATURE_SPEC, FEATURE_SPEC_VERSION

Transform = Literal["log", "logit", "linear"]
Source = Literal["assumed", "GOEL2020", "LEE2015", "KEYSTRESS2021"]

STRESS_AROUSAL_SHIFT: Final = 0.35
STRESS_VALENCE_SHIFT: Final = -0.35


@dataclass(frozen=True, slots=True)
class FeatureModel:
    """How one feature depends on the latent state; effects in within-person SDs per latent unit."""

    centre: float
    """Population median in the feature's own unit."""
    spread: float
    """Within-person SD on the transformed scale."""
    transform: Transform
    low: float
    high: float
    stress: float = 0.0
    valence: float = 0.0
    arousal: float = 0.0
    source: tuple[Source, ...] = ("assumed",)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Persona:
    """A kind of user: baseline offsets (in within-person SDs) and latent-state base rates."""

    name: str
    stress_rate: float
    """Share of this persona's windows that are high-stress."""
    valence0: float
    arousal0: float
    offsets: dict[str, float] = field(default_factory=dict)
    active_hours: tuple[float, float] = (8.0, 22.0)
    """Local hours between which this persona's windows fall (uniformly; past 24 wraps)."""
    presence: tuple[float, float, float] = (0.7, 0.9, 0.8)
    """Probability that a window holds key, touch and motion events."""


def _effect(
    centre: float,
    spread: float,
    transform: Transform,
    low: float,
    high: float,
    *,
    stress: float = 0.0,
    valence: float = 0.0,
    arousal: float = 0.0,
    source: tuple[Source, ...] = ("assumed",),
    note: str = "",
) -> FeatureModel:
    return FeatureModel(centre, spread, transform, low, high, stress, valence, arousal, source, note)


EFFECTS: Final[dict[str, FeatureModel]] = {
    # Typing: present when the window holds key events (has_keys), else 0 per the feature spec.
    "iki_mean_ms": _effect(
        280.0,
        0.18,
        "log",
        30.0,
        2000.0,
        stress=0.25,
        arousal=-0.30,
        source=("LEE2015", "KEYSTRESS2021", "assumed"),
        note="arousal moves latency [LEE2015], direction (faster when aroused) assumed; "
        "stress slows typing (assumed), kept small [KEYSTRESS2021]",
    ),
    "iki_cv": _effect(
        0.55,
        0.20,
        "log",
        0.0,
        5.0,
        stress=0.35,
        source=("KEYSTRESS2021", "assumed"),
        note="less regular rhythm under stress (assumed), small",
    ),
    "hold_mean_ms": _effect(
        95.0,
        0.15,
        "log",
        20.0,
        1000.0,
        stress=0.15,
        arousal=-0.25,
        source=("LEE2015", "assumed"),
        note="arousal moves key duration [LEE2015], direction (shorter when aroused) assumed",
    ),
    "backspace_ratio": _effect(
        0.06,
        0.45,
        "logit",
        0.0,
        1.0,
        stress=0.35,
        valence=-0.15,
        source=("LEE2015", "assumed"),
        note="no arousal effect on accuracy [LEE2015]; more corrections under stress (assumed)",
    ),
    "pause_rate_per_min": _effect(
        4.0,
        0.40,
        "log",
        0.0,
        30.0,
        stress=0.30,
        arousal=-0.20,
        note="assumed",
    ),
    "burstiness": _effect(
        0.15,
        0.12,
        "linear",
        -1.0,
        1.0,
        stress=0.30,
        arousal=0.15,
        note="assumed",
    ),
    # Touch: present when the window holds touch samples (has_touch).
    "touch_pressure_mean": _effect(
        0.45,
        0.35,
        "logit",
        0.0,
        1.0,
        stress=0.40,
        arousal=0.20,
        note="harder presses (assumed)",
    ),
    "touch_pressure_std": _effect(
        0.08,
        0.30,
        "log",
        0.0,
        0.5,
        stress=0.30,
        note="more variable presses (assumed)",
    ),
    "contact_size_mean": _effect(
        0.30,
        0.15,
        "log",
        0.0,
        10.0,
        stress=0.45,
        source=("GOEL2020", "assumed"),
        note="direction from [GOEL2020] (trackpad, d=0.76); size assumed smaller on a phone",
    ),
    "swipe_speed_px_s": _effect(
        900.0,
        0.35,
        "log",
        0.0,
        20000.0,
        stress=0.15,
        arousal=0.35,
        note="assumed",
    ),
    # Motion: present when the window holds accelerometer samples (has_motion).
    "motion_jitter_ms2": _effect(
        0.35,
        0.45,
        "log",
        0.0,
        50.0,
        stress=0.20,
        arousal=0.30,
        note="assumed",
    ),
    "tremor_band_share": _effect(
        0.20,
        0.40,
        "logit",
        0.0,
        1.0,
        stress=0.35,
        note="stress-enhanced 4-12 Hz tremor (assumed)",
    ),
    # Context: no emotional effect, by assumption (see the module docstring).
    "tod_sin": _effect(0.0, 1.0, "linear", -1.0, 1.0, note="from the persona's active hours"),
    "tod_cos": _effect(0.0, 1.0, "linear", -1.0, 1.0, note="from the persona's active hours"),
    "session_length_s": _effect(40.0, 0.35, "log", 1.0, 60.0, note="no emotional effect (assumed)"),
    "has_keys": _effect(1.0, 0.0, "linear", 0.0, 1.0, note="persona's presence probability"),
    "has_touch": _effect(1.0, 0.0, "linear", 0.0, 1.0, note="persona's presence probability"),
    "has_motion": _effect(1.0, 0.0, "linear", 0.0, 1.0, note="persona's presence probability"),
}
"""Per feature of ``FEATURE_SPEC``: centre, spread, transform, effects and their sources."""

_MODALITY: Final[dict[str, tuple[str, ...]]] = {
    "has_keys": (
        "iki_mean_ms",
        "iki_cv",
        "hold_mean_ms",
        "backspace_ratio",
        "pause_rate_per_min",
        "burstiness",
    ),
    "has_touch": ("touch_pressure_mean", "touch_pressure_std", "contact_size_mean", "swipe_speed_px_s"),
    "has_motion": ("motion_jitter_ms2", "tremor_band_share"),
}
"""Presence flag → the features that are 0 when that modality is absent from a window."""

_CONTEXT: Final = frozenset({"tod_sin", "tod_cos", "has_keys", "has_touch", "has_motion"})
"""Features drawn by their own rule rather than the shared latent-effects formula."""

PERSONAS: Final[tuple[Persona, ...]] = (
    Persona(
        "steady_typist",
        stress_rate=0.15,
        valence0=0.25,
        arousal0=-0.10,
        offsets={"iki_mean_ms": -0.6, "iki_cv": -0.4, "backspace_ratio": -0.3},
        active_hours=(8.0, 20.0),
        presence=(0.85, 0.9, 0.7),
    ),
    Persona(
        "busy_commuter",
        stress_rate=0.35,
        valence0=0.0,
        arousal0=0.20,
        offsets={
            "motion_jitter_ms2": 1.0,
            "tremor_band_share": 0.3,
            "swipe_speed_px_s": 0.5,
            "pause_rate_per_min": 0.4,
        },
        active_hours=(6.0, 23.0),
        presence=(0.6, 0.95, 0.95),
    ),
    Persona(
        "careful_senior",
        stress_rate=0.20,
        valence0=0.20,
        arousal0=-0.30,
        offsets={
            "iki_mean_ms": 1.0,
            "hold_mean_ms": 0.8,
            "touch_pressure_mean": 0.5,
            "contact_size_mean": 0.6,
            "swipe_speed_px_s": -0.6,
        },
        active_hours=(7.0, 21.0),
        presence=(0.5, 0.9, 0.6),
    ),
    Persona(
        "night_owl_student",
        stress_rate=0.30,
        valence0=0.05,
        arousal0=0.10,
        offsets={"iki_mean_ms": -0.8, "burstiness": 0.5, "backspace_ratio": 0.4},
        active_hours=(11.0, 26.0),
        presence=(0.9, 0.85, 0.7),
    ),
    Persona(
        "anxious_saver",
        stress_rate=0.50,
        valence0=-0.20,
        arousal0=0.25,
        offsets={"touch_pressure_mean": 0.3, "pause_rate_per_min": 0.3},
        active_hours=(7.0, 23.0),
        presence=(0.7, 0.9, 0.8),
    ),
)
"""The personas users are drawn from, in index order (``SyntheticData.persona`` holds indices)."""


def feature_names() -> tuple[str, ...]:
    """The feature names in ``FEATURE_SPEC`` order: the column order of every matrix here."""
    return tuple(f.name for f in FEATURE_SPEC)


@dataclass(frozen=True, slots=True)
class SyntheticData:
    """A data set of windows: features in ``FEATURE_SPEC`` order plus labels and provenance."""

    features: NDArray[np.float32]
    """``(n, F)`` raw feature vectors."""
    stress: NDArray[np.float32]
    """``(n,)`` high-stress label, 0 or 1 (a probability in [0, 1] is accepted from a CSV)."""
    valence: NDArray[np.float32]
    arousal: NDArray[np.float32]
    user: NDArray[np.int64]
    persona: NDArray[np.int64]
    persona_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    feature_spec_version: str

    def __len__(self) -> int:
        return int(self.features.shape[0])

    def subset(self, mask: NDArray[np.bool_]) -> SyntheticData:
        return SyntheticData(
            features=self.features[mask],
            stress=self.stress[mask],
            valence=self.valence[mask],
            arousal=self.arousal[mask],
            user=self.user[mask],
            persona=self.persona[mask],
            persona_names=self.persona_names,
            feature_names=self.feature_names,
            feature_spec_version=self.feature_spec_version,
        )

    def split_by_user(self, held_out_fraction: float, seed: int) -> tuple[SyntheticData, SyntheticData]:
        """(train, held-out) with disjoint users, so held-out metrics are for people never seen."""
        users = np.unique(self.user)
        rng = np.random.default_rng(seed)
        n_held = max(1, round(len(users) * held_out_fraction))
        held = rng.choice(users, size=n_held, replace=False)
        mask = np.isin(self.user, held)
        return self.subset(~mask), self.subset(mask)


def _forward(transform: Transform, x: float) -> float:
    if transform == "log":
        return float(np.log(x))
    if transform == "logit":
        return float(np.log(x / (1.0 - x)))
    return x


def _inverse(transform: Transform, t: NDArray[np.float64]) -> NDArray[np.float64]:
    if transform == "log":
        return np.exp(t)
    if transform == "logit":
        return 1.0 / (1.0 + np.exp(-t))
    return t


def check_effects(names: Sequence[str]) -> None:
    """Every feature of the spec has a model here and nothing else does (the spec is the truth)."""
    missing = [n for n in names if n not in EFFECTS]
    extra = [n for n in EFFECTS if n not in names]
    if missing or extra:
        raise ValueError(
            f"the synthetic generator does not match FEATURE_SPEC {FEATURE_SPEC_VERSION}: "
            f"missing {missing}, unknown {extra}"
        )


def generate(
    n_users: int = 400,
    windows_per_user: int = 60,
    seed: int = 0,
    user_offset_sd: float = 0.5,
) -> SyntheticData:
    """Draw ``n_users * windows_per_user`` windows; the same arguments give the same bytes."""
    names = feature_names()
    check_effects(names)
    rng = np.random.default_rng(seed)
    n = n_users * windows_per_user
    n_features = len(names)

    persona_of_user = rng.integers(0, len(PERSONAS), size=n_users)
    # Individual baselines on top of the persona's ([LEE2015]: individual variability is large
    # compared with emotional effects, hence an SD comparable to the biggest effects).
    user_offsets = rng.normal(0.0, user_offset_sd, size=(n_users, n_features))
    user_stress_rate = np.clip(
        np.array([PERSONAS[p].stress_rate for p in persona_of_user]) + rng.normal(0.0, 0.05, n_users),
        0.02,
        0.95,
    )
    user_valence0 = np.array([PERSONAS[p].valence0 for p in persona_of_user]) + rng.normal(0, 0.1, n_users)
    user_arousal0 = np.array([PERSONAS[p].arousal0 for p in persona_of_user]) + rng.normal(0, 0.1, n_users)

    user = np.repeat(np.arange(n_users, dtype=np.int64), windows_per_user)
    persona = persona_of_user[user].astype(np.int64)
    stress = (rng.random(n) < user_stress_rate[user]).astype(np.float64)
    arousal = np.clip(user_arousal0[user] + STRESS_AROUSAL_SHIFT * stress + rng.normal(0, 0.30, n), -1, 1)
    valence = np.clip(user_valence0[user] + STRESS_VALENCE_SHIFT * stress + rng.normal(0, 0.35, n), -1, 1)

    persona_offsets = np.array([[p.offsets.get(name, 0.0) for name in names] for p in PERSONAS])
    noise = rng.normal(0.0, 1.0, size=(n, n_features))
    hours = np.array([PERSONAS[p].active_hours for p in persona])
    # The person's own habit shifts the persona's hours by up to about an hour.
    hour = (
        hours[:, 0] + rng.random(n) * (hours[:, 1] - hours[:, 0]) + rng.normal(0, 0.5, n_users)[user]
    ) % 24
    presence_p = np.array([PERSONAS[p].presence for p in persona])
    present = rng.random((n, 3)) < presence_p
    # A window holds at least one kind of event: without any it would not exist.
    present[~present.any(axis=1), 1] = True

    features = np.empty((n, n_features), dtype=np.float64)
    for j, name in enumerate(names):
        if name in _CONTEXT:
            continue
        model = EFFECTS[name]
        z = (
            persona_offsets[persona, j]
            + user_offsets[user, j]
            + model.stress * stress
            + model.valence * valence
            + model.arousal * arousal
            + noise[:, j]
        )
        value = _inverse(model.transform, _forward(model.transform, model.centre) + model.spread * z)
        features[:, j] = np.clip(value, model.low, model.high)
    index = {name: j for j, name in enumerate(names)}
    features[:, index["tod_sin"]] = np.sin(2 * np.pi * hour / 24)
    features[:, index["tod_cos"]] = np.cos(2 * np.pi * hour / 24)
    for m, flag in enumerate(("has_keys", "has_touch", "has_motion")):
        features[:, index[flag]] = present[:, m]
        for name in _MODALITY[flag]:
            features[~present[:, m], index[name]] = 0.0

    return SyntheticData(
        features=features.astype(np.float32),
        stress=stress.astype(np.float32),
        valence=valence.astype(np.float32),
        arousal=arousal.astype(np.float32),
        user=user,
        persona=persona,
        persona_names=tuple(p.name for p in PERSONAS),
        feature_names=names,
        feature_spec_version=str(FEATURE_SPEC_VERSION),
    )


def describe() -> dict[str, object]:
    """The generator's settings for the manifest's training-data description."""
    return {
        "generator": "models.synthetic",
        "latent": {
            "stress": "Bernoulli(persona rate + individual jitter), 1 = high stress",
            "arousal": f"clip(user baseline + {STRESS_AROUSAL_SHIFT} * stress + N(0, 0.30), -1, 1)",
            "valence": f"clip(user baseline {STRESS_VALENCE_SHIFT:+} * stress + N(0, 0.35), -1, 1)",
        },
        "personas": [
            {
                "name": p.name,
                "stress_rate": p.stress_rate,
                "valence0": p.valence0,
                "arousal0": p.arousal0,
                "active_hours": list(p.active_hours),
                "presence_keys_touch_motion": list(p.presence),
                "offsets_sd": dict(p.offsets),
            }
            for p in PERSONAS
        ],
        "effects_sd_per_unit": {
            name: {
                "stress": m.stress,
                "valence": m.valence,
                "arousal": m.arousal,
                "source": list(m.source),
            }
            for name, m in EFFECTS.items()
        },
    }
