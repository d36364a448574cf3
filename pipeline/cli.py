"""`python -m pipeline <command>`: train, evaluate, export, run, predict, site, personalize, bench.

Heavy modules are imported inside each command, so `--help` and the LiteRT path of `predict` start
fast. A PipelineError is printed as one sentence with a non-zero exit, never as a traceback. Output
whose reader stops early (`predict x.png | head -1`) ends quietly with exit status 0, as a finished run.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
from typing import Any

from pipeline.errors import PipelineError
from pipeline.models import MODELS
from pipeline.runtime import RUNTIMES, VARIANTS  # light: the format modules import nothing heavy
from pipeline.train import STRATEGIES  # a light import: TensorFlow loads inside train()

DEFAULT_BUILD_DIR = "build"
SIGNING_KEY_HELP = (
    "sign each published folder (model.sig) with this elliptic-curve private key "
    "(default: $MNIST_SIGNING_KEY; none: published unsigned)"
)
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

    result = train(
        args.model,
        out_dir=args.out,
        epochs=args.epochs,
        seed=args.seed,
        data_dir=args.data_dir,
        train_subset=args.train_subset,
        strategy=args.strategy,
        cpu_devices=args.cpu_devices,
        mixed_precision=args.mixed_precision,
        validation_fraction=args.validation_fraction,
    )
    print(
        f"Trained '{args.model}' in {result.seconds:.1f} s on {result.device}; "
        + (f"wrote {result.model_path}." if result.wrote else "the chief worker writes the model.")
    )
    return 0


def cmd_evaluate(args) -> int:
    from pathlib import Path

    from pipeline.evaluate import evaluate

    trained = [name for name in MODELS if (Path(args.build_dir) / name / "model.keras").is_file()]
    if not (args.model or trained):
        raise PipelineError(f"No trained model in {args.build_dir}/: run `python -m pipeline train` first.")
    for name in args.model or trained:
        evaluate(name, build_dir=args.build_dir, data_dir=args.data_dir)
    return 0


def cmd_export(args) -> int:
    from pipeline.export import export
    from pipeline.signing import signing_key

    if args.keras_model is not None:
        return export_own_model(args)
    if args.model is None:
        raise PipelineError("Give --model (a model this project trains) or --keras-model FILE.keras (your own).")
    export(
        args.model,
        build_dir=args.build_dir,
        out_dir=args.out,
        data_dir=args.data_dir,
        signing_key=signing_key(args.signing_key),
    )
    return 0


def export_own_model(args) -> int:
    """`export --keras-model FILE --data DATA --name NAME`: pipeline/own_model.py."""
    from pipeline.own_model import export_model
    from pipeline.signing import signing_key

    missing = [flag for flag, value in (("--data", args.data), ("--name", args.name)) if value is None]
    if missing:
        raise PipelineError(f"--keras-model needs {' and '.join(missing)} too.")
    export_model(
        args.keras_model,
        args.data,
        args.name,
        out_dir=args.out,
        input_range=args.input_range,
        formats=args.formats.split(",") if args.formats else None,
        signing_key=signing_key(args.signing_key),
    )
    return 0


def cmd_run(args) -> int:
    from pipeline.publish import check_writable
    from pipeline.run import run
    from pipeline.signing import signing_key

    check_writable(args.out)  # before training, not after it
    key = signing_key(args.signing_key)  # a bad key too
    return run(
        args.model or list(MODELS),
        epochs=args.epochs,
        out_dir=args.out,
        build_dir=args.build_dir,
        seed=args.seed,
        events_path=args.events,
        signing_key=key,
        data_dir=args.data_dir,
    )


def cmd_predict(args) -> int:
    from pipeline.predict import main as predict_main

    return predict_main(args)


def cmd_site(args) -> int:
    from pipeline.manifest import read_index
    from pipeline.site import build_site

    path = build_site(args.out, models_dir=args.models_dir)
    without = sorted(set(read_index(args.models_dir)[0]) - set(read_index(path / "models")[0]))
    if without:
        print(f"Not on the page (no TF.js artifact): {', '.join(without)}.")
    print(f"Wrote the static site to {path}. Serve it with: python -m http.server -d {path} 8000")
    return 0


def cmd_personalize(args) -> int:
    from pipeline.personalize import personalize
    from pipeline.signing import signing_key

    manifest = personalize(
        args.examples, model_name=args.model, out_dir=args.out, signing_key=signing_key(args.signing_key)
    )
    figures = manifest["personalisation"]
    print(
        f"Published {args.out}/{manifest['model']}: MNIST test accuracy "
        f"{figures['base_test_accuracy']:.4f} → {figures['test_accuracy']:.4f}."
    )
    return 0


def cmd_bench(args) -> int:
    from pipeline.bench.run import main as bench_main

    return bench_main(args)


class SubcommandParser(argparse.ArgumentParser):
    """Every command also takes --verbose after its name (`train --verbose`), and the ones that
    read MNIST take --data-dir."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show TensorFlow's own log output and tracebacks",
        )


