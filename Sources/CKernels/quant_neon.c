// NEON quantized-activation kernels for AArch64: the quantizers (same bits as the generic code)
// and the dot products. The matrix product on ARM is the dot product per output, rows outer
// (moe_mmq_by_dots), so its results equal these dot products bit for bit.
//
// Integer parts are exact: codes are widened or multiplied as signed bytes (Q4_0: nibble - 8,
// Q6_K: code - 32, all within int8), with SDOT where the target has it (__ARM_FEATURE_DOTPROD,
// e.g. every Apple core) and SMULL + SADALP otherwise. Float parts keep 4-lane partial sums in two
// chains (even and odd blocks), so they differ from the generic code by rounding only.
#include "moe_internal.h"

#if MOE_NEON
#include <arm_neon.h>
#include <math.h>

#pragma STDC FP_CONTRACT OFF

// acc + the 4 partial sums of a[k] * b[k] over 16 signed bytes (lane l sums k = 4l ..< 4l+4 with
// SDOT; some other grouping without it: only the total is used).
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b) {
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
#endif
}

// ---------------------------------------------------------------------------------------------
// Activation quantizers (same float operations as quant_generic.c, so the same bits).

// One block of 32: codes into qs, returns d. vcvtaq rounds halves away from zero, as roundf.
static inline float q8_block(const float *x, int8_t *qs) {
    float32x4_t v[8];
    float32x4_t m = vdupq_n_f32(0.0f);
    for (int k = 0; k < 8; k++) {
        v[k] = vld1q_f32(x + 4 * k);
        m = vmaxq_f32(m, vabsq_f32(v[k]));
    }
    const float d = vmaxvq_f32(m) / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int k = 0; k < 8; k += 2) {
        const int32x4_t a = vcvtaq_s32_f32(vmulq_n_f32(v[k], id));
        const int32x4_t b = vcvtaq_s32_f32(vmulq_n_f32(v[k + 1], id));
        const int16x8_t h = vcombine_s16(vqmovn_s32(a), vqmovn_s32(b));
        vst1_s8(qs + 4 * k, vqmovn_s16(h));
    }
    return d;
}

void moe_qa_q8_0_neon(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) y[i].d = moe_float_to_half(q8_block(x, y[i].qs));
}

void moe_qa_q8_1_neon(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = q8_block(x, y[i].qs);
        const int sum = vaddlvq_s8(vld1q_s8(y[i].qs)) + vaddlvq_s8(vld1q_s8(y[i].qs + 16));
        y[i].d = moe_float_to_half(d);
        y[i].s = moe_float_to_half((float)sum * d);
    }
}

void moe_qa_q8_K_neon(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float32x4_t m = vdupq_n_f32(0.0f);
        for (int k = 0; k < QK_K; k += 4) m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + k)));
        const float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        int first = 0; // the first element of largest magnitude gives the sign
        while (fabsf(x[first]) != amax) first++;
        const float iscale = -127.0f / x[first];
        for (int k = 0; k < QK_K; k += 16) {
            int32x4_t v[4];
            // vcvtnq rounds half to even, as nearest_int; the narrowing saturates at 127 as min(127, v).
            for (int e = 0; e < 4; e++) v[e] = vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(x + k + 4 * e), iscale));
            const int16x8_t lo = vcombine_s16(vqmovn_s32(v[0]), vqmovn_s32(v[1]));
            const int16x8_t hi = vcombine_s16(vqmovn_s32(v[2]), vqmovn_s32(v[3]));
            const int8x16_t q = vcombine_s8(vqmovn_s16(lo), vqmovn_s16(hi));
            vst1q_s8(y[i].qs + k, q);
            y[i].bsums[k / 16] = (int16_t)vaddlvq_s8(q);
        }
        y[i].d = 1.0f / iscale;
    }
}

// ---------------------------------------------------------------------------------------------
// Half-precision weights · float activations.

