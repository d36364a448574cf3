"""The Streamlit app under load: N real Chromium pages, each its own Streamlit session, draw digits
with the mouse at the same time against one `streamlit run web/app.py` on 127.0.0.1.

Each page draws a digit, waits for the Prediction metric, checks it, clears, and draws the next.
Reported: answers per second over the whole run, stroke-to-answer p50/p95 (mouse-up to the metric
on screen), errors (a page timing out, a wrong answer, an exception box in the page, a traceback in
the server log) and the server process's resident memory (peak, sampled every 0.25 s).
The browsers share the machine's cores with the server, so on a small machine the figures
measure the whole set-up, not the server alone.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.bench.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    DIGIT_STROKES,
    INK_GONE,
    INK_SHOWN,
    STREAMLIT_CANVAS,
    STROKE_PAINT_MS,
    densify,
    streamlit_server,
)

ANSWER_TIMEOUT_MS = 90_000
LOAD_TIMEOUT_MS = 180_000
# Many pages in one headless browser: none of them may be treated as a background tab.
FOREGROUND_ARGS = [
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
]


def server_rss_bytes(port: int) -> int | None:
    """Resident memory of the process serving `port` (found by its command line), from /proc."""
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = status.read_bytes().split(b"\0")
            if b"streamlit" in b" ".join(argv) and str(port).encode() in argv:
                for line in (status.parent / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except OSError:
            continue
    return None


class SessionError(Exception):
    pass


async def waited(what: str, locator, **kwargs) -> None:
    try:
        await locator.wait_for(timeout=ANSWER_TIMEOUT_MS, **kwargs)
    except Exception as exc:
        raise SessionError(f"{what} within {ANSWER_TIMEOUT_MS / 1000:.0f} s") from exc


MAX_TRIES = 5


async def draw_and_read(page, digit: int) -> tuple[str, float, int]:
    """Draw `digit`, wait for the answer, clear. Returns (answer, seconds from mouse-up, strokes
    lost): a drawing that left no ink on the canvas is drawn again, and counted (Clear used to
    mount a new canvas that could show before it took strokes; none are lost since it empties the
    same one)."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    canvas = page.get_by_test_id("stBidiComponentIsolated").locator(STREAMLIT_CANVAS)
    lost = 0
    for _ in range(MAX_TRIES):
        await waited("no canvas", canvas)
        box = await canvas.bounding_box()
        for stroke in DIGIT_STROKES[digit]:
            points = densify(stroke)
            await page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
            await page.mouse.down()
            for x, y in points[1:]:
                await page.mouse.move(box["x"] + x, box["y"] + y)
            await page.mouse.up()
        released = time.perf_counter()
        try:  # painted at the next animation frame, not at mouse-up
            await page.wait_for_function(INK_SHOWN, arg=await canvas.element_handle(), timeout=STROKE_PAINT_MS)
            break
        except PlaywrightTimeout:
            lost += 1
    else:
        raise SessionError(f"the canvas took no stroke in {MAX_TRIES} tries")
    prediction = page.get_by_test_id("stMetricValue")
    await waited("no answer", prediction)
    answer = await prediction.text_content()
    seconds = time.perf_counter() - released
    await page.get_by_role("button", name="Clear").click()
    await waited("the answer stayed after Clear", prediction, state="detached")
    try:  # a user draws again once they see the canvas empty
        await page.wait_for_function(INK_GONE, arg=await canvas.element_handle(), timeout=ANSWER_TIMEOUT_MS)
    except Exception as exc:
        raise SessionError("the canvas stayed inked after Clear") from exc
    return answer, seconds, lost


class StartLine:
    """The sessions draw their first stroke together, once every page has loaded (or failed to)."""

    def __init__(self, sessions: int):
        self.waiting, self.go = sessions, asyncio.Event()
        self.loading = asyncio.Lock()  # pages open one at a time: loading is not what is measured

    def arrived(self):
        self.waiting -= 1
        if self.waiting == 0:
            self.go.set()
            self.began = time.perf_counter()


