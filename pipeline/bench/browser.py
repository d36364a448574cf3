"""Headless Chromium for the browser tests and the benchmark: a local HTTP server, Debian's chromium
through Playwright, digits drawn as mouse strokes, and drivers for the page and the Streamlit app."""

from __future__ import annotations

import contextlib
import functools
import http.server
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from pipeline import REPO_ROOT

CHROMIUM = Path("/usr/bin/chromium")
# Playwright cannot download its own browser here; Debian's chromium runs headless with these.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--enable-unsafe-swiftshader",  # WebGL on the software rasteriser, since there is no GPU
]
CANVAS_SIZE = 280


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # keep test output readable
        pass

    def send_head(self):
        # Once stopped, a request on a connection the browser opened earlier (a preconnect, whose
        # handler thread outlives the server) gets no answer, as with the network gone.
        if getattr(self.server, "stopped", False):
            self.close_connection = True
            return None
        return super().send_head()


class StoppableServer(http.server.ThreadingHTTPServer):
    """A threading HTTP server that stop() marks as stopped, so QuietHandler answers nothing more."""

    stopped = False


def serve(folder: Path) -> tuple[str, StoppableServer]:
    """Serve `folder` on 127.0.0.1 at a free port in a daemon thread; returns (url, server)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = StoppableServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def stop(server: StoppableServer) -> None:
    """Stop serving, as if the network were gone: connections already open get no answer either."""
    server.stopped = True
    server.shutdown()
    server.server_close()


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


class Watch:
    """Records what a page did that a test may want to refuse: requests, CSP violations, errors."""

    def __init__(self, page) -> None:
        self.requests: list[str] = []
        self.csp_violations: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)
        # The page reports its own violations too; an init script is not subject to the page's CSP.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )

    def _console(self, message):
        if message.type == "error" and (
            "Content Security Policy" in message.text or message.text.startswith("CSP violation")
        ):
            self.csp_violations.append(message.text)


# --- digits as mouse strokes, in canvas pixels (0..280) ---


def arc(cx, cy, rx, ry, start_deg, end_deg, steps=24):
    """Points along an ellipse; angles in degrees, 0 = right, 90 = down (screen coordinates)."""
    return [
        (cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
        for a in (start_deg + (end_deg - start_deg) * i / steps for i in range(steps + 1))
    ]


DIGIT_STROKES = {
    0: [arc(140, 140, 52, 88, -90, 275, 36)],
    1: [[(150, 45), (145, 140), (140, 235)]],
    2: [arc(140, 100, 50, 48, 195, 385) + [(85, 230), (205, 228)]],
    3: [arc(138, 92, 48, 42, 200, 450) + arc(138, 180, 55, 50, 270, 515)],
    4: [[(112, 45), (92, 160), (208, 160)], [(178, 62), (172, 240)]],
    5: [[(112, 50), (102, 132)] + arc(137, 180, 56, 54, 235, 500), [(112, 50), (198, 48)]],
    7: [[(78, 55), (202, 55), (122, 240)]],
}


def densify(points, spacing=8.0):
    """Insert points so consecutive ones are at most `spacing` apart, as a real drag would be."""
    out = [points[0]]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        n = max(1, math.ceil(math.hypot(x1 - x0, y1 - y0) / spacing))
        out += [(x0 + (x1 - x0) * i / n, y0 + (y1 - y0) * i / n) for i in range(1, n + 1)]
    return out


def draw(page, strokes) -> None:
    """Draw strokes (lists of canvas-pixel points) with the mouse on the page's canvas."""
    box = page.get_by_test_id("canvas").bounding_box()
    scale = box["width"] / CANVAS_SIZE
    for stroke in strokes:
        points = [(box["x"] + x * scale, box["y"] + y * scale) for x, y in densify(stroke)]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point)
        page.mouse.up()


def wait_for_prediction(page, timeout_ms: float = 20_000) -> str:
    """Wait until the prediction reflects the latest drawing (same data-version), return it."""
    page.wait_for_function(
        """() => document.querySelector('[data-testid=prediction]').dataset.version ===
                 document.querySelector('[data-testid=canvas]').dataset.version""",
        timeout=timeout_ms,
    )
    return page.get_by_test_id("prediction").text_content()


def wait_for_status(page, state: str, timeout_ms: float = 30_000) -> str:
    """Wait for the status line's data-state ('ready' or 'error'), return its text."""
    page.wait_for_selector(f"[data-testid=status][data-state={state}]", timeout=timeout_ms)
    return page.get_by_test_id("status").text_content()


# --- the Streamlit app ---

