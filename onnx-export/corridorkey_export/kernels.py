"""Weight-free ONNX graphs that keep the refine stage on the inference device.

The engine runs them on the same execution provider as the refiner, so on a GPU the coarse logits,
the refiner input, the tile batches, the deltas and their blend never leave the device (issue 5:
this host work cost ~350 ms per 4K frame at S=2048). They reproduce the engine's CPU refine path
(plugin/src/engine/refine.rs) operation for operation; the plugin embeds the files this module
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


def all_kernels() -> dict[str, onnx.ModelProto]:
    out = {"refine_prep": refine_prep(), "refine_final": refine_final(), "sigmoid": sigmoid(),
           "prepare_linear": prepare(True), "prepare_srgb": prepare(False),
           "finish": finish(False), "finish_mattes": finish(True)}
    for b in range(1, MAX_BATCH + 1):
        out[f"tile_crop_b{b}"] = tile_crop(b)
        out[f"tile_blend_b{b}"] = tile_blend(b)
    return out


def write_all(out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in all_kernels().items():
        path = out_dir / f"{name}.onnx"
        path.write_bytes(model.SerializeToString(deterministic=True))
        written.append(path)
    return written
