"""GreenFormer (CorridorKey's keyer) rebuilt on timm's Hiera with the checkpoint's state-dict names.

Structure and key names follow GREENFORMER.md §2 and Appendix A: `encoder.model.*` (timm
FeatureGetterNet around Hiera, 4-channel patch embed), `alpha_decoder.*` / `fg_decoder.*`
(SegFormer-style heads), `refiner.*` (dilated CNN with GroupNorm).
"""

from __future__ import annotations

from dataclasses import dataclass

import timm
import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass(frozen=True)
class Variant:
    name: str
    timm_name: str
    embed_dim: int
    num_heads: int
    stages: tuple[int, ...]
    decoder_dim: int
    refiner_channels: int


VARIANTS = {
    # The official architecture: timm `hiera_base_plus_224` defaults (GREENFORMER.md §2.1).
    "hiera_base_plus": Variant("hiera_base_plus", "hiera_base_plus_224", 112, 2, (2, 3, 16, 3), 256, 64),
    # Same code, tiny dims: keeps every structural feature (windowed attention, lagged mask-unit
    # block, three q-pool transitions, global attention) so fixtures exercise the real graph shape.
    "small": Variant("small", "hiera_base_plus_224", 8, 1, (1, 2, 2, 1), 32, 16),
    # The shipped synthetic-trained model (train/): same graphs, ~3.3 M parameters, fp16 export at
    # S=1024 about 10 MB including its 256x256x32 pos_embed.
    "compact": Variant("compact", "hiera_base_plus_224", 32, 1, (1, 2, 5, 2), 64, 32),
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
REFINER_SCALE = 10.0


def check_size(size: int) -> None:
    if size <= 0 or size % 32:
        raise ValueError(f"model size must be a positive multiple of 32 (stride 4 x mask unit 8), got {size}")


class LinearEmbed(nn.Module):
    """SegFormer's `MLP`: flatten tokens, Linear to the decoder width (key `linear_cN.proj`)."""

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.proj(x.flatten(2).transpose(1, 2))
        return y.transpose(1, 2).reshape(b, -1, h, w)


class DecoderHead(nn.Module):
    def __init__(self, in_channels: list[int], embedding_dim: int, out_channels: int):
        super().__init__()
        c1, c2, c3, c4 = in_channels
        self.linear_c4 = LinearEmbed(c4, embedding_dim)
        self.linear_c3 = LinearEmbed(c3, embedding_dim)
        self.linear_c2 = LinearEmbed(c2, embedding_dim)
        self.linear_c1 = LinearEmbed(c1, embedding_dim)
        self.linear_fuse = nn.Conv2d(embedding_dim * 4, embedding_dim, kernel_size=1, bias=False)
        self.bn = nn.BatchNorm2d(embedding_dim)
        self.relu = nn.ReLU(inplace=False)
        self.dropout = nn.Dropout(0.1)
        self.classifier = nn.Conv2d(embedding_dim, out_channels, kernel_size=1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        c1, c2, c3, c4 = features
        size = c1.shape[2:]

        def up(t: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=size, mode="bilinear", align_corners=False)

        x = torch.cat(
            [up(self.linear_c4(c4)), up(self.linear_c3(c3)), up(self.linear_c2(c2)), self.linear_c1(c1)], dim=1
        )
        x = self.dropout(self.relu(self.bn(self.linear_fuse(x))))
        return self.classifier(x)


class GroupNorm(nn.GroupNorm):
    """nn.GroupNorm whose ONNX form is a two-pass mean/variance decomposition.

    The exporter's default lowering (InstanceNormalization), and a flat ReduceMean over a whole group,
    lose ~2e-4 on ORT CPU at 512x512 (long fp32 accumulations), which the refiner's x10 output turns
    into visible error. Means are taken axis by axis (W, then H, then channels), so no single
    accumulation runs over more than one image row. Eager mode is unchanged.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.onnx.is_in_onnx_export():
            return super().forward(x)
        b, c, h, w = x.shape
        g = x.reshape(b, self.num_groups, c // self.num_groups, h, w)

        def mean(t: torch.Tensor) -> torch.Tensor:
            return t.mean(dim=4, keepdim=True).mean(dim=3, keepdim=True).mean(dim=2, keepdim=True)

        centred = g - mean(g)
        var = mean(centred * centred)
        y = (centred * torch.rsqrt(var + self.eps)).reshape(b, c, h, w)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class FusedDecoderHead(nn.Module):
    """A DecoderHead with `linear_fuse` folded into the per-branch projections (export form).

    fuse(cat[up(P4 c4), up(P3 c3), up(P2 c2), P1 c1]) = sum_i up((W_i P_i) c_i + W_i b_i), because a
    1x1 conv is linear across channels, bilinear resizing is linear per channel and its weights sum
    to 1. Same math without the 4*D-channel concat at S/4 (1 GiB fp32 at S=2048) and with 256-channel
    projections done before upsampling.
    """

    def __init__(self, head: DecoderHead):
        super().__init__()
        dim = head.linear_fuse.out_channels
        w = head.linear_fuse.weight.detach()[:, :, 0, 0].double()
        blocks = dict(zip(("c4", "c3", "c2", "c1"), w.split(dim, dim=1)))
        for name, wi in blocks.items():
            proj = getattr(head, f"linear_{name}").proj
            weight = (wi @ proj.weight.detach().double()).float()
            bias = (wi @ proj.bias.detach().double()).float()
            self.register_buffer(f"w_{name}", weight[:, :, None, None].contiguous())
            self.register_buffer(f"b_{name}", bias.contiguous())
        self.bn = head.bn
        self.classifier = head.classifier

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        c1, c2, c3, c4 = features
        size = c1.shape[2:]
        x = F.conv2d(c1, self.w_c1, self.b_c1)
        for c, w, b in ((c2, self.w_c2, self.b_c2), (c3, self.w_c3, self.b_c3), (c4, self.w_c4, self.b_c4)):
            x = x + F.interpolate(F.conv2d(c, w, b), size=size, mode="bilinear", align_corners=False)
        return self.classifier(F.relu(self.bn(x)))


class RefinerBlock(nn.Module):
    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.gn1 = GroupNorm(8, channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.gn2 = GroupNorm(8, channels)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu(self.gn1(self.conv1(x)))
        y = self.gn2(self.conv2(y))
        return self.relu(x + y)


class CNNRefinerModule(nn.Module):
    """7-ch (ImageNet RGB + coarse probabilities) -> 4 delta logits, already x10."""

    def __init__(self, channels: int = 64):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(7, channels, 3, padding=1), GroupNorm(8, channels), nn.ReLU())
        self.res1 = RefinerBlock(channels, 1)
        self.res2 = RefinerBlock(channels, 2)
        self.res3 = RefinerBlock(channels, 4)
        self.res4 = RefinerBlock(channels, 8)
        self.final = nn.Conv2d(channels, 4, 1)
        nn.init.normal_(self.final.weight, 0.0, 1e-3)
        nn.init.zeros_(self.final.bias)

    def forward_packed(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.res4(self.res3(self.res2(self.res1(x))))
        return self.final(x) * REFINER_SCALE

    def forward(self, rgb: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return self.forward_packed(torch.cat([rgb, coarse], dim=1))


class GreenFormer(nn.Module):
    def __init__(self, variant: str = "hiera_base_plus", img_size: int = 2048):
        super().__init__()
        check_size(img_size)
        if variant not in VARIANTS:
            raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
        v = VARIANTS[variant]
        self.variant = v
        self.img_size = img_size
        self.encoder = timm.create_model(
            v.timm_name,
            pretrained=False,
            features_only=True,
            img_size=img_size,
            embed_dim=v.embed_dim,
            num_heads=v.num_heads,
            stages=v.stages,
        )
        old = self.encoder.model.patch_embed.proj
        new = nn.Conv2d(4, old.out_channels, kernel_size=old.kernel_size, stride=old.stride,
                        padding=old.padding, bias=True)
        with torch.no_grad():
            new.weight.zero_()
            new.weight[:, :3] = old.weight
            new.bias.copy_(old.bias)
        self.encoder.model.patch_embed.proj = new
        channels = list(self.encoder.feature_info.channels())
        self.alpha_decoder = DecoderHead(channels, v.decoder_dim, 1)
        self.fg_decoder = DecoderHead(channels, v.decoder_dim, 3)
        self.refiner = CNNRefinerModule(v.refiner_channels)

    def coarse(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Backbone + decoders: logits at S/4 (the `coarse_<S>` graph)."""
        features = self.encoder(x)
        return self.alpha_decoder(features), self.fg_decoder(features)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Upstream's full forward (GREENFORMER.md §2.4)."""
        a_log, f_log = self.coarse(x)
        return compose(x, a_log, f_log, self.refiner.forward_packed)


def upsample_logits(logits: torch.Tensor, size: int) -> torch.Tensor:
    return F.interpolate(logits, size=(size, size), mode="bilinear", align_corners=False)


def refiner_input(x: torch.Tensor, a_log: torch.Tensor, f_log: torch.Tensor) -> torch.Tensor:
    s = x.shape[-1]
    return torch.cat([x[:, :3], torch.sigmoid(upsample_logits(a_log, s)), torch.sigmoid(upsample_logits(f_log, s))], 1)


def compose(x, a_log, f_log, refiner_fn) -> dict[str, torch.Tensor]:
    """Coarse logits -> refiner -> residual in logit space -> sigmoid, with intermediates."""
    s = x.shape[-1]
    a_up, f_up = upsample_logits(a_log, s), upsample_logits(f_log, s)
    rin = torch.cat([x[:, :3], torch.sigmoid(a_up), torch.sigmoid(f_up)], 1)
    delta = refiner_fn(rin)
    return {
        "alpha": torch.sigmoid(a_up + delta[:, 0:1]),
        "fg": torch.sigmoid(f_up + delta[:, 1:4]),
        "refiner_input": rin,
        "delta_logits": delta,
        "alpha_logits": a_log,
        "fg_logits": f_log,
    }


def seeded_model(variant: str, img_size: int, seed: int) -> GreenFormer:
    """Deterministic random weights; BN running stats randomised too so they are not a no-op."""
    torch.manual_seed(seed)
    model = GreenFormer(variant, img_size)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("pos_embed"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            elif name.endswith("patch_embed.proj.weight"):
                # The 4th channel is zero-initialised upstream; give it weight so the hint matters.
                p[:, 3:].copy_(torch.randn(p[:, 3:].shape, generator=g) * 0.05)
            elif "norm" in name or ".gn" in name or "stem.1" in name or ".bn." in name:
                p.add_(torch.randn(p.shape, generator=g) * 0.1)
            elif name.startswith("refiner.final"):
                # Upstream's N(0, 1e-3) init makes the refiner's contribution vanish; tests need it visible.
                p.copy_(torch.randn(p.shape, generator=g) * 0.01)
        for dec in (model.alpha_decoder, model.fg_decoder):
            dec.bn.running_mean.copy_(torch.randn(dec.bn.running_mean.shape, generator=g) * 0.1)
            dec.bn.running_var.copy_(torch.rand(dec.bn.running_var.shape, generator=g) * 0.5 + 0.75)
    return model.eval()
