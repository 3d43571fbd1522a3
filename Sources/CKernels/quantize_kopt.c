// Error-minimising encoders for Q2_K … Q6_K, Q5_0, Q5_1 and MXFP4, and their GPTQ rows. See moe_quantize_k.h.
//
// Every one of these types but MXFP4 stores, per sub-block s, the values v = (d·sc_s)·L − (dmin·mn_s): f16 super-block
// scales d, dmin, small integer sub-scales sc_s and sub-minimums mn_s, and integer codes L. (Q5_0 is the case of one
// sub-block with sc = 1 and no minimum, Q5_1 the case sc = mn = 1 with dmin = −m.) So one unpacked form `kblock`
// serves them all: the search works on it, and each type only unpacks and packs its bytes.
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "moe_kernels.h"
#include "moe_quantize.h"
#include "moe_quantize_k.h"
#include "quant32.h"

// No fused multiply-add: the bytes must not depend on the CPU or compiler.
#pragma STDC FP_CONTRACT OFF

typedef struct {
    int n, nsub, sublen;  // elements, sub-blocks, their length
    int lmin, lmax;       // codes
    int scmin, scmax;     // sub-scales
    int mnmin, mnmax;     // sub-minimums (both 0: no minimum)
} kspec;

typedef struct {
    float d, dmin; // f16-exact
    int sc[16], mn[16];
    int L[QK_K];
} kblock;

static int spec_of(int type, kspec *s) {
    switch (type) {
    case MOE_TYPE_Q2_K: *s = (kspec){ QK_K, 16, 16, 0, 3, 0, 15, 0, 15 }; return 0;
    case MOE_TYPE_Q3_K: *s = (kspec){ QK_K, 16, 16, -4, 3, -32, 31, 0, 0 }; return 0;
    case MOE_TYPE_Q4_K: *s = (kspec){ QK_K, 8, 32, 0, 15, 0, 63, 0, 63 }; return 0;
    case MOE_TYPE_Q5_K: *s = (kspec){ QK_K, 8, 32, 0, 31, 0, 63, 0, 63 }; return 0;
    case MOE_TYPE_Q6_K: *s = (kspec){ QK_K, 16, 16, -32, 31, -128, 127, 0, 0 }; return 0;
    case MOE_TYPE_Q5_0: *s = (kspec){ 32, 1, 32, -16, 15, 1, 1, 0, 0 }; return 0;
    case MOE_TYPE_Q5_1: *s = (kspec){ 32, 1, 32, 0, 31, 1, 1, 1, 1 }; return 0;
    default: return -1;
    }
}