def add_data_dir(parser) -> None:
    parser.add_argument(
        "--data-dir", help="folder holding the four MNIST IDX files (else $MNIST_DIR, the cache, or npm)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pipeline",
        description="Train MNIST models with Keras, export them to Keras, SavedModel, TF.js, "
        "TFLite and ONNX, and prove every export gives the Keras model's answers.",
    )
    parser.add_argument("--verbose", action="store_true", help="show TensorFlow's own log output")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=SubcommandParser
    )
    model_choice: dict[str, Any] = dict(choices=list(MODELS), help="which model (default: %(default)s)")

    train = commands.add_parser("train", help="train one model and save it as .keras")
    train.add_argument("--model", required=True, choices=list(MODELS), help="which model")
    train.add_argument("--epochs", type=positive_int, help="override the recipe's epochs")
    train.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    train.add_argument("--out", default=DEFAULT_BUILD_DIR, help="build folder (default: build)")
    train.add_argument(
        "--train-subset",
        type=positive_int,
        metavar="N",
        help="train on the first N training images only (quick experiments)",
    )
    train.add_argument(
        "--validation-fraction",
        type=fraction,
        metavar="F",
        help="share of the training set held out for validation (default: the "
        "recipe's, 0.1; 0 trains on all 60,000 as the article does)",
    )
    train.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="tf.distribute strategy: mirrored = all local GPUs; multi-worker = the "
        "hosts in $TF_CONFIG (default: one device)",
    )
    train.add_argument(
        "--cpu-devices",
        type=positive_int,
        default=1,
        metavar="N",
        help="split the CPU into N logical devices (try --strategy mirrored without GPUs)",
    )
    train.add_argument(
        "--mixed-precision",
        action="store_true",
        help="compute in float16 on GPUs (mixed_float16); the output stays float32",
    )
    add_data_dir(train)
    train.set_defaults(handler=cmd_train)

    evaluate = commands.add_parser("evaluate", help="score trained models on the MNIST test set")
    evaluate.add_argument(
        "--model",
        action="append",
        choices=list(MODELS),
        help="model to evaluate; repeat for several (default: every trained one)",
    )
    evaluate.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="where `train` wrote")
    add_data_dir(evaluate)
    evaluate.set_defaults(handler=cmd_evaluate)

    export = commands.add_parser(
        "export",
        help="export a trained model, or your own Keras image classifier, to every format, verify, publish",
    )
    export.add_argument("--model", choices=list(MODELS), help="which of this project's trained models")
    export.add_argument("--keras-model", metavar="FILE.keras", help="your own Keras 3 image classifier")
    export.add_argument(
        "--data",
        metavar="DATA",
        help="with --keras-model: its labelled images, a folder of class folders (as Keras's "
        "image_dataset_from_directory reads) or an .npz with x, y and optionally labels",
    )
    export.add_argument("--name", help="with --keras-model: the published folder's name")
    export.add_argument(
        "--input-range",
        choices=["0..1", "0..255", "-1..1"],
        help="with --keras-model: the pixel range the model takes (default: 0..255 after a leading "
        "Rescaling layer, else 0..1)",
    )
    export.add_argument(
        "--formats",
        metavar="F,F",
        help="with --keras-model: comma-separated subset of keras,savedmodel,tfjs,tflite,onnx (default: all)",
    )
    export.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="where `train` wrote")
    export.add_argument("--out", default=DEFAULT_EXPORT_DIR, help="publish folder (default: exported_models)")
    export.add_argument("--signing-key", metavar="KEY.pem", help=SIGNING_KEY_HELP)
    add_data_dir(export)
    export.set_defaults(handler=cmd_export)

    run = commands.add_parser("run", help="train → evaluate → export → verify → publish")
    run.add_argument(
        "--model", action="append", choices=list(MODELS), help="model to build; repeat for several (default: all)"
    )
    run.add_argument("--epochs", type=positive_int, help="override every recipe's epochs")
    run.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    run.add_argument("--build-dir", default=DEFAULT_BUILD_DIR, help="scratch folder (default: build)")
    run.add_argument("--out", default=DEFAULT_EXPORT_DIR, help="publish folder (default: exported_models)")
    run.add_argument(
        "--events",
        metavar="FILE",
        help="append one JSON object per line per stage start and end, artifact and summary (for scripts)",
    )
    run.add_argument("--signing-key", metavar="KEY.pem", help=SIGNING_KEY_HELP)
    add_data_dir(run)
    run.set_defaults(handler=cmd_run)

    predict = commands.add_parser("predict", help="read the digit in PNG or JPEG images")
    predict.add_argument(
        "images",
        nargs="+",
        metavar="IMAGE",
        help="PNG or JPEG, any size, dark-on-light or light-on-dark; or a folder of them (one line each; "
        "exit status 1 if any was refused)",
    )
    predict.add_argument(
        "--model",
        default="cnn",
        help="a published model's name: cnn (default), article, or one exported with --keras-model",
    )
    predict.add_argument("--model-dir", help="a published model folder (default: exported_models/MODEL)")
    predict.add_argument(
        "--runtime",
        choices=list(RUNTIMES),
        default="litert",
        help="litert (default) runs the .tflite, onnx the .onnx, neither imports "
        "TensorFlow; keras runs the .keras file",
    )
    predict.add_argument(
        "--variant",
        choices=list(VARIANTS),
        default="float32",
        help="which artifact of the runtime (default: float32): "
        + "; ".join(f"{name} {'/'.join(variants)}" for name, (_, variants) in RUNTIMES.items()),
    )
    predict.add_argument(
        "--public-key",
        metavar="KEY.pub",
        help="verify the model folder's signature (model.sig) with this public key "
        "before reading any of it (default: $MNIST_PUBLIC_KEY; none: no check)",
    )
    predict.add_argument(
        "--json", action="store_true", help="one JSON object per image (JSON Lines); a refusal has digit null"
    )
    predict.set_defaults(handler=cmd_predict)

    site = commands.add_parser("site", help="write the static TF.js page with its models to a folder")
    site.add_argument("--out", required=True, help="folder to write (replaced whole)")
    site.add_argument("--models-dir", default=DEFAULT_EXPORT_DIR, help="published models to include")
    site.set_defaults(handler=cmd_site)

    personal = commands.add_parser("personalize", help="teach a model your examples; publish <model>-personal")
    personal.add_argument("--examples", required=True, help="examples JSON exported by the page or the app")
    personal.add_argument("--model", default="cnn", **model_choice)
    personal.add_argument(
        "--out",
        default=DEFAULT_EXPORT_DIR,
        help="published models: the base is read from and the result written to it (default: exported_models)",
    )
    personal.add_argument("--signing-key", metavar="KEY.pem", help=SIGNING_KEY_HELP)
    personal.set_defaults(handler=cmd_personalize)

    bench = commands.add_parser("bench", help="measure training, inference and sizes; write BENCHMARKS.md")
    bench.add_argument(
        "--only",
        metavar="SECTIONS",
        help="comma-separated: training,cnn,inference,signing,browser,offline,load,"
        "sizes,end-to-end,personal,reading,own (default: all)",
    )
    bench.add_argument(
        "--repeats", type=positive_int, default=3, help="pipeline/plain training pairs (default: 3)"
    )
    bench.add_argument("--models-dir", default=DEFAULT_EXPORT_DIR, help="published models to measure")
    bench.add_argument("--out", default="BENCHMARKS.md", help="report to write (default: BENCHMARKS.md)")
    bench.add_argument(
        "--merge",
        action="store_true",
        help="keep the other sections' figures from the benchmarks.json beside --out "
        "and replace only the chosen ones",
    )
    bench.set_defaults(handler=cmd_bench)
    return parser


