// Error-minimising quantizers for Q8_0, Q4_0 and Q4_1 (see moe_quantize.h for the contract).
//
// Each 32-element block is encoded on its own: choose the f16 scale d (and for Q4_1 the f16 minimum m)
// and the codes q that make the block's weighted squared error
//     E = Σ_j w_j (x_j − x̂_j)²,   x̂_j = d·q_j (Q8_0, Q4_0) or d·q_j + m (Q4_1)
// as small as the search below finds, x̂_j being computed exactly as ggml's dequantizer does it (float, from the
// stored f16 values). For fixed d (and m) the best codes are the nearest ones; for fixed codes the best d (and m)
// is the least-squares fit. E as a function of d alone is piecewise quadratic with many local minima (every code
// change starts a new piece), so the search samples d widely and then polishes:
//   1. Grid. Q4_0: inverse scales t = ∓c / max mapping the element of largest magnitude to code −c or +c, c on a
//      grid around the reference's 8; Q4_1: t = c / range with c around the reference's 15, codes anchored at the
//      minimum or the maximum. Each t gives codes round(t·x) (clamped to the type's range), scored by the error
//      their least-squares scale (and minimum) would leave. Q8_0 (where codes barely clip) instead measures the
//      error at f16 scales sampled a few f16 steps apart from amax / 127.5 upwards.
//   2. Refinement from the best: least-squares d (and m) for its codes → rounded to f16 → nearest codes for that
//      stored value → measured error; repeated while it improves (alternating minimisation: in exact arithmetic
//      neither step increases E; the f16 rounding is what the measured error accounts for). Then f16 neighbours.
//   3. The best measured candidate is compared with ggml's reference encoding (moe_quantize_ref_*) using the same
//      per-block sum as moe_quant_block_error; the lower error wins, ties keep the reference. So no block is ever
//      worse than the reference in that measure.
// Candidates are scored in float on a copy of the block scaled by a power of two (largest |x| in [1, 2)), so huge
// and tiny inputs behave like ordinary ones: the scaling is exact, and f16 rounding is always applied to the
// unscaled value. Final errors are in double on the real values.
//
// Determinism: plain C, fixed evaluation order (sums are folded pairwise in a written-out order), no contraction
// (the pragma below; GCC ignores it, but the package is built with clang), so the bytes are the same on every CPU;
// the AVX2-compiled copy (see "Entry points") runs the same operations. Rows and blocks are independent, so
// splitting a matrix over threads cannot change the output.
#include <float.h>
#include <math.h>
#include <string.h>
#include "moe_quantize.h"
#include "moe_internal.h"

// No fused multiply-add: the bytes must not depend on the CPU or compiler.
#pragma STDC FP_CONTRACT OFF

#define QK 32
// The search passes and the row loops are inlined into each compiled copy of the row quantizers (see "Entry points").
#define ALWAYS_INLINE inline __attribute__((always_inline))

// ---------------------------------------------------------------------------------------------
// Small helpers

// Rounds v to the nearest integer, ties to even, for |v| ≤ 2²²: adding 1.5·2²³ pushes the fraction bits out.
// (Plain float arithmetic, so it vectorizes; the compiler may not fold it away without -ffast-math.)
static inline float round_small(float v) { return (v + 12582912.0f) - 12582912.0f; }

// Eight partial sums → one, always in this order (the order a vector reduction takes: halves, then quarters).
static inline float sum8(const float *a) { return ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7])); }

// f16 bits of d with an overflow to ±infinity (or a NaN) replaced by the largest finite half of the same sign:
// a block whose best scale exceeds 65504 is stored with 65504 (its large elements clip) instead of an infinity
// that would decode to inf / NaN.
static inline uint16_t half_finite(float d) {
    const uint16_t h = moe_float_to_half(d);
    return (h & 0x7C00u) == 0x7C00u ? (uint16_t)((h & 0x8000u) | 0x7BFFu) : h;
}

static inline int half_is_finite(uint16_t h) { return (h & 0x7C00u) != 0x7C00u; }

// The next f16 value away from zero (+1) or towards zero (-1) from h, staying finite; h itself at the ends.
static inline uint16_t half_step(uint16_t h, int dir) {
    const uint16_t mag = h & 0x7FFFu;
    if (dir > 0) return mag >= 0x7BFFu ? h : (uint16_t)(h + 1);
    return mag == 0 ? h : (uint16_t)(h - 1);
}

// A block copied and scaled by 2^s (s chosen so that the largest |x| is in [1, 2)); weights scaled likewise
// to a largest weight in [1, 2). `e` is the scale exponent: x = xs · 2^e.
typedef struct {
    float xs[QK];
    float ws[QK];
    int e;
    double up, down; // 2^e and 2^-e: normalized ↔ real units (exact in double)
} scaled_block;

