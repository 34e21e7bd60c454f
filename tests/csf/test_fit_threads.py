"""The psychometric fits run on one CPU thread (small tensors: threads only wait on each other), and
the caller's thread count is restored after them, also when a fit fails."""

import pytest
import torch

from bilin.csf import weibull_ml


def test_fits_run_on_one_thread_and_restore_the_callers_count(monkeypatch):
    seen = []
    monkeypatch.setattr(weibull_ml, "_score", lambda *a: seen.append(torch.get_num_threads()) or 1 / 0)
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        c = torch.tensor([[0.1, 0.2]], dtype=torch.float64)
        with pytest.raises(ZeroDivisionError):
            weibull_ml.ml_weibull(
                c, torch.ones_like(c) * 10, torch.ones_like(c) * 8, c[None, :, :1].repeat(1, 1, 3), 0.06
            )
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)
