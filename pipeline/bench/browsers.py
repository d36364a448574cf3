"""The page's TF.js models in headless Chromium on each backend, and the Streamlit app's
stroke-to-answer time, both measured in a real browser."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.site import build_site
from tools.browser import (
    launch,
    serve,
    streamlit_clear,
    streamlit_read_digit,
    streamlit_server,
    wait_for_status,
)

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
                    keys = page.evaluate("async () => (await (await import('./model.js'))"
                                         ".loadCatalog()).entries.map(e => e.key)")
                    results[backend] = page.evaluate(PAGE_BENCH, {"keys": keys, "repeats": repeats,
                                                                  "batch": batch})
                    for row in results[backend]:
                        print(f"  chromium {backend:<5} {row['key']:<16} p50 {row['latency_ms']:.2f} ms, "
                              f"{row['throughput_per_s']:.0f} img/s", flush=True)
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
