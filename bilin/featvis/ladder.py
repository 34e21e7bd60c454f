"""The ladder of tricks: each added one at a time from the plain baseline, as a figure shows them.

The last step, +maco, is the full recipe with MACO's phase in place of the 1/f Fourier spectrum.
"""

from __future__ import annotations

from dataclasses import replace

from bilin.featvis.settings import Settings, Tricks, narrowed

LADDER = ("baseline", "+robustness", "+fourier", "+decorrelation", "+diversity", "+maco")


def ladder(settings: Settings, tricks: Tricks) -> list[tuple[str, Settings, Tricks]]:
    """(name, settings, tricks) per step (settings and tricks may be one config holding both). Every step
    keeps the run's redirect_relu_steps and squash; diversity (and +maco, which follows it) needs several
    images per target."""
    own = narrowed(Tricks, tricks)
    # every trick named off: the records' defaults are the command's, which switch most of them on
    base = replace(own, robustness=False, param="pixel", decorrelate=False, diversity=0.0, l2=0.0, blur_every=0)
    full = dict(robustness=True, decorrelate=True, diversity=tricks.diversity or 1.0)
    steps = [
        base,
        replace(base, robustness=True),
        replace(base, robustness=True, param="fourier"),
        replace(base, robustness=True, param="fourier", decorrelate=True),
        replace(base, param="fourier", **full),
        replace(base, param="maco", **full),
    ]
    plain = replace(narrowed(Settings, settings), frames_every=0)
    many = replace(plain, images_per_target=max(2, settings.images_per_target))
    return [
        (name, many if name in ("+diversity", "+maco") else plain, t) for name, t in zip(LADDER, steps, strict=True)
    ]
