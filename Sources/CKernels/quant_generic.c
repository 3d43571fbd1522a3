// Scalar reference code for quantized activations: the quantizers, the dot products and the
// matrix product by dot products. Formulas and evaluation order are ggml's reference ones
// (quantize_row_*_ref, ggml_vec_dot_*_generic); integer sums are exact, one float accumulator
// takes the per-block terms in block order. No contraction, so every compiler gives these bits.
#include "moe_internal.h"
#include <math.h>

#pragma STDC FP_CONTRACT OFF

// ---------------------------------------------------------------------------------------------
// Activation quantizers. n counts elements (a whole number of blocks).

// Q8_0 / Q8_1 shared part: one block of 32 → codes, returns the float scale d.
static float quantize_block_q8(const float *x, int8_t *qs) {
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; j++) qs[j] = (int8_t)roundf(x[j] * id); // |x * id| ≤ 127 (+ rounding)
    return d;
}

void moe_qa_q8_0_generic(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) y[i].d = moe_float_to_half(quantize_block_q8(x, y[i].qs));
}

void moe_qa_q8_1_generic(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = quantize_block_q8(x, y[i].qs);
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) sum += y[i].qs[j];
        y[i].d = moe_float_to_half(d);
        y[i].s = moe_float_to_half((float)sum * d);
    }
}

// ggml's nearest_int: round half to even by adding 1.5 · 2²³ (|v| < 2²² here, |v| ≤ 127 in fact).
static inline int nearest_int(float v) {
    const float t = v + 12582912.0f;
    return (int)(moe_f32_bits(t) & 0x007FFFFFu) - 0x00400000;
}

void moe_qa_q8_K_generic(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f, max = 0.0f; // max: the first element of largest magnitude, with its sign
        for (int j = 0; j < QK_K; j++) {
            const float a = fabsf(x[j]);
            if (a > amax) { amax = a; max = x[j]; }
        }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            const int v = nearest_int(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1.0f / iscale;
    }
}

void moe_qa_f32_generic(const float *x, void *y, int64_t n) { memcpy(y, x, (size_t)n * sizeof(float)); }

// ---------------------------------------------------------------------------------------------
// Dot products. n counts elements of the row; blocks are n / block_size.

float moe_vd_f32_generic(int64_t n, const void *w, const void *x) { return moe_dot_f32_generic(w, x, n); }

float moe_vd_f16_generic(int64_t n, const void *vw, const void *vx) {
    const uint8_t *w = vw;
    const float *x = vx;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h; memcpy(&h, w + 2 * i, 2);
        s += moe_half_to_float(h) * x[i];
    }
    return s;
}

float moe_vd_bf16_generic(int64_t n, const void *vw, const void *vx) {
    const uint8_t *w = vw;
    const float *x = vx;
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h; memcpy(&h, w + 2 * i, 2);
        s += moe_bf16_to_float(h) * x[i];
    }
    return s;
}

// Σ (w.d * x.d) * Σ q_w q_x
float moe_vd_q8_0_generic(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += w[b].qs[j] * x[b].qs[j];
        s += (float)sumi * (moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d));
    }
    return s;
}

// Weight codes are nibble - 8: low nibbles are elements 0..15, high nibbles 16..31.
float moe_vd_q4_0_generic(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) {
        int sumi = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            sumi += ((w[b].qs[j] & 0x0F) - 8) * x[b].qs[j];
            sumi += ((w[b].qs[j] >> 4) - 8) * x[b].qs[j + QK4_0 / 2];
        }
        s += (float)sumi * moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d);
    }
    return s;
}

