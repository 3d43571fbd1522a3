// AVX2/FMA/F16C kernels for Q2_K, Q3_K and IQ4_XS (x86-64, compiled per function, chosen at run
// time): dequantization (the generic code's bits), dot products with Q8_K activations and the
// tiled matrix product, built as quant_avx2.c builds Q4_K...Q6_K (see the notes at its top).
//
// Integer parts are exactly the generic code's: per super-block and (row, token), an int32 vector
// collects Σ_k scale_k · Σ q·y. Q2_K: one fused multiply-add per super-block scales it by d_w · d_x
// into 8 float partial sums (one more for the mins), reduced at the end in a fixed order. Q3_K and
// IQ4_XS: the 8 lanes are summed first (exact), then acc = fma(d_w · d_x, Σ, acc) in one float per
// (row, token), the arithmetic of the AVX-512 level and of the x8 layouts (quantk_x8_avx2.c).
// Integer products use vpmaddubsw (unsigned × signed bytes → pairwise int16) and vpmaddwd:
//   Q2_K: codes 0..3 as they are; pairs ≤ 3 · 128 · 2 = 768. The mins go through the bsums.
//   Q3_K: codes u = q + 4 in 0..7 (the high bit set = +4); pairs ≤ 7 · 128 · 2 = 1792. The offset
//         is taken out as -4 Σ_k s_k bsums[k], which is where the int32 sum starts (as Q6_K's 32).
//   IQ4_XS: table values v in -127..113 are signed, so the products are |y| · (v signed like y):
//         |y| is read unsigned (|-128| = 128 is exact), |v| ≤ 127, so v·sign(y) fits a byte and
//         pairs ≤ 128 · 127 · 2 = 32512: exact for every activation code, -128 included.
//
// Matrix products: mr ≤ 4 weight rows × nr ≤ 4 tokens per tile over all of K, rows outer; a weight
// super-block is unpacked once per row for all nr tokens. Every (row, token) pair follows the same
// instructions whatever the tile, so outputs equal the dot product (the 1 × 1 tile) bit for bit.
#include "quantk_internal.h"
#include "x8_avx2.h" // hsum4_i32
#include <math.h>

#if MOE_X86
#include <immintrin.h>

#pragma STDC FP_CONTRACT OFF

#define INLINE static inline __attribute__((always_inline)) MOE_AVX2

enum { MR = 4, NR = 4 };

// ---------------------------------------------------------------------------------------------
// Dequantization: the generic code's products (d · sc first, then · q, then - m), never fused.

// 16 bytes (unsigned when `sign` is 0, signed otherwise) → dst[0 ..< 16] = dl · q - ml.
INLINE void store16(float *dst, __m128i q, const int sign, float dl, float ml) {
    const __m256 vd = _mm256_set1_ps(dl), vm = _mm256_set1_ps(ml);
    const __m128i q1 = _mm_srli_si128(q, 8);
    const __m256 f0 = _mm256_cvtepi32_ps(sign ? _mm256_cvtepi8_epi32(q) : _mm256_cvtepu8_epi32(q));
    const __m256 f1 = _mm256_cvtepi32_ps(sign ? _mm256_cvtepi8_epi32(q1) : _mm256_cvtepu8_epi32(q1));
    if (sign) { // Q3_K, IQ4_XS: no minimum (a subtraction of 0 would turn -0 into +0)
        _mm256_storeu_ps(dst, _mm256_mul_ps(vd, f0));
        _mm256_storeu_ps(dst + 8, _mm256_mul_ps(vd, f1));
    } else {
        _mm256_storeu_ps(dst, _mm256_sub_ps(_mm256_mul_ps(vd, f0), vm));
        _mm256_storeu_ps(dst + 8, _mm256_sub_ps(_mm256_mul_ps(vd, f1), vm));
    }
}

MOE_AVX2 void moe_dq_q2_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q2_K *x = src;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        const float dmin = moe_half_to_float(x[i].dmin);
        const uint8_t *sc = x[i].scales;
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j++, sc += 2, dst += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m3);
                store16(dst, _mm256_castsi256_si128(q), 0, d * (float)(sc[0] & 0xF), dmin * (float)(sc[0] >> 4));
                store16(dst + 16, _mm256_extracti128_si256(q, 1), 0, d * (float)(sc[1] & 0xF), dmin * (float)(sc[1] >> 4));
            }
        }
    }
}

