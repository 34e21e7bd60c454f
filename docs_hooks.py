"""MkDocs hook (mkdocs.yml `hooks:`): one page per command, generated at build time from the same
source as `bilin <command> --help` (its schema via bilin.settings.schema.describe, its examples and notes), so
the pages cannot drift from the code. `command_page` needs no mkdocs; tests/test_docs.py tests it."""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path
from typing import Any

from bilin.running.command import Command

# What each command writes and the figure it draws: prose the schema does not hold (moved from the README).
# The full manual of each study is in docs/studies.md.
WRITES: dict[str, str] = {
    "train": "A run folder `outputs/train/DATE/TIME/` with `run.json`, `metrics.csv` (per epoch), `per_class.csv`, "
    "`model.safetensors` + `model.json` (the weights and how to rebuild the model), `checkpoint.pt` (resume), "
    "`checksums.json` and `train.log`. See [Running bilin](../usage.md#where-results-go).",
    "decompose": "`eigen.safetensors` (per-class eigenvectors), `spectrum.csv`, `spectrum_input_space.csv`, "
    "`frequency.csv`, `frequency_spectra.csv` and `effective_rank.csv` (each class's spectrum); with `explain=` "
    "the `explain.csv`, with `panel=true` `panel.csv` and `panel.safetensors`. With `method=hosvd`: "
    "`hosvd.safetensors` (output and input factors, core, energies), `hosvd_energy.csv`, `hosvd_output_factors.csv` "
    "and `hosvd_core_energy.csv`; with `method=cp`: `cp.safetensors` (components, class weights), `cp.csv` (per r "
    "the share, the cosine and the test accuracy with the top r), `cp_weights.csv`; both with `effective_rank.csv`. "
    "See [Studies](../studies.md#reading-the-weights-eigen-analysis) and "
    "[Studies](../studies.md#decompositions-shared-across-classes-decompose-methodhosvdcp).",
    "diff": "`diff.csv` (per class and input law, and over all classes: the exact distance E[(f_A − f_B)²], its "
    "root, the distance relative to E[f_A²] and the share the top-k directions explain, k = 1..components), "
    "`diff_spectrum.csv` (the eigenvalues of M_A − M_B per class by |λ|) and `directions.safetensors` (the top "
    "directions and their eigenvalues). See [Studies](../studies.md#what-changed-between-two-models-diff).",
    "truncate": "`truncation.csv` (every model and number of eigenvectors kept), `truncation_bands.csv` "
    "(the mean and 90% t-band over seeds that the figure draws), `effective_rank.csv` (every model and class) and "
    "`effective_rank_bands.csv` (per size and class: mean and 90% t-band over seeds).",
    "similarity": "`similarity.csv` and `similarity_bands.csv`.",
    "compare": "`compare_pairs.csv` (one row per pair of models, the diagonal included: both models' noise, size "
    "and seed, what they differ in, and every measure), `compare_per_class.csv` (the exact and eigenvector measures "
    "per class), `compare_summary.csv` (mean, min and max of each measure over the pairs that differ in the same "
    "things) and `rank_agreement.csv` (Spearman and Kendall between every two measures over the pairs of distinct "
    "models). See [Studies](../studies.md#comparing-models-exactly-compare).",
    "noise-sweep": "`noise_sweep.csv`, `noise_sweep.safetensors`, `noise_frequency_bands.csv`, "
    "`noise_effective_rank.csv` (every model and class) and `noise_effective_rank_bands.csv` (per dataset, noise "
    "and class: mean and 90% t-band over seeds).",
    "augment-grid": "`augment_grid.csv` (every model: its two strengths, seed, accuracy, effective rank, centroids, "
    "top eigenvalue), `augment_grid_bands.csv` (mean and 90% t-band over seeds per cell and measure) and "
    "`augment_grid.safetensors` (the first seed's top eigenvectors). "
    "See [Studies](../studies.md#augmentation-grids-augment-grid).",
    "accuracy": "`accuracy.csv` and `per_class.csv`.",
    "challenge": "`challenge.csv` (every model: condition, seed, the |cos| scores, effective rank, accuracy), "
    "`challenge_bands.csv` (mean and 90% t-band over seeds), `challenge_spectrum.csv` (every eigenvalue of every "
    "rule logit, and their bands), `challenge_eigenvectors.csv` (each top eigenvector's λ and cosines), "
    "`labels.csv` (the rule's label balance per split and clause) and `challenge.safetensors` (the target and the "
    "top eigenvectors). See [Studies](../studies.md#a-planted-rule-read-from-the-weights-challenge).",
    "adversarial": "`adversarial.csv` (accuracy, success and the L2 norm of the change per seed, method, strength "
    "and source class), `adversarial_bands.csv` (the mean and 90% t-band over seeds that the figure draws) and "
    "`masks.safetensors` (the unit masks per dataset and method). "
    "See [Studies](../studies.md#adversarial-masks-from-the-weights-adversarial).",
    "featvis": "`curve.csv` (the objective at every step), `activations.csv` and the images. "
    "See [Studies](../studies.md#feature-visualisation-featvis).",
    "featvis-bench": "`bench.csv` (one row per model, method and class), `bench_summary.csv`, `bench_vs_pixel.csv`, "
    "`ranking.csv` and `bench_scores.csv`. See [Studies](../studies.md).",
    "probe-csf": "`thresholds.csv`, `csf.csv` (the peak fit and the human reference), `psychometric_curves.csv`, "
    "`trials.csv`, `training.csv`, `probes.safetensors`. See "
    "[Studies](../studies.md#contrast-sensitivity-by-linear-probe-probe-csf).",
    "frequency": "`frequency.csv`, `weight_csf.csv`, `probe_thresholds.csv`, `frequency_summary.csv` (what the figure "
    "draws) and `frequency_table.md`. See [Studies](../studies.md).",
    "report": "`outputs/report/index.html`: every run under outputs/ as one offline site, with `runs.csv`. "
    "See [Running bilin](../usage.md#see-everything-bilin-report).",
    "export-figures": "PNG/SVG (and a local plotly.js) for the figures of a run folder.",
    "cache": "Nothing new: lists, verifies, removes or adds model-cache entries.",
    "import-hub": "A run folder that every command taking `run=` reads: `model.safetensors` + `model.json` (the "
    "model, the dataset named by `data=`, and under `imported` the source, the name, the SHA-256 of the files read "
    "and the authors' config), `checksums.json` and `run.json`. See [Interoperability](../interop.md).",
    "export-hub": "`<name>/config.json` (the authors' Config: lr, wd, epochs, batch_size, d_hidden, n_layer, d_input, "
    "d_output, bias, residual, seed) and `<name>/model.safetensors` (their key names: embed.weight, blocks.0.weight, "
    "blocks.0.bias with biases, head.weight): the folder of one model in their hub repo. "
    "See [Interoperability](../interop.md).",
}