static size_t block_bytes(int type) {
    switch (type) {
    case MOE_TYPE_Q2_K: return sizeof(block_q2_K);
    case MOE_TYPE_Q3_K: return sizeof(block_q3_K);
    case MOE_TYPE_Q4_K: return sizeof(block_q4_K);
    case MOE_TYPE_Q5_K: return sizeof(block_q5_K);
    case MOE_TYPE_Q6_K: return sizeof(block_q6_K);
    case MOE_TYPE_Q5_0: return sizeof(block_q5_0);
    case MOE_TYPE_Q5_1: return sizeof(block_q5_1);
    case MOE_TYPE_MXFP4: return sizeof(block_mxfp4);
    default: return 0;
    }
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float f16r(float x) { return moe_f16_to_f32(moe_f32_to_f16(x)); }

static inline int nearest_int(float fval) {
    float val = fval + 12582912.f;
    int i;
    memcpy(&i, &val, sizeof(int));
    return (i & 0x007fffff) - 0x00400000;
}

// The nearest code for x under sub-scale `scale` and offset `off` (value = scale·L − off).
static inline int code_for(float x, float scale, float off, const kspec *s) {
    if (scale == 0.0f) return clampi(0, s->lmin, s->lmax);
    const float t = (x + off) / scale;
    if (!(fabsf(t) < 4194303.f)) return t > 0 ? s->lmax : s->lmin; // also NaN-safe
    return clampi(nearest_int(t), s->lmin, s->lmax);
}

// ---- unpack / pack ----

static void unpack(int type, const void *src, kblock *b) {
    memset(b, 0, sizeof(*b));
    switch (type) {
    case MOE_TYPE_Q2_K: {
        const block_q2_K *y = src;
        b->d = moe_f16_to_f32(y->d);
        b->dmin = moe_f16_to_f32(y->dmin);
        for (int j = 0; j < 16; j++) { b->sc[j] = y->scales[j] & 0xF; b->mn[j] = y->scales[j] >> 4; }
        for (int e = 0; e < QK_K; e++) b->L[e] = (y->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
        break;
    }
    case MOE_TYPE_Q3_K: {
        const block_q3_K *y = src;
        b->d = moe_f16_to_f32(y->d);
        for (int j = 0; j < 16; j++) {
            int sc = j < 8 ? y->scales[j] & 0xF : y->scales[j - 8] >> 4;
            b->sc[j] = (sc | (((y->scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
        }
        for (int e = 0; e < QK_K; e++) {
            int low = (y->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3;
            int high = (y->hmask[e % 32] >> (e / 32)) & 1;
            b->L[e] = low + 4 * high - 4;
        }
        break;
    }
    case MOE_TYPE_Q4_K:
    case MOE_TYPE_Q5_K: {
        const uint8_t *scales = type == MOE_TYPE_Q4_K ? ((const block_q4_K *)src)->scales : ((const block_q5_K *)src)->scales;
        const uint8_t *qs = type == MOE_TYPE_Q4_K ? ((const block_q4_K *)src)->qs : ((const block_q5_K *)src)->qs;
        const uint16_t d = type == MOE_TYPE_Q4_K ? ((const block_q4_K *)src)->d : ((const block_q5_K *)src)->d;
        const uint16_t dm = type == MOE_TYPE_Q4_K ? ((const block_q4_K *)src)->dmin : ((const block_q5_K *)src)->dmin;
        b->d = moe_f16_to_f32(d);
        b->dmin = moe_f16_to_f32(dm);
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                b->sc[j] = scales[j] & 63;
                b->mn[j] = scales[j + 4] & 63;
            } else {
                b->sc[j] = (scales[j + 4] & 0xF) | ((scales[j - 4] >> 6) << 4);
                b->mn[j] = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
            }
        }
        for (int e = 0; e < QK_K; e++) {
            const int c = e / 64, r = e % 64;
            int q = r < 32 ? qs[32 * c + r] & 0xF : qs[32 * c + r - 32] >> 4;
            if (type == MOE_TYPE_Q5_K) q += ((((const block_q5_K *)src)->qh[r % 32] >> (2 * c + (r >= 32))) & 1) << 4;
            b->L[e] = q;
        }
        break;
    }
    case MOE_TYPE_Q6_K: {
        const block_q6_K *y = src;
        b->d = moe_f16_to_f32(y->d);
        for (int j = 0; j < 16; j++) b->sc[j] = y->scales[j];
        for (int e = 0; e < QK_K; e++) {
            const int h = e / 128, t = e % 128, l = t % 32, q = t / 32;
            const uint8_t qlb = y->ql[64 * h + l + 32 * (q & 1)];
            const int low = q < 2 ? qlb & 0xF : qlb >> 4;
            const int high = (y->qh[32 * h + l] >> (2 * q)) & 3;
            b->L[e] = (low | (high << 4)) - 32;
        }
        break;
    }
    case MOE_TYPE_Q5_0:
    case MOE_TYPE_Q5_1: {
        const uint8_t *qs = type == MOE_TYPE_Q5_0 ? ((const block_q5_0 *)src)->qs : ((const block_q5_1 *)src)->qs;
        const uint8_t *qh4 = type == MOE_TYPE_Q5_0 ? ((const block_q5_0 *)src)->qh : ((const block_q5_1 *)src)->qh;
        uint32_t qh;
        memcpy(&qh, qh4, 4);
        if (type == MOE_TYPE_Q5_0) {
            b->d = moe_f16_to_f32(((const block_q5_0 *)src)->d);
        } else {
            b->d = moe_f16_to_f32(((const block_q5_1 *)src)->d);
            b->dmin = -moe_f16_to_f32(((const block_q5_1 *)src)->m);
            b->mn[0] = 1;
        }
        b->sc[0] = 1;
        for (int j = 0; j < 32; j++) {
            int q = (j < 16 ? qs[j] & 0xF : qs[j - 16] >> 4) | (int)(((qh >> j) & 1u) << 4);
            b->L[j] = type == MOE_TYPE_Q5_0 ? q - 16 : q;
        }
        break;
    }
    }
}

static void pack(int type, const kblock *b, void *dst) {
    uint8_t L[QK_K];
    switch (type) {
    case MOE_TYPE_Q2_K: {
        block_q2_K *y = dst;
        y->d = moe_f32_to_f16(b->d);
        y->dmin = moe_f32_to_f16(b->dmin);
        for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(b->sc[j] | (b->mn[j] << 4));
        for (int e = 0; e < QK_K; e++) L[e] = (uint8_t)b->L[e];
        moe_pack_q2_K_codes(y, L);
        break;
    }
    case MOE_TYPE_Q3_K: {
        block_q3_K *y = dst;
        int8_t biased[16];
        for (int j = 0; j < 16; j++) biased[j] = (int8_t)(b->sc[j] + 32);
        moe_pack_q3_K_scales(y->scales, biased);
        y->d = moe_f32_to_f16(b->d);
        for (int e = 0; e < QK_K; e++) L[e] = (uint8_t)(b->L[e] + 4);
        moe_pack_q3_K_codes(y, L);
        break;
    }
    case MOE_TYPE_Q4_K:
    case MOE_TYPE_Q5_K: {
        uint8_t ls[8], lm[8];
        for (int j = 0; j < 8; j++) { ls[j] = (uint8_t)b->sc[j]; lm[j] = (uint8_t)b->mn[j]; }
        for (int e = 0; e < QK_K; e++) L[e] = (uint8_t)b->L[e];
        if (type == MOE_TYPE_Q4_K) {
            block_q4_K *y = dst;
            memset(y->scales, 0, K_SCALE_SIZE);
            moe_pack_q4_K_scales(y->scales, ls, lm);
            y->d = moe_f32_to_f16(b->d);
            y->dmin = moe_f32_to_f16(b->dmin);
            moe_pack_q4_K_codes(y, L);
        } else {
            block_q5_K *y = dst;
            memset(y->scales, 0, K_SCALE_SIZE);
            moe_pack_q4_K_scales(y->scales, ls, lm);
            y->d = moe_f32_to_f16(b->d);
            y->dmin = moe_f32_to_f16(b->dmin);
            moe_pack_q5_K_codes(y, L);
        }
        break;
    }
    case MOE_TYPE_Q6_K: {
        block_q6_K *y = dst;
        y->d = moe_f32_to_f16(b->d);
        for (int j = 0; j < 16; j++) y->scales[j] = (int8_t)b->sc[j];
        for (int e = 0; e < QK_K; e++) L[e] = (uint8_t)(b->L[e] + 32);
        uint8_t *ql = y->ql, *qh = y->qh;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
        break;
    }
    case MOE_TYPE_Q5_0: {
        block_q5_0 *y = dst;
        y->d = moe_f32_to_f16(b->d);
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)(b->L[j] + 16);
        moe_pack_q5_codes(y->qs, y->qh, L);
        break;
    }
    case MOE_TYPE_Q5_1: {
        block_q5_1 *y = dst;
        y->d = moe_f32_to_f16(b->d);
        y->m = moe_f32_to_f16(-b->dmin);
        for (int j = 0; j < 32; j++) L[j] = (uint8_t)b->L[j];
        moe_pack_q5_codes(y->qs, y->qh, L);
        break;
    }
    }
}

// ---- the search ----

static inline float value_of(const kblock *b, int s, int l) { return (b->d * (float)b->sc[s]) * (float)l - b->dmin * (float)b->mn[s]; }

static double sub_error(const kblock *b, const kspec *sp, int s, const float *x, const float *w) {
    double err = 0;
    for (int i = s * sp->sublen; i < (s + 1) * sp->sublen; i++) {
        const double r = (double)x[i] - (double)value_of(b, s, b->L[i]);
        err += (w ? w[i] : 1.0) * r * r;
    }
    return err;
}

static double block_error(const kblock *b, const kspec *sp, const float *x, const float *w) {
    double err = 0;
    for (int s = 0; s < sp->nsub; s++) err += sub_error(b, sp, s, x, w);
    return err;
}

static void round_codes(kblock *b, const kspec *sp, int s, const float *x) {
    const float scale = b->d * (float)b->sc[s], off = b->dmin * (float)b->mn[s];
    for (int i = s * sp->sublen; i < (s + 1) * sp->sublen; i++) b->L[i] = code_for(x[i], scale, off, sp);
}

// Sub-block s: the integer (sc, mn) within ±r of (sc0, mn0) whose re-rounded codes leave the least error.
static double search_sub(kblock *b, const kspec *sp, int s, const float *x, const float *w, int sc0, int mn0, int r, double best) {
    const int sc_keep = b->sc[s], mn_keep = b->mn[s];
    int Lkeep[32], best_sc = sc_keep, best_mn = mn_keep;
    memcpy(Lkeep, b->L + s * sp->sublen, sizeof(int) * (size_t)sp->sublen);
    for (int sc = clampi(sc0 - r, sp->scmin, sp->scmax); sc <= clampi(sc0 + r, sp->scmin, sp->scmax); sc++) {
        for (int mn = clampi(mn0 - r, sp->mnmin, sp->mnmax); mn <= clampi(mn0 + r, sp->mnmin, sp->mnmax); mn++) {
            b->sc[s] = sc;
            b->mn[s] = mn;
            round_codes(b, sp, s, x);
            const double e = sub_error(b, sp, s, x, w);
            if (e < best) {
                best = e;
                best_sc = sc;
                best_mn = mn;
                memcpy(Lkeep, b->L + s * sp->sublen, sizeof(int) * (size_t)sp->sublen);
            }
        }
    }
    b->sc[s] = best_sc;
    b->mn[s] = best_mn;
    memcpy(b->L + s * sp->sublen, Lkeep, sizeof(int) * (size_t)sp->sublen);
    return best;
}

// Sub-block s under the block's d, dmin: its integer scale and minimum searched around their values and around
// the least-squares fit of its current codes, the codes re-rounded; kept only where the error drops.
static void fit_sub(kblock *b, const kspec *sp, int s, const float *x, const float *w) {
    const int has_min = sp->mnmax > 0;
    double e = sub_error(b, sp, s, x, w);
    e = search_sub(b, sp, s, x, w, b->sc[s], b->mn[s], sp->scmin == sp->scmax ? 0 : 2, e);
    // Least squares x ≈ a·L − c over the sub-block's current codes, as integers under d, dmin.
    double sw = 0, sl = 0, sl2 = 0, sx = 0, sxl = 0;
    for (int i = s * sp->sublen; i < (s + 1) * sp->sublen; i++) {
        const double wi = w ? w[i] : 1.0, l = b->L[i];
        sw += wi; sl += wi * l; sl2 += wi * l * l; sx += wi * x[i]; sxl += wi * x[i] * l;
    }
    double a = 0, c = 0;
    if (has_min) {
        const double det = sw * sl2 - sl * sl;
        if (det > 0) { a = (sw * sxl - sx * sl) / det; c = -(sl2 * sx - sl * sxl) / det; }
    } else if (sl2 > 0) {
        a = sxl / sl2;
    }
    if (b->d != 0.0f && sp->scmin != sp->scmax && isfinite(a) && fabs(a / b->d) < 1e6) {
        const int sc1 = clampi((int)lrint(a / b->d), sp->scmin, sp->scmax);
        const int mn1 = has_min && b->dmin != 0.0f && isfinite(c) && fabs(c / b->dmin) < 1e6
            ? clampi((int)lrint(c / b->dmin), sp->mnmin, sp->mnmax) : b->mn[s];
        if (sc1 != b->sc[s] || mn1 != b->mn[s]) search_sub(b, sp, s, x, w, sc1, mn1, 1, e);
    }
}

// Coordinate descent from b: (1) per sub-block, integer scale and minimum around their values and around the
// least-squares fit of the current codes; (2) the f16 super-block scales refitted by least squares for the current
// integers and codes, kept when the re-rounded block is better. Returns the block's error.
static double refine(kblock *b, const kspec *sp, const float *x, const float *w, int rounds) {
    double total = block_error(b, sp, x, w);
    const int has_min = sp->mnmax > 0;
    for (int it = 0; it < rounds; it++) {
        const double start = total;
        for (int s = 0; s < sp->nsub; s++) fit_sub(b, sp, s, x, w);
        total = block_error(b, sp, x, w);
        // Super-block scales: x ≈ d·(sc·L) − dmin·mn, least squares in (d, dmin).
        double saa = 0, sab = 0, sbb = 0, sxa = 0, sxb = 0;
        for (int i = 0; i < sp->n; i++) {
            const int s = i / sp->sublen;
            const double wi = w ? w[i] : 1.0, av = (double)b->sc[s] * b->L[i], bv = -(double)b->mn[s];
            saa += wi * av * av; sab += wi * av * bv; sbb += wi * bv * bv; sxa += wi * x[i] * av; sxb += wi * x[i] * bv;
        }
        double d = b->d, dmin = b->dmin;
        if (has_min) {
            const double det = saa * sbb - sab * sab;
            if (det > 0) { d = (sxa * sbb - sxb * sab) / det; dmin = (saa * sxb - sab * sxa) / det; }
        } else if (saa > 0) {
            d = sxa / saa;
        }
        if (isfinite(d) && isfinite(dmin) && fabs(d) < 65504 && fabs(dmin) < 65504) {
            kblock t = *b;
            t.d = f16r((float)d);
            t.dmin = has_min ? f16r((float)dmin) : 0.0f;
            for (int s = 0; s < sp->nsub; s++) round_codes(&t, sp, s, x);
            const double e = block_error(&t, sp, x, w);
            if (e < total) { *b = t; total = e; }
        }
        if (!(total < start)) break;
    }
    return total;
}

static const float *block_weights(const float *w, int64_t n, float *ones) {
    if (!w) return NULL;
    for (int64_t i = 0; i < n; i++) if (w[i] > 0) return w;
    for (int64_t i = 0; i < n; i++) ones[i] = 1.0f;
    return ones;
}

// MXFP4: the exponent among ggml's choice and its neighbours whose nearest codes leave the least weighted error.
static void mxfp4_block(const float *x, block_mxfp4 *y, const float *w) {
    moe_quantize_ref_mxfp4(x, y, 32);
    const int e0 = y->e;
    double best = 0;
    for (int j = 0; j < 32; j++) {
        const float v = moe_kvalues_mxfp4[j < 16 ? y->qs[j] & 0xF : y->qs[j - 16] >> 4] * moe_e8m0_to_float_half(y->e);
        best += (w ? w[j] : 1.0) * ((double)x[j] - v) * ((double)x[j] - v);
    }
    for (int e = e0 - 2; e <= e0 + 1; e++) {
        if (e == e0 || e < 0 || e > 254) continue;
        const float d = moe_e8m0_to_float_half((uint8_t)e);
        uint8_t codes[32];
        double err = 0;
        for (int j = 0; j < 32; j++) {
            codes[j] = (uint8_t)moe_mxfp4_best_index(x[j], d);
            const double r = (double)x[j] - (double)(moe_kvalues_mxfp4[codes[j]] * d);
            err += (w ? w[j] : 1.0) * r * r;
        }
        if (err < best) {
            best = err;
            y->e = (uint8_t)e;
            for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(codes[j] | (codes[j + 16] << 4));
        }
    }
}

// One block of a K-family type into b: the best of ggml's encodings, refined.
static void kopt_block(int type, const kspec *sp, const float *x, const float *w, int effort, kblock *best) {
    uint8_t bytes[sizeof(block_q6_K) + 64];
    kblock cand;
    moe_quantize_ggml(type, x, bytes, sp->n, NULL);
    unpack(type, bytes, best);
    double best_err = block_error(best, sp, x, w);
    int have_second = 0;
    float ones[32];
    if (!w && sp->n == 32) { // Q5_0 / Q5_1: ggml's weighted search with uniform importances is a second start
        for (int i = 0; i < 32; i++) ones[i] = 1.0f;
        have_second = moe_quantize_ggml(type, x, bytes, sp->n, ones) == 0;
    }
    if (w) have_second = moe_quantize_ggml(type, x, bytes, sp->n, w) == 0;
    else if (type == MOE_TYPE_Q3_K || type == MOE_TYPE_Q4_K || type == MOE_TYPE_Q5_K) have_second = moe_quantize_ggml_impl_unweighted(type, x, bytes, sp->n) == 0;
    if (have_second) {
        unpack(type, bytes, &cand);
        const double e = block_error(&cand, sp, x, w);
        if (e < best_err) { *best = cand; best_err = e; }
    }
    cand = *best;
    const double e = refine(&cand, sp, x, w, 2 + 2 * (effort < 0 ? 0 : effort > 2 ? 2 : effort));
    if (e < best_err) *best = cand;
}

int moe_quantize_kopt(int type, const float *x, void *dst, int64_t n, const float *w, int effort) {
    float ones[QK_K];
    if (type == MOE_TYPE_MXFP4) {
        if (n % 32 != 0) return -1;
        for (int64_t i = 0; i < n / 32; i++) mxfp4_block(x + 32 * i, (block_mxfp4 *)dst + i, block_weights(w ? w + 32 * i : NULL, 32, ones));
        return 0;
    }
    kspec sp;
    if (spec_of(type, &sp) != 0 || n % sp.n != 0) return -1;
    const size_t bb = block_bytes(type);
    for (int64_t i = 0; i < n / sp.n; i++) {
        kblock b;
        kopt_block(type, &sp, x + sp.n * i, block_weights(w ? w + sp.n * i : NULL, sp.n, ones), effort, &b);
        pack(type, &b, (uint8_t *)dst + bb * (size_t)i);
    }
    return 0;
}

double moe_quant_error(int type, const float *x, const void *blocks, int64_t n, const float *w) {
    if (block_bytes(type) == 0) return NAN;
    float *y = malloc(sizeof(float) * (size_t)n);
    if (!y) return NAN;
    if (moe_dequantize_row_generic((uint32_t)type, blocks, y, n) != 0) { free(y); return NAN; }
    double err = 0;
    for (int64_t i = 0; i < n; i++) {
        const double r = (double)x[i] - (double)y[i];
        err += (w ? w[i] : 1.0) * r * r;
    }
    free(y);
    return err;
}

// ---- GPTQ (see moe_gptq.h): each block's stored fields chosen from the row as updated so far, then its columns
// rounded one at a time against them, each error pushed onto the later columns. ----

int moe_gptq_row_kquant(int type, float *w, int64_t cols, const float *U, const float *hdiag, void *dst, int effort) {
    float ones[QK_K];
    if (type == MOE_TYPE_MXFP4) {
        if (cols % 32 != 0) return -1;
        for (int64_t b = 0; b < cols / 32; b++) {
            const int64_t c0 = 32 * b;
            block_mxfp4 *y = (block_mxfp4 *)dst + b;
            mxfp4_block(w + c0, y, block_weights(hdiag + c0, 32, ones));
            const float d = moe_e8m0_to_float_half(y->e);
            uint8_t codes[32];
            for (int j = 0; j < 32; j++) {
                const int64_t i = c0 + j;
                codes[j] = (uint8_t)moe_mxfp4_best_index(w[i], d);
                const float q = moe_kvalues_mxfp4[codes[j]] * d;
                const float *u = U + i * cols;
                const float e = (w[i] - q) / u[i];
                for (int64_t k = i + 1; k < cols; k++) w[k] -= e * u[k];
                w[i] = q;
            }
            for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(codes[j] | (codes[j + 16] << 4));
        }
        return 0;
    }
    kspec sp;
    if (spec_of(type, &sp) != 0 || cols % sp.n != 0) return -1;
    const size_t bb = block_bytes(type);
    for (int64_t blk = 0; blk < cols / sp.n; blk++) {
        const int64_t c0 = sp.n * blk;
        kblock b;
        kopt_block(type, &sp, w + c0, block_weights(hdiag + c0, sp.n, ones), effort, &b);
        const float *hw = block_weights(hdiag + c0, sp.n, ones);
        for (int j = 0; j < sp.n; j++) {
            const int64_t i = c0 + j;
            const int s = j / sp.sublen;
            // The errors pushed from the sub-blocks before moved this one's values: refit its integer scale and
            // minimum to them (d and dmin stay; the codes are rounded column by column below).
            if (j % sp.sublen == 0 && s > 0) fit_sub(&b, &sp, s, w + c0, hw);
            b.L[j] = code_for(w[i], b.d * (float)b.sc[s], b.dmin * (float)b.mn[s], &sp);
            const float q = value_of(&b, s, b.L[j]);
            const float *u = U + i * cols;
            const float e = (w[i] - q) / u[i];
            for (int64_t k = i + 1; k < cols; k++) w[k] -= e * u[k];
            w[i] = q;
        }
        pack(type, &b, (uint8_t *)dst + bb * (size_t)blk);
    }
    return 0;
}
