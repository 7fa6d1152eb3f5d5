"""Training batches: synthetic plates + perturbed hints -> upstream-prepared model input and targets.

Batch `step` of a run is a pure function of (seed, step, device, screen, focus), so a resumed run
replays the same stream. Two ways to feed a GPU:

* `device` (default): plates are drawn on the training device itself, inside the loop. The generator
  is batched torch, so on a GPU a batch costs a few ms of kernels and no CPU: nothing waits for
  the CPU however few cores the machine lends (two runs share 32 cores on a two-GPU machine).
* `workers`: CPU DataLoader workers draw batches ahead (pinned memory, in step order), for machines
  where the GPU is the scarcer resource. On a CPU a 512x512 plate costs about a core-second, so this
  needs many cores to keep up; the log's `data_s` shows whether the loop waits.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model import IMAGENET_MEAN, IMAGENET_STD
from ..preprocess import linear_to_srgb, resize_aa
from ..synth.perturb import training_hints
from ..synth.plates import make_plates


@dataclass
class Batch:
    x: torch.Tensor       # [B,4,S,S] ImageNet-normalised sRGB + hint (the model's input)
    alpha: torch.Tensor   # [B,1,S,S]
    fg: torch.Tensor      # [B,3,S,S] straight sRGB
    bg: torch.Tensor      # [B,3,S,S] sRGB
    hint: torch.Tensor    # [B,1,S,S]

    def to(self, device, non_blocking: bool = False) -> "Batch":
        return Batch(**{k: getattr(self, k).to(device, non_blocking=non_blocking) for k in ("x", "alpha", "fg", "bg", "hint")})


def normalise(srgb: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=srgb.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=srgb.device).view(1, 3, 1, 1)
    return (srgb - mean) / std


def step_generator(seed: int, step: int, device) -> torch.Generator:
    """Batch `step` of run `seed` is a pure function of (seed, step, device): resuming replays the stream."""
    g = torch.Generator(device=device)
    g.manual_seed((seed * 1_000_003 + step * 7919) % (2**63 - 1))
    return g


@torch.no_grad()
def make_batch(batch: int, size: int, seed: int, step: int, device, screen: str = "green", focus: str = "",
               anamorphic_fraction: float = 0.4, exact_fraction: float = 0.0) -> Batch:
    """`focus` may name several plate focuses joined by '+' (e.g. "solid+transparent+"): batch `step`
    takes the (step mod n)-th, so a run alternates them."""
    g = step_generator(seed, step, device)
    if "+" in focus:
        options = focus.split("+")
        focus = options[step % len(options)]
    u = torch.rand(3, generator=g, device=device).tolist()
    h = w = size
    if u[0] < anamorphic_fraction:
        # Real plates (16:9, 17:9) are squashed into S x S upstream: draw some non-square plates and
        # resize them the same way, with the hint made at plate resolution as the plugin does.
        short = max(32, int(round(size * (0.5 + 0.5 * u[1]) / 8)) * 8)
        h, w = (short, size) if u[2] < 0.75 else (size, short)
    p = make_plates(batch, h, w, g, device, screen=screen, family="train", focus=focus)
    hint = training_hints(p, g, exact_fraction=exact_fraction)
    if (h, w) == (size, size):
        # Already S x S: upstream's resize is the identity; linear plates become sRGB as upstream does.
        return Batch(x=torch.cat([normalise(p.srgb), hint], 1), alpha=p.alpha, fg=p.fg, bg=p.bg, hint=hint)
    plate = resize_aa(p.plate, size)
    srgb = torch.where(p.is_linear.view(-1, 1, 1, 1), linear_to_srgb(plate), plate)
    alpha = resize_aa(p.alpha, size).clamp(0, 1)
    fg = torch.where(alpha > 1e-4, resize_aa(p.fg * p.alpha, size) / alpha.clamp(min=1e-4), torch.zeros_like(srgb))
    hint = resize_aa(hint, size).clamp(0, 1)
    return Batch(x=torch.cat([normalise(srgb), hint], 1), alpha=alpha, fg=fg.clamp(0, 1),
                 bg=resize_aa(p.bg, size), hint=hint)


class SyntheticBatches(torch.utils.data.Dataset):
    """Item i is batch `start + i` drawn on the CPU (for DataLoader workers; in step order)."""

    def __init__(self, batch: int, size: int, seed: int, start: int, screen: str, focus: str,
                 exact_fraction: float = 0.0):
        self.args = (batch, size, seed, start, screen, focus)
        self.exact_fraction = exact_fraction

    def __len__(self) -> int:
        return 1 << 40

    def __getitem__(self, i: int) -> dict:
        batch, size, seed, start, screen, focus = self.args
        b = make_batch(batch, size, seed, start + i, "cpu", screen, focus, exact_fraction=self.exact_fraction)
        return {k: getattr(b, k) for k in ("x", "alpha", "fg", "bg", "hint")}


def _worker_init(_):
    torch.set_num_threads(1)


def worker_batches(batch: int, size: int, seed: int, start: int, screen: str, focus: str, workers: int,
                   pin: bool, exact_fraction: float = 0.0):
    """An iterator of CPU-made Batches for steps start, start+1, ... from `workers` processes."""
    loader = torch.utils.data.DataLoader(
        SyntheticBatches(batch, size, seed, start, screen, focus, exact_fraction), batch_size=None, shuffle=False,
        num_workers=workers, pin_memory=pin, prefetch_factor=2, persistent_workers=False,
        worker_init_fn=_worker_init)
    for item in loader:
        yield Batch(**item)
