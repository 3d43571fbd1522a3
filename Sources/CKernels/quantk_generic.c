// Scalar reference code for Q2_K, Q3_K and IQ4_XS: dequantization (ggml's dequantize_row_q2_K /
// _q3_K / _iq4_xs, the same float products in the same order, so numpy's gguf package gives these
// bits too) and dot products with Q8_K activations (exact integer sums per super-block, then one
// or two float terms per super-block into one accumulator, in block order, as quant_generic.c does
// for Q4_K...Q6_K). No contraction, so every compiler gives these bits.
#include "quantk_internal.h"

#pragma STDC FP_CONTRACT OFF

// ---------------------------------------------------------------------------------------------
// Dequantization. n counts elements (a whole number of 256-element blocks).

void moe_dq_q2_K_generic(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        const float dmin = moe_half_to_float(x[i].dmin);
        const uint8_t *sc = x[i].scales;
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) { // 32 elements: sub-blocks 8h + 2j (q[0..15]) and 8h + 2j + 1 (q[16..31])
                for (int e = 0; e < 2; e++) {
                    const uint8_t s = *sc++;
                    const float dl = d * (float)(s & 0xF), ml = dmin * (float)(s >> 4);
                    for (int l = 16 * e; l < 16 * e + 16; l++) *dst++ = dl * (float)((q[l] >> (2 * j)) & 3) - ml;
                }
            }
        }
    }
}

void moe_dq_q3_K_generic(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        int8_t sc[16];
        moe_q3k_scales(x[i].scales, sc);
        int k = 0; // sub-block
        for (int h = 0; h < 2; h++) {
            const uint8_t *q = x[i].qs + 32 * h;
            for (int j = 0; j < 4; j++) {
                const uint8_t bit = (uint8_t)(1u << (4 * h + j));
                for (int e = 0; e < 2; e++, k++) {
                    const float dl = d * (float)sc[k];
                    for (int l = 16 * e; l < 16 * e + 16; l++) {
                        const int v = ((q[l] >> (2 * j)) & 3) - (x[i].hmask[l] & bit ? 0 : 4);
                        *dst++ = dl * (float)v;
                    }
                }
            }
        }
    }
}

void moe_dq_iq4_xs_generic(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        int8_t ls[8];
        moe_iq4xs_scales(&x[i], ls);
        for (int ib = 0; ib < 8; ib++, dst += 32) {
            const float dl = d * (float)ls[ib];
            const uint8_t *q = x[i].qs + 16 * ib;
            for (int l = 0; l < 16; l++) {
                dst[l] = dl * (float)moe_kvalues_iq4nl[q[l] & 0xF];
                dst[l + 16] = dl * (float)moe_kvalues_iq4nl[q[l] >> 4];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Dot products with Q8_K activations. n counts elements of the row.

// Q2_K: a super-block gives d_w d_x Σ_k sc_k Σ_{l in k} q_l y_l - dmin_w d_x Σ_k m_k bsums[k],
// k over the 16 sub-blocks of 16 (a Q8_K bsum is exactly one sub-block's Σ y).
float moe_vd_q2_K_generic(int64_t n, const void *vw, const void *vx) {
    const block_q2_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int isum = 0, msum = 0;
        for (int k = 0; k < 16; k++) {
            const int h = k / 8, j = (k % 8) / 2, e = k % 2; // element 16k + l' = 128h + 32j + 16e + l'
            const uint8_t *q = w[b].qs + 32 * h + 16 * e;
            const int8_t *y = x[b].qs + 16 * k;
            int sub = 0;
            for (int l = 0; l < 16; l++) sub += ((q[l] >> (2 * j)) & 3) * y[l];
            isum += (w[b].scales[k] & 0xF) * sub;
            msum += (w[b].scales[k] >> 4) * x[b].bsums[k];
        }
        const float d = moe_half_to_float(w[b].d), dmin = moe_half_to_float(w[b].dmin);
        s += d * x[b].d * (float)isum - dmin * x[b].d * (float)msum;
    }
    return s;
}

// Q3_K: d_w d_x Σ_k (s_k - 32) Σ_{l in k} q_l y_l, q in -4 ... 3.
float moe_vd_q3_K_generic(int64_t n, const void *vw, const void *vx) {
    const block_q3_K *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t sc[16];
        moe_q3k_scales(w[b].scales, sc);
        int isum = 0;
        for (int k = 0; k < 16; k++) {
            const int h = k / 8, j = (k % 8) / 2, e = k % 2;
            const uint8_t *q = w[b].qs + 32 * h + 16 * e, *hm = w[b].hmask + 16 * e;
            const uint8_t bit = (uint8_t)(1u << (4 * h + j));
            const int8_t *y = x[b].qs + 16 * k;
            int sub = 0;
            for (int l = 0; l < 16; l++) sub += (((q[l] >> (2 * j)) & 3) - (hm[l] & bit ? 0 : 4)) * y[l];
            isum += sc[k] * sub;
        }
        s += moe_half_to_float(w[b].d) * x[b].d * (float)isum;
    }
    return s;
}

// IQ4_XS: d_w d_x Σ_ib (ls_ib - 32) Σ_{l in ib} kvalues[q_l] y_l, ib over the 8 sub-blocks of 32.
// |isum| ≤ 8 · 32 · 32 · 127 · 128 < 2³¹.
float moe_vd_iq4_xs_generic(int64_t n, const void *vw, const void *vx) {
    const block_iq4_xs *w = vw;
    const block_q8_K *x = vx;
    float s = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int8_t ls[8];
        moe_iq4xs_scales(&w[b], ls);
        int isum = 0;
        for (int ib = 0; ib < 8; ib++) {
            const uint8_t *q = w[b].qs + 16 * ib;
            const int8_t *y = x[b].qs + 32 * ib;
            int sub = 0;
            for (int l = 0; l < 16; l++) sub += moe_kvalues_iq4nl[q[l] & 0xF] * y[l] + moe_kvalues_iq4nl[q[l] >> 4] * y[l + 16];
            isum += ls[ib] * sub;
        }
        s += moe_half_to_float(w[b].d) * x[b].d * (float)isum;
    }
    return s;
}
