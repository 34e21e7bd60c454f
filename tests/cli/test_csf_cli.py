"""`bilin probe-csf` end to end (tiny: 32 px, random ResNet18, 2 epochs, 5 frequencies) and its bad inputs."""

import csv
import json
import math

import pytest

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import TINY_ARGS, only_run_dir

pytestmark = pytest.mark.slow  # each test trains or renders through the CLI

TINY = [
    "net=tv:resnet18",
    "weights=none",
    "size=32",
    "pairs=160",
    "epochs=2",
    "sfs=[1,2,4,8,16]",
    "bootstrap=50",
    "max_steps=8",
    "quiet=true",
    "device=cpu",
]


def test_probe_csf_layer_sweep(bilin_cli, tmp_path):
    result = bilin_cli("probe-csf", *TINY, "layers=[layer1,layer2]")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "probe-csf")
    rows = list(csv.DictReader((run / "thresholds.csv").open()))
    assert [(r["layer"], float(r["sf_cycles_per_image"])) for r in rows] == [
        (layer, sf) for layer in ("layer1", "layer2") for sf in (1, 2, 4, 8, 16)
    ]
    record = json.loads((run / "run.json").read_text())
    for r in rows:
        assert not (r["step_like"] == r["unreached"] == "True")
        why = "step_like" if r["step_like"] == "True" else "unreached" if r["unreached"] == "True" else None
        if why:  # only bracketed: no fitted threshold, the bracket in its place
            low, high = float(r["bracket_low"]), float(r["bracket_high"])
            assert math.isnan(float(r["fitted_threshold"])) and math.isnan(float(r["ci_low"])) and low < high
            listed = {e["sf_cycles_per_image"]: e["bracket"] for e in record[why][r["layer"]]}
            assert listed[float(r["sf_cycles_per_image"])] == [low, high]
        else:
            assert float(r["ci_low"]) <= float(r["fitted_threshold"]) <= float(r["ci_high"])
            assert float(r["sensitivity"]) == pytest.approx(1 / float(r["fitted_threshold"]))
            assert math.isnan(float(r["bracket_low"])) and math.isnan(float(r["bracket_high"]))
        assert float(r["sf_cycles_per_degree"]) == pytest.approx(float(r["sf_cycles_per_image"]) / (32 / 112))
    assert record["degrees"] == pytest.approx(32 / 112) and record["degrees_from"].startswith("DeepCSF")
    assert len(list(csv.DictReader((run / "training.csv").open()))) == 4
    assert record["status"] == "complete" and set(record["peaks"]) == set(record["step_like"]) == set(
        record["unreached"]
    ) == {"layer1", "layer2"}
    for name in ("training", "psychometric", "csf"):
        assert (run / "figures" / f"{name}.html").is_file()
    assert (run / "probes.safetensors").is_file()


def test_probe_csf_chromatic_conditions(bilin_cli, tmp_path):
    """Also: a field of view given by degrees= is the one every cycles/degree uses, and the one recorded."""
    args = ["layer=layer1", "colours=[lum,rg]", "sfs=[2,8]", "protocol=jittered", "degrees=40"]
    result = bilin_cli("probe-csf", *TINY, *args)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "probe-csf")
    rows = list(csv.DictReader((run / "thresholds.csv").open()))
    assert [(r["layer"], r["colour"], float(r["sf_cycles_per_image"])) for r in rows] == [
        ("layer1", colour, sf) for colour in ("lum", "rg") for sf in (2, 8)
    ]
    csf_rows = list(csv.DictReader((run / "csf.csv").open()))
    assert {r["curve"] for r in csf_rows} == {"layer1", "layer1.rg", "human rg"}  # lum: 0.05-0.2 c/deg < 0.5
    for r in csf_rows + rows:
        assert float(r["sf_cycles_per_degree"]) == pytest.approx(float(r["sf_cycles_per_image"]) / 40)
    assert {r["source"] for r in csf_rows if r["curve"] == "human rg"} == {"Mullen 1985 fit, Johnson & Fairchild 2003"}
    record = json.loads((run / "run.json").read_text())
    assert (record["degrees"], record["degrees_from"], record["random_weights"]) == (40, "degrees=", True)
    assert record["human_reference"]["lum"]["drawn_cycles_per_image"] is None
    assert record["human_reference"]["rg"]["drawn_cycles_per_image"] == [4.0, 8.0]  # from 0.1 cycles/degree
    figure = json.loads((run / "figures" / "csf.json").read_text())["layout"]
    assert figure["xaxis2"]["title"]["text"] == "cycles/degree (32 px = 40°)"
    assert "random weights" in figure["title"]["text"] and "human lum left out" in figure["title"]["subtitle"]["text"]
    assert record["protocol"] == "jittered" and record["colours"] == ["lum", "rg"]
    assert set(record["peaks"]) == {"layer1", "layer1.rg"}
    assert len(list(csv.DictReader((run / "training.csv").open()))) == 2  # one probe, tested in both colours


