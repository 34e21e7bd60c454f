"""The training loop: learning, determinism, bit-identical resume, divergence handling."""

import pytest
import torch

from bilin.data import load_dataset
from bilin.models.networks import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.loop import Trainer, per_class_accuracy
from bilin.train.records import HParams, StopRequest

CPU = torch.device("cpu")


def make_trainer(tiny_root, seed=0, **overrides) -> Trainer:
    ds = load_dataset("mnist", tiny_root, download=False)
    torch.manual_seed(seed)
    model = build_model(ModelSpec("bilinear", 784, 16, 10))
    hp = HParams(**{"epochs": 4, "batch_size": 64, "noise": 0.3, "seed": seed, **overrides})
    return Trainer(model, DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU), hp, CPU)


def weights(trainer: Trainer) -> dict:
    return {k: v.clone() for k, v in trainer.model.state_dict().items()}


def test_learns_the_synthetic_task(tiny_root):
    result = make_trainer(tiny_root, epochs=6, lr=1e-2).fit()
    assert result.status == "complete" and len(result.metrics) == 6
    assert result.metrics[-1].val_acc > 0.9
    assert result.metrics[-1].train_loss < result.metrics[0].train_loss


def test_same_seed_gives_bit_identical_weights(tiny_root):
    a, b = make_trainer(tiny_root), make_trainer(tiny_root)
    a.fit(), b.fit()
    for key, value in weights(a).items():
        assert torch.equal(value, weights(b)[key]), key
    c = make_trainer(tiny_root, seed=1)
    c.fit()
    assert not torch.equal(weights(a)["embed.weight"], weights(c)["embed.weight"])


def test_stop_then_resume_is_bit_identical(tiny_root):
    reference = make_trainer(tiny_root)
    reference.fit()

    stop = StopRequest()
    first = make_trainer(tiny_root)

    def stop_after_two(metric, _trainer):
        if metric.epoch == 2:
            stop.reason = "SIGTERM"

    result = first.fit(stop, stop_after_two)
    assert result.status == "interrupted" and result.checkpoint["epoch"] == 2
    state = result.checkpoint

    resumed = make_trainer(tiny_root, seed=0)
    resumed.load_state(state)
    final = resumed.fit()
    assert final.status == "complete" and [m.epoch for m in final.metrics] == [1, 2, 3, 4]
    for key, value in weights(reference).items():
        assert torch.equal(value, weights(resumed)[key]), key
    assert [m.val_loss for m in final.metrics] == [m.val_loss for m in reference.metrics]


def test_stop_mid_epoch_keeps_last_completed_epoch(tiny_root):
    stop = StopRequest()
    trainer = make_trainer(tiny_root)
    original_step = trainer._optimizer_step
    steps = []

    def step_then_signal():
        steps.append(1)
        original_step()
        if len(steps) == 13:  # 10 steps per epoch: a signal in the middle of epoch 2
            stop.reason = "SIGINT"

    trainer._optimizer_step = step_then_signal
    result = trainer.fit(stop)
    assert result.status == "interrupted" and result.checkpoint["epoch"] == 1
    assert result.stop_reason == "SIGINT"

    after_one = make_trainer(tiny_root)
    one_epoch = StopRequest()
    after_one.fit(one_epoch, lambda m, _t: setattr(one_epoch, "reason", "test"))
    for key, value in after_one.state()["model"].items():
        assert torch.equal(value, result.checkpoint["model"][key]), key


def test_divergence_in_the_first_epoch_keeps_the_initial_weights(tiny_root):
    trainer = make_trainer(tiny_root, lr=1e12, wd=0.0, noise=0.0)
    initial = weights(trainer)
    result = trainer.fit()
    assert result.status == "diverged" and "NaN" in result.message and "in epoch 1" in result.message
    assert result.checkpoint["epoch"] == 0 and result.metrics == []
    for key, value in initial.items():
        assert torch.equal(value, result.checkpoint["model"][key]), key


def test_divergence_later_keeps_the_last_good_epoch(tiny_root):
    trainer = make_trainer(tiny_root)
    train_epoch = trainer._train_epoch

    def nan_in_epoch_three(stop):
        loss_sum, correct = train_epoch(stop)
        return (loss_sum * float("nan"), correct) if len(trainer.metrics) == 2 else (loss_sum, correct)

    trainer._train_epoch = nan_in_epoch_three
    result = trainer.fit()
    assert result.status == "diverged" and "in epoch 3" in result.message and result.checkpoint["epoch"] == 2
    two = make_trainer(tiny_root)
    stop = StopRequest()
    two.fit(stop, lambda metric, _t: setattr(stop, "reason", "test") if metric.epoch == 2 else None)
    for key, value in weights(two).items():
        assert torch.equal(value, result.checkpoint["model"][key]), key


def test_evaluate_after_fit_is_the_last_epochs_validation_of_the_same_weights(tiny_root):
    trainer = make_trainer(tiny_root, epochs=2)
    result = trainer.fit()
    loss, acc, predicted = trainer.evaluate()  # reuses the last epoch's validation
    assert (loss, acc) == (result.metrics[-1].val_loss, result.metrics[-1].val_acc)
    _, _, fresh = trainer._validate()
    assert torch.equal(predicted, fresh[0])
    changed = make_trainer(tiny_root, epochs=2, seed=1).state()
    trainer.load_state(changed)  # other weights: validated again, not the stored epoch's
    assert torch.equal(trainer.evaluate()[2], trainer._validate()[2][0])
    assert not torch.equal(trainer.evaluate()[2], predicted)


def test_per_class_accuracy():
    labels = torch.tensor([0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 1, 1, 1, 0])
    acc = per_class_accuracy(predicted, labels, 4)
    assert acc[:3].tolist() == [0.5, 1.0, 0.0] and torch.isnan(acc[3])


def test_bf16_precision_runs_and_learns(tiny_root):
    result = make_trainer(tiny_root, epochs=6, lr=1e-2, precision="bf16").fit()
    assert result.metrics[-1].val_acc > 0.8


def test_compiled_training_matches_eager(tiny_root):
    eager = make_trainer(tiny_root, epochs=3).fit()
    compiled = make_trainer(tiny_root, epochs=3, compile="default").fit()
    for a, b in zip(eager.metrics, compiled.metrics, strict=True):
        assert abs(a.val_loss - b.val_loss) < 1e-3 * max(1.0, a.val_loss)


def test_epoch_means_scalar_and_per_model():
    from bilin.train.loop import epoch_means

    # 100 training images in batches of 32: 3 steps of 32 (the partial batch is dropped); 50 val images
    scalar = epoch_means((torch.tensor(3.0), torch.tensor(48), torch.tensor(25.0), torch.tensor(40)), 100, 32, 50)
    assert scalar == pytest.approx([1.0, 0.5, 0.5, 0.8])
    vectors = epoch_means(
        (torch.tensor([3.0, 6.0]), torch.tensor([48, 96]), torch.tensor([25.0, 50.0]), torch.tensor([40, 50])),
        100,
        32,
        50,
    )
    assert vectors == [
        pytest.approx([1.0, 2.0]),
        pytest.approx([0.5, 1.0]),
        pytest.approx([0.5, 1.0]),
        pytest.approx([0.8, 1.0]),
    ]