// x = d q + m per weight, so a block gives (d_w d_x) Σ q_w q_x + m_w (d_x Σ q_x) = ... + m_w s_x.
float moe_vd_q4_1_generic(int64_t n, const void *vw, const void *vx) {
    const block_q4_1 *w = vw;
    const block_q8_1 *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK4_1; b++) {
        int sumi = 0;
        for (int j = 0; j < QK4_1 / 2; j++) {
            sumi += (w[b].qs[j] & 0x0F) * x[b].qs[j];
            sumi += (w[b].qs[j] >> 4) * x[b].qs[j + QK4_1 / 2];
        }
        s += (moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d)) * (float)sumi
           + moe_half_to_float(w[b].m) * moe_half_to_float(x[b].s);
    }
    return s;
}

// Q4_K / Q5_K: a super-block gives d_w d_x Σ_k sc_k Σ_{l in k} q_l y_l - dmin_w d_x Σ_k m_k Σ_{l in k} y_l,
// k over the 8 sub-blocks of 32; Σ_{l in k} y_l = bsums[2k] + bsums[2k+1]. `qh` NULL for Q4_K.
static float dot_k4(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float d, float dmin,
                    const block_q8_K *x) {
    int isum = 0, msum = 0;
    for (int c = 0; c < 4; c++) { // chunk of 64 elements: sub-blocks 2c (low nibbles), 2c+1 (high)
        for (int e = 0; e < 2; e++) {
            const int k = 2 * c + e;
            uint8_t sc, m;
            moe_get_scale_min_k4(k, scales, &sc, &m);
            int sub = 0;
            for (int l = 0; l < 32; l++) {
                int q = e ? qs[32 * c + l] >> 4 : qs[32 * c + l] & 0x0F;
                if (qh != NULL && (qh[l] >> k) & 1) q += 16;
                sub += q * x->qs[32 * k + l];
            }
            isum += sc * sub;
            msum += m * (x->bsums[2 * k] + x->bsums[2 * k + 1]);
        }
    }
    return d * x->d * (float)isum - dmin * x->d * (float)msum;
}

float moe_vd_q4_K_generic(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++)
        s += dot_k4(w[b].scales, w[b].qs, NULL, moe_half_to_float(w[b].d), moe_half_to_float(w[b].dmin), &x[b]);
    return s;
}

float moe_vd_q5_K_generic(int64_t n, const void *vw, const void *vx) {
    const block_q5_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++)
        s += dot_k4(w[b].scales, w[b].qs, w[b].qh, moe_half_to_float(w[b].d), moe_half_to_float(w[b].dmin), &x[b]);
    return s;
}

// Q6_K: 16 sub-blocks of 16 with int8 scales; codes 0..63 stand for q - 32. A super-block gives
// d_w d_x Σ_k sc_k Σ_{l in k} (q_l - 32) y_l. Element layout: see block_q6_K in moe_blocks.h.
float moe_vd_q6_K_generic(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int q[QK_K];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
            int *o = q + 128 * h;
            for (int l = 0; l < 32; l++) {
                o[l] = (int)((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                o[l + 32] = (int)((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                o[l + 64] = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                o[l + 96] = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            }
        }
        int isum = 0;
        for (int k = 0; k < QK_K / 16; k++) {
            int sub = 0;
            for (int l = 0; l < 16; l++) sub += q[16 * k + l] * x[b].qs[16 * k + l];
            isum += w[b].scales[k] * sub;
        }
        s += moe_half_to_float(w[b].d) * x[b].d * (float)isum;
    }
    return s;
}

// ---------------------------------------------------------------------------------------------
// Matrix product by dot products: rows outer (a weight row stays in L1 while every token uses it).

void moe_mmq_by_dots(moe_vdot_fn dot, int64_t M, int64_t N, int64_t K, const void *W, size_t wStride,
                     const void *X, size_t xStride, float *Y, int64_t ldy) {
    for (int64_t m = 0; m < M; m++) {
        const void *w = (const char *)W + (size_t)m * wStride;
        for (int64_t j = 0; j < N; j++) Y[j * ldy + m] = dot(K, w, (const char *)X + (size_t)j * xStride);
    }
}