MOE_AVX2 void moe_dq_q3_K_avx2(const void *src, float *dst, int64_t n) {
    const block_q3_K *x = src;
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1), four = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        int8_t sc[16];
        moe_q3k_scales(x[i].scales, sc);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        int k = 0;
        for (int h = 0; h < 2; h++) {
            const __m256i raw = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int j = 0; j < 4; j++, k += 2, dst += 32) {
                const __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m3);
                const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), one);
                const __m256i q = _mm256_sub_epi8(_mm256_or_si256(low, _mm256_slli_epi16(hb, 2)), four); // -4 ... 3
                store16(dst, _mm256_castsi256_si128(q), 1, d * (float)sc[k], 0.0f);
                store16(dst + 16, _mm256_extracti128_si256(q, 1), 1, d * (float)sc[k + 1], 0.0f);
            }
        }
    }
}

MOE_AVX2 void moe_dq_iq4_xs_avx2(const void *src, float *dst, int64_t n) {
    const block_iq4_xs *x = src;
    const __m128i tbl = _mm_loadu_si128((const __m128i *)moe_kvalues_iq4nl), m4 = _mm_set1_epi8(0x0F);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = moe_half_to_float(x[i].d);
        int8_t ls[8];
        moe_iq4xs_scales(&x[i], ls);
        for (int ib = 0; ib < 8; ib++, dst += 32) {
            const __m128i q = _mm_loadu_si128((const __m128i *)(x[i].qs + 16 * ib));
            const float dl = d * (float)ls[ib];
            store16(dst, _mm_shuffle_epi8(tbl, _mm_and_si128(q, m4)), 1, dl, 0.0f);
            store16(dst + 16, _mm_shuffle_epi8(tbl, _mm_and_si128(_mm_srli_epi16(q, 4), m4)), 1, dl, 0.0f);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tiles against Q8_K. W, X: first row / token of the tile; ws, xs: bytes between rows / tokens;
// nb super-blocks per row; Y: output (row i, token j) at Y[j * ldy + i].

// f16 → f32 from a register whose other lanes are zero (see h2f in quant_avx2.c: the asm keeps
// the conversion off the accumulators' dependency chains).
INLINE float h2f(ggml_half h) {
    __m128 r;
    __asm__("vcvtph2ps %1, %0" : "=x"(r) : "x"(_mm_cvtsi32_si128(h)));
    return _mm_cvtss_f32(r);
}

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

INLINE void store_tile(const int mr, const int nr, __m256 acc[MR][NR], float *Y, int64_t ldy) {
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < mr; i++) Y[j * ldy + i] = hsum8(acc[i][j]);
}

// Software prefetch of each weight row's stream, as quant_avx2.c does (same distances).
#ifndef MOE_Q_PF
#define MOE_Q_PF 1024
#endif
#define PF_DIST ((size_t)ws * MR > MOE_Q_PF ? (size_t)ws * MR : MOE_Q_PF)
#define PREFETCH(p, bytes) do { \
        for (int pf_ = 0; pf_ < (int)(bytes); pf_ += 64) _mm_prefetch((const char *)(p) + PF_DIST + pf_, _MM_HINT_T0); \
    } while (0)

#define TILE_ARGS int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs, float *Y, int64_t ldy
#define XK(j) ((const block_q8_K *)(X + (size_t)(j) * xs) + b)

// Scales of 16 sub-blocks of 16 as int16 (sc16: sub-blocks 0-7 in the low half, 8-15 in the high):
// for the 32 elements of half h, group j (sub-blocks 8h + 2j and 8h + 2j + 1), a vector with the
// first sub-block's scale in the low 128 bits and the second's in the high 128 bits.
INLINE __m256i half_scales(__m256i sc16, int h) {
    return h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
}
INLINE __m256i group_scale(__m256i sch, int j) {
    const __m256i ctrl = _mm256_setr_m128i(_mm_set1_epi16((short)((4 * j) | ((4 * j + 1) << 8))),
                                           _mm_set1_epi16((short)((4 * j + 2) | ((4 * j + 3) << 8))));
    return _mm256_shuffle_epi8(sch, ctrl);
}

