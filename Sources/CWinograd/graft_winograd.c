// Graft's Winograd F(4x4, 3x3) transforms (see include/graft_winograd.h and
// Sources/Engine/Winograd.swift). Every expression is written in the order the former Swift
// SIMD8 code evaluated it, and floating-point contraction is off (Swift never fuses a * b + c
// into an FMA; clang would by default), so the results are the same bits.
#pragma STDC FP_CONTRACT OFF
#pragma clang fp contract(off)
// The vector helpers are always inlined: no vector crosses a call, whatever the target.
#pragma clang diagnostic ignored "-Wpsabi"

#include "graft_winograd.h"

#include <stdlib.h>

/// Eight floats, as Swift's SIMD8<Float>; `v8u` reads and writes them at any float alignment.
typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4), may_alias));
typedef int v8i __attribute__((vector_size(32)));

#define INLINE static inline __attribute__((always_inline))

INLINE v8 load(const float *p) { return *(const v8u *)p; }
INLINE void store(float *p, v8 v) { *(v8u *)p = v; }
INLINE v8 zero(void) { return (v8){0, 0, 0, 0, 0, 0, 0, 0}; }
INLINE v8 splat(float s) { return (v8){s, s, s, s, s, s, s, s}; }

/// G z for one line of three (`z` and `r` with element strides): six results.
INLINE void filter_rows(const v8 *z, long zs, v8 *r, long rs) {
    v8 z0 = z[0], z1 = z[zs], z2 = z[2 * zs];
    r[0] = z0 / 4.0f;
    // Swift's prefix minus on SIMD vectors is `0 - a` (+0 for +0, where negation gives -0).
    r[rs] = (0.0f - (z0 + z1 + z2)) / 6.0f;
    r[2 * rs] = (0.0f - (z0 - z1 + z2)) / 6.0f;
    r[3 * rs] = z0 / 24.0f + z1 / 12.0f + z2 / 6.0f;
    r[4 * rs] = z0 / 24.0f - z1 / 12.0f + z2 / 6.0f;
    r[5 * rs] = z2;
}

/// Bᵀ z for one line of six.
INLINE void input_rows(const v8 *z, long zs, v8 *r, long rs) {
    v8 z0 = z[0], z1 = z[zs], z2 = z[2 * zs], z3 = z[3 * zs], z4 = z[4 * zs], z5 = z[5 * zs];
    r[0] = 4.0f * z0 - 5.0f * z2 + z4;
    r[rs] = z3 + z4 - 4.0f * (z1 + z2);
    r[2 * rs] = 4.0f * (z1 - z2) + z4 - z3;
    r[3 * rs] = 2.0f * (z3 - z1) + z4 - z2;
    r[4 * rs] = 2.0f * (z1 - z3) + z4 - z2;
    r[5 * rs] = 4.0f * z1 - 5.0f * z3 + z5;
}

/// Aᵀ m for one line of six: four results.
INLINE void output_rows(const v8 *m, long ms, v8 *r, long rs) {
    v8 m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms];
    v8 a = m1 + m2, b = m1 - m2, c = m3 + m4, e = m3 - m4;
    r[0] = m0 + a + c;
    r[rs] = b + 2.0f * e;
    r[2 * rs] = a + 4.0f * c;
    r[3 * rs] = b + 8.0f * e + m5;
}

/// A y for one line of four: six results.
INLINE void gradient_rows(const v8 *y, long ys, v8 *r, long rs) {
    v8 y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
    v8 even = y0 + 4.0f * y2, odd = 2.0f * y1 + 8.0f * y3;
    r[0] = y0;
    r[rs] = y0 + y1 + y2 + y3;
    r[2 * rs] = y0 - y1 + y2 - y3;
    r[3 * rs] = even + odd;
    r[4 * rs] = even - odd;
    r[5 * rs] = y3;
}

/// Gᵀ u for one line of six: three results.
INLINE void filter_gradient_rows(const v8 *u, long us, v8 *r, long rs) {
    v8 u0 = u[0], u1 = u[us], u2 = u[2 * us], u3 = u[3 * us], u4 = u[4 * us], u5 = u[5 * us];
    r[0] = u0 / 4.0f - (u1 + u2) / 6.0f + (u3 + u4) / 24.0f;
    r[rs] = (u2 - u1) / 6.0f + (u3 - u4) / 12.0f;
    r[2 * rs] = (u3 + u4 - u1 - u2) / 6.0f + u5;
}

