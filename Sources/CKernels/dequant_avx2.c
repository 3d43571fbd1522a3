// AVX2 dequantizers (x86-64 only, compiled per function for avx2+fma+f16c and chosen at run time).
// Each gives exactly the bits of its generic twin: the same float products in the same order,
// never fused (no FMA here), with scalar per-block factors computed as the generic code does.
#include "moe_internal.h"

#if MOE_X86
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF

// 8 signed bytes (low half of v) → 8 floats.
static inline MOE_AVX2 __m256 i8_to_f32(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

// 32 signed bytes → dst[0..<32], element k times scale[k / 16] (scales as given, one product each).
static inline MOE_AVX2 void store_i8x32(float *dst, __m256i q, float s0, float s1) {
    const __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    const __m256 v0 = _mm256_set1_ps(s0), v1 = _mm256_set1_ps(s1);
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(i8_to_f32(a), v0));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(i8_to_f32(_mm_srli_si128(a, 8)), v0));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(i8_to_f32(b), v1));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(i8_to_f32(_mm_srli_si128(b, 8)), v1));
}

// 32 bytes 0..31 → dst[0..<32] = d * q - m (product first, then the subtraction, as ggml).
static inline MOE_AVX2 void store_u8x32_dm(float *dst, __m256i q, float d, float m) {
    const __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
    const __m128i parts[4] = { a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8) };
    for (int k = 0; k < 4; k++) {
        const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
        _mm256_storeu_ps(dst + 8 * k, _mm256_sub_ps(_mm256_mul_ps(vd, f), vm));
    }
}

MOE_AVX2 void moe_dq_f16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + i))));
    if (i < n) moe_dq_f16_generic(p + i, dst + i, n - i);
}

MOE_AVX2 void moe_dq_bf16_avx2(const void *src, float *dst, int64_t n) {
    const uint16_t *p = src;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) { // zero-extend 8 × u16 straight from memory, shift into the top half
        const __m256i lo = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i)));
        const __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p + i + 8)));
        _mm256_storeu_si256((__m256i *)(dst + i), _mm256_slli_epi32(lo, 16));
        _mm256_storeu_si256((__m256i *)(dst + i + 8), _mm256_slli_epi32(hi, 16));
    }
    if (i < n) moe_dq_bf16_generic(p + i, dst + i, n - i);
}

MOE_AVX2 void moe_dq_q8_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = moe_half_to_float(x[i].d);
        store_i8x32(dst, _mm256_loadu_si256((const __m256i *)x[i].qs), d, d);
    }
}

// The 16 bytes of a 4-bit block → 32 nibbles in element order: low nibbles, then high nibbles.
static inline MOE_AVX2 __m256i nibbles32(const uint8_t *qs) {
    const __m128i b = _mm_loadu_si128((const __m128i *)qs);
    const __m128i m = _mm_set1_epi8(0x0F);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(b, 4), m), _mm_and_si128(b, m));
}

MOE_AVX2 void moe_dq_q4_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = moe_half_to_float(x[i].d);
        const __m256i q = _mm256_sub_epi8(nibbles32(x[i].qs), _mm256_set1_epi8(8));
        store_i8x32(dst, q, d, d);
    }
}

MOE_AVX2 void moe_dq_q4_1_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++, dst += QK4_1) {
        const float d = moe_half_to_float(x[i].d);
        const float m = moe_half_to_float(x[i].m);
        // q * d + m: negate nothing, so use mul then add rather than the d*q - m helper.
        const __m256i q = nibbles32(x[i].qs);
        const __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
        const __m128i parts[4] = { a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8) };
        const __m256 vd = _mm256_set1_ps(d), vm = _mm256_set1_ps(m);
        for (int k = 0; k < 4; k++) {
            const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
            _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(_mm256_mul_ps(f, vd), vm));
        }
    }
}

MOE_AVX2 void moe_dq_q4_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q4_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        const float dmin = moe_half_to_float(x[i].dmin);
        for (int c = 0; c < 4; c++, dst += 64) {
            uint8_t sc, m;
            moe_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            moe_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            store_u8x32_dm(dst, _mm256_and_si256(q, m4), d1, m1);
            store_u8x32_dm(dst + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), d2, m2);
        }
    }
}

MOE_AVX2 void moe_dq_q5_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q5_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), b16 = _mm256_set1_epi8(16);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        const float dmin = moe_half_to_float(x[i].dmin);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)x[i].qh);
        for (int c = 0; c < 4; c++, dst += 64) {
            uint8_t sc, m;
            moe_get_scale_min_k4(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = dmin * m;
            moe_get_scale_min_k4(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = dmin * m;
            const __m256i u1 = _mm256_set1_epi8((char)(1 << (2 * c))), u2 = _mm256_set1_epi8((char)(2 << (2 * c)));
            // 16 where the bit is set, else 0
            const __m256i h1 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, u1), u1), b16);
            const __m256i h2 = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, u2), u2), b16);
            const __m256i q = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * c));
            store_u8x32_dm(dst, _mm256_or_si256(_mm256_and_si256(q, m4), h1), d1, m1);
            store_u8x32_dm(dst + 32, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h2), d2, m2);
        }
    }
}

MOE_AVX2 void moe_dq_q6_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q6_K *x = src;
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30), b32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        for (int h = 0; h < 2; h++, dst += 128) {
            const uint8_t *ql = x[i].ql + 64 * h, *qhp = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            const __m256i a = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i b = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)qhp);
            // high 2 bits moved to bit positions 4-5 of each byte
            const __m256i h0 = _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2);
            const __m256i h1 = _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2);
            const __m256i h2 = _mm256_and_si256(qh, m2);
            const __m256i h3 = _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2);
            const __m256i q1 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(a, m4), h0), b32);
            const __m256i q2 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(b, m4), h1), b32);
            const __m256i q3 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), h2), b32);
            const __m256i q4 = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(b, 4), m4), h3), b32);
            store_i8x32(dst + 0, q1, d * (float)sc[0], d * (float)sc[1]);
            store_i8x32(dst + 32, q2, d * (float)sc[2], d * (float)sc[3]);
            store_i8x32(dst + 64, q3, d * (float)sc[4], d * (float)sc[5]);
            store_i8x32(dst + 96, q4, d * (float)sc[6], d * (float)sc[7]);
        }
    }
}

#endif // MOE_X86
