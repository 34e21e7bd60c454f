"""Bisection + bootstrap fit against QUEST+ at equal precision: how many trials each needs for a
threshold's 95% interval to be as narrow, on a simulated Weibull observer or a real probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from bilin.csf.psychophysics import Fit, Staircase, bisection, fit_psychometric, weibull
from bilin.csf.quest import QuestModel, QuestResult, quest_staircase
from bilin.csf.settings import BOOTSTRAP, MAX_STEPS

Observer = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def weibull_observer(
    alpha: torch.Tensor, beta: torch.Tensor, lapse: torch.Tensor, trials: int, seed: int = 0
) -> Observer:
    """A simulated observer with a known psychometric function per frequency (alpha, beta, lapse
    (sfs,)): accuracy(contrasts (sfs,), active (sfs,)) -> correct counts (sfs,) drawn from
    Binomial(trials, weibull(c)), 0 where inactive."""
    generator = torch.Generator().manual_seed(seed)
    n = torch.full(alpha.shape, float(trials), dtype=torch.float64)

    def accuracy(contrasts: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        p = weibull(contrasts.double(), alpha.double(), beta.double(), lapse.double())
        return torch.binomial(n, p, generator=generator) * active

    return accuracy


@dataclass
class Comparison:
    """Per frequency (sfs,). Widths are of 95% intervals in log10 contrast: the ML fit's profile-likelihood
    interval (a step-like frequency's bracket) for the bisection, the credible interval for QUEST+. quest_trials is
    NaN where QUEST+ did not reach the bisection's width within its step limit."""

    bisection_trials: torch.Tensor
    bisection_width: torch.Tensor
    bisection_threshold: torch.Tensor
    quest_trials: torch.Tensor
    quest_width: torch.Tensor
    quest_threshold: torch.Tensor
    fit: Fit
    quest: QuestResult
    stair: Staircase  # the bisection's

    def rows(self, sfs: list[float]) -> list[dict]:
        """One row per frequency and procedure: trials, threshold, 95% interval and its log10 width;
        QUEST+'s also the trials it took to be as narrow as the bisection's interval."""
        rows = []
        for i, sf in enumerate(sfs):
            rows.append(
                {
                    "sf_cycles_per_image": sf,
                    "procedure": "bisection + Weibull fit",
                    "trials": int(self.bisection_trials[i]),
                    "threshold": float(self.bisection_threshold[i]),
                    "ci_low": float(self.fit.interval[0][i]),
                    "ci_high": float(self.fit.interval[1][i]),
                    "ci_width_log10": float(self.bisection_width[i]),
                    "step_like": bool(self.fit.step_like[i]),  # threshold and interval: the bracket's
                    "unreached": bool(self.fit.unreached[i]),  # so here too
                    "trials_to_bisection_width": int(self.bisection_trials[i]),
                }
            )
            rows.append(
                {
                    "sf_cycles_per_image": sf,
                    "procedure": "QUEST+",
                    "trials": int(self.quest.trials[i]),
                    "threshold": float(self.quest_threshold[i]),
                    "ci_low": float(self.quest.ci_low[i]),
                    "ci_high": float(self.quest.ci_high[i]),
                    "ci_width_log10": float(self.quest_width[i]),
                    "step_like": "",
                    "unreached": "",
                    "trials_to_bisection_width": float(self.quest_trials[i]),
                }
            )
        return rows

    def summary(self) -> dict[str, float]:
        """Medians over frequencies (QUEST+'s over those that reached the width) and how many reached it."""
        reached = self.quest_trials.isfinite()
        return {
            "bisection_trials": self.bisection_trials.median().item(),
            "bisection_width": self.bisection_width.median().item(),
            "quest_trials": self.quest_trials[reached].median().item() if reached.any() else float("nan"),
            "quest_width": self.quest_width.median().item(),
            "quest_reached": int(reached.sum()),
        }


def compare_procedures(
    make_observer: Callable[[], Observer],
    n_sfs: int,
    trials: int,
    max_steps: int = MAX_STEPS,
    boot: int = BOOTSTRAP,
    seed: int = 0,
    quest_max_steps: int = 60,
    model: QuestModel | None = None,
) -> Comparison:
    """Run the bisection (max_steps) and its bootstrap fit, then QUEST+ until each frequency's
    credible interval is as narrow as the bisection's; each procedure gets a fresh observer."""
    stair = bisection(make_observer(), n_sfs, trials, max_steps=max_steps)
    fit = fit_psychometric(stair, boot=boot, seed=seed)
    low, high = fit.interval  # step-like: the bracket
    width = high.log10() - low.log10()
    quest = quest_staircase(make_observer(), n_sfs, trials, ci_width=width, max_steps=quest_max_steps, model=model)
    reached = quest.trials_to_width(width)
    final = quest.ci_high.log10() - quest.ci_low.log10()
    return Comparison(stair.trials.sum(1), width, fit.estimate, reached, final, quest.threshold, fit, quest, stair)
