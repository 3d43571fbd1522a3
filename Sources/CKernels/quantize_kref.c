// ggml's quantizers for Q2_K, Q3_K, Q4_K, Q5_K, Q5_0, Q5_1 and MXFP4 (ggml-quants.c), transcribed with the same
// arithmetic in the same order: without weights (`*_ref`) the bytes llama-quantize writes without an importance
// matrix; with weights (`quantize_row_*_impl`) what it writes with one. See moe_quantize_k.h.
// Our own error-minimising search over the same formats is in quantize_kopt.c.
#include <float.h>
#include <math.h>
#include <string.h>
#include "moe_quantize.h"
#include "moe_quantize_k.h"
#include "moe_kernels.h"
#include "moe_internal.h"
#include "quant32.h"

// No fused multiply-add: the bytes must not depend on the CPU or compiler (ggml's reference has none either).
#pragma STDC FP_CONTRACT OFF

#define GROUP_MAX_EPS 1e-15f
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// ---- ggml's scale searches ----

// Q3_K's sub-block search (ggml's make_q3_quants with do_rmse): codes moved one at a time while that raises
// the explained part of Σ x²·x².
static float q3_quants(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = MAX(-nmax, MIN(nmax - 1, l));
        L[i] = (int8_t)l;
        float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = MAX(-nmax, MIN(nmax - 1, new_l));
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric codes in [0, nmax] with a scale and a (non-positive) minimum, trying nstep + 1 scales; errors
// weighted by `weights` (NULL: x²), absolute (use_mad) or squared. ggml's make_qkx2_quants (weights given,
// sum_w starting from weights[0]) and make_qkx3_quants (weights may be NULL; `max <= min` test) differ only
// in those two points, selected by `qkx3`.
static float qkx_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *the_min, uint8_t *Laux,
                        float rmin, float rdelta, int nstep, int use_mad, int qkx3) {
    float min = x[0], max = x[0];
    float sum_w = weights ? weights[0] : x[0] * x[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights ? weights[i] : x[i] * x[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (qkx3 ? max <= min : max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)MAX(0, MIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        float w = weights ? weights[i] : x[i] * x[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = MAX(0, MIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights ? weights[i] : x[i] * x[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                float w = weights ? weights[i] : x[i] * x[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

// Non-negative codes in [0, nmax] for the sub-block scales (or mins) themselves, weighted (ggml's make_qp_quants).
static float qp_quants(int n, int nmax, const float *x, uint8_t *L, const float *quant_weights) {
    float max = 0;
    for (int i = 0; i < n; ++i) max = MAX(max, x[i]);
    if (max < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = nmax / max;
    for (int i = 0; i < n; ++i) L[i] = (uint8_t)nearest_int(iscale * x[i]);
    float scale = 1 / iscale;
    float best_mse = 0;
    for (int i = 0; i < n; ++i) {
        float diff = x[i] - scale * L[i];
        float w = quant_weights[i];
        best_mse += w * diff * diff;
    }
    for (int is = -4; is <= 4; ++is) {
        if (is == 0) continue;
        float iscale_is = (0.1f * is + nmax) / max;
        float scale_is = 1 / iscale_is;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale_is * x[i]);
            l = MIN(nmax, l);
            float diff = x[i] - scale_is * l;
            float w = quant_weights[i];
            mse += w * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_is;
        }
    }
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = MIN(nmax, l);
        L[i] = (uint8_t)l;
        float w = quant_weights[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
        int n_changed = 0;
        for (int i = 0; i < n; ++i) {
            float w = quant_weights[i];
            float slx = sumlx - w * x[i] * L[i];
            float sl2 = suml2 - w * L[i] * L[i];
            if (slx > 0 && sl2 > 0) {
                int new_l = nearest_int(x[i] * sl2 / slx);
                new_l = MIN(nmax, new_l);
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        ++n_changed;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// ---- packing (shared with quantize_kopt.c through moe_quantize_k.h) ----

void moe_pack_q4_K_scales(uint8_t *scales, const uint8_t *ls, const uint8_t *lm) {
    for (int j = 0; j < QK_K / 32; ++j) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j - 0] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

void moe_pack_q3_K_scales(uint8_t *scales, const int8_t *biased) {
    memset(scales, 0, 12);
    for (int j = 0; j < QK_K / 16; ++j) {
        int l = biased[j];
        if (j < 8) scales[j] = (uint8_t)(l & 0xF);
        else scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
        l >>= 4;
        scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
    }
}

static inline void scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
    }
}

static inline int q3_scale(const uint8_t *scales, int j) {
    int sc = j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4;
    return (sc | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

// Codes L (0…3 for Q2_K, 0…7 for Q3_K with the high bit split off into hmask) into the 2-bit layout.
static void pack_2bit(uint8_t *qs, const uint8_t *L) {
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

void moe_pack_q2_K_codes(block_q2_K *y, const uint8_t *L) { pack_2bit(y->qs, L); }

void moe_pack_q3_K_codes(block_q3_K *y, const uint8_t *L0) {
    uint8_t L[QK_K];
    memcpy(L, L0, QK_K);
    memset(y->hmask, 0, QK_K / 8);
    int m = 0;
    uint8_t hm = 1;
    for (int j = 0; j < QK_K; ++j) {
        if (L[j] > 3) {
            y->hmask[m] |= hm;
            L[j] -= 4;
        }
        if (++m == QK_K / 8) {
            m = 0;
            hm <<= 1;
        }
    }
    pack_2bit(y->qs, L);
}

void moe_pack_q4_K_codes(block_q4_K *y, const uint8_t *L) {
    uint8_t *q = y->qs;
    for (int j = 0; j < QK_K; j += 64) {
        for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
        q += 32;
    }
}

void moe_pack_q5_K_codes(block_q5_K *y, const uint8_t *L) {
    uint8_t *qh = y->qh, *ql = y->qs;
    memset(qh, 0, QK_K / 8);
    uint8_t m1 = 1, m2 = 2;
    for (int n = 0; n < QK_K; n += 64) {
        for (int j = 0; j < 32; ++j) {
            int l1 = L[n + j];
            if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
            int l2 = L[n + j + 32];
            if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
            ql[j] = (uint8_t)(l1 | (l2 << 4));
        }
        m1 <<= 2;
        m2 <<= 2;
        ql += 32;
    }
}

// Q5_0 / Q5_1: codes 0…31, low nibbles as Q4_0's, fifth bits in qh.
void moe_pack_q5_codes(uint8_t *qs, uint8_t *qh4, const uint8_t *L) {
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
        const uint8_t xi0 = L[j], xi1 = L[j + 16];
        qs[j] = (uint8_t)((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
        qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
        qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
    }
    memcpy(qh4, &qh, 4);
}

// ---- reference (no importance weights): quantize_row_*_ref ----

void moe_quantize_ref_q5_0(const float *x, block_q5_0 *y, int64_t k) {
    const int qk = QK5_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < qk; j++) {
            const float v = x[i * qk + j];
            if (amax < fabsf(v)) { amax = fabsf(v); max = v; }
        }
        const float d = max / -16;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = moe_f32_to_f16(d);
        uint8_t L[32];
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = x[i * qk + 0 + j] * id;
            const float x1 = x[i * qk + qk / 2 + j] * id;
            L[j] = (uint8_t)MIN(31, (int8_t)(x0 + 16.5f));
            L[j + 16] = (uint8_t)MIN(31, (int8_t)(x1 + 16.5f));
        }
        moe_pack_q5_codes(y[i].qs, y[i].qh, L);
    }
}

void moe_quantize_ref_q5_1(const float *x, block_q5_1 *y, int64_t k) {
    const int qk = QK5_1;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; i++) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < qk; j++) {
            const float v = x[i * qk + j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        const float d = (max - min) / ((1 << 5) - 1);
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = moe_f32_to_f16(d);
        y[i].m = moe_f32_to_f16(min);
        uint8_t L[32];
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = (x[i * qk + 0 + j] - min) * id;
            const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
            L[j] = (uint8_t)(x0 + 0.5f);
            L[j + 16] = (uint8_t)(x1 + 0.5f);
        }
        moe_pack_q5_codes(y[i].qs, y[i].qh, L);
    }
}

// The code whose value kvalues·e is nearest x, the first on ties (ggml's best_index_mxfp4).
int moe_mxfp4_best_index(float x, float e) {
    int best_index = 0;
    float best_err = fabsf(moe_kvalues_mxfp4[0] * e - x);
    for (int i = 1; i < 16; i++) {
        float err = fabsf(moe_kvalues_mxfp4[i] * e - x);
        if (err < best_err) {
            best_index = i;
            best_err = err;
        }
    }
    return best_index;
}

void moe_quantize_ref_mxfp4(const float *x, block_mxfp4 *y, int64_t k) {
    const int qk = QK_MXFP4;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; i++) {
        float amax = 0.0f;
        for (int j = 0; j < qk; j++) {
            const float v = x[i * qk + j];
            if (amax < fabsf(v)) amax = fabsf(v);
        }
        const uint8_t e = amax > 0.0f ? (uint8_t)(floorf(log2f(amax)) - 2 + 127) : 0;
        const float d = moe_e8m0_to_float_half(e);
        y[i].e = e;
        for (int j = 0; j < qk / 2; ++j) {
            const uint8_t x0 = (uint8_t)moe_mxfp4_best_index(x[i * qk + 0 + j], d);
            const uint8_t x1 = (uint8_t)moe_mxfp4_best_index(x[i * qk + qk / 2 + j], d);
            y[i].qs[j] = (uint8_t)(x0 | (x1 << 4));
        }
    }
}

void moe_quantize_ref_q2_K(const float *x, block_q2_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < nb; i++) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = qkx_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 1, 0);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = moe_f32_to_f16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = 0;
            y[i].d = moe_f32_to_f16(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] |= (uint8_t)(nearest_int(iscale * mins[j]) << 4);
            y[i].dmin = moe_f32_to_f16(max_min / q4scale);
        } else {
            y[i].dmin = moe_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = moe_f16_to_f32(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = moe_f16_to_f32(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)MAX(0, MIN(3, l));
            }
        }
        pack_2bit(y[i].qs, L);
        x += QK_K;
    }
}

void moe_quantize_ref_q3_K(const float *x, block_q3_K *y, int64_t k) {
    const int64_t nb = k / QK_K;
    int8_t L[QK_K], ls[QK_K / 16];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < nb; i++) {
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            scales[j] = q3_quants(16, 4, x + 16 * j, L + 16 * j);
            float scale = fabsf(scales[j]);
            if (scale > amax) { amax = scale; max_scale = scales[j]; }
        }
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                ls[j] = (int8_t)(MAX(-32, MIN(31, l)) + 32);
            }
            moe_pack_q3_K_scales(y[i].scales, ls);
            y[i].d = moe_f32_to_f16(1 / iscale);
        } else {
            memset(y[i].scales, 0, 12);
            y[i].d = moe_f32_to_f16(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = moe_f16_to_f32(y[i].d) * q3_scale(y[i].scales, j);
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(MAX(-4, MIN(3, l)) + 4);
            }
        }
        moe_pack_q3_K_codes(&y[i], (const uint8_t *)L);
        x += QK_K;
    }
}

