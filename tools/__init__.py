"""Development tools kept out of the shipped `pipeline` package: the JAX-only GPU benchmark
(gpu_benchmark.py) and `make lock` (lock.py). They may import `pipeline`; `pipeline` never imports them
(tests/test_imports.py). Run from the repository root: `python -m tools.gpu_benchmark`."""
