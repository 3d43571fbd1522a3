// Internal to CKernels: the 32-element block types Q5_0, Q5_1, IQ4_NL and MXFP4 (layouts in
// moe_blocks.h): their value tables, the E8M0 scale, and the kernels of quant32_generic.c,
// quant32_avx2.c and quant32_neon.c, which dispatch.c puts in its tables.
#pragma once
#include "moe_internal.h"

// IQ4_NL's 16 levels (ggml's kvalues_iq4nl): a non-uniform grid, denser near zero.
static const int8_t moe_kvalues_iq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

// MXFP4's E2M1 codes, doubled so that they are integers (ggml's kvalues_mxfp4): code c = s e1 e0 m;
// magnitude 0, 0.5, 1, 1.5, 2, 3, 4, 6 times 2. Codes 0 and 8 (±0) are both 0.
static const int8_t moe_kvalues_mxfp4[16] = { 0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12 };

// Half the E8M0 scale, 2^(e - 128), compensating the doubled codes (ggml's GGML_E8M0_TO_FP32_HALF):
// e ≥ 2 is the normal float with biased exponent e - 1; e = 1 and e = 0 are the float subnormals
// 2⁻¹²⁷ and 2⁻¹²⁸. Exact for every e.
// e = 0xFF: the OCP MX spec makes it NaN; ggml (and gguf-py) read it as 2¹²⁷ like any other e, and we
// do the same, so a file decodes here exactly as in llama.cpp: values of such a block overflow to ±inf
// (codes ≥ 2 in magnitude) or are ±2¹²⁷ / 0. llama.cpp's quantizer never writes 0xFF (it would need a
// block maximum near 2¹²⁹, beyond float range).
static inline float moe_e8m0_to_float_half(uint8_t e) {
    return moe_bits_f32(e < 2 ? 0x00200000u << e : (uint32_t)(e - 1) << 23);
}

// The exact integer sum Σ v_j y_j of an MXFP4 block against a Q8_0 block (the product is half the E8M0 scale ·
// dx times it): the AVX-512 level's scalar dot and the x16 layout's reference share it.
static inline int moe_mxfp4_isum(const block_mxfp4 *w, const block_q8_0 *x) {
    int s = 0;
    for (int j = 0; j < QK_MXFP4 / 2; j++)
        s += moe_kvalues_mxfp4[w->qs[j] & 0x0F] * x->qs[j] + moe_kvalues_mxfp4[w->qs[j] >> 4] * x->qs[j + QK_MXFP4 / 2];
    return s;
}

// The fifth bit of element j (j < 32) of a Q5_0 / Q5_1 block, as 0 or 16.
static inline int moe_q5_high(uint32_t qh, int j) { return (int)((qh >> j) & 1u) << 4; }

// Scalar reference code (quant32_generic.c).
void moe_dq_q5_0_generic(const void *src, float *dst, int64_t n);
void moe_dq_q5_1_generic(const void *src, float *dst, int64_t n);
void moe_dq_iq4_nl_generic(const void *src, float *dst, int64_t n);
void moe_dq_mxfp4_generic(const void *src, float *dst, int64_t n);
float moe_vd_q5_0_generic(int64_t n, const void *w, const void *x);
float moe_vd_q5_1_generic(int64_t n, const void *w, const void *x);
float moe_vd_iq4_nl_generic(int64_t n, const void *w, const void *x);
float moe_vd_mxfp4_generic(int64_t n, const void *w, const void *x);

#if MOE_X86
// AVX2 twins (quant32_avx2.c): dequantization bit for bit; dot products with the generic integer sums.
void moe_dq_q5_0_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q5_1_avx2(const void *src, float *dst, int64_t n);
void moe_dq_iq4_nl_avx2(const void *src, float *dst, int64_t n);
void moe_dq_mxfp4_avx2(const void *src, float *dst, int64_t n);
float moe_vd_q5_0_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q5_1_avx2(int64_t n, const void *w, const void *x);
float moe_vd_iq4_nl_avx2(int64_t n, const void *w, const void *x);
float moe_vd_mxfp4_avx2(int64_t n, const void *w, const void *x);
void moe_mmq_q5_0_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q5_1_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_iq4_nl_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_mxfp4_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
#endif

#if MOE_NEON
// NEON twins (quant32_neon.c): dot products with the generic integer sums.
float moe_vd_q5_0_neon(int64_t n, const void *w, const void *x);
float moe_vd_q5_1_neon(int64_t n, const void *w, const void *x);
float moe_vd_iq4_nl_neon(int64_t n, const void *w, const void *x);
float moe_vd_mxfp4_neon(int64_t n, const void *w, const void *x);
#endif
