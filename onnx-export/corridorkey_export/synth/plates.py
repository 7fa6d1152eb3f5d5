"""Synthetic green- or blue-screen plates with known alpha and clean foreground, batched in torch.

Everything is drawn from one torch.Generator on the target device, so a (seed, device) pair always
gives the same plates, on a GPU in the training loop or on a CPU in data-loader workers. A plate is

    I = alpha * F_spilled + (1 - alpha) * B           (linear light, or sRGB-encoded for 'srgb' plates)

of foreground layers over a screen (screen.py). The ground-truth FG is the colour *before* spill and
bounce light (the keyer should remove them); the ground-truth alpha is the coverage after motion blur
and defocus. Then the camera (camera.py): exposure, sensor noise, sharpening, grain, JPEG-like
blocking, and the encoding ('srgb' plates are also quantised to 8 bits).

Two generator families share that frame and differ in everything a model could learn by heart:

| | `train` | `holdout` (validation only) |
|---|---|---|
| shapes | superellipses, panels/sticks, person-like figures, square meshes | star/irregular polygons, the horse silhouette, rings, diamond meshes |
| hair | clumps on an arc with curl, flyaways | long falling hair with regular waves, fur on a pelt's edge |
| translucency | sheer cloth, fractal smoke, veils | striped curtains, domain-warped smoke, glass |
| lighting | gradient, unevenness, folds, wrinkles, vignette, hot spot | spotlight pools, panel seams, bumpy wall, cyclorama floor, hard shadows |
| textures | photos.TRAIN_PHOTOS + procedural | photos.HOLDOUT_PHOTOS + procedural |
| spill | around edges, through thin parts, bounce | the same, plus one-sided (a light from one side) |

A third family, `solid` (validation only, issue 23), holds large opaque subjects covered with a
patchwork of colours near the screen's (desaturated, screen-tinted grey, hues just outside the key's
range; solid.py), textured and blurred, mostly softly defocused or moving, some with falling hair, lit
by either lighting model (drawn per plate batch). The training family sees such colours only with
`focus="solid"`, on its own shapes and with its own (soft-patch) texture.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..preprocess import linear_to_srgb, srgb_to_linear
from . import camera, hair, photos, shapes, solid, translucent
from . import screen as screens
from .common import (Rng, affine_sample, check_screen, grid, local_mean, random_colour, smooth_noise,
                     suppress_screen_hue, v)
from .hint import gaussian_blur

FAMILIES = ("train", "holdout", "solid")
FOCUSES = ("", "transparent", "solid")


@dataclass
class Plates:
    plate: torch.Tensor       # [B,3,H,W] in the plate's own encoding (see is_linear)
    is_linear: torch.Tensor   # [B] bool: plate holds linear light (else sRGB-encoded)
    srgb: torch.Tensor        # [B,3,H,W] the plate in sRGB encoding (what the model and the key see)
    alpha: torch.Tensor       # [B,1,H,W] ground-truth alpha (linear coverage)
    fg: torch.Tensor          # [B,3,H,W] ground-truth straight FG, sRGB-encoded, 0 where alpha == 0
    bg: torch.Tensor          # [B,3,H,W] clean screen, sRGB-encoded
    screen: str = "green"


def _procedural(r: Rng, b: int, h: int, w: int, base: torch.Tensor, strength: torch.Tensor, screen: str) -> torch.Tensor:
    """Straight linear colour field: base colour, shading, noise, and stripes or checks on some plates."""
    x, y = grid(h, w, r.device)
    m = float(min(h, w))
    # Shading and wear vary the brightness a lot and the hue a little (a cloth stays its colour).
    shade = 1.0 + v(strength) * smooth_noise(r, b, 1, h, w, 6) + 0.3 * smooth_noise(r, b, 1, h, w, 2)
    col = base.view(b, 3, 1, 1) * shade.clamp(min=0.05) * (1.0 + 0.12 * v(strength) * smooth_noise(r, b, 3, h, w, 6))
    ang = r.u(b, lo=0, hi=math.pi)
    freq = r.u(b, lo=8, hi=60) * 2 * math.pi / m
    t = v(freq) * (x * v(torch.cos(ang)) + y * v(torch.sin(ang)))
    stripes = 0.5 + 0.5 * torch.sin(t)
    checks = 0.5 + 0.5 * torch.sign(torch.sin(t) * torch.sin(v(freq) * (y * v(torch.cos(ang)) - x * v(torch.sin(ang)))))
    kind = r.u(b)
    second = random_colour(r, b, screen).view(b, 3, 1, 1)
    pattern = torch.where(v(kind) < 0.2, stripes, torch.where(v(kind) < 0.3, checks, torch.zeros_like(stripes)))
    return suppress_screen_hue((col * (1 - pattern) + second * pattern).clamp(0.0, 1.0), screen)


def _photo(r: Rng, b: int, h: int, w: int, bank: tuple[torch.Tensor, torch.Tensor], screen: str) -> torch.Tensor:
    """Linear colour field from a photograph (screen hue already suppressed in the bank): random crop,
    scale, rotation; grey ones tinted."""
    m = float(min(h, w))
    images, grey_flags = bank
    idx = r.i(b, 0, images.shape[0])
    scale = r.u(b, lo=0.5, hi=2.5) * m / images.shape[-1]
    lin = affine_sample(images[idx], h, w, scale, r.u(b, lo=-0.6, hi=0.6), r.u(b, lo=-0.5, hi=0.5),
                        r.u(b, lo=-0.5, hi=0.5), r.p(b, 0.5))
    grey = v(grey_flags[idx])
    tint = random_colour(r, b, screen, sat_hi=0.6, val=(0.5, 1.0)).view(b, 3, 1, 1) * 1.6
    lin = torch.where(grey > 0, lin * tint, lin)
    return (lin * v(r.u(b, lo=0.6, hi=1.3))).clamp(0, 1)


def _split(r: Rng, b: int, prob: float) -> tuple[torch.Tensor, torch.Tensor]:
    on = r.u(b) < prob
    return torch.nonzero(on).flatten(), torch.nonzero(~on).flatten()


def _fill(r: Rng, b: int, h: int, w: int, bank: tuple[torch.Tensor, torch.Tensor], screen: str,
          photo_prob: float = 0.55) -> torch.Tensor:
    """Surface colour of a solid layer: a photograph or a procedural texture."""
    photo, proc = _split(r, b, photo_prob)
    out = torch.empty(b, 3, h, w, device=r.device)
    if photo.numel():
        out[photo] = _photo(r, photo.numel(), h, w, bank, screen)
    if proc.numel():
        k = proc.numel()
        out[proc] = _procedural(r, k, h, w, random_colour(r, k, screen), r.u(k, lo=0, hi=0.5), screen)
    return out


def _edge_region(r: Rng, b: int, h: int, w: int) -> torch.Tensor:
    """Set dressing from a frame edge (floor, stand, wall): a region with a wobbly boundary."""
    x, y = grid(h, w, r.device)
    side = r.i(b, 0, 4)
    depth = r.u(b, lo=0.05, hi=0.3)
    d = torch.stack([y / h, 1 - y / h, x / w, 1 - x / w], 0)  # distance into the frame from each side
    dist = d[side, 0]  # [B,1,H,W]
    wob = 0.03 * smooth_noise(r, b, 1, h, w, 5)
    sd = (dist - v(depth) - wob) * min(h, w)
    return (0.5 - sd).clamp(0, 1)


class _Stack:
    """Back-to-front 'over' compositing of premultiplied linear layers. A layer is drawn only for the
    plates that get it (the on/off draw comes first), so a batch pays for the layers it shows."""

    def __init__(self, r: Rng, b: int, h: int, w: int, present: torch.Tensor):
        self.r, self.b, self.h, self.w, self.present = r, b, h, w, present
        self.prem = torch.zeros(b, 3, h, w, device=r.device)
        self.alpha = torch.zeros(b, 1, h, w, device=r.device)

    def pick(self, prob: float, among: torch.Tensor | None = None) -> torch.Tensor:
        on = self.r.p(self.b, prob) * self.present
        if among is not None:
            on = on * among
        return torch.nonzero(on > 0).flatten()

    def add(self, idx: torch.Tensor, cov: torch.Tensor, colour: torch.Tensor):
        a = cov
        self.prem[idx] = colour * a + self.prem[idx] * (1 - a)
        self.alpha[idx] = a + self.alpha[idx] * (1 - a)

    def add_premultiplied(self, idx: torch.Tensor, prem: torch.Tensor, alpha: torch.Tensor):
        self.prem[idx] = prem + self.prem[idx] * (1 - alpha)
        self.alpha[idx] = alpha + self.alpha[idx] * (1 - alpha)

    def layer(self, prob: float, make, among: torch.Tensor | None = None) -> torch.Tensor:
        """make(k) -> (coverage [k,1,H,W], straight colour [k,3,H,W] or [k,3,1,1]) for k chosen plates."""
        idx = self.pick(prob, among)
        if idx.numel():
            cov, col = make(idx.numel())
            self.add(idx, cov, col)
        return idx

    def layer_premultiplied(self, prob: float, make, among: torch.Tensor | None = None) -> torch.Tensor:
        idx = self.pick(prob, among)
        if idx.numel():
            self.add_premultiplied(idx, *make(idx.numel()))
        return idx


def _train_layers(r: Rng, st: _Stack, h, w, screen, bank, boost, solid_focus: bool = False):
    def solid_(shape):
        return lambda k: (shape(k), _fill(r, k, h, w, bank, screen))

    def colour(k):
        return random_colour(r, k, screen).view(k, 3, 1, 1)

    st.layer(0.15, solid_(lambda k: _edge_region(r, k, h, w)))
    st.layer(0.35, solid_(lambda k: shapes.box(r, k, h, w)))
    heads = {}

    def person(k):
        cov, head = shapes.figure(r, k, h, w)
        heads.update(head)
        return cov, _fill(r, k, h, w, bank, screen)

    fig = st.layer(0.5, person)
    if solid_focus:
        # A large subject in colours near the screen's (solid.py); drawn only for this focus, so the
        # default stream (and the `seed` held-out set made from it) is unchanged.
        def big(k):
            cov = torch.where(v(r.p(k, 0.5)) > 0, shapes.blob(r, k, h, w, (0.25, 0.55)), shapes.figure(r, k, h, w)[0])
            return cov, solid.soft_patches(r, k, h, w, screen, int(r.scalar(2, 6)))
        st.layer(0.75, big)
    st.layer(0.55, solid_(lambda k: shapes.blob(r, k, h, w)))
    st.layer(0.35, solid_(lambda k: shapes.blob(r, k, h, w, (0.06, 0.2))))
    st.layer(0.15, lambda k: (shapes.net(r, k, h, w), colour(k)))
    # Hair on the figure's head (drawn after the props in front of it: hair over everything is common).
    if fig.numel():
        on = r.u(fig.numel()) < min(0.95, 0.65 * boost)
        sel = torch.nonzero(on).flatten()
        if sel.numel():
            k = sel.numel()
            pr, al = hair.head_of_hair(r, k, h, w, screen, heads["cx"][sel], heads["cy"][sel],
                                       heads["r"][sel] * r.u(k, lo=1.0, hi=1.25), strands=int(r.scalar(150, 420)))
            st.add_premultiplied(fig[sel], pr, al)
    st.layer_premultiplied(min(0.9, 0.35 * boost),
                           lambda k: hair.head_of_hair(r, k, h, w, screen, strands=int(r.scalar(100, 400))))
    st.layer(min(0.9, 0.22 * boost), lambda k: translucent.sheer_cloth(r, k, h, w, screen))
    st.layer(min(0.9, 0.2 * boost), lambda k: translucent.smoke(r, k, h, w))
    st.layer(min(0.9, 0.18 * boost), lambda k: translucent.veil(r, k, h, w, screen))


def _holdout_layers(r: Rng, st: _Stack, h, w, screen, bank, boost):
    masks = photos.silhouettes(r.device)

    def solid(shape):
        return lambda k: (shape(k), _fill(r, k, h, w, bank, screen))

    st.layer(0.15, solid(lambda k: _edge_region(r, k, h, w)))
    st.layer(0.55, solid(lambda k: shapes.polygon(r, k, h, w)))
    st.layer(0.4, solid(lambda k: shapes.silhouette(r, k, h, w, masks)))
    st.layer(0.3, solid(lambda k: shapes.ring(r, k, h, w)))
    st.layer(0.3, solid(lambda k: shapes.polygon(r, k, h, w, 6)))
    st.layer(0.15, lambda k: (shapes.net(r, k, h, w, diamond=True), random_colour(r, k, screen).view(k, 3, 1, 1)))
    st.layer_premultiplied(min(0.9, 0.45 * boost),
                           lambda k: hair.falling_hair(r, k, h, w, screen, strands=int(r.scalar(150, 350))))
    st.layer_premultiplied(min(0.9, 0.3 * boost),
                           lambda k: hair.fur_edge(r, k, h, w, screen, strands=int(r.scalar(600, 1500))))
    st.layer(min(0.9, 0.22 * boost), lambda k: translucent.curtain(r, k, h, w, screen))
    st.layer(min(0.9, 0.2 * boost), lambda k: translucent.smoke(r, k, h, w, warped=True))
    st.layer(min(0.9, 0.18 * boost), lambda k: translucent.glass(r, k, h, w))


def _solid_layers(r: Rng, st: _Stack, h, w, screen, bank, boost):
    masks = photos.silhouettes(r.device)

    def big(k):
        cov = torch.where(v(r.p(k, 0.5)) > 0, solid.big_polygon(r, k, h, w),
                          _big_silhouette(r, k, h, w, masks))
        return cov, solid.patchwork(r, k, h, w, screen)

    st.layer(0.15, lambda k: (_edge_region(r, k, h, w), solid.patchwork(r, k, h, w, screen)))
    st.layer(1.0, big)
    st.layer(0.3, lambda k: (shapes.polygon(r, k, h, w), solid.patchwork(r, k, h, w, screen)))
    st.layer_premultiplied(0.4, lambda k: hair.falling_hair(r, k, h, w, screen, strands=int(r.scalar(100, 250))))


def _big_silhouette(r: Rng, b: int, h: int, w: int, masks: torch.Tensor) -> torch.Tensor:
    """The held-out silhouettes at a size that fills much of the frame."""
    idx = r.i(b, 0, masks.shape[0])
    m = float(min(h, w))
    scale = r.u(b, lo=1.1, hi=1.7) * m / masks.shape[-1]
    return affine_sample(masks[idx], h, w, scale, r.u(b, lo=-0.25, hi=0.25), r.u(b, lo=-0.15, hi=0.15),
                         r.u(b, lo=-0.1, hi=0.2), r.p(b, 0.5), padding="zeros").clamp(0, 1)


def make_plates(batch: int, height: int, width: int, g: torch.Generator, device=None, screen: str = "green",
                family: str = "train", focus: str = "", srgb_fraction: float = 0.5,
                empty_fraction: float = 0.03) -> Plates:
    """Draw `batch` plates of height x width from generator g (on `device`)."""
    check_screen(screen)
    if family not in FAMILIES:
        raise ValueError(f"generator family must be one of {FAMILIES}, got {family!r}")
    if focus not in FOCUSES:
        raise ValueError(f"focus must be one of {FOCUSES}, got {focus!r}")
    device = torch.device(device) if device is not None else g.device
    r = Rng(g, device)
    b, h, w = batch, height, width
    m = float(min(h, w))
    holdout = family == "holdout"
    boost = 1.8 if focus == "transparent" else 1.0
    names = photos.HOLDOUT_PHOTOS if family != "train" else photos.TRAIN_PHOTOS
    if family == "solid":
        # Either lighting model (and its spill, shadows and noise), drawn once per batch.
        holdout, boost = r.scalar() < 0.5, 2.4
    bank = (photos.linear_bank(names, device, screen), photos.greyness(names, device))
    scr = screens.screen(r, b, h, w, screen, holdout, photos.bank(names, device))

    st = _Stack(r, b, h, w, 1.0 - r.p(b, empty_fraction))
    if family == "solid":
        _solid_layers(r, st, h, w, screen, bank, boost)
    elif holdout:
        _holdout_layers(r, st, h, w, screen, bank, boost)
    else:
        _train_layers(r, st, h, w, screen, bank, boost, solid_focus=focus == "solid")
    alpha = st.alpha
    straight = st.prem / alpha.clamp(min=1e-6)

    # Spill and bounce. Reflected: the screen's light (its radiance, relative to a key light of 1)
    # adds to the key light on the subject, near its edges most and weaker everywhere, so it scales
    # with the surface's albedo: dark cloth stays dark, skin and white shirts get a fringe of the
    # screen's hue. Transmitted: light through thin and translucent parts (hair, smoke, fabric),
    # added. The held-out family also lights one side more than the other.
    k = 2 * int(max(3, m // 48)) + 1
    edge = gaussian_blur(1.0 - alpha, k) * (alpha > 0).float()
    thin = (1.0 - alpha) * (alpha > 0).float()
    reflect = v(r.u(b, lo=0.0, hi=0.45)) * edge + v(r.u(b, lo=0, hi=0.12)) * (1 + 0.5 * smooth_noise(r, b, 1, h, w, 3))
    transmit = v(r.u(b, lo=0.0, hi=0.35)) * thin + v(r.u(b, lo=0.0, hi=0.06)) * edge
    if holdout:
        x, _ = grid(h, w, device)
        ramp = torch.where(v(r.p(b, 0.5)) > 0, x / w, 1 - x / w)
        one_sided = v(r.p(b, 0.6))
        side = one_sided * (0.3 + 1.4 * ramp) + (1 - one_sided)
        reflect, transmit = reflect * side, transmit * side
    reflect, transmit = reflect.clamp(0, 0.7), transmit.clamp(0, 0.5)
    lit = local_mean(scr, 0.05 * m)
    spilled = straight * (1.0 - 0.2 * reflect + 1.5 * reflect * lit) + transmit * lit

    # Motion blur and defocus of the subject (the screen stays sharp): premultiplied colours and alpha.
    moving = r.p(b, min(0.8, 0.3 * boost))
    length = moving * r.u(b, lo=2.0, hi=0.05 * m + 2.0)
    angle = r.u(b, lo=0, hi=math.pi)
    soft = r.p(b, min(0.7, 0.25 * boost)) * r.u(b, lo=0.5, hi=0.008 * m + 0.6)
    stack = torch.cat([alpha, straight * alpha, spilled * alpha], 1)
    idx = torch.nonzero(length > 0).flatten()
    if idx.numel():
        stack[idx] = camera.motion_blur(stack[idx], length[idx], angle[idx])
    idx = torch.nonzero(soft > 0).flatten()
    if idx.numel():
        stack[idx] = camera.defocus(stack[idx], soft[idx])
    alpha = stack[:, 0:1].clamp(0, 1)
    gt_fg = torch.where(alpha > 1e-4, stack[:, 1:4] / alpha.clamp(min=1e-4), torch.zeros_like(stack[:, 1:4]))
    obs_fg = torch.where(alpha > 1e-4, stack[:, 4:7] / alpha.clamp(min=1e-4), torch.zeros_like(stack[:, 4:7]))

    scr = screens.cast_shadow(r, scr, alpha, hard=holdout)
    gain = camera.exposure(r, b)
    scr = (scr * gain).clamp(0, 1)
    gt_fg, obs_fg = (gt_fg * gain).clamp(0, 1), (obs_fg * gain).clamp(0, 1)

    is_srgb = r.u(b) < srgb_fraction
    srgb_m = v(is_srgb.float())
    # Linear plates composite in linear light; sRGB plates in sRGB encoding (as a display-referred comp).
    comp_lin = alpha * obs_fg + (1 - alpha) * scr
    comp_srgb = alpha * linear_to_srgb(obs_fg) + (1 - alpha) * linear_to_srgb(scr)
    lin = torch.where(srgb_m > 0, srgb_to_linear(comp_srgb), comp_lin)
    lin = camera.sensor_noise(r, lin, 1.5 if holdout else 1.0).clamp(0.0, 1.0)
    enc = linear_to_srgb(lin)
    enc = camera.unsharp(r, enc)
    enc = camera.grain(r, enc)
    enc = camera.blocking(r, enc.clamp(0, 1))
    enc = enc.clamp(0.0, 1.0)
    srgb = torch.where(srgb_m > 0, torch.round(enc * 255) / 255, enc)
    plate = torch.where(srgb_m > 0, srgb, srgb_to_linear(enc))
    return Plates(plate=plate, is_linear=~is_srgb, srgb=srgb, alpha=alpha,
                  fg=linear_to_srgb(gt_fg) * (alpha > 0).float(), bg=linear_to_srgb(scr), screen=screen)
