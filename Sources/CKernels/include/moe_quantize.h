// float32 → ggml storage types, round-to-nearest, bit for bit as ggml's reference code:
// quantize_row_q8_0_ref, quantize_row_q4_0_ref, quantize_row_q4_1_ref (ggml-quants.c; what llama-quantize
// runs without an importance matrix) and ggml's fp32 → fp16 / bf16 conversions. One scalar code path on
// every CPU (the compiler may vectorize it; results do not change). Inputs must be finite.
#pragma once
#include <stdint.h>
#include "moe_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

// IEEE binary16 bits of x, round to nearest even (GGML_FP32_TO_FP16).
uint16_t moe_f32_to_f16(float x);
// bfloat16 bits of x, round to nearest even; NaN stays a quiet NaN (ggml_compute_fp32_to_bf16).
uint16_t moe_f32_to_bf16(float x);

// n floats (a multiple of 32 for the block types) → n / 32 blocks at dst.
void moe_quantize_ref_q8_0(const float *x, block_q8_0 *dst, int64_t n);
void moe_quantize_ref_q4_0(const float *x, block_q4_0 *dst, int64_t n);
void moe_quantize_ref_q4_1(const float *x, block_q4_1 *dst, int64_t n);
// n floats → n half / bfloat16 values.
void moe_convert_row_f16(const float *x, uint16_t *dst, int64_t n);
void moe_convert_row_bf16(const float *x, uint16_t *dst, int64_t n);

// ---- error-minimising quantizers (quantize_opt.c) ----
// Same block layouts as above (ggml decodes them unchanged: Q4_0 nibbles are q + 8, Q4_1 x = d·q + m, Q8_0 codes in
// [-127, 127], -128 never written), but each 32-element block's f16 scale (and Q4_1 minimum) and codes are chosen to
// minimise the block's weighted squared error  E = Σ_j w_j (x_j - dequant_j)²,  dequant_j being the value ggml's
// dequantizer computes from the stored f16 fields. The search scores candidate scales by the error their codes would
// leave under the least-squares scale, then alternates "least-squares d (and m) → round to f16 → nearest codes for the
// stored values → measured error" (details in quantize_opt.c). ggml's reference encoding (moe_quantize_ref_*) is always
// a candidate and the final choice is made with moe_quant_block_error's own per-block sum, so every block's error is
// ≤ the reference's (ties keep the reference's bytes).
//
// x: n floats, finite, n a multiple of 32. w: NULL (all weights 1: plain squared error), or n finite weights ≥ 0
// aligned with x (e.g. the mean squared calibration activation of each column, as llama.cpp's imatrix; for a matrix
// pass the same column weights for every row). A block whose weights are all 0 is judged unweighted.
// Scales that would overflow f16 are clamped to ±65504. Deterministic: the bytes depend only on x, w and the effort —
// not on the CPU, SIMD path or thread count (rows are independent; no fused multiply-adds, fixed summation order).
//
// Effort 0. One AVX2 core, unweighted (Tools/bench/qopt_bench.c speed): about 90 (Q4_0), 50 (Q4_1), 55 (Q8_0) M elements/s.
void moe_quantize_opt_q8_0(const float *x, block_q8_0 *y, int64_t n, const float *w);
void moe_quantize_opt_q4_0(const float *x, block_q4_0 *y, int64_t n, const float *w);
void moe_quantize_opt_q4_1(const float *x, block_q4_1 *y, int64_t n, const float *w);

// Any of the three types (MOE_TYPE_Q8_0, _Q4_0, _Q4_1; returns -1 for another type or an n that is not a multiple of 32,
// 0 otherwise) with a search effort: 0 (the default), 1, 2; values outside clamp. Higher efforts try more candidate
// scales: on one AVX2 core effort 1 takes about 1.3-2x the time of effort 0 and effort 2 about 2.5-3.5x, for a further
// 0.1 % (Q4_0) to 5 % (Q8_0) lower error (Tools/bench/qopt_bench.c prints both). Weighted calls search wider (about
// half the unweighted speed at effort 0), since importance weights move the optimum further from the reference.
// The `_generic` twin never uses the AVX2-compiled copy of the search; both write the same bytes.
#define MOE_QOPT_EFFORTS 3
int moe_quantize_opt(int type, const float *x, void *y, int64_t n, const float *w, int effort);
int moe_quantize_opt_generic(int type, const float *x, void *y, int64_t n, const float *w, int effort);

// Σ_j w_j (x_j - dequant_j)² over n elements (n / 32 blocks of `type` at `blocks`), w NULL meaning weights 1: per block
// in double, the 32 terms t_j = (w_j·r_j)·r_j, r_j = (double)x_j - (double)dequant_j, added pairwise
// (t_j += t_{j+16}, then +8, +4, then (t_0 + t_2) + (t_1 + t_3)); block sums added in order. dequant_j is computed as
// the project's dequantizer computes it (float). Returns NaN for a type other than Q8_0, Q4_0, Q4_1; +inf or NaN where a
// stored f16 field is not finite (ggml's reference rounding overflows f16 for large |x|, e.g. Q4_0 from about
// 65504·8).
double moe_quant_block_error(int type, const float *x, const void *blocks, int64_t n, const float *w);

#ifdef __cplusplus
}
#endif
