"""MODEL_CARD.md: what a person needs to know before shipping one of the exported files."""

from __future__ import annotations

from pathlib import Path

from pipeline.verify import FLOAT16_MIN_AGREEMENT, FLOAT32_MAX_DIFF, MAX_ACCURACY_LOSS, human_bytes

INTENDED_USE = """\
## Intended use and limits
- Reads one handwritten digit (0–9), centred by MNIST's preprocessing, from a drawing canvas or a
  clean photo of a single digit. It always answers with one of the ten digits: it cannot say
  "this is not a digit", so a letter or a scribble still gets a (confident-looking) digit.
- Trained on MNIST only: 1980s US Census Bureau employees' and high-school students' handwriting,
  scanned, white ink on black. Other writing styles (e.g. a crossed 7, a 1 with a long flag), thick
  markers, photos with shadows or several digits are outside what it saw; expect lower accuracy.
- The test-set accuracy below is MNIST's; on digits drawn with a mouse it depends on the
  preprocessing being applied exactly (pipeline/preprocess.py, web/static/preprocess.js).
- Not for decisions about people (identity, grading, forms with legal weight) without a human check.
"""


def artifact_table(manifest: dict) -> str:
    lines = [
        "| artifact | file | size | runtime | accuracy | agreement with Keras | max prob. diff | ms / image |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for artifact in manifest["artifacts"]:
        v = artifact["verification"]
        lines.append(
            f"| {artifact['id']} | `{artifact['path']}` | {human_bytes(artifact['bytes'])} | "
            f"{v['runtime']} | {v['accuracy']:.4f} | {v['agreement']:.4f} | "
            f"{v['max_abs_diff']:.1e} | {v['latency_ms_batch1']:.3f} |"
        )
    return "\n".join(lines)


def write_model_card(folder: Path, manifest: dict, evaluation: dict) -> None:
    training = manifest["training"]
    per_class = evaluation["per_class"]
    class_rows = "\n".join(
        f"| {digit} | {f['precision']:.4f} | {f['recall']:.4f} | {f['support']} |"
        for digit, f in per_class.items()
    )
    plots = "\n".join(f"![{key.replace('_', ' ')}]({path})" for key, path in manifest["plots"].items())
    versions = ", ".join(f"{name} {version}" for name, version in manifest["versions"].items())
    personal = manifest.get("personalisation")
    personal_section = (
        ""
        if not personal
        else f"""
## Personalisation
`{personal["base_model"]}` (manifest sha256 `{personal["base_manifest_sha256"][:12]}…`) taught
{personal["examples"]} examples (file sha256 `{personal["examples_sha256"][:12]}…`, per digit:
{", ".join(f"{d}: {n}" for d, n in personal["examples_per_digit"].items())}) with a
{personal["method"]["name"]}. On the person's own style, held out ({personal["style_accuracy"]["method"]},
{personal["style_accuracy"]["examples"]} examples): published {personal["style_accuracy"]["published_accuracy"]},
personal {personal["style_accuracy"]["accuracy"]}. MNIST test set: published {personal["base_test_accuracy"]:.4f},
personal {personal["test_accuracy"]:.4f}.
"""
    )
    text = f"""# Model card: `{manifest["model"]}`

{manifest["description"]}

Written by the export pipeline on {manifest["created"]} from commit `{manifest["git_commit"]}`;
`manifest.json` beside this file holds every figure below in machine-readable form.

## Input and output
- Input `image`: float32 `[batch, 28, 28]`, values 0..1, white ink on black, preprocessed the MNIST
  way ({manifest["input"]["preprocessing"]}).
- Output `probabilities`: float32 `[batch, 10]`, softmax over the digits in `labels.txt`.
- Every format below takes exactly this input, the int8 TFLite file included (float in, float out).

## Training
- Data: MNIST ({manifest["data"]["source"]}, each file checked against a pinned sha256):
  {training.get("train_images", "?")} training images, {training.get("validation_images", "?")} held out for validation, seed {training.get("seed", "?")}.
- {training.get("epochs", "?")} epochs at batch {training.get("batch_size", "?")} on {training.get("device", "?")}: {training.get("train_seconds", "?")} s.
- Software: {versions}.

{personal_section}
## Evaluation (10,000 MNIST test images)
Test accuracy **{evaluation["accuracy"]:.4f}**, loss {evaluation["loss"]:.4f}, {evaluation["errors"]} errors.

| digit | precision | recall | images |
|---|---:|---:|---:|
{class_rows}

## Every exported format, verified in its own runtime
Each artifact was run on the whole test set in the runtime that will run it and compared with the
Keras model. Tolerances: float32 formats agree on every image within {FLOAT32_MAX_DIFF:.0e}; float16
agrees on ≥ {FLOAT16_MIN_AGREEMENT:.1%} of images; every reduced-precision format loses at most
{MAX_ACCURACY_LOSS * 100:.1f} points of accuracy.

{artifact_table(manifest)}

## Plots
{plots}

{INTENDED_USE}"""
    (folder / "MODEL_CARD.md").write_text(text)
