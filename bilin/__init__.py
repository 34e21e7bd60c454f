"""bilin: weight-based interpretability of image classifiers (bilinear MLPs and friends)."""

__version__ = "0.1.0"


def load_model(run_dir, device="cpu"):
    """Rebuild a trained model from a run folder (model.json + model.safetensors), in eval mode."""
    from bilin.checkpoint import load_model as _load

    return _load(run_dir, device)


__all__ = ["load_model", "__version__"]
