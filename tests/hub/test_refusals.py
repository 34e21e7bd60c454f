"""Every model the layouts cannot hold is refused in one line that says why: a table of cases, in-process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bilin.errors import UserError
from bilin.models.hub_layout import spec_for, to_authors, weights_of
from bilin.models.hub_source import import_model
from bilin.models.networks import ModelSpec, build_model
from bilin.settings.options import ExecutorConfig, ModelConfig
from tests.hub.authors import AuthorsModel, authors_config

D = 8


def authors_folder(root: Path, config: dict | None = None, **tensors: torch.Tensor | None) -> Path:
    """A model folder in the authors' layout with a valid model, then `config` and `tensors` changed (None: removed)."""
    base = authors_config(D)
    state = dict(AuthorsModel(base).state_dict())
    for name, tensor in tensors.items():
        key = name.replace("__", ".")
        state.pop(key) if tensor is None else state.__setitem__(key, tensor)
    folder = root / "m"
    folder.mkdir(parents=True, exist_ok=True)
    written = base | (config or {})
    (folder / "config.json").write_text(written if isinstance(written, str) else json.dumps(written, indent=2))
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "model.safetensors"))
    return folder


def weights(*shape: int, dtype=torch.float32, fill: float | None = None) -> torch.Tensor:
    t = torch.randn(*shape).to(dtype)
    return t.fill_(fill) if fill is not None else t


AUTHORS_CASES = {  # case: (config changes, tensor changes, words the line must hold)
    "config lacks a field": ({"seed": None}, {}, "lacks seed: it is not the authors' Config"),
    "a null seed": ({"seed": "null"}, {}, "seed=null is not int"),
    "config has a field theirs has not": ({"gate": "relu"}, {}, "gate, which the authors' Config does not"),
    "a size as a string": ({"d_hidden": "8"}, {}, 'd_hidden="8" is not int'),
    "bias as a number": ({"bias": 1}, {}, "bias=1 is not bool"),
    "a float size": ({"d_input": 784.0}, {}, "d_input=784.0 is not int"),
    "three layers": ({"n_layer": 3}, {}, "n_layer=3; bilin's model is the single-layer"),
    "a residual connection": ({"residual": True}, {}, "residual=true"),
    "a zero size": ({"d_output": 0}, {}, "d_output=0 must be at least 1"),
    "a missing tensor": ({}, {"head__weight": None}, "lacks head.weight"),
    "a second block": ({}, {"blocks__1__weight": weights(2 * D, D)}, "has blocks.1.weight, which it has no place"),
    "a bias the config does not have": ({}, {"blocks__0__bias": weights(2 * D)}, "has blocks.0.bias"),
    "a bias the config says but lacks": ({"bias": True}, {}, "lacks blocks.0.bias"),
    "a size the config does not say": ({"d_hidden": 16}, {}, "but its config says d_hidden=16"),
    "a wrong block shape": ({}, {"blocks__0__weight": weights(2 * D, D + 1)}, "is 16x9, but the embedding's d=8"),
    "float64 weights": ({}, {"embed__weight": weights(D, 784, dtype=torch.float64)}, "is float64"),
    "integer weights": ({}, {"head__weight": weights(10, D).int()}, "is int32"),
    "a NaN": ({}, {"head__weight": weights(10, D, fill=float("nan"))}, "80 non-finite values"),
    "an inf": ({}, {"embed__weight": weights(D, 784).index_fill_(1, torch.tensor([0]), float("inf"))}, "non-finite"),
    "a scalar weight": ({}, {"head__weight": torch.tensor(1.0)}, "has shape a scalar"),
}


@pytest.mark.parametrize("case", AUTHORS_CASES)
def test_an_authors_folder_that_does_not_fit_is_refused_in_one_line(tmp_path, case):
    config, tensors, words = AUTHORS_CASES[case]
    folder = authors_folder(tmp_path, {k: v for k, v in config.items() if v is not None}, **tensors)
    record = json.loads((folder / "config.json").read_text())
    record = {k: None if v == "null" else v for k, v in record.items() if config.get(k, 0) is not None}
    (folder / "config.json").write_text(json.dumps(record))  # a field removed (None) or null ("null")
    with pytest.raises(UserError) as caught:
        import_model(str(folder), None, None, None)
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def _broken_config(root: Path) -> tuple[str, str | None]:
    (authors_folder(root) / "config.json").write_text("{lr: 1")
    return str(root / "m"), None


