"""The KL thresholds Int8InferenceTests.testKLThresholdMatchesReference expects, from an
independent NumPy implementation of TensorRT's entropy calibration (never run by CI; the figures
are in the test). Run: ~/torchenv/bin/python Fixtures/kl_reference.py

The values are the test's: 200000 normal values from Box-Muller on a 32-bit LCG (seed 12345),
histogrammed as Graft's RangeRecorder does (nonzero |x| in 2048 bins over [0, 2^e), the smallest
power of two above the largest |x|). For each candidate edge i (from `levels` bins up), P is the
bins below i with everything above folded into the last, Q those bins merged into `levels` groups
(group g covers [i*g//levels, i*(g+1)//levels)) spread over P's nonempty bins; the threshold is
the edge of least KL(P || Q), in |x| units.
"""
import math

import numpy as np


def normals(n, seed=12345):
    a, c, x, out = 1664525, 1013904223, seed, []
    while len(out) < n:
        x = (a * x + c) % 2**32
        u1 = (x + 0.5) / 2**32
        x = (a * x + c) % 2**32
        u2 = (x + 0.5) / 2**32
        r = math.sqrt(-2 * math.log(u1))
        out += [r * math.cos(2 * math.pi * u2), r * math.sin(2 * math.pi * u2)]
    return np.array(out[:n], dtype=np.float32)


def histogram(values):
    a = np.abs(values)
    a = a[a > 0]
    e = int(np.frexp(np.float32(a.max()))[1])  # a.max() < 2^e
    bins = np.minimum((a * np.float32(2048) * np.float32(2.0 ** -e)).astype(np.int64), 2047)
    return np.bincount(bins, minlength=2048), 2.0 ** e / 2048


def kl_threshold(h, width, levels):
    n = int(np.nonzero(h)[0].max()) + 1
    best = None
    for i in range(levels, n + 1):
        p = h[:i].astype(np.float64).copy()
        p[i - 1] += h[i:].sum()
        nonzero = p != 0
        q = np.zeros(i)
        for g in range(levels):
            lo, hi = i * g // levels, i * (g + 1) // levels
            if hi <= lo:
                continue
            count = nonzero[lo:hi].sum()
            if count:
                q[lo:hi] = h[lo:hi].sum() / count
        q[~nonzero] = 0
        if np.any((p > 0) & (q == 0)):
            continue
        P, Q = p / p.sum(), q / q.sum()
        m = P > 0
        kl = float(np.sum(P[m] * np.log(P[m] / Q[m])))
        if best is None or kl < best[0]:
            best = (kl, i)
    return best[1] * width


v = normals(200000)
for name, values, levels in (("normal, s8", v, 127),
                             ("ReLU of normal, u8", np.maximum(v, 0), 255),
                             ("normal and 20 outliers at 12, s8", np.concatenate([v, np.full(20, 12.0, dtype=np.float32)]), 127)):
    h, w = histogram(values)
    print(f"{name}: {kl_threshold(h, w, levels)} (bin width {w})")
