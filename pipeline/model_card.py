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


def confusion_table(matrix: list[list[int]], labels: list[str]) -> str:
    """The confusion matrix as a Markdown table: rows the true class, columns the predicted one."""
    lines = ["| true \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    lines += [f"| {label} | " + " | ".join(str(n) for n in row) + " |" for label, row in zip(labels, matrix)]
    return "\n".join(lines)


def write_own_model_card(folder: Path, manifest: dict, evaluation: dict) -> None:
    """MODEL_CARD.md of a model of one's own (pipeline/own_model.py): its input contract, the per-class
    figures and confusion matrix on the held-out images, every artifact's verification and what was
    left out, with the reason."""
    from pipeline.manifest import parse_labels

    names = parse_labels((folder / manifest["labels"]).read_text())
    record, data, source = manifest["input"], manifest["data"], manifest["source_model"]
    class_rows = "\n".join(
        f"| {name} | {f['precision']:.4f} | {f['recall']:.4f} | {f['support']} |"
        for name, f in zip(names, evaluation["per_class"].values())
    )
    left_out = "\n".join(
        f"- `{entry['id']}` ({entry['stage']}): {entry['reason']}" for entry in manifest.get("left_out", [])
    )
    text = f"""# Model card: `{manifest["model"]}`

{manifest["description"]}

Exported by `python -m pipeline export --keras-model` on {manifest["created"]} (commit
`{manifest["git_commit"]}`) from `{source["file"]}` (sha256 `{source["sha256"][:12]}…`), whose output is
{source["output"]}{" (a Softmax was appended: every artifact serves probabilities)" if source["output"] == "logits" else ""}.
`manifest.json` beside this file holds every figure below in machine-readable form.

## Input and output
- Input `image`: float32 `{record["shape"]}`, values {record["range"][0]:g}..{record["range"][1]:g}
  ({record["range_source"]}); prepare an image: {record["preprocessing"]}.
- Output `probabilities`: float32 `[batch, {len(names)}]` over the labels in `labels.txt`.

## Data
{data["kind"]} `{data["path"]}` ({data["images"]} images, sha256 `{data["sha256"][:12]}…`), split once
(seed {data["verification"]["seed"]}): {data["calibration"]["images"]} images calibrate the int8 variants and
are not scored; {data["verification"]["images"]} verify every artifact.

## Evaluation ({evaluation["images"]} held-out images)
Accuracy **{evaluation["accuracy"]:.4f}**, loss {evaluation["loss"]:.4f}, {evaluation["errors"]} errors.

| class | precision | recall | images |
|---|---:|---:|---:|
{class_rows}

Confusion matrix:

{confusion_table(evaluation["confusion_matrix"], names)}

## Every exported format, verified in its own runtime
Tolerances: float32 formats agree on every image within {FLOAT32_MAX_DIFF:.0e}; float16 agrees on
≥ {FLOAT16_MIN_AGREEMENT:.1%} of images; every reduced-precision format loses at most
{MAX_ACCURACY_LOSS * 100:.1f} points of accuracy.

{artifact_table(manifest)}

Not published:
{left_out or "- nothing: every format converted, ran and met its tolerance."}

## Limits
The figures are on the held-out part of the data given; they say how faithfully each file reproduces the
Keras model there, not how well the model does on images unlike them.
"""
    (folder / "MODEL_CARD.md").write_text(text)
