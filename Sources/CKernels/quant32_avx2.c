// AVX2/FMA/F16C kernels for Q5_0, Q5_1, IQ4_NL and MXFP4 (x86-64, compiled per function, chosen at run
// time): dequantization (bit for bit the generic code), dot products with Q8_0 / Q8_1 activations and
// the tiled matrix products for prefill. Structure and conventions are quant_avx2.c's (the small helpers
// below are copies of its static ones): integer sums exactly the generic code's; per (row, token) 8 float
// partial sums updated once per block with a fused multiply-add and reduced in a fixed order; every
// (row, token) pair follows the same instructions whatever the tile, so the matrix product equals the
// dot product (the 1 × 1 tile) bit for bit.
//
// Integer products (vpmaddubsw: unsigned bytes × signed bytes → int16 pair sums) are exact for every
// activation code -128 … 127:
//   Q5_0: codes kept unsigned (0..31, pairs ≤ 31 · 128 · 2 = 7936); the -16 offset is taken out as
//         16 (y0 + y1) per pair, leaving |pair| ≤ 16 · 128 · 2 = 4096.
//   Q5_1: unsigned codes 0..31, pairs ≤ 7936; folded sums of 8 products ≤ 31744 < 2¹⁵.
//   IQ4_NL, MXFP4: the table values are signed (|v| ≤ 127, ≤ 12), so the activations' magnitudes are the
//         unsigned operand and the table values take the activations' signs: |y| · sign(y) v. |y| = 128
//         is fine as unsigned, and |v| ≤ 127 never overflows when negated (the other way round, as
//         Q8_0 · Q8_0 does it, an activation code -128 would be mis-signed). Pairs ≤ 128 · 127 · 2 = 32512
//         (IQ4_NL), ≤ 3072 (MXFP4).
// Q5_0, Q5_1 and MXFP4 tiles fold 4 rows' int16 pair sums into one vector (fold4, as Q4_0 / Q4_1), which
// needs sums of 8 products to fit int16: Q5_0 ≤ 16384, Q5_1 ≤ 31744, MXFP4 ≤ 12288. IQ4_NL's can reach
// 8 · 127 · 128 = 130048, so its tiles keep one accumulator per (row, token), as Q8_0's.
#include "quant32.h"
#include "x8_avx2.h" // e8m0x8_half

#if MOE_X86
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF

#define INLINE static inline __attribute__((always_inline)) MOE_AVX2

enum { MR = 4, NR = 4 };

// ---------------------------------------------------------------------------------------------
// Unpacking

// 16 bytes of packed nibbles → 32 bytes 0..15 in element order (low nibbles, then high nibbles).
INLINE __m256i nibbles(const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

// The 32 fifth bits of a Q5 block (bit j of qh little-endian: element j) as bytes 0 or 16 in element
// order: byte k takes byte k / 8 of qh and keeps its bit k % 8.
INLINE __m256i fifth_bits(const uint8_t *qh) {
    uint32_t u;
    memcpy(&u, qh, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)u),
        _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(0x10));
}

// Q5 codes 0..31 in element order.
INLINE __m256i q5_codes(const uint8_t *qs, const uint8_t *qh) { return _mm256_or_si256(nibbles(qs), fifth_bits(qh)); }

// A 16-entry int8 table in both 128-bit halves, looked up by nibbles 0..15.
INLINE __m256i table16(const int8_t *t) { return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t)); }
INLINE __m256i lookup(__m256i table, const uint8_t *qs) { return _mm256_shuffle_epi8(table, nibbles(qs)); }

// ---------------------------------------------------------------------------------------------
// Dequantization: the generic code's single float operation per element (no FMA), 8 lanes at a time.

// 8 signed bytes (low half of v) → 8 floats.
INLINE __m256 i8_to_f32(__m128i v) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v)); }

// 32 signed bytes → dst[0 ..< 32] = (float)q * s.
INLINE void store_i8x32(float *dst, __m256i q, float s) {
    const __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
    const __m256 v = _mm256_set1_ps(s);
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(i8_to_f32(a), v));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(i8_to_f32(_mm_srli_si128(a, 8)), v));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(i8_to_f32(b), v));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(i8_to_f32(_mm_srli_si128(b, 8)), v));
}

