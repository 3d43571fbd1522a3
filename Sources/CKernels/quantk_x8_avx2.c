// AVX2 kernels on the K-quant x8 layouts (moe_repack.h): 8 rows, one per 32-bit lane, against one token or a few.
//
// A 32-byte load holds the same 4 elements of the 8 rows; the 4 activations are one broadcast, so vpmaddubsw
// gives each row's pairwise products in its own lane and no horizontal sum is ever needed: a sub-block's int16
// sums meet the 8 rows' scales (int16 pairs, one row per lane) in one vpmaddwd. Per row and super-block the
// integer sum is exact, then acc = fma(d_w · d_x, sum, acc) in the row's lane: the arithmetic of the AVX2 and
// AVX-512 levels' row-major kernels and of the generic x8 functions (repack.c), hence the same bits.
//
// Several tokens: the codes of a step are decoded once and used for NT ≤ 4 tokens (the weights of a group of 8
// rows, a few KiB per super-block row, stay in L1/L2 from one token group to the next).
#include "quantk_internal.h"
#include "moe_repack.h"

#include "x8_avx2.h"

#if MOE_X86
#pragma STDC FP_CONTRACT OFF

#define INLINE X8_INLINE
enum { NT_MAX = X8_NT_MAX };

// Prefetch distances (bytes ahead in the stream), measured on an AVX2 EPYC at 512 … 4096: Q4_K, the least compute
// per byte, streams best about one step ahead (1024: 80–89% of one core's stream against 77–82% at 2048); Q3_K and
// IQ4_XS, more compute per byte, at 2048.
enum { Q4X8_AHEAD = 1024, Q3X8_AHEAD = 2048, XSX8_AHEAD = 2048 };

// ---------------------------------------------------------------------------------------------
// The 8 rows' int16 pairs (s, s) of the sub-blocks whose scale bytes sit at the x8 positions of vector v (see
// moe_repack.h: 128-bit half i / 2, 4 · (i % 2) + r % 4 + 8 · (r / 4)): S[i] for i = 0 … 3, signed or unsigned bytes.
INLINE void x8_scale_pairs(__m256i v, const int sign, __m256i S[4]) {
    const __m128i l = _mm256_castsi256_si128(v), h = _mm256_extracti128_si256(v, 1);
    const __m256i a = sign ? _mm256_cvtepi8_epi16(l) : _mm256_cvtepu8_epi16(l); // [i0 r0-3, i1 r0-3 | i0 r4-7, i1 r4-7]
    const __m256i b = sign ? _mm256_cvtepi8_epi16(h) : _mm256_cvtepu8_epi16(h); // the same for i2, i3
    S[0] = _mm256_unpacklo_epi16(a, a);
    S[1] = _mm256_unpackhi_epi16(a, a);
    S[2] = _mm256_unpacklo_epi16(b, b);
    S[3] = _mm256_unpackhi_epi16(b, b);
}

