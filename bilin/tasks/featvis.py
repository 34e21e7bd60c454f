"""`bilin featvis`: cfg -> model (bilin run or torchvision) -> render (and the ladder) -> figures."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path

import torch

from bilin.config import check_featvis_config
from bilin.errors import UserError
from bilin.featvis.objectives import Target, parse_targets
from bilin.featvis.render import RenderResult, Settings, Tricks, render
from bilin.featvis.sources import Subject, colour_basis_from, from_run, from_torchvision
from bilin.figures import featvis as figs
from bilin.tasks.common import analysis_run, step_progress

LADDER = ("baseline", "+robustness", "+fourier", "+decorrelation", "+diversity")


def run_featvis(cfg, out_dir: Path) -> dict:
    check_featvis_config(cfg)
    with analysis_run(cfg, out_dir, "featvis") as job:
        subject = _subject(cfg, job.device)
        targets = parse_targets(list(cfg.target), len(subject.classes))
        labels = [_label(t, subject) for t in targets]
        _check_input_shape(subject, job.device)
        colour = colour_basis_from(cfg.colour_data, subject, cfg.data_root) if cfg.decorrelate else None
        settings = Settings(steps=cfg.steps, lr=cfg.lr, optimizer=cfg.optimizer, init=cfg.init,
                            images_per_target=cfg.images_per_target, seed=cfg.seed, mode=cfg.mode,
                            radius=cfg.radius, diversity_layer=cfg.diversity_layer, frames_every=cfg.frames_every)
        tricks = Tricks(robustness=cfg.robustness, fourier=cfg.fourier, decorrelate=cfg.decorrelate,
                        diversity=cfg.diversity, l2=cfg.l2, blur_every=cfg.blur_every, blur_sigma=cfg.blur_sigma,
                        redirect_relu_steps=cfg.redirect_relu_steps, squash=cfg.squash)
        plan = [("result", settings, tricks)] + (_ladder(settings, tricks) if cfg.ladder else [])
        results: dict[str, RenderResult] = {}
        with step_progress(sum(s.steps for _, s, _ in plan), cfg.quiet) as (progress, task):
            for name, step_settings, step_tricks in plan:
                progress.update(task, description=f"featvis {name}")
                results[name] = render(subject.model, subject.input_shape, targets, step_settings, step_tricks,
                                       colour, job.device, on_step=lambda _s: progress.advance(task))
        main = results["result"]
        _write_outputs(job.run, main, results, targets, labels)
        figures = _figures(cfg, subject, main, results, labels, targets, job.device)
        return job.finish(figures, model=subject.name, targets=labels, seed=cfg.seed, steps=cfg.steps,
                          tricks=asdict(tricks), diversity_layer=main.diversity_layer,
                          colour_basis=None if colour is None else colour.factor.tolist(),
                          render_seconds={name: round(r.seconds, 3) for name, r in results.items()},
                          final_activation_mean=float(main.activations.mean()))


def _subject(cfg, device: torch.device) -> Subject:
    if cfg.run is not None:
        return from_run(cfg.run, device)
    return from_torchvision(str(cfg.net)[3:], str(cfg.weights), cfg.size, device)


def _label(target: Target, subject: Subject) -> str:
    if target.kind == "class" and target.index < len(subject.classes):
        return f"{target.index}: {subject.classes[target.index]}"
    return target.label


def _check_input_shape(subject: Subject, device: torch.device) -> None:
    try:
        with torch.no_grad():
            subject.model(torch.zeros(1, *subject.input_shape, device=device))
    except RuntimeError as exc:
        raise UserError(f"{subject.name} cannot take images of shape {subject.input_shape} "
                        f"({str(exc).splitlines()[0][:160]}); choose another size=") from exc


def _ladder(settings: Settings, tricks: Tricks) -> list[tuple[str, Settings, Tricks]]:
    """Tricks added one at a time from the plain baseline; diversity needs several images."""
    base = Tricks(redirect_relu_steps=tricks.redirect_relu_steps)
    steps = [base, replace(base, robustness=True), replace(base, robustness=True, fourier=True),
             replace(base, robustness=True, fourier=True, decorrelate=True),
             replace(base, robustness=True, fourier=True, decorrelate=True, diversity=tricks.diversity or 1.0)]
    many = replace(settings, images_per_target=max(2, settings.images_per_target), frames_every=0)
    return [(name, many if name == "+diversity" else replace(settings, frames_every=0), t)
            for name, t in zip(LADDER, steps)]


def _write_outputs(run, main: RenderResult, results: dict, targets: list[Target], labels: list[str]) -> None:
    tensors = {"images": main.images.contiguous(), "activations": main.activations.contiguous()}
    tensors.update({f"ladder/{name}": r.images.contiguous() for name, r in results.items() if name != "result"})
    run.save_tensors("inputs.safetensors", tensors, metadata={"targets": "|".join(labels)})
    steps, n_targets, per_target = main.curve.shape
    run.write_csv("curve.csv", [{"step": s, "target": labels[t], "image": i, "activation": float(main.curve[s, t, i])}
                                for s in range(steps) for t in range(n_targets) for i in range(per_target)])
    run.write_csv("activations.csv", [{"target": labels[t], "image": i, "activation": float(main.activations[t, i])}
                                      for t in range(n_targets) for i in range(per_target)])


def _figures(cfg, subject: Subject, main: RenderResult, results: dict, labels: list[str], targets, device) -> dict:
    title = f"<br><sup>{subject.name}: {cfg.steps} steps, seed {cfg.seed}</sup>"
    figures = {"featvis": figs.featvis_grid(main.images, labels, f"Feature visualisation{title}"),
               "objective": figs.objective_curves(main.curve, labels, f"Objective per step{title}")}
    if len(results) > 1:
        steps = [(name, results[name].images) for name in LADDER]
        figures["ladder"] = figs.ladder_figure(steps, labels, f"Tricks added one at a time{title}")
    if main.frames:
        figures["animation"] = figs.animation_figure(main.frames, cfg.images_per_target, labels,
                                                     f"Optimisation{title}")
    eigen = _eigen_comparison(subject, main, targets, title)
    if eigen is not None:
        figures["featvis_vs_eigenvectors"] = eigen
    return figures


def _eigen_comparison(subject: Subject, main: RenderResult, targets: list[Target], title: str):
    """For an ungated bilinear MLP on grey images: featvis beside the top eigenvectors of each class."""
    from bilin.analysis.decompose import eigendecompose, input_space_eigendecompose
    from bilin.models import BilinearMLP

    model = subject.model
    classes = [t.index for t in targets if t.kind == "class"]
    if not isinstance(model, BilinearMLP) or model.gate is not None or not classes or subject.input_shape[0] != 1:
        return None
    hidden, pixel = eigendecompose(model), input_space_eigendecompose(model)
    rows = [i for i, t in enumerate(targets) if t.kind == "class"]
    top_hidden = torch.stack([hidden.vectors[c, hidden.values[c].argmax()] for c in classes]).cpu()
    top_pixel = torch.stack([pixel.vectors[c, pixel.values[c].argmax()] for c in classes]).cpu()
    images = main.images[rows, 0].flatten(1)
    return figs.featvis_vs_eigenvectors(images, top_hidden, top_pixel, [subject.classes[c] for c in classes],
                                        tuple(subject.input_shape[1:]), f"Featvis and top eigenvectors{title}")
