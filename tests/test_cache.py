"""The model cache: hits on the same recipe, misses (and trains) on a changed one."""

from dataclasses import replace

import torch

import bilin
from bilin.cache import ModelCache, Recipe

CPU = torch.device("cpu")


def recipe(**changes) -> Recipe:
    base = Recipe(model="bilinear", gate=None, data="mnist", d_hidden=8, epochs=1, lr=1e-2, wd=1.0, batch_size=64,
                  precision="fp32", noise=0.3, seed=0)
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
    assert recipe().key() != recipe(noise=0.4).key() != recipe(lr=1e-3).key()
    model = bilin.load_model(first[recipe(seed=0)])
    assert model.embed.weight.shape == (8, 784)


def test_groups_batch_only_compatible_models(tmp_path, tiny_root):
    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    batches = []
    original = cache._train
    cache._train = lambda recipes, *a, **k: (batches.append(len(recipes)), original(recipes, *a, **k))
    cache.ensure([recipe(seed=0, noise=0.0), recipe(seed=0, noise=0.5), recipe(d_hidden=4), recipe(gate="relu")], CPU)
    assert sorted(batches) == [1, 1, 2]
