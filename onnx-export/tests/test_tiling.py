import torch

from corridorkey_export.model import CNNRefinerModule
from corridorkey_export.tiling import ramp, tile_starts, tiled_refiner


def test_tile_starts_cover_the_frame():
    assert tile_starts(1024, 512, 128) == [0, 384, 512]
    assert tile_starts(2048, 512, 128) == [0, 384, 768, 1152, 1536]
    assert tile_starts(256, 512, 128) == [0]


def test_single_tile_is_the_full_frame():
    refiner = CNNRefinerModule(16).eval()
    rin = torch.randn(1, 7, 64, 64)
    with torch.no_grad():
        assert torch.allclose(tiled_refiner(refiner.forward_packed, rin, 64, 16), refiner.forward_packed(rin))


def test_blend_of_a_constant_is_exact():
    rin = torch.randn(1, 7, 200, 200)
    out = tiled_refiner(lambda t: torch.ones(t.shape[0], 4, *t.shape[2:]), rin, 64, 16)
    assert torch.allclose(out, torch.ones_like(out))
    w = ramp(64, 10, 200, 16)
    assert w[0] < w[15] < w[16] == 1.0 and w[-1] < 1.0