// Groups [g0, g1) × tokens [0, NT) through `step` (STEP bytes a super-block); Y[t · ldy + 8g + r]. One function per
// type and token count, so the step's loops unroll with constant shifts.
#define X8_GROUPS(T, STEP, AHEAD)                                                                                          \
    INLINE void T##_groups(const int nt, int64_t g0, int64_t g1, int64_t nb, const uint8_t *w, const uint8_t *X,   \
                           size_t xs, float *Y, int64_t ldy) {                                                     \
        for (int64_t g = g0; g < g1; g++) {                                                                        \
            const uint8_t *p = w + (size_t)g * (size_t)nb * (STEP);                                                \
            __m256 acc[NT_MAX];                                                                                    \
            for (int t = 0; t < nt; t++) acc[t] = _mm256_setzero_ps();                                             \
            for (int64_t b = 0; b < nb; b++, p += (STEP)) {                                                        \
                x8_prefetch(p, (STEP), (AHEAD));                                                                            \
                const block_q8_K *x[NT_MAX];                                                                       \
                for (int t = 0; t < nt; t++) x[t] = (const block_q8_K *)(X + (size_t)t * xs) + b;                 \
                T##_step(nt, p, x, acc);                                                                           \
            }                                                                                                      \
            for (int t = 0; t < nt; t++) _mm256_storeu_ps(Y + t * ldy + 8 * g, acc[t]);                            \
        }                                                                                                          \
    }                                                                                                              \
    MOE_AVX2 void moe_gemv_##T##x8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) { \
        T##_groups(1, g0, g1, cols / QK_K, w, x, 0, y, 0);                                                         \
    }                                                                                                              \
    MOE_AVX2 void moe_mmq_##T##x8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *X, \
                                       float *Y, int64_t ldy) {                                                    \
        const int64_t nb = cols / QK_K;                                                                            \
        const size_t xs = (size_t)nb * sizeof(block_q8_K);                                                         \
        for (int64_t g = g0; g < g1; g++) {                                                                        \
            for (int64_t n0 = 0; n0 < N; n0 += NT_MAX) {                                                           \
                const uint8_t *Xn = (const uint8_t *)X + (size_t)n0 * xs;                                          \
                float *Yn = Y + n0 * ldy;                                                                          \
                switch (N - n0 < NT_MAX ? N - n0 : NT_MAX) {                                                       \
                case 4: T##_groups(4, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                   \
                case 3: T##_groups(3, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                   \
                case 2: T##_groups(2, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                   \
                default: T##_groups(1, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                  \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
    }

// ---------------------------------------------------------------------------------------------
// Q3_K x8: 880 bytes per step (d at 0, scales at 16, codes at 112: triple q → 112 + 96q, planes as in moe_repack.h).
enum { Q3X8_STEP = 8 * sizeof(block_q3_K), Q3X8_SC = 16, Q3X8_CODES = 112 };

// One super-block step of 8 rows against nt tokens. Codes u = q + 4 (0 … 7); the offset comes out of each sub-block's
// pair sums as -4 · bsums[k] added to the first of each pair (|4 bsums| ≤ 8192): 4 planes' pair sums
// (≤ 4 · 2 · 7 · 128) plus it fit int16.
INLINE void q3_K_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m256 *acc) {
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)(p + Q3X8_SC));
    const __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + Q3X8_SC + 32));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + Q3X8_SC + 64));
    const __m256i lo4 = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    // as moe_q3k_scales: sub-blocks 4m … 4m + 3 from the positions of scale bytes 4m' … of vector m'
    __m256i S[16];
    x8_scale_pairs(_mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(v0, lo4), _mm256_and_si256(_mm256_slli_epi16(v2, 4), top)), bias), 1, S);
    x8_scale_pairs(_mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(v1, lo4), _mm256_and_si256(_mm256_slli_epi16(v2, 2), top)), bias), 1, S + 4);
    x8_scale_pairs(_mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 4), lo4), _mm256_and_si256(v2, top)), bias), 1, S + 8);
    x8_scale_pairs(_mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v1, 4), lo4), _mm256_and_si256(_mm256_srli_epi16(v2, 2), top)), bias),
                   1, S + 12);
    // -4 · bsums[k] as the low int16 of an int32 (the high one 0), per token
    _Alignas(32) int32_t off[NT_MAX][16];
    __m256i isum[NT_MAX];
    for (int t = 0; t < nt; t++) {
        const __m256i m = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(_mm256_loadu_si256((const __m256i *)x[t]->bsums), 2));
        _mm256_store_si256((__m256i *)off[t], _mm256_cvtepu16_epi32(_mm256_castsi256_si128(m)));
        _mm256_store_si256((__m256i *)(off[t] + 8), _mm256_cvtepu16_epi32(_mm256_extracti128_si256(m, 1)));
        isum[t] = _mm256_setzero_si256();
    }
    const __m256i m7 = _mm256_set1_epi8(7), m88 = _mm256_set1_epi8((char)0x88);
    // fully unrolled, so that every shift count is an immediate (a rolled loop costs 2× here)
