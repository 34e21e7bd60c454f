"""The model cache: hits on the same recipe, misses (and trains) on a changed one."""

from dataclasses import replace

import torch

import bilin
from bilin.cache import ModelCache
from bilin.train.recipe import Recipe

CPU = torch.device("cpu")


def recipe(**changes) -> Recipe:
    base = Recipe(
        model="bilinear",
        gate=None,
        data="mnist",
        d_hidden=8,
        epochs=1,
        lr=1e-2,
        wd=1.0,
        batch_size=64,
        precision="fp32",
        noise=0.3,
        seed=0,
    )
    return replace(base, **changes)


def test_hit_on_same_recipe_miss_on_changed(tmp_path, tiny_root):
    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    trained = []
    original = cache._train
    cache._train = lambda recipes, *a, **k: (trained.append(list(recipes)), original(recipes, *a, **k))
    first = cache.ensure([recipe(seed=0), recipe(seed=1)], CPU)
    assert len(trained) == 1 and len(trained[0]) == 2  # one batch for both seeds
    again = cache.ensure([recipe(seed=0), recipe(seed=1)], CPU)
    assert len(trained) == 1 and again == first
    cache.ensure([recipe(seed=0, epochs=2)], CPU)
    assert len(trained) == 2
    keys = {recipe().key(), recipe(noise=0.4).key(), recipe(lr=1e-3).key(), recipe(seed=1).key()}
    assert len(keys) == 4  # every setting is part of the key
    model = bilin.load_model(first[recipe(seed=0)])
    assert model.embed.weight.shape == (8, 784)


def test_groups_batch_only_compatible_models(tmp_path, tiny_root):
    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    batches = []
    original = cache._train
    cache._train = lambda recipes, *a, **k: (batches.append(len(recipes)), original(recipes, *a, **k))
    cache.ensure([recipe(seed=0, noise=0.0), recipe(seed=0, noise=0.5), recipe(d_hidden=4), recipe(gate="relu")], CPU)
    assert sorted(batches) == [1, 1, 2]


def test_a_signal_whose_raise_was_lost_still_stops_training_at_the_next_epoch(tmp_path, tiny_root):
    """The lifecycle's handler sets the stop flag before raising; a raise that library code swallowed
    (torch turns one inside an import into an ImportError) must not let the grid train to the end."""
    import types

    import pytest
    from rich.console import Console

    from bilin.errors import Interrupted
    from bilin.train.records import StopRequest

    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    stop = StopRequest(reason="SIGTERM", message="stopped by SIGTERM; truncate did not finish")
    run = types.SimpleNamespace(
        command=types.SimpleNamespace(name="truncate"),
        cfg=types.SimpleNamespace(device="cpu"),
        device=CPU,
        console=Console(quiet=True),
        record={},
        stop=stop,
    )
    with pytest.raises(Interrupted, match="stopped by SIGTERM") as caught:
        cache.provide([recipe(epochs=3)], run)
    assert caught.value.signal_name == "SIGTERM"
    assert not cache.has(recipe(epochs=3))  # nothing half-trained is stored as an entry
    assert cache.provide([recipe(epochs=1)], types.SimpleNamespace(**{**run.__dict__, "stop": StopRequest()}))