// floor(log2 a) for a finite a > 0 (subnormals included): the exponent e with 2^e ≤ a < 2^(e+1).
static inline int exponent_of(float a) {
    const uint32_t u = moe_f32_bits(a);
    return (u >> 23) != 0 ? (int)(u >> 23) - 127 : -149 + (31 - __builtin_clz(u));
}
// 2^k as a float, |k| ≤ 126; and 2^k as a double, |k| ≤ 1022.
static inline float pow2f(int k) { return moe_bits_f32((uint32_t)(k + 127) << 23); }
static inline double pow2d(int k) {
    const uint64_t u = (uint64_t)(k + 1023) << 52;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

// out = x · 2^k, k ∈ [−149, 150], in two exact steps (2^k itself need not be a float). A value that the scaling
// makes subnormal or zero only matters to the search as "negligible"; real errors are measured on x itself.
static void scale_copy(const float *x, float *out, int k) {
    const float f1 = pow2f(k / 2), f2 = pow2f(k - k / 2);
    for (int j = 0; j < QK; j++) out[j] = (x[j] * f1) * f2;
}

// Fills b from one block of x (largest magnitude amax > 0, finite) and its weights (NULL, or all zero: ones).
static void scale_block(scaled_block *b, const float *x, float amax, const float *w) {
    b->e = exponent_of(amax);
    b->up = pow2d(b->e);
    b->down = pow2d(-b->e);
    scale_copy(x, b->xs, -b->e);
    float wmax = 0.0f;
    if (w)
        for (int j = 0; j < QK; j++) wmax = wmax < w[j] ? w[j] : wmax;
    if (wmax > 0.0f) scale_copy(w, b->ws, -exponent_of(wmax));
    else
        for (int j = 0; j < QK; j++) b->ws[j] = 1.0f;
}

// Real value of a normalized scale, and normalized value of an f16 scale (exact unless it underflows).
static inline float to_real(const scaled_block *b, float vn) { return (float)((double)vn * b->up); }
static inline float to_scaled(const scaled_block *b, uint16_t h) { return (float)((double)moe_half_to_float(h) * b->down); }

// ---------------------------------------------------------------------------------------------
// The error measure shared by the quantizers' final choice and moe_quant_block_error:
// Σ_j w_j (x_j − y_j)² for one block, y the dequantized floats. In double (finite for any finite inputs),
// the 32 terms added pairwise in a fixed order: t[j] += t[j + 16], then + 8, + 4, then (t0 + t2) + (t1 + t3).
// w NULL: weights 1 (the same value as w_j = 1: (1·r)·r = r·r).

static double block_error(const float *x, const float *y, const float *w) {
    double t[QK];
    for (int j = 0; j < QK; j++) {
        const double r = (double)x[j] - (double)y[j];
        t[j] = (w ? (double)w[j] * r : r) * r;
    }
    for (int j = 0; j < 16; j++) t[j] += t[j + 16];
    for (int j = 0; j < 8; j++) t[j] += t[j + 8];
    for (int j = 0; j < 4; j++) t[j] += t[j + 4];
    return (t[0] + t[2]) + (t[1] + t[3]);
}

// A non-finite error (an f16 overflow in the reference encoding decodes to inf / NaN) counts as +inf.
static inline double finite_or_inf(double e) { return e == e && e <= DBL_MAX ? e : INFINITY; }

// Dequantizers of one block, exactly as dequant_generic.c computes them.
static void dequant_q8_0(const block_q8_0 *b, float *y) {
    const float d = moe_half_to_float(b->d);
    for (int j = 0; j < QK; j++) y[j] = (float)b->qs[j] * d;
}
static void dequant_q4_0(const block_q4_0 *b, float *y) {
    const float d = moe_half_to_float(b->d);
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)((b->qs[j] & 0x0F) - 8) * d;
        y[j + QK / 2] = (float)((b->qs[j] >> 4) - 8) * d;
    }
}
static void dequant_q4_1(const block_q4_1 *b, float *y) {
    const float d = moe_half_to_float(b->d), m = moe_half_to_float(b->m);
    for (int j = 0; j < QK / 2; j++) {
        y[j] = (float)(b->qs[j] & 0x0F) * d + m;
        y[j + QK / 2] = (float)(b->qs[j] >> 4) * d + m;
    }
}

// The weights a block is judged with: its own, unless they are all zero (then every encoding would tie at 0,
// and the plain squared error decides).
static const float *effective_weights(const float *w) {
    if (!w) return NULL;
    for (int j = 0; j < QK; j++)
        if (w[j] > 0.0f) return w;
    return NULL;
}

double moe_quant_block_error(int type, const float *x, const void *blocks, int64_t n, const float *w) {
    double total = 0.0;
    for (int64_t i = 0; i < n / QK; i++) {
        float y[QK];
        switch (type) {
        case MOE_TYPE_Q8_0: dequant_q8_0((const block_q8_0 *)blocks + i, y); break;
        case MOE_TYPE_Q4_0: dequant_q4_0((const block_q4_0 *)blocks + i, y); break;
        case MOE_TYPE_Q4_1: dequant_q4_1((const block_q4_1 *)blocks + i, y); break;
        default: return NAN;
        }
        total += block_error(x + i * QK, y, w ? w + i * QK : NULL);
    }
    return total;
}

// ---------------------------------------------------------------------------------------------
// Search settings. `effort` picks one row; see moe_quantize.h for what each level costs and gains.

typedef struct {
    int n_long;          // coarse grid on the long side: c over [long_lo, long_hi] (Q4_0: max → code −c)
    float long_lo, long_hi;
    int n_short;         // coarse grid on the short side: c over [short_lo, short_hi] (Q4_0: max → code +c)
    float short_lo, short_hi;
    int n_fine;          // fine points each side of the best coarse one (spacing: the coarse step / (n_fine + 1));
                         // Q8_0: the stride between sampled f16 scales
    int iters;           // least-squares → f16 → re-round rounds
    int neighbours;      // f16 neighbours of the best scale tried on each side
    int n_phase;         // Q4_1: offsets of the minimum tried per coarse scale (fractions of a step)
} search_cfg;

// Row of a config table: effort 0 ..< MOE_QOPT_EFFORTS (clamped), each with an unweighted and a weighted setting.
static inline int config_index(int effort, int weighted) {
    const int e = effort < 0 ? 0 : effort >= MOE_QOPT_EFFORTS ? MOE_QOPT_EFFORTS - 1 : effort;
    return 2 * e + (weighted ? 1 : 0);
}

static const search_cfg q4_0_cfg[6] = {
    // {n_long, long_lo, long_hi, n_short, short_lo, short_hi, n_fine, iters, neighbours, n_phase}
    {6, 7.0f, 9.0f, 0, 7.0f, 7.0f, 0, 3, 0, 0},      // effort 0, unweighted
    {8, 6.0f, 13.0f, 3, 6.0f, 10.0f, 2, 3, 0, 0},    // effort 0, weighted: optimum spreads to larger c
    {8, 6.5f, 10.0f, 3, 6.5f, 8.0f, 2, 3, 1, 0},     // effort 1
    {12, 5.0f, 16.0f, 5, 5.0f, 11.0f, 2, 4, 1, 0},
    {16, 6.0f, 11.0f, 6, 6.0f, 9.0f, 3, 4, 2, 0},    // effort 2
    {24, 4.0f, 18.0f, 12, 4.0f, 16.0f, 3, 5, 2, 0},
};