FIGURES: dict[str, str] = {
    "train": "`training_curves` (loss and accuracy per epoch) and `per_class_accuracy`.",
    "decompose": "`fig2_top_eigenvectors` (the top eigenvectors of every class, as in the paper's figure 2), "
    "`fig3_spectrum_class<c>` per class (its eigenvalue spectrum and top eigenvectors as images: the paper's "
    "figure 3), `frequency` (the spatial frequencies of the features); with `panel=true` `fig2_panel` (MNIST "
    "beside Fashion-MNIST), with `explain=<i>` `explain` (one test image's logit, eigenvector by eigenvector). "
    "With `method=hosvd`: `hosvd_input_factors` (the top input factors as images), `hosvd_output_factors` "
    "(heatmap over classes), `hosvd_core_energy` and `hosvd_energy`; with `method=cp`: `cp_components` (the "
    "components as images), `cp_class_weights` (heatmap) and `cp_quality` (cosine and accuracy against r).",
    "diff": "`diff_directions` (the top directions of M_A − M_B per class, with their λ) and `diff_share` (the "
    "share of the distance the top-k directions explain against k, per class, one panel per input law).",
    "truncate": "Accuracy against the number of eigenvectors kept per class, one line per hidden size (mean and "
    "90% t-band over seeds): the paper's truncation figure.",
    "similarity": "Cosine similarity of each rank's eigenvectors to the d=300 models, per size: the paper's "
    "similarity figure.",
    "compare": "`compare_<measure>` (a heatmap of every pair per measure, models ordered by noise, size and seed) "
    "and `compare_scatter` (eigenvectors, CKA and weight cosine against the exact similarity under the data law, "
    "one dot per pair of distinct models).",
    "noise-sweep": "The paper's figure 4 (top eigenvectors across training noise) and `frequency_vs_noise`.",
    "augment-grid": "`augment_grid` (the top eigenvector of one class in every cell with its accuracy, as in the "
    "paper's appendix) and `augment_measures` (accuracy, effective rank and centroid against the column "
    "augmentation, a line and band per row strength).",
    "accuracy": "Final validation accuracy of the three models on both datasets.",
    "challenge": "`challenge_eigenvectors` (the target, its complement and every model's top eigenvectors of the rule "
    "logit, rule models then shuffled-label controls) and `challenge_scores` (the |cos| scores and effective rank "
    "with 90% t-bands, and the spectra, rule against control).",
    "adversarial": "`adversarial_vs_alpha` (accuracy and attack success against the strength per method, mean and "
    "90% t-band over seeds) and `adversarial_masks` (the masks and their controls as images, per source class).",
    "featvis": "The images that maximise each target, and with `ladder=true` a ladder of tricks.",
    "probe-csf": "Contrast sensitivity against spatial frequency per layer and colour, beside the human CSF.",
    "frequency": "Weight CSF, probe CSF and featvis spectra of the same models against training noise.",
    "import-hub": "None: the model is read by the analyses (`bilin decompose run=<its folder>`).",
    "export-hub": "None: the authors' code reads the folder (`Model.from_config(**config)` + `load_model`).",
}


