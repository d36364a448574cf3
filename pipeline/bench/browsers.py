"""The page's TF.js models in headless Chromium on each backend, the page as an installed offline
app (first, repeat and offline visits), TF.js's WASM with and without cross-origin isolation, and the
Streamlit app's stroke-to-answer time, all measured in a real browser."""

from __future__ import annotations

import functools
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from pipeline.bench.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    QuietHandler,
    StoppableServer,
    launch,
    serve,
    stop,
    streamlit_clear,
    streamlit_read_digit,
    streamlit_server,
    wait_for_status,
)
from pipeline.site import build_site

# Runs inside the page: loads each TF.js artifact with the page's own model.js and times it.
PAGE_BENCH = """
async ({keys, repeats, batch}) => {
  const m = await import('./model.js');
  const catalog = await m.loadCatalog();
  const rows = [];
  for (const key of keys) {
    const model = await m.loadModel(m.findEntry(catalog, key));
    const input = new Float32Array(784).fill(0.1);
    const times = [];
    for (let i = 0; i < 10; i++) await m.predict(model, input);
    for (let i = 0; i < repeats; i++) times.push((await m.predict(model, input)).ms);
    times.sort((a, b) => a - b);
    const big = tf.zeros([batch, 28, 28]);
    const once = async () => { const t0 = performance.now(); const out = model.graph.predict(big);
                               await out.data(); out.dispose(); return performance.now() - t0; };
    await once();   // first run of this shape: shaders and buffers, off the clock
    const batchMs = await once();
    big.dispose();
    m.dispose(model);
    rows.push({key, latency_ms: times[Math.floor(times.length / 2)],
               latency_p99_ms: times[Math.min(times.length - 1, Math.floor(times.length * 0.99))],
               throughput_per_s: batch / (batchMs / 1000)});
  }
  return rows;
}
"""


def page_backends(models_dir: Path, repeats: int = 100, batch: int = 1000) -> dict:
    from playwright.sync_api import sync_playwright

    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-site-") as tmp:
        site = build_site(Path(tmp) / "site", models_dir)
        download = sum(p.stat().st_size for p in site.rglob("*") if p.is_file())
        url, server = serve(site)
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                for backend in ("wasm", "webgl", "cpu"):
                    page = browser.new_page()
                    page.goto(f"{url}?backend={backend}")
                    wait_for_status(page, "ready", timeout_ms=60_000)
                    keys = page.evaluate(
                        "async () => (await (await import('./model.js')).loadCatalog()).entries.map(e => e.key)"
                    )
                    results[backend] = page.evaluate(
                        PAGE_BENCH, {"keys": keys, "repeats": repeats, "batch": batch}
                    )
                    for row in results[backend]:
                        print(
                            f"  chromium {backend:<5} {row['key']:<16} p50 {row['latency_ms']:.2f} ms, "
                            f"{row['throughput_per_s']:.0f} img/s",
                            flush=True,
                        )
                    page.close()
                browser.close()
        finally:
            server.shutdown()
    return {"backends": results, "site_bytes": download}


def streamlit_stroke_to_answer(models_dir: Path, rounds: int = 2) -> dict:
    from playwright.sync_api import sync_playwright

    seconds, answers = [], []
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp:
        with streamlit_server(models_dir, Path(tmp), Path(tmp) / "streamlit.log") as url:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                for _ in range(rounds):
                    for digit in (0, 1, 2, 3, 7):
                        answer, elapsed = streamlit_read_digit(page, digit)
                        seconds.append(elapsed)
                        answers.append(answer == str(digit))
                        streamlit_clear(page)
                browser.close()
    print(f"  streamlit stroke to answer: median {sorted(seconds)[len(seconds) // 2]:.2f} s", flush=True)
    return {"seconds": seconds, "correct": sum(answers), "drawn": len(answers)}


# --- the page as an installed app: what a phone downloads, and how fast it is ready ---

PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 640},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}


class CountingHandler(QuietHandler):
    """Counts the body bytes the server sends (what the page and its service worker download)."""

    sent = [0]

    def copyfile(self, source, outputfile):
        data = source.read()
        outputfile.write(data)
        CountingHandler.sent[0] += len(data)


def serve_counting(folder: Path, headers: dict | None = None):
    """serve(), counting bytes sent and adding `headers` to every response (COOP/COEP)."""

    class Handler(CountingHandler):
        def end_headers(self):
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            super().end_headers()

    handler = functools.partial(Handler, directory=str(folder))
    server = StoppableServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/", server


def visit(context, url: str) -> dict:
    """Open the page in a new tab; time to ready (the page's own clock, from navigation start)."""
    page = context.new_page()
    page.goto(url)
    wait_for_status(page, "ready", timeout_ms=60_000)
    ready_ms = float(page.get_by_test_id("status").get_attribute("data-ms"))
    return {"page": page, "ready_ms": ready_ms}


