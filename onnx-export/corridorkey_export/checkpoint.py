"""Load a CorridorKey checkpoint (.pth or .safetensors) into a GreenFormer, strictly."""

from __future__ import annotations

import hashlib
import math
import pickle
import zipfile
from pathlib import Path

import torch
import torch.nn.functional as F

from .model import VARIANTS, GreenFormer

COMPILE_PREFIX = "_orig_mod."


class CheckpointError(Exception):
    """A checkpoint that cannot be used; the message is one line meant for the user."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            raw = load_file(str(path))
        else:
            raw = torch.load(str(path), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            KeyError, IndexError, TypeError, AttributeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt or truncated?): {first}") from None
    except Exception as e:  # safetensors raises its own SafetensorError
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"cannot read checkpoint {path} (corrupt or truncated?): {first}") from None
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not all(isinstance(v, torch.Tensor) for v in raw.values()):
        raise CheckpointError(f"checkpoint {path} is not a state dict of tensors")
    return {(k[len(COMPILE_PREFIX):] if k.startswith(COMPILE_PREFIX) else k): v for k, v in raw.items()}


def resize_pos_embed(pos: torch.Tensor, tokens: int) -> torch.Tensor:
    """Upstream's method: [1,N,C] -> square grid -> bicubic (align_corners False) -> [1,N',C]."""
    _, n, c = pos.shape
    src, dst = math.isqrt(n), math.isqrt(tokens)
    if src * src != n or dst * dst != tokens:
        raise CheckpointError(f"pos_embed with {n} tokens cannot be resized to {tokens} (not square grids)")
    grid = pos.reshape(1, src, src, c).permute(0, 3, 1, 2).float()
    grid = F.interpolate(grid, size=(dst, dst), mode="bicubic", align_corners=False)
    return grid.permute(0, 2, 3, 1).reshape(1, tokens, c).to(pos.dtype)


def load_into(model: GreenFormer, state: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    state = dict(state)
    for k, v in list(state.items()):
        if k.endswith("pos_embed") and k in expected and v.ndim == 3 and v.shape != expected[k].shape:
            if v.shape[2] == expected[k].shape[2]:
                state[k] = resize_pos_embed(v, expected[k].shape[1])
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mis_shaped = [f"{k} {list(state[k].shape)} (model {list(expected[k].shape)})"
                  for k in expected if k in state and state[k].shape != expected[k].shape]
    problems = []
    if missing:
        problems.append(f"missing {len(missing)}: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected {len(unexpected)}: {', '.join(unexpected)}")
    if mis_shaped:
        problems.append(f"mis-shaped {len(mis_shaped)}: {'; '.join(mis_shaped)}")
    if problems:
        raise CheckpointError(f"checkpoint does not match GreenFormer/{model.variant.name}: " + " | ".join(problems))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def infer_variant(state: dict[str, torch.Tensor]) -> str:
    """The architecture variant whose shapes a state dict has (embed width, block count, decoder and
    refiner widths), so any GreenFormer checkpoint, official or trained here, exports without naming it."""
    try:
        embed = state["encoder.model.patch_embed.proj.weight"].shape[0]
        blocks = len({k.split(".")[3] for k in state if k.startswith("encoder.model.blocks.")})
        decoder = state["alpha_decoder.linear_c1.proj.weight"].shape[0]
        refiner = state["refiner.stem.0.weight"].shape[0]
    except (KeyError, IndexError) as e:
        raise CheckpointError(f"not a GreenFormer state dict (no {e})") from None
    for name, v in VARIANTS.items():
        if (v.embed_dim, sum(v.stages), v.decoder_dim, v.refiner_channels) == (embed, blocks, decoder, refiner):
            return name
    raise CheckpointError(f"no known GreenFormer variant has embed {embed}, {blocks} blocks, decoder {decoder}, "
                          f"refiner {refiner} (known: {', '.join(VARIANTS)})")


def load_checkpoint(path: Path, variant: str, img_size: int) -> GreenFormer:
    model = GreenFormer(variant, img_size)
    load_into(model, read_state_dict(path))
    return model.eval()