def _not_an_object(root: Path) -> tuple[str, str | None]:
    (authors_folder(root) / "config.json").write_text("[1, 2]")
    return str(root / "m"), None


def _lacks_fields(root: Path) -> tuple[str, str | None]:
    (authors_folder(root) / "config.json").write_text('{"lr": 0.001}')
    return str(root / "m"), None


def _damaged_weights(root: Path) -> tuple[str, str | None]:
    (authors_folder(root) / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not a header")
    return str(root / "m"), None


def _no_weights(root: Path) -> tuple[str, str | None]:
    (authors_folder(root) / "model.safetensors").unlink()
    return str(root / "m"), None


SOURCE_CASES = {  # case: (make the source -> (source, name), words)
    "config.json is not JSON": (_broken_config, "config.json is not JSON"),
    "config.json is a list": (_not_an_object, "is not a JSON object of the authors' Config"),
    "config.json lacks most fields": (_lacks_fields, "lacks wd, epochs"),
    "model.safetensors is damaged": (_damaged_weights, "cannot be read as safetensors"),
    "model.safetensors is missing": (_no_weights, "model.safetensors cannot be read"),
    "a repo folder without name=": (lambda r: (authors_folder(r) and str(r), None), "give name=<one of them>"),
    "a name that leaves the repo": (lambda r: (str(r), "../m"), "no '..'"),
    "neither a folder nor a repo id": (lambda r: (str(r / "nowhere"), None), "neither a folder here nor a hub repo id"),
    "a file without mapping=": (lambda r: (str(authors_folder(r) / "model.safetensors"), None), "needs mapping="),
}


@pytest.mark.parametrize("case", SOURCE_CASES)
def test_a_source_that_is_not_a_model_is_refused_in_one_line(tmp_path, case):
    make, words = SOURCE_CASES[case]
    source, name = make(tmp_path)
    with pytest.raises(UserError) as caught:
        import_model(source, name, None, None)
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


GOOD = {"e": torch.randn(D, 784), "w": torch.randn(2 * D, D), "u": torch.randn(10, D)}
MAPPING_CASES = {  # case: (mapping file text, state changes, words)
    "a role bilin has not": ("embed: e\nbilinear: w\nhead: u\ngate: g\n", {}, "gate is not a role"),
    "no embed": ("bilinear: w\nhead: u\n", {}, "does not name the embed key"),
    "both W and left/right": ("embed: e\nbilinear: w\nleft: w\nright: u\nhead: u\n", {}, "give either bilinear:"),
    "left without right": ("embed: e\nleft: w\nhead: u\n", {}, "give either bilinear:"),
    "one key for two roles": ("embed: e\nbilinear: w\nhead: w\n", {}, "the key w is given for two roles"),
    "a role transposed that is not one": ("embed: e\nbilinear: w\nhead: u\ntransposed: [gate]\n", {}, "not gate"),
    "a key the file lacks": ("embed: e\nbilinear: w\nhead: v\n", {}, "has no key v (head)"),
    "a key no role names": ("embed: e\nbilinear: w\nhead: u\n", {"extra": torch.zeros(3)}, "list them under ignore"),
    "left and right of two shapes": (
        "embed: e\nleft: l\nright: r\nhead: u\n",
        {"l": torch.randn(D, D), "r": torch.randn(D, D + 1), "w": None},
        "is 8x9",
    ),  # fmt: skip
    "a stacked W that is not 2d x d": ("embed: e\nbilinear: w\nhead: u\n", {"w": torch.randn(D, D)}, "makes it 16x8"),
    "a head of another d": ("embed: e\nbilinear: w\nhead: u\n", {"u": torch.randn(10, D + 2)}, "makes it 10x8"),
    "a NaN in the mapped weights": (
        "embed: e\nbilinear: w\nhead: u\n",
        {"u": torch.full((10, D), float("nan"))},
        "non-finite",
    ),  # fmt: skip
    "not YAML": ("embed: [e\n", {}, "is not YAML or JSON"),
    "not a mapping": ("- e\n- w\n", {}, "is not a mapping of roles to keys"),
}


@pytest.mark.parametrize("case", MAPPING_CASES)
def test_a_state_dict_the_mapping_does_not_fit_is_refused_in_one_line(tmp_path, case):
    text, changes, words = MAPPING_CASES[case]
    state = {k: v for k, v in (GOOD | changes).items() if v is not None}
    save_file(state, str(tmp_path / "mine.safetensors"))
    (tmp_path / "keys.yaml").write_text(text)
    with pytest.raises(UserError) as caught:
        import_model(str(tmp_path / "mine.safetensors"), None, None, str(tmp_path / "keys.yaml"))
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_torch_files_that_are_not_state_dicts_are_refused_in_one_line(tmp_path):
    (tmp_path / "keys.yaml").write_text("embed: e\nbilinear: w\nhead: u\n")
    cases = {"a.pt": (torch.zeros(3), "holds a Tensor, not a state dict"), "b.npy": (None, "not .npy")}
    for file, (content, words) in cases.items():
        torch.save(content, tmp_path / file)
        with pytest.raises(UserError, match=words):
            import_model(str(tmp_path / file), None, None, str(tmp_path / "keys.yaml"))
    (tmp_path / "c.pt").write_bytes(b"not a pickle")
    with pytest.raises(UserError, match="cannot be read as a torch state dict"):
        import_model(str(tmp_path / "c.pt"), None, None, str(tmp_path / "keys.yaml"))


EXPORT_CASES = {  # case: (spec, words)
    "a relu MLP": (ModelSpec("relu", 784, D, 10), "a relu model"),
    "a gated bilinear MLP": (ModelSpec("bilinear", 784, D, 10, gate="silu"), "gated bilinear model (gate=silu)"),
    "a CNN": (ModelSpec("cnn", 3072, D, 10, input_shape=(3, 32, 32)), "a cnn model"),
    "a head bias": (ModelSpec("bilinear", 784, D, 10, bias=True), "its head has a nonzero bias"),
}


@pytest.mark.parametrize("case", EXPORT_CASES)
def test_what_the_authors_layout_cannot_hold_is_refused_in_one_line(case):
    spec, words = EXPORT_CASES[case]
    state = build_model(spec, torch.Generator().manual_seed(0)).state_dict()
    with pytest.raises(UserError) as caught:
        to_authors(weights_of(spec, state), {}, 0)
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


def test_a_model_of_another_dataset_s_shape_is_refused_in_one_line(tmp_path):
    imported = import_model(str(authors_folder(tmp_path)), None, None, None)
    with pytest.raises(UserError, match="data=cifar10 has 3 x 32 x 32 = 3072 pixels"):
        spec_for(imported.weights, "cifar10")


CHECK_CASES = {  # case: (command, keys, words): refused by the schema's check, before a run folder exists
    "import-hub without source=": ("import", {}, "give source="),
    "mapping= with name=": ("import", {"source": "a.pt", "mapping": "k.yaml", "name": "m"}, "name= and revision="),
    "export of a relu recipe": ("export", {"model": ModelConfig("relu")}, "not relu; use model=bilinear"),
    "export of a gated recipe": ("export", {"model": ModelConfig("bilinear", "gelu")}, "not bilinear with gate=gelu"),
    "export of a biased recipe": ("export", {"model": ModelConfig("bilinear", bias=True)}, "has none (no head bias)"),
    "a name with a slash": ("export", {"model": ModelConfig("bilinear"), "name": "a/b"}, "one folder name"),
}


@pytest.mark.parametrize("case", CHECK_CASES)
def test_keys_the_commands_cannot_use_are_refused_in_one_line(tmp_path, case):
    from bilin.commands.export_hub import ExportHubConfig
    from bilin.commands.import_hub import ImportHubConfig

    command, keys, words = CHECK_CASES[case]
    schema = ImportHubConfig if command == "import" else ExportHubConfig
    cfg = schema(outputs_root=str(tmp_path), **keys)
    if command == "export":  # the groups as composing them fills them
        cfg.cache_root, cfg.executor = str(tmp_path / "cache"), ExecutorConfig("inline")
    with pytest.raises(UserError) as caught:
        cfg.check()
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