STREAMLIT_APP = REPO_ROOT / "web" / "app.py"
STREAMLIT_CANVAS = "canvas.upper-canvas"  # fabric.js's input layer, inside a shadow root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(models_dir: Path, cwd: Path, log_path: Path):
    """`streamlit run web/app.py` as a user would, from `cwd`; yields its URL, stops it with SIGTERM.

    Its output goes to a file: a server writing to a pipe nobody reads ignores SIGTERM.
    """
    port = free_port()
    env = {**os.environ, "MNIST_MODELS_DIR": str(Path(models_dir).resolve())}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                str(STREAMLIT_APP),
                "--server.port",
                str(port),
                "--server.headless",
                "true",
            ],
            cwd=cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "_stcore/health", timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"streamlit did not start:\n{log_path.read_text()[-3000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        # Streamlit (1.67) logs a traceback when it closes a session that is still sending to a gone
        # browser (see streamlit_idle): let it see every browser go before SIGTERM closes the rest.
        wait_until_no_clients(port, timeout=10)
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise RuntimeError("streamlit did not stop within 15 s of SIGTERM") from None


def wait_until_no_clients(port: int, timeout: float) -> None:
    """Wait (at most `timeout` s) until no TCP connection to 127.0.0.1:`port` is open or half-closed
    on the server's side (/proc/net/tcp states ESTABLISHED and CLOSE_WAIT)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
        if not any(int(row[1].split(":")[1], 16) == port and row[3] in ("01", "08") for row in rows):
            return
        time.sleep(0.1)


# The red channel summed over fabric.js's drawing layer (the input layer's sibling): 0 on an empty canvas.
INK = """upper => {
  const lower = upper.parentElement.querySelector("canvas.dc-canvas.lower-canvas");
  const data = lower.getContext("2d").getImageData(0, 0, lower.width, lower.height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) ink += data[i];
  return ink;
}"""
INK_GONE = f"canvas => ({INK})(canvas) === 0"  # for wait_for_function: the canvas shows empty
INK_SHOWN = f"canvas => ({INK})(canvas) > 0"  # for wait_for_function: a stroke has been painted
# fabric.js paints a finished stroke on the drawing layer at the next animation frame, not at mouse-up
# (it clears the input layer at once): on a loaded machine a read right after mouse-up sees no ink.
STROKE_PAINT_MS = 5_000


def stroke_painted(page, canvas) -> bool:
    """Whether the strokes just drawn on the Streamlit canvas show on its drawing layer."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(INK_SHOWN, arg=canvas.element_handle(), timeout=STROKE_PAINT_MS)
        return True
    except PlaywrightTimeout:
        return False


def streamlit_canvas(page):
    """The app's drawing canvas (its input layer), once it is on the page."""
    canvas = page.get_by_test_id("stBidiComponentIsolated").locator(STREAMLIT_CANVAS)
    canvas.wait_for(timeout=30_000)
    return canvas


def draw_in_streamlit(page, strokes) -> float:
    """Drag the mouse along `strokes` (canvas pixels); returns the time of the last mouse-up."""
    canvas = streamlit_canvas(page)
    canvas.hover()  # the pointer arrives from outside, as a hand would
    box = canvas.bounding_box()
    for stroke in strokes:
        points = densify(stroke)
        page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
        page.mouse.down()
        for x, y in points[1:]:
            page.mouse.move(box["x"] + x, box["y"] + y)
        page.mouse.up()
    return time.perf_counter()


def streamlit_read_digit(page, digit: int) -> tuple[str, float]:
    """Draw `digit`, wait for the Prediction metric; returns (its text, seconds from mouse-up)."""
    prediction = page.get_by_test_id("stMetricValue")
    released = draw_in_streamlit(page, DIGIT_STROKES[digit])
    prediction.wait_for(timeout=20_000)
    return prediction.text_content(), time.perf_counter() - released


def streamlit_idle(page, quiet_s: float = 1.0, timeout_s: float = 30) -> None:
    """Wait until the app has shown no "Running" indicator for `quiet_s` seconds. Close a browser only
    then: Streamlit (1.67) logs a traceback when a page goes while the server is still sending to it."""
    running = page.get_by_test_id("stStatusWidget")
    deadline = time.monotonic() + timeout_s
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < quiet_s:
        if running.count() and running.is_visible():
            quiet_since = time.monotonic()
        if time.monotonic() > deadline:
            raise AssertionError(f"the app was still running after {timeout_s} s")
        time.sleep(0.1)


def streamlit_clear(page, button=None) -> None:
    """Click Clear (or `button`, which clears too): wait until the answer has gone and the canvas is
    empty, as a user would before drawing again."""
    canvas = streamlit_canvas(page)
    (button or page.get_by_role("button", name="Clear")).click()
    page.get_by_test_id("stMetricValue").wait_for(state="detached", timeout=30_000)
    page.wait_for_function(INK_GONE, arg=canvas.element_handle(), timeout=30_000)
