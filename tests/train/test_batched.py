"""Stacked training of several models equals training each alone (same init, batches, noise)."""

import pytest
import torch

from bilin.data import load_dataset
from bilin.models import ModelSpec, build_model
from bilin.train.batched import BatchedTrainer, Member
from bilin.train.loop import DeviceData, HParams, Trainer

CPU = torch.device("cpu")


@pytest.mark.parametrize("kind,gate", [("bilinear", None), ("bilinear", "relu"), ("relu", None)])
def test_batched_equals_separate(tiny_root, kind, gate):
    ds = load_dataset("mnist", tiny_root, download=False)
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU)
    spec = ModelSpec(kind, 784, 12, 10, gate=gate)
    members = [Member(seed=0, noise=0.3), Member(seed=1, noise=0.0), Member(seed=2, noise=0.6)]
    hp = HParams(epochs=3, batch_size=64, lr=3e-3)

    batched = BatchedTrainer(spec, members, data, hp, CPU)
    batched.fit()
    for member, state, history in zip(members, batched.state_dicts(), batched.metrics, strict=True):
        torch.manual_seed(member.seed)
        alone = Trainer(
            build_model(spec), data, HParams(**{**hp.__dict__, "seed": member.seed, "noise": member.noise}), CPU
        )
        result = alone.fit()
        # Adam divides by sqrt(v): a weight whose gradients are near zero (a dead relu unit) can move
        # by a fraction of one step lr on a last-bit difference, so allow a tenth of a step; a wrong
        # init, batch order or noise stream moves weights by hundreds of steps.
        for name, value in alone.model.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=1e-4, atol=hp.lr / 10)
        for a, b in zip(history, result.metrics, strict=True):
            assert a.val_acc == pytest.approx(b.val_acc, abs=2 / len(ds.test_y))
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)


def test_batched_honours_bf16(tiny_root):
    """precision=bf16 autocasts the batched matmuls as the lone trainer does (it used to train fp32)."""
    ds = load_dataset("mnist", tiny_root, download=False)
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU)
    spec = ModelSpec("bilinear", 784, 12, 10)
    member = Member(seed=0, noise=0.3)
    runs = {}
    for precision in ("fp32", "bf16"):
        hp = HParams(epochs=2, batch_size=64, lr=3e-3, precision=precision)
        trainer = BatchedTrainer(spec, [member], data, hp, CPU)
        trainer.fit()
        runs[precision] = trainer.state_dicts()[0]
    torch.manual_seed(member.seed)
    alone = Trainer(
        build_model(spec), data, HParams(epochs=2, batch_size=64, lr=3e-3, precision="bf16", seed=0, noise=0.3), CPU
    )
    alone.fit()
    for name, value in alone.model.state_dict().items():
        assert not torch.equal(runs["bf16"][name], runs["fp32"][name]), name
        torch.testing.assert_close(runs["bf16"][name], value, rtol=0.05, atol=5e-3)