// ---------------------------------------------------------------------------------------------
// Q4_0: x ≈ d·q, q ∈ [−8, 7] (stored as q + 8).

// The passes below keep every per-element term in an array and add the arrays up pairwise (32 → 16 → 8 → 1):
// a fixed order of additions that the compiler turns into whole-vector adds on any SIMD width.
// w NULL means weights 1 (the multiply is left out; callers pass a literal NULL so that it is specialized).
static inline void fold32(float *p) {
    for (int j = 0; j < 16; j++) p[j] += p[j + 16];
    for (int j = 0; j < 8; j++) p[j] += p[j + 8];
}

// Codes for inverse scale t, clamped to [−8, 7]; Σ w·x·q and Σ w·q².
static ALWAYS_INLINE void q4_0_sums(const float *x, const float *w, float t, float *lx, float *l2) {
    float pa[QK], pb[QK];
    for (int j = 0; j < QK; j++) {
        float v = t * x[j];
        v = v < -8.0f ? -8.0f : v;
        v = v > 7.0f ? 7.0f : v;
        const float q = round_small(v);
        const float wq = w ? w[j] * q : q;
        pa[j] = wq * x[j];
        pb[j] = wq * q;
    }
    fold32(pa);
    fold32(pb);
    *lx = sum8(pa);
    *l2 = sum8(pb);
}

// Codes in [lo, hi] for the stored scale d of a symmetric format (normalized units, id = 1/d): the error
// Σ w (x − d·q)² they leave, and the sums for the next least-squares fit. Q4_0 and Q8_0 differ only in
// the code range (inlined with constant bounds).
static ALWAYS_INLINE float symmetric_eval(const float *x, const float *w, float d, float id, float lo, float hi,
                                          float *lx, float *l2) {
    float pa[QK], pb[QK], pc[QK];
    for (int j = 0; j < QK; j++) {
        float v = id * x[j];
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        const float q = round_small(v);
        const float r = x[j] - d * q;
        const float wq = w ? w[j] * q : q;
        pa[j] = wq * x[j];
        pb[j] = wq * q;
        pc[j] = (w ? w[j] * r : r) * r;
    }
    fold32(pa);
    fold32(pb);
    fold32(pc);
    *lx = sum8(pa);
    *l2 = sum8(pb);
    return sum8(pc);
}

static ALWAYS_INLINE float q4_0_eval(const float *x, const float *w, float d, float id, float *lx, float *l2) {
    return symmetric_eval(x, w, d, id, -8.0f, 7.0f, lx, l2);
}

// The grid's best candidate so far: the sums of its codes and its signed c.
typedef struct {
    float lx, l2, c;
} q4_0_pick;

// Scores the codes of inverse scale t = −c / max (c < 0: the short side) by the error the least-squares scale for
// them would leave, Σwx² − lx²/l2, and keeps them in *best if that is lower (lx²/l2 larger).
static ALWAYS_INLINE void q4_0_try(const float *x, const float *w, float max, float c, q4_0_pick *best) {
    float lx, l2;
    q4_0_sums(x, w, -c / max, &lx, &l2);
    if (l2 > 0.0f && (best->l2 == 0.0f || lx * lx * best->l2 > best->lx * best->lx * l2)) *best = (q4_0_pick){lx, l2, c};
}

// Evaluates the f16 scale h (codes re-rounded for it) and keeps it in *best_h if its error is lower.
// Returns 0 if h decodes to 0 in the scaled units; the codes' sums go to lx, l2.
static ALWAYS_INLINE int q4_0_try_half(const scaled_block *b, const float *w, uint16_t h, float *best_err, uint16_t *best_h,
                                       float *lx, float *l2) {
    const float d = to_scaled(b, h);
    if (d == 0.0f) return 0;
    const float err = q4_0_eval(b->xs, w, d, 1.0f / d, lx, l2);
    if (err < *best_err) {
        *best_err = err;
        *best_h = h;
    }
    return 1;
}

// The best f16 scale the search finds for one block (its bits; the sign is the scale's), or 0 if none (every
// candidate's scale underflowed). max: the block's element of largest magnitude, with its sign (scaled units).
static ALWAYS_INLINE uint16_t q4_0_search(const scaled_block *b, const float *w, float max, const search_cfg *cfg) {
    const float *x = b->xs;
    // 1. Grid: the element of largest magnitude is mapped near code −c (the reference puts it at exactly −8: the long
    //    side of the code range) or near +c (the short side, up to 7): t = −c / max or t = c / max, for c over a
    //    coarse grid on each side, then n_fine finer steps either side of the best.
    q4_0_pick best = {0.0f, 0.0f, 0.0f};
    const float long_step = cfg->n_long > 1 ? (cfg->long_hi - cfg->long_lo) / (float)(cfg->n_long - 1) : 0.0f;
    const float short_step = cfg->n_short > 1 ? (cfg->short_hi - cfg->short_lo) / (float)(cfg->n_short - 1) : 0.0f;
    for (int g = 0; g < cfg->n_long; g++) q4_0_try(x, w, max, cfg->long_lo + long_step * (float)g, &best);
    for (int g = 0; g < cfg->n_short; g++) q4_0_try(x, w, max, -(cfg->short_lo + short_step * (float)g), &best);
    if (best.l2 <= 0.0f) return 0;
    const float fine = (best.c > 0.0f ? long_step : short_step) / (float)(cfg->n_fine + 1), centre = best.c;
    for (int k = 1; k <= cfg->n_fine && fine > 0.0f; k++) {
        q4_0_try(x, w, max, centre - (float)k * fine, &best);
        q4_0_try(x, w, max, centre + (float)k * fine, &best);
    }
    // 2. Refinement: least-squares d for the codes → f16 → nearest codes for that d → measured error → repeat
    //    until the codes stop changing.
    uint16_t best_h = 0;
    float best_err = INFINITY, lx = best.lx, l2 = best.l2;
    for (int it = 0; it < cfg->iters && l2 > 0.0f; it++) {
        float nlx, nl2;
        if (!q4_0_try_half(b, w, half_finite(to_real(b, lx / l2)), &best_err, &best_h, &nlx, &nl2)) break;
        if (nlx == lx && nl2 == l2) break; // the same codes again: the next fit would be the same
        lx = nlx;
        l2 = nl2;
    }
    // 3. f16 neighbours of the best scale (the least-squares optimum lies between two f16 values).
    const uint16_t centre_h = best_h;
    for (int dir = -1; dir <= 1 && centre_h != 0; dir += 2) {
        uint16_t h = centre_h;
        for (int k = 1; k <= cfg->neighbours; k++) {
            float nlx, nl2;
            h = half_step(h, dir);
            if (!q4_0_try_half(b, w, h, &best_err, &best_h, &nlx, &nl2)) break;
        }
    }
    return best_h;
}

