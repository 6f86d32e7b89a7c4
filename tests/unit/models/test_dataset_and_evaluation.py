"""The labelled-CSV reader (every refusal), the evaluation metrics, and the committed manifest's
metrics as the model card shows them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edge_sdk.features.spec import FEATURE_NAMES
from edge_sdk.inference import MANIFEST_FILE, committed_model_dir
from models.dataset import LabelledCsvError, load_labelled_csv, write_labelled_csv
from models.evaluate import agreement, auroc, compare, levels
from models.synthetic import generate

CARD = Path(__file__).resolve().parents[3] / "docs" / "model-card.md"


def test_csv_round_trip(tmp_path: Path) -> None:
    data = generate(n_users=5, windows_per_user=4, seed=2)
    write_labelled_csv(data, tmp_path / "windows.csv")
    loaded = load_labelled_csv(tmp_path / "windows.csv")
    np.testing.assert_array_equal(loaded.features, data.features)
    np.testing.assert_array_equal(loaded.stress, data.stress)
    np.testing.assert_array_equal(loaded.valence, data.valence)
    np.testing.assert_array_equal(loaded.arousal, data.arousal)
    assert np.unique(loaded.user).size == 5
    assert set(loaded.persona_names) <= {
        "steady_typist",
        "busy_commuter",
        "careful_senior",
        "night_owl_student",
        "anxious_saver",
    }


def _csv(tmp_path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path = tmp_path / "labels.csv"
    path.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


GOOD_HEADER = [*FEATURE_NAMES, "stress", "valence", "arousal"]
GOOD_ROW = ["1"] * len(FEATURE_NAMES) + ["1", "0.5", "-0.5"]


def test_csv_without_optional_columns(tmp_path: Path) -> None:
    data = load_labelled_csv(_csv(tmp_path, GOOD_HEADER, [GOOD_ROW, GOOD_ROW]))
    assert len(data) == 2 and data.persona_names == ("all",) and np.unique(data.user).size == 2


@pytest.mark.parametrize(
    ("header", "row", "message"),
    [
        (GOOD_HEADER[1:], GOOD_ROW[1:], "missing columns \\['iki_mean_ms'\\]"),
        (GOOD_HEADER, [*GOOD_ROW[:-1], "calm"], ":2: a feature or label is not a number"),
        (GOOD_HEADER, [*GOOD_ROW[:-1], "nan"], "not finite"),
        (GOOD_HEADER, [*GOOD_ROW[:-3], "2", "0", "0"], "stress=2.0 is outside"),
        (GOOD_HEADER, [*GOOD_ROW[:-2], "-1.5", "0"], "valence=-1.5 is outside"),
        (GOOD_HEADER, GOOD_ROW[:-1], "not a number"),
    ],
)
def test_bad_csv_is_refused(tmp_path: Path, header: list[str], row: list[str], message: str) -> None:
    with pytest.raises(LabelledCsvError, match=message):
        load_labelled_csv(_csv(tmp_path, header, [row]))


def test_empty_csv_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabelledCsvError, match="no data rows"):
        load_labelled_csv(_csv(tmp_path, GOOD_HEADER, []))


def test_auroc_hand_computed() -> None:
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 1.0
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.4, 0.3, 0.2, 0.1])) == 0.0
    assert auroc(np.array([0, 1]), np.array([0.5, 0.5])) == 0.5
    # pairs (pos, neg): (0.35 > 0.1) (0.35 > 0.4? no) (0.8 > both) → 3 of 4
    assert auroc(np.array([0, 1, 0, 1]), np.array([0.1, 0.35, 0.4, 0.8])) == 0.75
    assert np.isnan(auroc(np.array([1, 1]), np.array([0.1, 0.2])))


def test_levels_and_agreement() -> None:
    np.testing.assert_array_equal(levels(np.array([0.0, 1 / 3, 0.5, 0.9]), "stress"), [0, 1, 1, 2])
    a = np.array([[0.1, -0.5, 0.0], [0.5, 0.5, 0.9]])
    b = np.array([[0.1, -0.2, 0.0], [0.5, 0.5, 0.9]])
    result = agreement(a, b)
    assert result["valence_max_abs_diff"] == 0.3 and result["valence_level_agreement"] == 0.5
    assert result["stress_level_agreement"] == 1.0


def test_compare_flags_drift_beyond_the_tolerance() -> None:
    base = {"stress_auroc": 0.75, "valence_mae": 0.35, "arousal_mae": 0.31}
    committed = {"held_out": base, "held_out_int8": base}
    assert compare(committed, {"held_out": base, "held_out_int8": {**base, "valence_mae": 0.355}}) == []
    problems = compare(committed, {"held_out": {**base, "stress_auroc": 0.73}, "held_out_int8": base})
    assert len(problems) == 1 and "held_out.stress_auroc" in problems[0]


def test_model_card_shows_the_committed_metrics() -> None:
    metrics = json.loads((committed_model_dir() / MANIFEST_FILE).read_text())["metrics"]
    card = CARD.read_text(encoding="utf-8")
    for section in ("held_out", "held_out_int8", *[f"per_persona.{p}" for p in metrics["per_persona"]]):
        figures = metrics
        for key in section.split("."):
            figures = figures[key]
        row = f"{figures['stress_auroc']:.3f} | {figures['valence_mae']:.3f} | {figures['arousal_mae']:.3f}"
        assert row in card, section
    for entry in json.loads((committed_model_dir() / MANIFEST_FILE).read_text())["files"]:
        assert entry["sha256"] in card