#pragma clang loop unroll(full)
    for (int q = 0; q < 8; q++) {
        const uint8_t *c = p + Q3X8_CODES + 96 * q;
        const __m256i A = _mm256_loadu_si256((const __m256i *)c), B = _mm256_loadu_si256((const __m256i *)(c + 32)),
                      C = _mm256_loadu_si256((const __m256i *)(c + 64));
        // planes 6 and 7: bits 3 and 7 of A, B, C gathered as bits 3, 2, 1 and 7, 6, 5 (16-bit shifts of masked
        // bytes never cross into the next byte)
        const __m256i w = _mm256_or_si256(_mm256_and_si256(A, m88), _mm256_or_si256(_mm256_srli_epi16(_mm256_and_si256(B, m88), 1),
                                                                                   _mm256_srli_epi16(_mm256_and_si256(C, m88), 2)));
        const __m256i u[8] = {
            _mm256_and_si256(A, m7), _mm256_and_si256(_mm256_srli_epi16(A, 4), m7),
            _mm256_and_si256(B, m7), _mm256_and_si256(_mm256_srli_epi16(B, 4), m7),
            _mm256_and_si256(C, m7), _mm256_and_si256(_mm256_srli_epi16(C, 4), m7),
            _mm256_and_si256(_mm256_srli_epi16(w, 1), m7), _mm256_and_si256(_mm256_srli_epi16(w, 5), m7),
        };
        for (int t = 0; t < nt; t++) {
            const int8_t *y = x[t]->qs + 32 * q;
            __m256i P0 = _mm256_set1_epi32(off[t][2 * q]), P1 = _mm256_set1_epi32(off[t][2 * q + 1]);
#pragma clang loop unroll(full)
            for (int pl = 0; pl < 4; pl++) {
                P0 = _mm256_add_epi16(P0, _mm256_maddubs_epi16(u[pl], bcast4(y + 4 * pl)));
                P1 = _mm256_add_epi16(P1, _mm256_maddubs_epi16(u[pl + 4], bcast4(y + 16 + 4 * pl)));
            }
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(P0, S[2 * q]), _mm256_madd_epi16(P1, S[2 * q + 1])));
        }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    for (int t = 0; t < nt; t++)
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[t]->d)), _mm256_cvtepi32_ps(isum[t]), acc[t]);
}
X8_GROUPS(q3_K, Q3X8_STEP, Q3X8_AHEAD)

