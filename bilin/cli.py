"""The `bilin` command. Each subcommand is a thin wrapper: parsing here, work in the task modules."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from bilin.errors import UserError, exit_with

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    rich_markup_mode="rich",
    help="Weight-based interpretability of image classifiers: train bilinear MLPs and read their weights.",
)
HYDRA_ARGS = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": ["--help"]}


def _train_help() -> str:
    from bilin.hydra_app import config_choices

    return f"""Train a model into outputs/train/DATE/TIME (Hydra overrides, multirun, launchers).

[bold]Examples[/bold]

  bilin train model=bilinear data=fmnist

  bilin train -m seed=0,1,2 d_hidden=30,512            (multirun: outputs/multirun/train/...)

  bilin train -m hydra/launcher=submitit_local seed=0,1 (or submitit_slurm on a cluster)

  bilin train --cfg job                                 (print the composed config)

  bilin train resume=outputs/train/DATE/TIME            (finish an interrupted run in place)

[bold]Config groups[/bold]: model={'|'.join(config_choices('model'))}  data={'|'.join(config_choices('data'))}
  experiment={'|'.join(config_choices('experiment'))}

[bold]Keys[/bold] (defaults): noise=0.5 d_hidden=512 seed=420 epochs=100 lr=1e-3 wd=1.0 batch_size=2048
  device=auto|cpu|cuda precision=fp32|tf32|bf16 compile=none|default|reduce-overhead
  cuda_graph=true quiet=false checkpoint_every=10 outputs_root=outputs data.root=$BILIN_DATA|data data.download=true
  data.train_limit=N data.test_limit=N