// The largest |x| of a block, and the first element with that magnitude (with its sign), as ggml's reference
// quantizers pick it. The maximum is folded pairwise (max is exact, so any order gives the same value).
static inline float block_amax(const float *x, float *first) {
    float a[QK];
    for (int j = 0; j < QK; j++) a[j] = fabsf(x[j]);
    for (int j = 0; j < 16; j++) a[j] = a[j] < a[j + 16] ? a[j + 16] : a[j];
    for (int j = 0; j < 8; j++) a[j] = a[j] < a[j + 8] ? a[j + 8] : a[j];
    for (int j = 0; j < 4; j++) a[j] = a[j] < a[j + 4] ? a[j + 4] : a[j];
    float amax = a[0];
    for (int j = 1; j < 4; j++) amax = amax < a[j] ? a[j] : amax;
    *first = 0.0f;
    for (int j = 0; j < QK; j++)
        if (fabsf(x[j]) == amax) { *first = x[j]; break; }
    return amax;
}

// Nearest codes (in [−8, 7]) for the stored scale d, and the values they decode to (as the dequantizer does).
static void q4_0_codes(const float *x, float d, float *q, float *y) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) {
        float v = id * x[j];
        v = v >= -8.0f ? v : -8.0f; // (a NaN, impossible for finite x and d, would become −8)
        v = v > 7.0f ? 7.0f : v;
        q[j] = round_small(v);
        y[j] = q[j] * d;
    }
}

static void q4_0_store(const float *q, uint16_t h, block_q4_0 *y) {
    y->d = h;
    for (int j = 0; j < QK / 2; j++) y->qs[j] = (uint8_t)((int)q[j] + 8) | (uint8_t)(((int)q[j + QK / 2] + 8) << 4);
}

// The values ggml's reference encoding of the block decodes to, recomputed with moe_quantize_ref_q4_0's own
// operations (cheaper than calling it and decoding its bytes; the benchmark checks they agree): d = max / −8,
// codes min(15, trunc(x / d + 8.5)), d stored as f16. For |d| ≥ FLT_MIN (the caller's condition) every x / d is in
// [−8, 8], so the int conversion here and the reference's int8_t one agree. moe_float_to_half gives the same bits
// as moe_f32_to_f16 for every non-NaN float (checked exhaustively).
static void q4_0_ref_values(const float *x, float dr, float *yr) {
    const float idr = dr != 0.0f ? 1.0f / dr : 0.0f;
    const float dr16 = moe_half_to_float(moe_float_to_half(dr));
    for (int j = 0; j < QK; j++) {
        const int t = (int)(x[j] * idr + 8.5f);
        yr[j] = (float)((t < 15 ? t : 15) - 8) * dr16;
    }
}

