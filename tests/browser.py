"""Helpers for the browser tests of the static page: a local HTTP server, headless Chromium, and
mouse strokes that draw digits on the page's 280x280 canvas."""

from __future__ import annotations

import functools
import http.server
import math
import threading
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
# Playwright cannot download its own browser here; Debian's chromium runs headless with these.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    "--enable-unsafe-swiftshader",  # WebGL on the software rasteriser, since there is no GPU
]
CANVAS_SIZE = 280


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):   # keep test output readable
        pass


def serve(folder: Path) -> tuple[str, http.server.ThreadingHTTPServer]:
    """Serve `folder` on 127.0.0.1 at a free port in a daemon thread; returns (url, server)."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def launch(playwright):
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)


class Watch:
    """Records what a page did that a test may want to refuse: requests, CSP violations, errors."""

    def __init__(self, page):
        self.requests: list[str] = []
        self.csp_violations: list[str] = []
        self.page_errors: list[str] = []
        page.on("request", lambda request: self.requests.append(request.url))
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("console", self._console)
        # The page reports its own violations too; an init script is not subject to the page's CSP.
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', (e) => console.error("
            "'CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));")

    def _console(self, message):
        if message.type == "error" and ("Content Security Policy" in message.text
                                        or message.text.startswith("CSP violation")):
            self.csp_violations.append(message.text)


# --- digits as mouse strokes, in canvas pixels (0..280) ---

def arc(cx, cy, rx, ry, start_deg, end_deg, steps=24):
    """Points along an ellipse; angles in degrees, 0 = right, 90 = down (screen coordinates)."""
    return [(cx + rx * math.cos(math.radians(a)), cy + ry * math.sin(math.radians(a)))
            for a in (start_deg + (end_deg - start_deg) * i / steps for i in range(steps + 1))]


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
        timeout=timeout_ms)
    return page.get_by_test_id("prediction").text_content()


def wait_for_status(page, state: str, timeout_ms: float = 30_000) -> str:
    """Wait for the status line's data-state ('ready' or 'error'), return its text."""
    page.wait_for_selector(f"[data-testid=status][data-state={state}]", timeout=timeout_ms)
    return page.get_by_test_id("status").text_content()
