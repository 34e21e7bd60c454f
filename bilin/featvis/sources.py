"""The model featvis looks into: a bilin run, or a torchvision model (`tv:<name>`).

Both come back as a `Subject`: the nn.Module (eval mode, taking images in [0, 1] of
`input_shape`), class names, and the colour basis featvis should use. torchvision models get
their ImageNet normalisation as a forward pre-hook, so layer names stay the model's own
(`layer3`, not `net.layer3`) and they too take [0, 1] images: the range of the photographs they
were trained on, before that normalisation. bilin's models take uint8 / 255 (model.json's
"input"; the CNN's colour whitening is inside the model). That range is `value_range`, where
featvis keeps its images.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from bilin.errors import UserError
from bilin.featvis.colour import ColourBasis, fit_colour_basis, imagenet_colour_basis

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Subject:
    model: nn.Module
    input_shape: tuple[int, ...]  # (channels, height, width)
    classes: tuple[str, ...]
    name: str
    colour: ColourBasis | None = None
    spec: object | None = None  # bilin's ModelSpec for bilin runs
    value_range: tuple[float, float] = (0.0, 1.0)  # the training images' range, before the model's normalisation


def from_run(run_dir: str | Path, device: torch.device) -> Subject:
    from bilin.models.checkpoint import load_model, load_spec

    spec = load_spec(run_dir)
    model = load_model(run_dir, device)
    classes = spec.classes or tuple(str(i) for i in range(spec.d_output))
    colour = None
    if spec.decorrelate:  # trained on whitened colours: optimise in that basis (the whitening's inverse)
        colour = ColourBasis(torch.linalg.inv(model.colour_whiten.detach().cpu()))
    return Subject(model, tuple(spec.input_shape), classes, f"{spec.kind} {Path(run_dir).name}", colour, spec)


def from_torchvision(name: str, weights: str, size: int, device: torch.device, seed: int = 0) -> Subject:
    """A torchvision model; with weights=none its random init is a function of `seed`."""
    import torchvision

    if name not in torchvision.models.list_models():
        raise UserError(
            f"unknown torchvision model {name!r}; e.g. resnet18, resnet50, vgg16, alexnet, "
            "googlenet, convnext_tiny (torchvision.models.list_models() has them all)"
        )
    classes: tuple[str, ...] = ()
    if weights == "imagenet":
        try:
            chosen = torchvision.models.get_model_weights(name).DEFAULT
            model = torchvision.models.get_model(name, weights=chosen)
        except Exception as exc:  # download and hub errors come in many types
            raise UserError(
                f"could not get ImageNet weights for {name} ({' '.join(str(exc).split())[:160]}); "
                "use weights=none (random init) or weights=<path to a state dict>"
            ) from exc
        classes = tuple(chosen.meta.get("categories", ()))
    else:
        # torchvision's constructors draw their init from torch's global generator, which this torch
        # seeds randomly per process; a forked copy seeded here keeps the run reproducible and leaves
        # the global generator as it was
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = torchvision.models.get_model(name, weights=None)
        if weights != "none":
            state = _state_dict(Path(weights))
            if not isinstance(state, dict):
                raise UserError(f"weights={weights} holds a {type(state).__name__}, not a state dict of {name}")
            broken = next((k for k, v in state.items() if isinstance(v, torch.Tensor) and not _finite(v)), None)
            if broken is not None:
                raise UserError(f"weights={weights}: {broken} holds NaN or infinite values")
            try:
                model.load_state_dict(state)
            except RuntimeError as exc:
                raise UserError(
                    f"weights={weights} is not a state dict of torchvision's {name}: {' '.join(str(exc).split())[:200]}"
                ) from exc
    if not classes:
        out = getattr(model, "fc", None) or getattr(model, "classifier", None)
        n = getattr(out, "out_features", None) or 1000
        classes = tuple(f"class {i}" for i in range(n))
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    model.register_forward_pre_hook(lambda _m, args: ((args[0] - mean) / std, *args[1:]))
    return Subject(
        model.to(device).eval(), (3, size, size), classes, f"{name} ({weights})", colour=imagenet_colour_basis()
    )


def _finite(tensor: torch.Tensor) -> bool:
    return not tensor.is_floating_point() or bool(tensor.isfinite().all())


def _state_dict(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"weights={path}: no such file (use imagenet, none or a state dict file)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with warnings.catch_warnings():  # torch warns about pickle protocols before failing on its own line
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch and safetensors raise several types for damaged or foreign files
        # torch's own message advises weights_only=False, i.e. running the file's pickled code: not here
        raise UserError(
            f"{path} could not be read as tensors ({type(exc).__name__}): give a .safetensors file or a "
            "torch.save'd state dict of plain tensors (bilin never unpickles code from a file)"
        ) from exc
    return state.get("state_dict", state) if isinstance(state, dict) else state


def colour_basis_from(source: str, subject: Subject, data_root: str | None) -> ColourBasis | None:
    """auto: the model's own (its training whitening, or ImageNet's for torchvision; a colour bilin
    model without one gets it fitted on its dataset); a dataset name or a tensor file (n, c, h, w)
    of the user's images: fitted on those. Grey models need none."""
    if subject.input_shape[0] < 2:
        return None
    if source == "auto":
        if subject.colour is None and subject.spec is not None:
            return colour_basis_from(_dataset_of(subject), subject, data_root)
        return subject.colour
    if source == "imagenet":
        return imagenet_colour_basis()
    path = Path(source)
    if path.is_file():
        images = image_file(path, "colour_data", subject.input_shape[0], subject.value_range)
        return _fitted(images, f"colour_data={source}")
    from bilin.data import DATASETS, load_dataset

    if source in DATASETS:
        return _fitted(load_dataset(source, data_root, download=False).train_x[:10_000], f"colour_data={source}")
    raise UserError(
        f"colour_data={source!r} is not auto, imagenet, a dataset ({', '.join(DATASETS)}) "
        "or a file of images (n x c x h x w)"
    )


