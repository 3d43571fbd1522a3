// IQ4_NL and IQ4_XS quantization: ggml's quantize_row_iq4_nl_impl transcribed (ggml-quants.c), so that without
// weights the bytes are llama-quantize's without an importance matrix, and with weights what it writes with one.
// Per 32-element block: the scale d = max / -127 and 15 neighbouring scales are tried (ntry = 7), each element
// mapped to the nearest of the 16 table values, keeping the scale with the best weighted least-squares fit;
// IQ4_XS then stores the 8 blocks' scales as 6-bit multiples of one f16 super-block scale and maps again.
#include <math.h>
#include <string.h>
#include "moe_internal.h"
#include "moe_quantize.h"
#include "moe_quantize_k.h"
#include "quant32.h"

#pragma STDC FP_CONTRACT OFF

enum { IQ4_NTRY = 7 };
static const float GROUP_MAX_EPS = 1e-15f;

// ggml's nearest_int: round to nearest, ties to even (|f| < 2^22).
static inline int nearest_int(float f) {
    float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

// Index of the table value nearest x (the upper one on ties, as ggml's best_index_int8).
static inline int best_index_int8(int n, const int8_t *val, float x) {
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        const int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav; else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

// One super-block of `super` elements in blocks of 32 (super = 32: IQ4_NL, one block; 256: IQ4_XS).
static void iq4_impl(int super, const float *x, ggml_half *dh, uint8_t *q4, uint16_t *scales_h, uint8_t *scales_l,
                     const float *quant_weights) {
    const int8_t *values = moe_kvalues_iq4nl;
    float scales[QK_K / 32], weight[32];
    uint8_t L[QK_K];
    float sigma2 = 0;
    for (int j = 0; j < super; ++j) sigma2 += x[j] * x[j];
    sigma2 *= 2.f / super;
    memset(q4, 0, (size_t)super / 2);
    *dh = moe_f32_to_f16(0.f);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < super / 32; ++ib) {
        const float *xb = x + 32 * ib;
        uint8_t *Lb = L + 32 * ib;
        if (quant_weights) {
            const float *qw = quant_weights + 32 * ib;
            for (int j = 0; j < 32; ++j) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        } else {
            for (int j = 0; j < 32; ++j) weight[j] = xb[j] * xb[j];
        }
        float amax = 0, max = 0;
        for (int j = 0; j < 32; ++j) {
            const float ax = fabsf(xb[j]);
            if (ax > amax) { amax = ax; max = xb[j]; }
        }
        if (amax < GROUP_MAX_EPS) {
            scales[ib] = 0;
            memset(Lb, 0, 32);
            continue;
        }
        float d = -max / values[0];
        float id = 1 / d;
        float sumqx = 0, sumq2 = 0;
        for (int j = 0; j < 32; ++j) {
            const int l = best_index_int8(16, values, id * xb[j]);
            Lb[j] = (uint8_t)l;
            const float q = values[l], w = weight[j];
            sumqx += w * q * xb[j];
            sumq2 += w * q * q;
        }
        d = sumqx / sumq2;
        float best = d * sumqx;
        for (int itry = -IQ4_NTRY; itry <= IQ4_NTRY; ++itry) {
            id = (itry + values[0]) / max;
            sumqx = sumq2 = 0;
            for (int j = 0; j < 32; ++j) {
                const int l = best_index_int8(16, values, id * xb[j]);
                const float q = values[l], w = weight[j];
                sumqx += w * q * xb[j];
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        const float abs_d = fabsf(d);
        if (abs_d > amax_scale) { amax_scale = abs_d; max_scale = d; }
    }
    if (super > 32) {
        *scales_h = 0;
        const float d = -max_scale / 32;
        *dh = moe_f32_to_f16(d);
        const float id = d ? 1 / d : 0.f;
        for (int ib = 0; ib < super / 32; ++ib) {
            int l = nearest_int(id * scales[ib]);
            l = l < -32 ? -32 : l > 31 ? 31 : l;
            const float dl = d * l, idl = dl ? 1 / dl : 0.f;
            uint8_t *Lb = L + 32 * ib;
            const float *xb = x + 32 * ib;
            for (int j = 0; j < 32; ++j) Lb[j] = (uint8_t)best_index_int8(16, values, idl * xb[j]);
            l += 32;
            const uint8_t l_l = (uint8_t)(l & 0xf), l_h = (uint8_t)(l >> 4);
            if (ib % 2 == 0) scales_l[ib / 2] = l_l;
            else scales_l[ib / 2] |= (uint8_t)(l_l << 4);
            *scales_h |= (uint16_t)(l_h << 2 * (ib % 16));
        }
    } else {
        *dh = moe_f32_to_f16(scales[0]);
        const float id = scales[0] ? 1 / scales[0] : 0;
        for (int j = 0; j < super; ++j) L[j] = (uint8_t)best_index_int8(16, values, id * x[j]);
    }
    for (int i = 0; i < super / 32; ++i)
        for (int j = 0; j < 16; ++j) q4[16 * i + j] = (uint8_t)(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

int moe_quantize_iq4(int type, const float *x, void *dst, int64_t n, const float *w) {
    if (type == MOE_TYPE_IQ4_NL) {
        if (n % QK4_NL != 0) return -1;
        block_iq4_nl *y = dst;
        uint16_t unused_h;
        for (int64_t i = 0; i < n / QK4_NL; i++)
            iq4_impl(QK4_NL, x + QK4_NL * i, &y[i].d, y[i].qs, &unused_h, NULL, w ? w + QK4_NL * i : NULL);
        return 0;
    }
    if (type == MOE_TYPE_IQ4_XS) {
        if (n % QK_K != 0) return -1;
        block_iq4_xs *y = dst;
        for (int64_t i = 0; i < n / QK_K; i++)
            iq4_impl(QK_K, x + QK_K * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l, w ? w + QK_K * i : NULL);
        return 0;
    }
    return -1;
}