// Q4_K (nmax 15) and Q5_K (nmax 31) share everything but the code width and the search's range.
static void ref_q45_K(const float *x, uint8_t *scales_out, uint16_t *d_out, uint16_t *dmin_out, uint8_t *L, int nmax) {
    uint8_t Laux[32], ls[8], lm[8];
    float weights[32], mins[QK_K / 32], scales[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        scales[j] = nmax == 15 ? qkx_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, 0, 0)
                               : qkx_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15, 0, 0);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t a = (uint8_t)nearest_int(inv_scale * scales[j]);
        uint8_t b = (uint8_t)nearest_int(inv_min * mins[j]);
        ls[j] = MIN(63, a);
        lm[j] = MIN(63, b);
    }
    moe_pack_q4_K_scales(scales_out, ls, lm);
    *d_out = moe_f32_to_f16(max_scale / 63.f);
    *dmin_out = moe_f32_to_f16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, scales_out, &sc, &m);
        const float d = moe_f16_to_f32(*d_out) * sc;
        if (!d) continue;
        const float dm = moe_f16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
        }
    }
}

void moe_quantize_ref_q4_K(const float *x, block_q4_K *y, int64_t k) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        memset(y[i].scales, 0, K_SCALE_SIZE);
        ref_q45_K(x, y[i].scales, &y[i].d, &y[i].dmin, L, 15);
        moe_pack_q4_K_codes(&y[i], L);
    }
}

