// Internal to CKernels: Q2_K, Q3_K and IQ4_XS (quantk_generic.c, quantk_avx2.c, quantk_neon.c).
// Dequantizers and dot products against Q8_K activations; signatures as in moe_internal.h.
#pragma once
#include "moe_internal.h"

// IQ4_XS shares IQ4_NL's code book, moe_kvalues_iq4nl (quant32.h).
#include "quant32.h"

// The 16 six-bit scales of a Q3_K block, unbiased (s - 32, in -32 ... 31), in sub-block order.
// Byte layout: see block_q3_K in moe_blocks.h.
static inline void moe_q3k_scales(const uint8_t *scales, int8_t out[16]) {
    for (int k = 0; k < 16; k++) {
        const int low = k < 8 ? scales[k] & 0xF : scales[k - 8] >> 4;
        const int high = (scales[8 + k % 4] >> (2 * (k / 4))) & 3;
        out[k] = (int8_t)((low | (high << 4)) - 32);
    }
}

// The exact integer sum Σ_k sc_k Σ_{l in k} v_l y_l of a Q3_K block against a Q8_K block (v = q2 − 4 + 4·hbit;
// the product is d·dx times it): the AVX-512 level's scalar dot and the x16 layout's reference share it.
static inline int moe_q3_K_isum(const block_q3_K *w, const block_q8_K *x) {
    int8_t sc[16];
    moe_q3k_scales(w->scales, sc);
    int s = 0;
    for (int k = 0; k < 16; k++) {
        const int h = k / 8, j = (k % 8) / 2, e = k % 2;
        const uint8_t *q = w->qs + 32 * h + 16 * e, *hm = w->hmask + 16 * e;
        const uint8_t bit = (uint8_t)(1u << (4 * h + j));
        int sub = 0;
        for (int l = 0; l < 16; l++) sub += (((q[l] >> (2 * j)) & 3) - (hm[l] & bit ? 0 : 4)) * x->qs[16 * k + l];
        s += sc[k] * sub;
    }
    return s;
}

// The exact integer sum Σ_k sc_k Σ_{l in k} (q_l − 32) y_l of a Q6_K block against a Q8_K block (the product is
// d·dx times it): the AVX-512 level's scalar dot and the x16 layout's reference share it.
static inline int moe_q6_K_isum(const block_q6_K *w, const block_q8_K *x) {
    int s = 0;
    for (int h = 0; h < 2; h++) {
        const uint8_t *ql = w->ql + 64 * h, *qh = w->qh + 32 * h;
        for (int l = 0; l < 32; l++) {
            const int e = 128 * h + l;
            const int q0 = ((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32, q1 = ((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q2 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32, q3 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            s += w->scales[e / 16] * q0 * x->qs[e] + w->scales[(e + 32) / 16] * q1 * x->qs[e + 32]
               + w->scales[(e + 64) / 16] * q2 * x->qs[e + 64] + w->scales[(e + 96) / 16] * q3 * x->qs[e + 96];
        }
    }
    return s;
}

// The 8 six-bit scales of an IQ4_XS block, unbiased (ls - 32, in -32 ... 31).
static inline void moe_iq4xs_scales(const block_iq4_xs *b, int8_t out[8]) {
    for (int ib = 0; ib < 8; ib++) {
        const int low = (b->scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF;
        const int high = (b->scales_h >> (2 * ib)) & 3;
        out[ib] = (int8_t)((low | (high << 4)) - 32);
    }
}

// The exact integer sum Σ_ib ls_ib Σ_{l in ib} v_l y_l of an IQ4_XS block against a Q8_K block (the product
// is d·dx times it): the AVX-512 level's scalar dot and the x16 layout's reference share it.
static inline int moe_iq4_xs_isum(const block_iq4_xs *w, const block_q8_K *x) {
    int8_t ls[8];
    moe_iq4xs_scales(w, ls);
    int s = 0;
    for (int ib = 0; ib < 8; ib++) {
        int sub = 0;
        for (int l = 0; l < 16; l++) {
            const uint8_t q = w->qs[16 * ib + l];
            sub += moe_kvalues_iq4nl[q & 0x0F] * x->qs[32 * ib + l] + moe_kvalues_iq4nl[q >> 4] * x->qs[32 * ib + 16 + l];
        }
        s += ls[ib] * sub;
    }
    return s;
}

void moe_dq_q2_K_generic(const void *src, float *dst, int64_t n);
void moe_dq_q3_K_generic(const void *src, float *dst, int64_t n);
void moe_dq_iq4_xs_generic(const void *src, float *dst, int64_t n);
float moe_vd_q2_K_generic(int64_t n, const void *w, const void *x);
float moe_vd_q3_K_generic(int64_t n, const void *w, const void *x);
float moe_vd_iq4_xs_generic(int64_t n, const void *w, const void *x);

#if MOE_X86
void moe_dq_q2_K_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q3_K_avx2(const void *src, float *dst, int64_t n);
void moe_dq_iq4_xs_avx2(const void *src, float *dst, int64_t n);
float moe_vd_q2_K_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q3_K_avx2(int64_t n, const void *w, const void *x);
float moe_vd_iq4_xs_avx2(int64_t n, const void *w, const void *x);
void moe_mmq_q2_K_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q3_K_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_iq4_xs_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
#endif

#if MOE_NEON
float moe_vd_q2_K_neon(int64_t n, const void *w, const void *x);
float moe_vd_q3_K_neon(int64_t n, const void *w, const void *x);
float moe_vd_iq4_xs_neon(int64_t n, const void *w, const void *x);
#endif