MOE_AVX2 void moe_dq_q5_0_avx2(const void *src, float *dst, int64_t n) {
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++, dst += QK5_0)
        store_i8x32(dst, _mm256_sub_epi8(q5_codes(x[i].qs, x[i].qh), _mm256_set1_epi8(16)), moe_half_to_float(x[i].d));
}

// (float)q * d + m: the product rounded, then the sum (as the generic code).
MOE_AVX2 void moe_dq_q5_1_avx2(const void *src, float *dst, int64_t n) {
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++, dst += QK5_1) {
        const __m256i q = q5_codes(x[i].qs, x[i].qh);
        const __m256 vd = _mm256_set1_ps(moe_half_to_float(x[i].d)), vm = _mm256_set1_ps(moe_half_to_float(x[i].m));
        const __m128i a = _mm256_castsi256_si128(q), b = _mm256_extracti128_si256(q, 1);
        const __m128i parts[4] = { a, _mm_srli_si128(a, 8), b, _mm_srli_si128(b, 8) };
        for (int k = 0; k < 4; k++) {
            const __m256 f = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(parts[k]));
            _mm256_storeu_ps(dst + 8 * k, _mm256_add_ps(_mm256_mul_ps(f, vd), vm));
        }
    }
}

MOE_AVX2 void moe_dq_iq4_nl_avx2(const void *src, float *dst, int64_t n) {
    const block_iq4_nl *x = src;
    const __m256i t = table16(moe_kvalues_iq4nl);
    for (int64_t i = 0; i < n / QK4_NL; i++, dst += QK4_NL) store_i8x32(dst, lookup(t, x[i].qs), moe_half_to_float(x[i].d));
}

MOE_AVX2 void moe_dq_mxfp4_avx2(const void *src, float *dst, int64_t n) {
    const block_mxfp4 *x = src;
    const __m256i t = table16(moe_kvalues_mxfp4);
    for (int64_t i = 0; i < n / QK_MXFP4; i++, dst += QK_MXFP4) store_i8x32(dst, lookup(t, x[i].qs), moe_e8m0_to_float_half(x[i].e));
}

// ---------------------------------------------------------------------------------------------
// Tiles. W, X: first row / token of the tile; ws, xs: bytes between rows / tokens; nb blocks per row;
// Y: output (row i, token j) at Y[j * ldy + i].

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// f16 → f32 through a zero-extended register (see quant_avx2.c: the intrinsic lets clang merge into a
// live accumulator, chaining blocks).
INLINE float h2f(ggml_half h) {
    __m128 r;
    __asm__("vcvtph2ps %1, %0" : "=x"(r) : "x"(_mm_cvtsi32_si128(h)));
    return _mm_cvtss_f32(r);
}

INLINE __m256 pairs_to_f32(__m256i p16) { return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1))); }

// Software prefetch MOE_Q_PF bytes (or 4 rows, if more) ahead of each row's block in use, one line per
// block (quant_avx2.c: measured ~25% on Zen 3 for the 32-element types).
#ifndef MOE_Q_PF
#define MOE_Q_PF 1024
#endif
#define PF_DIST ((size_t)ws * MR > MOE_Q_PF ? (size_t)ws * MR : MOE_Q_PF)
#define PREFETCH(p) _mm_prefetch((const char *)(p) + PF_DIST, _MM_HINT_T0)

#define TILE_ARGS int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs, float *Y, int64_t ldy

// The f16 scales of up to 4 rows' blocks as floats in lanes 0 ..< mr (one conversion).
INLINE __m128 row_scales(const int mr, const ggml_half *const p[MR]) {
    __m128i h = _mm_cvtsi32_si128(*p[0]);
    if (mr > 1) h = _mm_insert_epi16(h, *p[1], 1);
    if (mr > 2) h = _mm_insert_epi16(h, *p[2], 2);
    if (mr > 3) h = _mm_insert_epi16(h, *p[3], 3);
    return _mm_cvtph_ps(h);
}

