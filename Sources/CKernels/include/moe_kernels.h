// SwiftMoE numeric kernels (C). Counts are in elements unless a name says bytes.
// Every entry point dispatches once-chosen SIMD code (AVX2/FMA/F16C on x86-64, NEON on ARM)
// and has a scalar `_generic` twin that is the reference.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "moe_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

// ---- conversions of single values (exact; NaNs come out quiet, payload kept) ----
float moe_f16_to_f32(uint16_t h);
float moe_bf16_to_f32(uint16_t h);

// ---- dequantization ----
// Element layout of a block type: elements per block, bytes per block; 0 for unsupported types.
int64_t moe_type_block_size(uint32_t ggml_type);
int64_t moe_type_block_bytes(uint32_t ggml_type);

// Dequantizes n elements (n a multiple of the type's block size) from `src` (n / block_size blocks)
// into dst[0 ..< n]. Returns 0, or -1 for an unsupported type or a bad n (dst untouched).
int moe_dequantize_row(uint32_t ggml_type, const void *src, float *dst, int64_t n);
int moe_dequantize_row_generic(uint32_t ggml_type, const void *src, float *dst, int64_t n);

// ---- dot product and matrix product, float32 in, float32 accumulation ----
float moe_dot_f32(const float *a, const float *b, int64_t n);
float moe_dot_f32_generic(const float *a, const float *b, int64_t n);
// out[0 ..< n] = Σ_{j = first … last} p[j] · rows[(j % ring) · stride + 0 ..< n] (attention's weighted sum of
// cached values, ring = the cache's slots): each element summed j in order as out + p·v (a multiply, then an add: no
// fused multiply-add), so every level gives the bits of that plain loop.
void moe_weighted_rows_f32(float *out, const float *p, const float *rows, int64_t stride, int64_t ring, int64_t first, int64_t last,
                           int64_t n);
void moe_weighted_rows_f32_generic(float *out, const float *p, const float *rows, int64_t stride, int64_t ring, int64_t first,
                                   int64_t last, int64_t n);

// Y[n*ldy + m] = Σ_k W[m*K + k] · X[n*K + k] for m < M, n < N.
// W: M weight rows of K floats; X: N token vectors of K floats; Y: N rows with stride ldy (≥ M).
void moe_gemm_f32(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy);
void moe_gemm_f32_generic(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy);

// ---- runtime selection ----
// Non-zero: every dispatched entry point uses the generic code (process-wide; for benchmarks and
// debugging — tests that compare paths call the `_generic` functions directly instead).
void moe_kernels_force_generic(int on);
// Non-zero when the several-token products on Q4_0, MXFP4 (x16 and row-major), Q8_0 and Q4_K x16 use AMX tiles (tiles_amx.c): the CPU has
// AMX-INT8, Linux granted the tile state, SWIFTMOE_AMX is not "0" and moe_kernels_use_amx did not turn them off.
// The tiles give the AVX-512 kernels' bits, so this changes speed only.
int moe_kernels_amx(void);
void moe_kernels_use_amx(int on);
// Non-zero when SIMD paths are in use (CPU supports them and not forced generic).
int moe_kernels_simd_active(void);
// CPU features the kernels use, space-separated, e.g. "avx2 fma f16c", "neon", or "generic".
const char *moe_kernels_features(void);
// Kernel levels: 0 generic, 1 the base SIMD set (AVX2 + FMA + F16C, or NEON), 2 AVX-512 (F, BW, VL, DQ,
// VNNI: MXFP4 and Q4_K). The dispatched entry points use the highest level the CPU runs; each level's
// kernels give every output the same bits whatever the tile, and levels differ by float rounding only.
int moe_kernels_best_level(void);
// The features of one level (NULL if this CPU lacks it).
const char *moe_kernels_level_features(int level);
// moe_vec_dot / moe_matmul_q (moe_quant.h) at one level ≤ moe_kernels_best_level(); -1 otherwise.
int moe_vec_dot_level(int level, uint32_t weight_type, int64_t n, const void *w, const void *x, float *out);
int moe_matmul_q_level(int level, uint32_t weight_type, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes,
                       const void *Xq, float *Y, int64_t ldy);

// ---- per-thread scratch ----
// A 64-byte-aligned buffer of at least `bytes` bytes owned by the calling thread, one per slot
// (0 ..< 4). Grows on demand, kept for the thread's life (freed at thread exit). NULL if out of memory.
// The pointer stays valid until the same thread asks the same slot for more bytes.
void *moe_thread_scratch(int slot, size_t bytes);

#ifdef __cplusplus
}
#endif