async def one_session(browser, url: str, digits: list[int], start: StartLine, rows: list, errors: list) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = await context.new_page()
        try:
            async with start.loading:
                await page.goto(url, timeout=LOAD_TIMEOUT_MS)
                await (
                    page.get_by_test_id("stBidiComponentIsolated")
                    .locator(STREAMLIT_CANVAS)
                    .first.wait_for(timeout=LOAD_TIMEOUT_MS)
                )
                # a stroke made while the page's first script run is still going can be lost (seen
                # once in six sessions under heavy load): start when Streamlit shows it is idle
                await page.get_by_test_id("stStatusWidget").wait_for(state="hidden", timeout=LOAD_TIMEOUT_MS)
        except Exception as exc:
            errors.append(f"page did not load: {type(exc).__name__}")
            return
        finally:
            start.arrived()
        await start.go.wait()
        for digit in digits:
            try:
                answer, seconds, lost = await draw_and_read(page, digit)
            except SessionError as exc:  # the app did not answer this session in time
                errors.append(f"digit {digit}: {exc}")
                return
            rows.append({"digit": digit, "answer": answer, "seconds": seconds, "lost_strokes": lost})
            if answer != str(digit):
                errors.append(f"digit {digit} read as {answer}")
        if await page.get_by_test_id("stException").count():
            errors.append("an exception box in the page")
    finally:
        await context.close()


async def drive(url: str, port: int, sessions: int, digits_each: int) -> dict:
    from playwright.async_api import async_playwright

    order = [0, 1, 2, 3, 7]
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    rss: list[int] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + FOREGROUND_ARGS, headless=True
        )
        start = StartLine(sessions)
        tasks = [
            asyncio.create_task(
                one_session(
                    browser, url, [order[(i + k) % len(order)] for k in range(digits_each)], start, rows, errors
                )
            )
            for i in range(sessions)
        ]

        async def sample_memory():
            while True:
                value = server_rss_bytes(port)
                if value:
                    rss.append(value)
                await asyncio.sleep(0.25)

        sampler = asyncio.create_task(sample_memory())
        await asyncio.gather(*tasks)
        ended = time.perf_counter()
        sampler.cancel()
        await browser.close()
    began = getattr(start, "began", ended)
    seconds = np.array([row["seconds"] for row in rows]) if rows else np.array([np.nan])
    return {
        "sessions": sessions,
        "digits_per_session": digits_each,
        "answers": len(rows),
        "correct": sum(row["answer"] == str(row["digit"]) for row in rows),
        "wall_seconds": round(ended - began, 2),
        "answers_per_second": round(len(rows) / (ended - began), 3),
        "stroke_to_answer_p50_s": round(float(np.percentile(seconds, 50)), 3),
        "stroke_to_answer_p95_s": round(float(np.percentile(seconds, 95)), 3),
        "drawings_redrawn": sum(row["lost_strokes"] > 0 for row in rows),
        "errors": errors,
        "server_rss_peak_bytes": max(rss) if rss else None,
        "server_rss_start_bytes": rss[0] if rss else None,
    }


def app_under_load(models_dir: Path, sessions: int, digits_each: int) -> dict:
    """One server, `sessions` concurrent Chromium sessions drawing `digits_each` digits each."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        log_path = Path(tmp) / "streamlit.log"
        with streamlit_server(models_dir, Path(tmp), log_path) as url:
            port = int(url.rstrip("/").rsplit(":", 1)[1])
            result = asyncio.run(drive(url, port, sessions, digits_each))
        if "Traceback" in log_path.read_text():
            result["errors"].append("a traceback in the server log")
    print(
        f"  {sessions} sessions: {result['answers']} answers, {result['answers_per_second']:.2f}/s, "
        f"p50 {result['stroke_to_answer_p50_s']:.2f} s, p95 {result['stroke_to_answer_p95_s']:.2f} s, "
        f"redrawn {result['drawings_redrawn']}, errors {len(result['errors'])}, server RSS peak "
        f"{(result['server_rss_peak_bytes'] or 0) / 2**20:.0f} MiB",
        flush=True,
    )
    for error in sorted(set(result["errors"]))[:5]:
        print(f"    error: {error}", flush=True)
    return result
