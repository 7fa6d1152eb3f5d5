"""Resumable training state in files that fit the device machine's transfer limits (16 MiB a file).

`<name>.safetensors` holds the model weights under the checkpoint's key names (the normal loader
reads it; pos_embed is resized on load). `train_state.pt` (+ `train_state.pt.1`, `.2`, ... when the
optimizer state is larger than one part) holds the optimizer, step, elapsed time, RNG states, the
recipe, and the sha256 of the weights file it belongs to.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

STATE = "train_state.pt"
PART_BYTES = 15 * 1024 * 1024


class StateError(ValueError):
    pass


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _parts(folder: Path) -> list[Path]:
    first = folder / STATE
    parts = [first] if first.exists() else []
    i = 1
    while (folder / f"{STATE}.{i}").exists():
        parts.append(folder / f"{STATE}.{i}")
        i += 1
    return parts


def save_weights(model: torch.nn.Module, path: Path) -> str:
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_state(folder: Path, weights_name: str, model: torch.nn.Module, state: dict) -> None:
    """Weights first, then the state that names their hash (a crash between leaves a detectable mismatch)."""
    folder.mkdir(parents=True, exist_ok=True)
    state = dict(state, weights_file=weights_name, weights_sha256=save_weights(model, folder / weights_name))
    buf = io.BytesIO()
    torch.save(state, buf)
    blob = buf.getvalue()
    chunks = [blob[i:i + PART_BYTES] for i in range(0, len(blob), PART_BYTES)] or [b""]
    old = _parts(folder)
    for i, chunk in enumerate(chunks):
        _atomic_write(folder / (STATE if i == 0 else f"{STATE}.{i}"), chunk)
    for stale in old[len(chunks):]:
        stale.unlink()


def load_state(folder: Path, model: torch.nn.Module, device) -> dict:
    parts = _parts(folder)
    if not parts:
        raise StateError(f"no {STATE} in {folder} to resume from")
    blob = b"".join(p.read_bytes() for p in parts)
    try:
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=False)
    except Exception as e:  # a truncated or partial set of parts
        raise StateError(f"cannot read {folder / STATE} ({len(parts)} part(s)): {e}") from None
    weights = folder / state["weights_file"]
    if not weights.is_file() or hashlib.sha256(weights.read_bytes()).hexdigest() != state["weights_sha256"]:
        raise StateError(f"{weights} does not match {folder / STATE} (copied from another run?)")
    model.load_state_dict(load_file(str(weights), device=str(device)), strict=True)
    return state
