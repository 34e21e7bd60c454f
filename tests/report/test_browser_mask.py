"""The explorer's adversarial mask, in the real browser: the input becomes the image plus α times a
class's mask, read from the weights alone, and the page's logits stay the model's."""

from __future__ import annotations

import pytest
import torch

from bilin.analysis.adversarial import eigen_mask
from bilin.analysis.decompose import eigendecompose, orient_to_class
from bilin.data import load_dataset
from bilin.report.explorer import MASK_COMPONENTS
from tests.report.test_browser import F16, explorer, open_page, page_input, page_logits  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow


def test_the_mask_slider_adds_alpha_times_the_classes_mask(browser, explorer, report_tree, tmp_path):  # noqa: F811
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.select import Select

    page, model, data = explorer
    ds = load_dataset("mnist", report_tree.data, download=False)
    eigen = orient_to_class(eigendecompose(model), ds.test_x.flatten(1).float() / 255, ds.test_y)
    for c in range(10):  # the page's masks are bilin adversarial's, from the weights alone
        assert torch.equal(data.masks[c], eigen_mask(eigen, c, MASK_COMPONENTS))
    open_page(browser, page, tmp_path, "explorer_mask")
    base = page_input(browser)  # the first test image, no mask
    _, clean = page_logits(browser)
    Select(browser.find_element("id", "mask-class")).select_by_value("3")
    browser.find_element("id", "alpha").send_keys(Keys.END)  # alpha = 10
    x = page_input(browser)
    assert torch.allclose(x - base, 10 * data.masks[3].double(), atol=1e-9)
    assert float((x - base).norm()) == pytest.approx(10, rel=1e-6)
    assert browser.find_element("id", "alpha-label").text == "10.0"
    _, full = page_logits(browser)
    with torch.no_grad():
        expected = model(x.float()[None])[0].double()
    assert torch.allclose(full, expected, **F16), (full, expected)
    assert full[3] - clean[3] > 0  # the mask raises its class's logit
    browser.save_screenshot(str(tmp_path / "explorer_mask_on.png"))
    browser.find_element("id", "clear").click()  # a drawing keeps the mask: blank + alpha * mask
    assert torch.allclose(page_input(browser), 10 * data.masks[3].double(), atol=1e-9)
    Select(browser.find_element("id", "mask-class")).select_by_value("-1")
    assert float(page_input(browser).abs().max()) == 0
