"""`python -m pipeline bench`: measured figures for training, inference, sizes and the whole run.

Timings are medians over repeated runs; a comparison is a ratio measured side by side in one run,
the two sides alternating, so a noisy shared machine slows both alike. Results go to
BENCHMARKS.md (for people) and benchmarks.json (the same figures), each with the machine they
ran on.
"""