// ---------------------------------------------------------------------------------------------
// Q4_K x8: 1,152 bytes per step (d at 0, dmin at 16, scales at 32, codes at 128: chunk c, g4 → 128 + 256c + 32 g4).
enum { Q4X8_STEP = 8 * sizeof(block_q4_K), Q4X8_SC = 32, Q4X8_QS = 128 };
// One super-block step of 8 rows against nt tokens: acc = fma(d·dx, Σ_k sc_k Σ q y, acc), then
// acc = fma(-(dmin·dx), Σ_k m_k (bsums[2k] + bsums[2k + 1]), acc), as moe_k4_isums and the x16 reference.
// Codes 0 … 15: a sub-block's 8 loads give pair sums ≤ 8 · 2 · 15 · 128 = 30,720, within int16.
INLINE void q4_K_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m256 *acc) {
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)(p + Q4X8_SC));
    const __m256i v1 = _mm256_loadu_si256((const __m256i *)(p + Q4X8_SC + 32));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(p + Q4X8_SC + 64));
    const __m256i m4 = _mm256_set1_epi8(0x0F), m6 = _mm256_set1_epi8(63), top = _mm256_set1_epi8(0x30);
    // as moe_get_scale_min_k4: sub-blocks 0-3 from bytes 0-3 (scales) and 4-7 (mins), 4-7 from 8-11 and the top bits
    const __m256i sc03 = _mm256_and_si256(v0, m6), mn03 = _mm256_and_si256(v1, m6);
    const __m256i sc47 = _mm256_or_si256(_mm256_and_si256(v2, m4), _mm256_and_si256(_mm256_srli_epi16(v0, 2), top));
    const __m256i mn47 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v2, 4), m4), _mm256_and_si256(_mm256_srli_epi16(v1, 2), top));
    __m256i S[8];
    x8_scale_pairs(sc03, 0, S);
    x8_scale_pairs(sc47, 0, S + 4);
    // mins as pairs (m_k, m_k+1) for k = 0, 2, 4, 6: one row per lane
    __m256i M[4];
    {
        const __m256i a = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(mn03)), b = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(mn03, 1));
        const __m256i c = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(mn47)), d = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(mn47, 1));
        M[0] = _mm256_unpacklo_epi16(a, _mm256_srli_si256(a, 8));
        M[1] = _mm256_unpacklo_epi16(b, _mm256_srli_si256(b, 8));
        M[2] = _mm256_unpacklo_epi16(c, _mm256_srli_si256(c, 8));
        M[3] = _mm256_unpacklo_epi16(d, _mm256_srli_si256(d, 8));
    }
    __m256i isum[NT_MAX], msum[NT_MAX];
    for (int t = 0; t < nt; t++) {
        // Σ y of the 8 sub-blocks of 32 as int16 (|.| ≤ 4096), pairs (k, k + 1) per 32-bit lane
        const __m128i s16 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x[t]->bsums), _mm_loadu_si128((const __m128i *)(x[t]->bsums + 8)));
        int32_t bs[4];
        _mm_storeu_si128((__m128i *)bs, s16);
        msum[t] = _mm256_madd_epi16(M[0], _mm256_set1_epi32(bs[0]));
        msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(M[1], _mm256_set1_epi32(bs[1])));
        msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(M[2], _mm256_set1_epi32(bs[2])));
        msum[t] = _mm256_add_epi32(msum[t], _mm256_madd_epi16(M[3], _mm256_set1_epi32(bs[3])));
        isum[t] = _mm256_setzero_si256();
    }
    for (int c = 0; c < 4; c++) {
        __m256i lo[NT_MAX], hi[NT_MAX];
        for (int t = 0; t < nt; t++) lo[t] = hi[t] = _mm256_setzero_si256();
        for (int g4 = 0; g4 < 8; g4++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(p + Q4X8_QS + 256 * c + 32 * g4));
            const __m256i ql = _mm256_and_si256(raw, m4), qh = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
            for (int t = 0; t < nt; t++) {
                lo[t] = _mm256_add_epi16(lo[t], _mm256_maddubs_epi16(ql, bcast4(x[t]->qs + 64 * c + 4 * g4)));
                hi[t] = _mm256_add_epi16(hi[t], _mm256_maddubs_epi16(qh, bcast4(x[t]->qs + 64 * c + 32 + 4 * g4)));
            }
        }
        for (int t = 0; t < nt; t++)
            isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(lo[t], S[2 * c]), _mm256_madd_epi16(hi[t], S[2 * c + 1])));
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    const __m256 dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p + 16)));
    for (int t = 0; t < nt; t++) {
        const __m256 dx = _mm256_set1_ps(x[t]->d);
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, dx), _mm256_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_mul_ps(dmin, dx), _mm256_cvtepi32_ps(msum[t]), acc[t]);
    }
}
X8_GROUPS(q4_K, Q4X8_STEP, Q4X8_AHEAD)

// ---------------------------------------------------------------------------------------------
// IQ4_XS x8: 1,088 bytes per step (d at 0, scales_l at 16 in the x8 scale positions, scales_h at 48 + 2r, codes at
// 64: sub-block ib, g4 → 64 + 128 ib + 32 g4, low nibbles elements 4 g4 …, high nibbles 16 + 4 g4 …).
enum { XSX8_STEP = 8 * sizeof(block_iq4_xs), XSX8_SL = 16, XSX8_SH = 48, XSX8_QS = 64 };

