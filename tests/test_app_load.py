"""The Streamlit app with several users at once: real Chromium sessions drawing digits together
against one server. Bounded here (3 sessions, 3 digits each); `pipeline bench --only load` runs
10 and 20 sessions and writes the figures to BENCHMARKS.md."""

from __future__ import annotations

from pipeline.runtime import MODELS_ENV
from tests.conftest import BROWSER_TESTS, models_dir_under_test

pytestmark = BROWSER_TESTS

MODELS_DIR = models_dir_under_test(MODELS_ENV)


def test_three_sessions_drawing_at_once_all_get_right_answers():
    from pipeline.bench.load import app_under_load

    result = app_under_load(MODELS_DIR, sessions=3, digits_each=3)
    assert result["errors"] == []
    assert result["answers"] == result["correct"] == 9
    assert result["server_rss_peak_bytes"] and result["answers_per_second"] > 0
