"""Graph structure: I/O contract, fused attention, no N x N tensors, IR version."""

import onnx
import pytest

from corridorkey_export.export import export_coarse_proto, export_refiner_proto, to_fp16
from corridorkey_export.graph_check import attention_report, global_tokens
from corridorkey_export.model import seeded_model


def _io(values):
    return [(v.name, v.type.tensor_type.elem_type,
             [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in values]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_small_graph_contract(small_export, precision):
    _, folder = small_export
    coarse = onnx.load(str(folder / f"coarse_128.{precision}.onnx"))
    refiner = onnx.load(str(folder / f"refiner.{precision}.onnx"))
    f32 = onnx.TensorProto.FLOAT
    assert _io(coarse.graph.input) == [("image", f32, [1, 4, 128, 128])]
    assert _io(coarse.graph.output) == [("alpha_logits", f32, [1, 1, 32, 32]), ("fg_logits", f32, [1, 3, 32, 32])]
    assert _io(refiner.graph.input) == [("refiner_input", f32, ["B", 7, "T", "T"])]
    assert _io(refiner.graph.output) == [("delta_logits", f32, ["B", 4, "T", "T"])]
    for proto in (coarse, refiner):
        assert proto.ir_version <= 10
        assert {o.domain or "": o.version for o in proto.opset_import}[""] >= 18
        onnx.checker.check_model(proto)
    if precision == "fp16":
        weights = [t for t in coarse.graph.initializer if len(t.dims) >= 2]
        assert weights and all(t.data_type == onnx.TensorProto.FLOAT16 for t in weights)


def test_real_graph_uses_mha_and_no_nxn():
    # S=384: N=576 global tokens collides with no channel or token count of the architecture,
    # so any tensor with an (N|N/4) x N pair of axes would be an attention score matrix.
    size = 384
    model = seeded_model("hiera_base_plus", size, seed=0)
    fp32 = export_coarse_proto(model)
    for proto in (fp32, to_fp16(fp32)):
        rep = attention_report(proto, global_tokens(size))
        assert rep.mha_nodes == 24, rep.op_counts  # every Hiera block, windowed and global
        assert rep.op_counts.get("Softmax", 0) == 0
        assert rep.unknown_shapes == 0
        assert rep.score_like == [], rep.score_like[:5]
        assert rep.checked > 500
    refiner = export_refiner_proto(model)
    assert attention_report(refiner, global_tokens(size)).op_counts.get("MultiHeadAttention", 0) == 0


def test_nxn_detector_flags_a_score_matrix():
    from onnx import helper

    n = global_tokens(512)
    q = helper.make_tensor_value_info("q", onnx.TensorProto.FLOAT, [1, 8, n, 56])
    k = helper.make_tensor_value_info("kt", onnx.TensorProto.FLOAT, [1, 8, 56, n])
    out = helper.make_tensor_value_info("s", onnx.TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("MatMul", ["q", "kt"], ["s"])], "g", [q, k], [out])
    rep = attention_report(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), n)
    assert rep.score_like == [("s", [1, 8, n, n])]


def test_gpu_refiner_fuses_every_groupnorm_and_matches_the_refiner_io(small_export):
    """The GPU refiner: all nine GroupNorms as ORT's fused CUDA op on NHWC data, fp16 weights with
    fp32 gamma/beta, nothing else of the refiner changed (its numerics are checked on a GPU)."""
    import onnx

    from corridorkey_export.gpu_refiner import CONTRIB, groupnorm_nodes

    _, folder = small_export
    gpu = onnx.load(str(folder / "refiner_gpu.fp16.onnx"))
    ref = onnx.load(str(folder / "refiner.fp16.onnx"))
    assert groupnorm_nodes(gpu) == 9
    for node in gpu.graph.node:
        if node.op_type == "GroupNorm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert node.domain == CONTRIB and attrs["channels_last"] == 1 and attrs["groups"] == 8
            assert attrs["activation"] == 0
    convs = lambda m: [n for n in m.graph.node if n.op_type == "Conv"]
    assert len(convs(gpu)) == len(convs(ref)) == 10
    assert not any(n.op_type == "ReduceMean" for n in gpu.graph.node)
    io = lambda m: [(v.name, v.type.tensor_type.elem_type) for v in list(m.graph.input) + list(m.graph.output)]
    assert io(gpu) == io(ref)