void moe_quantize_ref_q5_K(const float *x, block_q5_K *y, int64_t k) {
    uint8_t L[QK_K];
    for (int64_t i = 0; i < k / QK_K; i++, x += QK_K) {
        memset(y[i].scales, 0, K_SCALE_SIZE);
        ref_q45_K(x, y[i].scales, &y[i].d, &y[i].dmin, L, 31);
        moe_pack_q5_K_codes(&y[i], L);
    }
}

// ---- with importance weights: quantize_row_*_impl (llama-quantize --imatrix) ----

static void imatrix_q2_K(const float *x, block_q2_K *y, int64_t n, const float *quant_weights) {
    uint8_t L[QK_K], Laux[16], Ls[QK_K / 16], Lm[QK_K / 16];
    float mins[QK_K / 16], scales[QK_K / 16], sw[QK_K / 16], weight[16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        memset(sw, 0, sizeof(sw));
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
        float sigma2 = sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            const float *qw = quant_weights + QK_K * i + 16 * j;
            for (int l = 0; l < 16; ++l) weight[l] = qw[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            for (int l = 0; l < QK_K / 16; ++l) sw[j] += weight[l];
            scales[j] = qkx_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0, 1);
        }
        float dm = qp_quants(QK_K / 16, 15, scales, Ls, sw);
        float mm = qp_quants(QK_K / 16, 15, mins, Lm, sw);
        y[i].d = moe_f32_to_f16(dm);
        y[i].dmin = moe_f32_to_f16(mm);
        dm = moe_f16_to_f32(y[i].d);
        mm = moe_f16_to_f32(y[i].dmin);
        for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = (uint8_t)(Ls[j] | (Lm[j] << 4));
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = dm * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float m = mm * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int((x[16 * j + ii] + m) / d);
                L[16 * j + ii] = (uint8_t)MAX(0, MIN(3, l));
            }
        }
        pack_2bit(y[i].qs, L);
        x += QK_K;
    }
}

