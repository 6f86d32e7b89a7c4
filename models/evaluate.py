"""Held-out evaluation of the model's outputs (numpy only, shared by training and tests).

Metrics, each on windows of users the model never saw in training:

- ``stress_auroc``: area under the ROC curve of the stress probability against the binary label
  (ties count one half; labels that are probabilities are thresholded at 0.5);
- ``stress_brier``: mean squared error of the probability;
- ``valence_mae`` / ``arousal_mae``: mean absolute error on the [-1, 1] scale;
- int8 against float: largest and mean absolute difference per output, and the share of windows
  whose level (the privacy mechanism's k = 3 equal-width levels) is the same under both files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

LEVEL_CUTS: dict[str, tuple[float, ...]] = {
    # k = 3 equal-width levels over each output's range, as edge_sdk.privacy discretises them.
    "stress": (1 / 3, 2 / 3),
    "valence": (-1 / 3, 1 / 3),
    "arousal": (-1 / 3, 1 / 3),
}
OUTPUTS = ("stress", "valence", "arousal")


def auroc(labels: NDArray[Any], scores: NDArray[Any]) -> float:
    """Mann-Whitney AUROC with average ranks for ties; NaN when only one class is present."""
    y = np.asarray(labels, dtype=np.float64) >= 0.5
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # Average ranks over runs of equal scores.
    boundaries = np.flatnonzero(np.diff(sorted_s)) + 1
    starts = np.concatenate(([0], boundaries))
    ends = np.concatenate((boundaries, [s.size]))
    for start, end in zip(starts, ends, strict=True):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def levels(values: NDArray[Any], output: str) -> NDArray[np.int64]:
    """The level (0..k-1) of each value; a value on a cut goes to the upper level."""
    return np.searchsorted(np.asarray(LEVEL_CUTS[output]), values, side="right").astype(np.int64)


def score_metrics(
    outputs: NDArray[Any], stress: NDArray[Any], valence: NDArray[Any], arousal: NDArray[Any]
) -> dict[str, float]:
    """AUROC, Brier score and MAEs of ``(n, 3)`` outputs against the labels."""
    return {
        "n": int(outputs.shape[0]),
        "stress_rate": round(float(np.mean(np.asarray(stress) >= 0.5)), 4),
        "stress_auroc": round(auroc(stress, outputs[:, 0]), 4),
        "stress_brier": round(float(np.mean((outputs[:, 0] - stress) ** 2)), 4),
        "valence_mae": round(float(np.mean(np.abs(outputs[:, 1] - valence))), 4),
        "arousal_mae": round(float(np.mean(np.abs(outputs[:, 2] - arousal))), 4),
    }


def agreement(float_out: NDArray[Any], int8_out: NDArray[Any]) -> dict[str, float]:
    """How closely the int8 file follows the float file on the same windows."""
    result: dict[str, float] = {}
    for column, name in enumerate(OUTPUTS):
        diff = np.abs(float_out[:, column] - int8_out[:, column])
        result[f"{name}_max_abs_diff"] = round(float(diff.max()), 4)
        result[f"{name}_mean_abs_diff"] = round(float(diff.mean()), 4)
        same = levels(float_out[:, column], name) == levels(int8_out[:, column], name)
        result[f"{name}_level_agreement"] = round(float(same.mean()), 4)
    return result


def evaluate(
    float_out: NDArray[Any],
    int8_out: NDArray[Any],
    stress: NDArray[Any],
    valence: NDArray[Any],
    arousal: NDArray[Any],
    persona: NDArray[Any],
    persona_names: tuple[str, ...],
) -> dict[str, Any]:
    """The manifest's ``metrics``: overall (float and int8), agreement, and per persona (float)."""
    per_persona = {}
    for index, name in enumerate(persona_names):
        mask = np.asarray(persona) == index
        if mask.any():
            per_persona[name] = score_metrics(float_out[mask], stress[mask], valence[mask], arousal[mask])
    return {
        "held_out": score_metrics(float_out, stress, valence, arousal),
        "held_out_int8": score_metrics(int8_out, stress, valence, arousal),
        "int8_vs_float": agreement(float_out, int8_out),
        "per_persona": per_persona,
    }


REPRODUCED_KEYS = ("stress_auroc", "valence_mae", "arousal_mae")


def compare(committed: dict[str, Any], fresh: dict[str, Any], tolerance: float = 0.01) -> list[str]:
    """Differences beyond ``tolerance`` between two ``metrics`` dicts' held-out headline figures."""
    problems = []
    for section in ("held_out", "held_out_int8"):
        for key in REPRODUCED_KEYS:
            a, b = committed[section][key], fresh[section][key]
            if not abs(a - b) <= tolerance:
                problems.append(f"{section}.{key}: committed {a}, retrained {b} (±{tolerance})")
    return problems