// The halved E8M0 scales of up to 4 MXFP4 rows' blocks in lanes 0 ..< mr: moe_e8m0_to_float_half
// lane by lane (e ≥ 2: (e - 1) << 23; e < 2: 0x00200000 << e), the same bits.
INLINE __m128 row_scales_e8m0(const int mr, const uint8_t *const p[MR]) {
    uint32_t u = *p[0];
    if (mr > 1) u |= (uint32_t)*p[1] << 8;
    if (mr > 2) u |= (uint32_t)*p[2] << 16;
    if (mr > 3) u |= (uint32_t)*p[3] << 24;
    const __m128i e = _mm_cvtepu8_epi32(_mm_cvtsi32_si128((int)u));
    const __m128i normal = _mm_slli_epi32(_mm_sub_epi32(e, _mm_set1_epi32(1)), 23);
    const __m128i tiny = _mm_sllv_epi32(_mm_set1_epi32(0x00200000), e);
    return _mm_castsi128_ps(_mm_blendv_epi8(normal, tiny, _mm_cmplt_epi32(e, _mm_set1_epi32(2))));
}

// Lane i of v in all 8 lanes.
INLINE __m256 lane(__m128 v, int i) { return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(i)); }

INLINE void store_tile(const int mr, const int nr, __m256 acc[MR][NR], float *Y, int64_t ldy) {
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < mr; i++) Y[j * ldy + i] = hsum8(acc[i][j]);
}

// 4 rows' int16 pair sums → one vector of int32: lanes i and i + 4 are row i's sums of 16 products
// (quant_avx2.c's fold4: vpmaddwd with ones and vpackssdw; sums of 8 products must fit int16).
INLINE __m256 fold4(const __m256i p[4]) {
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i ab = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(p[0], one), _mm256_madd_epi16(p[1], one)), one);
    const __m256i cd = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(p[2], one), _mm256_madd_epi16(p[3], one)), one);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_packs_epi32(ab, cd), one));
}

// Y[j * ldy + i] = lanes i + (i + 4) of acc[j].
INLINE void store_fold4(const int mr, const int nr, const __m256 acc[NR], float *Y, int64_t ldy) {
    for (int j = 0; j < nr; j++) {
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[j]), _mm256_extractf128_ps(acc[j], 1));
        float t[4];
        _mm_storeu_ps(t, s);
        for (int i = 0; i < mr; i++) Y[j * ldy + i] = t[i];
    }
}

// Q5_0: unsigned codes, the -16 offset as 16 (y0 + y1) per pair.
INLINE void tile_q5_0(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[NR];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[MR];
        const ggml_half *dp[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const block_q5_0 *w = (const block_q5_0 *)(W + (size_t)i * ws) + b;
            PREFETCH(w);
            q[i] = q5_codes(w->qs, w->qh);
            dp[i] = &w->d;
        }
        const __m128 dw = row_scales(mr, dp);
        for (int j = 0; j < nr; j++) {
            const block_q8_0 *x = (const block_q8_0 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i y16 = _mm256_maddubs_epi16(_mm256_set1_epi8(16), y);
            __m256i p[4];
            for (int i = 0; i < 4; i++) p[i] = i < mr ? _mm256_sub_epi16(_mm256_maddubs_epi16(q[i], y), y16) : _mm256_setzero_si256();
            acc[j] = _mm256_fmadd_ps(_mm256_set_m128(dd, dd), fold4(p), acc[j]);
        }
    }
    store_fold4(mr, nr, acc, Y, ldy);
}

// Q5_1: as Q4_1's tile with 5-bit codes; m_w s_x per row goes into lanes 0-3.
INLINE void tile_q5_1(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[NR];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[MR];
        const ggml_half *dp[MR] = { 0 }, *mp[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const block_q5_1 *w = (const block_q5_1 *)(W + (size_t)i * ws) + b;
            PREFETCH(w);
            q[i] = q5_codes(w->qs, w->qh);
            dp[i] = &w->d;
            mp[i] = &w->m;
        }
        const __m128 dw = row_scales(mr, dp), mw = row_scales(mr, mp);
        for (int j = 0; j < nr; j++) {
            const block_q8_1 *x = (const block_q8_1 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m128 ms = _mm_mul_ps(mw, _mm_set1_ps(h2f(x->s)));
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            __m256i p[4];
            for (int i = 0; i < 4; i++) p[i] = i < mr ? _mm256_maddubs_epi16(q[i], y) : _mm256_setzero_si256();
            acc[j] = _mm256_fmadd_ps(_mm256_set_m128(dd, dd), fold4(p), acc[j]);
            acc[j] = _mm256_add_ps(acc[j], _mm256_zextps128_ps256(ms));
        }
    }
    store_fold4(mr, nr, acc, Y, ldy);
}