// Q2_K: codes of half h, group j are (qs[32h + l] >> 2j) & 3, l < 32 (sub-blocks 8h + 2j, 8h + 2j + 1).
INLINE void tile_q2_K(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; b++) {
        float dx[NR];
        for (int t = 0; t < nr; t++) dx[t] = XK(t)->d;
        for (int i = 0; i < mr; i++) {
            const block_q2_K *w = (const block_q2_K *)(W + (size_t)i * ws) + b;
            PREFETCH(w, sizeof *w);
            const __m128i sb = _mm_loadu_si128((const __m128i *)w->scales);
            const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sb, m4));
            const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sb, 4), m4));
            __m256i isum[NR];
            for (int t = 0; t < nr; t++) isum[t] = _mm256_setzero_si256();
            for (int h = 0; h < 2; h++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * h));
                const __m256i sch = half_scales(sc16, h);
                for (int j = 0; j < 4; j++) {
                    const __m256i q = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m3);
                    const __m256i s = group_scale(sch, j);
                    for (int t = 0; t < nr; t++) {
                        const __m256i y = _mm256_loadu_si256((const __m256i *)(XK(t)->qs + 128 * h + 32 * j));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, y)));
                    }
                }
            }
            const float d = h2f(w->d), dmin = h2f(w->dmin);
            for (int t = 0; t < nr; t++) {
                const __m256 msum = _mm256_cvtepi32_ps(_mm256_madd_epi16(mn16, _mm256_loadu_si256((const __m256i *)XK(t)->bsums)));
                acc[i][t] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx[t]), _mm256_cvtepi32_ps(isum[t]), acc[i][t]);
                acc[i][t] = _mm256_fnmadd_ps(_mm256_set1_ps(dmin * dx[t]), msum, acc[i][t]);
            }
        }
    }
    store_tile(mr, nr, acc, Y, ldy);
}

// Q3_K's 16 scales, unbiased, as int16 (the packing of moe_q3k_scales, four bytes at a time).
INLINE __m256i q3k_scales16(const uint8_t *scales) {
    uint32_t a[3];
    memcpy(a, scales, 12);
    const uint32_t lo = 0x0F0F0F0Fu, hi = 0x03030303u;
    const uint32_t s0 = (a[0] & lo) | ((a[2] & hi) << 4);              // sub-blocks 0-3
    const uint32_t s1 = (a[1] & lo) | (((a[2] >> 2) & hi) << 4);       // 4-7
    const uint32_t s2 = ((a[0] >> 4) & lo) | (((a[2] >> 4) & hi) << 4); // 8-11
    const uint32_t s3 = ((a[1] >> 4) & lo) | (((a[2] >> 6) & hi) << 4); // 12-15
    const __m128i s = _mm_sub_epi8(_mm_setr_epi32((int)s0, (int)s1, (int)s2, (int)s3), _mm_set1_epi8(32));
    return _mm256_cvtepi8_epi16(s);
}

// Per super-block: the up-to-4 rows' exact sums (isums[i][t], zero past the tile's rows) meet their scales lane by
// lane, acc[t] lane i = fma(d_i · dx_t, Σ isums[i][t], acc[t] lane i): the per-row scalar arithmetic, 4 rows at once.
INLINE void rows4_fma(const int nr, const float dw[MR], const float dx[NR], __m256i isums[MR][NR], __m128 acc[NR]) {
    const __m128 d = _mm_loadu_ps(dw);
    for (int t = 0; t < nr; t++)
        acc[t] = _mm_fmadd_ps(_mm_mul_ps(d, _mm_set1_ps(dx[t])),
                              _mm_cvtepi32_ps(hsum4_i32(isums[0][t], isums[1][t], isums[2][t], isums[3][t])), acc[t]);
}

INLINE void store_rows4(const int mr, const int nr, const __m128 acc[NR], float *Y, int64_t ldy) {
    for (int t = 0; t < nr; t++) {
        float out[4];
        _mm_storeu_ps(out, acc[t]);
        for (int i = 0; i < mr; i++) Y[t * ldy + i] = out[i];
    }
}

// Q3_K: unsigned codes u = low 2 bits | third bit << 2 = q + 4; the sum starts at -4 Σ_k s_k bsums[k].
// Per (row, token) and super-block the 8 lanes' exact integer sums are added up before they meet the float
// scales: acc = fma(d_w · d_x, sum, acc), one float per (row, token), as the AVX-512 level and the x8 layout
// (quantk_x8_avx2.c) do, so all three give the same bits.
INLINE void tile_q3_K(const int mr, const int nr, TILE_ARGS) {
    __m128 acc[NR]; // lane i: row i (the scalar fma per row and token, lane by lane)
    for (int j = 0; j < nr; j++) acc[j] = _mm_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; b++) {
        float dx[NR];
        for (int t = 0; t < nr; t++) dx[t] = XK(t)->d;
        __m256i isums[MR][NR];
        float dw[MR] = {0};
        for (int i = mr; i < MR; i++)
            for (int t = 0; t < nr; t++) isums[i][t] = _mm256_setzero_si256();
        for (int i = 0; i < mr; i++) {
            const block_q3_K *w = (const block_q3_K *)(W + (size_t)i * ws) + b;
            PREFETCH(w, sizeof *w);
            const __m256i sc16 = q3k_scales16(w->scales);
            const __m256i hm = _mm256_loadu_si256((const __m256i *)w->hmask);
            __m256i *isum = isums[i];
            for (int t = 0; t < nr; t++) {
                const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)XK(t)->bsums));
                isum[t] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 2));
            }
            for (int h = 0; h < 2; h++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(w->qs + 32 * h));
                const __m256i sch = half_scales(sc16, h);
                for (int j = 0; j < 4; j++) {
                    const __m256i low = _mm256_and_si256(_mm256_srli_epi16(raw, 2 * j), m3);
                    const __m256i hb = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + j), one);
                    const __m256i u = _mm256_or_si256(low, _mm256_slli_epi16(hb, 2));
                    const __m256i s = group_scale(sch, j);
                    for (int t = 0; t < nr; t++) {
                        const __m256i y = _mm256_loadu_si256((const __m256i *)(XK(t)->qs + 128 * h + 32 * j));
                        isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s, _mm256_maddubs_epi16(u, y)));
                    }
                }
            }
            dw[i] = h2f(w->d);
        }
        rows4_fma(nr, dw, dx, isums, acc);
    }
    store_rows4(mr, nr, acc, Y, ldy);
}

