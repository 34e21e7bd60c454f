"""`bilin frequency` end to end on tiny data: every number of its table traced back to the models."""

import csv
import math

import pytest
import torch
from safetensors.torch import load_file

from bilin.csf.stimuli import Stimuli
from bilin.models.checkpoint import load_model
from tests.cli.test_analysis_cli import numpy_centroid
from tests.conftest import only_run_dir


def test_frequency_study_on_tiny_models(bilin_cli, tmp_path):
    result = bilin_cli("frequency", "experiment=smoke", "device=cpu", "quiet=false")
    assert result.returncode == 0, result.stderr
    run = only_run_dir(tmp_path / "outputs" / "frequency")
    # once the models are trained, a line per model and stage (on stderr, a pipe here, and in the run's log)
    lines = result.stderr.splitlines()
    stages = ("weight CSF (", "eigenvector spectra", "probe CSF (layer product", "featvis (", "peak ")
    for k, (noise, seed) in enumerate([(0, 0), (0, 1), (0.5, 0), (0.5, 1)], 1):
        name = f"{k}/4 mnist σ={noise:g} seed {seed}: "
        said = [line.removeprefix(name) for line in lines if line.startswith(name)]
        assert len(said) == len(stages) and all(map(str.startswith, said, stages)), lines
    first = lines.index("measuring 4 models: weight CSF, eigenvectors, probe CSF and featvis of each")
    assert lines[first + 1].startswith("1/4 mnist σ=0 seed 0: weight CSF (")
    assert lines[-1].startswith("all models measured: ")
    assert "4/4 mnist σ=0.5 seed 1: featvis (" in (run / "frequency.log").read_text()
    rows = list(csv.DictReader((run / "frequency.csv").open()))
    assert [(r["noise"], r["seed"]) for r in rows] == [("0.0", "0"), ("0.0", "1"), ("0.5", "0"), ("0.5", "1")]
    # the weight CSF's thresholds: the cached model's own forward pass on probe-csf's gratings moves
    # the logits by the criterion (1 nat, RMS over the 13 orientations) exactly there
    weights = list(csv.DictReader((run / "weight_csf.csv").open()))
    cache = sorted((tmp_path / "outputs" / "cache").glob("bilinear-mnist-d16-n0-s0-*"))
    model = load_model([p for p in cache if p.is_dir()][0]).double()
    stimuli = Stimuli(28, channels=1)
    orientations = torch.arange(13) * math.pi / 12
    with torch.no_grad():
        grey = model(torch.full((1, 784), 0.5, dtype=torch.float64))
        for row in weights:
            if (row["noise"], row["seed"]) != ("0.0", "0") or not math.isfinite(float(row["threshold"])):
                continue
            c = torch.full((13,), float(row["threshold"]))
            images = stimuli.gratings(float(row["sf_cycles_per_image"]), orientations, torch.zeros(13), c)
            change = model(images.flatten(1).double()) - grey
            assert change.square().sum(1).mean().sqrt().item() == pytest.approx(1.0, rel=1e-4)
    # featvis centroids from the saved images, in numpy
    images = load_file(str(run / "featvis_images.safetensors"))
    for row in rows:
        saved = images[f"mnist/noise{float(row['noise']):g}/seed{row['seed']}"]
        expected = sum(numpy_centroid(saved[c, 0]) for c in range(10)) / 10
        assert float(row["featvis_centroid"]) == pytest.approx(expected, rel=1e-6)
    # the summary: mean over seeds, with its interval around it
    summary = list(csv.DictReader((run / "frequency_summary.csv").open()))
    for band in summary:
        values = [float(r[band["measure"]]) for r in rows if r["noise"] == band["noise"]]
        # NaN where a probe has no peak (at chance: every threshold bracketed above the tested contrasts)
        assert float(band["mean"]) == pytest.approx(sum(values) / len(values), nan_ok=True)
        assert math.isnan(float(band["mean"])) or float(band["low"]) <= float(band["mean"]) <= float(band["high"])
    table = (run / "frequency_table.md").read_text()
    assert table.startswith("| dataset | noise σ | weights: CSF peak") and table.count("| MNIST |") == 2
    assert (run / "figures" / "frequency_study.html").is_file()
    # the probe's thresholds: fitted, or (step-like data) only bracketed, and counted per model
    probe = list(csv.DictReader((run / "probe_thresholds.csv").open()))
    for row in rows:
        mine = [p for p in probe if (p["noise"], p["seed"]) == (row["noise"], row["seed"])]
        assert int(row["probe_step_like"]) == sum(p["step_like"] == "True" for p in mine)
        assert int(row["probe_unreached"]) == sum(p["unreached"] == "True" for p in mine)
    for p in probe:
        bracketed = "True" in (p["step_like"], p["unreached"])
        assert math.isnan(float(p["fitted_threshold"])) == bracketed
        assert math.isnan(float(p["bracket_low"])) != bracketed