// MXFP4: table values with the activations' signs, folded; scales from the E8M0 bytes. Row i's block b: its
// exponent at e[i] + b · bstep, its 16 code bytes at q[i] + b · bstep (the row-major rows: tile_mxfp4); each row's
// stream prefetched pf bytes ahead.
INLINE void tile_mxfp4_at(const int mr, const int nr, int64_t nb, const uint8_t *const e[MR], const uint8_t *const q[MR],
                          size_t bstep, size_t pf, const uint8_t *X, size_t xs, float *Y, int64_t ldy) {
    const __m256i table = table16(moe_kvalues_mxfp4);
    __m256 acc[NR];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i v[MR];
        const uint8_t *ep[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const uint8_t *qs = q[i] + (size_t)b * bstep;
            _mm_prefetch((const char *)qs + pf, _MM_HINT_T0);
            v[i] = lookup(table, qs);
            ep[i] = e[i] + (size_t)b * bstep;
        }
        const __m128 dw = row_scales_e8m0(mr, ep);
        for (int j = 0; j < nr; j++) {
            const block_q8_0 *x = (const block_q8_0 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i ay = _mm256_abs_epi8(y); // -128 → 0x80: 128 as unsigned
            __m256i p[4];
            for (int i = 0; i < 4; i++) p[i] = i < mr ? _mm256_maddubs_epi16(ay, _mm256_sign_epi8(v[i], y)) : _mm256_setzero_si256();
            acc[j] = _mm256_fmadd_ps(_mm256_set_m128(dd, dd), fold4(p), acc[j]);
        }
    }
    store_fold4(mr, nr, acc, Y, ldy);
}

INLINE void tile_mxfp4(const int mr, const int nr, TILE_ARGS) {
    const uint8_t *e[MR] = { 0 }, *q[MR] = { 0 };
    for (int i = 0; i < mr; i++) {
        e[i] = W + (size_t)i * ws;
        q[i] = e[i] + offsetof(block_mxfp4, qs);
    }
    tile_mxfp4_at(mr, nr, nb, e, q, sizeof(block_mxfp4), PF_DIST, X, xs, Y, ldy);
}

// IQ4_NL: as MXFP4's products, one accumulator per (row, token) (the sums are too large to fold).
INLINE void tile_iq4_nl(const int mr, const int nr, TILE_ARGS) {
    const __m256i table = table16(moe_kvalues_iq4nl);
    __m256 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i v[MR];
        const ggml_half *dp[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const block_iq4_nl *w = (const block_iq4_nl *)(W + (size_t)i * ws) + b;
            PREFETCH(w);
            v[i] = lookup(table, w->qs);
            dp[i] = &w->d;
        }
        const __m128 dw = row_scales(mr, dp);
        for (int j = 0; j < nr; j++) {
            const block_q8_0 *x = (const block_q8_0 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i ay = _mm256_abs_epi8(y);
            for (int i = 0; i < mr; i++) {
                const __m256 f = pairs_to_f32(_mm256_maddubs_epi16(ay, _mm256_sign_epi8(v[i], y)));
                acc[i][j] = _mm256_fmadd_ps(lane(dd, i), f, acc[i][j]);
            }
        }
    }
    store_tile(mr, nr, acc, Y, ldy);
}

// ---------------------------------------------------------------------------------------------
// Instantiation (as quant_avx2.c): each tile shape with constant mr, nr; the dot product as the 1 × 1
// tile; the matrix product: rows outer in groups of mr_max, tokens inner in groups of nr_max.

typedef void (*tiles_fn)(int mr, int nr, TILE_ARGS);