def _type(item: Any) -> str:
    return "group" if item.group else ("one of: " + ", ".join(f"`{c}`" for c in item.choices) if item.choices else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def key_rows(command: Command) -> list[tuple[str, str, str, str]]:
    """(key, default, choices, help) for every key of a configured command: what --help lists."""
    from bilin.cli.hydra_app import group_options
    from bilin.settings.schema import describe, format_value

    rows = []
    for item in describe(command.schema):
        options = group_options(item.name, command) if item.group else [format_value(c) for c in item.choices or ()]
        rows.append((item.name, item.default, ", ".join(f"`{o}`" for o in options), item.help))
    presets = group_options("experiment", command)
    if presets:
        rows.append(("experiment", "null", ", ".join(f"`{p}`" for p in presets), "presets"))
    return rows


def option_rows(command: Command) -> list[tuple[str, str, str, str]]:
    """(option, default, choices, help) of a plain Typer command, read from the CLI itself."""
    import typer.main

    from bilin.cli.app import app

    click_command = typer.main.get_command(app).commands[command.name]  # type: ignore[attr-defined]
    rows = []
    for param in click_command.params:
        name = "/".join(param.opts) if param.param_type_name == "option" else (param.name or "").upper()
        choices = ", ".join(f"`{c}`" for c in getattr(getattr(param, "type", None), "choices", None) or ())
        default = "" if param.default is None or param.required else str(param.default)
        rows.append((name, default, choices, getattr(param, "help", None) or ""))
    return rows


def command_page(command: Command) -> str:
    """The Markdown page of one command: summary, examples, every key, what it writes, its figure."""
    rows = key_rows(command) if command.schema else option_rows(command)
    lines = [f"# bilin {command.name}", "", command.summary, ""]
    if command.examples:
        lines += ["## Examples", "", "```", *command.examples, "```", ""]
    lines += ["## Keys" if command.schema else "## Options", ""]
    if command.schema:
        lines += [
            "Given as `key=value` on the command line (the same table as `bilin " + command.name + " --help`).",
            "",
        ]
    lines += ["| key | default | choices | meaning |", "|---|---|---|---|"]
    lines += [f"| `{k}` | {f'`{_cell(d)}`' if d else ''} | {_cell(c)} | {_cell(h)} |" for k, d, c, h in rows]
    lines.append("")
    if command.notes:
        lines += [command.notes, ""]
    if command.name in WRITES:
        lines += ["## What it writes", "", WRITES[command.name], ""]
    if command.name in FIGURES:
        lines += [
            "## Its figure",
            "",
            FIGURES[command.name] + " Figures are written to the run's `figures/` as HTML, PNG, SVG and JSON.",
            "",
        ]
    return "\n".join(lines)


def index_page(commands: list[Command]) -> str:
    lines = ["# Commands", "", "Every page is generated from the command's schema when the docs are built.", ""]
    lines += [f"- [`bilin {c.name}`]({c.name}.md): {c.summary}" for c in commands]
    return "\n".join(lines) + "\n"


def _commands() -> list[Command]:
    from bilin.commands import commands

    return sorted(commands(), key=lambda c: c.name)


def on_config(config: Any) -> Any:
    """Replace the nav entry `Commands: commands/index.md` by the index and one entry per command."""
    pages = [{"Overview": "commands/index.md"}] + [{c.name: f"commands/{c.name}.md"} for c in _commands()]
    config.nav = [{"Commands": pages} if entry == {"Commands": "commands/index.md"} else entry for entry in config.nav]
    return config


def on_files(files: Any, config: Any) -> Any:
    from mkdocs.structure.files import File

    found = _commands()
    files.append(File.generated(config, "commands/index.md", content=index_page(found)))
    for command in found:
        files.append(File.generated(config, f"commands/{command.name}.md", content=command_page(command)))
    return files


def layers_table() -> str:
    """The layers as bilin/layers.py declares them, lowest first: a markdown table."""
    from bilin.layers import LAYERS

    rows = [f"| {name} | {', '.join(f'`{m}`' for m in modules)} |" for name, modules in LAYERS]
    return "\n".join(["| layer | modules and packages |", "|---|---|", *rows])


def _summary(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    return _cell(" ".join(doc.split("\n\n")[0].split()))


def layout_table() -> str:
    """Every package and module of bilin, with its layer and the first paragraph of its docstring: the map
    of the code, read from the code."""
    import bilin
    from bilin.layers import LAYERS, layer_of

    root = Path(bilin.__file__).parent

    def row(shown: str, dotted: str, path: Path) -> str:
        return f"| {shown} | {LAYERS[layer_of(dotted)][0]} | {_summary(path)} |"

    rows = ["| path | layer | what it is |", "|---|---|---|"]
    for top in sorted(pkgutil.iter_modules(bilin.__path__), key=lambda m: (not m.ispkg, m.name)):
        if not top.ispkg:
            rows.append(row(f"`bilin/{top.name}.py`", f"bilin.{top.name}", root / f"{top.name}.py"))
            continue
        folder = root / top.name
        rows.append(row(f"**`bilin/{top.name}/`**", f"bilin.{top.name}", folder / "__init__.py"))
        for module in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
            path = folder / module.name / "__init__.py" if module.ispkg else folder / f"{module.name}.py"
            shown = f"`bilin/{top.name}/{module.name}{'/' if module.ispkg else '.py'}`"
            rows.append(row(shown, f"bilin.{top.name}.{module.name}", path))
    return "\n".join(rows)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """`{{ layers }}` and `{{ layout }}` in a page become the tables of bilin/layers.py and of the package
    tree, so the docs cannot drift from them."""
    markdown = markdown.replace("{{ layers }}", layers_table())
    return markdown.replace("{{ layout }}", layout_table()) if "{{ layout }}" in markdown else markdown
