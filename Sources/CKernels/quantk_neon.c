// NEON dot products of Q2_K, Q3_K and IQ4_XS rows with Q8_K activations (AArch64). As in
// quant_neon.c: integer parts exact (signed byte products with SDOT where the target has it, else
// SMULL + SADALP), per super-block an int32x4 of scaled sums and one float multiply-add; the matrix
// product on ARM is these dot products per output (moe_mmq_by_dots).
#include "quantk_internal.h"

#if MOE_NEON
#include <arm_neon.h>

#pragma STDC FP_CONTRACT OFF

// acc + partial sums of a[k] * b[k] over 16 signed bytes (only the total of the 4 lanes is used).
static inline int32x4_t dot16k(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// The 2-bit field j (0..3) of 16 bytes.
static inline uint8x16_t crumbs(uint8x16_t v, int j) {
    return vandq_u8(vshlq_u8(v, vdupq_n_s8((int8_t)(-2 * j))), vdupq_n_u8(3));
}

// Q2_K: sub-block k (16 elements) = 2-bit field j = (k % 8) / 2 of qs[32 (k / 8) + 16 (k % 2) ..< +16].
float moe_vd_q2_K_neon(int64_t n, const void *vw, const void *vx) {
    const block_q2_K *w = vw;
    const block_q8_K *x = vx;
    float32x4_t acc = vdupq_n_f32(0);
    float mterm = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32x4_t isum = vdupq_n_s32(0);
        int msum = 0;
        for (int k = 0; k < 16; k++) {
            const uint8x16_t q = crumbs(vld1q_u8(w[b].qs + 32 * (k / 8) + 16 * (k % 2)), (k % 8) / 2);
            const int32x4_t p = dot16k(vdupq_n_s32(0), vreinterpretq_s8_u8(q), vld1q_s8(x[b].qs + 16 * k));
            isum = vmlaq_n_s32(isum, p, w[b].scales[k] & 0xF);
            msum += (w[b].scales[k] >> 4) * x[b].bsums[k];
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), moe_half_to_float(w[b].d) * x[b].d);
        mterm += moe_half_to_float(w[b].dmin) * x[b].d * (float)msum;
    }
    return vaddvq_f32(acc) - mterm;
}

// Q3_K: q = low 2 bits + 4 · third bit - 4, signed, per sub-block of 16 with its unbiased 6-bit scale.
float moe_vd_q3_K_neon(int64_t n, const void *vw, const void *vx) {
    const block_q3_K *w = vw;
    const block_q8_K *x = vx;
    const uint8x16_t four = vdupq_n_u8(4);
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t sc[16];
        moe_q3k_scales(w[b].scales, sc);
        int32x4_t isum = vdupq_n_s32(0);
        for (int k = 0; k < 16; k++) {
            const int h = k / 8, j = (k % 8) / 2, e = k % 2;
            const uint8x16_t low = crumbs(vld1q_u8(w[b].qs + 32 * h + 16 * e), j);
            const uint8x16_t hb = vandq_u8(vtstq_u8(vld1q_u8(w[b].hmask + 16 * e), vdupq_n_u8((uint8_t)(1u << (4 * h + j)))), four);
            const int8x16_t q = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, hb)), vreinterpretq_s8_u8(four));
            const int32x4_t p = dot16k(vdupq_n_s32(0), q, vld1q_s8(x[b].qs + 16 * k));
            isum = vmlaq_n_s32(isum, p, sc[k]);
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), moe_half_to_float(w[b].d) * x[b].d);
    }
    return vaddvq_f32(acc);
}

// IQ4_XS: table look-ups (TBL) give the signed values of 32 codes per sub-block.
float moe_vd_iq4_xs_neon(int64_t n, const void *vw, const void *vx) {
    const block_iq4_xs *w = vw;
    const block_q8_K *x = vx;
    const int8x16_t tbl = vld1q_s8(moe_kvalues_iq4nl);
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t ls[8];
        moe_iq4xs_scales(&w[b], ls);
        int32x4_t isum = vdupq_n_s32(0);
        for (int ib = 0; ib < 8; ib++) {
            const uint8x16_t q = vld1q_u8(w[b].qs + 16 * ib);
            const int8x16_t lo = vqtbl1q_s8(tbl, vandq_u8(q, m4)), hi = vqtbl1q_s8(tbl, vshrq_n_u8(q, 4));
            int32x4_t p = dot16k(vdupq_n_s32(0), lo, vld1q_s8(x[b].qs + 32 * ib));
            p = dot16k(p, hi, vld1q_s8(x[b].qs + 32 * ib + 16));
            isum = vmlaq_n_s32(isum, p, ls[ib]);
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), moe_half_to_float(w[b].d) * x[b].d);
    }
    return vaddvq_f32(acc);
}

#endif // MOE_NEON