static MOE_AVX2 void mmq_tiles(tiles_fn tiles, int mr_max, int nr_max, int64_t M, int64_t N, int64_t nb,
                               const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    for (int64_t m0 = 0; m0 < M; m0 += mr_max) {
        const int mr = (int)(M - m0 < mr_max ? M - m0 : mr_max);
        for (int64_t n0 = 0; n0 < N; n0 += nr_max) {
            const int nr = (int)(N - n0 < nr_max ? N - n0 : nr_max);
            tiles(mr, nr, nb, (const uint8_t *)W + (size_t)m0 * ws, ws, (const uint8_t *)X + (size_t)n0 * xs, xs,
                  Y + n0 * ldy + m0, ldy);
        }
    }
}

// Tile shapes (rows × tokens): 4 × 4 for the folded tiles (one accumulator per token), 4 × 2 for IQ4_NL
// (one per pair).
enum {
    q5_0_MR = 4, q5_0_NR = 4,
    q5_1_MR = 4, q5_1_NR = 4,
    mxfp4_MR = 4, mxfp4_NR = 4,
    iq4_nl_MR = 4, iq4_nl_NR = 2,
};

#define SHAPE(T, a, b) case (a) * 8 + (b): tile_##T(a, b, nb, W, ws, X, xs, Y, ldy); break
#define DEFINE_TILES(T, QK)                                                                                \
    static MOE_AVX2 void tiles_##T(int mr, int nr, TILE_ARGS) {                                           \
        switch (mr * 8 + nr) {                                                                            \
            SHAPE(T, 4, 4); SHAPE(T, 4, 3); SHAPE(T, 4, 2); SHAPE(T, 4, 1);                               \
            SHAPE(T, 3, 4); SHAPE(T, 3, 3); SHAPE(T, 3, 2); SHAPE(T, 3, 1);                               \
            SHAPE(T, 2, 4); SHAPE(T, 2, 3); SHAPE(T, 2, 2); SHAPE(T, 2, 1);                               \
            SHAPE(T, 1, 4); SHAPE(T, 1, 3); SHAPE(T, 1, 2); SHAPE(T, 1, 1);                               \
            default: break;                                                                               \
        }                                                                                                 \
    }                                                                                                     \
    MOE_AVX2 float moe_vd_##T##_avx2(int64_t n, const void *w, const void *x) {                           \
        float r;                                                                                          \
        tile_##T(1, 1, n / (QK), w, 0, x, 0, &r, 1);                                                      \
        return r;                                                                                         \
    }
#define DEFINE_TYPE(T, QK)                                                                                 \
    DEFINE_TILES(T, QK)                                                                                   \
    MOE_AVX2 void moe_mmq_##T##_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws,          \
                                     const void *X, size_t xs, float *Y, int64_t ldy) {                   \
        mmq_tiles(tiles_##T, T##_MR, T##_NR, M, N, K / (QK), W, ws, X, xs, Y, ldy);                      \
    }

DEFINE_TYPE(q5_0, QK5_0)
DEFINE_TYPE(q5_1, QK5_1)
DEFINE_TYPE(iq4_nl, QK4_NL)
DEFINE_TILES(mxfp4, QK_MXFP4)

// The 4 rows' folded int32 sums of fold4, without the conversion.
INLINE __m256i fold4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i ab = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(a, one), _mm256_madd_epi16(b, one)), one);
    const __m256i cd = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(c, one), _mm256_madd_epi16(d, one)), one);
    return _mm256_madd_epi16(_mm256_packs_epi32(ab, cd), one);
}

// One token (matrix-vector) for MXFP4, 8 rows at a time: per row the same integers and float operations as
// tile_mxfp4 (so the same bits), fewer instructions per block (quant_avx2.c's gemv_q4_0 layout of the work):
// rows r and r + 4 share a vector (row r's 16 code bytes in the low 128 bits, row r + 4's in the high), low
// and high nibbles looked up separately, so the activations of each half-block are one broadcast and the
// folded sums come out as [rows 0-7, elements 0-15] and [rows 0-7, elements 16-31], and the 8 rows' E8M0
// scales are one conversion and one product. Lanes r / r + 4 of fold4 in tile_mxfp4 hold exactly these two
// sums of row r, each accumulated with the same fma and added at the end (store_fold4).
enum { MXFP4_GEMV_PF = 16 }; // rows ahead prefetched (the row group after next)