float moe_vd_f16_neon(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw;
    const float *x = vx;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(w + i);
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h))), vld1q_f32(x + i));
        s1 = vfmaq_f32(s1, vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h))), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += moe_half_to_float(w[i]) * x[i];
    return s;
}

float moe_vd_bf16_neon(int64_t n, const void *vw, const void *vx) {
    const uint16_t *w = vw;
    const float *x = vx;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t h = vld1q_u16(w + i);
        s0 = vfmaq_f32(s0, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16)), vld1q_f32(x + i));
        s1 = vfmaq_f32(s1, vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16)), vld1q_f32(x + i + 4));
    }
    float s = vaddvq_f32(vaddq_f32(s0, s1));
    for (; i < n; i++) s += moe_bf16_to_float(w[i]) * x[i];
    return s;
}

// ---------------------------------------------------------------------------------------------
// 32-element blocks. acc[b & 1] += scale * (the block's 4 integer partial sums).

float moe_vd_q8_0_neon(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx;
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int32x4_t p = dot16(vdupq_n_s32(0), vld1q_s8(w[b].qs), vld1q_s8(x[b].qs));
        p = dot16(p, vld1q_s8(w[b].qs + 16), vld1q_s8(x[b].qs + 16));
        const float d = moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

float moe_vd_q4_0_neon(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    const int8x16_t eight = vdupq_n_s8(8);
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    for (int64_t b = 0; b < n / QK4_0; b++) {
        const uint8x16_t raw = vld1q_u8(w[b].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(raw, m4)), eight); // elements 0..15
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(raw, 4)), eight); // elements 16..31
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(x[b].qs));
        p = dot16(p, hi, vld1q_s8(x[b].qs + 16));
        const float d = moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1]));
}

float moe_vd_q4_1_neon(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw;
    const block_q8_1 *x = vx;
    const uint8x16_t m4 = vdupq_n_u8(0x0F);
    float32x4_t acc[2] = { vdupq_n_f32(0), vdupq_n_f32(0) };
    float summ = 0.0f; // Σ m_w * s_x
    for (int64_t b = 0; b < n / QK4_1; b++) {
        const uint8x16_t raw = vld1q_u8(w[b].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vandq_u8(raw, m4));
        const int8x16_t hi = vreinterpretq_s8_u8(vshrq_n_u8(raw, 4));
        int32x4_t p = dot16(vdupq_n_s32(0), lo, vld1q_s8(x[b].qs));
        p = dot16(p, hi, vld1q_s8(x[b].qs + 16));
        const float d = moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d);
        acc[b & 1] = vfmaq_n_f32(acc[b & 1], vcvtq_f32_s32(p), d);
        summ += moe_half_to_float(w[b].m) * moe_half_to_float(x[b].s);
    }
    return vaddvq_f32(vaddq_f32(acc[0], acc[1])) + summ;
}

// ---------------------------------------------------------------------------------------------
// K-quants against Q8_K: per super-block an int32x4 of scaled sums, then one float multiply-add.