// IQ4_XS's 8 scales, unbiased, as int16 in lanes 0-7 of both 128-bit halves.
INLINE __m256i iq4xs_scales16(const block_iq4_xs *w) {
    uint32_t l4;
    memcpy(&l4, w->scales_l, 4);
    // sub-block ib: low 4 bits at bit 4ib of the 32-bit scales_l, high 2 bits at bit 2ib of scales_h
    const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)l4), _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                        _mm256_set1_epi32(0x0F));
    const __m256i hi = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32(w->scales_h), _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14)),
                                        _mm256_set1_epi32(3));
    const __m256i ls = _mm256_sub_epi32(_mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)), _mm256_set1_epi32(32));
    // packs: [0-3, 0-3 | 4-7, 4-7] as 64-bit quarters 0, 1 | 2, 3 → quarters 0, 2, 0, 2
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(ls, ls), 0x88);
}

// 16 bytes of packed nibbles → 32 bytes 0..15 in element order (low nibbles, then high nibbles).
INLINE __m256i nibbles(const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

INLINE void tile_iq4_xs(const int mr, const int nr, TILE_ARGS) {
    __m128 acc[NR]; // as tile_q3_K
    for (int j = 0; j < nr; j++) acc[j] = _mm_setzero_ps();
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)moe_kvalues_iq4nl));
    for (int64_t b = 0; b < nb; b++) {
        float dx[NR];
        for (int t = 0; t < nr; t++) dx[t] = XK(t)->d;
        __m256i isums[MR][NR];
        float dw[MR] = {0};
        for (int i = 0; i < MR; i++)
            for (int t = 0; t < nr; t++) isums[i][t] = _mm256_setzero_si256();
        for (int i = 0; i < mr; i++) {
            const block_iq4_xs *w = (const block_iq4_xs *)(W + (size_t)i * ws) + b;
            PREFETCH(w, sizeof *w);
            const __m256i sc = iq4xs_scales16(w);
            __m256i *isum = isums[i];
            for (int ib = 0; ib < 8; ib++) {
                const __m256i v = _mm256_shuffle_epi8(tbl, nibbles(w->qs + 16 * ib)); // int8 values
                const __m256i s = _mm256_shuffle_epi8(sc, _mm256_set1_epi16((short)((2 * ib) | ((2 * ib + 1) << 8))));
                for (int t = 0; t < nr; t++) {
                    const __m256i y = _mm256_loadu_si256((const __m256i *)(XK(t)->qs + 32 * ib));
                    const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(y), _mm256_sign_epi8(v, y));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(s, p));
                }
            }
            dw[i] = h2f(w->d);
        }
        rows4_fma(nr, dw, dx, isums, acc);
    }
    store_rows4(mr, nr, acc, Y, ldy);
}

// ---------------------------------------------------------------------------------------------
// Instantiation (as in quant_avx2.c): each tile shape with constant mr, nr; the dot product as the
// 1 × 1 tile; the matrix product rows outer in groups of MR_Q, tokens inner in groups of NR_Q.

#ifndef MOE_Q_MR
#define MOE_Q_MR 4
#endif
#ifndef MOE_Q_NR
#define MOE_Q_NR 2
#endif
enum { MR_Q = MOE_Q_MR, NR_Q = MOE_Q_NR };

typedef void (*tiles_fn)(int mr, int nr, TILE_ARGS);

