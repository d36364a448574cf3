"""`python -m pipeline predict IMAGE`: the digit in a PNG or JPEG, from a published model."""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.preprocess import read_image
from pipeline.runtime import Classifier, default_models_dir


def main(args) -> int:
    model_dir = Path(args.model_dir) if args.model_dir else default_models_dir() / args.model
    classifier = Classifier(model_dir, runtime=args.runtime, variant=args.variant, public_key=args.public_key)
    prediction = classifier.classify(read_image(args.image))
    probabilities = [round(float(p), 6) for p in prediction.probabilities]
    if args.json:
        print(
            json.dumps(
                {
                    "digit": prediction.digit,
                    "probabilities": probabilities,
                    "model": classifier.manifest["model"],
                    "runtime": args.runtime,
                    "variant": args.variant,
                    "signature": classifier.signature,
                }
            )
        )
        return 0
    print(
        f"{args.image}: {prediction.label}  ({prediction.probabilities[prediction.digit]:.1%}, "
        f"{classifier.manifest['model']} via {args.runtime} {args.variant}; {classifier.signature})"
    )
    for label, probability in zip(classifier.labels, prediction.probabilities):
        print(f"  {label}  {'█' * int(round(probability * 40)):<40} {probability:.4f}")
    return 0
