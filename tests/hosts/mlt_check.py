#!/usr/bin/env python3
"""The plate and the checks of tests/hosts/mlt.sh, with the standard library only (no numpy).

  mlt_check.py plate OUT.png W H        an 8-bit sRGB RGBA plate: a warm disc with a soft edge on an
                                        uneven green screen, and OUT.png.alpha (the true matte, raw)
  mlt_check.py check PLATE.png KEY.png [KEY.png ...] LOG
                                        each keyed frame: screen alpha low, subject alpha high,
                                        subject colour equal to the plate's (straight alpha, sRGB),
                                        soft edges not darkened twice; the log free of per-frame
                                        clip notes
"""
import math
import struct
import sys
import zlib

# The subject's colour: skin-like, green below the red/blue mean, so despill leaves it alone.
SUBJECT = (205, 140, 110)


def write_png(path, w, h, rgba):
    raw = b"".join(b"\x00" + bytes(rgba[y * w * 4:(y + 1) * w * 4]) for y in range(h))

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(raw, 6)))
        f.write(chunk(b"IEND", b""))


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def unfilter(raw, w, h, bpp):
    stride = w * bpp
    out = bytearray(h * stride)
    prev = bytearray(stride)
    pos = 0
    for y in range(h):
        kind = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
            line[x] = (line[x] + pred) & 0xFF
        out[y * stride:(y + 1) * stride] = line
        prev = line
    return out


def read_png(path):
    """8-bit RGB or RGBA PNG -> (w, h, RGBA bytes)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise SystemExit(f"{path}: not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit(f"{path}: want 8-bit RGB(A), got depth {depth} type {ctype}")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    bpp = 4 if ctype == 6 else 3
    px = unfilter(zlib.decompress(idat), w, h, bpp)
    if bpp == 3:
        px = bytearray(b"".join(px[i:i + 3] + b"\xff" for i in range(0, len(px), 3)))
    return w, h, px


def make_plate(path, w, h):
    cx, cy, r = w / 2, h / 2, h / 3
    rgba, alpha = bytearray(), bytearray()
    for y in range(h):
        for x in range(w):
            d = math.hypot(x - cx, y - cy)
            a = min(1.0, max(0.0, (r - d) / 3.0 + 0.5))  # a 3-pixel soft edge
            light = 0.9 + 0.1 * x / w
            screen = (round(40 * light), round(175 * light), round(60 * light))
            rgb = [round(s * a + g * (1 - a)) for s, g in zip(SUBJECT, screen)]
            rgba += bytes(rgb + [255])
            alpha.append(round(a * 255))
    write_png(path, w, h, rgba)
    with open(path + ".alpha", "wb") as f:
        f.write(struct.pack(">II", w, h) + alpha)


def check_frame(plate, key, truth):
    w, h, src = plate
    kw, kh, out = key
    if (kw, kh) != (w, h):
        return {}, [f"size {kw}x{kh}, the plate is {w}x{h}"]
    screen, subject, colour, edge_ratio = [], [], [], []
    for i in range(w * h):
        t = truth[i] / 255
        a = out[i * 4 + 3] / 255
        if t == 0:
            screen.append(a)
        elif t == 1 and truth_interior(truth, w, h, i):
            subject.append(a)
            colour.append(sum(abs(out[i * 4 + c] - src[i * 4 + c]) for c in range(3)) / 3)
        elif 0.3 < t < 0.7 and a > 0.2:
            # Straight alpha: an edge pixel's red (the subject's brightest channel, the screen's
            # darkest) stays near the subject's; premultiplied would scale it by alpha.
            edge_ratio.append(out[i * 4] / SUBJECT[0])
    mean = lambda v: sum(v) / max(1, len(v))
    facts = {
        "screen alpha (mean)": mean(screen),
        "subject alpha (mean)": mean(subject),
        "subject colour error (mean, 8-bit steps)": mean(colour),
        "edge red / subject red (mean)": mean(edge_ratio),
    }
    problems = []
    if facts["screen alpha (mean)"] > 0.05:
        problems.append("the screen is not keyed out")
    if facts["subject alpha (mean)"] < 0.9:
        problems.append("the subject is not opaque")
    if facts["subject colour error (mean, 8-bit steps)"] > 3.0:
        problems.append("the subject's colour changed (linear output to an sRGB host?)")
    if edge_ratio and facts["edge red / subject red (mean)"] < 0.75:
        problems.append("soft edges are dark (premultiplied alpha to a straight-alpha host?)")
    return facts, problems


def truth_interior(truth, w, h, i):
    """A pixel of the solid subject at least 4 pixels from its edge."""
    x, y = i % w, i // w
    for dy in (-4, 0, 4):
        for dx in (-4, 0, 4):
            xx, yy = x + dx, y + dy
            if not (0 <= xx < w and 0 <= yy < h) or truth[yy * w + xx] != 255:
                return False
    return True


def check(plate_path, keys, log_path):
    plate = read_png(plate_path)
    raw = open(plate_path + ".alpha", "rb").read()
    truth = raw[8:]
    failed = False
    for k in keys:
        facts, problems = check_frame(plate, read_png(k), truth)
        print(f"mlt-check: {k}: " + ", ".join(f"{n} {v:.3f}" for n, v in facts.items()))
        for p in problems:
            print(f"mlt-check: FAIL {k}: {p}")
            failed = True
    log = open(log_path, errors="replace").read().splitlines()
    absent = [l for l in log if "treated as absent" in l]
    # "frame N keyed at S=.. (.. screen) in .. ms": one line per keyed frame.
    keyed = [l for l in log if "] frame " in l and " keyed " in l]
    print(f"mlt-check: log: {len(keyed)} keyed frames, {len(absent)} absent-clip notes")
    if len(keyed) != len(keys):
        print(f"mlt-check: FAIL: {len(keyed)} renders for {len(keys)} frames (CORRIDORKEY_LOG=1? "
              "melt's real_time=0?)")
        failed = True
    if len(absent) > 3:
        print("mlt-check: FAIL: absent clips are noted more than once per clip:")
        print("\n".join(absent[:6]))
        failed = True
    return 1 if failed else 0


def main(argv):
    if len(argv) == 5 and argv[1] == "plate":
        make_plate(argv[2], int(argv[3]), int(argv[4]))
        return 0
    if len(argv) >= 5 and argv[1] == "check":
        return check(argv[2], argv[3:-1], argv[-1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
