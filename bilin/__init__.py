"""bilin: weight-based interpretability of image classifiers (bilinear MLPs and friends)."""

__version__ = "0.1.0"


def load_model(run_dir, device="cpu"):
    """Rebuild a trained model from a run folder (model.json + model.safetensors), in eval mode."""
    from bilin.models.checkpoint import load_model as _load

    return _load(run_dir, device)


def runs(*folders):
    """Every run under `folders` (default "outputs") as a pandas DataFrame: one row per run with its
    path, command, status, start, wall time, last write, sweep, overrides, `metric.*` and `config.*`
    columns. A run whose process was killed shows status "died" and the time of its last write.
    Raises bilin.errors.UserError when a folder does not exist."""
    from bilin.report.runs import runs as _runs

    return _runs(*folders)


__all__ = ["load_model", "runs", "__version__"]
