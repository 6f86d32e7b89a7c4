"""Labelled data sets for training: the synthetic generator's, or a CSV of real labelled windows.

CSV format (UTF-8, comma-separated, one header row, one row per activity window):

- one column per feature of ``FEATURE_SPEC``, named exactly as the spec names it (any column order;
  values in the spec's units, computed by ``edge_sdk.features`` so training sees what the phone sees);
- ``stress``: 1 for a high-stress window, 0 otherwise (a probability in [0, 1] is accepted);
- ``valence``: unpleasant -1 … pleasant +1; ``arousal``: calm -1 … activated +1;
- optional ``user``: an identifier of the person (held-out users are disjoint from training users;
  without it each row counts as its own user); optional ``persona``: any group label, reported per
  group in the evaluation (default ``all``).

Other columns are ignored. A file missing a column or holding a non-finite or out-of-range value is
refused with :class:`LabelledCsvError` naming the line.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from edge_sdk.features.spec import FEATURE_SPEC_VERSION
from models.synthetic import SyntheticData, feature_names

LABEL_COLUMNS = ("stress", "valence", "arousal")
_RANGES = {"stress": (0.0, 1.0), "valence": (-1.0, 1.0), "arousal": (-1.0, 1.0)}


class LabelledCsvError(ValueError):
    """The labelled CSV cannot be used for training; the message names the column or line."""


def load_labelled_csv(path: str | Path) -> SyntheticData:
    """Read a labelled CSV into the same shape the synthetic generator produces."""
    names = feature_names()
    with Path(path).open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        missing = [c for c in (*names, *LABEL_COLUMNS) if c not in header]
        if missing:
            raise LabelledCsvError(f"{path}: missing columns {missing}")
        rows: list[list[float]] = []
        users: list[str] = []
        personas: list[str] = []
        for line, record in enumerate(reader, start=2):
            try:
                values = [float(record[c]) for c in (*names, *LABEL_COLUMNS)]
            except (TypeError, ValueError):
                raise LabelledCsvError(f"{path}:{line}: a feature or label is not a number") from None
            if not all(np.isfinite(values)):
                raise LabelledCsvError(f"{path}:{line}: a feature or label is not finite")
            for column, value in zip(LABEL_COLUMNS, values[len(names) :], strict=True):
                low, high = _RANGES[column]
                if not low <= value <= high:
                    raise LabelledCsvError(f"{path}:{line}: {column}={value} is outside [{low}, {high}]")
            rows.append(values)
            users.append(record.get("user") or f"row-{line}")
            personas.append(record.get("persona") or "all")
    if not rows:
        raise LabelledCsvError(f"{path}: no data rows")
    data = np.asarray(rows, dtype=np.float64)
    user_ids = {u: i for i, u in enumerate(dict.fromkeys(users))}
    persona_names = tuple(dict.fromkeys(personas))
    persona_ids = {p: i for i, p in enumerate(persona_names)}
    n = len(names)
    return SyntheticData(
        features=data[:, :n].astype(np.float32),
        stress=data[:, n].astype(np.float32),
        valence=data[:, n + 1].astype(np.float32),
        arousal=data[:, n + 2].astype(np.float32),
        user=np.array([user_ids[u] for u in users], dtype=np.int64),
        persona=np.array([persona_ids[p] for p in personas], dtype=np.int64),
        persona_names=persona_names,
        feature_names=names,
        feature_spec_version=str(FEATURE_SPEC_VERSION),
    )


def write_labelled_csv(data: SyntheticData, path: str | Path) -> None:
    """Write ``data`` in the CSV format above (used to test the reader and as a template)."""
    with Path(path).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*data.feature_names, *LABEL_COLUMNS, "user", "persona"])
        for i in range(len(data)):
            writer.writerow(
                [
                    *(repr(float(v)) for v in data.features[i]),
                    repr(float(data.stress[i])),
                    repr(float(data.valence[i])),
                    repr(float(data.arousal[i])),
                    f"u{int(data.user[i])}",
                    data.persona_names[int(data.persona[i])],
                ]
            )
