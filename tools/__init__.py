"""Development tools kept out of the shipped `pipeline` package: the headless-Chromium harness of the
browser tests and benchmark (browser.py), the seed article's plain program that the training
benchmark measures against (article_program.py) and the JAX-only GPU benchmark (gpu_benchmark.py).
Run from the repository root: `python -m tools.article_program`, `python -m tools.gpu_benchmark`."""
