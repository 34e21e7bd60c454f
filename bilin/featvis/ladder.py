"""The ladder of tricks: each added one at a time from the plain baseline, as a figure shows them.

The last step, +maco, is the full recipe with MACO's phase in place of the 1/f Fourier spectrum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bilin.featvis.render import Settings, Tricks

LADDER = ("baseline", "+robustness", "+fourier", "+decorrelation", "+diversity", "+maco")


def ladder(settings: Settings, tricks: Tricks) -> list[tuple[str, Settings, Tricks]]:
    """(name, settings, tricks) per step. Every step keeps the run's redirect_relu_steps and squash;
    diversity (and +maco, which follows it) needs several images per target."""
    from dataclasses import replace

    from bilin.featvis.render import Tricks

    base = Tricks(redirect_relu_steps=tricks.redirect_relu_steps, squash=tricks.squash)
    full = dict(robustness=True, decorrelate=True, diversity=tricks.diversity or 1.0)
    steps = [
        base,
        replace(base, robustness=True),
        replace(base, robustness=True, param="fourier"),
        replace(base, robustness=True, param="fourier", decorrelate=True),
        replace(base, param="fourier", **full),
        replace(base, param="maco", **full),
    ]
    many = replace(settings, images_per_target=max(2, settings.images_per_target), frames_every=0)
    return [
        (name, many if name in ("+diversity", "+maco") else replace(settings, frames_every=0), t)
        for name, t in zip(LADDER, steps, strict=True)
    ]
