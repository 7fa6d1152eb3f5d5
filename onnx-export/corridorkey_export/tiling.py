"""Tiled refiner (tile, overlap, linear-ramp blend) as the plugin runs it, to measure its error.

`python -m corridorkey_export.tiling --size 1024` compares it with the full-frame refiner on seeded
weights and prints the max / mean difference of the delta logits and of the final alpha.
"""

from __future__ import annotations

import argparse
import time

import torch


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    if tile >= size:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    return starts + [size - tile]


def ramp(length: int, start: int, size: int, overlap: int) -> torch.Tensor:
    """1-D blend weight of a tile: rises linearly over `overlap` px at edges that touch another tile."""
    w = torch.ones(length)
    if overlap <= 0:
        return w
    r = (torch.arange(overlap, dtype=torch.float32) + 0.5) / overlap
    if start > 0:
        w[:overlap] = torch.minimum(w[:overlap], r)
    if start + length < size:
        w[-overlap:] = torch.minimum(w[-overlap:], r.flip(0))
    return w


def tiled_refiner(refiner_fn, rin: torch.Tensor, tile: int, overlap: int) -> torch.Tensor:
    """Run `refiner_fn` on overlapping square tiles of `rin` [1,7,S,S] and blend the deltas."""
    size = rin.shape[-1]
    tile = min(tile, size)
    out = torch.zeros(rin.shape[0], 4, size, size)
    weight = torch.zeros(1, 1, size, size)
    starts = tile_starts(size, tile, overlap)
    for y in starts:
        for x in starts:
            d = refiner_fn(rin[:, :, y:y + tile, x:x + tile])
            w = ramp(tile, y, size, overlap)[:, None] * ramp(tile, x, size, overlap)[None, :]
            out[:, :, y:y + tile, x:x + tile] += d * w
            weight[:, :, y:y + tile, x:x + tile] += w
    return out / weight


def compare(size: int, tile: int, overlap: int, seed: int, final_std: float = 0.01) -> dict:
    from .fixtures import synthetic_plate
    from .model import CNNRefinerModule, upsample_logits
    from .preprocess import prepare

    torch.manual_seed(seed)
    refiner = CNNRefinerModule(64).eval()
    with torch.no_grad():
        refiner.final.weight.normal_(0, final_std)  # 0.01 as seeded_model; upstream's init is 1e-3
    plate, hint = synthetic_plate(size * 9 // 16, size, seed=seed, fg_box=(0.3, 0.2, 0.7, 0.9))
    x = torch.from_numpy(prepare(plate[..., :3], hint, size))
    # A smooth coarse prediction: the hint as alpha logits, the plate as fg, at S/4 then upsampled.
    q = size // 4
    a_log = (torch.nn.functional.interpolate(x[:, 3:4], size=(q, q), mode="area") - 0.5) * 12
    f_log = torch.nn.functional.interpolate(x[:, :3], size=(q, q), mode="area")
    a_up, f_up = upsample_logits(a_log, size), upsample_logits(f_log, size)
    rin = torch.cat([x[:, :3], torch.sigmoid(a_up), torch.sigmoid(f_up)], 1)
    with torch.no_grad():
        t0 = time.time()
        full = refiner.forward_packed(rin)
        t1 = time.time()
        tiled = tiled_refiner(refiner.forward_packed, rin, tile, overlap)
        t2 = time.time()
    alpha_full = torch.sigmoid(a_up + full[:, :1])
    alpha_tiled = torch.sigmoid(a_up + tiled[:, :1])
    dd, da = (full - tiled).abs(), (alpha_full - alpha_tiled).abs()
    return {
        "size": size, "final_std": final_std, "tile": tile, "overlap": overlap, "tiles": len(tile_starts(size, tile, overlap)) ** 2,
        "delta_max": dd.max().item(), "delta_mean": dd.mean().item(), "delta_abs_max": full.abs().max().item(),
        "alpha_max": da.max().item(), "alpha_mean": da.mean().item(),
        "full_s": t1 - t0, "tiled_s": t2 - t1,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="corridorkey_export.tiling")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--final-std", type=float, default=0.01, help="std of the refiner's last conv weights")
    print(compare(**vars(p.parse_args())))


if __name__ == "__main__":
    main()
