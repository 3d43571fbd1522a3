// GPTQ (Frantar et al. 2022) for GGUF's block formats: the columns of a weight row are quantized left to
// right, and each column's rounding error is pushed onto the columns not yet quantized, in the proportions
// that minimise the expected squared error of the row's product with calibration inputs x:
//   E[(Σ_j (w_j − ŵ_j) x_j)²] = (w − ŵ)ᵀ H (w − ŵ),   H = E[x xᵀ].
// `U` is the upper Cholesky factor of H⁻¹ (U[i][j], row-major, cols × cols, only i ≤ j read): after column
// i is rounded with error e = w_i − ŵ_i, w_j −= e · U[i][j] / U[i][i] for j > i.
// Each block's scale (and minimum) is chosen when the block is reached, from the weights as updated by then,
// with the error-minimising search of moe_quantize_opt weighted by diag(H) over the block; the block's
// codes are then rounded one column at a time against those stored values.
#pragma once
#include <stdint.h>
#include "moe_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

// One row: `w` (cols floats, overwritten with the updated values), `hdiag` (cols, H's diagonal: the block
// search's weights), `U` as above, `type` a ggml type number (Q8_0 = 8, Q4_0 = 2, Q4_1 = 3, and the types below), output blocks at `dst`.
// Returns 0, or -1 for an unsupported type or a row length that is not a multiple of 32.
int moe_gptq_row(int type, float *w, int64_t cols, const float *U, const float *hdiag, void *dst, int effort);
// The same for Q2_K … Q6_K, Q5_0, Q5_1, MXFP4 (quantize_kopt.c; moe_gptq_row forwards them): each block's
// (256 or 32 columns) stored fields chosen by moe_quantize_kopt weighted by hdiag; cols a multiple of the block.
int moe_gptq_row_kquant(int type, float *w, int64_t cols, const float *U, const float *hdiag, void *dst, int effort);

#ifdef __cplusplus
}
#endif

#ifdef __cplusplus
extern "C" {
#endif
// c[i * n + j] += x[i] · x[j] for i ≤ j (the upper triangle of x xᵀ, accumulated in double), n = width.
void moe_accumulate_xxt(double *c, const float *x, int64_t n);
#ifdef __cplusplus
}
#endif
