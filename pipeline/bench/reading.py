"""What people actually give a digit reader, read by today's recipe and by the one before it, side by
side: phone photos of paper, things that are not one digit, pad drawings from 40 px to the full pad,
low-resolution digits, MNIST's test set; the page's Photo button on the same photos in Chromium; the
time to read one 12-megapixel photo in Python and in Chromium.

The recipe before is pipeline/preprocess.py as it was at BASELINE, read from git, so nothing is kept
twice. The sets come from pipeline/bench/reading_sets.py (generated, seeded).
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline import REPO_ROOT
from pipeline.errors import PipelineError

BASELINE = "6c9ab61"  # the last commit before photos were read (issue 20)
MNIST_COUNT = 10_000


def baseline_preprocess() -> Callable | None:
    """pipeline/preprocess.py at BASELINE as a module's preprocess, or None without git history."""
    try:
        source = subprocess.run(
            ["git", "show", f"{BASELINE}:pipeline/preprocess.py"],
            cwd=REPO_ROOT,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    spec = importlib.util.spec_from_loader("baseline_preprocess", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, f"{BASELINE}:pipeline/preprocess.py", "exec"), module.__dict__)
    return module.preprocess


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "PNG")
    return buffer.getvalue()


def prepared(samples, recipe: Callable | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each sample as a PNG through `recipe` (today's preprocess if None), once for any number of
    models: float32 [N, 28, 28] (zeros where refused), int [N] labels (-1: not one digit), bool [N]
    refused (a PipelineError: blank, not one digit)."""
    from pipeline.preprocess import preprocess, read_image

    recipe = recipe or preprocess
    seen = np.zeros((len(samples), 28, 28), np.float32)
    refused = np.zeros(len(samples), bool)
    for i, sample in enumerate(samples):
        try:
            seen[i] = recipe(read_image(png_bytes(sample.image)))
        except PipelineError:
            refused[i] = True
    labels = np.array([-1 if sample.label is None else sample.label for sample in samples])
    return seen, labels, refused


def read_set(samples, recipe: Callable, classify: Callable) -> dict:
    """Each sample through `recipe` then `classify` (a 28x28 image -> its digit): the share read right
    (a digit) or refused (None), the share of real digits refused, and the answers."""
    seen, _, refused = prepared(samples, recipe)
    answers = [None if no else classify(image) for image, no in zip(seen, refused)]
    right = sum(answer == sample.label for answer, sample in zip(answers, samples))
    digits = [answer for answer, sample in zip(answers, samples) if sample.label is not None]
    return {
        "count": len(samples),
        "right": round(right / len(samples), 4),
        "digits_refused": round(digits.count(None) / len(digits), 4) if digits else None,
        "answers": answers,
    }


def out_of_distribution_sets() -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The sets a training recipe is judged on beyond MNIST, prepared by today's recipe."""
    from pipeline.bench import reading_sets

    return {
        "photos": prepared(reading_sets.photo_set()),
        "pad sizes 40-250 px": prepared(reading_sets.size_sweep_set()),
        "small thick-pen pictures 40-70 px": prepared(reading_sets.small_pad_pictures()),
        "8x8 at 16 levels": prepared(reading_sets.low_resolution_set()),
        "elastic warps": prepared(reading_sets.elastic_set()),
    }


def share_right(probabilities: np.ndarray, labels: np.ndarray, refused: np.ndarray) -> float:
    """[N, 10] model outputs of prepared images -> the share read right (a refused digit is wrong)."""
    return round(float(np.mean(np.where(refused, -1, probabilities.argmax(axis=1)) == labels)), 4)


def mnist_test(recipe: Callable, classify: Callable) -> dict:
    from pipeline.data import load_mnist

    (_, _), (images, labels) = load_mnist()
    refused = right = 0
    for image, label in zip(images[:MNIST_COUNT], labels[:MNIST_COUNT]):
        try:
            right += classify(recipe(image)) == int(label)
        except PipelineError:
            refused += 1
    return {
        "count": MNIST_COUNT,
        "right": round(right / MNIST_COUNT, 4),
        "refused": round(refused / MNIST_COUNT, 4),
    }


def twelve_megapixel_jpeg(photo: np.ndarray, seed: int = 0) -> bytes:
    """A 4000x3000 JPEG (quality 90) of a noise-free `photo` scaled up, with a sensor's per-pixel noise
    (Gaussian, deviation 6 levels) added at full size: what a phone's camera gives."""
    from PIL import Image

    image = Image.fromarray(photo).convert("RGB").resize((4000, 3000), Image.Resampling.BILINEAR)
    noise = np.random.default_rng(seed).normal(0, 6, (3000, 4000, 1)).astype(np.float32)
    noisy = np.clip(np.asarray(image, np.float32) + noise, 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noisy).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def python_photo_seconds(jpeg: bytes, repeats: int = 5) -> float:
    """Median seconds for read_image + preprocess of one JPEG (what predict and the app do)."""
    from pipeline.preprocess import preprocess, read_image

    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        preprocess(read_image(jpeg))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


# Runs in the page: each file through photo.js and preprocess.js, then the page's default model.
PAGE_READ = """
async ({files, timed, repeats}) => {
  const { readPhoto } = await import('./photo.js');
  const { preprocess } = await import('./preprocess.js');
  const m = await import('./model.js');
  const catalog = await m.loadCatalog();
  const model = await m.loadModel(m.findEntry(catalog, catalog.defaultKey));
  const answers = [];
  for (const file of files) {
    const blob = await (await fetch(file)).blob();
    try {
      const { probabilities } = await m.predict(model, preprocess(await readPhoto(blob)));
      answers.push(probabilities.indexOf(Math.max(...probabilities)));
    } catch (error) {
      answers.push(null);
    }
  }
  const blob = await (await fetch(timed)).blob();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    preprocess(await readPhoto(blob));
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { answers, ms: times[times.length >> 1] };
}
"""


def in_chromium(models_dir: Path, photos: list[bytes], jpeg: bytes) -> dict:
    """The page's Photo recipe and default model in headless Chromium: answers for `photos`, and the
    median milliseconds to read `jpeg`."""
    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import launch, serve, stop, wait_for_status
    from pipeline.site import build_site

    with tempfile.TemporaryDirectory(prefix="bench-reading-") as tmp:
        site = build_site(Path(tmp) / "site", models_dir)
        (site / "bench").mkdir()
        names = []
        for index, data in enumerate(photos):
            names.append(f"bench/{index}.png")
            (site / names[-1]).write_bytes(data)
        (site / "bench" / "12mp.jpg").write_bytes(jpeg)
        url, server = serve(site)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page()
                page.goto(url)
                wait_for_status(page, "ready", timeout_ms=60_000)
                result = page.evaluate(PAGE_READ, {"files": names, "timed": "bench/12mp.jpg", "repeats": 5})
                browser.close()
        finally:
            stop(server)
    return result


def drawn_with_the_mouse(models_dir: Path, drawn: list) -> dict:
    """Each of `drawn` (reading_sets.drawn_strokes: strokes, digit, height) drawn with the mouse on the
    page and in the Streamlit app, in headless Chromium, with their default model: the share read right
    in each (a refusal counts as wrong)."""
    from playwright.sync_api import sync_playwright

    from pipeline.bench.browser import (
        draw,
        draw_in_streamlit,
        launch,
        serve,
        stop,
        streamlit_clear,
        streamlit_idle,
        streamlit_server,
        wait_for_prediction,
        wait_for_status,
    )
    from pipeline.site import build_site

    paths = [[stroke.tolist() for stroke in strokes] for strokes, _, _ in drawn]
    digits = [str(digit) for _, digit, _ in drawn]
    answers: dict[str, list[str]] = {"page": [], "app": []}
    with tempfile.TemporaryDirectory(prefix="bench-drawn-") as tmp:
        url, server = serve(build_site(Path(tmp) / "site", models_dir))
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page()
                page.goto(url)
                wait_for_status(page, "ready", timeout_ms=60_000)
                for strokes in paths:
                    page.get_by_test_id("clear").click()
                    draw(page, strokes)
                    answers["page"].append(wait_for_prediction(page))
                browser.close()
        finally:
            stop(server)
        with streamlit_server(models_dir, Path(tmp), Path(tmp) / "streamlit.log") as app_url:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(app_url)
                metric = page.get_by_test_id("stMetricValue")
                for strokes in paths:
                    draw_in_streamlit(page, strokes)
                    streamlit_idle(page)  # a digit of two strokes is read after each
                    answers["app"].append(metric.text_content() if metric.count() else "")
                    streamlit_clear(page)
                streamlit_idle(page)
                browser.close()
    return {
        where: {"count": len(drawn), "right": round(sum(a == d for a, d in zip(got, digits)) / len(drawn), 4)}
        for where, got in answers.items()
    }


def side_by_side(models_dir: Path, page_photos: int = 200) -> dict:
    """Every set through the recipe before (BASELINE) and today's, with the published default model
    on LiteRT; the page on the first `page_photos` photos; 12-megapixel timings."""
    from pipeline.bench import reading_sets
    from pipeline.manifest import read_index
    from pipeline.preprocess import preprocess
    from pipeline.runtime import Classifier

    _, default = read_index(models_dir)
    classifier = Classifier(models_dir / default, "litert")

    def classify(image: np.ndarray) -> int:
        return int(np.argmax(classifier.predict(image[None])[0]))

    recipes = {"today": preprocess}
    before = baseline_preprocess()
    if before is not None:
        recipes["before"] = before
    pad_sizes, drawn = reading_sets.size_sweep_set(), reading_sets.drawn_sweep_set()
    sets = {
        "photos": reading_sets.photo_set(),
        "not one digit": reading_sets.not_a_digit_set(),
        "pad sizes 40-250 px": pad_sizes,
        "pad sizes, as the pad reads them": reading_sets.size_sweep_set(redrawn=True),
        "drawn set 40-250 px": drawn,
        "drawn set, as the pad reads it": reading_sets.drawn_sweep_set(redrawn=True),
        "small thick-pen pictures 40-70 px": reading_sets.small_pad_pictures(),
        "8x8 at 16 levels": reading_sets.low_resolution_set(),
        "elastic warps": reading_sets.elastic_set(),
    }
    # before the pad redrew its strokes (pipeline/strokes.py), it read its canvas as drawn
    as_drawn = {"pad sizes, as the pad reads them": pad_sizes, "drawn set, as the pad reads it": drawn}
    figures: dict = {"baseline": BASELINE if before else None, "model": default, "sets": {}}
    for set_name, samples in sets.items():
        for recipe_name, recipe in recipes.items():
            start = time.perf_counter()
            result = read_set(
                as_drawn.get(set_name, samples) if recipe_name == "before" else samples, recipe, classify
            )
            result["seconds"] = round(time.perf_counter() - start, 1)
            figures["sets"].setdefault(set_name, {})[recipe_name] = result
            print(f"  {set_name}, {recipe_name}: {result['right']:.4f} right", file=sys.stderr, flush=True)
    figures["mnist"] = {name: mnist_test(recipe, classify) for name, recipe in recipes.items()}
    clean = next(s for s in sets["photos"] if not {"noise", "jpeg"} & set(s.kind.split("+")))
    jpeg = twelve_megapixel_jpeg(clean.image)
    figures["twelve_megapixels"] = {"python_seconds": round(python_photo_seconds(jpeg), 3)}
    photos = sets["photos"][:page_photos]
    page = in_chromium(models_dir, [png_bytes(sample.image) for sample in photos], jpeg)
    figures["drawn_with_the_mouse"] = drawn_with_the_mouse(models_dir, reading_sets.drawn_strokes())
    python_answers = figures["sets"]["photos"]["today"]["answers"][:page_photos]
    figures["twelve_megapixels"]["chromium_seconds"] = round(page["ms"] / 1000, 3)
    figures["page_photos"] = {
        "count": len(photos),
        "right": round(sum(a == s.label for a, s in zip(page["answers"], photos)) / len(photos), 4),
        "same_as_python": round(sum(a == b for a, b in zip(page["answers"], python_answers)) / len(photos), 4),
    }
    for result in (r for by_recipe in figures["sets"].values() for r in by_recipe.values()):
        del result["answers"]  # the figures keep shares, not every answer
    return figures
