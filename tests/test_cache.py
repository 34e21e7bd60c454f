"""The model cache: hits on the same recipe, misses (and trains) on a changed one."""

from dataclasses import replace

import torch

import bilin
from bilin.cache.store import ModelCache
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
    import pytest

    from bilin.cache.store import Executor
    from bilin.errors import Interrupted
    from bilin.train.records import StopRequest

    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    stop = StopRequest(reason="SIGTERM", message="stopped by SIGTERM; truncate did not finish")
    with pytest.raises(Interrupted, match="stopped by SIGTERM") as caught:
        cache.provide([recipe(epochs=3)], Executor(CPU, stop=stop, label="truncate"))
    assert caught.value.signal_name == "SIGTERM"
    assert not cache.has(recipe(epochs=3))  # nothing half-trained is stored as an entry
    provided = cache.provide([recipe(epochs=1)], Executor(CPU, label="truncate"))
    assert list(provided.folders) == [recipe(epochs=1)]
    assert provided.supply.trained == [cache.path(recipe(epochs=1)).name]
    assert set(provided.data) == {recipe().data}


def test_an_entry_is_marked_before_training_so_a_died_one_is_provably_the_caches(tmp_path, tiny_root, monkeypatch):
    import pytest

    from bilin.cache import store as cache_module
    from bilin.cache.entries import DIED, ENTRY_MARKER, ROOT_MARKER, TRAINING, inspect_entries, mark_entry, owned_key
    from bilin.errors import UserError

    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    entry = cache.path(recipe())
    seen = []

    def diverges(*args, **kwargs):
        seen.append([e.status for e in inspect_entries(tmp_path / "cache", verify=False)])
        assert (tmp_path / "cache" / ROOT_MARKER).is_file() and owned_key(entry) == cache.key(recipe())
        raise UserError("training diverged")

    monkeypatch.setattr(cache_module, "train_together", diverges)
    with pytest.raises(UserError, match="diverged"):
        cache.ensure([recipe()], CPU)
    assert seen == [[TRAINING]]  # shown as training while this process holds its lock
    assert not entry.exists()  # a training that failed (not killed) leaves nothing half-made
    mark_entry(entry, cache.key(recipe()))  # what a killed process leaves: a marked folder, no recipe.json
    (entry / "metrics.csv").write_text("epoch\n1\n")
    [found] = inspect_entries(tmp_path / "cache", verify=True)
    assert (entry / ENTRY_MARKER).is_file() and not (entry / "recipe.json").exists()
    assert found.status == DIED and "no process holds its lock; last write 20" in found.detail


def test_weights_and_checksums_taken_from_another_entry_are_caught(tmp_path, tiny_root):
    import shutil

    import pytest

    from bilin.cache.entries import DAMAGED, OK, inspect_entries
    from bilin.errors import UserError

    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    folders = cache.ensure([recipe(seed=0), recipe(seed=1)], CPU)
    first, second = folders[recipe(seed=0)], folders[recipe(seed=1)]
    for name in ("model.safetensors", "checksums.json"):
        shutil.copy2(second / name, first / name)
    statuses = {e.path: (e.status, e.detail) for e in inspect_entries(tmp_path / "cache", verify=True)}
    assert statuses[second][0] == OK
    assert statuses[first][0] == DAMAGED and "not the weights its recipe.json records" in statuses[first][1]
    with pytest.raises(UserError, match="not the weights its recipe.json records.*cache verify"):
        cache.has(recipe(seed=0))


def test_an_entry_of_an_older_bilin_is_retrained_in_place_not_vouched_for(tmp_path, tiny_root):
    import json

    from bilin.cache.entries import ENTRY_MARKER, owned_key

    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    entry = cache.ensure([recipe()], CPU)[recipe()]
    record = json.loads((entry / "recipe.json").read_text())
    del record["weights_sha256"]
    (entry / "recipe.json").write_text(json.dumps(record))
    (entry / ENTRY_MARKER).unlink()
    assert owned_key(entry) == record["key"]  # still provably an entry: recipe.json names its folder's key
    assert not cache.has(recipe())
    assert cache.ensure([recipe()], CPU)[recipe()] == entry and cache.has(recipe())
    assert (entry / ENTRY_MARKER).is_file()


def test_record_supply_says_where_each_model_came_from(tmp_path):
    from bilin.cache.store import Supply, record_supply

    record: dict = {}
    folders = [tmp_path / name for name in ("a", "b", "c")]
    record_supply(record, folders, Supply(trained=["a"], waited_for=["b"], training_seconds=2.0, waiting_seconds=3.0))
    assert record["model_sources"] == {"a": "trained", "b": "waited_for", "c": "reused"}
    assert record["cache_hits"] == 2 and record["training_seconds"] == 2.0 and record["waiting_seconds"] == 3.0
    record_supply(record, folders[:1], Supply())  # used again later in the same command: still trained by it
    assert record["model_sources"]["a"] == "trained" and record["cache_hits"] == 2


def test_remove_names_only_real_marked_folders_directly_in_the_cache(tmp_path, tiny_root):
    import pytest

    from bilin.cache.entries import cache_root, named_entry
    from bilin.errors import UserError

    cache = ModelCache(tmp_path / "cache", tiny_root, download=False)
    entry = cache.ensure([recipe()], CPU)[recipe()]
    root = cache_root(tmp_path / "cache")
    (tmp_path / "cache" / "notes").mkdir()
    (tmp_path / "cache" / "link").symlink_to(entry)
    assert named_entry(root, entry.name) == entry and named_entry(root, str(entry)) == entry
    for name, fragment in [
        ("..", "only folders directly in the cache"),
        (str(tmp_path), "only folders directly in the cache"),
        (str(tmp_path / "cache" / ".." / "cache"), "only folders directly in the cache"),
        ("notes", "no .bilin-cache-entry marker"),
        ("link", "symbolic link"),
        (entry.name + ".lock", "not a folder"),
    ]:
        with pytest.raises(UserError, match=fragment):
            named_entry(root, name)
    with pytest.raises(UserError, match="is not a model cache"):
        cache_root(tmp_path)