/// A tile's image and the top-left output row and column.
INLINE void tile_origin(const struct graft_winograd_geometry *g, long tile, long *img, long *y, long *x) {
    long per_image = g->tiles_y * g->tiles_x, r = tile % per_image;
    *img = tile / per_image;
    *y = (r / g->tiles_x) * 4;
    *x = (r % g->tiles_x) * 4;
}

INLINE void weights_body(const float *w, float *u, long out, long cin, int transposed, long row_begin, long row_end) {
    long row_count = transposed ? out : cin, col_count = transposed ? cin : out;
    long rows = (row_count + 7) / 8 * 8, cols = (col_count + 7) / 8 * 8, plane = rows * cols;
    (void)rows;
    v8 g[9], t[18], transformed[36];
    for (long row = row_begin; row < row_end; row++) {
        for (long cb = 0; cb < cols / 8; cb++) {
            for (int k = 0; k < 9; k++) g[k] = zero();
            long lanes = col_count - 8 * cb < 8 ? col_count - 8 * cb : 8;
            for (long lane = 0; lane < lanes; lane++) {
                long col = 8 * cb + lane;
                const float *f = transposed ? w + (row * cin + col) * 9 : w + (col * cin + row) * 9;
                for (int k = 0; k < 9; k++) g[k][lane] = f[transposed ? 8 - k : k];
            }
            for (int c = 0; c < 3; c++) filter_rows(g + c, 3, t + c, 3);
            for (int r = 0; r < 6; r++) filter_rows(t + 3 * r, 1, transformed + 6 * r, 1);
            float *at = u + row * cols + cb * 8;
            for (int p = 0; p < 36; p++) store(at + p * plane, transformed[p]);
        }
    }
}

INLINE void input_body(const float *x, float *v, long channels, const struct graft_winograd_geometry *g,
                       long tile_begin, long tile_end) {
    long blocks = channels / 8, tiles = g->batch * g->tiles_y * g->tiles_x, plane = g->in_height * g->in_width;
    long h = g->in_height, w = g->in_width;
    v8 d[36], t[36];
    for (long tile = tile_begin; tile < tile_end; tile++) {
        long img, out_y, out_x;
        tile_origin(g, tile, &img, &out_y, &out_x);
        long y0 = out_y - g->padding, x0 = out_x - g->padding;
        int inside = y0 >= 0 && x0 >= 0 && y0 + 6 <= h && x0 + 6 <= w;
        for (long cb = 0; cb < blocks; cb++) {
            const float *base = x + ((img * blocks + cb) * plane) * 8;
            if (inside) {
                for (int i = 0; i < 6; i++) {
                    const float *row = base + ((y0 + i) * w + x0) * 8;
                    for (int j = 0; j < 6; j++) d[6 * i + j] = load(row + j * 8);
                }
            } else {
                for (int i = 0; i < 6; i++) {
                    long y = y0 + i;
                    for (int j = 0; j < 6; j++) {
                        long xx = x0 + j;
                        d[6 * i + j] = y >= 0 && y < h && xx >= 0 && xx < w ? load(base + (y * w + xx) * 8) : zero();
                    }
                }
            }
            for (int i = 0; i < 6; i++) input_rows(d + 6 * i, 1, t + 6 * i, 1);
            float *out = v + tile * channels + cb * 8;
            long stride = tiles * channels;
            for (int j = 0; j < 6; j++) input_rows(t + j, 6, d + j, 6);
            for (int p = 0; p < 36; p++) store(out + p * stride, d[p]);
        }
    }
}

