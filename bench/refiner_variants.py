"""GPU cost and fp16 error of the refiner graph's GroupNorm forms (issue 5).

Exports the seeded refiner with each GroupNorm lowering, converts to fp16, and on the CUDA EP times
it with IoBinding (device-resident input and output: the graph alone) and through host memory (what
the engine pays without IoBinding). Error is measured against PyTorch fp32 on the GPU (TF32 off)
on a refiner input made from a synthetic plate. PyTorch fp16 eager / compile give the reference.

  python bench/refiner_variants.py --out DIR [--variants axis,native,flat,none] [--reps 20]
Prints one JSON line per (variant, shape) and writes DIR/refiner_variants.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import torch
import torch.nn.functional as F

from corridorkey_export import export as ex
from corridorkey_export import model as m

SHAPES = [(4, 512), (1, 2048)]


def gn_forward(kind: str):
    base = m.GroupNorm.forward

    def flat(self, x):
        b, c, h, w = x.shape
        g = x.reshape(b, self.num_groups, -1)
        centred = g - g.mean(dim=2, keepdim=True)
        var = (centred * centred).mean(dim=2, keepdim=True)
        y = (centred * torch.rsqrt(var + self.eps)).reshape(b, c, h, w)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def instnorm(self, x):
        # Reshape + InstanceNormalization (unit scale, zero bias) + per-channel affine: the classic
        # GroupNorm lowering; cuDNN computes its statistics in fp32 even for fp16 tensors.
        b, c, h, w = x.shape
        g = x.reshape(b, self.num_groups, -1)
        ones = torch.ones(self.num_groups, dtype=x.dtype, device=x.device)
        zeros = torch.zeros(self.num_groups, dtype=x.dtype, device=x.device)
        y = F.instance_norm(g, weight=ones, bias=zeros, eps=self.eps).reshape(b, c, h, w)
        return y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    def native(self, x):
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def none(self, x):
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)

    return {"axis": base, "flat": flat, "instnorm": instnorm, "native": native, "none": none}[kind]


@contextlib.contextmanager
def gn_kind(kind: str):
    old = m.GroupNorm.forward
    m.GroupNorm.forward = gn_forward(kind)
    try:
        yield
    finally:
        m.GroupNorm.forward = old


def refiner_input(b: int, t: int, seed: int) -> np.ndarray:
    """ImageNet-normalised smooth RGB + smooth coarse probabilities with a soft edge."""
    g = torch.Generator().manual_seed(seed)
    low = torch.randn(b, 7, max(t // 64, 2), max(t // 64, 2), generator=g)
    x = F.interpolate(low, size=(t, t), mode="bicubic", align_corners=False)
    x[:, 3:] = torch.sigmoid(x[:, 3:] * 4)
    return x.numpy().astype(np.float32)


def time_it(fn, reps: int, sync=None) -> dict:
    for _ in range(3):
        fn()
    if sync:
        sync()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        ts.append((time.perf_counter() - t0) * 1e3)
    return {"median_ms": statistics.median(ts), "min_ms": min(ts)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", default="axis,native,flat,none")
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    import onnxruntime as ort

    a.out.mkdir(parents=True, exist_ok=True)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    full = m.seeded_model("hiera_base_plus", 256, a.seed)
    refiner = full.refiner.eval()
    del full
    results = []
    dev = torch.device("cuda")
    ref_gpu = refiner.to(dev)
    inputs = {shape: refiner_input(*shape, seed=7) for shape in SHAPES}
    with torch.no_grad():
        want = {s: ref_gpu.forward_packed(torch.from_numpy(x).to(dev)).cpu().numpy() for s, x in inputs.items()}
    for kind in a.variants.split(","):
        with gn_kind(kind):
            proto = ex.to_fp16(ex.export_refiner_proto(SimpleNamespace(refiner=refiner.cpu())))
        path = a.out / f"refiner_{kind}.fp16.onnx"
        onnx.save(proto, str(path))
        ops = {}
        for n in proto.graph.node:
            ops[n.op_type] = ops.get(n.op_type, 0) + 1
        so = ort.SessionOptions()
        sess = ort.InferenceSession(
            str(path), so,
            providers=[("CUDAExecutionProvider", {"arena_extend_strategy": "kSameAsRequested",
                                                  "cudnn_conv_algo_search": "HEURISTIC"})],
        )
        for shape, x in inputs.items():
            xv = ort.OrtValue.ortvalue_from_numpy(x, "cuda", 0)
            io = sess.io_binding()
            io.bind_ortvalue_input("refiner_input", xv)
            io.bind_output("delta_logits", "cuda", 0)
            dev_t = time_it(lambda: sess.run_with_iobinding(io), a.reps)
            host_t = time_it(lambda: sess.run(None, {"refiner_input": x}), a.reps)
            got = sess.run(None, {"refiner_input": x})[0]
            err = np.abs(got - want[shape])
            r = {"variant": kind, "batch": shape[0], "tile": shape[1], "graph_ms": dev_t, "host_io_ms": host_t,
                 "delta_max_err": float(err.max()), "delta_mean_err": float(err.mean()),
                 "delta_absmax": float(np.abs(want[shape]).max()), "ops": ops}
            print(json.dumps(r), flush=True)
            results.append(r)
        del sess
    # PyTorch fp16 reference for the refiner alone (device-resident input).
    half = refiner.to(dev).half()
    for mode in ("eager-fp16", "compile-fp16"):
        fn_model = torch.compile(half.forward_packed) if mode == "compile-fp16" else half.forward_packed
        for shape, x in inputs.items():
            xt = torch.from_numpy(x).to(dev).half()
            with torch.no_grad():
                t0 = time.perf_counter()
                fn_model(xt)
                torch.cuda.synchronize()
                first = (time.perf_counter() - t0) * 1e3
                t = time_it(lambda: fn_model(xt), a.reps, torch.cuda.synchronize)
                err = np.abs(fn_model(xt).float().cpu().numpy() - want[shape])
            r = {"variant": f"torch-{mode}", "batch": shape[0], "tile": shape[1], "graph_ms": t,
                 "first_ms": first, "delta_max_err": float(err.max()), "delta_mean_err": float(err.mean())}
            print(json.dumps(r), flush=True)
            results.append(r)
    (a.out / "refiner_variants.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
