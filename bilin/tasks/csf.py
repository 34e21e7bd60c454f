"""`bilin probe-csf`: cfg -> frozen extractor -> probe per layer -> staircase + fit -> CSF figures."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from bilin.config import check_csf_config
from bilin.csf.probe import FeatureExtractor, ProbeSettings, grating_observer, train_probe
from bilin.csf.psychophysics import bisection, csf_peak, fit_psychometric
from bilin.csf.stimuli import default_frequencies
from bilin.errors import UserError
from bilin.featvis.sources import from_run, from_torchvision
from bilin.figures import csf as figs
from bilin.tasks.common import analysis_run, step_progress


def run_probe_csf(cfg, out_dir: Path) -> dict:
    check_csf_config(cfg)
    with analysis_run(cfg, out_dir, "probe-csf") as job:
        device = job.device
        model, name = _extractor_model(cfg, device)
        layers = list(cfg.layers) if cfg.layers else [cfg.layer]
        sfs = list(cfg.sfs) if cfg.sfs else default_frequencies(cfg.size)
        bad = [f for f in sfs if not 0 < f <= cfg.size / 2]
        if bad:
            raise UserError(f"spatial frequency {bad[0]} is outside (0, size/2 = {cfg.size / 2:g}] cycles per image")
        settings = ProbeSettings(cfg.pairs, cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
        batches = max(cfg.pairs // cfg.batch_size, 1) * cfg.epochs
        results: dict[str, dict] = {}
        with step_progress(batches * len(layers), cfg.quiet) as (progress, task):
            for layer in layers:
                progress.update(task, description=f"probe {layer}")
                results[layer] = _measure_layer(cfg, model, layer, sfs, settings, device,
                                                lambda: progress.advance(task))
        history_rows = [row for r in results.values() for row in r["history_rows"]]
        threshold_rows = [row for r in results.values() for row in r["threshold_rows"]]
        trial_rows = [row for r in results.values() for row in r["trial_rows"]]
        probes = {layer: r["probe"] for layer, r in results.items()}
        run = job.run
        run.write_csv("thresholds.csv", threshold_rows)
        run.write_csv("training.csv", history_rows)
        run.write_csv("trials.csv", trial_rows)
        run.save_tensors("probes.safetensors", {f"{layer}.{k}": v.detach().cpu().contiguous()
                                                for layer, p in probes.items() for k, v in p.state_dict().items()},
                         metadata={"layers": ",".join(layers), "extractor": name})
        figures = {
            "training": figs.training_figure(history_rows, layers, f"Probe training ({name})"),
            "psychometric": figs.psychometric_figure(results[layers[0]]["stair"], results[layers[0]]["fit"], sfs,
                                                     f"Psychometric curves, {layers[0]} ({name})"),
            "csf": figs.csf_figure({layer: results[layer]["fit"] for layer in layers}, sfs, degrees(cfg.size),
                                   f"Contrast sensitivity by linear probe ({name})", cfg.human_reference),
        }
        never_met = sum(int((r["stair"].steps == cfg.max_steps).sum()) for r in results.values())
        return job.finish(figures, extractor=name, layers=layers, sfs=sfs, seed=cfg.seed,
                          peaks={layer: {"cycles_per_image": r["peak"], "ci": r["peak_ci"],
                                         "cycles_per_degree": r["peak"] / degrees(cfg.size)}
                                 for layer, r in results.items()},
                          final_probe_accuracy={layer: r["history"].accuracy[-1] for layer, r in results.items()},
                          bisections_that_ran_all_steps=never_met)


def _measure_layer(cfg, model, layer: str, sfs: list, settings: ProbeSettings, device, advance) -> dict:
    """Train the probe on one layer, run the staircases, fit them: everything the outputs need."""
    extractor = FeatureExtractor(model, layer, cfg.pool)
    _check_size(extractor, cfg.size, device)
    probe, history = train_probe(extractor, cfg.size, settings, device, advance)
    observer = grating_observer(extractor, probe, sfs, cfg.size, cfg.trials, cfg.seed, device, cfg.eval_batch)
    stair = bisection(observer, len(sfs), cfg.trials, max_steps=cfg.max_steps)
    fit = fit_psychometric(stair, boot=cfg.bootstrap, seed=cfg.seed)
    peak = csf_peak(torch.tensor(sfs), 1 / fit.threshold[None])[0].item()
    boot_peaks = csf_peak(torch.tensor(sfs), 1 / fit.boot_thresholds)
    finite = boot_peaks[boot_peaks.isfinite()]
    peak_ci = (torch.quantile(finite, torch.tensor([0.025, 0.975], dtype=finite.dtype)).tolist()
               if len(finite) > 10 else [math.nan, math.nan])
    history_rows = [{"layer": layer, "epoch": e + 1, "accuracy": a, "loss": loss, "normalised_loss": nl}
                    for e, (a, loss, nl) in enumerate(zip(history.accuracy, history.loss, history.normalised_loss))]
    threshold_rows, trial_rows = [], []
    for i, sf in enumerate(sfs):
        threshold_rows.append({
            "layer": layer, "sf_cycles_per_image": sf, "sf_cycles_per_degree": sf / degrees(cfg.size),
            "bisection_threshold": float(stair.threshold[i]), "bisection_steps": int(stair.steps[i]),
            "fitted_threshold": float(fit.threshold[i]), "ci_low": float(fit.ci_low[i]),
            "ci_high": float(fit.ci_high[i]), "sensitivity": 1 / float(fit.threshold[i]),
            "trials": int(stair.trials[i].sum())})
        trial_rows += [{"layer": layer, "sf": sf, "contrast": float(c), "trials": int(n), "correct": int(k)}
                       for c, n, k in zip(stair.contrast[i], stair.trials[i], stair.correct[i]) if n > 0]
    return {"probe": probe, "history": history, "stair": stair, "fit": fit, "peak": peak, "peak_ci": peak_ci,
            "history_rows": history_rows, "threshold_rows": threshold_rows, "trial_rows": trial_rows}


def degrees(size: int) -> float:
    """Visual angle of the image, as DeepCSF converts: 224 px = 2 degrees."""
    return size / 112


def _extractor_model(cfg, device) -> tuple[torch.nn.Module, str]:
    """The frozen network, taking images in [0, 1] (torchvision models normalise in a pre-hook)."""
    if cfg.run is not None:
        subject = from_run(cfg.run, device)
        if subject.input_shape[0] != 3 or tuple(subject.input_shape[1:]) != (cfg.size, cfg.size):
            raise UserError(f"the run's model takes {subject.input_shape} images; probe-csf draws 3 x size x size "
                            f"colour stimuli (size={cfg.size}): use a colour model and size={subject.input_shape[-1]}")
        return subject.model, subject.name
    subject = from_torchvision(str(cfg.net or "tv:resnet50")[3:], str(cfg.weights), cfg.size, device)
    return subject.model, subject.name


def _check_size(extractor: FeatureExtractor, size: int, device) -> None:
    try:
        features = extractor(torch.full((2, 3, size, size), 0.5, device=device))
    except RuntimeError as exc:
        raise UserError(f"size={size} is too small for this extractor ({str(exc).splitlines()[0][:140]})") from exc
    if features.shape[1] == 0:
        raise UserError(f"size={size} is too small: layer {extractor.layer!r} gives no features")