static void imatrix_q3_K(const float *x, block_q3_K *y, int64_t n, const float *quant_weights) {
    int8_t L[QK_K], Ls[QK_K / 16];
    float scales[QK_K / 16], weight[16], sw[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        float sumx2 = 0;
        for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
        float sigma2 = 2 * sumx2 / QK_K;
        for (int j = 0; j < QK_K / 16; ++j) {
            if (quant_weights) {
                const float *qw = quant_weights + QK_K * i + 16 * j;
                for (int l = 0; l < 16; ++l) weight[l] = qw[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
            } else {
                for (int l = 0; l < 16; ++l) weight[l] = x[16 * j + l] * x[16 * j + l];
            }
            float sumw = 0;
            for (int l = 0; l < 16; ++l) sumw += weight[l];
            sw[j] = sumw;
            scales[j] = moe_make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
        }
        float d_block = moe_make_qx_quants(QK_K / 16, 32, scales, Ls, sw);
        moe_pack_q3_K_scales(y[i].scales, Ls);
        y[i].d = moe_f32_to_f16(d_block);
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = moe_f16_to_f32(y[i].d) * q3_scale(y[i].scales, j);
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(MAX(-4, MIN(3, l)) + 4);
            }
        }
        moe_pack_q3_K_codes(&y[i], (const uint8_t *)L);
        x += QK_K;
    }
}

static void imatrix_q45_K(const float *x, uint8_t *scales_out, uint16_t *d_out, uint16_t *dmin_out, uint8_t *L, int nmax,
                          const float *qw) {
    uint8_t Laux[32], Ls[QK_K / 32], Lm[QK_K / 32];
    float weights[32], sw[QK_K / 32], mins[QK_K / 32], scales[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
    float sigma2 = 2 * sum_x2 / QK_K;
    float av_x = sqrtf(sigma2);
    for (int j = 0; j < QK_K / 32; ++j) {
        if (qw) {
            for (int l = 0; l < 32; ++l) weights[l] = qw[32 * j + l] * sqrtf(sigma2 + x[32 * j + l] * x[32 * j + l]);
        } else {
            for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        }
        float sumw = 0;
        for (int l = 0; l < 32; ++l) sumw += weights[l];
        sw[j] = sumw;
        scales[j] = qkx_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, 0, 1);
    }
    float d_block = qp_quants(QK_K / 32, 63, scales, Ls, sw);
    float m_block = qp_quants(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; ++j) {
        Ls[j] = MIN(63, Ls[j]);
        Lm[j] = MIN(63, Lm[j]);
    }
    memset(scales_out, 0, K_SCALE_SIZE);
    moe_pack_q4_K_scales(scales_out, Ls, Lm);
    *d_out = moe_f32_to_f16(d_block);
    *dmin_out = moe_f32_to_f16(m_block);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t sc, m;
        scale_min_k4(j, scales_out, &sc, &m);
        const float d = moe_f16_to_f32(*d_out) * sc;
        if (!d) continue;
        const float dm = moe_f16_to_f32(*dmin_out) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)MAX(0, MIN(nmax, l));
        }
    }
}

static void imatrix_q5_0(const float *x, block_q5_0 *y, int64_t n, const float *quant_weights) {
    float weight[QK5_0];
    int8_t L[QK5_0];
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
    float sigma2 = sum_x2 / n;
    for (int64_t ib = 0; ib < n / QK5_0; ++ib) {
        const float *xb = x + QK5_0 * ib;
        const float *qw = quant_weights + QK5_0 * ib;
        for (int j = 0; j < QK5_0; ++j) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        float d = moe_make_qx_quants(QK5_0, 16, xb, L, weight);
        y[ib].d = moe_f32_to_f16(d);
        moe_pack_q5_codes(y[ib].qs, y[ib].qh, (const uint8_t *)L);
    }
}