def test_probe_csf_on_a_grey_bilin_mlp(bilin_cli, tmp_path):
    """A grey 28 x 28 bilinear MLP: stimuli in one channel at its size, its hidden layer read, 1..14 cycles/image."""
    trained = bilin_cli("train", *TINY_ARGS, "hydra.run.dir=trained")
    assert trained.returncode == 0, trained.stderr
    fast = ["pairs=160", "epochs=2", "bootstrap=50", "max_steps=8", "quiet=true", "device=cpu"]
    result = bilin_cli("probe-csf", f"run={tmp_path / 'trained'}", *fast)
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "probe-csf")
    rows = list(csv.DictReader((run / "thresholds.csv").open()))
    assert [float(r["sf_cycles_per_image"]) for r in rows] == list(range(1, 15))
    assert {r["layer"] for r in rows} == {"product"} and {r["colour"] for r in rows} == {"lum"}
    record = json.loads((run / "run.json").read_text())
    assert (record["size"], record["channels"], record["protocol"]) == (28, 1, "tutorial")
    refused = bilin_cli("probe-csf", f"run={tmp_path / 'trained'}", *fast, "colours=[lum,rg]")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        f"bilin: error: colours=['lum', 'rg']: rg and yb gratings need a colour model, and {record['extractor']} "
        "takes grey 1 x 28 x 28 images (use colours=[lum])"
    ]


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["layer=layer9"], "unknown layer 'layer9'; this model's layers are: conv1, bn1, relu, maxpool, layer1"),
        (["net=tv:alexnet", "layer=features.12", "size=16", "sfs=[1,2]"], "size=16 is too small for this extractor"),
        (["degrees=0"], "degrees=0.0 must be > 0"),
    ],
)
def test_probe_csf_bad_inputs(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("probe-csf", *TINY, *args), fragment, tmp_path)


def test_probe_csf_bisection_beside_quest(bilin_cli, tmp_path):
    result = bilin_cli("probe-csf", *TINY, "procedure=both", "quest_max_steps=12")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "probe-csf")
    rows = list(csv.DictReader((run / "procedures.csv").open()))
    assert [(r["procedure"], float(r["sf_cycles_per_image"])) for r in rows] == [
        (p, sf) for sf in (1, 2, 4, 8, 16) for p in ("bisection + Weibull fit", "QUEST+")
    ]
    steps = {
        float(r["sf_cycles_per_image"]): int(r["bisection_steps"])
        for r in csv.DictReader((run / "thresholds.csv").open())
    }
    for row in rows:
        sf, trials = float(row["sf_cycles_per_image"]), int(row["trials"])
        assert trials % 26 == 0 and float(row["ci_low"]) <= float(row["threshold"]) <= float(row["ci_high"])
        assert row["step_like"] in (("",) if row["procedure"] == "QUEST+" else ("True", "False"))
        if row["procedure"] == "QUEST+":
            assert trials <= 12 * 26
            reached = float(row["trials_to_bisection_width"])
            assert math.isnan(reached) or reached <= trials
        else:
            assert trials == 26 * steps[sf]
    record = json.loads((run / "run.json").read_text())
    assert record["procedure"] == "both" and set(record["procedures"]["layer2"]) >= {"bisection_trials", "quest_trials"}
