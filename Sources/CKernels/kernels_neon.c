// NEON twins for AArch64: the simple dequantizers (F16, BF16, Q8_0, Q4_0), dot product and gemm.
// Other types use the generic code on ARM. Dequantization matches the generic bits exactly.
#include "moe_internal.h"

#if MOE_NEON
#include <arm_neon.h>

#pragma STDC FP_CONTRACT OFF

void moe_dq_f16_neon(const void *src, float *dst, int64_t n) {
    const uint16_t *p = src;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p + i))));
    if (i < n) moe_dq_f16_generic(p + i, dst + i, n - i);
}

void moe_dq_bf16_neon(const void *src, float *dst, int64_t n) {
    const uint16_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(p + i);
        vst1q_f32(dst + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)));
        vst1q_f32(dst + i + 4, vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16)));
    }
    if (i < n) moe_dq_bf16_generic(p + i, dst + i, n - i);
}

// 16 signed bytes × d → dst[0..<16]
static inline void store_i8x16(float *dst, int8x16_t q, float d) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
    vst1q_f32(dst + 0, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(dst + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo))), d));
    vst1q_f32(dst + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(dst + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi))), d));
}

void moe_dq_q8_0_neon(const void *src, float *dst, int64_t n) {
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++, dst += QK8_0) {
        const float d = moe_half_to_float(x[i].d);
        store_i8x16(dst, vld1q_s8(x[i].qs), d);
        store_i8x16(dst + 16, vld1q_s8(x[i].qs + 16), d);
    }
}

void moe_dq_q4_0_neon(const void *src, float *dst, int64_t n) {
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++, dst += QK4_0) {
        const float d = moe_half_to_float(x[i].d);
        const uint8x16_t b = vld1q_u8(x[i].qs);
        const int8x16_t eight = vdupq_n_s8(8);
        store_i8x16(dst, vsubq_s8(vreinterpretq_s8_u8(vandq_u8(b, vdupq_n_u8(0x0F))), eight), d);
        store_i8x16(dst + 16, vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(b, 4)), eight), d);
    }
}

float moe_dot_f32_neon(const float *a, const float *b, int64_t n) {
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

// Same scheme as gemm_avx2.c with 4-wide vectors: 4 × 4 accumulators (of 32 registers).
enum { NMR = 4, NNR = 4 };

static inline __attribute__((always_inline)) void micro_neon(
    const int mr, const int nr, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    float32x4_t acc[NMR][NNR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = vdupq_n_f32(0);
    int64_t k = 0;
    for (; k + 4 <= K; k += 4) {
        float32x4_t x[NNR];
        for (int j = 0; j < nr; j++) x[j] = vld1q_f32(X + j * K + k);
        for (int i = 0; i < mr; i++) {
            const float32x4_t w = vld1q_f32(W + i * K + k);
            for (int j = 0; j < nr; j++) acc[i][j] = vfmaq_f32(acc[i][j], w, x[j]);
        }
    }
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < mr; i++) {
            float s = vaddvq_f32(acc[i][j]);
            for (int64_t t = k; t < K; t++) s += W[i * K + t] * X[j * K + t];
            Y[j * ldy + i] = s;
        }
}

#define MICRO(a, b) case (a) * 8 + (b): micro_neon(a, b, K, W, X, Y, ldy); break
static void micro_neon_any(int mr, int nr, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    switch (mr * 8 + nr) {
        MICRO(4, 4); MICRO(4, 3); MICRO(4, 2); MICRO(4, 1);
        MICRO(3, 4); MICRO(3, 3); MICRO(3, 2); MICRO(3, 1);
        MICRO(2, 4); MICRO(2, 3); MICRO(2, 2); MICRO(2, 1);
        MICRO(1, 4); MICRO(1, 3); MICRO(1, 2); MICRO(1, 1);
        default: break;
    }
}
#undef MICRO

void moe_gemm_f32_neon(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    for (int64_t n0 = 0; n0 < N; n0 += NNR) {
        const int nr = (int)(N - n0 < NNR ? N - n0 : NNR);
        for (int64_t m0 = 0; m0 < M; m0 += NMR) {
            const int mr = (int)(M - m0 < NMR ? M - m0 : NMR);
            micro_neon_any(mr, nr, K, W + m0 * K, X + n0 * K, Y + n0 * ldy + m0, ldy);
        }
    }
}

#endif // MOE_NEON
