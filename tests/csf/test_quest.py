"""QUEST+: the batched posteriors are questplus's, it recovers a known observer's thresholds,
stops at the requested width, and is reproducible."""

import copy

import numpy as np
import pytest
import torch

from bilin.csf.compare import compare_procedures, weibull_observer
from bilin.csf.psychophysics import fit_psychometric, threshold75
from bilin.csf.quest import QuestModel, quest_staircase

ALPHA = torch.tensor([0.4, 0.08, 0.02, 0.012, 0.15], dtype=torch.float64)
BETA = torch.tensor([2.0, 3.0, 4.0, 3.0, 1.5], dtype=torch.float64)
LAPSE = torch.tensor([0.0, 0.02, 0.04, 0.01, 0.02], dtype=torch.float64)
TRUE_T75 = threshold75(ALPHA, BETA, LAPSE)
PARAMS = ("threshold", "slope", "lower_asymptote", "lapse_rate")  # questplus's parameter axes


@pytest.fixture(scope="module")
def model():
    return QuestModel()


def counted(observer, trials):
    """The observer, and a list that receives the trials it was asked for at each call."""
    asked = []

    def accuracy(contrasts, active):
        asked.append(int(active.sum()) * trials)
        return observer(contrasts, active)

    return accuracy, asked


def test_batched_steps_are_questplus_steps():
    model = QuestModel(
        np.linspace(-2, 0, 9), np.round(np.linspace(-2.5, 0.5, 31), 4), np.array([1.0, 2.0, 4.0]), np.array([0.0, 0.04])
    )
    trials = 6
    result = quest_staircase(weibull_observer(ALPHA[:3], BETA[:3], LAPSE[:3], trials, seed=3), 3, trials, 0.0, 5, model)
    for f in range(3):
        reference = copy.deepcopy(model.questplus)  # a fresh questplus run on the same grid
        for step in range(5):
            proposed = reference.next_intensity
            posterior = reference.posterior.transpose(*PARAMS).values.reshape(1, -1)
            assert model.expected_entropy(posterior).min() == pytest.approx(reference.entropy, rel=1e-9)
            assert 10.0**proposed == pytest.approx(result.stair.contrast[f, step].item(), rel=1e-12)
            k = int(result.stair.correct[f, step])
            for response in ["correct"] * k + ["incorrect"] * (trials - k):
                reference.update(intensity=proposed, response=response)
        posterior = reference.posterior.transpose(*PARAMS).values.reshape(1, -1)
        low, median, high = model.quantiles(posterior)[0]
        assert 10.0**median == pytest.approx(result.threshold[f].item(), rel=1e-9)
        assert 10.0**low == pytest.approx(result.ci_low[f].item(), rel=1e-9)
        assert 10.0**high == pytest.approx(result.ci_high[f].item(), rel=1e-9)


def test_recovers_known_thresholds_within_the_interval(model):
    # over seeds 0..29 each interval held its true threshold 87..100% of the time (nominal 95%)
    result = quest_staircase(weibull_observer(ALPHA, BETA, LAPSE, 26, seed=1), 5, 26, 0.1, 60, model)
    assert ((result.ci_low <= TRUE_T75) & (result.ci_high >= TRUE_T75)).all()
    reached = result.ci_high.log10() - result.ci_low.log10() <= 0.1
    assert torch.equal(reached, torch.tensor([True, True, True, True, False]))  # beta 1.5 needs > 60 blocks
    assert result.stair.steps[4] == 60
    fit = fit_psychometric(result.stair, boot=20)  # the blocks are a staircase the ML fit reads too
    assert ((fit.threshold.log10() - TRUE_T75.log10()).abs() < 0.1).all()


def test_stops_when_the_width_is_reached_and_counts_every_trial(model):
    width = torch.tensor([0.3, 0.15, 0.2, 0.12, 0.25], dtype=torch.float64)
    observer, asked = counted(weibull_observer(ALPHA, BETA, LAPSE, 26, seed=1), 26)
    result = quest_staircase(observer, 5, 26, width, 60, model)
    steps = result.stair.steps
    last = result.width[torch.arange(5), steps - 1]
    assert (last <= width).all()
    for f in range(5):
        assert (result.width[f, : steps[f] - 1] > width[f]).all() and result.width[f, steps[f] :].isnan().all()
    assert torch.equal(result.trials, result.stair.trials.sum(1)) and torch.equal(result.trials, 26.0 * steps)
    assert result.trials.sum().item() == sum(asked)
    assert torch.equal(result.trials_to_width(width), result.trials)
    assert (result.stair.trials[result.stair.trials > 0] == 26).all()


def test_step_observer_gives_the_step():
    edge = torch.tensor([0.03, 0.2], dtype=torch.float64)

    def step(contrasts, active):  # all correct at or above the edge, exactly chance below
        return torch.where(contrasts.double() >= edge, 26.0, 13.0) * active

    result = quest_staircase(step, 2, 26, 0.1, 40, model=QuestModel())
    # the edge is known only to lie between two tested contrasts, 0.05 apart in log10
    assert ((result.threshold.log10() - edge.log10()).abs() < 0.05).all()
    assert ((result.ci_low < edge * 10**0.05) & (result.ci_high > edge / 10**0.05)).all()


def test_same_seed_same_result_other_seed_differs(model):
    runs = [
        quest_staircase(weibull_observer(ALPHA, BETA, LAPSE, 26, seed=s), 5, 26, 0.15, 30, model) for s in (7, 7, 8)
    ]
    a, b = runs[0], runs[1]
    for name in ("contrast", "trials", "correct", "threshold", "steps"):
        assert torch.equal(getattr(a.stair, name), getattr(b.stair, name))
    assert torch.equal(a.width.nan_to_num(-1), b.width.nan_to_num(-1))
    assert not torch.equal(runs[0].threshold, runs[2].threshold)


def test_comparison_counts_bisection_trials_and_quest_trials_to_its_width(model):
    comparison = compare_procedures(
        lambda: weibull_observer(ALPHA[:3], BETA[:3], LAPSE[:3], 26, seed=2), 3, 26, max_steps=8, boot=50, model=model
    )
    assert torch.equal(comparison.bisection_trials, torch.full((3,), 26.0 * 8, dtype=torch.float64))
    reached = comparison.quest_trials.isfinite()
    assert torch.equal(comparison.quest_trials[reached], comparison.quest.trials[reached])
    assert (comparison.quest_width[reached] <= comparison.bisection_width[reached]).all()