def page_visits(models_dir: Path, rounds: int = 3) -> dict:
    """First visit (bytes and time to ready, then the service worker's whole precache), a repeat
    visit served from the cache, and a visit with the server stopped; each round a fresh profile."""
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pwa-") as tmp, sync_playwright() as playwright:
        site = build_site(Path(tmp) / "site", models_dir)
        for round_ in range(rounds):
            url, server = serve_counting(site)
            context = playwright.chromium.launch_persistent_context(
                Path(tmp) / f"profile-{round_}",
                executable_path=str(CHROMIUM),
                args=CHROMIUM_ARGS,
                headless=True,
                **PHONE,
            )
            try:
                CountingHandler.sent[0] = 0
                first = visit(context, url)
                bytes_to_ready = CountingHandler.sent[0]
                first["page"].wait_for_selector("[data-testid=offline][data-state=ready]", timeout=60_000)
                bytes_installed = CountingHandler.sent[0]
                first["page"].close()
                CountingHandler.sent[0] = 0
                repeat = visit(context, url)
                repeat_bytes = CountingHandler.sent[0]
                repeat["page"].close()
                stop(server)
                offline = visit(context, url)
                offline_state = (
                    offline["page"].wait_for_selector("[data-testid=offline][data-state=offline]", timeout=30_000)
                    is not None
                )
                rows.append(
                    {
                        "first_ready_ms": first["ready_ms"],
                        "first_bytes_to_ready": bytes_to_ready,
                        "first_bytes_installed": bytes_installed,
                        "repeat_ready_ms": repeat["ready_ms"],
                        "repeat_bytes": repeat_bytes,
                        "offline_ready_ms": offline["ready_ms"],
                        "offline_reported": offline_state,
                    }
                )
                print(
                    f"  visit {round_ + 1}: first {first['ready_ms']:.0f} ms "
                    f"({bytes_to_ready / 1e6:.2f} MB to ready, {bytes_installed / 1e6:.2f} MB installed), "
                    f"repeat {repeat['ready_ms']:.0f} ms ({repeat_bytes} B), "
                    f"offline {offline['ready_ms']:.0f} ms",
                    flush=True,
                )
            finally:
                context.close()
                server.server_close()
    return {"rounds": rows, "profile": "Chromium mobile emulation 360x640, persistent profile"}


# TF.js's WASM backend in the page, with and without cross-origin isolation (COOP/COEP headers,
# which let it pick the SIMD+threads binary): which binary it loads, and batch-1 / batch-100 times.
WASM_BENCH = """
async () => {
  const m = await import('./model.js');
  const catalog = await m.loadCatalog();
  const model = await m.loadModel(m.findEntry(catalog, catalog.defaultKey));
  const input = new Float32Array(784).fill(0.1);
  for (let i = 0; i < 20; i++) await m.predict(model, input);
  const times = [];
  for (let i = 0; i < 200; i++) times.push((await m.predict(model, input)).ms);
  times.sort((a, b) => a - b);
  const big = tf.zeros([100, 28, 28]);
  const batch = [];
  for (let i = 0; i < 6; i++) { const t0 = performance.now(); const out = model.graph.predict(big);
    await out.data(); out.dispose(); batch.push(performance.now() - t0); }
  big.dispose();
  batch.sort((a, b) => a - b);
  const wasm = performance.getEntriesByType('resource').map((e) => e.name)
    .filter((n) => n.endsWith('.wasm')).map((n) => n.split('/').pop());
  return {key: model.entry.key, isolated: crossOriginIsolated, wasm,
          threads: tf.wasm.getThreadsCount ? tf.wasm.getThreadsCount() : null,
          batch1_ms: times[100], batch100_ms: batch[3]};
}
"""
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


THREADS_OFF = "tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);"


def threads_allowed_copy(site: Path, target: Path) -> Path:
    """The site as it would have to be to use WASM threads: its CSP allowing blob: workers (TF.js
    starts its threads from blob: URLs, whose scripts import more blob: URLs) and model.js not
    turning threads off."""
    shutil.copytree(site, target)
    html, model = target / "index.html", target / "model.js"
    if THREADS_OFF not in model.read_text() or "script-src 'self'" not in html.read_text():
        raise RuntimeError("model.js or index.html changed: update the COOP/COEP benchmark")
    model.write_text(model.read_text().replace(THREADS_OFF, ""))
    html.write_text(
        html.read_text().replace("script-src 'self'", "worker-src 'self' blob:; script-src 'self' blob:")
    )
    return target


def wasm_isolation(models_dir: Path, rounds: int = 3) -> dict:
    from playwright.sync_api import sync_playwright

    results: dict[str, list[dict[str, Any]]] = {"plain": [], "coop_coep": []}
    with tempfile.TemporaryDirectory(prefix="bench-coep-") as tmp, sync_playwright() as playwright:
        site = build_site(Path(tmp) / "site", models_dir)
        sites = {
            "plain": (site, None),
            "coop_coep": (threads_allowed_copy(site, Path(tmp) / "threads"), ISOLATION_HEADERS),
        }
        browser = launch(playwright)
        for _ in range(rounds):  # alternate, so drift hits both sides alike
            for name, (folder, headers) in sites.items():
                url, server = serve_counting(folder, headers)
                context = browser.new_context()
                page = context.new_page()
                page.goto(url)
                wait_for_status(page, "ready", timeout_ms=60_000)
                results[name].append(page.evaluate(WASM_BENCH))
                context.close()
                server.shutdown()
                server.server_close()
        browser.close()
    for name, rows in results.items():
        print(
            f"  wasm {name}: {rows[0]['wasm']}, isolated {rows[0]['isolated']}, threads "
            f"{rows[0]['threads']}, batch 1 {sorted(r['batch1_ms'] for r in rows)[len(rows) // 2]:.2f} ms, "
            f"batch 100 {sorted(r['batch100_ms'] for r in rows)[len(rows) // 2]:.1f} ms",
            flush=True,
        )
    return results
