#ifndef GRAFT_WINOGRAD_H
#define GRAFT_WINOGRAD_H

/// The transforms of Graft's Winograd F(4x4, 3x3) (Sources/Engine/Winograd.swift holds the
/// algorithm, the layouts and the matrix products): each function does its part for a range of
/// tiles (or filter rows, or input channels), so that Swift splits the work across threads.
/// Activations are nChw8c float32 (channels in blocks of 8); the transformed planes are
/// `[36, tiles, channels padded to 8]` (and `[36, rows, cols]` for filters). Eight channels at
/// a time, as one AVX2 register where the CPU has AVX2 (`graft_winograd_uses_avx2`), else the
/// same arithmetic in baseline x86-64 instructions. No floating-point contraction: every
/// result is the same bits as Graft's former Swift SIMD8 code (checked by
/// EngineTests/WinogradBitsTests).

/// One conv's tiling: the input and output images and how the output is cut into 4x4 tiles.
struct graft_winograd_geometry {
    long batch, in_height, in_width, out_height, out_width, padding, tiles_y, tiles_x;
};

/// 1 when the AVX2 code runs on this CPU, 0 when the baseline code does.
int graft_winograd_uses_avx2(void);

/// `U[p][row][col]` for filter rows [row_begin, row_end) of `w` (`[out, in, 3, 3]`): `G g Gᵀ`,
/// columns padded to 8 with zeros (rows beyond `row_count` are the caller's to zero).
/// `transposed`: the filters of the backward-data conv (rotated, channel roles swapped).
void graft_winograd_transform_weights(const float *w, float *u, long out, long in, int transposed,
                                      long row_begin, long row_end);

/// `V[p, tile, c] = (Bᵀ d B)[p]` for tiles [tile_begin, tile_end), `x` nChw8c with `channels`
/// (a multiple of 8) channels.
void graft_winograd_transform_input(const float *x, float *v, long channels, const struct graft_winograd_geometry *g,
                                    long tile_begin, long tile_end);

/// Each product tile back to 4x4 outputs `Aᵀ M A`, plus `bias` (NULL: none; `out_channels`
/// values), plus what `y` holds when `sum`, then ReLU when `relu`; written into `y` (nChw8c,
/// `channels` padded).
void graft_winograd_transform_output(const float *m, float *y, const float *bias, long out_channels, long channels,
                                     int sum, int relu, const struct graft_winograd_geometry *g,
                                     long tile_begin, long tile_end);

/// `dM[p, tile, k] = (A dY Aᵀ)[p]` for every 4x4 tile of the output gradient (zero outside).
void graft_winograd_transform_output_gradient(const float *dy, float *dm, long channels,
                                              const struct graft_winograd_geometry *g, long tile_begin, long tile_end);

/// `grad[k, c] = Gᵀ dU[·, c, k] G` (3x3, PyTorch's `[out, in, 3, 3]`) for input channels
/// [c_begin, c_end); `du` is `[36, in_padded, out_padded]`.
void graft_winograd_inverse_transform_filters(const float *du, float *grad, long in, long out, long in_padded,
                                              long out_padded, long c_begin, long c_end);

#endif
