"""`python -m pipeline predict IMAGE [IMAGE | FOLDER ...]`: the class of each PNG or JPEG, from a published model
(the digit, for the digit models; the model's label for a model of one's own, pipeline/own_model.py).

One image: its digit and the probabilities as bars (`--json`: one JSON object). Several, or a folder
(its PNG and JPEG files, sorted by name, not its sub-folders): one line each, JSON Lines with `--json`.
An image that cannot be read (blank, not an image, too large) is refused in its own line, the others
are still read, and the exit status is 1 if any input was refused. A model that cannot be loaded is
one error for the whole command.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pipeline import image_input
from pipeline.errors import PipelineError
from pipeline.preprocess import read_image
from pipeline.runtime import Classifier, Prediction, default_models_dir

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def expand(inputs: list[str], suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[tuple[str, Path | None]]:
    """Each argument, a folder replaced by its images: (the name to print, the file; None for a folder
    that holds no image, which is refused in its own line)."""
    expanded: list[tuple[str, Path | None]] = []
    for given in inputs:
        path = Path(given)
        if not path.is_dir():
            expanded.append((given, path))  # read_image explains a missing or odd file
            continue
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        expanded += [(str(image), image) for image in images] or [(given, None)]
    return expanded


def read_one(classifier: Classifier, path: Path | None, name: str) -> Prediction:
    if path is None:
        raise PipelineError(f"Folder {name} holds no PNG or JPEG image.")
    return classifier.classify(read_image(path, classifier.image_formats))


def answer(classifier: Classifier, args, name: str, prediction: Prediction | None, reason: str | None) -> dict:
    """One input's answer as `--json` prints it: `digit` null and the `reason` for a refusal."""
    record: dict[str, object] = {"image": name, "digit": None, "label": None, "index": None, "reason": reason}
    if prediction is not None:
        record = {
            "image": name,
            # a digit model's answer is a digit; another model's is its label (and index)
            "digit": prediction.digit if classifier.mnist_recipe else None,
            "label": prediction.label,
            "index": prediction.index,
            "probabilities": [round(float(p), 6) for p in prediction.probabilities],
        }
    return {
        **record,
        "model": classifier.manifest["model"],
        "runtime": args.runtime,
        "variant": args.variant,
        "signature": classifier.signature,
    }


def print_bars(classifier: Classifier, args, name: str, prediction: Prediction) -> None:
    print(
        f"{name}: {prediction.label}  ({prediction.probabilities[prediction.digit]:.1%}, "
        f"{classifier.manifest['model']} via {args.runtime} {args.variant}; {classifier.signature})"
    )
    width = max(len(label) for label in classifier.labels)
    for label, probability in zip(classifier.labels, prediction.probabilities):
        print(f"  {label:<{width}}  {'█' * int(round(probability * 40)):<40} {probability:.4f}")


def main(args) -> int:
    model_dir = Path(args.model_dir) if args.model_dir else default_models_dir() / args.model
    classifier = Classifier(model_dir, runtime=args.runtime, variant=args.variant, public_key=args.public_key)
    # a model of one's own reads the files its data could hold (GIF and BMP too)
    suffixes = IMAGE_SUFFIXES if classifier.mnist_recipe else image_input.IMAGE_SUFFIXES
    inputs = expand(args.images, suffixes)
    single = len(args.images) == 1 and len(inputs) == 1 and inputs[0][0] == args.images[0]
    refused = 0
    for name, path in inputs:
        try:
            prediction, reason = read_one(classifier, path, name), None
        except PipelineError as exc:
            if single and not args.json:
                raise  # one image: the refusal is the command's one error line, as before
            prediction, reason = None, str(exc)
            refused += 1
        if args.json:
            print(json.dumps(answer(classifier, args, name, prediction, reason)))
        elif prediction is None:
            print(f"{name}: refused: {reason}")
        elif single:
            print_bars(classifier, args, name, prediction)
        else:
            confidence = prediction.probabilities[prediction.digit]
            print(f"{name}: {prediction.label}  ({confidence:.1%})")
        sys.stdout.flush()  # each answer as it comes, for a long folder
    return 1 if refused else 0