def _dataset_of(subject: Subject) -> str:
    from bilin.data import DATASETS

    for name, info in DATASETS.items():
        if tuple(info.classes) == tuple(subject.classes):
            return name
    raise UserError("cannot tell which dataset this model was trained on; give colour_data=<dataset or file>")


def _fitted(images: torch.Tensor, what: str) -> ColourBasis:
    if images.ndim != 4 or images.shape[1] < 2:
        raise UserError(f"{what}: need colour images shaped n x c x h x w, got {tuple(images.shape)}")
    try:
        return fit_colour_basis(images)
    except RuntimeError as exc:  # torch.linalg's error: the colour covariance is singular
        raise UserError(
            f"{what}: its colour channels are not independent (grey or single-hue images), so they give no "
            "colour basis; give colour images, or decorrelate=false"
        ) from exc


def image_file(path: Path, name: str, channels: int, value_range: tuple[float, float]) -> torch.Tensor:
    """Images (n, channels, h, w) from a tensor file, as floats in the model's input range `value_range`
    (uint8 files are read as 0..255 / 255), checked for meaning: at least one image, finite values
    inside the range, and some spatial pattern (a constant image has no colours or frequencies to
    learn from)."""
    what = f"{name}={path}"
    images = _state_dict(path)
    if isinstance(images, dict):
        images = next(iter(images.values()), None)
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != channels:
        got = f"got {tuple(images.shape)}" if isinstance(images, torch.Tensor) else "got no tensor"
        raise UserError(f"{what}: expected images as one tensor n x {channels} x h x w, {got}")
    if images.shape[0] == 0 or min(images.shape[2:]) < 2:
        raise UserError(f"{what}: holds no images (shape {tuple(images.shape)}); give at least one image of 2 x 2 px")
    if images.dtype == torch.bool or images.is_complex():
        raise UserError(f"{what}: holds {images.dtype} values, not image intensities")
    images = images.float() / 255 if images.dtype == torch.uint8 else images.float()
    if not images.isfinite().all():
        bad = int((~images.isfinite()).sum())
        raise UserError(f"{what}: {bad} of its values are NaN or infinite")
    low, high = value_range
    slack = 1e-3 * (high - low)
    if images.min() < low - slack or images.max() > high + slack:
        raise UserError(
            f"{what}: values from {float(images.min()):.4g} to {float(images.max()):.4g} lie outside the model's "
            f"input range [{low:g}, {high:g}] (uint8 files are read as /255; scale float images to that range)"
        )
    if not (images.flatten(2).std(-1) > 0).any():
        raise UserError(
            f"{what}: every image is one flat value: there is no pattern to take colours or a spectrum from"
        )
    return images


