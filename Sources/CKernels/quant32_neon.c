// NEON dot products for Q5_0, Q5_1, IQ4_NL and MXFP4 against Q8_0 / Q8_1 activations (AArch64), in the
// style of quant_neon.c's Q4_0 / Q4_1: codes as signed bytes (Q5_0: code - 16, Q5_1: code 0..31, IQ4_NL and
// MXFP4: table values looked up with TBL, all within int8), exact integer sums with SDOT where the target
// has it and SMULL + SADALP otherwise; 4-lane float partial sums in two chains (even and odd blocks).
// On ARM the matrix product is these dot products per output (moe_mmq_by_dots), so the two agree bit for bit.
#include "quant32.h"

#if MOE_NEON
#include <arm_neon.h>

#pragma STDC FP_CONTRACT OFF

// acc + partial sums of a[k] * b[k] over 16 signed bytes (only the total is used).
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// The fifth bits of a Q5 block as bytes 0 or 16: *lo for elements 0..15 (qh bytes 0, 1), *hi for 16..31
// (bytes 2, 3). Byte k of a half takes qh byte k / 8 (of that half) and tests bit k % 8.
static inline void q5_high(const uint8_t *qh, uint8x16_t *lo, uint8x16_t *hi) {
    uint32_t u;
    memcpy(&u, qh, 4);
    const uint8x8_t b = vcreate_u8((uint64_t)u);
    const uint8x16_t src = vcombine_u8(b, b);
    static const uint8_t idx[32] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1,
                                     2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3 };
    static const uint8_t bits[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
    const uint8x16_t bit = vld1q_u8(bits), sixteen = vdupq_n_u8(16);
    *lo = vandq_u8(vtstq_u8(vqtbl1q_u8(src, vld1q_u8(idx)), bit), sixteen);
    *hi = vandq_u8(vtstq_u8(vqtbl1q_u8(src, vld1q_u8(idx + 16)), bit), sixteen);
}

float moe_vd_q5_0_neon(int64_t n, const void *vw, const void *vx) {
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t sixteen = vdupq_n_s8(16);
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    for (int64_t b = 0; b < n / QK5_0; b++) {
        uint8x16_t hl, hh;
        q5_high(w[b].qh, &hl, &hh);
        const uint8x16_t raw = vld1q_u8(w[b].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, m4), hl)), sixteen); // elements 0..15
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), hh)), sixteen); // 16..31
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(x[b].qs));
        p = dot16(p, hi, vld1q_s8(x[b].qs + 16));
        const float d = moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

float moe_vd_q5_1_neon(int64_t n, const void *vw, const void *vx) {
    const block_q5_1 *w = vw;
    const block_q8_1 *x = vx;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    float summ = 0.0f; // Σ m_w * s_x
    for (int64_t b = 0; b < n / QK5_1; b++) {
        uint8x16_t hl, hh;
        q5_high(w[b].qh, &hl, &hh);
        const uint8x16_t raw = vld1q_u8(w[b].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(raw, m4), hl));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(raw, 4), hh));
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(x[b].qs));
        p = dot16(p, hi, vld1q_s8(x[b].qs + 16));
        const float d = moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
        summ += moe_half_to_float(w[b].m) * moe_half_to_float(x[b].s);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1])) + summ;
}

// IQ4_NL / MXFP4: table values (int8) by nibble, d = d_x * d_w as the generic code.
static inline int32x4_t table_dot(int8x16_t table, const uint8_t *qs, const int8_t *y) {
    const uint8x16_t raw = vld1q_u8(qs);
    const int8x16_t lo = vqtbl1q_s8(table, vandq_u8(raw, vdupq_n_u8(0x0F)));
    const int8x16_t hi = vqtbl1q_s8(table, vshrq_n_u8(raw, 4));
    return dot16(dot16(vdupq_n_s32(0), lo, vld1q_s8(y)), hi, vld1q_s8(y + 16));
}

float moe_vd_iq4_nl_neon(int64_t n, const void *vw, const void *vx) {
    const block_iq4_nl *w = vw;
    const block_q8_0 *x = vx;
    const int8x16_t table = vld1q_s8(moe_kvalues_iq4nl);
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    for (int64_t b = 0; b < n / QK4_NL; b++) {
        const int32x4_t p = table_dot(table, w[b].qs, x[b].qs);
        const float d = moe_half_to_float(x[b].d) * moe_half_to_float(w[b].d);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

float moe_vd_mxfp4_neon(int64_t n, const void *vw, const void *vx) {
    const block_mxfp4 *w = vw;
    const block_q8_0 *x = vx;
    const int8x16_t table = vld1q_s8(moe_kvalues_mxfp4);
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    for (int64_t b = 0; b < n / QK_MXFP4; b++) {
        const int32x4_t p = table_dot(table, w[b].qs, x[b].qs);
        const float d = moe_half_to_float(x[b].d) * moe_e8m0_to_float_half(w[b].e);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

#endif // MOE_NEON