Hydra's own flags pass through: -m/--multirun, --cfg job|hydra|all, --resolve, --info, --hydra-help.
"""


@app.command(context_settings=HYDRA_ARGS, help=_train_help())
def train(ctx: typer.Context) -> None:
    from bilin.hydra_app import check_train, run_hydra_command, train_main

    args = list(ctx.args)
    resume = [a for a in args if a.startswith("resume=")]
    if resume and not any(a in ("-m", "--multirun") for a in args):
        _resume(resume[0].split("=", 1)[1], [a for a in args if a not in resume])
        return
    run_hydra_command("bilin train", "train", args, train_main, check_train)


def _resume(run_dir: str, others: list[str]) -> None:
    from bilin.train.task import RunStopped, resume_run

    allowed = {"device", "quiet"}
    overrides = {}
    for arg in others:
        key, _, value = arg.partition("=")
        if key not in allowed or not value:
            exit_with(UserError(f"resume=<run dir> continues the run's own config; only device= and quiet= "
                                f"may be given with it, not {arg!r}"))
        overrides[key] = value.lower() == "true" if key == "quiet" else value
    try:
        record = resume_run(run_dir, overrides)
    except UserError as exc:
        exit_with(exc)
    except RunStopped as exc:
        exit_with(exc, exc.exit_code)
    print(f"resumed run complete: {run_dir} (val acc {record['final']['val_acc'] * 100:.2f}%)")


ANALYSIS_HELP = {
    "decompose": ("Per-class eigenvectors of a bilinear MLP: eigen.safetensors, spectrum.csv, figures 2 and 3.",
                  "bilin decompose run=outputs/train/DATE/TIME explain=0 input_space=true\n\n"
                  "  bilin decompose data=fmnist panel=true   (model from the cache, trained if missing)"),
    "truncate": ("Accuracy with the top-k eigenvectors per class over a grid of sizes x seeds.",
                 "bilin truncate sizes=[30,100,300] seeds=[0,1,2] epochs=20 k_max=30"),
    "similarity": ("Eigenvector similarity across seeds and sizes (figure A vs rank, figure B heatmap).",
                   "bilin similarity order=top|bottom|abs ranks=20 reference_size=300"),
    "noise_sweep": ("Figure 4: top eigenvector of one class vs input-noise std, MNIST and Fashion-MNIST.",
                    "bilin noise-sweep noises=[0,0.2,0.4,0.6,0.8] epochs=50 target_class=0"),
    "accuracy": ("Bilinear vs relu-gated vs relu MLP: overall and per-class accuracy.",
                 "bilin accuracy models=[bilinear,bilinear_relu,relu] datasets=[mnist,fmnist]"),
    "featvis": ("Feature visualisation: optimise inputs to maximise class logits or hidden units of any model.",
                "bilin featvis run=outputs/train/DATE/TIME ladder=true images_per_target=4\n\n"
                "  bilin featvis net=tv:resnet18 weights=none target=[channel:layer3:5,class:8]\n\n"
                "  bilin featvis run=... mode=sphere robustness=false fourier=false   (eigenvector oracle)"),
    "probe_csf": ("Contrast sensitivity of a frozen network, measured with a linear probe (staircase + Weibull fit).",
                  "bilin probe-csf net=tv:resnet50 weights=imagenet layer=layer2\n\n"
                  "  bilin probe-csf layers=[layer1,layer2,layer3,layer4] weights=none   (one CSF per layer)"),
}


ANALYSIS_KEYS = {
    "decompose": "run=<dir> d_hidden=512 seed=420 noise=0.5 epochs=100 explain=<test index> input_space=false "
                 "panel=false",
    "truncate": "sizes=[30,50,100,300,500,1000] seeds=[0,1,2,3,4] noise=0.4 epochs=100 k_max=30",
    "similarity": "sizes=[...] seeds=[...] noise=0.4 epochs=100 ranks=20 order=top|bottom|abs reference_size=300",
    "noise_sweep": "noises=[0,0.2,0.4,0.6,0.8] datasets=[mnist,fmnist] target_class=0 d_hidden=512 epochs=50",
    "accuracy": "models=[bilinear,bilinear_relu,relu] datasets=[mnist,fmnist] d_hidden=512 noise=0.5 epochs=100",
    "featvis": "run=<dir> | net=tv:<name> weights=imagenet|none|<file> size=224 target=[class:all] steps=512 "
               "lr=0.05 optimizer=adam|sgd init=noise|grey images_per_target=1 seed=0 mode=free|sphere radius=10 "
               "robustness=true fourier=true decorrelate=true diversity=0 diversity_layer=<layer> l2=0 "
               "blur_every=0 blur_sigma=0.5 redirect_relu_steps=16 squash=auto|sigmoid|none "
               "colour_data=auto|imagenet|<dataset>|<file> ladder=false frames_every=0 device=auto",
    "probe_csf": "net=null (tv:resnet50) | run=<dir> weights=imagenet|none|<file> layer=layer2 layers=[] size=224 "
                 "pool=null pairs=1000 epochs=10 batch_size=32 lr=0.1 sfs=[] (divisors of size up to size/2) "
                 "trials=26 max_steps=20 bootstrap=200 human_reference=true seed=0 device=auto",
}
ANALYSIS_FOOTER = {
    "probe_csf": "Takes Hydra overrides and -m for sweeps. With weights=none the curve's shape means nothing; "
                 "it is for timing and testing.",
    "featvis": "Takes Hydra overrides and -m for sweeps (e.g. -m seed=0,1,2 or lr=0.01,0.05).",
}


def _register_analysis(config_name: str) -> None:
    summary, example = ANALYSIS_HELP[config_name]
    command = config_name.replace("_", "-")
    footer = ANALYSIS_FOOTER.get(config_name, "Takes Hydra overrides like train (model=, data=, noise=, epochs=, "
                                 "lr=, wd=, batch_size=, device=, cache_root=, quiet=) and -m for sweeps. Models "
                                 "come from the model cache (outputs/cache), trained batched when missing.")
    from rich.markup import escape  # lists like target=[class:all] would otherwise be read as markup tags

    text = (f"{summary}\n\n[bold]Example[/bold]\n\n  {escape(example)}\n\n[bold]Keys[/bold] (defaults): "
            f"{escape(ANALYSIS_KEYS[config_name])}\n\n{footer}")

    def command_fn(ctx: typer.Context) -> None:
        from bilin.hydra_app import ANALYSIS_CHECKS, ANALYSIS_MAINS, run_hydra_command

        run_hydra_command(f"bilin {command}", config_name, list(ctx.args), ANALYSIS_MAINS[config_name],
                          ANALYSIS_CHECKS[config_name])

    app.command(command, context_settings=HYDRA_ARGS, help=text)(command_fn)


for _name in ANALYSIS_HELP:
    _register_analysis(_name)


@app.command("export-figures")
def export_figures(run_dir: Path = typer.Argument(..., help="a run folder with figures/*.json")) -> None:
    """Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido)."""
    from bilin.rundir import export_static

    folder = run_dir / "figures"
    names = sorted(p.stem for p in folder.glob("*.json"))
    if not names:
        exit_with(UserError(f"no figures/*.json in {run_dir}"))
    note = export_static(folder, names)
    if note:
        exit_with(UserError(note))
    print(f"wrote {len(names)} figures as PNG and SVG to {folder}")


@app.callback()
def main(version: Optional[bool] = typer.Option(None, "--version", help="print the version and exit")) -> None:
    if version:
        from bilin import __version__

        print(f"bilin {__version__}")
        raise typer.Exit()