def top_eigenvectors(subject: Subject, classes: list[int], data_root: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(u = E^T v, top of M_c), each (len(classes), inputs) on the CPU, of a bilin bilinear model, and
    whether they are signed by orient_to_class (on its dataset's test images, when at hand). A model
    with biases: the image parts of its eigenvectors in [x; 1] (bilin.analysis.decompose)."""
    from bilin.analysis.decompose import eigendecompose, input_space_eigendecompose, orient_to_class
    from bilin.data import load_dataset

    eigens = [eigendecompose(subject.model), input_space_eigendecompose(subject.model)]
    try:
        ds = load_dataset(_dataset_of(subject), data_root, download=False)
    except (UserError, OSError):
        ds = None
    if ds is not None:
        eigens = [orient_to_class(e, ds.test_x.flatten(1).float() / 255, ds.test_y) for e in eigens]
    hidden, pixel = (e.image_part(e.top()[1][classes]).cpu() for e in eigens)  # biases: the image parts
    return hidden, pixel, ds is not None


def maco_spectrum(
    source: str, subject: Subject, colour: ColourBasis | None, data_root: str | None
) -> tuple[torch.Tensor, str]:
    """param=maco's fixed magnitude (c, h, w // 2 + 1) and a line saying where it came from.

    auto: the mean |rfft2| of the model's own training images (a bilin model's dataset, train split,
    up to 10,000 images); torchvision models' ImageNet is not at hand, so they get a 1/f spectrum
    scaled to ImageNet's per-channel mean and std (MACO's authors use ImageNet's measured spectrum;
    1/f is what natural images' spectra average to). natural: that 1/f spectrum for any model
    (mid-range mean, a quarter of the range as std for bilin models). A dataset name or a tensor file
    (n, c, h, w) of images in the model's input range: their spectrum, resized to the input size.
    """
    from bilin.featvis.spectrum import SPECTRUM_IMAGES, magnitude_spectrum, natural_magnitude

    channels, size = subject.input_shape[0], tuple(subject.input_shape[1:])
    if source == "auto" and subject.spec is not None:
        source = _dataset_of(subject)
    if source in ("auto", "natural"):
        if subject.spec is None:
            mean, std, whose = IMAGENET_MEAN, IMAGENET_STD, "ImageNet's"
        else:
            lo, hi = subject.value_range
            mean, std, whose = ((lo + hi) / 2,) * channels, ((hi - lo) / 4,) * channels, "mid-range"
        why = " (the model's training images are not at hand)" if source == "auto" else ""
        spectrum = natural_magnitude(channels, size, mean[:channels], std[:channels], colour)
        return spectrum, f"1/f spectrum scaled to {whose} mean and std{why}"
    from bilin.data import DATASETS, load_dataset

    path = Path(source)
    if path.is_file():
        images = image_file(path, "spectrum_data", channels, subject.value_range)
        return magnitude_spectrum(images, size, colour), f"{len(images)} images of {source}"
    if source not in DATASETS:
        raise UserError(
            f"spectrum_data={source!r} is not auto, natural, a dataset ({', '.join(DATASETS)}) "
            "or a file of images (n x c x h x w)"
        )
    try:
        train = load_dataset(source, data_root, download=False).train_x[:SPECTRUM_IMAGES]
    except UserError as exc:
        raise UserError(f"{exc}; or give spectrum_data=natural (a 1/f spectrum) for param=maco") from exc
    if train.shape[1] != channels:
        raise UserError(
            f"spectrum_data={source}: its images have {train.shape[1]} channels, the model takes {channels}"
        )
    return magnitude_spectrum(train.float() / 255, size, colour), f"{source} train split, {len(train)} images"