static ALWAYS_INLINE void quantize_q4_0(const float *x, block_q4_0 *y, int64_t n, const float *w, int effort) {
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        const float *wb = effective_weights(w ? w + i * QK : NULL);
        const search_cfg *cfg = &q4_0_cfg[config_index(effort, wb != NULL)];
        float max;
        const float amax = block_amax(x, &max);
        const float dr = max / -8; // the reference's scale
        if (dr != 0.0f && fabsf(dr) < FLT_MIN) {
            // Every element is below 8·FLT_MIN: any f16 scale decodes the block to zeros. (The reference's 1 / d may
            // overflow here, making its codes undefined; write its scale, ±0, with zero codes instead.)
            y[i].d = moe_float_to_half(dr);
            memset(y[i].qs, 0x88, sizeof y[i].qs);
            continue;
        }
        uint16_t h = 0;
        if (amax > 0.0f) {
            scaled_block b;
            scale_block(&b, x, amax, wb);
            const float maxs = (float)((double)max * b.down);
            h = wb ? q4_0_search(&b, b.ws, maxs, cfg) : q4_0_search(&b, NULL, maxs, cfg);
        }
        if (h != 0) {
            float yr[QK], q[QK], yc[QK];
            q4_0_ref_values(x, dr, yr);
            q4_0_codes(x, moe_half_to_float(h), q, yc);
            if (block_error(x, yc, wb) < finite_or_inf(block_error(x, yr, wb))) {
                q4_0_store(q, h, &y[i]);
                continue;
            }
        }
        moe_quantize_ref_q4_0(x, &y[i], QK); // the reference wins (or the block is all zeros)
        if (!half_is_finite(y[i].d)) {
            // The reference's scale overflowed f16 (|x| > 65504·8) and the search found nothing: clamp it.
            float q[QK], yc[QK];
            const uint16_t hc = half_finite(dr);
            q4_0_codes(x, moe_half_to_float(hc), q, yc);
            q4_0_store(q, hc, &y[i]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Q4_1: x ≈ d·q + m, q ∈ [0, 15], d > 0.

static const search_cfg q4_1_cfg[6] = {
    // c: steps spanning the block's range (the reference uses 15), anchored at the minimum (n_long) or the maximum
    // (n_short); n_phase: offsets of the anchor by fractions of a step, per coarse c on the minimum side.
    {4, 15.0f, 17.0f, 3, 15.5f, 17.0f, 1, 3, 0, 1},  // effort 0, unweighted
    {8, 14.0f, 19.0f, 6, 14.5f, 19.0f, 1, 3, 0, 1},  // effort 0, weighted
    {6, 14.5f, 17.5f, 4, 15.0f, 17.5f, 1, 4, 1, 2},  // effort 1
    {12, 14.0f, 19.0f, 8, 14.5f, 19.0f, 2, 4, 1, 2},
    {12, 14.0f, 19.0f, 8, 14.5f, 19.0f, 2, 5, 2, 3}, // effort 2
    {16, 13.5f, 21.0f, 12, 13.5f, 21.0f, 2, 5, 2, 3},
};

// Codes for x ≈ m0 + q / t, clamped to [0, 15]; Σ w·q, Σ w·q², Σ w·x·q.
static ALWAYS_INLINE void q4_1_sums(const float *x, const float *w, float m0, float t, float *sq,
                                                            float *sqq, float *sxq) {
    float pa[QK], pb[QK], pc[QK];
    for (int j = 0; j < QK; j++) {
        float v = (x[j] - m0) * t;
        v = v < 0.0f ? 0.0f : v;
        v = v > 15.0f ? 15.0f : v;
        const float q = round_small(v);
        const float wq = w ? w[j] * q : q;
        pa[j] = wq;
        pb[j] = wq * q;
        pc[j] = wq * x[j];
    }
    fold32(pa);
    fold32(pb);
    fold32(pc);
    *sq = sum8(pa);
    *sqq = sum8(pb);
    *sxq = sum8(pc);
}

// Codes for the stored d and m (normalized units, id = 1/d): the error Σ w (x − (q·d + m))² and the sums.
static ALWAYS_INLINE float q4_1_eval(const float *x, const float *w, float d, float id, float m,
                                                             float *sq, float *sqq, float *sxq) {
    float pa[QK], pb[QK], pc[QK], pe[QK];
    for (int j = 0; j < QK; j++) {
        float v = (x[j] - m) * id;
        v = v < 0.0f ? 0.0f : v;
        v = v > 15.0f ? 15.0f : v;
        const float q = round_small(v);
        const float r = x[j] - (q * d + m);
        const float wq = w ? w[j] * q : q;
        pa[j] = wq;
        pb[j] = wq * q;
        pc[j] = wq * x[j];
        pe[j] = (w ? w[j] * r : r) * r;
    }
    fold32(pa);
    fold32(pb);
    fold32(pc);
    fold32(pe);
    *sq = sum8(pa);
    *sqq = sum8(pb);
    *sxq = sum8(pc);
    return sum8(pe);
}

// Least squares for fixed codes: d·Σwq² + m·Σwq = Σwxq, d·Σwq + m·Σw = Σwx. Returns 0 when the codes are all
// equal (no slope) or the slope is not positive. `gain` is what the fit explains beyond the weighted mean,
// (Σw·Σwxq − Σwx·Σwq)² / (Σw·(Σw·Σwq² − (Σwq)²)): the larger, the smaller the fitted error.
static inline int q4_1_fit(double sw, double sx, double sq, double sqq, double sxq, double *d, double *m, double *gain) {
    const double den = sqq * sw - sq * sq, num = sw * sxq - sq * sx;
    if (!(den > 0.0) || !(num > 0.0)) return 0;
    *d = num / den;
    *m = (sqq * sx - sq * sxq) / den;
    *gain = num / den * num / sw;
    return 1;
}

// The grid's best candidate so far: its least-squares fit and where it came from.
typedef struct {
    double gain, d, m;
    float c;
    int top;
} q4_1_pick;

// The codes of x ≈ m0 + q / t with t = c / range, anchored at the minimum (top = 0: m0 = mn − phase / t, phase in
// steps) or at the maximum (top = 1: m0 = mx − 15 / t); keeps their least-squares fit in *best if it explains more.
static ALWAYS_INLINE void q4_1_try(const float *x, const float *w, double sw, double sx, float mn, float mx, float c, int top,
                                   float phase, q4_1_pick *best) {
    const float t = c / (mx - mn), m0 = top ? mx - 15.0f / t : mn - phase / t;
    float sq, sqq, sxq;
    double d, m, gain;
    q4_1_sums(x, w, m0, t, &sq, &sqq, &sxq);
    if (q4_1_fit(sw, sx, sq, sqq, sxq, &d, &m, &gain) && gain > best->gain) *best = (q4_1_pick){gain, d, m, c, top};
}

// Evaluates the stored pair (hd, hm) (codes re-rounded for it) and keeps it if its error is lower. Returns 0 if d
// decodes to 0 in the scaled units; the codes' sums go to sq, sqq, sxq.
static ALWAYS_INLINE int q4_1_try_half(const scaled_block *b, const float *w, uint16_t hd, uint16_t hm, float *best_err,
                                       uint16_t *best_hd, uint16_t *best_hm, float *sq, float *sqq, float *sxq) {
    const float d = to_scaled(b, hd);
    if (!(d > 0.0f)) return 0;
    const float err = q4_1_eval(b->xs, w, d, 1.0f / d, to_scaled(b, hm), sq, sqq, sxq);
    if (err < *best_err) {
        *best_err = err;
        *best_hd = hd;
        *best_hm = hm;
    }
    return 1;
}

// The best (d, m) the search finds for one block, as f16 bits in *hd_out, *hm_out; returns 0 if none (every
// candidate's scale underflowed). mn, mx: the block's minimum and maximum (scaled units), mx > mn.
static ALWAYS_INLINE int q4_1_search(const scaled_block *b, const float *w, float mn, float mx, const search_cfg *cfg,
                                     uint16_t *hd_out, uint16_t *hm_out) {
    const float *x = b->xs;
    float pw[QK], px[QK];
    for (int j = 0; j < QK; j++) {
        pw[j] = w ? w[j] : 1.0f;
        px[j] = w ? w[j] * x[j] : x[j];
    }
    fold32(pw);
    fold32(px);
    const double sw = sum8(pw), sx = sum8(px);
    // 1. Grid: c steps spanning the range, anchored at the minimum (c > 15 clips the top; the reference's c = 15
    //    clips nothing), with n_phase offsets of the anchor, or at the maximum (c > 15 clips the bottom); then
    //    n_fine finer steps either side of the best c.
    q4_1_pick best = {-1.0, 0.0, 0.0, 0.0f, 0};
    const int phases = cfg->n_phase > 1 ? cfg->n_phase : 1;
    const float long_step = cfg->n_long > 1 ? (cfg->long_hi - cfg->long_lo) / (float)(cfg->n_long - 1) : 0.0f;
    const float short_step = cfg->n_short > 1 ? (cfg->short_hi - cfg->short_lo) / (float)(cfg->n_short - 1) : 0.0f;
    for (int g = 0; g < cfg->n_long; g++)
        for (int p = 0; p < phases; p++)
            q4_1_try(x, w, sw, sx, mn, mx, cfg->long_lo + long_step * (float)g, 0, (float)p / (float)phases, &best);
    for (int g = 0; g < cfg->n_short; g++) q4_1_try(x, w, sw, sx, mn, mx, cfg->short_lo + short_step * (float)g, 1, 0.0f, &best);
    if (best.gain < 0.0) return 0;
    const float fine = (best.top ? short_step : long_step) / (float)(cfg->n_fine + 1), centre = best.c;
    const int top = best.top;
    for (int k = 1; k <= cfg->n_fine && fine > 0.0f; k++) {
        q4_1_try(x, w, sw, sx, mn, mx, centre - (float)k * fine, top, 0.0f, &best);
        q4_1_try(x, w, sw, sx, mn, mx, centre + (float)k * fine, top, 0.0f, &best);
    }
    // 2. Refinement: least-squares d → f16; m refitted for that d (the weighted mean of x − d·q) → f16; nearest
    //    codes for the stored pair; measured error; least-squares fit of both for those codes; repeat.
    float best_err = INFINITY, sq = 0.0f, sqq = 0.0f, sxq = 0.0f;
    uint16_t bhd = 0, bhm = 0;
    double d = best.d, m = best.m;
    for (int it = 0; it < cfg->iters; it++) {
        if (it > 0) {
            double gain;
            if (!q4_1_fit(sw, sx, sq, sqq, sxq, &d, &m, &gain)) break;
        }
        const uint16_t hd = half_finite(to_real(b, (float)d));
        if (it > 0) m = (sx - (double)to_scaled(b, hd) * sq) / sw; // (the grid's m goes with the grid's codes)
        const float prev = best_err;
        if (!q4_1_try_half(b, w, hd, half_finite(to_real(b, (float)m)), &best_err, &bhd, &bhm, &sq, &sqq, &sxq)) break;
        if (!(best_err < prev)) break; // no progress
    }
    if (bhd == 0) return 0;
    // 3. f16 neighbours of the best minimum, then of the best scale.
    for (int which = 0; which < 2; which++) {
        const uint16_t cd = bhd, cm = bhm;
        for (int dir = -1; dir <= 1; dir += 2) {
            uint16_t hd = cd, hm = cm;
            for (int k = 1; k <= cfg->neighbours; k++) {
                if (which == 0) hm = half_step(hm, dir);
                else hd = half_step(hd, dir);
                if (!q4_1_try_half(b, w, hd, hm, &best_err, &bhd, &bhm, &sq, &sqq, &sxq)) break;
            }
        }
    }
    *hd_out = bhd;
    *hm_out = bhm;
    return 1;
}

// Nearest codes (in [0, 15]) for the stored d and m, and the values they decode to (as the dequantizer does).
static void q4_1_codes(const float *x, float d, float m, float *q, float *y) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < QK; j++) {
        float v = (x[j] - m) * id;
        v = v >= 0.0f ? v : 0.0f; // a NaN (x − m overflowing to inf, times id = 0) becomes 0
        v = v > 15.0f ? 15.0f : v;
        q[j] = round_small(v);
        y[j] = q[j] * d + m;
    }
}

// The values ggml's reference encoding decodes to (d = (max − min) / 15, m = min, codes
// min(15, trunc((x − min) / d + 0.5)), both stored as f16), with moe_quantize_ref_q4_1's operations. For a finite d
// that is 0 or ≥ FLT_MIN (the caller's condition) every (x − min) / d + 0.5 is in [0, 15.5], so the int conversion
// here and the reference's int8_t one agree.
static void q4_1_ref_values(const float *x, float mn, float dr, float *yr) {
    const float id = dr != 0.0f ? 1.0f / dr : 0.0f;
    const float dr16 = moe_half_to_float(moe_float_to_half(dr)), mn16 = moe_half_to_float(moe_float_to_half(mn));
    for (int j = 0; j < QK; j++) {
        const int t = (int)((x[j] - mn) * id + 0.5f);
        yr[j] = (float)(t < 15 ? t : 15) * dr16 + mn16;
    }
}

static ALWAYS_INLINE void quantize_q4_1(const float *x, block_q4_1 *y, int64_t n, const float *w, int effort) {
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        const float *wb = effective_weights(w ? w + i * QK : NULL);
        const search_cfg *cfg = &q4_1_cfg[config_index(effort, wb != NULL)];
        float mn = x[0], mx = x[0];
        for (int j = 1; j < QK; j++) {
            mn = x[j] < mn ? x[j] : mn;
            mx = x[j] > mx ? x[j] : mx;
        }
        const float dr = (mx - mn) / 15; // the reference's scale
        if (dr > 0.0f && dr < FLT_MIN) {
            // A range below 15·FLT_MIN means |x| < 2⁻⁹⁸ (a float's spacing there is that small): f16 decodes the block
            // to zeros whatever is stored. (The reference's 1 / d may overflow, making its codes undefined.)
            y[i].d = moe_float_to_half(dr);
            y[i].m = moe_float_to_half(mn);
            memset(y[i].qs, 0, sizeof y[i].qs);
            continue;
        }
        // The reference to beat: ggml's encoding, or where its range overflows a float (then its codes are
        // undefined and its f16 scale infinite) the same scale and minimum clamped to finite f16, nearest codes.
        float q[QK], yc[QK], yr[QK];
        const int ref_defined = dr <= FLT_MAX;
        if (ref_defined) q4_1_ref_values(x, mn, dr, yr);
        else q4_1_codes(x, moe_half_to_float(half_finite(dr)), moe_half_to_float(half_finite(mn)), q, yr);
        uint16_t hd = 0, hm = half_finite(mn); // a constant block: d = 0 and m = x (finite), as the reference
        int found = 1;
        if (mx > mn) {
            const float amax = fabsf(mn) > fabsf(mx) ? fabsf(mn) : fabsf(mx);
            scaled_block b;
            scale_block(&b, x, amax, wb);
            const float mns = (float)((double)mn * b.down), mxs = (float)((double)mx * b.down);
            found = wb ? q4_1_search(&b, b.ws, mns, mxs, cfg, &hd, &hm) : q4_1_search(&b, NULL, mns, mxs, cfg, &hd, &hm);
        }
        if (!found) {
            // Nothing searched (f16 scales too coarse for the block): the reference's scale and minimum, finite.
            hd = half_finite(dr);
            hm = half_finite(mn);
        }
        q4_1_codes(x, moe_half_to_float(hd), moe_half_to_float(hm), q, yc);
        if (!(block_error(x, yc, wb) < finite_or_inf(block_error(x, yr, wb)))) {
            if (ref_defined) {
                moe_quantize_ref_q4_1(x, &y[i], QK); // the reference wins
                continue;
            }
            hd = half_finite(dr); // the clamped reference wins
            hm = half_finite(mn);
            q4_1_codes(x, moe_half_to_float(hd), moe_half_to_float(hm), q, yc);
        }
        y[i].d = hd;
        y[i].m = hm;
        for (int j = 0; j < QK / 2; j++) y[i].qs[j] = (uint8_t)((int)q[j] | ((int)q[j + QK / 2] << 4));
    }
}

