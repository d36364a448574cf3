"""The Streamlit app's sidebar as a browser draws it, at Streamlit's default sidebar width: every
column of the runtime table in view, and a signature icon that needs no emoji font (Debian's headless
Chromium has none, nor do many desktops: an emoji showed as a missing-glyph box)."""

from __future__ import annotations

import pytest

from pipeline.bench.browser import launch, streamlit_idle, streamlit_server
from pipeline.runtime import MODELS_ENV
from tests.conftest import BROWSER_TESTS, models_dir_under_test

pytestmark = BROWSER_TESTS

MODELS_DIR = models_dir_under_test(MODELS_ENV)


@pytest.fixture(scope="module")
def sidebar(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    cwd = tmp_path_factory.mktemp("elsewhere")
    with streamlit_server(MODELS_DIR, cwd, cwd / "streamlit.log") as url, sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url)
        page.get_by_text("Signature:").wait_for(timeout=60_000)
        page.locator(
            "[data-testid=stSidebar] :is([data-testid=stTable] td, [data-testid=stDataFrame] canvas)"
        ).first.wait_for(timeout=30_000)
        streamlit_idle(page)
        yield page.get_by_test_id("stSidebar")
        streamlit_idle(page)
        browser.close()


# Elements that clip what they hold or scroll it sideways, and hold more than they show
CUT_OFF = """side => [...side.querySelectorAll('*')].filter(element =>
    getComputedStyle(element).overflowX !== 'visible' && element.scrollWidth > element.clientWidth + 1
).map(element => `${element.dataset.testid || element.className}: ${element.scrollWidth} px `
                  + `in ${element.clientWidth}`)"""


def test_every_column_of_the_runtime_table_is_in_view(sidebar):
    """st.dataframe's grid scrolled sideways, the Size column cut; nothing in the sidebar may."""
    assert sidebar.evaluate(CUT_OFF) == []
    content = sidebar.get_by_test_id("stSidebarUserContent").bounding_box()
    cells = sidebar.evaluate("""side => [...side.querySelectorAll('[data-testid=stTable] th, '
                                + '[data-testid=stTable] td')].map(cell => ({
        text: cell.textContent, right: cell.getBoundingClientRect().right}))""")
    assert [cell["text"] for cell in cells[:3]] == ["Runtime", "Accuracy", "Size"]
    assert any(cell["text"].endswith("KB") for cell in cells)  # the sizes are there
    for cell in cells:
        assert cell["right"] <= content["x"] + content["width"] + 0.5, (cell, content)


def test_the_signature_icon_is_a_material_icon(sidebar):
    alert = sidebar.get_by_test_id("stAlert").filter(has_text="Signature:")
    icon = alert.get_by_test_id("stAlertDynamicIcon")
    assert icon.text_content() in ("verified_user", "gpp_maybe")  # a ligature of the icon font
    font = icon.evaluate("element => getComputedStyle(element).fontFamily")
    assert "Material Symbols" in font
    assert sidebar.evaluate("() => document.fonts.check('24px \"Material Symbols Rounded\"', 'gpp_maybe')")
    width = icon.bounding_box()["width"]
    assert width < 40, f"the icon is {width} px wide: its name shows as text, not as the icon"
