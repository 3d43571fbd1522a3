// float32 → Q6_K super-blocks (256 elements: 16 sub-blocks of 16 with int8 scales under one f16 scale), as
// ggml's quantize_row_q6_K_ref (no weights: the bytes llama-quantize writes without an importance matrix)
// and quantize_row_q6_K_impl (with per-element importance weights, llama-quantize --imatrix).
// llama-quantize stores the output head of its Q4_0/Q4_1 files in Q6_K; so does moe-quantize.
#pragma once
#include <stdint.h>
#include "moe_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

// n floats (a multiple of 256) → n / 256 blocks. `w`: NULL, or n importance weights (one per element;
// a matrix passes the same row of column weights for every row).
void moe_quantize_q6_K(const float *x, block_q6_K *dst, int64_t n, const float *w);

// ---- the other K-quants and the 32-element types llama-quantize's K mixes fall back to ----
// ggml's quantizers transcribed (quantize_kref.c): without weights the bytes llama-quantize writes without an
// importance matrix (quantize_row_*_ref), with weights what it writes with one (quantize_row_*_impl).
// n: a multiple of 256 for the K types, of 32 for Q5_0, Q5_1, MXFP4.
void moe_quantize_ref_q2_K(const float *x, block_q2_K *dst, int64_t n);
void moe_quantize_ref_q3_K(const float *x, block_q3_K *dst, int64_t n);
void moe_quantize_ref_q4_K(const float *x, block_q4_K *dst, int64_t n);
void moe_quantize_ref_q5_K(const float *x, block_q5_K *dst, int64_t n);
void moe_quantize_ref_q5_0(const float *x, block_q5_0 *dst, int64_t n);
void moe_quantize_ref_q5_1(const float *x, block_q5_1 *dst, int64_t n);
// MXFP4: e = floor(log2(amax)) - 2 + 127 per block, each element the nearest of the 16 values (first on ties).
void moe_quantize_ref_mxfp4(const float *x, block_mxfp4 *dst, int64_t n);
// IQ4_NL (n a multiple of 32) and IQ4_XS (of 256), as ggml's quantize_iq4_nl / quantize_iq4_xs (quantize_iq4.c): `w`
// NULL gives llama-quantize's bytes without an importance matrix, else with one. Returns -1 for another type or n.
int moe_quantize_iq4(int type, const float *x, void *dst, int64_t n, const float *w);

// ggml's quantize_<type>(…, quant_weights) for one row of n elements: `w` NULL gives the _ref bytes, else ggml's
// weighted search with w as the imatrix row (n weights). type: MOE_TYPE_Q2_K … Q6_K, Q5_0, Q5_1, MXFP4 (no weighted
// path in ggml: w ignored). Returns -1 for another type or an n that does not divide into blocks, else 0.
int moe_quantize_ggml(int type, const float *x, void *dst, int64_t n, const float *w);
// ggml's weighted Q3_K / Q4_K / Q5_K search run with its own default weights (not a path llama-quantize takes).
int moe_quantize_ggml_impl_unweighted(int type, const float *x, void *dst, int64_t n);

// ---- error-minimising search (quantize_kopt.c) ----
// Each block (256 elements for the K types, 32 for Q5_0 / Q5_1 / MXFP4) is encoded to minimise its weighted squared
// error Σ w_j (x_j − dequant_j)², w NULL meaning weights 1. Candidates: ggml's reference encoding, ggml's weighted
// search (with w, or its own heuristic weights), then a coordinate descent on the stored fields: each sub-block's
// integer scale and minimum searched around their values with the codes re-rounded, then the super-block's f16 scales
// refitted by least squares, repeated 2 + 2·effort times (MXFP4: the block exponent around ggml's choice). The best
// measured encoding of each block is kept, so no block's error exceeds the reference's. Deterministic (no FMA; the
// bytes depend only on x, w, effort). type: MOE_TYPE_Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q5_0, Q5_1, MXFP4.
// Returns -1 for another type or a bad n, else 0.
int moe_quantize_kopt(int type, const float *x, void *dst, int64_t n, const float *w, int effort);
// Σ w_j (x_j − dequant_j)² over n elements of `type` (any of the above; dequantized by the project's generic
// dequantizer), in double; w NULL: weights 1. NaN for an unsupported type.
double moe_quant_error(int type, const float *x, const void *blocks, int64_t n, const float *w);

// Packing helpers shared by the two files (ggml's layouts, see moe_blocks.h).
void moe_pack_q4_K_scales(uint8_t *scales, const uint8_t *ls, const uint8_t *lm);
void moe_pack_q3_K_scales(uint8_t *scales, const int8_t *biased);
void moe_pack_q2_K_codes(block_q2_K *y, const uint8_t *L);
void moe_pack_q3_K_codes(block_q3_K *y, const uint8_t *L);
void moe_pack_q4_K_codes(block_q4_K *y, const uint8_t *L);
void moe_pack_q5_K_codes(block_q5_K *y, const uint8_t *L);
void moe_pack_q5_codes(uint8_t *qs, uint8_t *qh, const uint8_t *L);
int moe_mxfp4_best_index(float x, float e);

#ifdef __cplusplus
}
#endif