// ---------------------------------------------------------------------------------------------
// Q8_0: x ≈ d·q, q ∈ [−127, 127] (−128 is never written).

static const search_cfg q8_0_cfg[6] = {
    // n_long f16 scales, every n_fine-th one from just below amax / 127.5 upwards: consecutive f16 values move only
    // the largest elements' rounding a little (an f16 step is 2⁻¹¹…2⁻¹⁰ of d, i.e. ≤ 1/8 of a code for x near amax),
    // so spreading the samples decorrelates them; then iters, neighbours as elsewhere.
    {8, 0, 0, 0, 0, 0, 8, 3, 2, 0},  // effort 0, unweighted
    {16, 0, 0, 0, 0, 0, 8, 3, 2, 0}, // effort 0, weighted: a few heavy elements dominate, more to gain
    {12, 0, 0, 0, 0, 0, 7, 3, 3, 0}, // effort 1
    {24, 0, 0, 0, 0, 0, 6, 3, 3, 0},
    {40, 0, 0, 0, 0, 0, 4, 4, 3, 0}, // effort 2
    {64, 0, 0, 0, 0, 0, 3, 4, 3, 0},
};

static ALWAYS_INLINE float q8_0_eval(const float *x, const float *w, float d, float id, float *lx, float *l2) {
    return symmetric_eval(x, w, d, id, -127.0f, 127.0f, lx, l2);
}

