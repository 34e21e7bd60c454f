"""Several models trained together by one Trainer equal each trained alone (same init, batches,
noise), for every bilin architecture, the CNN included.

The equivalence is checked in float64. Stacked (vmap) and lone modules run different kernels, whose
float32 rounding differs by CPU (AVX2 vs AVX-512) and Adam's division by sqrt(v) amplifies it into
visible weight differences on some machines; in float64 the rounding is ~1e-16, so the comparison
holds to a bound far below any real fault (a wrong init, batch order or noise stream moves weights
by whole Adam steps, lr each) on every CPU.
"""

import pytest
import torch

from bilin.data import load_dataset
from bilin.models.networks import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.loop import Trainer
from bilin.train.records import HParams, Member
from tests.conftest import write_cifar

CPU = torch.device("cpu")
MEMBERS = [Member(seed=0, noise=0.3), Member(seed=1, noise=0.0), Member(seed=2, noise=0.6)]


def data_of(name: str, root, dtype: torch.dtype = torch.float32) -> tuple[DeviceData, int]:
    ds = load_dataset(name, root, download=False)
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU)
    data.train_x, data.test_x = data.train_x.to(dtype), data.test_x.to(dtype)
    return data, len(ds.test_y)


def model_of(spec: ModelSpec, seed: int, dtype: torch.dtype) -> torch.nn.Module:
    return build_model(spec, torch.Generator().manual_seed(seed)).to(dtype)


def together_and_alone(
    spec: ModelSpec, data: DeviceData, hp: HParams, members: list[Member], alone_members: bool = False
):
    """alone_members: each alone trainer gets its member (with its augmentations), not hp's seed and noise only."""
    dtype = data.train_x.dtype
    models = [model_of(spec, m.seed, dtype) for m in members]
    together = Trainer(models, data, hp, CPU, members)
    assert together.fit().status == "complete"
    alone = []
    for member in members:
        model = model_of(spec, member.seed, dtype)
        own = HParams(**{**hp.__dict__, "seed": member.seed, "noise": member.noise})
        trainer = Trainer(model, data, own, CPU, [member] if alone_members else None)
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
    data, n_test = data_of("mnist", tiny_root, torch.float64)
    hp = HParams(epochs=3, batch_size=64, lr=3e-3)
    together, alone = together_and_alone(spec, data, hp, MEMBERS)
    assert_equal_training(together, alone, hp.lr)


def test_cnns_trained_together_equal_each_trained_alone(tmp_path):
    write_cifar(tmp_path, per_batch=24, n_test=40)  # float64 convolutions are slow: 120 images
    data, _ = data_of("cifar10", tmp_path, torch.float64)
    spec = ModelSpec("cnn", 3 * 32 * 32, 16, 10, input_shape=(3, 32, 32))
    hp = HParams(epochs=2, batch_size=30, lr=1e-3, wd=0.0)
    together, alone = together_and_alone(spec, data, hp, MEMBERS[:2])
    assert_equal_training(together, alone, hp.lr)


def assert_equal_training(together: Trainer, alone: list[Trainer], lr: float) -> None:
    """Every weight within a millionth of an Adam step (lr) of the lone model's, and the same metrics.

    In float64 the kernels' rounding (~1e-16 relative) even amplified by Adam's 1/sqrt(v) stays many
    orders of magnitude below lr * 1e-6; one wrong step anywhere is lr."""
    for state, history, single in zip(together.state_dicts(), together.histories, alone, strict=True):
        for name, value in single.model.state_dict().items():
            torch.testing.assert_close(state[name], value, rtol=0, atol=lr * 1e-6)
        for a, b in zip(history, single.metrics, strict=True):
            assert a.val_acc == b.val_acc
            assert a.train_loss == pytest.approx(b.train_loss, rel=1e-6)


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
