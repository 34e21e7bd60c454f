"""The report in a real browser: Debian's headless Chromium driven by Selenium through Debian's
chromedriver (no browser or driver download). Screenshots go to the test's temp folder."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from bilin.analysis.decompose import eigendecompose
from bilin.analysis.truncate import truncated_logits
from bilin.data import load_dataset
from bilin.models.checkpoint import load_model
from bilin.report.explorer import explorer_data, truncated_and_full

pytestmark = pytest.mark.slow

F16 = {"atol": 2e-3, "rtol": 2e-3}  # the page holds float16 weights: its logits vs the float32 model's


def open_page(browser, path: Path, shots: Path, name: str):
    browser.get(path.as_uri())
    browser.execute_script("return document.readyState")
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    browser.save_screenshot(str(shots / f"{name}.png"))


def page_logits(browser) -> tuple[torch.Tensor, torch.Tensor]:
    """The table the user sees: (top-k column, full column), as the page computed them."""
    cells = browser.execute_script(
        "return Array.from(document.querySelectorAll('#logits-table tbody tr'))"
        ".map(r => [r.querySelector('.top-k').dataset.value, r.querySelector('.full').dataset.value])"
    )
    values = torch.tensor([[float(a), float(b)] for a, b in cells], dtype=torch.float64)
    return values[:, 0], values[:, 1]


def page_input(browser) -> torch.Tensor:
    return torch.tensor(browser.execute_script("return Array.from(window.explorer.state.x)"), dtype=torch.float64)


@pytest.fixture(scope="module")
def explorer(report_tree):
    pages = list((report_tree.report / "explorer").glob("*.html"))
    page = next(p for p in pages if "multirun" not in p.name and report_tree.single.name in p.name)
    model = load_model(report_tree.single)
    ds = load_dataset("mnist", report_tree.data, download=False)
    return page, model, explorer_data(report_tree.single, ds.test_x, ds.test_y)


def test_index_loads_sorts_and_filters(browser, report_tree, tmp_path):
    open_page(browser, report_tree.report / "index.html", tmp_path, "index")
    rows = lambda: browser.execute_script(  # noqa: E731
        "return Array.from(document.querySelectorAll('#runs tbody tr')).filter(r => !r.hidden).length"
    )
    assert rows() == 4
    browser.find_element("id", "filter").send_keys("seed=2")
    assert rows() == 1
    browser.find_element("id", "filter").clear()
    browser.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    wall = browser.find_elements("css selector", "#runs th")[5]
    wall.click()
    wall.click()  # descending
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#runs tbody td.num')).map(td => td.dataset.value)"
    )
    numbers = [float(v) for v in shown if v]
    assert numbers == sorted(numbers, reverse=True) and len(numbers) == 3
    browser.save_screenshot(str(tmp_path / "index_sorted.png"))


def test_sweep_and_run_pages_load(browser, report_tree, tmp_path):
    for page in [*(report_tree.report / "sweeps").glob("*.html"), *(report_tree.report / "runs").glob("*.html")]:
        open_page(browser, page, tmp_path, page.stem)
    sweep = next((report_tree.report / "sweeps").glob("*.html"))
    open_page(browser, sweep, tmp_path, "sweep")
    plots = browser.execute_script("return document.querySelectorAll('.plot .main-svg').length")
    assert plots >= 2  # plotly drew the metric-vs-key figures


def test_drawn_stroke_gives_the_models_logits(browser, explorer, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    page, model, data = explorer
    open_page(browser, page, tmp_path, "explorer")
    browser.find_element("id", "clear").click()
    canvas = browser.find_element("id", "canvas")
    ActionChains(browser).move_to_element_with_offset(canvas, -80, 5).click_and_hold().move_by_offset(
        60, 0
    ).move_by_offset(100, 0).release().perform()
    x = page_input(browser)
    image = x.view(28, 28)
    assert image[14, 7:21].min() > 0.9 and image[:10].max() == 0 and image[20:].max() == 0  # the stroke, where drawn
    top, full = page_logits(browser)
    with torch.no_grad():
        expected = model(x.float()[None])[0].double()
    assert torch.allclose(full, expected, **F16), (full, expected)
    assert torch.allclose(full, truncated_and_full(data, x)[1], atol=1e-9)  # the page's arithmetic is exact
    assert torch.equal(top, full)  # the slider starts at "all d"
    browser.save_screenshot(str(tmp_path / "explorer_drawn.png"))


def test_slider_truncates_and_k_equals_d_gives_full_logits(browser, explorer, tmp_path):
    from selenium.webdriver.common.keys import Keys

    page, model, data = explorer
    open_page(browser, page, tmp_path, "explorer_slider")
    x = page_input(browser)  # the first test image
    slider = browser.find_element("id", "topk")
    slider.send_keys(Keys.END)
    top, full = page_logits(browser)
    assert torch.equal(top, full)
    assert "all 48" in browser.find_element("id", "topk-label").text
    slider.send_keys(Keys.LEFT)
    top, _ = page_logits(browser)
    k = data.top_values.shape[1]
    assert f"top {k} of 48" in browser.find_element("id", "topk-label").text
    reference = truncated_logits(eigendecompose(model), x.float()[None], k)[0].double()
    assert torch.allclose(top, reference, **F16)
    assert not torch.allclose(top, full, atol=1e-3)  # truncation changed something
    slider.send_keys(Keys.HOME)
    top, _ = page_logits(browser)
    assert torch.allclose(top, truncated_and_full(data, x)[0][0], atol=1e-9)
    browser.save_screenshot(str(tmp_path / "explorer_k1.png"))


def test_test_image_picker_gives_the_models_logits(browser, explorer, tmp_path):
    from selenium.webdriver.support.select import Select

    page, model, data = explorer
    open_page(browser, page, tmp_path, "explorer_picker")
    Select(browser.find_element("id", "picker")).select_by_value("7")
    x = page_input(browser)
    assert torch.allclose(x, data.images[7].double(), atol=1e-9)
    _, full = page_logits(browser)
    with torch.no_grad():
        expected = model(x.float()[None])[0].double()
    assert torch.allclose(full, expected, **F16)


def test_clicking_an_eigenvalue_shows_its_eigenvector(browser, explorer, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    page, _, data = explorer
    open_page(browser, page, tmp_path, "explorer_click")
    browser.find_elements("css selector", "#classes button")[3].click()
    j = 2  # the third-largest |lambda| of class 3
    rank = int(data.top_rank[3, j])
    where = browser.execute_script(
        "const gd = document.getElementById('spectrum'), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;"
        "const box = gd.getBoundingClientRect();"
        f"return [xa._offset + xa.l2p({rank + 1}) - box.width / 2,"
        " ya._offset + ya.l2p(arguments[0]) - box.height / 2];",
        float(data.values[3, rank]),
    )
    spectrum = browser.find_element("id", "spectrum")
    ActionChains(browser).move_to_element_with_offset(spectrum, *where).pause(0.3).click().perform()
    assert browser.execute_script("return window.explorer.state.shown") == j
    title = browser.find_element("id", "vector-title").text
    assert re.search(rf"Eigenvector #{rank + 1} of class 3", title), title
    z = browser.execute_script("return document.getElementById('vector').data[0].z.flat()")
    shown = torch.tensor(z, dtype=torch.float64)
    assert torch.allclose(shown, data.top_vectors[3, j].double(), atol=1e-3 * float(data.top_vectors[3, j].abs().max()))
    browser.save_screenshot(str(tmp_path / "explorer_clicked.png"))


def test_drawing_on_a_test_image_starts_from_a_blank_canvas(browser, explorer, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains

    page, _, _ = explorer
    open_page(browser, page, tmp_path, "explorer_draw_on_image")
    assert page_input(browser).sum() > 10  # the page opens on a test image
    canvas = browser.find_element("id", "canvas")  # no "clear": the first stroke replaces the image
    ActionChains(browser).move_to_element_with_offset(canvas, -80, 5).click_and_hold().move_by_offset(
        160, 0
    ).release().perform()
    image = page_input(browser).view(28, 28)
    assert image[14, 7:21].min() > 0.9 and image[:10].max() == 0 and image[20:].max() == 0
    assert browser.find_element("id", "picker").get_attribute("value") == ""


def test_input_logits_and_contributions_are_seen_together_at_1400x1000(browser, explorer, tmp_path):
    page, _, _ = explorer
    browser.set_window_size(1400, 1000)
    try:
        open_page(browser, page, tmp_path, "explorer_1400x1000")
        outside = browser.execute_script(
            "const w = window.innerWidth, h = window.innerHeight;"
            "return ['canvas', 'logits-table', 'logits', 'contrib', 'topk'].filter(id => {"
            "  const b = document.getElementById(id).getBoundingClientRect();"
            "  return b.left < 0 || b.top < 0 || b.right > w || b.bottom > h; });"
        )
        assert outside == []
    finally:
        browser.set_window_size(1500, 1100)


def test_bold_marks_each_columns_own_prediction(browser, explorer, tmp_path):
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select

    page, _, data = explorer
    open_page(browser, page, tmp_path, "explorer_bold")
    slider = browser.find_element("id", "topk")
    differ = 0
    for n in range(0, len(data.labels), 3):
        Select(browser.find_element("id", "picker")).select_by_value(str(n))
        slider.send_keys(Keys.HOME)  # k = 1
        top, full = page_logits(browser)
        bold = browser.execute_script(
            "const rows = Array.from(document.querySelectorAll('#logits-table tbody tr'));"
            "const bold = (td) => Number(getComputedStyle(td).fontWeight) >= 600;"
            "return ['.top-k', '.full'].map(s => rows.findIndex(r => bold(r.querySelector(s))));"
        )
        assert bold == [int(top.argmax()), int(full.argmax())]
        assert browser.find_element("id", "topk-head").text == "top 1"
        differ += int(top.argmax()) != int(full.argmax())
    assert differ  # the two predictions differ somewhere: the test tells the columns apart


def test_figure_pages_draw_from_the_shared_plotly_js_and_a_moved_run_says_what_to_do(browser, report_tree, tmp_path):
    import shutil

    from bilin.running.folder import RunDir

    outputs = report_tree.outputs
    assert (outputs / "plotly.min.js").is_file()  # one copy for every run under outputs/
    assert not list(outputs.glob("*/*/*/figures/plotly.min.js")) and not list(outputs.glob("multirun/**/plotly.min.js"))
    drawn = "return [document.querySelectorAll('.main-svg').length, !!document.getElementById('no-plotly')]"
    for page in [
        report_tree.single / "figures" / "training_curves.html",
        report_tree.sweep_jobs[0] / "figures" / "training_curves.html",
    ]:
        open_page(browser, page, tmp_path, page.parent.parent.name)
        count, missing = browser.execute_script(drawn)
        assert count > 0 and not missing
        assert browser.title.endswith("(training_curves)")
    moved = tmp_path / "moved"
    shutil.copytree(report_tree.single, moved)
    browser.get((moved / "figures" / "training_curves.html").as_uri())
    assert browser.execute_script(drawn) == [0, True]
    assert "bilin export-figures" in browser.find_element("id", "no-plotly").text
    assert RunDir(moved).repair_plotly_js()
    browser.get((moved / "figures" / "training_curves.html").as_uri())  # the shared copy is missed first: logged
    count, missing = browser.execute_script(drawn)
    assert count > 0 and not missing
    browser.get_log("browser")  # the misses, before the next page's check