INLINE void output_body(const float *m, float *y, const float *bias, long out_channels, long channels, int sum, int relu,
                        const struct graft_winograd_geometry *g, long tile_begin, long tile_end) {
    long blocks = channels / 8, tiles = g->batch * g->tiles_y * g->tiles_x, plane = g->out_height * g->out_width;
    long h = g->out_height, w = g->out_width;
    v8 s[36], t[24], o[16];
    // The bias padded to whole blocks (zeros in the padding lanes, which stay zero).
    v8 bias_blocks[blocks];
    for (long cb = 0; cb < blocks; cb++) {
        bias_blocks[cb] = zero();
        for (int lane = 0; lane < 8; lane++) {
            if (bias && 8 * cb + lane < out_channels) bias_blocks[cb][lane] = bias[8 * cb + lane];
        }
    }
    for (long tile = tile_begin; tile < tile_end; tile++) {
        long img, y0, x0;
        tile_origin(g, tile, &img, &y0, &x0);
        long rows_here = h - y0 < 4 ? h - y0 : 4, cols_here = w - x0 < 4 ? w - x0 : 4;
        const float *src = m + tile * channels;
        long stride = tiles * channels;
        for (long cb = 0; cb < blocks; cb++) {
            for (int p = 0; p < 36; p++) s[p] = load(src + p * stride + cb * 8);
            for (int i = 0; i < 6; i++) output_rows(s + 6 * i, 1, t + 4 * i, 1);
            for (int j = 0; j < 4; j++) output_rows(t + j, 4, o + j, 4);
            v8 b = bias_blocks[cb];
            float *base = y + ((img * blocks + cb) * plane) * 8;
            for (long i = 0; i < rows_here; i++) {
                for (long j = 0; j < cols_here; j++) {
                    float *at = base + ((y0 + i) * w + x0 + j) * 8;
                    v8 value = o[4 * i + j] + b;
                    if (sum) value += load(at);
                    // ReLU as Swift's `replacing(with: 0, where: value .< 0)`: +0 where
                    // below zero (an ordered comparison: NaN and -0 stay).
                    if (relu) value = (v8)((v8i)value & ~(value < 0.0f));
                    store(at, value);
                }
            }
        }
    }
}

INLINE void output_gradient_body(const float *dy, float *dm, long channels, const struct graft_winograd_geometry *g,
                                 long tile_begin, long tile_end) {
    long blocks = channels / 8, tiles = g->batch * g->tiles_y * g->tiles_x, plane = g->out_height * g->out_width;
    long h = g->out_height, w = g->out_width;
    v8 yv[16], t[24], r[36];
    for (long tile = tile_begin; tile < tile_end; tile++) {
        long img, y0, x0;
        tile_origin(g, tile, &img, &y0, &x0);
        long rows_here = h - y0 < 4 ? h - y0 : 4, cols_here = w - x0 < 4 ? w - x0 : 4;
        float *out = dm + tile * channels;
        long stride = tiles * channels;
        for (long cb = 0; cb < blocks; cb++) {
            const float *base = dy + ((img * blocks + cb) * plane) * 8;
            if (rows_here == 4 && cols_here == 4) {
                for (long i = 0; i < 4; i++) {
                    const float *row = base + ((y0 + i) * w + x0) * 8;
                    for (long j = 0; j < 4; j++) yv[4 * i + j] = load(row + j * 8);
                }
            } else {
                for (long i = 0; i < 4; i++) {
                    for (long j = 0; j < 4; j++) {
                        yv[4 * i + j] = i < rows_here && j < cols_here ? load(base + ((y0 + i) * w + x0 + j) * 8) : zero();
                    }
                }
            }
            for (int i = 0; i < 4; i++) gradient_rows(yv + 4 * i, 1, t + 6 * i, 1);
            for (int j = 0; j < 6; j++) gradient_rows(t + j, 6, r + j, 6);
            for (int p = 0; p < 36; p++) store(out + p * stride + cb * 8, r[p]);
        }
    }
}

INLINE void inverse_filters_body(const float *du, float *grad, long cin, long cout, long in_padded, long out_padded,
                                 long c_begin, long c_end) {
    long plane = in_padded * out_padded;
    v8 u[36], t[18], f[9];
    float lanes_of[9][8];
    for (long c = c_begin; c < c_end; c++) {
        for (long kb = 0; kb < out_padded / 8; kb++) {
            const float *at = du + c * out_padded + kb * 8;
            for (int p = 0; p < 36; p++) u[p] = load(at + p * plane);
            for (int i = 0; i < 6; i++) filter_gradient_rows(u + 6 * i, 1, t + 3 * i, 1);
            for (int j = 0; j < 3; j++) filter_gradient_rows(t + j, 3, f + j, 3);
            for (int k = 0; k < 9; k++) store(lanes_of[k], f[k]);
            long lanes = cout - 8 * kb < 8 ? cout - 8 * kb : 8;
            for (long lane = 0; lane < lanes; lane++) {
                float *o = grad + ((8 * kb + lane) * cin + c) * 9;
                for (int k = 0; k < 9; k++) o[k] = lanes_of[k][lane];
            }
        }
    }
}