static void imatrix_q5_1(const float *x, block_q5_1 *y, int64_t n, const float *quant_weights) {
    float weight[QK5_1];
    uint8_t L[QK5_1], Laux[QK5_1];
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
    float sigma2 = sum_x2 / n;
    for (int64_t ib = 0; ib < n / QK5_1; ++ib) {
        const float *xb = x + QK5_1 * ib;
        const float *qw = quant_weights + QK5_1 * ib;
        for (int j = 0; j < QK5_1; ++j) weight[j] = qw[j] * sqrtf(sigma2 + xb[j] * xb[j]);
        float min;
        float d = qkx_quants(QK5_1, 31, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, 0, 1);
        y[ib].d = moe_f32_to_f16(d);
        y[ib].m = moe_f32_to_f16(-min);
        moe_pack_q5_codes(y[ib].qs, y[ib].qh, L);
    }
}

int moe_quantize_ggml(int type, const float *x, void *dst, int64_t n, const float *w) {
    const int64_t bs = (type == MOE_TYPE_Q5_0 || type == MOE_TYPE_Q5_1 || type == MOE_TYPE_MXFP4) ? 32 : QK_K;
    if (n % bs != 0) return -1;
    switch (type) {
    case MOE_TYPE_Q5_0: if (w) imatrix_q5_0(x, dst, n, w); else moe_quantize_ref_q5_0(x, dst, n); return 0;
    case MOE_TYPE_Q5_1: if (w) imatrix_q5_1(x, dst, n, w); else moe_quantize_ref_q5_1(x, dst, n); return 0;
    case MOE_TYPE_MXFP4: moe_quantize_ref_mxfp4(x, dst, n); return 0; // ggml has no weighted MXFP4 quantizer
    case MOE_TYPE_Q2_K: if (w) imatrix_q2_K(x, dst, n, w); else moe_quantize_ref_q2_K(x, dst, n); return 0;
    case MOE_TYPE_Q3_K: if (w) imatrix_q3_K(x, dst, n, w); else moe_quantize_ref_q3_K(x, dst, n); return 0;
    case MOE_TYPE_Q4_K:
        if (!w) { moe_quantize_ref_q4_K(x, dst, n); return 0; }
        for (int64_t i = 0; i < n / QK_K; i++) {
            block_q4_K *y = (block_q4_K *)dst + i;
            uint8_t L[QK_K];
            imatrix_q45_K(x + QK_K * i, y->scales, &y->d, &y->dmin, L, 15, w + QK_K * i);
            moe_pack_q4_K_codes(y, L);
        }
        return 0;
    case MOE_TYPE_Q5_K:
        if (!w) { moe_quantize_ref_q5_K(x, dst, n); return 0; }
        for (int64_t i = 0; i < n / QK_K; i++) {
            block_q5_K *y = (block_q5_K *)dst + i;
            uint8_t L[QK_K];
            imatrix_q45_K(x + QK_K * i, y->scales, &y->d, &y->dmin, L, 31, w + QK_K * i);
            moe_pack_q5_K_codes(y, L);
        }
        return 0;
    case MOE_TYPE_Q6_K: moe_quantize_q6_K(x, dst, n, w); return 0;
    default: return -1;
    }
}

// ggml's quantize_row_q{3,4,5}_K_impl without weights: their own heuristic weights (x² for Q3_K, av_x + |x| for
// Q4_K / Q5_K) with the wider qkx3 search and the fitted super-block scales. Not what llama-quantize writes (it
// takes the _ref path without an imatrix), but a good starting point for the optimised search.
int moe_quantize_ggml_impl_unweighted(int type, const float *x, void *dst, int64_t n) {
    if (n % QK_K != 0) return -1;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t L[QK_K];
        switch (type) {
        case MOE_TYPE_Q3_K: imatrix_q3_K(x + QK_K * i, (block_q3_K *)dst + i, QK_K, NULL); break;
        case MOE_TYPE_Q4_K: {
            block_q4_K *y = (block_q4_K *)dst + i;
            imatrix_q45_K(x + QK_K * i, y->scales, &y->d, &y->dmin, L, 15, NULL);
            moe_pack_q4_K_codes(y, L);
            break;
        }
        case MOE_TYPE_Q5_K: {
            block_q5_K *y = (block_q5_K *)dst + i;
            imatrix_q45_K(x + QK_K * i, y->scales, &y->d, &y->dmin, L, 31, NULL);
            moe_pack_q5_K_codes(y, L);
            break;
        }
        default: return -1;
        }
    }
    return 0;
}
