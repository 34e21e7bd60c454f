"""Several models trained together by one Trainer equal each trained alone (same init, batches,
noise), for every bilin architecture, the CNN included."""

import pytest
import torch

from bilin.data import load_dataset
from bilin.models import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.loop import Trainer
from bilin.train.records import HParams, Member
from tests.conftest import write_cifar

CPU = torch.device("cpu")
MEMBERS = [Member(seed=0, noise=0.3), Member(seed=1, noise=0.0), Member(seed=2, noise=0.6)]


def data_of(name: str, root) -> tuple[DeviceData, int]:
    ds = load_dataset(name, root, download=False)
    return DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU), len(ds.test_y)


def together_and_alone(spec: ModelSpec, data: DeviceData, hp: HParams, members: list[Member]):
    models = [build_model(spec, torch.Generator().manual_seed(m.seed)) for m in members]
    together = Trainer(models, data, hp, CPU, members)
    assert together.fit().status == "complete"
    alone = []
    for member in members:
        model = build_model(spec, torch.Generator().manual_seed(member.seed))
        trainer = Trainer(model, data, HParams(**{**hp.__dict__, "seed": member.seed, "noise": member.noise}), CPU)
        assert trainer.fit().status == "complete"
        alone.append(trainer)
    return together, alone


@pytest.mark.parametrize(
    "spec",
    [
        ModelSpec("bilinear", 784, 12, 10),
        ModelSpec("bilinear", 784, 12, 10, gate="relu"),
        ModelSpec("bilinear", 784, 12, 10, gate="silu"),
        ModelSpec("relu", 784, 12, 10),
    ],
    ids=["bilinear", "bilinear_relu", "bilinear_silu", "relu"],
)
def test_mlps_trained_together_equal_each_trained_alone(tiny_root, spec):
    data, n_test = data_of("mnist", tiny_root)
    hp = HParams(epochs=3, batch_size=64, lr=3e-3)
    together, alone = together_and_alone(spec, data, hp, MEMBERS)
    for state, history, single in zip(together.state_dicts(), together.histories, alone, strict=True):
        # Adam divides by sqrt(v): a weight whose gradients are near zero (a dead relu unit) can move
        # by a fraction of one step lr on a last-bit difference, so allow a tenth of a step; a wrong
        # init, batch order or noise stream moves weights by hundreds of steps.
        for name, value in single.model.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=1e-4, atol=hp.lr / 10)
        for a, b in zip(history, single.metrics, strict=True):
            assert a.val_acc == pytest.approx(b.val_acc, abs=2 / n_test)
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-4)


def test_cnns_trained_together_equal_each_trained_alone(tmp_path):
    write_cifar(tmp_path)
    data, _ = data_of("cifar10", tmp_path)
    spec = ModelSpec("cnn", 3 * 32 * 32, 16, 10, input_shape=(3, 32, 32))
    hp = HParams(epochs=2, batch_size=60, lr=1e-3, wd=0.0)
    together, alone = together_and_alone(spec, data, hp, MEMBERS[:2])
    for state, single in zip(together.state_dicts(), alone, strict=True):
        # relu and max-pool ties make a few more weights sit where Adam amplifies a last-bit
        # difference: every weight within half a step, and all but 0.1% within a tenth of one
        for name, value in single.model.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=1e-4, atol=hp.lr / 2)
            assert ((state[name] - value).abs() > hp.lr / 10).float().mean() < 1e-3, name


def test_members_differ_so_the_equivalence_is_not_vacuous(tiny_root):
    data, _ = data_of("mnist", tiny_root)
    spec = ModelSpec("bilinear", 784, 12, 10)
    together, _ = together_and_alone(spec, data, HParams(epochs=1, batch_size=64, lr=3e-3), MEMBERS[:2])
    first, second = together.state_dicts()
    assert (first["embed.weight"] - second["embed.weight"]).abs().max() > 10 * 3e-3


def test_one_model_alone_is_bit_deterministic(tiny_root):
    data, _ = data_of("mnist", tiny_root)
    spec = ModelSpec("bilinear", 784, 12, 10)
    hp = HParams(epochs=2, batch_size=64, lr=3e-3, seed=5, noise=0.4)
    runs = []
    for _ in range(2):
        trainer = Trainer(build_model(spec, torch.Generator().manual_seed(5)), data, hp, CPU)
        trainer.fit()
        runs.append(trainer.state_dicts()[0])
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name]), name


def test_models_trained_together_honour_bf16(tiny_root):
    """precision=bf16 autocasts the stacked matmuls as the lone trainer does."""
    data, _ = data_of("mnist", tiny_root)
    spec = ModelSpec("bilinear", 784, 12, 10)
    runs = {}
    for precision in ("fp32", "bf16"):
        hp = HParams(epochs=2, batch_size=64, lr=3e-3, precision=precision)
        together, alone = together_and_alone(spec, data, hp, MEMBERS[:2])
        runs[precision] = together.state_dicts()[0]
        if precision == "bf16":
            for name, value in alone[0].model.state_dict().items():
                torch.testing.assert_close(runs["bf16"][name], value, rtol=0.05, atol=5e-3)
    for name in runs["fp32"]:
        assert not torch.equal(runs["bf16"][name], runs["fp32"][name]), name