// Each entry point twice: for AVX2 (one register per vector) and for baseline x86-64 (two SSE
// registers), the same arithmetic; the first call picks by the CPU.
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static void weights_avx2(const float *w, float *u, long out, long cin, int transposed, long b, long e) {
    weights_body(w, u, out, cin, transposed, b, e);
}
static void weights_base(const float *w, float *u, long out, long cin, int transposed, long b, long e) {
    weights_body(w, u, out, cin, transposed, b, e);
}
AVX2 static void input_avx2(const float *x, float *v, long ch, const struct graft_winograd_geometry *g, long b, long e) {
    input_body(x, v, ch, g, b, e);
}
static void input_base(const float *x, float *v, long ch, const struct graft_winograd_geometry *g, long b, long e) {
    input_body(x, v, ch, g, b, e);
}
AVX2 static void output_avx2(const float *m, float *y, const float *bias, long oc, long ch, int sum, int relu,
                             const struct graft_winograd_geometry *g, long b, long e) {
    output_body(m, y, bias, oc, ch, sum, relu, g, b, e);
}
static void output_base(const float *m, float *y, const float *bias, long oc, long ch, int sum, int relu,
                        const struct graft_winograd_geometry *g, long b, long e) {
    output_body(m, y, bias, oc, ch, sum, relu, g, b, e);
}
AVX2 static void output_gradient_avx2(const float *dy, float *dm, long ch, const struct graft_winograd_geometry *g, long b, long e) {
    output_gradient_body(dy, dm, ch, g, b, e);
}
static void output_gradient_base(const float *dy, float *dm, long ch, const struct graft_winograd_geometry *g, long b, long e) {
    output_gradient_body(dy, dm, ch, g, b, e);
}
AVX2 static void inverse_filters_avx2(const float *du, float *grad, long cin, long cout, long ip, long op, long b, long e) {
    inverse_filters_body(du, grad, cin, cout, ip, op, b, e);
}
static void inverse_filters_base(const float *du, float *grad, long cin, long cout, long ip, long op, long b, long e) {
    inverse_filters_body(du, grad, cin, cout, ip, op, b, e);
}

/// AVX2 where the CPU has it, unless GRAFT_WINOGRAD_BASELINE is set (to test the baseline code
/// on an AVX2 machine: EngineTests/WinogradBitsTests).
int graft_winograd_uses_avx2(void) {
    static int avx2 = -1;   // racing first calls all store the same value
    if (avx2 < 0) {
        __builtin_cpu_init();
        const char *baseline = getenv("GRAFT_WINOGRAD_BASELINE");
        avx2 = __builtin_cpu_supports("avx2") && !(baseline && *baseline) ? 1 : 0;
    }
    return avx2;
}

void graft_winograd_transform_weights(const float *w, float *u, long out, long in, int transposed, long row_begin, long row_end) {
    (graft_winograd_uses_avx2() ? weights_avx2 : weights_base)(w, u, out, in, transposed, row_begin, row_end);
}

void graft_winograd_transform_input(const float *x, float *v, long channels, const struct graft_winograd_geometry *g,
                                    long tile_begin, long tile_end) {
    (graft_winograd_uses_avx2() ? input_avx2 : input_base)(x, v, channels, g, tile_begin, tile_end);
}

void graft_winograd_transform_output(const float *m, float *y, const float *bias, long out_channels, long channels,
                                     int sum, int relu, const struct graft_winograd_geometry *g,
                                     long tile_begin, long tile_end) {
    (graft_winograd_uses_avx2() ? output_avx2 : output_base)(m, y, bias, out_channels, channels, sum, relu, g, tile_begin, tile_end);
}

void graft_winograd_transform_output_gradient(const float *dy, float *dm, long channels,
                                              const struct graft_winograd_geometry *g, long tile_begin, long tile_end) {
    (graft_winograd_uses_avx2() ? output_gradient_avx2 : output_gradient_base)(dy, dm, channels, g, tile_begin, tile_end);
}

void graft_winograd_inverse_transform_filters(const float *du, float *grad, long in, long out, long in_padded,
                                              long out_padded, long c_begin, long c_end) {
    (graft_winograd_uses_avx2() ? inverse_filters_avx2 : inverse_filters_base)(du, grad, in, out, in_padded, out_padded, c_begin, c_end);
}
