"""decompose method=hosvd|cp end to end on tiny data, with and without biases; its mistakes in one line."""

import csv
import json

import pytest
import torch
from safetensors.torch import load_file

from bilin.analysis.quadratic_moments import input_forms
from bilin.models.checkpoint import load_model
from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, only_run_dir

pytestmark = pytest.mark.slow  # trains and decomposes through the CLI

D = 16  # TINY_ARGS' d_hidden


def rows(path) -> list[dict]:
    return list(csv.DictReader(path.open()))


def test_hosvd_and_cp_of_a_train_run(bilin_cli, tmp_path):
    assert bilin_cli("train", *TINY_ARGS, "hydra.run.dir=trained").returncode == 0
    forms, _ = input_forms(load_model(tmp_path / "trained"))

    result = bilin_cli("decompose", f"run={tmp_path / 'trained'}", "method=hosvd", "quiet=true")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "decompose")
    saved = load_file(str(run / "hosvd.safetensors"))
    assert saved["output"].shape == (10, 10) and saved["input"].shape == (784, D) and saved["core"].shape == (10, D, D)
    rebuilt = torch.einsum("kab,ck,ia,jb->cij", *(saved[k].double() for k in ("core", "output", "input", "input")))
    assert torch.allclose(rebuilt, forms, atol=1e-5 * float(forms.abs().max()))  # float32 files
    energy = rows(run / "hosvd_energy.csv")
    for mode in ("output", "input"):
        assert sum(float(r["energy"]) for r in energy if r["mode"] == mode) == pytest.approx(1, abs=1e-9)
    assert len(rows(run / "effective_rank.csv")) == 10 and not (run / "eigen.safetensors").exists()
    for name in ("hosvd_input_factors", "hosvd_output_factors", "hosvd_core_energy", "hosvd_energy"):
        assert (run / "figures" / f"{name}.html").is_file(), name

    result = bilin_cli("decompose", f"run={tmp_path / 'trained'}", "method=cp", "rank=4", "cp_steps=40", "quiet=true")
    assert result.returncode == 0, result.stderr
    run = sorted((tmp_path / "outputs" / "decompose").glob("*/*"))[-1]
    table = rows(run / "cp.csv")
    assert [int(r["r"]) for r in table] == [1, 2, 3, 4]
    cosine = [float(r["cosine"]) for r in table]
    assert all(b >= a - 1e-9 for a, b in zip(cosine, cosine[1:], strict=False)) and 0 < cosine[-1] <= 1
    saved = load_file(str(run / "cp.safetensors"))
    assert saved["components"].shape == (4, 784) and saved["weights"].shape == (10, 4)
    assert len(rows(run / "cp_weights.csv")) == 40
    plotted = json.loads((run / "figures" / "cp_quality.json").read_text())["data"]
    assert plotted[0]["y"] == pytest.approx(cosine)  # every plotted number is in cp.csv
    assert plotted[1]["y"] == pytest.approx([float(r["accuracy"]) for r in table])
    assert plotted[2]["y"][0] == pytest.approx(float(table[0]["model_accuracy"]))
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["method"] == "cp" and 1 <= record["cp_steps_run"] <= 40


def test_cp_of_a_model_with_biases_works_in_x_and_1(bilin_cli, tmp_path):
    assert bilin_cli("train", *TINY_ARGS, "model.bias=true", "hydra.run.dir=trained").returncode == 0
    result = bilin_cli("decompose", f"run={tmp_path / 'trained'}", "method=cp", "rank=3", "cp_steps=20", "quiet=true")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "decompose")
    assert load_file(str(run / "cp.safetensors"))["components"].shape == (3, 785)
    assert "constant" in rows(run / "cp.csv")[0]
    assert (
        "image part"
        in json.loads((run / "figures" / "cp_components.json").read_text())["layout"]["title"]["subtitle"]["text"]
    )


MISTAKES = [
    (["method=cp", "rank=0"], "rank=0 must be >= 1"),
    (["method=cp", "cp_steps=0"], "cp_steps=0 must be >= 1"),
    (["method=cp", "cp_ridge=-1"], "cp_ridge=-1.0 must be >= 0"),
    (["method=svd"], "method='svd' is not one of ('eigen', 'hosvd', 'cp')"),
    (["method=hosvd", "explain=3"], "explain belong to method=eigen, not method=hosvd"),
    (["method=cp", "input_space=true", "panel=true"], "input_space, panel belong to method=eigen"),
    (["method=cp", "model=relu"], "ungated bilinear"),
]


@pytest.mark.parametrize("args,fragment", MISTAKES, ids=lambda x: x if isinstance(x, str) else None)
def test_option_mistakes_stop_before_anything_runs(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("decompose", *args), fragment, tmp_path)
    assert not (tmp_path / "outputs").exists()


def test_a_relu_run_is_refused_for_hosvd_and_cp_in_one_line(bilin_cli, tmp_path):
    assert bilin_cli("train", *TINY_ARGS, "model=relu", "hydra.run.dir=relu_run").returncode == 0
    for method in ("hosvd", "cp"):
        result = bilin_cli("decompose", f"run={tmp_path / 'relu_run'}", f"method={method}")
        assert_clean_failure(result, f"method={method}: ", tmp_path)
        assert "bilinear model" in result.stderr
