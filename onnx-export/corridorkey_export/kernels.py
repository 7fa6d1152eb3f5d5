"""Weight-free ONNX graphs that keep the refine stage on the inference device.

The engine runs them on the same execution provider as the refiner, so on a GPU the coarse logits,
the refiner input, the tile batches, the deltas and their blend never leave the device (issue 5:
this host work cost ~350 ms per 4K frame at S=2048). They reproduce the engine's CPU refine path
(plugin/src/engine/stages/refine/cpu.rs) operation for operation; the plugin embeds the files this module
writes to plugin/kernels/ (`python -m corridorkey_export kernels`), and a test checks they are
current.

  refine_prep      image [1,4,S,S], alpha_logits [1,1,Q,Q], fg_logits [1,3,Q,Q]
                   -> up [1,4,S,S] (bilinear, half-pixel), up_alpha [1,1,S,S],
                      rin [1,7,S,S] (RGB + sigmoid(up)), acc [1,4,S,S] zeros
  tile_crop_b{B}   rin, boxes [B,4] int64 (y0, x0, y1, x1) -> tiles [B,7,T,T]
  tile_blend_b{B}  acc, delta [B,4,T,T], pads [B,8] int64, wy [B,T], wx [B,T], strength [1]
                   -> acc_out = acc + sum_b pad((delta_b * strength) * (wx_b x wy_b)), in tile order
  refine_final     up, acc, wsum [1,1,S,S] -> out [1,4,S,S] = sigmoid(up + acc / wsum)
  sigmoid          up -> out = sigmoid(up)          (refiner off)
  coarse_from_hint image [1,4,S,S] -> alpha_logits [1,1,Q,Q] = logit(clip(avgpool4(hint), 1e-4))
                   (benchmark only: a trained model's coarse alpha simulated by the hint channel)

Stages 1 and 4 on the device (resampling as two matrix products whose weights the engine takes from
the same resizer as its CPU path, so both paths use identical filter taps):

  prepare_{linear,srgb}  plate [H,W,4], hint [H,W], rh [W,S], rv [S,H]
                         -> image [1,4,S,S] (sRGB-encoded if linear, rolled off beyond 0..1
                            into the network's domain, ImageNet-normalised RGB; hint clamped to 0..1)
  finish[_mattes]        refined [1,4,S,S] (alpha, fg), rv [H,S], rh [S,W],
                         params [4] = (clip_black, clip_white, despill, premultiply)
                         [, garbage [H,W], core [H,W]]
                         -> rgba [H,W,4]: linear fg (straight, or x alpha), alpha
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 18
IR_VERSION = 8
MAX_BATCH = 8
F32, I64 = TensorProto.FLOAT, TensorProto.INT64


def _const(name: str, values, dtype=np.int64) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(values, dtype=dtype), name))


def _model(name: str, nodes, inputs, outputs) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="corridorkey_export")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def refine_prep() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Concat", ["alpha_logits", "fg_logits"], ["logits"], axis=1),
        helper.make_node("Shape", ["image"], ["size"]),
        # F.interpolate(bilinear, align_corners=False) upsampling: half-pixel centres, edges clamped.
        helper.make_node("Resize", ["logits", "", "", "size"], ["up"], mode="linear",
                         coordinate_transformation_mode="half_pixel"),
        _const("c0", [0]), _const("c1", [1]), _const("c3", [3]),
        helper.make_node("Slice", ["up", "c0", "c1", "c1"], ["up_alpha"]),
        helper.make_node("Sigmoid", ["up"], ["prob"]),
        helper.make_node("Slice", ["image", "c0", "c3", "c1"], ["rgb"]),
        helper.make_node("Concat", ["rgb", "prob"], ["rin"], axis=1),
        helper.make_node("Shape", ["up"], ["up_shape"]),
        helper.make_node("ConstantOfShape", ["up_shape"], ["acc"],
                         value=numpy_helper.from_array(np.zeros(1, np.float32))),
    ]
    return _model(
        "refine_prep",
        nodes,
        [helper.make_tensor_value_info("image", F32, [1, 4, "S", "S"]),
         helper.make_tensor_value_info("alpha_logits", F32, [1, 1, "Q", "Q"]),
         helper.make_tensor_value_info("fg_logits", F32, [1, 3, "Q", "Q"])],
        [helper.make_tensor_value_info("up", F32, [1, 4, "S", "S"]),
         helper.make_tensor_value_info("up_alpha", F32, [1, 1, "S", "S"]),
         helper.make_tensor_value_info("rin", F32, [1, 7, "S", "S"]),
         helper.make_tensor_value_info("acc", F32, [1, 4, "S", "S"])],
    )


def tile_crop(batch: int) -> onnx.ModelProto:
    nodes = [_const("c0", [0]), _const("c2", [2]), _const("c4", [4]), _const("hw", [2, 3])]
    crops = []
    for b in range(batch):
        nodes += [
            _const(f"i{b}", b),
            helper.make_node("Gather", ["boxes", f"i{b}"], [f"box{b}"], axis=0),
            helper.make_node("Slice", [f"box{b}", "c0", "c2"], [f"start{b}"]),
            helper.make_node("Slice", [f"box{b}", "c2", "c4"], [f"end{b}"]),
            helper.make_node("Slice", ["rin", f"start{b}", f"end{b}", "hw"], [f"crop{b}"]),
        ]
        crops.append(f"crop{b}")
    nodes.append(helper.make_node("Concat", crops, ["tiles"], axis=0))
    return _model(
        f"tile_crop_b{batch}",
        nodes,
        [helper.make_tensor_value_info("rin", F32, [1, 7, "S", "S"]),
         helper.make_tensor_value_info("boxes", I64, [batch, 4])],
        [helper.make_tensor_value_info("tiles", F32, [batch, 7, "T", "T"])],
    )


def tile_blend(batch: int) -> onnx.ModelProto:
    nodes = [_const("c0", [0]), _const("col", [1, 1, 1, -1]), _const("row", [1, 1, -1, 1])]
    acc = "acc"
    for b in range(batch):
        last = b == batch - 1
        nodes += [
            _const(f"s{b}", [b]), _const(f"e{b}", [b + 1]), _const(f"i{b}", b),
            helper.make_node("Slice", ["delta", f"s{b}", f"e{b}", "c0"], [f"d{b}"]),
            helper.make_node("Mul", [f"d{b}", "strength"], [f"ds{b}"]),
            helper.make_node("Slice", ["wx", f"s{b}", f"e{b}", "c0"], [f"wx{b}"]),
            helper.make_node("Slice", ["wy", f"s{b}", f"e{b}", "c0"], [f"wy{b}"]),
            helper.make_node("Reshape", [f"wx{b}", "col"], [f"wxc{b}"]),
            helper.make_node("Reshape", [f"wy{b}", "row"], [f"wyr{b}"]),
            # The CPU path computes wx[x] * wy[y]; same operands, same rounding.
            helper.make_node("Mul", [f"wxc{b}", f"wyr{b}"], [f"w{b}"]),
            helper.make_node("Mul", [f"ds{b}", f"w{b}"], [f"wd{b}"]),
            helper.make_node("Gather", ["pads", f"i{b}"], [f"p{b}"], axis=0),
            helper.make_node("Pad", [f"wd{b}", f"p{b}"], [f"canvas{b}"], mode="constant"),
            helper.make_node("Add", [acc, f"canvas{b}"], ["acc_out" if last else f"acc{b}"]),
        ]
        acc = f"acc{b}"
    return _model(
        f"tile_blend_b{batch}",
        nodes,
        [helper.make_tensor_value_info("acc", F32, [1, 4, "S", "S"]),
         helper.make_tensor_value_info("delta", F32, [batch, 4, "T", "T"]),
         helper.make_tensor_value_info("pads", I64, [batch, 8]),
         helper.make_tensor_value_info("wy", F32, [batch, "T"]),
         helper.make_tensor_value_info("wx", F32, [batch, "T"]),
         helper.make_tensor_value_info("strength", F32, [1])],
        [helper.make_tensor_value_info("acc_out", F32, [1, 4, "S", "S"])],
    )


def refine_final() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Div", ["acc", "wsum"], ["mean_delta"]),
        helper.make_node("Add", ["up", "mean_delta"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["out"]),
    ]
    return _model(
        "refine_final",
        nodes,
        [helper.make_tensor_value_info("up", F32, [1, 4, "S", "S"]),
         helper.make_tensor_value_info("acc", F32, [1, 4, "S", "S"]),
         helper.make_tensor_value_info("wsum", F32, [1, 1, "S", "S"])],
        [helper.make_tensor_value_info("out", F32, [1, 4, "S", "S"])],
    )


def sigmoid() -> onnx.ModelProto:
    return _model(
        "sigmoid",
        [helper.make_node("Sigmoid", ["up"], ["out"])],
        [helper.make_tensor_value_info("up", F32, [1, 4, "S", "S"])],
        [helper.make_tensor_value_info("out", F32, [1, 4, "S", "S"])],
    )


# The simulated coarse alpha stays this far from 0 and 1 (logits of about +-9.2).
SIM_EPS = 1e-4


def coarse_from_hint() -> onnx.ModelProto:
    nodes = [
        _const("c3", [3]), _const("c4", [4]), _const("c1", [1]),
        helper.make_node("Slice", ["image", "c3", "c4", "c1"], ["hint"]),
        helper.make_node("AveragePool", ["hint"], ["pooled"], kernel_shape=[4, 4], strides=[4, 4]),
        _f("lo", SIM_EPS), _f("hi", 1.0 - SIM_EPS), _f("one", 1.0),
        helper.make_node("Clip", ["pooled", "lo", "hi"], ["p"]),
        helper.make_node("Sub", ["one", "p"], ["q"]),
        helper.make_node("Div", ["p", "q"], ["odds"]),
        helper.make_node("Log", ["odds"], ["alpha_logits"]),
    ]
    return _model(
        "coarse_from_hint",
        nodes,
        [helper.make_tensor_value_info("image", F32, [1, 4, "S", "S"])],
        [helper.make_tensor_value_info("alpha_logits", F32, [1, 1, "Q", "Q"])],
    )


# ---- the built-in chroma key on the device (plugin/src/engine/hint.rs, bit for bit) ----

I32 = TensorProto.INT32
HSV_SHIFT = 12


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = np.maximum(x, 0.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def srgb8_bounds() -> np.ndarray:
    """[257]: -inf, then the linear value where each sRGB 8-bit code starts (colour.rs
    `srgb8_thresholds`, computed in f32 there: (k + 0.5) / 255 through srgb_to_linear), then +inf.
    A code is the number of thresholds at or below the value."""
    k = np.arange(255, dtype=np.float32)
    t = _srgb_to_linear(((k + np.float32(0.5)) / np.float32(255.0)).astype(np.float32).astype(np.float64))
    return np.concatenate([[-np.inf], t.astype(np.float32), [np.inf]]).astype(np.float32)


def hsv_div_tables() -> tuple[np.ndarray, np.ndarray]:
    """OpenCV's 8-bit RGB2HSV reciprocal tables (hint.rs `hsv_div_tables`): round-half-even of
    (255 << 12) / i and (180 << 12) / (6 i), index 0 -> 0."""
    i = np.arange(256, dtype=np.float64)
    with np.errstate(divide="ignore"):
        sdiv = np.where(i > 0, np.round((255 << HSV_SHIFT) / i), 0)
        hdiv = np.where(i > 0, np.round((180 << HSV_SHIFT) / (6.0 * i)), 0)
    return sdiv.astype(np.int32), hdiv.astype(np.int32)


def _i(name: str, values) -> onnx.NodeProto:
    return _const(name, values, np.int32)


def chroma_key(linear: bool) -> onnx.ModelProto:
    """plate [H,W,4], params [4] (hue_min, hue_max, sat_min, val_min), erode [1,1,KE,KE] (the
    ellipse, 1 inside), erode_pads [8], blur [1,1,1,KB] (Gaussian taps), blur_pads [8] -> hint [H,W].

    8-bit sRGB codes (a linear plate's codes from the threshold table, exactly), OpenCV's integer
    HSV with its reciprocal tables and arithmetic-shift rounding, the range test, erosion as a count
    of screen pixels under the ellipse (outside the image never erodes), then the separable Gaussian
    with BORDER_REFLECT_101 (ONNX Pad mode "reflect"), horizontal then vertical, clamped to 0..1.
    """
    sdiv, hdiv = hsv_div_tables()
    bias = 1 << 26  # keeps (h * hdiv + half) non-negative, so integer Div floors like `>>`
    nodes = [
        _const("c0", [0]), _const("c1", [1]), _const("c2", [2]), _const("c3", [3]), _const("c4", [4]),
        _f("zero", 0.0), _f("one", 1.0), _f("half", 0.5), _f("full", 255.0),
        helper.make_node("Slice", ["plate", "c0", "c3", "c2"], ["rgb"]),
    ]
    if linear:
        bounds = srgb8_bounds()
        nodes += [
            _f("bounds", bounds),
            # A first guess through the formula, then one comparison each way with the exact
            # thresholds (the guess is never off by more than one code).
            _f("knee", 0.0031308), _f("slope", 12.92), _f("inv_gamma", 1.0 / 2.4), _f("ka", 1.055), _f("kb", 0.055),
            helper.make_node("Clip", ["rgb", "zero", "one"], ["lin"]),
            helper.make_node("Mul", ["lin", "slope"], ["lo"]),
            helper.make_node("Pow", ["lin", "inv_gamma"], ["pw"]),
            helper.make_node("Mul", ["pw", "ka"], ["pwa"]),
            helper.make_node("Sub", ["pwa", "kb"], ["hi"]),
            helper.make_node("LessOrEqual", ["lin", "knee"], ["is_lo"]),
            helper.make_node("Where", ["is_lo", "lo", "hi"], ["enc"]),
            helper.make_node("Mul", ["enc", "full"], ["enc255"]),
            helper.make_node("Add", ["enc255", "half"], ["enc255h"]),
            helper.make_node("Floor", ["enc255h"], ["guess_f"]),
            _f("max_code", 255.0),
            helper.make_node("Clip", ["guess_f", "zero", "max_code"], ["guess_c"]),
            helper.make_node("Cast", ["guess_c"], ["guess"], to=I64),
            _const("one_i", 1),
            helper.make_node("Add", ["guess", "one_i"], ["guess1"]),
            helper.make_node("Gather", ["bounds", "guess"], ["t_lo"]),
            helper.make_node("Gather", ["bounds", "guess1"], ["t_hi"]),
            helper.make_node("Less", ["rgb", "t_lo"], ["below"]),
            helper.make_node("GreaterOrEqual", ["rgb", "t_hi"], ["above"]),
            helper.make_node("Cast", ["below"], ["below_i"], to=I64),
            helper.make_node("Cast", ["above"], ["above_i"], to=I64),
            helper.make_node("Sub", ["guess", "below_i"], ["g1"]),
            helper.make_node("Add", ["g1", "above_i"], ["code64"]),
            helper.make_node("Cast", ["code64"], ["code"], to=I32),
        ]
    else:
        # round(clamp(v, 0, 1) * 255), halves away from zero as Rust's f32::round (values are >= 0).
        nodes += [
            helper.make_node("Clip", ["rgb", "zero", "one"], ["v01"]),
            helper.make_node("Mul", ["v01", "full"], ["v255"]),
            helper.make_node("Add", ["v255", "half"], ["v255h"]),
            helper.make_node("Floor", ["v255h"], ["vf"]),
            helper.make_node("Cast", ["vf"], ["code"], to=I32),
        ]
    nodes += [
        _i("sdiv", sdiv), _i("hdiv", hdiv), _i("round_half", 1 << (HSV_SHIFT - 1)),
        _i("unit", 1 << HSV_SHIFT), _i("bias", bias), _i("bias_q", bias >> HSV_SHIFT), _i("two", 2), _i("four", 4),
        _i("h180", 180), _i("zero_i", 0),
        helper.make_node("Slice", ["code", "c0", "c1", "c2"], ["r3"]),
        helper.make_node("Slice", ["code", "c1", "c2", "c2"], ["g3"]),
        helper.make_node("Slice", ["code", "c2", "c3", "c2"], ["b3"]),
        helper.make_node("Squeeze", ["r3", "c2"], ["r"]),
        helper.make_node("Squeeze", ["g3", "c2"], ["g"]),
        helper.make_node("Squeeze", ["b3", "c2"], ["b"]),
        helper.make_node("Max", ["r", "g", "b"], ["v"]),
        helper.make_node("Min", ["r", "g", "b"], ["vmin"]),
        helper.make_node("Sub", ["v", "vmin"], ["diff"]),
        # s = (diff * sdiv[v] + 2048) >> 12 (non-negative: Div floors).
        helper.make_node("Gather", ["sdiv", "v"], ["sd"]),
        helper.make_node("Mul", ["diff", "sd"], ["s_raw"]),
        helper.make_node("Add", ["s_raw", "round_half"], ["s_r"]),
        helper.make_node("Div", ["s_r", "unit"], ["s"]),
        # h before scaling: g - b where v == r, else b - r + 2 diff where v == g, else r - g + 4 diff.
        helper.make_node("Sub", ["g", "b"], ["h_r"]),
        helper.make_node("Mul", ["diff", "two"], ["d2"]),
        helper.make_node("Sub", ["b", "r"], ["br"]),
        helper.make_node("Add", ["br", "d2"], ["h_g"]),
        helper.make_node("Mul", ["diff", "four"], ["d4"]),
        helper.make_node("Sub", ["r", "g"], ["rg"]),
        helper.make_node("Add", ["rg", "d4"], ["h_b"]),
        helper.make_node("Equal", ["v", "r"], ["v_is_r"]),
        helper.make_node("Equal", ["v", "g"], ["v_is_g"]),
        helper.make_node("Where", ["v_is_g", "h_g", "h_b"], ["h_gb"]),
        helper.make_node("Where", ["v_is_r", "h_r", "h_gb"], ["h_raw"]),
        # (h_raw * hdiv[diff] + 2048) >> 12 with the shift's floor for negatives.
        helper.make_node("Gather", ["hdiv", "diff"], ["hd"]),
        helper.make_node("Mul", ["h_raw", "hd"], ["h_m"]),
        helper.make_node("Add", ["h_m", "round_half"], ["h_mr"]),
        helper.make_node("Add", ["h_mr", "bias"], ["h_pos"]),
        helper.make_node("Div", ["h_pos", "unit"], ["h_q"]),
        helper.make_node("Sub", ["h_q", "bias_q"], ["h_s"]),
        helper.make_node("Less", ["h_s", "zero_i"], ["h_neg"]),
        helper.make_node("Add", ["h_s", "h180"], ["h_wrapped"]),
        helper.make_node("Where", ["h_neg", "h_wrapped", "h_s"], ["h"]),
        helper.make_node("Cast", ["h"], ["hf"], to=F32),
        helper.make_node("Cast", ["s"], ["sf"], to=F32),
        helper.make_node("Cast", ["v"], ["vf_"], to=F32),
        helper.make_node("Slice", ["params", "c0", "c1"], ["hue_min"]),
        helper.make_node("Slice", ["params", "c1", "c2"], ["hue_max"]),
        helper.make_node("Slice", ["params", "c2", "c3"], ["sat_min"]),
        helper.make_node("Slice", ["params", "c3", "c4"], ["val_min"]),
        helper.make_node("GreaterOrEqual", ["hf", "hue_min"], ["t1"]),
        helper.make_node("LessOrEqual", ["hf", "hue_max"], ["t2"]),
        helper.make_node("Greater", ["sf", "sat_min"], ["t3"]),
        helper.make_node("Greater", ["vf_", "val_min"], ["t4"]),
        helper.make_node("And", ["t1", "t2"], ["t12"]),
        helper.make_node("And", ["t3", "t4"], ["t34"]),
        helper.make_node("And", ["t12", "t34"], ["screen"]),
        helper.make_node("Cast", ["screen"], ["screen_f"], to=F32),
        helper.make_node("Sub", ["one", "screen_f"], ["fg"]),
        # Erosion: a foreground pixel stays when no screen pixel lies under the ellipse.
        _const("nchw", [0, 1]),
        helper.make_node("Unsqueeze", ["screen_f", "nchw"], ["screen4"]),
        helper.make_node("Pad", ["screen4", "erode_pads"], ["screen_p"], mode="constant"),
        helper.make_node("Conv", ["screen_p", "erode"], ["near_screen"]),
        helper.make_node("Less", ["near_screen", "half"], ["clear"]),
        helper.make_node("Cast", ["clear"], ["clear_f"], to=F32),
        helper.make_node("Unsqueeze", ["fg", "nchw"], ["fg4"]),
        helper.make_node("Mul", ["fg4", "clear_f"], ["eroded"]),
        # Gaussian, horizontal then vertical, on reflect-101 padding.
        helper.make_node("Pad", ["eroded", "blur_pads"], ["eroded_p"], mode="reflect"),
        helper.make_node("Conv", ["eroded_p", "blur"], ["blur_h"]),
        helper.make_node("Transpose", ["blur"], ["blur_v"], perm=[0, 1, 3, 2]),
        helper.make_node("Conv", ["blur_h", "blur_v"], ["blurred"]),
        helper.make_node("Clip", ["blurred", "zero", "one"], ["clamped"]),
        helper.make_node("Squeeze", ["clamped", "nchw"], ["hint"]),
    ]
    return _model(
        "chroma_key_linear" if linear else "chroma_key_srgb",
        nodes,
        [helper.make_tensor_value_info("plate", F32, ["H", "W", 4]),
         helper.make_tensor_value_info("params", F32, [4]),
         helper.make_tensor_value_info("erode", F32, [1, 1, "KE", "KE"]),
         helper.make_tensor_value_info("erode_pads", I64, [8]),
         helper.make_tensor_value_info("blur", F32, [1, 1, 1, "KB"]),
         helper.make_tensor_value_info("blur_pads", I64, [8])],
        [helper.make_tensor_value_info("hint", F32, ["H", "W"])],
    )


def plate_alpha() -> onnx.ModelProto:
    """plate [H,W,4] -> its alpha [H,W] (the "Source alpha" hint)."""
    nodes = [
        _const("c2", [2]), _const("c3", [3]), _const("c4", [4]),
        helper.make_node("Slice", ["plate", "c3", "c4", "c2"], ["a3"]),
        helper.make_node("Squeeze", ["a3", "c2"], ["hint"]),
    ]
    return _model(
        "plate_alpha",
        nodes,
        [helper.make_tensor_value_info("plate", F32, ["H", "W", 4])],
        [helper.make_tensor_value_info("hint", F32, ["H", "W"])],
    )


IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# The network's input domain (plugin/src/engine/stages/prepare/domain.rs): sRGB-encoded colour as is
# on [0, 1], rolled off with tanh towards 1 + HEADROOM and -HEADROOM beyond; the hint in [0, 1].
HEADROOM = 0.5


def domain_colour(x: np.ndarray) -> np.ndarray:
    """domain.rs clamp_colour, for tests."""
    x = np.asarray(x, np.float64)
    hi = 1.0 + HEADROOM * np.tanh((x - 1.0) / HEADROOM)
    lo = HEADROOM * np.tanh(x / HEADROOM)
    return np.where(x > 1.0, hi, np.where(x < 0.0, lo, x))


def _f(name: str, values) -> onnx.NodeProto:
    return _const(name, values, np.float32)


def prepare(linear: bool) -> onnx.ModelProto:
    nodes = [
        helper.make_node("Transpose", ["plate"], ["planes"], perm=[2, 0, 1]),
        _const("c0", [0]), _const("c3", [3]),
        helper.make_node("Slice", ["planes", "c0", "c3", "c0"], ["rgb"]),
        helper.make_node("Unsqueeze", ["hint", "c0"], ["hint_plane"]),
        helper.make_node("Concat", ["rgb", "hint_plane"], ["x"], axis=0),
        # Horizontal pass, then vertical, as the CPU resizer does.
        helper.make_node("MatMul", ["x", "rh"], ["xh"]),
        helper.make_node("MatMul", ["rv", "xh"], ["xs"]),
        helper.make_node("Slice", ["xs", "c0", "c3", "c0"], ["rgb_s"]),
        _const("c4", [4]),
        helper.make_node("Slice", ["xs", "c3", "c4", "c0"], ["hint_s"]),
    ]
    rgb = "rgb_s"
    if linear:
        # colour.rs linear_to_srgb: negatives clamp to 0; linear segment below 0.0031308.
        nodes += [
            _f("zero", 0.0), _f("knee", 0.0031308), _f("slope", 12.92), _f("inv_gamma", 1.0 / 2.4),
            _f("a", 1.055), _f("b", 0.055),
            helper.make_node("Max", ["rgb_s", "zero"], ["lin"]),
            helper.make_node("Mul", ["lin", "slope"], ["lo"]),
            helper.make_node("Pow", ["lin", "inv_gamma"], ["pw"]),
            helper.make_node("Mul", ["pw", "a"], ["pwa"]),
            helper.make_node("Sub", ["pwa", "b"], ["hi"]),
            helper.make_node("LessOrEqual", ["lin", "knee"], ["is_lo"]),
            helper.make_node("Where", ["is_lo", "lo", "hi"], ["enc"]),
        ]
        rgb = "enc"
    nodes += [
        # domain.rs: colour rolled off beyond 0..1 and the hint clamped, into the range the network
        # was trained for (and far inside what fp16 holds).
        _f("d_zero", 0.0), _f("d_one", 1.0), _f("headroom", HEADROOM),
        helper.make_node("Sub", [rgb, "d_one"], ["over"]),
        helper.make_node("Div", ["over", "headroom"], ["over_n"]),
        helper.make_node("Tanh", ["over_n"], ["over_t"]),
        helper.make_node("Mul", ["over_t", "headroom"], ["over_h"]),
        helper.make_node("Add", ["over_h", "d_one"], ["rolled_hi"]),
        helper.make_node("Div", [rgb, "headroom"], ["under_n"]),
        helper.make_node("Tanh", ["under_n"], ["under_t"]),
        helper.make_node("Mul", ["under_t", "headroom"], ["rolled_lo"]),
        helper.make_node("Greater", [rgb, "d_one"], ["is_over"]),
        helper.make_node("Less", [rgb, "d_zero"], ["is_under"]),
        helper.make_node("Where", ["is_under", "rolled_lo", rgb], ["rgb_l"]),
        helper.make_node("Where", ["is_over", "rolled_hi", "rgb_l"], ["rgb_d"]),
        helper.make_node("Clip", ["hint_s", "d_zero", "d_one"], ["hint_d"]),
        _f("mean", np.array(IMAGENET_MEAN, np.float32).reshape(3, 1, 1)),
        _f("std", np.array(IMAGENET_STD, np.float32).reshape(3, 1, 1)),
        helper.make_node("Sub", ["rgb_d", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["norm"]),
        helper.make_node("Concat", ["norm", "hint_d"], ["packed"], axis=0),
        helper.make_node("Unsqueeze", ["packed", "c0"], ["image"]),
    ]
    return _model(
        "prepare_linear" if linear else "prepare_srgb",
        nodes,
        [helper.make_tensor_value_info("plate", F32, ["H", "W", 4]),
         helper.make_tensor_value_info("hint", F32, ["H", "W"]),
         helper.make_tensor_value_info("rh", F32, ["W", "S"]),
         helper.make_tensor_value_info("rv", F32, ["S", "H"])],
        [helper.make_tensor_value_info("image", F32, [1, 4, "S", "S"])],
    )


def finish(mattes: bool) -> onnx.ModelProto:
    nodes = [
        _const("c0", [0]), _const("c1", [1]), _const("c2", [2]), _const("c3", [3]), _const("c4", [4]),
        _f("zero", 0.0), _f("one", 1.0), _f("half", 0.5),
        helper.make_node("Squeeze", ["refined", "c0"], ["x"]),
        helper.make_node("MatMul", ["x", "rh"], ["xh"]),
        helper.make_node("MatMul", ["rv", "xh"], ["xs"]),
        helper.make_node("Slice", ["xs", "c0", "c1", "c0"], ["a_raw"]),
        helper.make_node("Slice", ["xs", "c1", "c4", "c0"], ["fg"]),
        # params: clip_black, clip_white, despill, premultiply
        helper.make_node("Slice", ["params", "c0", "c1"], ["cb"]),
        helper.make_node("Slice", ["params", "c1", "c2"], ["cw"]),
        helper.make_node("Slice", ["params", "c2", "c3"], ["despill"]),
        helper.make_node("Slice", ["params", "c3", "c4"], ["premultiply"]),
        # finish.rs apply_mattes: clamp, clip range (when white > black), core, then garbage.
        helper.make_node("Clip", ["a_raw", "zero", "one"], ["a0"]),
        helper.make_node("Sub", ["a0", "cb"], ["a_off"]),
        helper.make_node("Sub", ["cw", "cb"], ["range"]),
        helper.make_node("Div", ["a_off", "range"], ["a_scaled"]),
        helper.make_node("Clip", ["a_scaled", "zero", "one"], ["a_clipped"]),
        helper.make_node("Greater", ["cw", "cb"], ["has_range"]),
        helper.make_node("Where", ["has_range", "a_clipped", "a0"], ["a1"]),
    ]
    alpha = "a1"
    if mattes:
        nodes += [
            helper.make_node("Clip", ["core", "zero", "one"], ["core_c"]),
            helper.make_node("Sub", ["one", alpha], ["inv_a"]),
            helper.make_node("Mul", ["inv_a", "core_c"], ["core_add"]),
            helper.make_node("Add", [alpha, "core_add"], ["a2"]),
            helper.make_node("Clip", ["garbage", "zero", "one"], ["garbage_c"]),
            helper.make_node("Sub", ["one", "garbage_c"], ["keep"]),
            helper.make_node("Mul", ["a2", "keep"], ["a3"]),
        ]
        alpha = "a3"
    nodes += [
        # colour.rs despill_average on straight sRGB fg, blended by strength in [0, 1].
        helper.make_node("Slice", ["fg", "c0", "c1", "c0"], ["r"]),
        helper.make_node("Slice", ["fg", "c1", "c2", "c0"], ["g"]),
        helper.make_node("Slice", ["fg", "c2", "c3", "c0"], ["b"]),
        helper.make_node("Add", ["r", "b"], ["rb"]),
        helper.make_node("Mul", ["rb", "half"], ["limit"]),
        helper.make_node("Sub", ["g", "limit"], ["excess"]),
        helper.make_node("Max", ["excess", "zero"], ["spill"]),
        helper.make_node("Mul", ["spill", "half"], ["half_spill"]),
        helper.make_node("Add", ["r", "half_spill"], ["dr"]),
        helper.make_node("Sub", ["g", "spill"], ["dg"]),
        helper.make_node("Add", ["b", "half_spill"], ["db"]),
        helper.make_node("Concat", ["dr", "dg", "db"], ["despilled"], axis=0),
        helper.make_node("Clip", ["despill", "zero", "one"], ["s"]),
        helper.make_node("Sub", ["one", "s"], ["inv_s"]),
        helper.make_node("Mul", ["fg", "inv_s"], ["keep_fg"]),
        helper.make_node("Mul", ["despilled", "s"], ["take_d"]),
        helper.make_node("Add", ["keep_fg", "take_d"], ["fg_d"]),
        # colour.rs srgb_to_linear: negatives clamp to 0, linear segment up to 0.04045.
        _f("knee", 0.04045), _f("slope", 12.92), _f("gamma", 2.4), _f("a", 0.055), _f("k", 1.055),
        helper.make_node("Max", ["fg_d", "zero"], ["enc"]),
        helper.make_node("Div", ["enc", "slope"], ["lo"]),
        helper.make_node("Add", ["enc", "a"], ["ea"]),
        helper.make_node("Div", ["ea", "k"], ["eak"]),
        helper.make_node("Pow", ["eak", "gamma"], ["hi"]),
        helper.make_node("LessOrEqual", ["enc", "knee"], ["is_lo"]),
        helper.make_node("Where", ["is_lo", "lo", "hi"], ["fg_lin"]),
        # premultiply = 1: fg x alpha; 0: straight.
        helper.make_node("Mul", ["fg_lin", alpha], ["fg_pre"]),
        helper.make_node("Greater", ["premultiply", "half"], ["do_pre"]),
        helper.make_node("Where", ["do_pre", "fg_pre", "fg_lin"], ["fg_out"]),
        helper.make_node("Concat", ["fg_out", alpha], ["planes"], axis=0),
        helper.make_node("Transpose", ["planes"], ["rgba"], perm=[1, 2, 0]),
    ]
    inputs = [helper.make_tensor_value_info("refined", F32, [1, 4, "S", "S"]),
              helper.make_tensor_value_info("rv", F32, ["H", "S"]),
              helper.make_tensor_value_info("rh", F32, ["S", "W"]),
              helper.make_tensor_value_info("params", F32, [4])]
    if mattes:
        inputs += [helper.make_tensor_value_info("garbage", F32, ["H", "W"]),
                   helper.make_tensor_value_info("core", F32, ["H", "W"])]
    return _model("finish_mattes" if mattes else "finish", nodes, inputs,
                  [helper.make_tensor_value_info("rgba", F32, ["H", "W", 4])])


# ---- kernels that run back to back, joined into one graph (one session, one CUDA provider
# instance: each costs 70-150 MB of device memory, BENCHMARKS.md) ----

def _compose(name: str, parts: list[onnx.ModelProto], links: dict[str, str] | None = None,
             outputs: list[str] | None = None) -> onnx.ModelProto:
    """One graph running `parts` in order. A later part's input named like an earlier part's output
    (or renamed to one by `links`: input -> output) reads it; inputs of the same name are one input;
    every other name gets its part's prefix. The graph's outputs are `outputs` (default: the last
    part's)."""
    links = links or {}
    produced: dict[str, object] = {}
    inputs: dict[str, onnx.ValueInfoProto] = {}
    nodes = []
    for i, part in enumerate(parts):
        g = part.graph
        keep = {v.name for v in g.input} | {v.name for v in g.output}
        rename = {}
        for node in g.node:
            for out in node.output:
                if out and out not in keep:
                    rename[out] = f"p{i}_{out}"
        for v in g.input:
            src = links.get(v.name, v.name)
            if src in produced:
                rename[v.name] = src
            elif v.name not in inputs:
                inputs[v.name] = v
        for node in g.node:
            n = onnx.NodeProto()
            n.CopyFrom(node)
            n.input[:] = [rename.get(x, x) for x in node.input]
            n.output[:] = [rename.get(x, x) for x in node.output]
            nodes.append(n)
        for v in g.output:
            produced[v.name] = v
    outs = outputs or [v.name for v in parts[-1].graph.output]
    return _model(name, nodes, list(inputs.values()), [produced[o] for o in outs])


def prepare_keyed(linear: bool) -> onnx.ModelProto:
    """chroma_key then prepare: plate, key params, erode, erode_pads, blur, blur_pads, rh, rv ->
    image (the built-in key's hint stays inside the graph)."""
    return _compose("prepare_keyed_linear" if linear else "prepare_keyed_srgb",
                    [chroma_key(linear), prepare(linear)])


def tile_step(batch: int) -> onnx.ModelProto:
    """tile_blend of one batch's deltas and tile_crop of the next batch in one run: acc, delta,
    pads, wy, wx, strength, rin, boxes -> acc_out, tiles. The first run blends zeros (weights 0),
    the last crops a batch nobody reads."""
    return _compose(f"tile_step_b{batch}", [tile_blend(batch), tile_crop(batch)],
                    outputs=["acc_out", "tiles"])


def finish_refined(mattes: bool) -> onnx.ModelProto:
    """refine_final then finish: up, acc, wsum, rv, rh, params[, garbage, core] -> rgba."""
    return _compose("finish_refined_mattes" if mattes else "finish_refined",
                    [refine_final(), finish(mattes)], links={"refined": "out"})


def all_kernels() -> dict[str, onnx.ModelProto]:
    out = {"refine_prep": refine_prep(), "refine_final": refine_final(), "sigmoid": sigmoid(),
           "coarse_from_hint": coarse_from_hint(),
           "chroma_key_linear": chroma_key(True), "chroma_key_srgb": chroma_key(False),
           "plate_alpha": plate_alpha(),
           "prepare_keyed_linear": prepare_keyed(True), "prepare_keyed_srgb": prepare_keyed(False),
           "finish_refined": finish_refined(False), "finish_refined_mattes": finish_refined(True),
           "prepare_linear": prepare(True), "prepare_srgb": prepare(False),
           "finish": finish(False), "finish_mattes": finish(True)}
    for b in range(1, MAX_BATCH + 1):
        out[f"tile_crop_b{b}"] = tile_crop(b)
        out[f"tile_blend_b{b}"] = tile_blend(b)
        out[f"tile_step_b{b}"] = tile_step(b)
    return out


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in all_kernels().items():
        path = out_dir / f"{name}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        written.append(path)
    return written
