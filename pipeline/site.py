"""Build the static page into one self-contained folder that any static host can serve.

The folder holds the page (web/static), TF.js and its WASM backend copied from node_modules (no CDN:
the page fetches nothing from another host), and for each published model only what the page
needs: manifest.json, the labels and the TF.js artifacts. It is written beside `out_dir` and swapped
in at the end, so a failed build leaves the previous site untouched.

It is an installable, offline app (a PWA): manifest.webmanifest and icons come from web/static, and
the service worker sw.js gets its cache version and precache list written in here (write_service_worker).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from pathlib import Path

from pipeline import REPO_ROOT
from pipeline.errors import PipelineError
from pipeline.files import resolve_inside, sha256_file
from pipeline.formats import browser_formats
from pipeline.manifest import FILE_NAME as MANIFEST
from pipeline.manifest import check_files, load_manifest, read_index, read_labels
from pipeline.publish import swap_in

STATIC_DIR = REPO_ROOT / "web" / "static"
NODE_MODULES = REPO_ROOT / "node_modules"
MARKER = ".pipeline-site"  # marks a folder this module wrote, so it may be replaced

# node_modules file -> name in the site's vendor/ folder. The ES2017 UMD bundles: the ES-module
# build of the WASM backend imports Node modules ("fs", "path"), and the ES5 tf.min.js bundles
# regenerator-runtime, which calls Function() (eval, refused by the page's CSP). The page picks one
# of the .wasm files at run time.
VENDOR_FILES = {
    "@tensorflow/tfjs/dist/tf.es2017.min.js": "tf.es2017.min.js",
    "@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.es2017.min.js": "tf-backend-wasm.es2017.min.js",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm": "tfjs-backend-wasm.wasm",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm": "tfjs-backend-wasm-simd.wasm",
    "@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm": "tfjs-backend-wasm-threaded-simd.wasm",  # noqa: E501 (a path)
}

SERVICE_WORKER = "sw.js"
SITE_PLACEHOLDER = "const SITE = { version: 'dev', precache: [] };"
# The WASM binaries a browser may pick without cross-origin isolation (SIMD, or plain for browsers
# without SIMD); the threaded one is cached when first used.
PRECACHED_VENDOR = (
    "tf.es2017.min.js",
    "tf-backend-wasm.es2017.min.js",
    "tfjs-backend-wasm.wasm",
    "tfjs-backend-wasm-simd.wasm",
)


def copy_vendor(target: Path, node_modules: Path) -> None:
    missing = [name for name in VENDOR_FILES if not (node_modules / name).is_file()]
    if missing:
        raise PipelineError(
            f"TF.js is not installed ({node_modules / missing[0]} is missing): run `npm ci` in "
            f"{node_modules.parent} first."
        )
    target.mkdir(parents=True)
    for source, name in VENDOR_FILES.items():
        shutil.copy2(node_modules / source, target / name)


def copy_model(name: str, models_dir: Path, target: Path) -> int:
    """Copy one model's manifest, labels and TF.js artifacts, each checked first; returns bytes."""
    folder = models_dir / name
    manifest = load_manifest(folder)
    artifacts = [a for a in manifest["artifacts"] if a["format"] in browser_formats()]
    if not artifacts:
        raise PipelineError(f"{folder / 'manifest.json'} lists no TF.js artifact: nothing for the page.")
    read_labels(folder, manifest)  # checked against the manifest's labels_sha256
    relatives = [MANIFEST, manifest["labels"]]
    adaptation = manifest.get("adaptation") or {}  # what the page needs to teach it (adaptation.py)
    kit = [a for a in adaptation.get("artifacts", []) if a.get("format") == "tfjs"]
    for artifact in artifacts + kit + ([adaptation["replay"]] if kit and "replay" in adaptation else []):
        check_files(folder, artifact)  # sha256 of every file against the manifest
        relatives += [file["path"] for file in artifact["files"]]
    copied = 0
    for relative in relatives:
        source, destination = resolve_inside(folder, relative), resolve_inside(target / name, relative)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, destination)
        copied += source.stat().st_size
    return copied


