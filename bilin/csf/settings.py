"""The csf library's settings records: how a probe trains and how each threshold is measured. Each
field carries its default, help and range once (bilin.settings.schema.key); `probe-csf`'s schema inherits the
records whole, `frequency`'s the shared staircase keys (and its probe_* keys take the probe record's
defaults). Plain values, no torch: command schemas import this."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Literal, TypeVar

from bilin.settings.schema import info, key, seed_key

TRIALS, MAX_STEPS, BOOTSTRAP = 26, 20, 200  # trials per tested contrast, bisection steps, bootstrap replicates
QUEST_CI_WIDTH, QUEST_MAX_STEPS = 0.1, 40  # QUEST+ stops at this 95% interval width (log10) or block count
EVAL_BATCH = 256  # test images per forward pass
STANDARDISE_PAIRS = 512  # training pairs whose features' spread z-scores them (standardise)
PROBE_MOMENTUM, PROBE_WEIGHT_DECAY = 0.9, 1e-4  # the probe's SGD (the tutorial's), not a key
GREY_SIDE = 28  # bilin's grey MLPs take 28 x 28 images

Protocol = Literal["tutorial", "jittered"]
DEFAULT_PROTOCOL: Protocol = "tutorial"
Procedure = Literal["bisection", "quest", "both"]
Record = TypeVar("Record")


@dataclass
class StaircaseKeys:
    """The stimuli and the bisection: the keys `probe-csf` and `frequency` share."""

    protocol: Protocol = key(
        DEFAULT_PROTOCOL,
        "tutorial: its stimuli (phase 0, centre pixel size//2, axis-aligned rectangles); "
        "jittered: random phase, centre (size-1)/2, rotated rectangles",
    )
    trials: int = key(TRIALS, "trials per tested contrast (13 orientations cycled)", ge=1)
    max_steps: int = key(MAX_STEPS, "bisection steps at most", ge=1)
    bootstrap: int = key(
        BOOTSTRAP,
        "parametric-bootstrap replicates (the bisection replayed on each fitted observer): they calibrate each "
        "threshold's 95% interval and give the peak and bandwidth CIs",
        ge=1,
    )


@dataclass
class StaircaseSettings(StaircaseKeys):
    """How each frequency's threshold is measured once the probe is trained. procedure: bisection
    (the tutorial's), quest (QUEST+ until its 95% interval is quest_ci_width wide in log10 contrast)
    or both (QUEST+ until as narrow as the bisection's, on a fresh observer); the Weibull fit is of
    the bisection's trials, or of QUEST+'s when it runs alone."""

    procedure: Procedure = key(
        "bisection",
        "bisection (the tutorial's) | quest (QUEST+, questplus) | both: QUEST+ until as precise as the "
        "bisection's fit, trials of each in procedures.csv",
    )
    quest_ci_width: float = key(
        QUEST_CI_WIDTH, "procedure=quest: stop at this 95% interval width (log10 contrast)", gt=0
    )
    quest_max_steps: int = key(QUEST_MAX_STEPS, "QUEST+ blocks of `trials` trials at most", ge=1)
    eval_batch: int = key(EVAL_BATCH, "images per forward pass when testing", ge=1)


@dataclass
class ProbeSettings:
    """The linear probe's training (SGD, PROBE_MOMENTUM, PROBE_WEIGHT_DECAY) and its seed, which also
    fixes the stimuli and the bootstrap. standardise (bilin.csf.probe.feature_scale): None is the
    command's choice per extractor, resolved before the probe trains (None trains on raw features)."""

    pairs: int = key(1000, "training pairs per epoch", ge=1)
    epochs: int = key(10, "probe training epochs", ge=1)
    batch_size: int = key(32, "probe training batch", ge=1)
    lr: float = key(0.1, f"SGD, momentum {PROBE_MOMENTUM}, weight decay {PROBE_WEIGHT_DECAY}", gt=0)
    standardise: bool | None = key(
        None,
        f"z-score every feature over {STANDARDISE_PAIRS} training pairs before the probe (folded into it after); "
        "null: on for bilin runs (an MLP's layers have no fixed scale: raw, the probe stays at chance), off for "
        "torchvision",
    )
    seed: int = seed_key(0, "fixes the probe's init, the stimuli and the bootstrap")


def record_of(record: type[Record], config: object, **changes: Any) -> Record:
    """The record built from a config that holds its fields (a schema inheriting it, or part of it: the
    fields it lacks keep the record's defaults), with `changes` applied."""
    values = {f.name: getattr(config, f.name) for f in fields(record) if hasattr(config, f.name)}
    return record(**{**values, **changes})


def field_as(record: type, name: str, help: str) -> Any:
    """A command's key for the record's field `name` under another name (frequency's probe_pairs): the
    record's default and range, a help of its own."""
    field = next(f for f in fields(record) if f.name == name)
    if field.default is MISSING:
        raise TypeError(f"{record.__name__}.{name} has no plain default to share")
    meta = info(field)
    return key(field.default, help, ge=meta.ge, gt=meta.gt, le=meta.le)


@dataclass
class FrequencyStudySettings(StaircaseKeys):
    """How `frequency` measures each model (bilin.csf.frequency_study): the gratings, the weight CSF's
    criterion, the probe's layer and training (its probe_* keys: ProbeSettings' defaults) and featvis."""

    sfs: list[float] = key(
        [],
        f"cycles/image (at most {GREY_SIDE // 2}); empty: every integer 1..{GREY_SIDE // 2}",
        gt=0,
        le=GREY_SIDE // 2,
    )
    criterion: float = key(1.0, "weights: threshold where the RMS change of the logit vector reaches this (nats)", gt=0)
    layer: str = key("product", "the layer the probe reads, z-scored (product: the hidden layer g = (L h) * (R h))")
    probe_pairs: int = field_as(ProbeSettings, "pairs", "probe training pairs per epoch")
    probe_epochs: int = field_as(ProbeSettings, "epochs", "probe training epochs")
    featvis_method: str = key("+robustness", "featvis method (featvis-bench's names); no Fourier 1/f prior by default")
    featvis_steps: int = key(256, "featvis optimisation steps", ge=1)

    @property
    def frequencies(self) -> list[float]:
        """The tested frequencies, ascending: sfs, or every integer up to the grey images' Nyquist."""
        return sorted(self.sfs) or [float(f) for f in range(1, GREY_SIDE // 2 + 1)]

    @property
    def probe(self) -> ProbeSettings:
        """The probe's training: the probe_* keys, the rest ProbeSettings' defaults, z-scored features."""
        return ProbeSettings(pairs=self.probe_pairs, epochs=self.probe_epochs, standardise=True)

    @property
    def staircase(self) -> StaircaseSettings:
        return record_of(StaircaseSettings, self)
