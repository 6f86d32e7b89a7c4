"""Train the emotion model, export it to float and int8 ``.tflite``, and write its manifest.

Run with ``make model`` (which creates the ``.venv-train`` environment with the ``train`` extra),
or ``.venv-train/bin/python -m models.train [--csv labelled.csv] [--out DIR] [--compare-to FILE]``.

Steps: draw the synthetic data set from the seed (or read ``--csv``), split users into training and
held-out, fit the normalisation on training windows, fit a small Keras MLP, convert it with
``TFLiteConverter.from_keras_model`` (a Keras 3 model wrapped in a ``tf.Module`` converts to a file
without weights), check that both files reproduce the Keras outputs on a probe batch, evaluate both
files on the held-out users, and write the files and ``manifest.json``.

TensorFlow is seeded and runs deterministic single-threaded ops, but its training is not
bit-reproducible across machines or versions: retraining reproduces the held-out metrics within
±0.01 (``--compare-to`` checks it), not the bytes of the files.

This module is the only one in the project that imports TensorFlow.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
from numpy.typing import NDArray

from edge_sdk.inference.manifest import (
    INPUT_NAME,
    MANIFEST_FORMAT,
    OUTPUT_NAMES,
    SIGNATURE_KEY,
    Manifest,
    ModelFile,
    Normalisation,
    OutputSpec,
    Probe,
    TensorSpec,
    encode_manifest,
    sha256_hex,
)
from models import evaluate, synthetic
from models.dataset import load_labelled_csv
from models.synthetic import SyntheticData

MODEL_VERSION = "emotion-v1.0.0"
FILES = {"float": "emotion-v1.tflite", "int8": "emotion-v1-int8.tflite"}
PROBE_ATOL = {"float": 1e-4, "int8": 0.15}
"""Float must match Keras to rounding; int8 trades a little accuracy for a 4x smaller model."""
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "edge_sdk" / "inference" / "artifacts"
"""Where the SDK loads its model from (package data of ``edge_sdk``): training code stays out of a phone."""

SEED = 20240601
N_USERS = 600
WINDOWS_PER_USER = 60
HELD_OUT_FRACTION = 0.25
EPOCHS = 40
BATCH_SIZE = 256
LEARNING_RATE = 1e-3
HIDDEN = (32, 16)
PROBE_ROWS = 16
REPRESENTATIVE_ROWS = 1000

OUTPUT_MEANINGS = (
    OutputSpec(name="stress", low=0.0, high=1.0, meaning="probability that the window is high-stress"),
    OutputSpec(name="valence", low=-1.0, high=1.0, meaning="unpleasant (-1) to pleasant (+1)"),
    OutputSpec(name="arousal", low=-1.0, high=1.0, meaning="calm (-1) to activated (+1)"),
)


def _tensorflow() -> tuple[Any, Any]:
    """TensorFlow and Keras, imported only here (typed as Any: they ship no usable stubs)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # type: ignore[import-not-found,import-untyped,unused-ignore]
    import tensorflow as tf  # type: ignore[import-not-found,import-untyped,unused-ignore]

    return tf, keras


