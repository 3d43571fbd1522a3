// Quantized-activation dot products and matrix products, as ggml computes them.
//
// A weight row stays in its stored type; the float activation row it is multiplied with is first
// quantized to a matching 8-bit activation type, and the dot product is done on integer codes with
// one float multiply-add per block:
//
//   weight type          activation type   dot product per block (integer part exact)
//   Q8_0, Q4_0           Q8_0 (32)         d_w * d_x * Σ q_w * q_x
//   Q4_1                 Q8_1 (32)         d_w * d_x * Σ q_w * q_x + m_w * s_x
//   Q5_0, IQ4_NL, MXFP4  Q8_0 (32)         d_w * d_x * Σ q_w * q_x  (q_w: q - 16, table value, table value)
//   Q5_1                 Q8_1 (32)         d_w * d_x * Σ q_w * q_x + m_w * s_x
//   Q4_K, Q5_K, Q6_K     Q8_K (256)        d_w * d_x * Σ_sub sc * Σ q_w * q_x  (- dmin_w * d_x * Σ_sub m * bsum)
//   Q2_K, Q3_K, IQ4_XS   Q8_K (256)        the same (Q2_K's mins through the bsums; IQ4_XS: q_w = table value)
//   F32, F16, BF16       F32               plain float multiply-adds (activations are not quantized)
//
// Counts are elements unless a name says bytes. Every dispatched entry point has a `_generic` twin
// (scalar reference code, the same on every CPU). Integer parts of the SIMD code are exactly those
// of the generic code; float sums differ only by rounding (the SIMD code keeps 8 partial sums and
// fuses multiply-adds).
//
// Inputs must be finite. Activation codes are in [-127, 127], as the quantizers below make them;
// the Q8_0 · Q8_0 SIMD product relies on that (an activation code of -128 would be mis-signed there),
// every other product is exact for any codes.
#pragma once
#include "moe_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- which activations go with which weights ----

// The activation type the dot product of `weight_type` rows wants: MOE_TYPE_Q8_0 for Q8_0 and Q4_0,
// MOE_TYPE_Q8_1 for Q4_1, MOE_TYPE_Q8_K for Q4_K/Q5_K/Q6_K and Q2_K/Q3_K/IQ4_XS, MOE_TYPE_F32 for
// F32/F16/BF16; MOE_TYPE_Q8_0 for Q5_0, IQ4_NL and MXFP4, MOE_TYPE_Q8_1 for Q5_1 (ggml's pairing).
// -1 for a weight type without a dot product.
int32_t moe_activation_type(uint32_t weight_type);

// Bytes of one activation row of n elements of `act_type` (MOE_TYPE_F32, _Q8_0, _Q8_1, _Q8_K);
// -1 for another type or an n that is not a whole number of that type's blocks.
int64_t moe_activation_row_bytes(uint32_t act_type, int64_t n);

// ---- activation quantizers (ggml's quantize_row_*_ref semantics) ----

// x[0 ..< n] → n / block_size blocks of `act_type` at xq (MOE_TYPE_F32: a copy). A batch of N rows of
// K elements, K a whole number of blocks, is one call with n = N * K: the rows come out back to back,
// each moe_activation_row_bytes(act_type, K) bytes. Returns 0, or -1 for a bad type or n.
int moe_quantize_activations(uint32_t act_type, const float *x, void *xq, int64_t n);
int moe_quantize_activations_generic(uint32_t act_type, const float *x, void *xq, int64_t n);

// Q8_0 (n a multiple of 32): per block amax = max |x|, d = amax / 127, q = roundf(x * (1 / d))
// (halves away from zero; q = 0 where d = 0); d is stored as f16 (round to nearest even).
void moe_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void moe_quantize_row_q8_0_generic(const float *x, block_q8_0 *y, int64_t n);
// Q8_1 (n a multiple of 32): as Q8_0, plus s = f16(d * Σ q) with the float d.
void moe_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n);
void moe_quantize_row_q8_1_generic(const float *x, block_q8_1 *y, int64_t n);
// Q8_K (n a multiple of 256): max = the first element of largest magnitude, iscale = -127 / max,
// q = min(127, round-half-even(iscale * x)), d = 1 / iscale (float), bsums = sums of 16 codes.
// An all-zero block gets d = 0 and zero codes and sums.
void moe_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);
void moe_quantize_row_q8_K_generic(const float *x, block_q8_K *y, int64_t n);