static MOE_AVX2 void mmq_tiles(tiles_fn tiles, int64_t M, int64_t N, int64_t nb,
                               const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    for (int64_t m0 = 0; m0 < M; m0 += MR_Q) {
        const int mr = (int)(M - m0 < MR_Q ? M - m0 : MR_Q);
        for (int64_t n0 = 0; n0 < N; n0 += NR_Q) {
            const int nr = (int)(N - n0 < NR_Q ? N - n0 : NR_Q);
            tiles(mr, nr, nb, (const uint8_t *)W + (size_t)m0 * ws, ws, (const uint8_t *)X + (size_t)n0 * xs, xs,
                  Y + n0 * ldy + m0, ldy);
        }
    }
}

#define SHAPE(T, a, c) case (a) * 8 + (c): tile_##T(a, c, nb, W, ws, X, xs, Y, ldy); break
#define DEFINE_TILES(T)                                                                                    \
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
        tile_##T(1, 1, n / QK_K, w, 0, x, 0, &r, 1);                                                      \
        return r;                                                                                         \
    }
#define DEFINE_TYPE(T)                                                                                     \
    DEFINE_TILES(T)                                                                                       \
    MOE_AVX2 void moe_mmq_##T##_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws,          \
                                     const void *X, size_t xs, float *Y, int64_t ldy) {                   \
        mmq_tiles(tiles_##T, M, N, K / QK_K, W, ws, X, xs, Y, ldy);                                       \
    }

DEFINE_TYPE(q2_K)
DEFINE_TYPE(q3_K)
DEFINE_TILES(iq4_xs)

// One token, 4 rows at a time: tile_iq4_xs's integer sums and float operations per row (so the same bits), with
// the sub-block loop outside the rows, so the activations of a sub-block and their magnitudes are loaded and
// computed once for the 4 rows instead of once per row (the 4 × 1 tile redoes them per row).
static MOE_AVX2 void gemv_iq4_xs(int64_t M, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, float *Y) {
    const __m256i tbl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)moe_kvalues_iq4nl));
    int64_t m0 = 0;
    for (; m0 + 4 <= M; m0 += 4) {
        __m128 acc = _mm_setzero_ps();
        for (int64_t b = 0; b < nb; b++) {
            const block_q8_K *x = (const block_q8_K *)X + b;
            const block_iq4_xs *w[4];
            __m256i sc[4], isum[4];
            for (int i = 0; i < 4; i++) {
                w[i] = (const block_iq4_xs *)(W + (size_t)(m0 + i) * ws) + b;
                _mm_prefetch((const char *)w[i] + 4 * ws, _MM_HINT_T0);
                _mm_prefetch((const char *)w[i] + 4 * ws + 64, _MM_HINT_T0);
                _mm_prefetch((const char *)w[i] + 4 * ws + 128, _MM_HINT_T0);
                sc[i] = iq4xs_scales16(w[i]);
                isum[i] = _mm256_setzero_si256();
            }
            for (int ib = 0; ib < 8; ib++) {
                const __m256i y = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * ib));
                const __m256i ay = _mm256_abs_epi8(y);
                const __m256i pick = _mm256_set1_epi16((short)((2 * ib) | ((2 * ib + 1) << 8)));
                for (int i = 0; i < 4; i++) {
                    const __m256i v = _mm256_shuffle_epi8(tbl, nibbles(w[i]->qs + 16 * ib));
                    const __m256i p = _mm256_maddubs_epi16(ay, _mm256_sign_epi8(v, y));
                    isum[i] = _mm256_add_epi32(isum[i], _mm256_madd_epi16(_mm256_shuffle_epi8(sc[i], pick), p));
                }
            }
            const __m128 d = _mm_setr_ps(h2f(w[0]->d), h2f(w[1]->d), h2f(w[2]->d), h2f(w[3]->d));
            acc = _mm_fmadd_ps(_mm_mul_ps(d, _mm_set1_ps(x->d)), _mm_cvtepi32_ps(hsum4_i32(isum[0], isum[1], isum[2], isum[3])), acc);
        }
        _mm_storeu_ps(Y + m0, acc);
    }
    if (m0 < M) mmq_tiles(tiles_iq4_xs, M - m0, 1, nb, W + (size_t)m0 * ws, ws, X, 0, Y + m0, 1);
}

MOE_AVX2 void moe_mmq_iq4_xs_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                  float *Y, int64_t ldy) {
    if (N == 1) gemv_iq4_xs(M, K / QK_K, W, ws, X, Y);
    else mmq_tiles(tiles_iq4_xs, M, N, K / QK_K, W, ws, X, xs, Y, ldy);
}

#endif // MOE_X86