// Table values v (-127 … 113) are signed: products |y| · (v with y's sign), pairs ≤ 2 · 128 · 127 = 32,512 (exact
// for y = -128 too), so each load's pair sums meet the scales at once.
INLINE void iq4_xs_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m256 *acc) {
    // ls = (4 bits of scales_l | 2 bits of scales_h << 4) - 32 (moe_iq4xs_scales), sub-blocks 2i and 2i + 1 at the
    // positions of scales_l byte i
    const __m256i sl = _mm256_loadu_si256((const __m256i *)(p + XSX8_SL));
    const __m256i sh16 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(p + XSX8_SH)));
    // scales_h byte i / 2 of row r at the position of (i, r); its bits 4 (i % 2) … for sub-blocks 2i, 2i + 1
    const __m256i pick = _mm256_setr_epi8(0, 2, 4, 6, 0, 2, 4, 6, 8, 10, 12, 14, 8, 10, 12, 14,
                                          1, 3, 5, 7, 1, 3, 5, 7, 9, 11, 13, 15, 9, 11, 13, 15);
    const __m256i sh = _mm256_srlv_epi32(_mm256_shuffle_epi8(sh16, pick), _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4));
    const __m256i m4 = _mm256_set1_epi8(0x0F), top = _mm256_set1_epi8(0x30), bias = _mm256_set1_epi8(32);
    const __m256i ev = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(sl, m4), _mm256_and_si256(_mm256_slli_epi16(sh, 4), top)), bias);
    const __m256i od = _mm256_sub_epi8(_mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(sl, 4), m4), _mm256_and_si256(_mm256_slli_epi16(sh, 2), top)), bias);
    __m256i E[4], O[4], S[8];
    x8_scale_pairs(ev, 1, E);
    x8_scale_pairs(od, 1, O);
    for (int i = 0; i < 4; i++) S[2 * i] = E[i], S[2 * i + 1] = O[i];
    // |y| of each token's block, so a broadcast of 4 magnitudes is a load
    _Alignas(32) int8_t ay[NT_MAX][QK_K];
    __m256i isum[NT_MAX];
    for (int t = 0; t < nt; t++) {
        for (int l = 0; l < QK_K; l += 32)
            _mm256_store_si256((__m256i *)(ay[t] + l), _mm256_abs_epi8(_mm256_loadu_si256((const __m256i *)(x[t]->qs + l))));
        isum[t] = _mm256_setzero_si256();
    }
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)moe_kvalues_iq4nl));
    for (int ib = 0; ib < 8; ib++) {
        for (int g4 = 0; g4 < 4; g4++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(p + XSX8_QS + 128 * ib + 32 * g4));
            const __m256i vl = _mm256_shuffle_epi8(tbl, _mm256_and_si256(raw, m4));
            const __m256i vh = _mm256_shuffle_epi8(tbl, _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4));
            for (int t = 0; t < nt; t++) {
                const int o = 32 * ib + 4 * g4;
                const __m256i pl = _mm256_maddubs_epi16(bcast4(ay[t] + o), _mm256_sign_epi8(vl, bcast4(x[t]->qs + o)));
                const __m256i ph = _mm256_maddubs_epi16(bcast4(ay[t] + o + 16), _mm256_sign_epi8(vh, bcast4(x[t]->qs + o + 16)));
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(pl, S[ib]), _mm256_madd_epi16(ph, S[ib])));
            }
        }
    }
    const __m256 d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    for (int t = 0; t < nt; t++)
        acc[t] = _mm256_fmadd_ps(_mm256_mul_ps(d, _mm256_set1_ps(x[t]->d)), _mm256_cvtepi32_ps(isum[t]), acc[t]);
}
X8_GROUPS(iq4_xs, XSX8_STEP, XSX8_AHEAD)

#endif // MOE_X86