// The best f16 scale (positive) the search finds; 0 if none. amax: the block's largest |x| (scaled units).
static ALWAYS_INLINE uint16_t q8_0_search(const scaled_block *b, const float *w, float amax, const search_cfg *cfg) {
    const float *x = b->xs;
    // 1. The f16 scales from the largest one below amax / 127.5 (the smallest scale that clips nothing: amax then
    //    rounds to 127 exactly at the half-way point) upwards, n_long of them.
    uint16_t h = half_finite(to_real(b, amax / 127.5f));
    if (to_scaled(b, h) * 127.5f > amax && h > 1) h = (uint16_t)(h - 1);
    float best_err = INFINITY, lx = 0.0f, l2 = 0.0f, blx = 0.0f, bl2 = 0.0f;
    uint16_t best_h = 0;
    const int stride = cfg->n_fine > 0 ? cfg->n_fine : 1; // f16 steps between samples
    for (int g = 0; g < cfg->n_long; g++) {
        const float d = to_scaled(b, h);
        if (d > 0.0f) {
            const float err = q8_0_eval(x, w, d, 1.0f / d, &lx, &l2);
            if (err < best_err) { best_err = err; best_h = h; blx = lx; bl2 = l2; }
        }
        for (int k = 0; k < stride; k++) h = half_step(h, 1);
    }
    if (best_h == 0) return 0;
    // 2. Least-squares d for the best codes → f16 → nearest codes → measured error; repeated while it improves.
    //    3. f16 neighbours of the best.
    lx = blx;
    l2 = bl2;
    for (int it = 0; it < cfg->iters && l2 > 0.0f; it++) {
        const uint16_t hh = half_finite(to_real(b, lx / l2));
        const float d = to_scaled(b, hh);
        if (!(d > 0.0f)) break;
        const float err = q8_0_eval(x, w, d, 1.0f / d, &lx, &l2);
        if (err < best_err) { best_err = err; best_h = hh; }
        else break;
    }
    const uint16_t centre = best_h;
    for (int dir = -1; dir <= 1; dir += 2) {
        uint16_t hh = centre;
        for (int k = 1; k <= cfg->neighbours; k++) {
            hh = half_step(hh, dir);
            const float d = to_scaled(b, hh);
            if (!(d > 0.0f)) break;
            const float err = q8_0_eval(x, w, d, 1.0f / d, &lx, &l2);
            if (err < best_err) { best_err = err; best_h = hh; }
        }
    }
    return best_h;
}

// The values ggml's reference encoding decodes to (d = amax / 127, codes roundf(x / d), d stored as f16), with
// moe_quantize_ref_q8_0's operations; roundf's halves away from zero are made from the ties-to-even rounding.
// For d ≥ FLT_MIN (the caller's condition) every x / d is in [−127, 127] up to rounding.
static void q8_0_ref_values(const float *x, float dr, float *yr) {
    const float id = dr != 0.0f ? 1.0f / dr : 0.0f;
    const float dr16 = moe_half_to_float(moe_float_to_half(dr));
    for (int j = 0; j < QK; j++) {
        const float v = x[j] * id;
        const float r = round_small(v);
        yr[j] = (fabsf(v - r) == 0.5f ? v + copysignf(0.5f, v) : r) * dr16;
    }
}