def os_error(exc: OSError) -> int:
    """A folder not writable, a disk full...: the system's own sentence."""
    where = f" ({exc.filename})" if exc.filename else ""
    print(f"error: {exc.strerror or exc}{where}.", file=sys.stderr)
    return 1


def stdout_reader_gone() -> bool:
    """Whether stdout is a pipe or socket whose reading end has closed (poll reports POLLERR/POLLHUP)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll() (Windows), stdout not a file: trust it
        return True


def stop_writing_stdout() -> None:
    """Point stdout at /dev/null once its reader has gone, so that Python's flush at exit does not
    print "Exception ignored ... BrokenPipeError" (the recipe of the Python docs' note on SIGPIPE)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (replaced by a caller): nothing to flush later
        pass
    finally:
        os.close(devnull)


def joined_negative_values(argv: list[str]) -> list[str]:
    """`--input-range -1..1` as `--input-range=-1..1`: argparse takes a value starting with '-' for an
    option (only plain negative numbers are exempt), so the documented spelling would fail."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--input-range" and arg.startswith("-"):
            joined[-1] = f"--input-range={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(joined_negative_values(sys.argv[1:] if argv is None else argv))
    from pipeline import tf_setup

    tf_setup.set_verbose(args.verbose)
    try:
        code = args.handler(args)
        sys.stdout.flush()  # a reader gone early (`| head`) shows here, inside the try, not at exit
        return code
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError as exc:  # before OSError, its base
        if stdout_reader_gone():  # output piped into `head` and the like: not an error of ours
            stop_writing_stdout()
            return 0
        return os_error(exc)  # another pipe (a child process's) broke: a real error
    except OSError as exc:
        return os_error(exc)
    except KeyboardInterrupt:
        print("Interrupted; nothing was published.", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: still one line, the traceback on request
        if args.verbose:
            raise
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (rerun with --verbose for the "
            "traceback, and please report it).",
            file=sys.stderr,
        )
        return 1