// ---- dot products: one weight row of n elements · one activation row ----
// w: n / block_size weight blocks; x: the activation row of the matching type (n elements).
float moe_vec_dot_q8_0_q8_0(int64_t n, const void *w, const void *x);
float moe_vec_dot_q8_0_q8_0_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q4_0_q8_0(int64_t n, const void *w, const void *x);
float moe_vec_dot_q4_0_q8_0_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q4_1_q8_1(int64_t n, const void *w, const void *x);
float moe_vec_dot_q4_1_q8_1_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q5_0_q8_0(int64_t n, const void *w, const void *x);
float moe_vec_dot_q5_0_q8_0_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q5_1_q8_1(int64_t n, const void *w, const void *x);
float moe_vec_dot_q5_1_q8_1_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_iq4_nl_q8_0(int64_t n, const void *w, const void *x);
float moe_vec_dot_iq4_nl_q8_0_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_mxfp4_q8_0(int64_t n, const void *w, const void *x);
float moe_vec_dot_mxfp4_q8_0_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q4_K_q8_K(int64_t n, const void *w, const void *x);
float moe_vec_dot_q4_K_q8_K_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q5_K_q8_K(int64_t n, const void *w, const void *x);
float moe_vec_dot_q5_K_q8_K_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q6_K_q8_K(int64_t n, const void *w, const void *x);
float moe_vec_dot_q6_K_q8_K_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q2_K_q8_K(int64_t n, const void *w, const void *x);
float moe_vec_dot_q2_K_q8_K_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_q3_K_q8_K(int64_t n, const void *w, const void *x);
float moe_vec_dot_q3_K_q8_K_generic(int64_t n, const void *w, const void *x);
float moe_vec_dot_iq4_xs_q8_K(int64_t n, const void *w, const void *x);
float moe_vec_dot_iq4_xs_q8_K_generic(int64_t n, const void *w, const void *x);
// Half-precision weights against float activations (any n ≥ 0).
float moe_vec_dot_f16_f32(int64_t n, const void *w, const float *x);
float moe_vec_dot_f16_f32_generic(int64_t n, const void *w, const float *x);
float moe_vec_dot_bf16_f32(int64_t n, const void *w, const float *x);
float moe_vec_dot_bf16_f32_generic(int64_t n, const void *w, const float *x);

// By weight type: *out = dot of one `weight_type` row of n elements with one activation row of
// moe_activation_type(weight_type). Returns 0, or -1 for an unsupported type or bad n.
int moe_vec_dot(uint32_t weight_type, int64_t n, const void *w, const void *x, float *out);
int moe_vec_dot_generic(uint32_t weight_type, int64_t n, const void *w, const void *x, float *out);

// ---- matrix product for the forward pass ----
// Y[n*ldy + m] = dot(weight row m, activation row n) for m < M, n < N; nothing else of Y is written.
//   W:  M weight rows of K elements of `weight_type`, row m at (const char *)W + m * rowBytes
//       (rowBytes ≥ the bytes of K elements).
//   Xq: N activation rows of moe_activation_type(weight_type), back to back,
//       moe_activation_row_bytes(that type, K) bytes each (F32 weights/F16/BF16: N rows of K floats).
//   Y:  N output rows with stride ldy ≥ M (floats).
// Rows are the outer loop and tokens the inner one, in small register tiles, so each group of weight
// rows is read from memory once per call whatever N is, and stays in L1 while all tokens use it.
// For the quantized types and F16/BF16 an output does not depend on M, N, which tile it fell in, or
// how the caller split the rows: it equals moe_vec_dot of its row and token, bit for bit.
// Returns 0, or -1 for an unsupported type, K not whole blocks, or a too small rowBytes / ldy.
int moe_matmul_q(uint32_t weight_type, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes,
                 const void *Xq, float *Y, int64_t ldy);
int moe_matmul_q_generic(uint32_t weight_type, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes,
                         const void *Xq, float *Y, int64_t ldy);

#ifdef __cplusplus
}
#endif
