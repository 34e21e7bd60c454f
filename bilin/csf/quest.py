"""QUEST+ (Watson 2017) beside the bisection: one posterior per spatial frequency, all frequencies
in lockstep, each step a block of `trials` two-interval trials at the contrast QUEST+ proposes.

Model: psychophysics.weibull, i.e. questplus's Weibull on log10 contrast with guess rate 0.5:
P(c) = 0.5 + (0.5 - l) (1 - exp(-(c / a)^b)). Grid and prior (uniform over each grid, so uniform
in log10 a and log b): log10 a in -3.5..0.5 step 0.01 (401; a little beyond the tested range so a
threshold near an end is not pinned to it), b in 0.7..20 log-spaced (12), l in {0, .02, .04, .06};
contrasts tested: log10 c in -3..0 step 0.05 (61). questplus builds the likelihood table and the
prior; the posteriors of all frequencies are kept as one array so that a block's k correct of n
is one update (the product of k 'correct' and n - k 'incorrect' questplus updates) and the next
contrast of every frequency is one matrix product (questplus's minimum expected entropy rule, the
same numbers its next_stim computes one frequency at a time, 5-25 ms each on this grid).

The threshold is the 75% point, threshold75(a, b, l), a function of the grid point: its posterior
median is the estimate and its 2.5..97.5% posterior quantiles the credible interval.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import questplus
import torch
from scipy.special import xlogy

from bilin.csf.psychophysics import Staircase, threshold75
from bilin.csf.settings import QUEST_CI_WIDTH, QUEST_MAX_STEPS

LOG10_CONTRASTS = np.round(np.linspace(-3.0, 0.0, 61), 4)
LOG10_ALPHAS = np.round(np.linspace(-3.5, 0.5, 401), 4)
SLOPES = np.geomspace(0.7, 20.0, 12)
LAPSES = np.array([0.0, 0.02, 0.04, 0.06])
CREDIBLE = (0.025, 0.5, 0.975)


class QuestModel:
    """The QUEST+ Weibull model every frequency shares: questplus's likelihood table and prior,
    flattened over the parameter grid (threshold, slope, lower asymptote, lapse), questplus's order."""

    def __init__(
        self,
        log10_contrasts: np.ndarray = LOG10_CONTRASTS,
        log10_alphas: np.ndarray = LOG10_ALPHAS,
        slopes: np.ndarray = SLOPES,
        lapses: np.ndarray = LAPSES,
    ) -> None:
        self.questplus = questplus.QuestPlusWeibull(
            intensities=log10_contrasts,
            thresholds=log10_alphas,
            slopes=slopes,
            lower_asymptotes=[0.5],
            lapse_rates=lapses,
            responses=["correct", "incorrect"],
            stim_scale="log10",
        )
        self.log10_contrasts = np.asarray(log10_contrasts, dtype=np.float64)
        params = ("threshold", "slope", "lower_asymptote", "lapse_rate")
        table = self.questplus.likelihoods.transpose("response", "intensity", *params).values
        # (outcome, contrasts, params)
        self.likelihood = np.ascontiguousarray(table.reshape(2, len(log10_contrasts), -1))
        # per contrast, side by side: P(correct | params) and -H(outcome | params) = sum_o L_o log L_o
        l_log_l = xlogy(self.likelihood, self.likelihood).sum(0)
        self._hit_and_negentropy = torch.from_numpy(np.concatenate([self.likelihood[0], l_log_l]).T.copy())
        with np.errstate(divide="ignore"):  # a lapse-free curve cannot miss at high contrast: log 0
            self._log_hit, self._log_miss = np.log(self.likelihood)
        self.log_prior = np.log(self.questplus.prior.transpose(*params).values.reshape(-1))
        a, b, _, lapse = (torch.from_numpy(g) for g in np.meshgrid(log10_alphas, slopes, [0.5], lapses, indexing="ij"))
        t75 = threshold75(10.0**a, b, lapse).numpy()
        self.log10_t75 = np.log10(t75).reshape(-1)  # (params,)
        self._order = np.argsort(self.log10_t75, kind="stable")

    def information(self, posterior: np.ndarray) -> np.ndarray:
        """posterior (sfs, params) -> (sfs, contrasts) mutual information between the parameters and
        one more trial's outcome, H(outcome) - E[H(outcome | params)]: one matrix product for all."""
        # torch's matmul: numpy's multithreaded BLAS slowed 20x on a busy 2-core machine
        hit, negentropy = np.split((torch.from_numpy(posterior) @ self._hit_and_negentropy).numpy(), 2, axis=1)
        return -xlogy(hit, hit) - xlogy(1 - hit, 1 - hit) + negentropy

    def expected_entropy(self, posterior: np.ndarray) -> np.ndarray:
        """posterior (sfs, params) -> (sfs, contrasts) questplus's expected entropy after one more
        trial, sum_o p_o H(posterior | o) = H(posterior) - information."""
        return -xlogy(posterior, posterior).sum(1, keepdims=True) - self.information(posterior)

    def next_contrast(self, posterior: np.ndarray) -> np.ndarray:
        """(sfs, params) -> (sfs,) index into log10_contrasts of the minimum expected entropy."""
        return self.information(posterior).argmax(1)

    def block_log_likelihood(self, index: np.ndarray, correct: np.ndarray, trials: np.ndarray) -> np.ndarray:
        """log P(k of n correct | params) up to the binomial coefficient; index, correct, trials (sfs,)
        -> (sfs, params). Zero where n = 0."""
        k, miss = correct[:, None], (trials - correct)[:, None]
        with np.errstate(invalid="ignore"):  # 0 * log 0, replaced by 0
            log_miss = np.where(miss > 0, miss * self._log_miss[index], 0.0)
        return k * self._log_hit[index] + log_miss

    def quantiles(self, posterior: np.ndarray, q: tuple[float, ...] = CREDIBLE) -> np.ndarray:
        """posterior (sfs, params) -> (sfs, len(q)) quantiles of log10 threshold75, linear between
        the posterior's cumulative steps."""
        values = self.log10_t75[self._order]
        cdf = np.cumsum(posterior[:, self._order], axis=1)
        return np.stack([np.interp(q, row, values) for row in cdf])


