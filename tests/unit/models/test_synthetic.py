"""The synthetic generator: deterministic, shaped like FEATURE_SPEC, effects in their stated
directions (measured within person, so persona and individual baselines cancel out)."""

from __future__ import annotations

import numpy as np
import pytest

from edge_sdk.features.spec import FEATURE_NAMES, FEATURE_SPEC_VERSION
from models import synthetic
from models.synthetic import EFFECTS, PERSONAS, STRESS_AROUSAL_SHIFT, STRESS_VALENCE_SHIFT, generate

TYPING = synthetic._MODALITY["has_keys"]
TOUCH = synthetic._MODALITY["has_touch"]
MOTION = synthetic._MODALITY["has_motion"]


@pytest.fixture(scope="module")
def data() -> synthetic.SyntheticData:
    return generate(n_users=300, windows_per_user=80, seed=3)


def test_same_seed_same_data() -> None:
    a, b = generate(20, 10, seed=11), generate(20, 10, seed=11)
    for field in ("features", "stress", "valence", "arousal", "user", "persona"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_other_seed_other_data() -> None:
    assert not np.array_equal(generate(20, 10, seed=11).features, generate(20, 10, seed=12).features)


def test_columns_follow_the_feature_spec(data: synthetic.SyntheticData) -> None:
    assert data.feature_names == FEATURE_NAMES
    assert data.feature_spec_version == FEATURE_SPEC_VERSION
    assert data.features.shape == (300 * 80, len(FEATURE_NAMES))
    assert data.features.dtype == np.float32
    assert set(EFFECTS) == set(FEATURE_NAMES)


def test_a_spec_the_generator_does_not_cover_is_refused() -> None:
    with pytest.raises(ValueError, match="missing \\['new_feature'\\]"):
        synthetic.check_effects((*FEATURE_NAMES, "new_feature"))


def test_values_are_finite_and_in_range(data: synthetic.SyntheticData) -> None:
    assert np.all(np.isfinite(data.features))
    assert set(np.unique(data.stress)) == {0.0, 1.0}
    assert data.valence.min() >= -1 and data.valence.max() <= 1
    assert data.arousal.min() >= -1 and data.arousal.max() <= 1
    for j, name in enumerate(FEATURE_NAMES):
        present = data.features[:, j] != 0  # 0 is the spec's value for an absent modality
        assert data.features[present, j].min() >= EFFECTS[name].low, name
        assert data.features[:, j].max() <= EFFECTS[name].high, name
    index = {n: j for j, n in enumerate(FEATURE_NAMES)}
    radius = data.features[:, index["tod_sin"]] ** 2 + data.features[:, index["tod_cos"]] ** 2
    np.testing.assert_allclose(radius, 1.0, atol=1e-5)


def test_absent_modalities_are_zero_like_the_feature_extractor_makes_them(
    data: synthetic.SyntheticData,
) -> None:
    index = {n: j for j, n in enumerate(FEATURE_NAMES)}
    flags = data.features[:, [index["has_keys"], index["has_touch"], index["has_motion"]]]
    assert set(np.unique(flags)) == {0.0, 1.0}
    assert np.all(flags.sum(axis=1) >= 1)
    for flag, names in synthetic._MODALITY.items():
        absent = data.features[:, index[flag]] == 0
        assert 0 < absent.sum() < len(data)
        assert np.all(data.features[np.ix_(absent, [index[n] for n in names])] == 0)


def _within_user_difference(data: synthetic.SyntheticData, j: int) -> float:
    """Mean over users of (mean under stress - mean when calm) on windows where the feature exists,
    in units of the feature's pooled within-user SD."""
    name = FEATURE_NAMES[j]
    flag = next((f for f, names in synthetic._MODALITY.items() if name in names), None)
    present = (
        np.ones(len(data), dtype=bool) if flag is None else data.features[:, FEATURE_NAMES.index(flag)] == 1
    )
    diffs, sds = [], []
    for user in np.unique(data.user):
        rows = (data.user == user) & present
        x, s = data.features[rows, j], data.stress[rows]
        if (s == 1).sum() >= 3 and (s == 0).sum() >= 3:
            diffs.append(x[s == 1].mean() - x[s == 0].mean())
            sds.append(x[s == 0].std())
    return float(np.mean(diffs) / np.mean(sds))


@pytest.mark.parametrize("name", [n for n in FEATURE_NAMES if n in (*TYPING, *TOUCH, *MOTION)])
def test_stress_moves_each_feature_in_its_stated_direction(data: synthetic.SyntheticData, name: str) -> None:
    model = EFFECTS[name]
    # Stress also raises arousal and lowers valence, so a feature's total stress effect includes those.
    total = model.stress + STRESS_AROUSAL_SHIFT * model.arousal + STRESS_VALENCE_SHIFT * model.valence
    measured = _within_user_difference(data, FEATURE_NAMES.index(name))
    if abs(total) >= 0.1:
        assert np.sign(measured) == np.sign(total), (name, total, measured)
        assert abs(measured) == pytest.approx(abs(total), abs=0.12)
    else:
        assert abs(measured) < 0.12


def test_context_features_carry_no_stress_signal(data: synthetic.SyntheticData) -> None:
    for name in ("tod_sin", "tod_cos", "session_length_s"):
        assert abs(_within_user_difference(data, FEATURE_NAMES.index(name))) < 0.06, name


def test_arousal_raises_motion_jitter_and_swipe_speed_within_person(data: synthetic.SyntheticData) -> None:
    for name in ("motion_jitter_ms2", "swipe_speed_px_s"):
        j = FEATURE_NAMES.index(name)
        calm = data.stress == 0
        present = data.features[:, j] > 0
        x = np.log(data.features[calm & present, j])
        a = data.arousal[calm & present]
        u = data.user[calm & present]
        # Remove each user's mean so only within-person variation remains.
        means_x = {k: x[u == k].mean() for k in np.unique(u)}
        means_a = {k: a[u == k].mean() for k in np.unique(u)}
        dx = x - np.array([means_x[k] for k in u])
        da = a - np.array([means_a[k] for k in u])
        assert np.corrcoef(dx, da)[0, 1] > 0.05, name


def test_personas_differ_in_baseline(data: synthetic.SyntheticData) -> None:
    j = FEATURE_NAMES.index("iki_mean_ms")
    typing = data.features[:, FEATURE_NAMES.index("has_keys")] == 1
    medians = {
        p.name: np.median(data.features[(data.persona == i) & typing, j]) for i, p in enumerate(PERSONAS)
    }
    assert medians["careful_senior"] > medians["steady_typist"] * 1.15
    rates = {p.name: data.stress[data.persona == i].mean() for i, p in enumerate(PERSONAS)}
    assert rates["anxious_saver"] > rates["steady_typist"] + 0.2


def test_split_by_user_is_disjoint_and_deterministic(data: synthetic.SyntheticData) -> None:
    train, held = data.split_by_user(0.25, seed=5)
    assert len(train) + len(held) == len(data)
    assert not set(np.unique(train.user)) & set(np.unique(held.user))
    assert np.unique(held.user).size == 75
    again, _ = data.split_by_user(0.25, seed=5)
    np.testing.assert_array_equal(train.user, again.user)


def test_description_lists_every_effect_with_its_source() -> None:
    description = synthetic.describe()
    effects = description["effects_sd_per_unit"]
    assert isinstance(effects, dict) and set(effects) == set(FEATURE_NAMES)
    sources = {s for e in effects.values() for s in e["source"]}
    assert sources <= {"assumed", "GOEL2020", "LEE2015", "KEYSTRESS2021"}
    # Every effect is at least partly assumed: no source read here gives phone-specific sizes.
    assert all("assumed" in e["source"] for e in effects.values())
