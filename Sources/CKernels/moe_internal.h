// Internal to CKernels: value conversions and the per-path function tables.
#pragma once
#include <stdint.h>
#include <string.h>
#include "moe_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#define MOE_X86 1
#define MOE_AVX2 __attribute__((target("avx2,fma,f16c")))
#endif
#if defined(__ARM_NEON) && defined(__aarch64__)
#define MOE_NEON 1
#endif

static inline float moe_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t moe_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

// binary16 → binary32, exact. 1 sign, 5 exponent (bias 15), 10 mantissa bits.
// Subnormals (exponent 0) are man · 2⁻²⁴; inf stays inf; NaN keeps its payload and is made quiet,
// as F16C (vcvtph2ps) and NEON (fcvtl) do, so every path gives the same bits.
static inline float moe_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    const uint32_t man = h & 0x3FFu;
    if (exp == 0x1F) return moe_bits_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
    if (exp != 0) return moe_bits_f32(sign | ((exp + (127 - 15)) << 23) | (man << 13));
    const float f = (float)man * 0x1p-24f; // 0 or subnormal: exact (man < 2¹⁰)
    return moe_bits_f32(sign | moe_f32_bits(f));
}

// bfloat16 → binary32: the 16 bits are the top half of the float (exact, NaNs untouched).
static inline float moe_bf16_to_float(uint16_t h) { return moe_bits_f32((uint32_t)h << 16); }

// One dequantizer: n elements (a multiple of the block size) from src into dst.
typedef void (*moe_dequant_fn)(const void *src, float *dst, int64_t n);

#define MOE_DECL_DEQUANT(name) \
    void moe_dq_##name##_generic(const void *src, float *dst, int64_t n);
MOE_DECL_DEQUANT(f32)
MOE_DECL_DEQUANT(f16)
MOE_DECL_DEQUANT(bf16)
MOE_DECL_DEQUANT(q8_0)
MOE_DECL_DEQUANT(q4_0)
MOE_DECL_DEQUANT(q4_1)
MOE_DECL_DEQUANT(q4_K)
MOE_DECL_DEQUANT(q5_K)
MOE_DECL_DEQUANT(q6_K)

// 6-bit scale and min of sub-block j (0 ..< 8) of a Q4_K / Q5_K block, from the 12 packed bytes:
// bytes 0-3: low 6 bits = sc[0..3], top 2 bits = high bits of sc[4..7]
// bytes 4-7: low 6 bits = m[0..3],  top 2 bits = high bits of m[4..7]
// bytes 8-11: low nibble = low 4 bits of sc[4..7], high nibble = low 4 bits of m[4..7]
static inline void moe_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

#if MOE_X86
// AVX2 twins (dequant_avx2.c, gemm_avx2.c): same results, bit for bit, for dequantization.
void moe_dq_f16_avx2(const void *src, float *dst, int64_t n);
void moe_dq_bf16_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q8_0_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q4_0_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q4_1_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q4_K_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q5_K_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q6_K_avx2(const void *src, float *dst, int64_t n);
float moe_dot_f32_avx2(const float *a, const float *b, int64_t n);
void moe_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy);
#endif

#if MOE_NEON
// NEON twins (dequant_neon.c, gemm_neon.c).
void moe_dq_f16_neon(const void *src, float *dst, int64_t n);
void moe_dq_bf16_neon(const void *src, float *dst, int64_t n);
void moe_dq_q8_0_neon(const void *src, float *dst, int64_t n);
void moe_dq_q4_0_neon(const void *src, float *dst, int64_t n);
float moe_dot_f32_neon(const float *a, const float *b, int64_t n);
void moe_gemm_f32_neon(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy);
#endif