@dataclass
class QuestResult:
    """stair: every block as the bisection records them (padded with n = 0), threshold = posterior
    median; per frequency (sfs,) the 95% credible interval, trials used; width (sfs, steps): the
    interval's width in log10 contrast after each step, NaN once the frequency stopped."""

    stair: Staircase
    ci_low: torch.Tensor
    ci_high: torch.Tensor
    trials: torch.Tensor
    width: torch.Tensor

    @property
    def threshold(self) -> torch.Tensor:
        return self.stair.threshold

    def trials_to_width(self, width: float | torch.Tensor) -> torch.Tensor:
        """(sfs,) trials spent when the credible interval first was at most `width` (float or (sfs,))
        wide in log10 contrast; NaN where it never was."""
        reached = self.width <= torch.as_tensor(width, dtype=torch.float64).reshape(-1, 1)
        first = reached.double().argmax(1)
        per_step = self.stair.trials.max(1).values
        return torch.where(reached.any(1), (first + 1) * per_step, torch.nan)


def quest_staircase(
    accuracy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n_sfs: int,
    trials: int,
    ci_width: float | torch.Tensor = QUEST_CI_WIDTH,
    max_steps: int = QUEST_MAX_STEPS,
    model: QuestModel | None = None,
) -> QuestResult:
    """QUEST+ for every frequency at once. accuracy(contrasts (sfs,), active (sfs,) bool) -> correct
    counts (sfs,) of `trials` trials each, as for psychophysics.bisection. A frequency stops when its
    95% credible interval of the 75% threshold is at most ci_width (float or (sfs,)) wide in log10
    contrast, or after max_steps blocks. Deterministic given the observer's answers."""
    model = model or QuestModel()
    limit = np.broadcast_to(torch.as_tensor(ci_width, dtype=torch.float64).numpy(), (n_sfs,))
    log_posterior = np.tile(model.log_prior, (n_sfs, 1))
    posterior = np.exp(log_posterior)
    active = np.ones(n_sfs, dtype=bool)
    contrasts, counts, corrects, widths = [], [], [], []
    index = np.zeros(n_sfs, dtype=np.int64)
    for _ in range(max_steps):
        index = np.where(active, model.next_contrast(posterior), index)
        c = 10.0 ** model.log10_contrasts[index]
        correct = accuracy(torch.from_numpy(c).float(), torch.from_numpy(active)).double().cpu().numpy()
        n = np.where(active, float(trials), 0.0)
        k = np.where(active, correct, 0.0)
        log_posterior = log_posterior + model.block_log_likelihood(index, k, n)
        log_posterior -= log_posterior.max(1, keepdims=True)
        posterior = np.exp(log_posterior)
        total = posterior.sum(1, keepdims=True)
        posterior /= total
        log_posterior -= np.log(total)
        low, _, high = model.quantiles(posterior).T
        widths.append(np.where(active, high - low, np.nan))
        contrasts.append(c)
        counts.append(n)
        corrects.append(k)
        active &= high - low > limit
        if not active.any():
            break
    low, median, high = (torch.from_numpy(10.0**v) for v in model.quantiles(posterior).T)
    n_all = torch.from_numpy(np.stack(counts, 1))
    stair = Staircase(
        torch.from_numpy(np.stack(contrasts, 1)),
        n_all,
        torch.from_numpy(np.stack(corrects, 1)),
        median,
        (n_all > 0).sum(1),
    )
    return QuestResult(stair, low, high, n_all.sum(1), torch.from_numpy(np.stack(widths, 1)))