// One block of 8 rows: codes v0…v3 ([row r | row r + 4] code bytes), the 8 rows' exponents in e8 (rows 0…7,
// byte r), one token's Q8_0 block x; accumulates rows 0-3 / 4-7 into the lanes of accl (elements 0-15 of the
// block) and acch (16-31). The row-major one-token kernel's step (the x8 layout has its own: nib_x8_avx2.c).
INLINE void mxfp4_block8(__m256i v0, __m256i v1, __m256i v2, __m256i v3, uint64_t e8, const block_q8_0 *x, __m256 *accl, __m256 *acch) {
    const __m256i table = table16(moe_kvalues_mxfp4), m4 = _mm256_set1_epi8(0x0F);
    const __m256i yl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x->qs));
    const __m256i yh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(x->qs + 16)));
    const __m256i al = _mm256_abs_epi8(yl), ah = _mm256_abs_epi8(yh);
#define LO(v) _mm256_maddubs_epi16(al, _mm256_sign_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, m4)), yl))
#define HI(v) _mm256_maddubs_epi16(ah, _mm256_sign_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), m4)), yh))
    const __m256i sl = fold4_i32(LO(v0), LO(v1), LO(v2), LO(v3));
    const __m256i sh = fold4_i32(HI(v0), HI(v1), HI(v2), HI(v3));
#undef LO
#undef HI
    const __m256 dd = _mm256_mul_ps(e8m0x8_half(e8), _mm256_set1_ps(h2f(x->d)));
    *accl = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sl), *accl);
    *acch = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sh), *acch);
}

static MOE_AVX2 void gemv_mxfp4(int64_t M, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, float *Y) {
    const block_q8_0 *x = (const block_q8_0 *)X;
    const size_t ws4 = 4 * ws;
    int64_t m0 = 0;
    for (; m0 + 8 <= M; m0 += 8) {
        const uint8_t *a0 = W + (size_t)m0 * ws;
        __m256 accl = _mm256_setzero_ps(), acch = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++, a0 += sizeof(block_mxfp4)) {
            const uint8_t *a1 = a0 + ws, *a2 = a0 + 2 * ws, *a3 = a1 + 2 * ws;
            // Each row's stream MXFP4_GEMV_PF rows ahead, one line per 3 blocks (51 bytes < 64).
            if (b % 3 == 0)
                for (int r = 0; r < 8; r++) _mm_prefetch((const char *)a0 + (size_t)(r + MXFP4_GEMV_PF) * ws, _MM_HINT_T0);
#define LD(p) _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)((p) + 1))), _mm_loadu_si128((const __m128i *)((p) + ws4 + 1)), 1)
            const __m256i v0 = LD(a0), v1 = LD(a1), v2 = LD(a2), v3 = LD(a3);
#undef LD
            const uint64_t e8 = (uint64_t)a0[0] | (uint64_t)a1[0] << 8 | (uint64_t)a2[0] << 16 | (uint64_t)a3[0] << 24 |
                                (uint64_t)a0[ws4] << 32 | (uint64_t)a1[ws4] << 40 | (uint64_t)a2[ws4] << 48 | (uint64_t)a3[ws4] << 56;
            mxfp4_block8(v0, v1, v2, v3, e8, x + b, &accl, &acch);
        }
        // lanes 0-3: rows 0-3, lanes 4-7: rows 4-7
        _mm256_storeu_ps(Y + m0, _mm256_add_ps(accl, acch));
    }
    if (m0 < M) mmq_tiles(tiles_mxfp4, 4, 1, M - m0, 1, nb, W + (size_t)m0 * ws, ws, X, 0, Y + m0, 1);
}

MOE_AVX2 void moe_mmq_mxfp4_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                 float *Y, int64_t ldy) {
    if (N == 1) gemv_mxfp4(M, K / QK_MXFP4, W, ws, X, Y);
    else mmq_tiles(tiles_mxfp4, mxfp4_MR, mxfp4_NR, M, N, K / QK_MXFP4, W, ws, X, xs, Y, ldy);
}

#endif // MOE_X86