def normalisation(features: NDArray[np.float32]) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-feature mean and std of the training windows; a constant feature gets std 1."""
    mean = features.astype(np.float64).mean(axis=0)
    std = features.astype(np.float64).std(axis=0)
    std = np.where(std > 1e-6, std, 1.0)
    return mean.astype(np.float32), std.astype(np.float32)


def normalise(features: NDArray[np.float32], mean: NDArray[np.float32], std: NDArray[np.float32]) -> Any:
    # Exactly the SDK's arithmetic (edge_sdk.inference.loader.EmotionModel), so probe outputs match.
    inv_std = (1.0 / std.astype(np.float64)).astype(np.float32)
    return ((features.astype(np.float32) - mean) * inv_std).astype(np.float32)


def build_model(keras: Any, n_features: int) -> Any:
    inputs = keras.Input(shape=(n_features,), name=INPUT_NAME)
    hidden = inputs
    for i, units in enumerate(HIDDEN):
        hidden = keras.layers.Dense(units, activation="relu", name=f"hidden_{i}")(hidden)
    outputs = {
        "stress": keras.layers.Dense(1, activation="sigmoid", name="stress")(hidden),
        "valence": keras.layers.Dense(1, activation="tanh", name="valence")(hidden),
        "arousal": keras.layers.Dense(1, activation="tanh", name="arousal")(hidden),
    }
    model = keras.Model(inputs=inputs, outputs=outputs, name="emotion")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=LEARNING_RATE),
        loss={"stress": "binary_crossentropy", "valence": "mse", "arousal": "mse"},
    )
    return model


def keras_outputs(model: Any, x: NDArray[np.float32]) -> NDArray[np.float32]:
    raw = model.predict(x, batch_size=4096, verbose=0)
    return np.concatenate([np.asarray(raw[name]).reshape(-1, 1) for name in OUTPUT_NAMES], axis=1)


def convert(tf: Any, model: Any, representative: NDArray[np.float32] | None) -> bytes:
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if representative is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]

        def rows() -> Any:
            for i in range(representative.shape[0]):
                yield [representative[i : i + 1]]

        converter.representative_dataset = rows
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return bytes(converter.convert())


class TfliteRunner:
    """Runs an exported file with TensorFlow's own interpreter, quantising int8 I/O like the SDK."""

    def __init__(self, tf: Any, content: bytes) -> None:
        interpreter = tf.lite.Interpreter(model_content=content, num_threads=1)
        self.runner = interpreter.get_signature_runner(SIGNATURE_KEY)
        self.inputs = self.runner.get_input_details()
        self.outputs = self.runner.get_output_details()

    def specs(self) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
        def spec(name: str, d: dict[str, Any]) -> TensorSpec:
            return TensorSpec(
                name=name, shape=tuple(int(v) for v in d["shape_signature"]), dtype=np.dtype(d["dtype"]).name
            )

        return (
            tuple(spec(n, d) for n, d in self.inputs.items()),
            tuple(spec(n, self.outputs[n]) for n in OUTPUT_NAMES),
        )

    def __call__(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        (name, detail), *_ = self.inputs.items()
        results = []
        for start in range(0, x.shape[0], 256):
            chunk = x[start : start + 256]
            if np.dtype(detail["dtype"]) != np.float32:
                scale, zero = detail["quantization"]
                chunk = np.clip(np.rint(chunk / np.float32(scale)) + zero, -128, 127).astype(np.int8)
            raw = self.runner(**{name: chunk})
            columns = []
            for out_name in OUTPUT_NAMES:
                d = self.outputs[out_name]
                values = raw[out_name].astype(np.float32)
                if np.dtype(d["dtype"]) != np.float32:
                    scale, zero = d["quantization"]
                    values = (values - np.float32(zero)) * np.float32(scale)
                columns.append(values.reshape(-1, 1))
            results.append(np.concatenate(columns, axis=1))
        combined: NDArray[np.float32] = np.concatenate(results, axis=0).astype(np.float32)
        return combined


def probe_rows(held_out: SyntheticData) -> NDArray[np.int64]:
    """A fixed, spread-out probe: rows from each persona and both stress classes."""
    rng = np.random.default_rng(SEED)
    return np.sort(rng.choice(len(held_out), size=min(PROBE_ROWS, len(held_out)), replace=False))


def train(data: SyntheticData, out: Path, description: dict[str, Any]) -> Manifest:
    tf, keras = _tensorflow()
    # Seeds and deterministic ops, one thread: as reproducible as TensorFlow gets on one machine.
    keras.utils.set_random_seed(SEED)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    training, held_out = data.split_by_user(HELD_OUT_FRACTION, SEED)
    mean, std = normalisation(training.features)
    x_train = normalise(training.features, mean, std)
    x_held = normalise(held_out.features, mean, std)

    model = build_model(keras, x_train.shape[1])
    model.fit(
        x_train,
        {
            "stress": training.stress.reshape(-1, 1),
            "valence": training.valence.reshape(-1, 1),
            "arousal": training.arousal.reshape(-1, 1),
        },
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        shuffle=True,
        verbose=0,
    )

    representative = x_train[np.random.default_rng(SEED).choice(len(x_train), REPRESENTATIVE_ROWS, False)]
    contents = {"float": convert(tf, model, None), "int8": convert(tf, model, representative)}
    runners = {variant: TfliteRunner(tf, content) for variant, content in contents.items()}

    rows = probe_rows(held_out)
    probe_raw = held_out.features[rows]
    reference = keras_outputs(model, normalise(probe_raw, mean, std))
    for variant, runner in runners.items():
        error = float(np.max(np.abs(runner(normalise(probe_raw, mean, std)) - reference)))
        if not error <= PROBE_ATOL[variant]:
            raise SystemExit(f"the {variant} file does not reproduce Keras: probe error {error}")

    outputs = {variant: runner(x_held) for variant, runner in runners.items()}
    metrics = evaluate.evaluate(
        outputs["float"],
        outputs["int8"],
        held_out.stress,
        held_out.valence,
        held_out.arousal,
        held_out.persona,
        held_out.persona_names,
    )
    metrics["keras_vs_float_max_abs_diff"] = round(
        float(np.max(np.abs(keras_outputs(model, x_held) - outputs["float"]))), 7
    )

    files = []
    for variant, content in contents.items():
        inputs, outputs_spec = runners[variant].specs()
        files.append(
            ModelFile(
                variant=variant,
                path=FILES[variant],
                sha256=sha256_hex(content),
                size_bytes=len(content),
                inputs=inputs,
                outputs=outputs_spec,
                probe_atol=PROBE_ATOL[variant],
            )
        )
    description = {
        **description,
        "split": {
            "held_out_fraction_of_users": HELD_OUT_FRACTION,
            "training_windows": len(training),
            "held_out_windows": len(held_out),
            "training_users": int(np.unique(training.user).size),
            "held_out_users": int(np.unique(held_out.user).size),
        },
        "training": {
            "framework": f"tensorflow {tf.__version__}, keras {keras.__version__}",
            "architecture": f"Dense{list(HIDDEN)} relu -> stress sigmoid, valence tanh, arousal tanh",
            "loss": "binary cross-entropy (stress) + MSE (valence) + MSE (arousal)",
            "optimizer": f"Adam lr={LEARNING_RATE}",
            "epochs": EPOCHS,
            "batch_size": BATCH_SIZE,
            "seed": SEED,
            "int8": f"full-integer, int8 I/O, {REPRESENTATIVE_ROWS} representative training windows",
        },
    }
    manifest = Manifest(
        format=MANIFEST_FORMAT,
        model_version=MODEL_VERSION,
        feature_spec_version=data.feature_spec_version,
        feature_names=data.feature_names,
        normalisation=Normalisation(mean=tuple(float(v) for v in mean), std=tuple(float(v) for v in std)),
        outputs=OUTPUT_MEANINGS,
        files=tuple(files),
        probe=Probe(
            inputs=tuple(tuple(float(v) for v in row) for row in probe_raw),
            outputs=tuple(tuple(float(v) for v in row) for row in reference),
        ),
        metrics=metrics,
        training_data=description,
    )
    out.mkdir(parents=True, exist_ok=True)
    for variant, content in contents.items():
        (out / FILES[variant]).write_bytes(content)
    (out / "manifest.json").write_bytes(encode_manifest(manifest))
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--csv", type=Path, help="train on this labelled CSV instead of synthetic data")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder to write the model into")
    parser.add_argument(
        "--compare-to",
        type=Path,
        help="a committed manifest.json: exit 1 if the retrained held-out metrics differ by more than 0.01",
    )
    args = parser.parse_args(argv)

    committed = None
    if args.compare_to is not None:
        committed = msgspec.json.decode(args.compare_to.read_bytes())["metrics"]

    if args.csv is not None:
        data = load_labelled_csv(args.csv)
        description: dict[str, Any] = {"source": "labelled CSV", "file": args.csv.name, "windows": len(data)}
    else:
        data = synthetic.generate(n_users=N_USERS, windows_per_user=WINDOWS_PER_USER, seed=SEED)
        description = {
            "source": "synthetic (models/synthetic.py); not real people",
            "seed": SEED,
            "users": N_USERS,
            "windows_per_user": WINDOWS_PER_USER,
            **synthetic.describe(),
        }

    args.out.mkdir(parents=True, exist_ok=True)
    # Written to a scratch folder beside --out first (same file system, so the moves are atomic
    # renames): a failed run never leaves half a model in --out.
    with tempfile.TemporaryDirectory(dir=args.out.parent, prefix=".train-") as scratch:
        manifest = train(data, Path(scratch), description)
        for name in (*FILES.values(), "manifest.json"):
            os.replace(Path(scratch) / name, args.out / name)

    held = manifest.metrics["held_out"]
    print(
        f"{manifest.model_version}: held-out stress AUROC {held['stress_auroc']}, "
        f"valence MAE {held['valence_mae']}, arousal MAE {held['arousal_mae']}"
    )
    for entry in manifest.files:
        print(f"  {entry.path}  {entry.size_bytes} B  sha256 {entry.sha256}")
    if committed is not None:
        problems = evaluate.compare(committed, manifest.metrics)
        if problems:
            print("retrained metrics differ from the committed ones:\n  " + "\n  ".join(problems))
            return 1
        print("retrained held-out metrics reproduce the committed ones within ±0.01")
    return 0


if __name__ == "__main__":
    sys.exit(main())
