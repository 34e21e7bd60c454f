"""The authors' hub layout read as bilin's model and written from it, in-process: identical logits, a strict
load into their module structure, the round trip, and key-mapped state dicts."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, load_model, save_file

from bilin.models.checkpoint import load_model as load_bilin
from bilin.models.checkpoint import save_model
from bilin.models.hub_layout import spec_for, to_authors, weights_of
from bilin.models.hub_source import import_model
from bilin.models.networks import ModelSpec, build_model
from bilin.running.folder import RunDir
from tests.hub.authors import AuthorsModel, authors_config, reference_logits, write_authors_model

X = torch.rand(32, 1, 28, 28, generator=torch.Generator().manual_seed(0))  # images in [0, 1], as both models read


def bilin_model(source, name=None, mapping=None, data="mnist"):
    imported = import_model(str(source), name, None, None if mapping is None else str(mapping))
    spec = spec_for(imported.weights, data)
    model = build_model(spec)
    model.load_state_dict(imported.weights.bilin_state())  # strict
    return model.eval(), imported


@pytest.mark.parametrize("bias", [False, True])
def test_an_authors_model_gives_the_logits_of_their_formula_exactly(tmp_path, bias):
    config = authors_config(8, bias=bias)
    theirs = write_authors_model(tmp_path, "mnist-d8", config)
    with torch.no_grad():
        theirs.blocks[0].bias.normal_() if bias else None  # a bias that matters
    write_authors_model(tmp_path, "mnist-d8", config, theirs)
    model, imported = bilin_model(tmp_path, "mnist-d8")
    state = load_file(str(tmp_path / "mnist-d8" / "model.safetensors"))
    with torch.no_grad():
        assert torch.equal(model(X), reference_logits(state, X))
        assert torch.equal(model(X), theirs(X))
    assert torch.equal(model.left, state["blocks.0.weight"][:8]) and torch.equal(
        model.right, state["blocks.0.weight"][8:]
    )
    if bias:  # their bias is on the bilinear block only: bilin's head bias is 0
        assert torch.equal(model.head.bias, torch.zeros(10))
    assert imported.config == config and imported.provenance["name"] == "mnist-d8"
    assert set(imported.files) == {"config.json", "model.safetensors"}


@pytest.mark.parametrize("bias", [False, True])
def test_a_bilin_model_round_trips_through_the_layout_and_loads_strictly_in_theirs(tmp_path, bias):
    spec = ModelSpec("bilinear", 784, 8, 10, bias=bias)
    model = build_model(spec, torch.Generator().manual_seed(3)).eval()
    if bias:
        torch.nn.init.zeros_(model.head.bias)  # the layout has no head bias: only a zero one travels
    exported = to_authors(weights_of(spec, model.state_dict()), {"lr": 0.01}, seed=3)
    folder = tmp_path / "repo" / "m"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(exported.config_text())
    save_file(exported.tensors, str(folder / "model.safetensors"))
    config = json.loads((folder / "config.json").read_text())
    assert list(config) == list(authors_config()) and config["lr"] == 0.01 and config["wd"] is None
    theirs = AuthorsModel(config)
    missing, unexpected = load_model(theirs, str(folder / "model.safetensors"))  # strict: raises on a mismatch
    assert not missing and not unexpected
    back, _ = bilin_model(tmp_path / "repo", "m")
    with torch.no_grad():
        assert torch.equal(theirs(X), model(X)) and torch.equal(back(X), model(X))
    for key, tensor in model.state_dict().items():
        assert torch.equal(back.state_dict()[key], tensor), key


def test_an_imported_run_exports_its_own_config_and_tensors(tmp_path):
    """The layout -> a bilin run -> the layout: config.json as it was, byte for byte, and the same tensors."""
    from bilin.commands.export_hub import _training
    from bilin.models.checkpoint import load_spec

    config = authors_config(8, bias=True, seed=7, wd=0)
    write_authors_model(tmp_path / "repo", "a", config)
    model, imported = bilin_model(tmp_path / "repo", "a")
    run = RunDir(tmp_path / "run")
    save_model(run, model, spec_for(imported.weights, "mnist"), {"dataset": "mnist", "imported": {"config": config}})
    training, seed = _training(run.path)
    exported = to_authors(weights_of(load_spec(run.path), load_bilin(run.path).state_dict()), training, seed)
    assert exported.config_text() == (tmp_path / "repo" / "a" / "config.json").read_text()
    state = load_file(str(tmp_path / "repo" / "a" / "model.safetensors"))
    assert exported.tensors.keys() == state.keys()
    assert all(torch.equal(exported.tensors[k], state[k]) for k in state)


@pytest.mark.parametrize("stacked", [True, False])
@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_users_state_dict_with_other_names_maps_onto_bilins_model(tmp_path, stacked, suffix):
    d = 8
    g = torch.Generator().manual_seed(1)
    w = {"enc.weight": torch.randn(d, 784, generator=g), "cls.weight": torch.randn(10, d, generator=g)}
    w |= {"cls.bias": torch.randn(10, generator=g)}
    if stacked:
        w["mix.weight"] = torch.randn(2 * d, d, generator=g)
        roles = "bilinear: mix.weight\n"
    else:
        w |= {"l.weight": torch.randn(d, d, generator=g), "r.weight": torch.randn(d, d, generator=g)}
        roles = "left: l.weight\nright: r.weight\n"
    (tmp_path / "keys.yaml").write_text(f"embed: enc.weight\n{roles}head: cls.weight\nhead_bias: cls.bias\n")
    path = tmp_path / f"mine{suffix}"
    torch.save({"model": w, "epoch": 3}, path) if suffix == ".pt" else save_file(w, str(path))
    if suffix == ".pt":  # a checkpoint: the model's dict under a key, and what is not the model ignored
        text = (tmp_path / "keys.yaml").read_text().replace(": ", ": model.").replace("model.model.", "model.")
        (tmp_path / "keys.yaml").write_text(text + "ignore: [epoch]\n")
    model, imported = bilin_model(path, mapping=tmp_path / "keys.yaml")
    stacked_w = w["mix.weight"] if stacked else torch.cat([w["l.weight"], w["r.weight"]])
    state = {"embed.weight": w["enc.weight"], "blocks.0.weight": stacked_w, "head.weight": w["cls.weight"]}
    with torch.no_grad():
        assert torch.equal(model(X), reference_logits(state, X) + w["cls.bias"])
    assert torch.equal(model.bilinear.bias, torch.zeros(2 * d))  # bilin's biased model: the missing one is 0
    assert imported.provenance["keys"]["embed"].endswith("enc.weight")


def test_transposed_weights_are_read_when_the_mapping_says_so(tmp_path):
    w = {"E": torch.randn(784, 8), "W": torch.randn(2 * 8, 8), "U": torch.randn(8, 10)}
    save_file(w, str(tmp_path / "m.safetensors"))
    (tmp_path / "keys.json").write_text(
        json.dumps({"embed": "E", "bilinear": "W", "head": "U", "transposed": ["embed", "head"]})
    )
    model, _ = bilin_model(tmp_path / "m.safetensors", mapping=tmp_path / "keys.json")
    assert torch.equal(model.embed.weight, w["E"].T) and torch.equal(model.head.weight, w["U"].T)


def test_a_hub_repo_is_read_through_huggingface_hub_and_recorded_with_its_commit(tmp_path, monkeypatch):
    """The hub's own download (here its cache's snapshot folder, as hf_hub_download returns it)."""
    import huggingface_hub

    snapshot = tmp_path / "models--someone--mnist" / "snapshots" / "0123abcd"
    write_authors_model(snapshot, "m", authors_config(8))
    asked = []

    def download(repo_id, filename, revision=None, **_):
        asked.append((repo_id, filename, revision))
        return str(snapshot / filename)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    model, imported = bilin_model("someone/mnist", "m")
    assert asked == [("someone/mnist", "m/config.json", None), ("someone/mnist", "m/model.safetensors", None)]
    assert imported.provenance | {"sha256": None} == {
        "layout": "authors (tdooms/bilinear-interp)", "source": "someone/mnist", "name": "m", "sha256": None,
        "hub_repo": "someone/mnist", "revision": "main", "commit": "0123abcd",
    }  # fmt: skip
    with torch.no_grad():
        assert torch.equal(model(X), reference_logits(load_file(str(snapshot / "m" / "model.safetensors")), X))
