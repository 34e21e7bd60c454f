"""Where an imported model's files come from: a hub repo (huggingface_hub, its cache and HF_HOME), a local copy
of one, a model's own folder, or a state-dict file read through a key mapping. Reads only; each file's
SHA-256 goes in the provenance the run records.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bilin.errors import UserError
from bilin.models.hub_layout import CONFIG, WEIGHTS, check_config, from_authors
from bilin.models.key_mapping import BilinearWeights, KeyMapping, map_state

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")  # owner/name, as the hub spells repo ids
STATE_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


@dataclass
class Imported:
    """The weights read, their source's config (the authors' layout) and where they came from."""

    weights: BilinearWeights
    provenance: dict[str, Any]
    config: dict[str, Any] | None = None
    files: dict[str, str] = field(default_factory=dict)  # file -> SHA-256


def import_model(source: str, name: str | None, revision: str | None, mapping: str | None) -> Imported:
    """A model in the authors' layout (a hub repo id, a local repo folder + name, or the model's folder), or,
    with a mapping file, a state-dict file whose keys it names."""
    if mapping is not None:
        return _mapped(source, mapping)
    if Path(source).is_file():
        raise UserError(f"source={source} is a file; a state dict needs mapping=<file naming its keys>")
    config_file, weights_file, where = _authors_files(source, name, revision)
    config_bytes, weights_bytes = _read(config_file), _read(weights_file)
    try:
        record = json.loads(config_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{where}/{CONFIG} is not JSON ({_short(exc)})") from exc
    config = check_config(record, f"{where}/{CONFIG}")
    weights = from_authors(config, load_safetensors(weights_bytes, f"{where}/{WEIGHTS}"), f"{where}/{WEIGHTS}")
    files = {CONFIG: _sha(config_bytes), WEIGHTS: _sha(weights_bytes)}
    provenance = {"layout": "authors (tdooms/bilinear-interp)", "source": source, "name": name, "sha256": files}
    if not Path(source).exists():
        provenance |= {"hub_repo": source, "revision": revision or "main", "commit": _snapshot(weights_file)}
    return Imported(weights, provenance, config, files)


def _authors_files(source: str, name: str | None, revision: str | None) -> tuple[Path, Path, str]:
    """(config.json, model.safetensors, how errors name the model) of a local folder or a hub repo."""
    if name is not None and (not name.strip("/") or ".." in Path(name).parts or Path(name).is_absolute()):
        raise UserError(f"name={name}: a model's folder inside the repo (no '..', not absolute)")
    folder = Path(source)
    if folder.is_dir():
        model = folder / name if name else folder
        if not (model / CONFIG).is_file():
            found = sorted(p.parent.name for p in folder.glob(f"*/{CONFIG}"))
            hint = f"; {folder}'s models: {', '.join(found[:10])} (give name=<one of them>)" if found else ""
            raise UserError(f"{model} has no {CONFIG}: it is not a model in the authors' layout{hint}")
        return model / CONFIG, model / WEIGHTS, str(model)
    if folder.exists() or not REPO_ID.match(source):
        raise UserError(f"source={source} is neither a folder here nor a hub repo id (owner/name)")
    prefix = f"{name.strip('/')}/" if name else ""
    return (
        _download(source, f"{prefix}{CONFIG}", revision),
        _download(source, f"{prefix}{WEIGHTS}", revision),
        (f"{source}/{prefix.rstrip('/')}" if prefix else source),
    )


def _download(repo: str, filename: str, revision: str | None) -> Path:
    """One file of a hub repo through huggingface_hub (its cache first; HF_HUB_OFFLINE=1 keeps it there)."""
    try:
        import huggingface_hub as hub
        from huggingface_hub import errors
        from huggingface_hub.utils import logging
    except ImportError as exc:
        raise UserError(f"reading the hub repo {repo} needs huggingface_hub: pip install huggingface-hub") from exc

    shown = f"{repo}/{filename}" + (f" at {revision}" if revision else "")
    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # its retries would print a warning each; the error below says it once
    try:
        return Path(hub.hf_hub_download(repo, filename, revision=revision))
    except errors.LocalEntryNotFoundError as exc:
        raise UserError(
            f"the hub repo {repo} cannot be reached (offline, or no network) and {filename} is not in the local "
            "hub cache (HF_HOME); connect, or download the repo and give its folder as source="
        ) from exc
    except errors.GatedRepoError as exc:
        raise UserError(
            f"the hub repo {repo} is gated: accept its terms on the hub, then log in (hf auth login)"
        ) from exc
    except errors.RepositoryNotFoundError as exc:
        raise UserError(f"the hub repo {repo} does not exist (or is private: log in with hf auth login)") from exc
    except errors.RevisionNotFoundError as exc:
        raise UserError(f"the hub repo {repo} has no revision {revision}") from exc
    except errors.EntryNotFoundError as exc:
        raise UserError(f"{shown} does not exist: is name= the model's folder in the repo?") from exc
    except (errors.HfHubHTTPError, OSError, ValueError) as exc:
        raise UserError(f"{shown} cannot be downloaded: {_short(exc)}") from exc
    finally:
        logging.set_verbosity(verbosity)


def _snapshot(path: Path) -> str | None:
    """The commit a file of the hub cache was downloaded at (…/snapshots/<commit>/…)."""
    parts = path.parts
    return parts[parts.index("snapshots") + 1] if "snapshots" in parts[:-1] else None


def _mapped(source: str, mapping: str) -> Imported:
    path, mapping_path = Path(source), Path(mapping)
    if not path.is_file():
        raise UserError(f"source={source}: with mapping=, source is a state-dict file ({', '.join(STATE_SUFFIXES)})")
    if not mapping_path.is_file():
        raise UserError(f"mapping={mapping} does not exist")
    import yaml

    mapping_bytes = _read(mapping_path)
    try:
        record = yaml.safe_load(mapping_bytes)  # YAML reads JSON too
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise UserError(f"mapping={mapping} is not YAML or JSON ({_short(exc)})") from exc
    keys = KeyMapping.from_record(record, f"mapping={mapping}")
    data = _read(path)
    weights = map_state(_state_file(data, path), keys, str(path))
    files = {path.name: _sha(data), mapping_path.name: _sha(mapping_bytes)}
    provenance = {"layout": "state dict + key mapping", "source": source, "mapping": mapping, "sha256": files}
    provenance["keys"] = keys.roles()
    return Imported(weights, provenance, None, files)


def _state_file(data: bytes, path: Path) -> dict[str, object]:
    if path.suffix == ".safetensors":
        return load_safetensors(data, str(path))
    if path.suffix not in STATE_SUFFIXES:
        raise UserError(f"{path}: a state dict is read from {', '.join(STATE_SUFFIXES)}, not {path.suffix or 'this'}")
    import torch

    try:  # weights_only: a pickle can run code; tensors, dicts and numbers cannot
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a damaged or foreign file
        raise UserError(f"{path} cannot be read as a torch state dict ({_short(exc)})") from exc
    if not isinstance(state, dict):
        raise UserError(f"{path} holds a {type(state).__name__}, not a state dict (save model.state_dict())")
    return state


def load_safetensors(data: bytes, where: str) -> dict[str, object]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        return load(data)
    except (SafetensorError, ValueError, TypeError, RuntimeError) as exc:
        raise UserError(f"{where} cannot be read as safetensors ({_short(exc)})") from exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UserError(f"{path} cannot be read: {exc.strerror or exc}") from exc


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
