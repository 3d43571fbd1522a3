// Scalar reference code for Q5_0, Q5_1, IQ4_NL and MXFP4: dequantizers (ggml's dequantize_row_*,
// gguf-py's numpy dequantizers: the same bits) and dot products with Q8_0 / Q8_1 activations (ggml's
// ggml_vec_dot_*_generic: exact integer sums, one float term per block in block order).
// No contraction, so every compiler gives these bits.
#include "quant32.h"

#pragma STDC FP_CONTRACT OFF

// ---------------------------------------------------------------------------------------------
// Dequantization. n counts elements (a whole number of 32-element blocks).

void moe_dq_q5_0_generic(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0) {
        const float d = moe_half_to_float(x[i].d);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK5_0 / 2; j++) {
            dst[j] = (float)(((x[i].qs[j] & 0x0F) | moe_q5_high(qh, j)) - 16) * d;
            dst[j + QK5_0 / 2] = (float)(((x[i].qs[j] >> 4) | moe_q5_high(qh, j + 16)) - 16) * d;
        }
    }
}

void moe_dq_q5_1_generic(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        const float d = moe_half_to_float(x[i].d);
        const float m = moe_half_to_float(x[i].m);
        uint32_t qh;
        memcpy(&qh, x[i].qh, 4);
        for (int j = 0; j < QK5_1 / 2; j++) {
            dst[j] = (float)((x[i].qs[j] & 0x0F) | moe_q5_high(qh, j)) * d + m;
            dst[j + QK5_1 / 2] = (float)((x[i].qs[j] >> 4) | moe_q5_high(qh, j + 16)) * d + m;
        }
    }
}

void moe_dq_iq4_nl_generic(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / QK4_NL; i++, dst += QK4_NL) {
        const float d = moe_half_to_float(x[i].d);
        for (int j = 0; j < QK4_NL / 2; j++) {
            dst[j] = d * (float)moe_kvalues_iq4nl[x[i].qs[j] & 0x0F];
            dst[j + QK4_NL / 2] = d * (float)moe_kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

// Every value is a power of two times a small integer: exact (or ±inf for e = 0xFF, see quant32.h).
void moe_dq_mxfp4_generic(const void *src, float *dst, int64_t n) {
    const block_mxfp4 *x = src;
    for (int64_t i = 0; i < n / QK_MXFP4; i++, dst += QK_MXFP4) {
        const float d = moe_e8m0_to_float_half(x[i].e);
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            dst[j] = (float)moe_kvalues_mxfp4[x[i].qs[j] & 0x0F] * d;
            dst[j + QK_MXFP4 / 2] = (float)moe_kvalues_mxfp4[x[i].qs[j] >> 4] * d;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products with one activation row. Elements j and j + 16 of a block share byte j of qs.

// Σ (d_w d_x) Σ (q - 16) y
float moe_vd_q5_0_generic(int64_t n, const void *vw, const void *vx) {
    const block_q5_0 *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK5_0; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            sumi += (((w[b].qs[j] & 0x0F) | moe_q5_high(qh, j)) - 16) * x[b].qs[j];
            sumi += (((w[b].qs[j] >> 4) | moe_q5_high(qh, j + 16)) - 16) * x[b].qs[j + QK5_0 / 2];
        }
        s += (moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d)) * (float)sumi;
    }
    return s;
}

// x = d q + m per weight: (d_w d_x) Σ q y + m_w s_x, as Q4_1.
float moe_vd_q5_1_generic(int64_t n, const void *vw, const void *vx) {
    const block_q5_1 *w = vw;
    const block_q8_1 *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK5_1; b++) {
        uint32_t qh;
        memcpy(&qh, w[b].qh, 4);
        int sumi = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            sumi += ((w[b].qs[j] & 0x0F) | moe_q5_high(qh, j)) * x[b].qs[j];
            sumi += ((w[b].qs[j] >> 4) | moe_q5_high(qh, j + 16)) * x[b].qs[j + QK5_1 / 2];
        }
        s += (moe_half_to_float(w[b].d) * moe_half_to_float(x[b].d)) * (float)sumi
           + moe_half_to_float(w[b].m) * moe_half_to_float(x[b].s);
    }
    return s;
}

// Σ (d_x d_w) Σ table[index] y: IQ4_NL with the f16 d, MXFP4 with the halved E8M0 scale.
float moe_vd_iq4_nl_generic(int64_t n, const void *vw, const void *vx) {
    const block_iq4_nl *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK4_NL; b++) {
        const float d = moe_half_to_float(x[b].d) * moe_half_to_float(w[b].d);
        int sumi = 0;
        for (int j = 0; j < QK4_NL / 2; j++) {
            sumi += moe_kvalues_iq4nl[w[b].qs[j] & 0x0F] * x[b].qs[j];
            sumi += moe_kvalues_iq4nl[w[b].qs[j] >> 4] * x[b].qs[j + QK4_NL / 2];
        }
        s += d * (float)sumi;
    }
    return s;
}

float moe_vd_mxfp4_generic(int64_t n, const void *vw, const void *vx) {
    const block_mxfp4 *w = vw;
    const block_q8_0 *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_MXFP4; b++) {
        const float d = moe_half_to_float(x[b].d) * moe_e8m0_to_float_half(w[b].e);
        int sumi = 0;
        for (int j = 0; j < QK_MXFP4 / 2; j++) {
            sumi += moe_kvalues_mxfp4[w[b].qs[j] & 0x0F] * x[b].qs[j];
            sumi += moe_kvalues_mxfp4[w[b].qs[j] >> 4] * x[b].qs[j + QK_MXFP4 / 2];
        }
        s += d * (float)sumi;
    }
    return s;
}