static ALWAYS_INLINE void quantize_q8_0(const float *x, block_q8_0 *y, int64_t n, const float *w, int effort) {
    for (int64_t i = 0; i < n / QK; i++, x += QK) {
        const float *wb = effective_weights(w ? w + i * QK : NULL);
        const search_cfg *cfg = &q8_0_cfg[config_index(effort, wb != NULL)];
        float max;
        const float amax = block_amax(x, &max);
        const float dr = amax / 127; // the reference's scale
        if (dr != 0.0f && dr < FLT_MIN) {
            // Every element is below 127·FLT_MIN: any f16 scale decodes the block to zeros. (The reference's 1 / d may
            // overflow here, making its codes undefined; write its scale, 0, with zero codes instead.)
            y[i].d = moe_float_to_half(dr);
            memset(y[i].qs, 0, sizeof y[i].qs);
            continue;
        }
        if (amax == 0.0f) {
            moe_quantize_ref_q8_0(x, &y[i], QK); // exact already
            continue;
        }
        scaled_block b;
        scale_block(&b, x, amax, wb);
        const float amaxs = (float)((double)amax * b.down);
        uint16_t h = wb ? q8_0_search(&b, b.ws, amaxs, cfg) : q8_0_search(&b, NULL, amaxs, cfg);
        if (h == 0) h = half_finite(dr); // nothing searched: the reference's scale, made finite
        const float d = moe_half_to_float(h), id = d != 0.0f ? 1.0f / d : 0.0f;
        float q[QK], yc[QK], yr[QK];
        for (int j = 0; j < QK; j++) {
            float v = id * x[j];
            v = v >= -127.0f ? v : -127.0f;
            v = v > 127.0f ? 127.0f : v;
            q[j] = round_small(v);
            yc[j] = q[j] * d;
        }
        q8_0_ref_values(x, dr, yr);
        if (block_error(x, yc, wb) < finite_or_inf(block_error(x, yr, wb))) {
            y[i].d = h;
            for (int j = 0; j < QK; j++) y[i].qs[j] = (int8_t)(int)q[j];
        } else {
            moe_quantize_ref_q8_0(x, &y[i], QK); // the reference wins (its error is finite, so its scale is)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points. The row quantizers above are compiled twice on x86-64: as plain code (baseline SSE2) and, through
// the always-inline search passes, with AVX2 enabled for the loops to use 8-wide vectors. Both copies run the same
// float operations in the same order (no contraction: FP_CONTRACT is off, and FMA is not even enabled), so they
// write the same bytes; the AVX2 one runs where the kernels' SIMD path is active (moe_kernels_simd_active).

typedef void (*row_fn)(const float *x, void *y, int64_t n, const float *w, int effort);

static void row_q8_0(const float *x, void *y, int64_t n, const float *w, int effort) { quantize_q8_0(x, y, n, w, effort); }
static void row_q4_0(const float *x, void *y, int64_t n, const float *w, int effort) { quantize_q4_0(x, y, n, w, effort); }
static void row_q4_1(const float *x, void *y, int64_t n, const float *w, int effort) { quantize_q4_1(x, y, n, w, effort); }

#if MOE_X86
__attribute__((target("avx2"))) static void row_q8_0_avx2(const float *x, void *y, int64_t n, const float *w, int effort) {
    quantize_q8_0(x, y, n, w, effort);
}
__attribute__((target("avx2"))) static void row_q4_0_avx2(const float *x, void *y, int64_t n, const float *w, int effort) {
    quantize_q4_0(x, y, n, w, effort);
}
__attribute__((target("avx2"))) static void row_q4_1_avx2(const float *x, void *y, int64_t n, const float *w, int effort) {
    quantize_q4_1(x, y, n, w, effort);
}
#endif

static row_fn row_function(int type, int generic) {
#if MOE_X86
    if (!generic && moe_kernels_simd_active() && strstr(moe_kernels_features(), "avx2") != NULL) {
        switch (type) {
        case MOE_TYPE_Q8_0: return row_q8_0_avx2;
        case MOE_TYPE_Q4_0: return row_q4_0_avx2;
        case MOE_TYPE_Q4_1: return row_q4_1_avx2;
        default: return NULL;
        }
    }
#else
    (void)generic;
#endif
    switch (type) {
    case MOE_TYPE_Q8_0: return row_q8_0;
    case MOE_TYPE_Q4_0: return row_q4_0;
    case MOE_TYPE_Q4_1: return row_q4_1;
    default: return NULL;
    }
}

int moe_quantize_opt(int type, const float *x, void *y, int64_t n, const float *w, int effort) {
    const row_fn f = row_function(type, 0);
    if (!f || n < 0 || n % QK != 0) return -1;
    f(x, y, n, w, effort);
    return 0;
}

int moe_quantize_opt_generic(int type, const float *x, void *y, int64_t n, const float *w, int effort) {
    const row_fn f = row_function(type, 1);
    if (!f || n < 0 || n % QK != 0) return -1;
    f(x, y, n, w, effort);
    return 0;
}

// As the reference quantizers, these write n / 32 blocks (a partial block at the end is ignored).
void moe_quantize_opt_q8_0(const float *x, block_q8_0 *y, int64_t n, const float *w) { row_function(MOE_TYPE_Q8_0, 0)(x, y, n, w, 0); }
void moe_quantize_opt_q4_0(const float *x, block_q4_0 *y, int64_t n, const float *w) { row_function(MOE_TYPE_Q4_0, 0)(x, y, n, w, 0); }
void moe_quantize_opt_q4_1(const float *x, block_q4_1 *y, int64_t n, const float *w) { row_function(MOE_TYPE_Q4_1, 0)(x, y, n, w, 0); }
