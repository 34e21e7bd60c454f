"""`bilin probe-csf` end to end (tiny: 32 px, random ResNet18, 2 epochs, 5 frequencies) and its bad inputs."""

import csv
import json

import pytest

from tests.cli.test_bad_input import assert_clean_failure
from tests.conftest import only_run_dir

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
    for r in rows:
        assert float(r["ci_low"]) <= float(r["fitted_threshold"]) <= float(r["ci_high"])
        assert float(r["sensitivity"]) == pytest.approx(1 / float(r["fitted_threshold"]))
        assert float(r["sf_cycles_per_degree"]) == pytest.approx(float(r["sf_cycles_per_image"]) / (32 / 112))
    assert len(list(csv.DictReader((run / "training.csv").open()))) == 4
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and set(record["peaks"]) == {"layer1", "layer2"}
    for name in ("training", "psychometric", "csf"):
        assert (run / "figures" / f"{name}.html").is_file()
    assert (run / "probes.safetensors").is_file()


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["layer=layer9"], "unknown layer 'layer9'; this model's layers are: conv1, bn1, relu, maxpool, layer1"),
        (["net=tv:alexnet", "layer=features.12", "size=16", "sfs=[1,2]"], "size=16 is too small for this extractor"),
    ],
)
def test_probe_csf_bad_inputs(bilin_cli, tmp_path, args, fragment):
    assert_clean_failure(bilin_cli("probe-csf", *TINY, *args), fragment, tmp_path)
