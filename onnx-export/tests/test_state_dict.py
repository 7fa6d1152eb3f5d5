"""The rebuilt GreenFormer has the checkpoint's 367 keys with Appendix A's shapes."""

from importlib import resources

import pytest
import torch
from timm.models.hiera import MaskUnitAttention

from corridorkey_export.attention import folded_attention
from corridorkey_export.model import GreenFormer, seeded_model


def appendix_a():
    text = resources.files("corridorkey_export").joinpath("data/greenformer_2048_state_dict.tsv").read_text()
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return [(k, tuple(int(x) for x in s.split(",") if x), d) for k, s, d in rows]


def test_table_is_complete():
    rows = appendix_a()
    assert len(rows) == 367
    assert sum(torch.Size(s).numel() for _, s, _ in rows) == 99_702_714


def test_state_dict_matches_appendix_a_key_for_key():
    sd = GreenFormer("hiera_base_plus", 2048).state_dict()
    rows = appendix_a()
    assert list(sd) == [k for k, _, _ in rows]
    for key, shape, dtype in rows:
        assert tuple(sd[key].shape) == shape, key
        assert str(sd[key].dtype) == f"torch.{dtype}", key
    params = sum(v.numel() for k, v in sd.items() if "running" not in k and "num_batches" not in k)
    assert params == 99_701_688


@pytest.mark.parametrize("size,expect", [(1024, 77_681_592), (512, 72_176_568)])
def test_param_count_other_sizes(size, expect):
    model = GreenFormer("hiera_base_plus", size)
    assert sum(p.numel() for p in model.parameters()) == expect


def test_block_layout_matches_greenformer_md():
    blocks = GreenFormer("hiera_base_plus", 512).encoder.model.blocks
    mask_unit = [b.attn.use_mask_unit_attn for b in blocks]
    assert mask_unit == [True] * 6 + [False] * 18
    assert [i for i, b in enumerate(blocks) if b.attn.q_stride > 1] == [2, 5, 21]
    assert [b.attn.heads for b in blocks] == [2] * 2 + [4] * 3 + [8] * 16 + [16] * 3


def test_bad_size_rejected():
    with pytest.raises(ValueError, match="multiple of 32"):
        GreenFormer("small", 100)


@pytest.mark.parametrize("variant,size", [("hiera_base_plus", 256), ("small", 128)])
def test_folded_attention_equals_timm(variant, size):
    model = seeded_model(variant, size, seed=5)
    assert sum(isinstance(m, MaskUnitAttention) for m in model.modules()) == len(model.encoder.model.blocks)
    x = torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model.encoder(x)
        with folded_attention(model):
            got = model.encoder(x)
        again = model.encoder(x)
    for r, g, a in zip(ref, got, again):
        assert torch.allclose(r, g, atol=2e-5, rtol=1e-5), (r - g).abs().max()
        assert torch.equal(r, a)  # the patch is undone


@pytest.mark.parametrize("variant,size", [("hiera_base_plus", 256), ("small", 128)])
def test_fused_decoder_equals_decoder(variant, size):
    from corridorkey_export.model import FusedDecoderHead

    model = seeded_model(variant, size, seed=6)
    x = torch.randn(1, 4, size, size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feats = model.encoder(x)
        for head in (model.alpha_decoder, model.fg_decoder):
            ref, got = head(feats), FusedDecoderHead(head)(feats)
            assert torch.allclose(ref, got, atol=1e-5 * max(1.0, ref.abs().max().item())), (ref - got).abs().max()