// Q4_K / Q5_K (qh NULL for Q4_K). Returns the super-block's minimum term dmin_w * d_x * Σ m_k sum_k
// through *mterm and adds d_w * d_x * Σ sc_k Σ q y to *acc.
static inline void dot_k45_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float d, float dmin,
                                 const block_q8_K *x, float32x4_t *acc, float *mterm) {
    const uint8x16_t m4 = vdupq_n_u8(0x0F), b16 = vdupq_n_u8(16);
    int32x4_t isum = vdupq_n_s32(0);
    int msum = 0;
    uint8x16_t h0 = vdupq_n_u8(0), h1 = h0;
    if (qh != NULL) { h0 = vld1q_u8(qh); h1 = vld1q_u8(qh + 16); }
    for (int c = 0; c < 4; c++) {
        const uint8x16_t r0 = vld1q_u8(qs + 32 * c), r1 = vld1q_u8(qs + 32 * c + 16);
        for (int e = 0; e < 2; e++) {
            const int k = 2 * c + e;
            uint8x16_t q0 = e ? vshrq_n_u8(r0, 4) : vandq_u8(r0, m4);
            uint8x16_t q1 = e ? vshrq_n_u8(r1, 4) : vandq_u8(r1, m4);
            if (qh != NULL) { // bit k of qh[l] is the fifth bit of element l of sub-block k
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << k));
                q0 = vorrq_u8(q0, vandq_u8(vtstq_u8(h0, bit), b16));
                q1 = vorrq_u8(q1, vandq_u8(vtstq_u8(h1, bit), b16));
            }
            int32x4_t p = dot16(vdupq_n_s32(0), vreinterpretq_s8_u8(q0), vld1q_s8(x->qs + 32 * k));
            p = dot16(p, vreinterpretq_s8_u8(q1), vld1q_s8(x->qs + 32 * k + 16));
            uint8_t sc, m;
            moe_get_scale_min_k4(k, scales, &sc, &m);
            isum = vmlaq_n_s32(isum, p, sc);
            msum += m * (x->bsums[2 * k] + x->bsums[2 * k + 1]);
        }
    }
    *acc = vfmaq_n_f32(*acc, vcvtq_f32_s32(isum), d * x->d);
    *mterm += dmin * x->d * (float)msum;
}

float moe_vd_q4_K_neon(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float32x4_t acc = vdupq_n_f32(0);
    float mterm = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++)
        dot_k45_block(w[b].scales, w[b].qs, NULL, moe_half_to_float(w[b].d), moe_half_to_float(w[b].dmin), &x[b], &acc, &mterm);
    return vaddvq_f32(acc) - mterm;
}

float moe_vd_q5_K_neon(int64_t n, const void *vw, const void *vx) {
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    float32x4_t acc = vdupq_n_f32(0);
    float mterm = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++)
        dot_k45_block(w[b].scales, w[b].qs, w[b].qh, moe_half_to_float(w[b].d), moe_half_to_float(w[b].dmin), &x[b], &acc, &mterm);
    return vaddvq_f32(acc) - mterm;
}

// Q6_K: signed codes (q - 32) per group of 32, each half of the group with its own scale.
float moe_vd_q6_K_neon(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    const uint8x16_t m4 = vdupq_n_u8(0x0F), m3 = vdupq_n_u8(0x03);
    const int8x16_t off = vdupq_n_s8(32);
    float32x4_t acc = vdupq_n_f32(0);
    for (int64_t b = 0; b < n / QK_K; b++) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            for (int half = 0; half < 2; half++) { // l = 16 half ..< 16 half + 16 of the 32 lanes
                const uint8x16_t a = vld1q_u8(ql + 16 * half), c = vld1q_u8(ql + 32 + 16 * half);
                const uint8x16_t hb = vld1q_u8(qh + 16 * half);
                uint8x16_t q[4];
                q[0] = vorrq_u8(vandq_u8(a, m4), vshlq_n_u8(vandq_u8(hb, m3), 4));
                q[1] = vorrq_u8(vandq_u8(c, m4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 2), m3), 4));
                q[2] = vorrq_u8(vshrq_n_u8(a, 4), vshlq_n_u8(vandq_u8(vshrq_n_u8(hb, 4), m3), 4));
                q[3] = vorrq_u8(vshrq_n_u8(c, 4), vshlq_n_u8(vshrq_n_u8(hb, 6), 4));
                for (int g = 0; g < 4; g++) { // group g: elements 128h + 32g + 16 half + (0 ..< 16)
                    const int k = 8 * h + 2 * g + half; // sub-block of 16
                    const int8x16_t s = vsubq_s8(vreinterpretq_s8_u8(q[g]), off);
                    const int32x4_t p = dot16(vdupq_n_s32(0), s, vld1q_s8(x[b].qs + 16 * k));
                    isum = vmlaq_n_s32(isum, p, w[b].scales[k]);
                }
            }
        }
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(isum), moe_half_to_float(w[b].d) * x[b].d);
    }
    return vaddvq_f32(acc);
}

#endif // MOE_NEON
