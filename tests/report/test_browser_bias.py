"""The explorer page of a model with biases (model.bias=true), in the real browser: its logits, full
and truncated, are the model's (the page folds the constant coordinate and the biases in)."""

from __future__ import annotations

import shutil

import pytest
import torch

from bilin.data import load_dataset
from bilin.models.checkpoint import load_model, save_model
from bilin.models.networks import ModelSpec, build_model
from bilin.report.explorer import TOP_K, explorer_data, explorer_html, truncated_and_full
from bilin.running.figure_page import PLOTLY_JS
from bilin.running.folder import RunDir
from tests.report.test_browser import F16, open_page, page_input, page_logits

pytestmark = pytest.mark.slow

D = TOP_K + 4  # more components than the page keeps: "all d + 1" and "top K" differ


@pytest.fixture(scope="module")
def biased_page(report_tree, tmp_path_factory):
    folder = tmp_path_factory.mktemp("biased")
    spec = ModelSpec("bilinear", 784, D, 10, classes=tuple(map(str, range(10))), bias=True)
    model = build_model(spec, torch.Generator().manual_seed(0))
    with torch.no_grad():  # biases that matter (the init draws them small)
        model.bilinear.bias.normal_(0, 0.5, generator=torch.Generator().manual_seed(1))
        model.head.bias.normal_(0, 1.0, generator=torch.Generator().manual_seed(2))
    save_model(RunDir(folder / "run"), model, spec, {"dataset": "mnist"})
    ds = load_dataset("mnist", report_tree.data, download=False)
    data = explorer_data(folder / "run", ds.test_x, ds.test_y)
    (folder / "explorer").mkdir()
    shutil.copy(report_tree.report / PLOTLY_JS, folder / PLOTLY_JS)
    page = folder / "explorer" / "biased.html"
    page.write_text(explorer_html(data, f"../{PLOTLY_JS}"))
    return page, load_model(folder / "run"), data


def test_a_biased_models_page_gives_its_logits(browser, biased_page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    page, model, data = biased_page
    open_page(browser, page, tmp_path, "explorer_biased")
    x = page_input(browser)  # the first test image
    top, full = page_logits(browser)
    with torch.no_grad():
        expected = model(x.float()[None])[0].double()
    assert torch.allclose(full, expected, **F16), (full, expected)
    assert f"all {D + 1}" in browser.find_element("id", "topk-label").text
    slider = browser.find_element("id", "topk")
    slider.send_keys(Keys.END)
    slider.send_keys(Keys.LEFT)
    top, _ = page_logits(browser)
    assert torch.allclose(top, truncated_and_full(data, x)[0][-1], atol=1e-9)  # the page's arithmetic is exact
    assert "[x; 1]" in browser.find_element("id", "about").text
    assert data.masks is None and not browser.find_element("id", "alpha").is_enabled()  # no mask with biases
    assert "No mask: with biases" in browser.find_element("id", "mask-hint").text