def copy_models(models_dir: Path, target: Path) -> list[str]:
    """Every published model with a TF.js artifact, and an index.json naming them; a model without one
    (a model of one's own whose ops TF.js lacks: its `left_out`) is not on the page. Returns the names."""
    from pipeline.files import write_json_atomic
    from pipeline.manifest import index_document

    names, default = read_index(models_dir)
    target.mkdir(parents=True)
    served = [
        name
        for name in names
        if any(a["format"] in browser_formats() for a in load_manifest(models_dir / name)["artifacts"])
    ]
    if not served:
        raise PipelineError(f"No model in {models_dir} has a TF.js artifact: nothing for the page.")
    for name in served:
        copy_model(name, models_dir, target)
    write_json_atomic(target / "index.json", index_document(served, default))
    return served


def default_tfjs_artifact(manifest: dict) -> dict:
    """The TF.js artifact the page starts on: the manifest's recommended variant (the smallest that
    met every tolerance), else the first that passed. model.js's loadCatalog picks the same."""
    artifacts = [a for a in manifest["artifacts"] if a["format"] == "tfjs"]
    passed = [a for a in artifacts if a.get("verification", {}).get("passed", True)]
    recommended = (manifest.get("recommended") or {}).get("tfjs")
    return next((a for a in passed if a["variant"] == recommended), (passed or artifacts)[0])


def precache_list(site: Path) -> list[str]:
    """What the service worker saves at install: the page, TF.js, every model's manifest and labels,
    and the default model's default variant; enough to start offline. Other variants: on first use."""
    page = sorted(
        p.relative_to(site).as_posix()
        for p in site.rglob("*")
        if p.is_file()
        and p.parts[len(site.parts)] not in ("vendor", "models")
        and p.name not in (SERVICE_WORKER, MARKER)
    )
    paths = ["./", *page, *(f"vendor/{name}" for name in PRECACHED_VENDOR), "models/index.json"]
    names, default = read_index(site / "models")
    for name in names:
        manifest = load_manifest(site / "models" / name)
        paths += [f"models/{name}/manifest.json", f"models/{name}/{manifest['labels']}"]
        if name == default:
            paths += [f"models/{name}/{f['path']}" for f in default_tfjs_artifact(manifest)["files"]]
    return paths


def site_version(site: Path) -> str:
    """A digest of every file of the site: a republished model (its manifest.json and its sha256
    change with every export) or a changed page gives a new version, hence a new cache."""
    lines = sorted(
        f"{p.relative_to(site).as_posix()} {sha256_file(p)}"
        for p in site.rglob("*")
        if p.is_file() and p.name != SERVICE_WORKER
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def write_service_worker(site: Path) -> str:
    """Fill sw.js's SITE line with the version and the precache list; returns the version."""
    path = site / SERVICE_WORKER
    source = path.read_text()
    if source.count(SITE_PLACEHOLDER) != 1:
        raise PipelineError(f"{path} does not contain the line {SITE_PLACEHOLDER!r} exactly once.")
    version = site_version(site)
    filled = json.dumps({"version": version, "precache": precache_list(site)})
    path.write_text(source.replace(SITE_PLACEHOLDER, f"const SITE = {filled};"))
    return version


def build_site(
    out_dir: str | Path, models_dir: str | Path = "exported_models", *, node_modules: str | Path | None = None
) -> Path:
    """Write the page, TF.js and the models' TF.js artifacts to `out_dir`; return its path."""
    out = Path(out_dir).resolve()
    models = Path(models_dir)
    node_modules = Path(node_modules) if node_modules else NODE_MODULES
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).exists())):
        raise PipelineError(f"{out} exists and was not written by `site`; choose an empty or new folder.")
    if not (models / "index.json").is_file():
        raise PipelineError(
            f"{models / 'index.json'} does not exist: export models first (python -m pipeline run)."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-new-"))
    try:
        shutil.copytree(STATIC_DIR, work, dirs_exist_ok=True, ignore=shutil.ignore_patterns(".*", "__pycache__"))
        copy_vendor(work / "vendor", node_modules)
        copy_models(models, work / "models")
        (work / MARKER).write_text("Written by `python -m pipeline site`; replaced on rebuild.\n")
        write_service_worker(work)  # last: its version is a digest of every other file
        work.chmod(0o755)  # mkdtemp makes it 0700; a web server may run as another user
        swap_in(work, out)  # atomic: a failed or killed build leaves the previous site
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return out
