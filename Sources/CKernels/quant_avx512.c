// AVX-512 kernels (F, BW, VL, VNNI; x86-64, compiled per function, chosen at run time) for the weight
// types that carry the traffic of today's MoE files: MXFP4 (gpt-oss) and Q4_K (Q4_K_M files). The
// other types keep their AVX2 kernels on AVX-512 machines.
//
// Why not the AVX2 kernels' shape with wider registers: those keep 8 float partial sums per (row, token)
// and fold them at the end, so every block costs a conversion and a multiply-add per row and token, and
// a one-token product reads 4 rows' streams with the activations reloaded per row. Here each block's
// integer sum is complete before it meets a float:
//
//   per (row, token) and block b: S_b exact (int32), then acc = fma(dw_b · dx_b, (float)S_b, acc)
//   Q4_K adds the minima: acc = fma(-(dmin_b · dx_b), (float)M_b, acc), M_b = Σ_k m_k Σ_{l in k} y_l.
//
// so that one vector of 16 float lanes serves 16 (row, token) pairs at once: 16 rows of one token
// (gemv16_*: decode) or 4 rows × 4 tokens (tile_*: prefill), and the dot product (dot_*) is the same
// arithmetic on one lane. Every kernel here therefore gives every (row, token) the same bits, whatever
// the tile it falls in; they differ from the AVX2 and generic kernels by float rounding only (the sums
// are added in another order). The integer work is vpdpbusd (u8 × s8, 4 products into an int32) or
// vpmaddubsw + vpdpwssd (Q4_K's 6-bit scales), and each (row, token)'s 16 int32 partial sums reach one
// lane through a transpose-and-add tree shared by the 16 pairs.
//
//   MXFP4: table values v in -12 … 12 are looked up as v + 12 (unsigned, 0 … 24) so vpdpbusd takes them
//          against the signed activations; the offset is taken out as 12 Σy per block (exact).
//   Q4_K:  codes 0 … 15 (unsigned) × activations: pairs ≤ 2 · 15 · 128 = 3840 (vpmaddubsw never
//          saturates); × 6-bit scales in vpdpwssd into int32.
#include "moe_internal.h"
#include "moe_kernels.h"
#include "quantk_internal.h"

#if MOE_X86
#include <immintrin.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#pragma STDC FP_CONTRACT OFF

#define INLINE static inline __attribute__((always_inline)) MOE_AVX512

INLINE float h2f(ggml_half h) { return _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h))); }

// ---------------------------------------------------------------------------------------------
// Transpose-and-add: 16 int32 lanes per (row, token) → one lane each.

// a[q] (q < 4), 128-bit lane k holding 4 partial sums of pair q + 4k → lane q + 4k of the result holds
// their total.
INLINE __m512i reduce4x4(__m512i a0, __m512i a1, __m512i a2, __m512i a3) {
    const __m512i u0 = _mm512_add_epi32(_mm512_unpacklo_epi32(a0, a1), _mm512_unpackhi_epi32(a0, a1));
    const __m512i u1 = _mm512_add_epi32(_mm512_unpacklo_epi32(a2, a3), _mm512_unpackhi_epi32(a2, a3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(u0, u1), _mm512_unpackhi_epi64(u0, u1));
}

// v[i] (i < 16), 16 partial sums each → lane i of the result holds the total of v[i].
INLINE __m512i reduce16(const __m512i v[16]) {
    // 128-bit lanes k of w[q] = [v[q + 4k] lane-sums within that 128-bit lane, …]: first fold each v's four
    // 128-bit lanes into one, then transpose 4 × 4.
    __m512i w[4];
    for (int q = 0; q < 4; q++) {
        // Fold v[q], v[q + 4], v[q + 8], v[q + 12] to 4 partials each, one per 128-bit lane.
        const __m512i a = v[q], b = v[q + 4], c = v[q + 8], d = v[q + 12];
        const __m512i ab = _mm512_add_epi32(_mm512_shuffle_i32x4(a, b, 0x44), _mm512_shuffle_i32x4(a, b, 0xEE)); // [a01|a23|b01|b23] → [a, a, b, b] halves
        const __m512i cd = _mm512_add_epi32(_mm512_shuffle_i32x4(c, d, 0x44), _mm512_shuffle_i32x4(c, d, 0xEE));
        w[q] = _mm512_add_epi32(_mm512_shuffle_i32x4(ab, cd, 0x88), _mm512_shuffle_i32x4(ab, cd, 0xDD)); // [a | b | c | d]
    }
    return reduce4x4(w[0], w[1], w[2], w[3]);
}

// 4 rows' 16 bytes at p + off, p + ws + off, …: one vector, row k in 128-bit lane k.
INLINE __m512i load4x16(const uint8_t *p, size_t ws) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + ws)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 2 * ws)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 3 * ws)), 3);
}

// ---------------------------------------------------------------------------------------------
// MXFP4 and Q4_0 × Q8_0: 32 four-bit codes per block against a Q8_0 block. The two differ in their codes'
// values and their scale only, so one set of kernels serves both, specialised by a constant `kind`:
//   MXFP4 (17-byte blocks: E8M0 exponent, 16 code bytes): table values v in -12 … 12 looked up as v + 12;
//   Q4_0  (18-byte blocks: f16 scale d, 16 code bytes): codes q in 0 … 15 as they are, value q − 8.
// Both are unsigned against the signed activations in vpdpbusd, the offset (12 or 8) taken out as off · Σy per
// block (exact).
enum { NIB_MXFP4, NIB_Q4_0 };
#define NIB_BLOCK(kind) ((kind) == NIB_MXFP4 ? sizeof(block_mxfp4) : sizeof(block_q4_0))
#define NIB_CODES(kind) ((kind) == NIB_MXFP4 ? 1 : 2) // offset of the 16 code bytes in a block
#define NIB_OFFSET(kind) ((kind) == NIB_MXFP4 ? 12 : 8)

// Half the E8M0 scale, lane by lane (quant32.h's moe_e8m0_to_float_half: e ≥ 2: (e - 1) << 23; else
// 0x00200000 << e), from int32 lanes 0 … 255.
INLINE __m512 e8m0_half(__m512i e) {
    const __m512i normal = _mm512_slli_epi32(_mm512_sub_epi32(e, _mm512_set1_epi32(1)), 23);
    const __m512i tiny = _mm512_sllv_epi32(_mm512_set1_epi32(0x00200000), e);
    const __mmask16 small = _mm512_cmplt_epi32_mask(e, _mm512_set1_epi32(2));
    return _mm512_castsi512_ps(_mm512_mask_blend_epi32(small, normal, tiny));
}

// The weights' scales from 16 int32 lanes each holding a block's first bytes (the exponent or the f16 d in the
// low bits; the rest ignored).
INLINE __m512 nib_scales(int kind, __m512i head) {
    if (kind == NIB_MXFP4) return e8m0_half(_mm512_and_si512(head, _mm512_set1_epi32(0xFF)));
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head));
}

// MXFP4's table plus 12, in every 128-bit lane (unused for Q4_0).
INLINE __m512i nib_table(int kind) {
    int8_t t[16];
    for (int i = 0; i < 16; i++) t[i] = (int8_t)(kind == NIB_MXFP4 ? moe_kvalues_mxfp4[i] + 12 : i);
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

// One block of 4 rows (row k's codes in 128-bit lane k of `codes`) against one token's 32 activations:
// int32 partial sums of (v + off) · y, 4 per row.
INLINE __m512i nib_block(int kind, __m512i codes, __m512i table, const int8_t *y) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i lo = _mm512_and_si512(codes, m4), hi = _mm512_and_si512(_mm512_srli_epi16(codes, 4), m4);
    if (kind == NIB_MXFP4) {
        lo = _mm512_shuffle_epi8(table, lo);
        hi = _mm512_shuffle_epi8(table, hi);
    }
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)y)));
    return _mm512_dpbusd_epi32(s, hi, _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(y + 16))));
}

// Per-token, per-block terms of Q8_0 activations: d_x as a float and `off` Σ y (the weights' code offset,
// 12 for MXFP4, 8 for Q4_0, 128 for Q8_0), at dx[b * stride], c[b * stride].
INLINE void q8_0_act_terms(int64_t nb, const block_q8_0 *x, int off, float *dx, int32_t *c, int64_t stride) {
    for (int64_t b = 0; b < nb; b++) {
        dx[b * stride] = h2f(x[b].d);
        const __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8((char)off), _mm256_loadu_si256((const __m256i *)x[b].qs));
        __m128i t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        t = _mm_add_epi32(t, _mm_unpackhi_epi64(t, t));
        t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 1));
        c[b * stride] = _mm_cvtsi128_si32(t);
    }
}

MOE_AVX512 float moe_vd_mxfp4_avx512(int64_t n, const void *vw, const void *vx) {
    const block_mxfp4 *w = vw;
    const block_q8_0 *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_MXFP4; b++) acc = fmaf(moe_e8m0_to_float_half(w[b].e) * h2f(x[b].d), (float)moe_mxfp4_isum(&w[b], &x[b]), acc);
    return acc;
}

MOE_AVX512 float moe_vd_q4_0_avx512(int64_t n, const void *vw, const void *vx) {
    const block_q4_0 *w = vw;
    const block_q8_0 *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK4_0; b++) acc = fmaf(h2f(w[b].d) * h2f(x[b].d), (float)moe_q4_0_isum(&w[b], &x[b]), acc);
    return acc;
}

// 16 rows (W, ws apart) × one token: y[0 ..< 16]. The next 16 rows (one contiguous range when the rows are
// packed) are prefetched, 16 blocks per block step, into L2 (T1), not L1: a group of olmoe-like rows is
// 16 × 1,088 bytes, so the next group in L1 would evict the current one (one core, 1024 × 2048 Q4_K: 36% of a
// streaming read with T0, 73% with T1, 22% without prefetching; MXFP4 46%, 53%, 22%).
// dx, c: the token's terms, 4 apart (the tiles' layout).
INLINE void gemv16_nib(int kind, int64_t nb, const uint8_t *W, size_t ws, const block_q8_0 *x, const float *dx,
                       const int32_t *c, float *y, const uint8_t *next) {
    const __m512i table = nib_table(kind);
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    const size_t ws4 = 4 * ws;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = W + (size_t)b * NIB_BLOCK(kind);
        if (next) {
            const char *q = (const char *)next + (size_t)b * 16 * NIB_BLOCK(kind);
            for (int l = 0; l < (int)(16 * NIB_BLOCK(kind)); l += 64) _mm_prefetch(q + l, _MM_HINT_T1);
        }
        // Quad q holds rows q, q + 4, q + 8, q + 12, so that reduce4x4 puts row r in lane r.
        __m512i a[4];
        for (int q = 0; q < 4; q++) a[q] = nib_block(kind, load4x16(p + (size_t)q * ws + NIB_CODES(kind), ws4), table, x[b].qs);
        const __m512i s = _mm512_sub_epi32(reduce4x4(a[0], a[1], a[2], a[3]), _mm512_set1_epi32(c[4 * b]));
        const __m512 dd = _mm512_mul_ps(nib_scales(kind, _mm512_i32gather_epi32(rows, p, 1)), _mm512_set1_ps(dx[4 * b]));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s), acc);
    }
    _mm512_storeu_ps(y, acc);
}

// The x16 layouts (moe_repack.h): gemv16_nib's arithmetic on one sequential stream, prefetched 2 KiB ahead.
// cols / 32 ≤ 1024 (the activation terms live on the stack). Per group and block: 16 scales (1 or 2 bytes each),
// then the 4 quads' codes.
INLINE void gemv_nibx16(int kind, int64_t g0, int64_t g1, int64_t cols, const void *w, const void *vx, float *y) {
    const int64_t nb = cols / 32;
    const block_q8_0 *x = vx;
    const __m512i table = nib_table(kind);
    const int heads = kind == NIB_MXFP4 ? 16 : 32, step = 16 * (int)NIB_BLOCK(kind);
    float dx[1024];
    int32_t c[1024];
    q8_0_act_terms(nb, x, NIB_OFFSET(kind), dx, c, 1);
    const uint8_t *p = (const uint8_t *)w + (size_t)g0 * (size_t)nb * (size_t)step;
    for (int64_t g = g0; g < g1; g++) {
        __m512 acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < nb; b++, p += step) {
            for (int l = 0; l < step; l += 64) _mm_prefetch((const char *)p + 2048 + l, _MM_HINT_T0);
            __m512i a[4];
            for (int q = 0; q < 4; q++) a[q] = nib_block(kind, _mm512_loadu_si512((const void *)(p + heads + 64 * q)), table, x[b].qs);
            const __m512i s = _mm512_sub_epi32(reduce4x4(a[0], a[1], a[2], a[3]), _mm512_set1_epi32(c[b]));
            const __m512i head = kind == NIB_MXFP4 ? _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p))
                                                   : _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
            acc = _mm512_fmadd_ps(_mm512_mul_ps(nib_scales(kind, head), _mm512_set1_ps(dx[b])), _mm512_cvtepi32_ps(s), acc);
        }
        _mm512_storeu_ps(y + 16 * g, acc);
    }
}

MOE_AVX512 void moe_gemv_mxfp4x16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    gemv_nibx16(NIB_MXFP4, g0, g1, cols, w, x, y);
}

MOE_AVX512 void moe_gemv_q4_0x16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    gemv_nibx16(NIB_Q4_0, g0, g1, cols, w, x, y);
}

// Several tokens on the x16 layouts: per group, 16 rows × up to 4 tokens, quad q (rows q, q + 4, q + 8, q + 12)
// one code load per block, lane 4k + t = (row q + 4k, token t) as in tile_nib — the same arithmetic, so the same
// bits as the row-major tiles and the one-token kernels. One token goes through gemv_nibx16.
INLINE void mmq_nibx16(int kind, int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *X, float *Y, int64_t ldy) {
    const int64_t nb = cols / 32;
    const size_t xs = (size_t)nb * sizeof(block_q8_0);
    const __m512i table = nib_table(kind);
    const int heads = kind == NIB_MXFP4 ? 16 : 32, step = 16 * (int)NIB_BLOCK(kind);
    float dx[4 * 1024];
    int32_t c[4 * 1024];
    for (int64_t n0 = 0; n0 < N; n0 += 4) {
        const int nr = (int)(N - n0 < 4 ? N - n0 : 4);
        const uint8_t *Xn = (const uint8_t *)X + (size_t)n0 * xs;
        if (nr == 1) {
            gemv_nibx16(kind, g0, g1, cols, w, Xn, Y + n0 * ldy);
            continue;
        }
        const block_q8_0 *tok[4];
        for (int t = 0; t < 4; t++) {
            tok[t] = (const block_q8_0 *)(Xn + (size_t)(t < nr ? t : 0) * xs);
            q8_0_act_terms(nb, tok[t], NIB_OFFSET(kind), dx + t, c + t, 4);
        }
        for (int64_t g = g0; g < g1; g++) {
            const uint8_t *p = (const uint8_t *)w + (size_t)g * (size_t)nb * (size_t)step;
            __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
            for (int64_t b = 0; b < nb; b++, p += step) {
                for (int l = 0; l < step; l += 64) _mm_prefetch((const char *)p + 2048 + l, _MM_HINT_T0);
                const __m512i head = kind == NIB_MXFP4 ? _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)p))
                                                       : _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)p));
                const __m512i cv = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(c + 4 * b)));
                const __m512 vx = _mm512_broadcast_f32x4(_mm_loadu_ps(dx + 4 * b));
                for (int q = 0; q < 4; q++) {
                    const __m512i codes = _mm512_loadu_si512((const void *)(p + heads + 64 * q));
                    __m512i a[4];
                    for (int t = 0; t < 4; t++) a[t] = nib_block(kind, codes, table, tok[t][b].qs);
                    const __m512i s = _mm512_sub_epi32(reduce4x4(a[0], a[1], a[2], a[3]), cv);
                    const __m512i lane_row = _mm512_setr_epi32(q, q, q, q, q + 4, q + 4, q + 4, q + 4, q + 8, q + 8, q + 8, q + 8,
                                                               q + 12, q + 12, q + 12, q + 12);
                    const __m512 dd = _mm512_mul_ps(nib_scales(kind, _mm512_permutexvar_epi32(lane_row, head)), vx);
                    acc[q] = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s), acc[q]);
                }
            }
            for (int q = 0; q < 4; q++) {
                float out[16];
                _mm512_storeu_ps(out, acc[q]);
                for (int t = 0; t < nr; t++)
                    for (int k = 0; k < 4; k++) Y[(n0 + t) * ldy + 16 * g + q + 4 * k] = out[4 * k + t];
            }
        }
    }
}

MOE_AVX512 void moe_mmq_mxfp4x16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    mmq_nibx16(NIB_MXFP4, g0, g1, N, cols, w, x, y, ldy);
}

MOE_AVX512 void moe_mmq_q4_0x16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    mmq_nibx16(NIB_Q4_0, g0, g1, N, cols, w, x, y, ldy);
}

// mr ≤ 4 rows × nr ≤ 4 tokens; lane 4k + t is (row k, token t). Missing rows / tokens repeat the first
// (computed, never stored). dx, c: the 4 tokens' terms, [block][token].
INLINE void tile_nib(int kind, int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                     const float *dx, const int32_t *c, float *Y, int64_t ldy) {
    const __m512i table = nib_table(kind);
    const uint8_t *row[4];
    const block_q8_0 *tok[4];
    for (int k = 0; k < 4; k++) row[k] = W + (size_t)(k < mr ? k : 0) * ws;
    for (int t = 0; t < 4; t++) tok[t] = (const block_q8_0 *)(X + (size_t)(t < nr ? t : 0) * xs);
    const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * NIB_BLOCK(kind), co = off + NIB_CODES(kind);
        __m512i codes = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(row[0] + co)));
        codes = _mm512_inserti32x4(codes, _mm_loadu_si128((const __m128i *)(row[1] + co)), 1);
        codes = _mm512_inserti32x4(codes, _mm_loadu_si128((const __m128i *)(row[2] + co)), 2);
        codes = _mm512_inserti32x4(codes, _mm_loadu_si128((const __m128i *)(row[3] + co)), 3);
        __m512i a[4];
        for (int t = 0; t < 4; t++) a[t] = nib_block(kind, codes, table, tok[t][b].qs);
        const __m512i cv = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(c + 4 * b)));
        const __m512i s = _mm512_sub_epi32(reduce4x4(a[0], a[1], a[2], a[3]), cv);
        uint32_t heads[4] = {0, 0, 0, 0};
        for (int k = 0; k < 4; k++) memcpy(&heads[k], row[k] + off, kind == NIB_MXFP4 ? 1 : 2);
        const __m512i h4 = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)heads));
        const __m512 dw = nib_scales(kind, _mm512_permutexvar_epi32(lane_row, h4));
        const __m512 dd = _mm512_mul_ps(dw, _mm512_broadcast_f32x4(_mm_loadu_ps(dx + 4 * b)));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s), acc);
    }
    float out[16];
    _mm512_storeu_ps(out, acc);
    for (int t = 0; t < nr; t++)
        for (int k = 0; k < mr; k++) Y[t * ldy + k] = out[4 * k + t];
}

static MOE_AVX512 void gemv16_mxfp4(int64_t nb, const uint8_t *W, size_t ws, const block_q8_0 *x, const float *dx,
                                    const int32_t *c, float *y, const uint8_t *next) {
    gemv16_nib(NIB_MXFP4, nb, W, ws, x, dx, c, y, next);
}
static MOE_AVX512 void gemv16_q4_0(int64_t nb, const uint8_t *W, size_t ws, const block_q8_0 *x, const float *dx,
                                   const int32_t *c, float *y, const uint8_t *next) {
    gemv16_nib(NIB_Q4_0, nb, W, ws, x, dx, c, y, next);
}
static MOE_AVX512 void tile_mxfp4(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                  const float *dx, const int32_t *c, float *Y, int64_t ldy) {
    tile_nib(NIB_MXFP4, mr, nr, nb, W, ws, X, xs, dx, c, Y, ldy);
}
static MOE_AVX512 void tile_q4_0(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                 const float *dx, const int32_t *c, float *Y, int64_t ldy) {
    tile_nib(NIB_Q4_0, mr, nr, nb, W, ws, X, xs, dx, c, Y, ldy);
}

// ---------------------------------------------------------------------------------------------
// Q8_0 × Q8_0: weights w read as w + 128 (unsigned; one xor) for vpdpbusd, the offset taken out as 128 Σy.
// Two rows per vector (32 codes each): the 16-row kernel holds rows (q, q + 4) and (q + 8, q + 12) in the
// pairs it folds for reduce4x4.

// [row a's 32 codes | row b's] + 128, against a token's 32 activations in both halves: 8 int32 partials each.
INLINE __m512i q8_pair(const uint8_t *a, const uint8_t *b, __m512i y) {
    const __m512i w = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)a)),
                                         _mm256_loadu_si256((const __m256i *)b), 1);
    return _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w, _mm512_set1_epi8((char)0x80)), y);
}

// Two pair vectors [a | b], [c | d] → 4 partials each, one per 128-bit lane: [a | b | c | d].
INLINE __m512i fold_pairs(__m512i ab, __m512i cd) {
    return _mm512_add_epi32(_mm512_shuffle_i32x4(ab, cd, 0x88), _mm512_shuffle_i32x4(ab, cd, 0xDD));
}

MOE_AVX512 float moe_vd_q8_0_avx512(int64_t n, const void *vw, const void *vx) {
    const block_q8_0 *w = vw, *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK8_0; b++) {
        int s = 0;
        for (int j = 0; j < QK8_0; j++) s += w[b].qs[j] * x[b].qs[j];
        acc = fmaf(h2f(w[b].d) * h2f(x[b].d), (float)s, acc);
    }
    return acc;
}

// 16 rows × one token, as gemv16_mxfp4 (dx, c: the token's terms, 4 apart).
static MOE_AVX512 void gemv16_q8_0(int64_t nb, const uint8_t *W, size_t ws, const block_q8_0 *x, const float *dx,
                                   const int32_t *c, float *y, const uint8_t *next) {
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *p = W + (size_t)b * sizeof(block_q8_0);
        if (next) {
            const char *q = (const char *)next + (size_t)b * 16 * sizeof(block_q8_0);
            for (int l = 0; l < 16 * (int)sizeof(block_q8_0); l += 64) _mm_prefetch(q + l, _MM_HINT_T1);
        }
        const __m512i yv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)x[b].qs));
        __m512i a[4];
        for (int q = 0; q < 4; q++) {
            const uint8_t *r = p + 2 + (size_t)q * ws;
            a[q] = fold_pairs(q8_pair(r, r + 4 * ws, yv), q8_pair(r + 8 * ws, r + 12 * ws, yv));
        }
        const __m512i s = _mm512_sub_epi32(reduce4x4(a[0], a[1], a[2], a[3]), _mm512_set1_epi32(c[4 * b]));
        const __m512i h = _mm512_i32gather_epi32(rows, p, 1);
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_set1_ps(dx[4 * b]));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s), acc);
    }
    _mm512_storeu_ps(y, acc);
}

// mr ≤ 4 rows × nr ≤ 4 tokens, as tile_mxfp4.
static MOE_AVX512 void tile_q8_0(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                 const float *dx, const int32_t *c, float *Y, int64_t ldy) {
    const uint8_t *row[4];
    const block_q8_0 *tok[4];
    for (int k = 0; k < 4; k++) row[k] = W + (size_t)(k < mr ? k : 0) * ws;
    for (int t = 0; t < 4; t++) tok[t] = (const block_q8_0 *)(X + (size_t)(t < nr ? t : 0) * xs);
    const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q8_0);
        __m512i a[4];
        for (int t = 0; t < 4; t++) {
            const __m512i yv = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)tok[t][b].qs));
            a[t] = fold_pairs(q8_pair(row[0] + off + 2, row[1] + off + 2, yv), q8_pair(row[2] + off + 2, row[3] + off + 2, yv));
        }
        const __m512i s = _mm512_sub_epi32(reduce4x4(a[0], a[1], a[2], a[3]), _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(c + 4 * b))));
        uint32_t h4[4];
        for (int k = 0; k < 4; k++) { uint16_t h; memcpy(&h, row[k] + off, 2); h4[k] = h; }
        const __m512i h = _mm512_permutexvar_epi32(lane_row, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)h4)));
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_broadcast_f32x4(_mm_loadu_ps(dx + 4 * b)));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(s), acc);
    }
    float out[16];
    _mm512_storeu_ps(out, acc);
    for (int t = 0; t < nr; t++)
        for (int k = 0; k < mr; k++) Y[t * ldy + k] = out[4 * k + t];
}

// ---------------------------------------------------------------------------------------------
// Q4_K × Q8_K

// The 8 six-bit scales and 8 minima of a Q4_K super-block as bytes (moe_get_scale_min_k4's layout).
INLINE void k4_scale_bytes(const uint8_t *scales, uint64_t *sc, uint64_t *mn) {
    uint32_t u[3];
    memcpy(u, scales, 12);
    const uint32_t sc03 = u[0] & 0x3F3F3F3Fu, m03 = u[1] & 0x3F3F3F3Fu;
    const uint32_t sc47 = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m47 = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    *sc = (uint64_t)sc03 | (uint64_t)sc47 << 32;
    *mn = (uint64_t)m03 | (uint64_t)m47 << 32;
}

// Sub-block sums Σ_{l in k} y_l of a Q8_K block (k < 8) as int16.
INLINE __m128i q8k_sums32(const block_q8_K *x) {
    return _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x->bsums), _mm_loadu_si128((const __m128i *)(x->bsums + 8)));
}

// One row's super-block, unpacked once: codes of sub-blocks [0|1], [2|3], [4|5], [6|7] (32 bytes each, in
// element order, matching the activations' order), the scales as int16 patterns over the same lanes
// (16 words each), and the minima as int16.
typedef struct { __m512i c[4], s[4]; __m128i m; } k4_row;

INLINE void k4_unpack(const block_q4_K *w, k4_row *r) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int h = 0; h < 2; h++) {
        const __m512i raw = _mm512_loadu_si512((const void *)(w->qs + 64 * h)); // chunks 2h, 2h + 1 (32 bytes each)
        const __m512i lo = _mm512_and_si512(raw, m4), hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
        // chunk c: low nibbles are sub-block 2c, high nibbles 2c + 1
        r->c[2 * h] = _mm512_shuffle_i64x2(lo, hi, 0x44);     // [lo chunk 2h | hi chunk 2h]
        r->c[2 * h + 1] = _mm512_shuffle_i64x2(lo, hi, 0xEE); // [lo chunk 2h+1 | hi chunk 2h+1]
    }
    uint64_t sc, mn;
    k4_scale_bytes(w->scales, &sc, &mn);
    const __m512i s16 = _mm512_castsi128_si512(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc)));
    for (int p = 0; p < 4; p++) {
        // words 0-15: scale of sub-block 2p, words 16-31: of 2p + 1
        const __m512i idx = _mm512_or_si512(_mm512_set1_epi16((short)(2 * p)),
                                            _mm512_maskz_set1_epi16(0xFFFF0000u, 1));
        r->s[p] = _mm512_permutexvar_epi16(idx, s16);
    }
    r->m = _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn));
}

// Σ_k s_k Σ_{l in k} q_l y_l of one row and token as 16 int32 partial sums.
INLINE __m512i k4_dot(const k4_row *r, const int8_t *y) {
    __m512i s = _mm512_setzero_si512();
    for (int p = 0; p < 4; p++) {
        const __m512i prod = _mm512_maddubs_epi16(r->c[p], _mm512_loadu_si512((const void *)(y + 64 * p)));
        s = _mm512_dpwssd_epi32(s, prod, r->s[p]);
    }
    return s;
}

MOE_AVX512 float moe_vd_q4_K_avx512(int64_t n, const void *vw, const void *vx) {
    const block_q4_K *w = vw;
    const block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) {
        int s, m;
        moe_k4_isums(&w[b], &x[b], &s, &m);
        acc = fmaf(h2f(w[b].d) * x[b].d, (float)s, acc);
        acc = fmaf(-(h2f(w[b].dmin) * x[b].d), (float)m, acc);
    }
    return acc;
}

// d and dmin of 16 rows' super-blocks (one gather of their first 4 bytes) times d_x.
INLINE void k4_scales16(const uint8_t *p, __m512i rows, float dx, __m512 *dd, __m512 *dm) {
    const __m512i h = _mm512_i32gather_epi32(rows, p, 1);
    const __m512 vx = _mm512_set1_ps(dx);
    *dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), vx);
    *dm = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16))), vx);
}

// M of 16 (row, token) pairs from their 4 int32 partials each (m[i] for pair i) → lane i.
INLINE __m512i k4_min16(const __m128i m[16]) {
    __m512i a[4];
    for (int q = 0; q < 4; q++) { // pairs q, q + 4, q + 8, q + 12 in the 128-bit lanes of a[q]
        __m512i z = _mm512_castsi128_si512(m[q]);
        z = _mm512_inserti32x4(z, m[q + 4], 1);
        z = _mm512_inserti32x4(z, m[q + 8], 2);
        a[q] = _mm512_inserti32x4(z, m[q + 12], 3);
    }
    return reduce4x4(a[0], a[1], a[2], a[3]);
}

// 16 rows × one token, as gemv16_mxfp4 (the next 16 rows prefetched into L2, 2304 bytes per super-block step).
static MOE_AVX512 void gemv16_q4_K(int64_t nb, const uint8_t *W, size_t ws, const block_q8_K *x, float *y, const uint8_t *next) {
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q4_K);
        const __m128i ysum = q8k_sums32(&x[b]);
        __m512i s[16];
        __m128i m[16];
        for (int r = 0; r < 16; r++) {
            if (next) {
                const char *q = (const char *)next + (size_t)r * ws + off;
                _mm_prefetch(q, _MM_HINT_T1);
                _mm_prefetch(q + 64, _MM_HINT_T1);
                _mm_prefetch(q + 128, _MM_HINT_T1);
            }
            k4_row kr;
            k4_unpack((const block_q4_K *)(W + (size_t)r * ws + off), &kr);
            s[r] = k4_dot(&kr, x[b].qs);
            m[r] = _mm_madd_epi16(kr.m, ysum);
        }
        __m512 dd, dm;
        k4_scales16(W + off, rows, x[b].d, &dd, &dm);
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(reduce16(s)), acc);
        acc = _mm512_fnmadd_ps(dm, _mm512_cvtepi32_ps(k4_min16(m)), acc);
    }
    _mm512_storeu_ps(y, acc);
}

// mr ≤ 4 rows × nr ≤ 4 tokens; pair i = 4k + t is (row k, token t), as tile_mxfp4.
static MOE_AVX512 void tile_q4_K(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                 float *Y, int64_t ldy) {
    const block_q8_K *tok[4];
    const uint8_t *row[4];
    for (int k = 0; k < 4; k++) row[k] = W + (size_t)(k < mr ? k : 0) * ws;
    for (int t = 0; t < 4; t++) tok[t] = (const block_q8_K *)(X + (size_t)(t < nr ? t : 0) * xs);
    const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q4_K);
        __m128i ysum[4];
        float dxs[4];
        for (int t = 0; t < 4; t++) { ysum[t] = q8k_sums32(&tok[t][b]); dxs[t] = tok[t][b].d; }
        __m512i s[16];
        __m128i m[16];
        uint32_t dmins[4];
        for (int k = 0; k < 4; k++) {
            const block_q4_K *w = (const block_q4_K *)(row[k] + off);
            k4_row kr;
            k4_unpack(w, &kr);
            memcpy(&dmins[k], w, 4);
            for (int t = 0; t < 4; t++) {
                s[4 * k + t] = k4_dot(&kr, tok[t][b].qs);
                m[4 * k + t] = _mm_madd_epi16(kr.m, ysum[t]);
            }
        }
        const __m512i h = _mm512_permutexvar_epi32(lane_row, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)dmins)));
        const __m512 vx = _mm512_broadcast_f32x4(_mm_loadu_ps(dxs));
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), vx);
        const __m512 dm = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16))), vx);
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(reduce16(s)), acc);
        acc = _mm512_fnmadd_ps(dm, _mm512_cvtepi32_ps(k4_min16(m)), acc);
    }
    float out[16];
    _mm512_storeu_ps(out, acc);
    for (int t = 0; t < nr; t++)
        for (int k = 0; k < mr; k++) Y[t * ldy + k] = out[4 * k + t];
}

// ---------------------------------------------------------------------------------------------
// IQ4_XS × Q8_K: table values v (-127 … 113) looked up as v + 128 (unsigned) for vpdpbusd; the offset is
// taken out as 128 Σ_ib ls_ib Σ_{l in ib} y_l, and the signed 6-bit scales ls_ib multiply int32 partial sums
// (|(v + 128) y| sums of 8 ≤ 246,784, × 32, summed: far inside int32).

// One row's super-block: its scales as int32 patterns for the two halves (sub-block 4h + j in 128-bit lane j)
// and as int16 (for the offset term).
typedef struct { __m512i ls[2]; __m128i ls16; } xs_row;

INLINE void xs_scales(const block_iq4_xs *w, xs_row *r) {
    uint32_t sl;
    memcpy(&sl, w->scales_l, 4);
    const __m128i v = _mm_cvtsi32_si128((int)sl), m4 = _mm_set1_epi8(0x0F);
    const __m128i low = _mm_unpacklo_epi8(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4)); // ib order
    const __m128i high = _mm_cvtsi64_si128((long long)_pdep_u64(w->scales_h, 0x0303030303030303ull));
    const __m128i ls8 = _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
    const __m512i ls32 = _mm512_cvtepi8_epi32(ls8);
    r->ls[0] = _mm512_permutexvar_epi32(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3), ls32);
    r->ls[1] = _mm512_permutexvar_epi32(_mm512_setr_epi32(4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7), ls32);
    r->ls16 = _mm_cvtepi8_epi16(ls8);
}

// A Q8_K block's activations in the order of an IQ4_XS half's nibbles: y[4h] low nibbles of sub-blocks
// 4h … 4h + 3 (elements 0-15 of each), y[4h + 1] their high nibbles (elements 16-31).
INLINE void xs_acts(const block_q8_K *x, __m512i y[4]) {
    for (int h = 0; h < 2; h++) {
        const __m512i a = _mm512_loadu_si512((const void *)(x->qs + 128 * h)), b = _mm512_loadu_si512((const void *)(x->qs + 128 * h + 64));
        y[2 * h] = _mm512_shuffle_i32x4(a, b, 0x88);
        y[2 * h + 1] = _mm512_shuffle_i32x4(a, b, 0xDD);
    }
}

// Σ_ib ls_ib Σ (v + 128) y of one row and token as 16 int32 partial sums.
INLINE __m512i xs_dot(const block_iq4_xs *w, const xs_row *r, const __m512i y[4]) {
    const __m512i table = _mm512_broadcast_i32x4(_mm_add_epi8(_mm_loadu_si128((const __m128i *)moe_kvalues_iq4nl), _mm_set1_epi8((char)0x80)));
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i s = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i raw = _mm512_loadu_si512((const void *)(w->qs + 64 * h));
        const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(raw, m4));
        const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4));
        const __m512i p = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, y[2 * h]), hi, y[2 * h + 1]);
        s = _mm512_add_epi32(s, _mm512_mullo_epi32(p, r->ls[h]));
    }
    return s;
}

MOE_AVX512 float moe_vd_iq4_xs_avx512(int64_t n, const void *vw, const void *vx) {
    const block_iq4_xs *w = vw;
    const block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) acc = fmaf(h2f(w[b].d) * x[b].d, (float)moe_iq4_xs_isum(&w[b], &x[b]), acc);
    return acc;
}

// 16 rows × one token, as gemv16_q4_K.
static MOE_AVX512 void gemv16_iq4_xs(int64_t nb, const uint8_t *W, size_t ws, const block_q8_K *x, float *y, const uint8_t *next) {
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_iq4_xs);
        const __m128i ysum = q8k_sums32(&x[b]);
        __m512i yv[4];
        xs_acts(&x[b], yv);
        __m512i s[16];
        __m128i m[16];
        for (int r = 0; r < 16; r++) {
            if (next) {
                const char *q = (const char *)next + (size_t)r * ws + off;
                _mm_prefetch(q, _MM_HINT_T1);
                _mm_prefetch(q + 64, _MM_HINT_T1);
                _mm_prefetch(q + 128, _MM_HINT_T1);
            }
            const block_iq4_xs *w = (const block_iq4_xs *)(W + (size_t)r * ws + off);
            xs_row xr;
            xs_scales(w, &xr);
            s[r] = xs_dot(w, &xr, yv);
            m[r] = _mm_madd_epi16(xr.ls16, ysum);
        }
        const __m512i total = _mm512_sub_epi32(reduce16(s), _mm512_slli_epi32(k4_min16(m), 7));
        const __m512i h = _mm512_i32gather_epi32(rows, W + off, 1);
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_set1_ps(x[b].d));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(total), acc);
    }
    _mm512_storeu_ps(y, acc);
}

// ---------------------------------------------------------------------------------------------
// The K-quant x16 layouts (Q4_K, Q6_K, Q3_K, IQ4_XS; moe_repack.h), one row per 32-bit lane: per row and super-block
// the exact integer sum of the row-major kernels, then their float steps (hence the same bits). A group of 16 rows is
// one sequential stream, read X16_AHEAD bytes ahead.
enum { X16_AHEAD = 4608 }; // two Q4_K steps: best of 2.3 … 16 KiB on an AMD Zen 4, where T0, T1, T2, NTA did alike; into L2
                            // (T1) 5–8% faster than T0 on an Intel Xeon (Sapphire Rapids) at 1.2, 4.6, 9.2, 18.4 KiB alike

INLINE void x16_prefetch(const uint8_t *p, int bytes) {
    for (int l = 0; l < bytes; l += 64) _mm_prefetch((const char *)p + X16_AHEAD + l, _MM_HINT_T1);
}

// Q4_K x16, one row per 32-bit lane (moe_repack.h): a 64-byte load holds the same 4 elements of the 16 rows, so
// the 4 activations are one broadcast and vpdpbusd leaves each row's sum in its own lane; a sub-block's 8 loads
// add up in int32 and meet the 16 rows' scales (int32 lanes) in one multiply. No horizontal sum anywhere. Per row
// and super-block the integer sum is exact, then acc = fma(d · dx, sum, acc) and acc = fma(-(dmin · dx), M, acc):
// the row-major kernels' arithmetic, hence the same bits. Several tokens (≤ X16_NT) share a step's decoded codes.
enum { X16_NT = 8 }; // most tokens that share a step's decoded codes (each type's count: X16_LANE_GROUPS' NT)
enum { Q4X16_STEP = 16 * sizeof(block_q4_K), Q4X16_DMIN = 32, Q4X16_SC = 64, Q4X16_QS = 256 };

// The 16 rows' 4 scale bytes held in v at the x16 positions (moe_repack.h: 256-bit half i / 2, 8 · (r / 4) +
// 4 · (i % 2) + r % 4) as int32: S[i] lane r = b_i(r) (one widening, then an unpack with zeros).
INLINE void q4_Kx16_scales(__m512i v, __m512i S[4]) {
    const __m512i a = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(v)), b = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(v, 1));
    const __m512i z = _mm512_setzero_si512();
    S[0] = _mm512_unpacklo_epi16(a, z);
    S[1] = _mm512_unpackhi_epi16(a, z);
    S[2] = _mm512_unpacklo_epi16(b, z);
    S[3] = _mm512_unpackhi_epi16(b, z);
}

// 4 activation bytes broadcast to the 16 lanes.
INLINE __m512i x16_bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm512_set1_epi32(v);
}

// A step's 8 sub-block scales S[k] (int32, row r in lane r) and minima as pairs (m_k, m_k+1), k = 0, 2, 4, 6 (M).
INLINE void q4_Kx16_terms(const uint8_t *p, __m512i S[8], __m512i M[4]) {
    const __m512i v0 = _mm512_loadu_si512((const void *)(p + Q4X16_SC));
    const __m512i v1 = _mm512_loadu_si512((const void *)(p + Q4X16_SC + 64));
    const __m512i v2 = _mm512_loadu_si512((const void *)(p + Q4X16_SC + 128));
    const __m512i m4 = _mm512_set1_epi8(0x0F), m6 = _mm512_set1_epi8(63), top = _mm512_set1_epi8(0x30);
    // as moe_get_scale_min_k4: sub-blocks 0-3 from bytes 0-3 (scales) and 4-7 (minima), 4-7 from 8-11 and the top bits
    const __m512i sc03 = _mm512_and_si512(v0, m6), mn03 = _mm512_and_si512(v1, m6);
    const __m512i sc47 = _mm512_or_si512(_mm512_and_si512(v2, m4), _mm512_and_si512(_mm512_srli_epi16(v0, 2), top));
    const __m512i mn47 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v2, 4), m4), _mm512_and_si512(_mm512_srli_epi16(v1, 2), top));
    q4_Kx16_scales(sc03, S);
    q4_Kx16_scales(sc47, S + 4);
    const __m512i a = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(mn03)), b = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(mn03, 1));
    const __m512i c = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(mn47)), d = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(mn47, 1));
    M[0] = _mm512_unpacklo_epi16(a, _mm512_bsrli_epi128(a, 8));
    M[1] = _mm512_unpacklo_epi16(b, _mm512_bsrli_epi128(b, 8));
    M[2] = _mm512_unpacklo_epi16(c, _mm512_bsrli_epi128(c, 8));
    M[3] = _mm512_unpacklo_epi16(d, _mm512_bsrli_epi128(d, 8));
}

// Σ_k m_k · Σ y over sub-block k, per row (exact int32), for one token's Q8_K block.
INLINE __m512i q4_Kx16_minsum(const __m512i M[4], const block_q8_K *x) {
    // Σ y of the 8 sub-blocks of 32 as int16 (|.| ≤ 4096), pairs (k, k + 1) per 32-bit word
    const __m128i s16 = _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x->bsums), _mm_loadu_si128((const __m128i *)(x->bsums + 8)));
    int32_t bs[4];
    _mm_storeu_si128((__m128i *)bs, s16);
    __m512i m = _mm512_setzero_si512();
    for (int i = 0; i < 4; i++) m = _mm512_dpwssd_epi32(m, M[i], _mm512_set1_epi32(bs[i]));
    return m;
}

INLINE void q4_Kx16_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m512 *acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    __m512i S[8], M[4];
    q4_Kx16_terms(p, S, M);
    __m512i isum[X16_NT], msum[X16_NT];
    for (int t = 0; t < nt; t++) {
        msum[t] = q4_Kx16_minsum(M, x[t]);
        isum[t] = _mm512_setzero_si512();
    }
    for (int c = 0; c < 4; c++) {
        __m512i lo[X16_NT], hi[X16_NT];
        for (int t = 0; t < nt; t++) lo[t] = hi[t] = _mm512_setzero_si512();
        for (int g4 = 0; g4 < 8; g4++) {
            const __m512i raw = _mm512_loadu_si512((const void *)(p + Q4X16_QS + 512 * c + 64 * g4));
            const __m512i ql = _mm512_and_si512(raw, m4), qh = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
            for (int t = 0; t < nt; t++) {
                lo[t] = _mm512_dpbusd_epi32(lo[t], ql, x16_bcast4(x[t]->qs + 64 * c + 4 * g4));
                hi[t] = _mm512_dpbusd_epi32(hi[t], qh, x16_bcast4(x[t]->qs + 64 * c + 32 + 4 * g4));
            }
        }
        // |Σ q y| ≤ 32 · 15 · 128 per sub-block, times a 6-bit scale, 8 sub-blocks: within int32
        for (int t = 0; t < nt; t++)
            isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(lo[t], S[2 * c]), _mm512_mullo_epi32(hi[t], S[2 * c + 1])));
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + Q4X16_DMIN)));
    for (int t = 0; t < nt; t++) {
        const __m512 dx = _mm512_set1_ps(x[t]->d);
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, dx), _mm512_cvtepi32_ps(isum[t]), acc[t]);
        acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, dx), _mm512_cvtepi32_ps(msum[t]), acc[t]);
    }
}

// Q6_K x16, one row per 32-bit lane (moe_repack.h): for half h and element quad lq, vectors A (ql[64h + 4lq …]),
// B (ql[64h + 32 + 4lq …]) and H (qh[32h + 4lq …]) give the codes u = q (0 … 63) of elements 128h + 32j + 4lq + i,
// j = 0 … 3 (A's low and high nibbles for j = 0, 2, B's for 1, 3; H's bit pairs 2j above them). A sub-block's 4
// quads add up in int32 (vpdpbusd), lose 32 · Σy (bsums) and meet the 16 rows' scales in one multiply; per row and
// super-block the exact sum, then acc = fma(d · dx, sum, acc): the row-major kernels' arithmetic, the same bits.
enum { Q6X16_STEP = 16 * sizeof(block_q6_K), Q6X16_SC = 32, Q6X16_QS = 288 };

INLINE void q6_Kx16_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m512 *acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m30 = _mm512_set1_epi8(0x30);
    __m512i isum[X16_NT];
    for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
    for (int h = 0; h < 2; h++) {
#pragma clang loop unroll(full)
        for (int half = 0; half < 2; half++) { // lq / 4: sub-blocks 8h + 2j + half
            __m512i s[X16_NT][4];
            for (int t = 0; t < nt; t++)
                for (int j = 0; j < 4; j++) s[t][j] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
            for (int q = 0; q < 4; q++) {
                const int lq = 4 * half + q;
                const uint8_t *c = p + Q6X16_QS + 192 * (8 * h + lq);
                const __m512i A = _mm512_loadu_si512((const void *)c), B = _mm512_loadu_si512((const void *)(c + 64)),
                              H = _mm512_loadu_si512((const void *)(c + 128));
                // u = nibble | (the bit pair shifted to bits 4-5): ternary a | (b & c) = 0xF8
                const __m512i u[4] = {
                    _mm512_ternarylogic_epi32(_mm512_and_si512(A, m4), _mm512_slli_epi16(H, 4), m30, 0xF8),
                    _mm512_ternarylogic_epi32(_mm512_and_si512(B, m4), _mm512_slli_epi16(H, 2), m30, 0xF8),
                    _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(A, 4), m4), H, m30, 0xF8),
                    _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(B, 4), m4), _mm512_srli_epi16(H, 2), m30, 0xF8),
                };
                for (int t = 0; t < nt; t++)
                    for (int j = 0; j < 4; j++) s[t][j] = _mm512_dpbusd_epi32(s[t][j], u[j], x16_bcast4(x[t]->qs + 128 * h + 32 * j + 4 * lq));
            }
            for (int j = 0; j < 4; j++) {
                const int k = 8 * h + 2 * j + half;
                const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p + Q6X16_SC + 16 * k)));
                // |Σ (q − 32) y| ≤ 16 · 32 · 128 per sub-block, times |sc| ≤ 128, 16 sub-blocks: within int32
                for (int t = 0; t < nt; t++)
                    isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(_mm512_sub_epi32(s[t][j], _mm512_set1_epi32(32 * x[t]->bsums[k])), sc));
            }
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    for (int t = 0; t < nt; t++) acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(x[t]->d)), _mm512_cvtepi32_ps(isum[t]), acc[t]);
}

// Q3_K x16, one row per 32-bit lane (moe_repack.h): the codes u = q + 4 (0 … 7) as nibble triples, so one triple of
// 64-byte loads decodes into the 8 planes of 4 elements × 16 rows (20 operations, the x8 layout's scheme at 512 bits).
// A sub-block's 4 planes add up in int32 (vpdpbusd), lose 4 · Σy (bsums) and meet the 16 rows' scales in one multiply;
// per row and super-block the exact sum, then acc = fma(d · dx, sum, acc): the row-major kernels' arithmetic.
enum { Q3X16_STEP = 16 * sizeof(block_q3_K), Q3X16_SC = 32, Q3X16_CODES = 224 };

INLINE void q3_Kx16_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m512 *acc) {
    // Scale bytes j = 0-3, 4-7, 8-11 (16 rows each per 128-bit lane) → the 16 six-bit scales minus 32, lane k of
    // sc[m] holding sub-block 4m + k (as moe_q3k_scales).
    const __m512i v0 = _mm512_loadu_si512((const void *)(p + Q3X16_SC));
    const __m512i v1 = _mm512_loadu_si512((const void *)(p + Q3X16_SC + 64));
    const __m512i v2 = _mm512_loadu_si512((const void *)(p + Q3X16_SC + 128));
    const __m512i lo4 = _mm512_set1_epi8(0x0F), top = _mm512_set1_epi8(0x30), bias = _mm512_set1_epi8(32);
    const __m512i sc[4] = {
        _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(v0, lo4), _mm512_and_si512(_mm512_slli_epi16(v2, 4), top)), bias),
        _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(v1, lo4), _mm512_and_si512(_mm512_slli_epi16(v2, 2), top)), bias),
        _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v0, 4), lo4), _mm512_and_si512(v2, top)), bias),
        _mm512_sub_epi8(_mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(v1, 4), lo4), _mm512_and_si512(_mm512_srli_epi16(v2, 2), top)), bias),
    };
    // sub-block k's scales as int32, row r in lane r: sc[k / 4], 128-bit lane k % 4
#define Q3X16_SC32(m, k) _mm512_cvtepi8_epi32(_mm512_extracti32x4_epi32(sc[m], k))
    const __m512i S[16] = {Q3X16_SC32(0, 0), Q3X16_SC32(0, 1), Q3X16_SC32(0, 2), Q3X16_SC32(0, 3), Q3X16_SC32(1, 0), Q3X16_SC32(1, 1),
                           Q3X16_SC32(1, 2), Q3X16_SC32(1, 3), Q3X16_SC32(2, 0), Q3X16_SC32(2, 1), Q3X16_SC32(2, 2), Q3X16_SC32(2, 3),
                           Q3X16_SC32(3, 0), Q3X16_SC32(3, 1), Q3X16_SC32(3, 2), Q3X16_SC32(3, 3)};
#undef Q3X16_SC32
    const __m512i m7 = _mm512_set1_epi8(7), m88 = _mm512_set1_epi8((char)0x88);
    __m512i isum[X16_NT];
    for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
    for (int q = 0; q < 8; q++) {
        const uint8_t *c = p + Q3X16_CODES + 192 * q;
        const __m512i A = _mm512_loadu_si512((const void *)c), B = _mm512_loadu_si512((const void *)(c + 64)),
                      C = _mm512_loadu_si512((const void *)(c + 128));
        // planes 6 and 7: bits 3 and 7 of A, B, C gathered as bits 3, 2, 1 and 7, 6, 5 (16-bit shifts of masked
        // bytes never cross into the next byte)
        const __m512i w = _mm512_or_si512(_mm512_and_si512(A, m88), _mm512_or_si512(_mm512_srli_epi16(_mm512_and_si512(B, m88), 1),
                                                                                   _mm512_srli_epi16(_mm512_and_si512(C, m88), 2)));
        const __m512i u[8] = {
            _mm512_and_si512(A, m7), _mm512_and_si512(_mm512_srli_epi16(A, 4), m7),
            _mm512_and_si512(B, m7), _mm512_and_si512(_mm512_srli_epi16(B, 4), m7),
            _mm512_and_si512(C, m7), _mm512_and_si512(_mm512_srli_epi16(C, 4), m7),
            _mm512_and_si512(_mm512_srli_epi16(w, 1), m7), _mm512_and_si512(_mm512_srli_epi16(w, 5), m7),
        };
        // sub-blocks 2q (planes 0-3) and 2q + 1 (planes 4-7)
        const __m512i s0 = S[2 * q], s1 = S[2 * q + 1];
        for (int t = 0; t < nt; t++) {
            const int8_t *y = x[t]->qs + 32 * q;
            __m512i P0 = _mm512_setzero_si512(), P1 = _mm512_setzero_si512();
#pragma clang loop unroll(full)
            for (int pl = 0; pl < 4; pl++) {
                P0 = _mm512_dpbusd_epi32(P0, u[pl], x16_bcast4(y + 4 * pl));
                P1 = _mm512_dpbusd_epi32(P1, u[pl + 4], x16_bcast4(y + 16 + 4 * pl));
            }
            P0 = _mm512_sub_epi32(P0, _mm512_set1_epi32(4 * x[t]->bsums[2 * q]));
            P1 = _mm512_sub_epi32(P1, _mm512_set1_epi32(4 * x[t]->bsums[2 * q + 1]));
            isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(P0, s0), _mm512_mullo_epi32(P1, s1)));
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    for (int t = 0; t < nt; t++) acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(x[t]->d)), _mm512_cvtepi32_ps(isum[t]), acc[t]);
}

// IQ4_XS x16, one row per 32-bit lane (moe_repack.h): a 64-byte load holds the same 4 code bytes of the 16 rows; the
// table (as v + 128, unsigned) turns low and high nibbles into the values of 4 elements each, vpdpbusd adds a
// sub-block's 32 products per row in int32 (128 · Σy taken out), and one multiply meets the 16 rows' scales.
enum { XSX16_STEP = 16 * sizeof(block_iq4_xs), XSX16_SH = 32, XSX16_SL = 64, XSX16_QS = 128 };

INLINE void iq4_xsx16_step(const int nt, const uint8_t *p, const block_q8_K *const *x, __m512 *acc) {
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    const __m512i table = _mm512_broadcast_i32x4(_mm_add_epi8(_mm_loadu_si128((const __m128i *)moe_kvalues_iq4nl), _mm_set1_epi8((char)0x80)));
    const __m512i sh = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(p + XSX16_SH))); // scales_h per row
    const __m512i sl = _mm512_loadu_si512((const void *)(p + XSX16_SL));                          // scales_l per row
    __m512i isum[X16_NT];
    for (int t = 0; t < nt; t++) isum[t] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
    for (int ib = 0; ib < 8; ib++) {
        // ls = (4 bits of scales_l | 2 bits of scales_h << 4) - 32, as moe_iq4xs_scales
        const __m512i ls = _mm512_sub_epi32(
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(sl, 4 * ib), _mm512_set1_epi32(0x0F)),
                            _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(sh, 2 * ib), _mm512_set1_epi32(3)), 4)),
            _mm512_set1_epi32(32));
        __m512i P[X16_NT];
        for (int t = 0; t < nt; t++) P[t] = _mm512_setzero_si512();
#pragma clang loop unroll(full)
        for (int g4 = 0; g4 < 4; g4++) {
            const __m512i raw = _mm512_loadu_si512((const void *)(p + XSX16_QS + 256 * ib + 64 * g4));
            const __m512i lo = _mm512_shuffle_epi8(table, _mm512_and_si512(raw, m4));
            const __m512i hi = _mm512_shuffle_epi8(table, _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4));
            for (int t = 0; t < nt; t++) {
                P[t] = _mm512_dpbusd_epi32(P[t], lo, x16_bcast4(x[t]->qs + 32 * ib + 4 * g4));
                P[t] = _mm512_dpbusd_epi32(P[t], hi, x16_bcast4(x[t]->qs + 32 * ib + 16 + 4 * g4));
            }
        }
        // Σ (v + 128) y − 128 Σ y: the sub-block's Σ v y, exact; |.| ≤ 32 · 127 · 128, times |ls| ≤ 32, 8 sub-blocks
        for (int t = 0; t < nt; t++) {
            const __m512i sub = _mm512_sub_epi32(P[t], _mm512_set1_epi32(128 * (x[t]->bsums[2 * ib] + x[t]->bsums[2 * ib + 1])));
            isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(sub, ls));
        }
    }
    const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
    for (int t = 0; t < nt; t++) acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, _mm512_set1_ps(x[t]->d)), _mm512_cvtepi32_ps(isum[t]), acc[t]);
}

// Groups [g0, g1) × tokens [0, nt): Y[t · ldy + 16g + r], through T##x16_step (STEP bytes a super-block). One function
// per type and token count, so the step's loops unroll with constant shifts.
#define X16_LANE_GROUPS(T, STEP, NT)                                                                                        \
    INLINE void T##x16_groups(const int nt, int64_t g0, int64_t g1, int64_t nb, const uint8_t *w, const uint8_t *X,     \
                              size_t xs, float *Y, int64_t ldy) {                                                        \
        for (int64_t g = g0; g < g1; g++) {                                                                               \
            const uint8_t *p = w + (size_t)g * (size_t)nb * (STEP);                                                       \
            __m512 acc[X16_NT];                                                                                           \
            for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();                                                    \
            for (int64_t b = 0; b < nb; b++, p += (STEP)) {                                                               \
                x16_prefetch(p, (STEP));                                                                                  \
                const block_q8_K *x[X16_NT];                                                                              \
                for (int t = 0; t < nt; t++) x[t] = (const block_q8_K *)(X + (size_t)t * xs) + b;                        \
                T##x16_step(nt, p, x, acc);                                                                               \
            }                                                                                                             \
            for (int t = 0; t < nt; t++) _mm512_storeu_ps(Y + t * ldy + 16 * g, acc[t]);                                  \
        }                                                                                                                 \
    }                                                                                                                     \
    MOE_AVX512 void moe_gemv_##T##x16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) { \
        T##x16_groups(1, g0, g1, cols / QK_K, w, x, 0, y, 0);                                                             \
    }                                                                                                                     \
    MOE_AVX512 void moe_mmq_##T##x16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *X, \
                                            float *Y, int64_t ldy) {                                                      \
        const int64_t nb = cols / QK_K;                                                                                   \
        const size_t xs = (size_t)nb * sizeof(block_q8_K);                                                                \
        for (int64_t g = g0; g < g1; g++) {                                                                               \
            for (int64_t n0 = 0; n0 < N; n0 += (NT)) {                                                                    \
                const uint8_t *Xn = (const uint8_t *)X + (size_t)n0 * xs;                                                 \
                float *Yn = Y + n0 * ldy;                                                                                 \
                switch (N - n0 < (NT) ? N - n0 : (NT)) {                                                                  \
                case 8: T##x16_groups(8, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                case 7: T##x16_groups(7, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                case 6: T##x16_groups(6, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                case 5: T##x16_groups(5, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                case 4: T##x16_groups(4, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                case 3: T##x16_groups(3, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                case 2: T##x16_groups(2, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                       \
                default: T##x16_groups(1, g, g + 1, nb, w, Xn, xs, Yn, ldy); break;                                      \
                }                                                                                                         \
            }                                                                                                             \
        }                                                                                                                 \
    }
X16_LANE_GROUPS(q4_K, Q4X16_STEP, 8)
X16_LANE_GROUPS(q6_K, Q6X16_STEP, 8)

#if defined(__linux__)
// Q4_K x16 on AMX tiles (tiles_amx.c has the 32-element types and the set-up): each 64-byte vector of a step's codes
// already holds 16 rows × 4 columns as a tile row wants them, so sub-block k's B tile is 8 such vectors' low
// (k even) or high (k odd) nibbles, unsigned, against the tokens' signed codes (TDPBSUD): C_k = Σ q · y over the
// sub-block, exact, 16 tokens × 16 rows. Then per token the step's own integer arithmetic, Σ_k S_k · C_k and the
// minima's sum, and its two float steps: the bits of q4_Kx16_step.
enum { KT_C = 0, KT_A = 1, KT_B = 2 }; // tile registers: C (16 × 16 int32), A (16 tokens × 32), B (8 × 64)

int moe_mmq_q4_Kx16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *vx, float *Y, int64_t ldy);
MOE_AMX int moe_mmq_q4_Kx16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *vx, float *Y, int64_t ldy) {
    // Whole tiles of 16 tokens only: the AVX-512 kernel (8 tokens a pass) is as fast as a tile up to 16 tokens
    // (one core, 1024 × 2048: 0.151 against 0.148 ms), so the tokens past the last whole tile go to it.
    const int64_t tiles = N / 16;
    if (tiles == 0 || !moe_kernels_amx()) return 0;
    const int64_t nb = cols / QK_K;
    const size_t xs = (size_t)nb * sizeof(block_q8_K);
    // Scratch (slot 2): a group's B tiles (nb × 8 sub-blocks × 512 bytes) | a step's 8 C tiles (8 KiB).
    const size_t bBytes = (size_t)nb * 8 * 512;
    uint8_t *s = moe_thread_scratch(2, bBytes + 8 * 1024);
    if (s == NULL) return 0;
    uint8_t *B = s;
    int32_t *C = (int32_t *)(s + bBytes);
    const uint8_t *X = vx;
    moe_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[KT_C] = 16, cfg.colsb[KT_C] = 64;
    cfg.rows[KT_A] = 16, cfg.colsb[KT_A] = 32;
    cfg.rows[KT_B] = 8, cfg.colsb[KT_B] = 64;
    _tile_loadconfig(&cfg);
    const __m512i m4 = _mm512_set1_epi8(0x0F);
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *pg = (const uint8_t *)w + (size_t)g * (size_t)nb * Q4X16_STEP;
        for (int64_t b = 0; b < nb; b++)
            for (int c = 0; c < 4; c++)
                for (int g4 = 0; g4 < 8; g4++) {
                    const __m512i raw = _mm512_loadu_si512((const void *)(pg + (size_t)b * Q4X16_STEP + Q4X16_QS + 512 * c + 64 * g4));
                    uint8_t *lo = B + ((size_t)b * 8 + 2 * (size_t)c) * 512 + 64 * g4;
                    _mm512_storeu_si512((void *)lo, _mm512_and_si512(raw, m4));
                    _mm512_storeu_si512((void *)(lo + 512), _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4));
                }
        for (int64_t tile = 0; tile < tiles; tile++) {
            const uint8_t *A = X + (size_t)(16 * tile) * xs;
            __m512 acc[16];
            for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
            for (int64_t b = 0; b < nb; b++) {
                const uint8_t *p = pg + (size_t)b * Q4X16_STEP;
                for (int k = 0; k < 8; k++) {
                    _tile_loadd(KT_A, A + (size_t)b * sizeof(block_q8_K) + offsetof(block_q8_K, qs) + 32 * k, (long)xs);
                    _tile_loadd(KT_B, B + ((size_t)b * 8 + k) * 512, 64);
                    _tile_zero(KT_C);
                    _tile_dpbsud(KT_C, KT_A, KT_B);
                    _tile_stored(KT_C, C + 256 * k, 64);
                }
                __m512i S[8], M[4];
                q4_Kx16_terms(p, S, M);
                const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
                const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(p + Q4X16_DMIN)));
#pragma clang loop unroll(full)
                for (int t = 0; t < 16; t++) {
                    const block_q8_K *x = (const block_q8_K *)(A + (size_t)t * xs) + b;
                    __m512i isum = _mm512_setzero_si512();
                    for (int k = 0; k < 8; k++) isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_load_si512((const void *)(C + 256 * k + 16 * t)), S[k]));
                    const __m512 dx = _mm512_set1_ps(x->d);
                    acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(d, dx), _mm512_cvtepi32_ps(isum), acc[t]);
                    acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dmin, dx), _mm512_cvtepi32_ps(q4_Kx16_minsum(M, x)), acc[t]);
                }
            }
            for (int t = 0; t < 16; t++) _mm512_storeu_ps(Y + (16 * tile + t) * ldy + 16 * g, acc[t]);
        }
    }
    _tile_release();
    if (N > 16 * tiles) moe_mmq_q4_Kx16_avx512(g0, g1, N - 16 * tiles, cols, w, X + (size_t)(16 * tiles) * xs, Y + 16 * tiles * ldy, ldy);
    return 1;
}
#else
int moe_mmq_q4_Kx16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *vx, float *Y, int64_t ldy) {
    (void)g0, (void)g1, (void)N, (void)cols, (void)w, (void)vx, (void)Y, (void)ldy;
    return 0;
}
#endif
X16_LANE_GROUPS(q3_K, Q3X16_STEP, 8)
X16_LANE_GROUPS(iq4_xs, XSX16_STEP, 4)


// mr ≤ 4 rows × nr ≤ 4 tokens, as tile_q4_K.
static MOE_AVX512 void tile_iq4_xs(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                   float *Y, int64_t ldy) {
    const block_q8_K *tok[4];
    const uint8_t *row[4];
    for (int k = 0; k < 4; k++) row[k] = W + (size_t)(k < mr ? k : 0) * ws;
    for (int t = 0; t < 4; t++) tok[t] = (const block_q8_K *)(X + (size_t)(t < nr ? t : 0) * xs);
    const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_iq4_xs);
        __m128i ysum[4];
        __m512i yv[4][4];
        float dxs[4];
        for (int t = 0; t < 4; t++) { ysum[t] = q8k_sums32(&tok[t][b]); xs_acts(&tok[t][b], yv[t]); dxs[t] = tok[t][b].d; }
        __m512i s[16];
        __m128i m[16];
        uint32_t ds[4];
        for (int k = 0; k < 4; k++) {
            const block_iq4_xs *w = (const block_iq4_xs *)(row[k] + off);
            xs_row xr;
            xs_scales(w, &xr);
            memcpy(&ds[k], w, 4);
            for (int t = 0; t < 4; t++) {
                s[4 * k + t] = xs_dot(w, &xr, yv[t]);
                m[4 * k + t] = _mm_madd_epi16(xr.ls16, ysum[t]);
            }
        }
        const __m512i total = _mm512_sub_epi32(reduce16(s), _mm512_slli_epi32(k4_min16(m), 7));
        const __m512i h = _mm512_permutexvar_epi32(lane_row, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)ds)));
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_broadcast_f32x4(_mm_loadu_ps(dxs)));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(total), acc);
    }
    float out[16];
    _mm512_storeu_ps(out, acc);
    for (int t = 0; t < nr; t++)
        for (int k = 0; k < mr; k++) Y[t * ldy + k] = out[4 * k + t];
}

// ---------------------------------------------------------------------------------------------
// Q3_K × Q8_K: codes u = q + 4 in 0 … 7 (the third bit set = +4) for vpmaddubsw; the offset is taken out as
// 4 Σ_k s_k Σ_{l in k} y_l (Q8_K's bsums are exactly the sub-blocks' sums), and the signed 6-bit scales
// multiply the int16 pair sums in vpdpwssd. One 64-byte load of qs shifted by 2j holds sub-blocks 2j, 2j + 1, 8 + 2j,
// 9 + 2j in its 128-bit lanes (moe_blocks.h's layout).

typedef struct { __m512i sc[4]; __m256i sc16; __m512i raw, hm; } q3_row;

INLINE void q3_unpack(const block_q3_K *w, q3_row *r) {
    uint64_t lo8;
    uint32_t t;
    memcpy(&lo8, w->scales, 8);
    memcpy(&t, w->scales + 8, 4);
    const __m128i v = _mm_cvtsi64_si128((long long)lo8), m4 = _mm_set1_epi8(0x0F), m2 = _mm_set1_epi8(3);
    const __m128i low = _mm_unpacklo_epi64(_mm_and_si128(v, m4), _mm_and_si128(_mm_srli_epi16(v, 4), m4)); // k order
    const __m128i high = _mm_and_si128(_mm_setr_epi32((int)t, (int)(t >> 2), (int)(t >> 4), (int)(t >> 6)), m2);
    const __m128i sc8 = _mm_sub_epi8(_mm_or_si128(low, _mm_slli_epi16(high, 4)), _mm_set1_epi8(32));
    r->sc16 = _mm256_cvtepi8_epi16(sc8);
    // int16 patterns: 128-bit lane L (8 words: one sub-block's pair sums) takes the scale of sub-block
    // 2j, 2j + 1, 8 + 2j, 9 + 2j for L = 0 … 3: words 0-7 in lanes 0-1, 8-15 in lanes 2-3, then one byte
    // shuffle per j (vpermw costs more here).
    const __m512i s16 = _mm512_shuffle_i64x2(_mm512_castsi256_si512(r->sc16), _mm512_castsi256_si512(r->sc16), 0x50);
    for (int j = 0; j < 4; j++) {
        const short a = (short)((4 * j) | ((4 * j + 1) << 8)), b = (short)((4 * j + 2) | ((4 * j + 3) << 8)); // words 2j, 2j + 1
        const __m512i ctrl = _mm512_set_epi16(b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b, a, a, a, a, a, a, a, a);
        r->sc[j] = _mm512_shuffle_epi8(s16, ctrl);
    }
    r->raw = _mm512_loadu_si512((const void *)w->qs);
    const __m256i hm = _mm256_loadu_si256((const __m256i *)w->hmask);
    r->hm = _mm512_inserti64x4(_mm512_castsi256_si512(hm), _mm256_srli_epi16(hm, 4), 1); // lanes 2-3 read bits 4h + j, h = 1
}

// A Q8_K block's activations for shift j: [y(32j … 32j + 31) | y(128 + 32j … 128 + 32j + 31)].
INLINE void q3_acts(const block_q8_K *x, __m512i y[4]) {
    for (int j = 0; j < 4; j++)
        y[j] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(x->qs + 32 * j))),
                                  _mm256_loadu_si256((const __m256i *)(x->qs + 128 + 32 * j)), 1);
}

// u · y pair sums ≤ 2 · 7 · 128 (vpmaddubsw never saturates), × the scales in vpdpwssd.
INLINE __m512i q3_dot(const q3_row *r, const __m512i y[4]) {
    const __m512i m3 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
    __m512i s = _mm512_setzero_si512();
    for (int j = 0; j < 4; j++) {
        const __m512i low = _mm512_srli_epi16(r->raw, 2 * j);                      // bits 0-1 of each byte: the code's
        const __m512i hb = j < 3 ? _mm512_slli_epi16(r->hm, 2 - j) : _mm512_srli_epi16(r->hm, 1); // bit 2: the third bit
        const __m512i u = _mm512_ternarylogic_epi32(low, _mm512_and_si512(hb, four), m3, 0xEC); // (low & 3) | (hb & 4): A & C | B
        s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(u, y[j]), r->sc[j]);
    }
    return s;
}

// Σ_k s_k bsums_k of one row and token as 4 int32 partial sums.
INLINE __m128i q3_min(const q3_row *r, const block_q8_K *x) {
    const __m256i p = _mm256_madd_epi16(r->sc16, _mm256_loadu_si256((const __m256i *)x->bsums));
    return _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

MOE_AVX512 float moe_vd_q3_K_avx512(int64_t n, const void *vw, const void *vx) {
    const block_q3_K *w = vw;
    const block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) acc = fmaf(h2f(w[b].d) * x[b].d, (float)moe_q3_K_isum(&w[b], &x[b]), acc);
    return acc;
}

// 16 rows × one token, as gemv16_q4_K (d is the block's last two bytes).
static MOE_AVX512 void gemv16_q3_K(int64_t nb, const uint8_t *W, size_t ws, const block_q8_K *x, float *y, const uint8_t *next) {
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q3_K);
        __m512i yv[4];
        q3_acts(&x[b], yv);
        __m512i s[16];
        __m128i m[16];
        for (int r = 0; r < 16; r++) {
            if (next) {
                const char *q = (const char *)next + (size_t)r * ws + off;
                _mm_prefetch(q, _MM_HINT_T1);
                _mm_prefetch(q + 64, _MM_HINT_T1);
            }
            q3_row qr;
            q3_unpack((const block_q3_K *)(W + (size_t)r * ws + off), &qr);
            s[r] = q3_dot(&qr, yv);
            m[r] = q3_min(&qr, &x[b]);
        }
        const __m512i total = _mm512_sub_epi32(reduce16(s), _mm512_slli_epi32(k4_min16(m), 2));
        // d: the 2 bytes at offset 108 (gathered as the 4 bytes from 106, upper half)
        const __m512i h = _mm512_srli_epi32(_mm512_i32gather_epi32(rows, W + off + offsetof(block_q3_K, d) - 2, 1), 16);
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_set1_ps(x[b].d));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(total), acc);
    }
    _mm512_storeu_ps(y, acc);
}

static MOE_AVX512 void tile_q3_K(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                 float *Y, int64_t ldy) {
    const block_q8_K *tok[4];
    const uint8_t *row[4];
    for (int k = 0; k < 4; k++) row[k] = W + (size_t)(k < mr ? k : 0) * ws;
    for (int t = 0; t < 4; t++) tok[t] = (const block_q8_K *)(X + (size_t)(t < nr ? t : 0) * xs);
    const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q3_K);
        __m512i yv[4][4];
        float dxs[4];
        for (int t = 0; t < 4; t++) { q3_acts(&tok[t][b], yv[t]); dxs[t] = tok[t][b].d; }
        __m512i s[16];
        __m128i m[16];
        uint32_t ds[4];
        for (int k = 0; k < 4; k++) {
            const block_q3_K *w = (const block_q3_K *)(row[k] + off);
            q3_row qr;
            q3_unpack(w, &qr);
            ds[k] = w->d;
            for (int t = 0; t < 4; t++) {
                s[4 * k + t] = q3_dot(&qr, yv[t]);
                m[4 * k + t] = q3_min(&qr, &tok[t][b]);
            }
        }
        const __m512i total = _mm512_sub_epi32(reduce16(s), _mm512_slli_epi32(k4_min16(m), 2));
        const __m512i h = _mm512_permutexvar_epi32(lane_row, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)ds)));
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_broadcast_f32x4(_mm_loadu_ps(dxs)));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(total), acc);
    }
    float out[16];
    _mm512_storeu_ps(out, acc);
    for (int t = 0; t < nr; t++)
        for (int k = 0; k < mr; k++) Y[t * ldy + k] = out[4 * k + t];
}

// ---------------------------------------------------------------------------------------------
// Q6_K × Q8_K: codes u = q + 32 in 0 … 63 (unsigned: vpmaddubsw pairs ≤ 2 · 63 · 128), the offset taken out as
// 32 Σ_k sc_k Σ_{l in k} y_l; the int8 scales multiply the int16 pair sums in vpdpwssd. Per half h, the 64 ql
// bytes' low nibbles are elements 128h + 0 … 63 in order and their high nibbles 128h + 64 … 127 (moe_blocks.h),
// so the activations are read as they are; each 128-bit lane is one sub-block of 16.

typedef struct { __m512i u[4], sc[4]; __m256i sc16; } q6_row;

INLINE void q6_unpack(const block_q6_K *w, q6_row *r) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), m3 = _mm512_set1_epi8(3);
    for (int h = 0; h < 2; h++) {
        const __m512i ql = _mm512_loadu_si512((const void *)(w->ql + 64 * h));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
        const __m512i hlo = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 2), 1); // bits 0-1 | 2-3
        const __m512i hhi = _mm512_srli_epi16(hlo, 4);                                                 // bits 4-5 | 6-7
        r->u[2 * h] = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_slli_epi16(_mm512_and_si512(hlo, m3), 4));
        r->u[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(ql, 4), m4), _mm512_slli_epi16(_mm512_and_si512(hhi, m3), 4));
    }
    r->sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales));
    const __m512i s16 = _mm512_castsi256_si512(r->sc16);
    for (int p = 0; p < 4; p++) { // lane L of u[p]: sub-block 4p + L
        const __m512i idx = _mm512_set_epi16(4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 3, 4 * p + 3,
                                             4 * p + 2, 4 * p + 2, 4 * p + 2, 4 * p + 2, 4 * p + 2, 4 * p + 2, 4 * p + 2, 4 * p + 2,
                                             4 * p + 1, 4 * p + 1, 4 * p + 1, 4 * p + 1, 4 * p + 1, 4 * p + 1, 4 * p + 1, 4 * p + 1,
                                             4 * p, 4 * p, 4 * p, 4 * p, 4 * p, 4 * p, 4 * p, 4 * p);
        r->sc[p] = _mm512_permutexvar_epi16(idx, s16);
    }
}

INLINE __m512i q6_dot(const q6_row *r, const int8_t *y) {
    __m512i s = _mm512_setzero_si512();
    for (int p = 0; p < 4; p++)
        s = _mm512_dpwssd_epi32(s, _mm512_maddubs_epi16(r->u[p], _mm512_loadu_si512((const void *)(y + 64 * p))), r->sc[p]);
    return s;
}

// Σ_k sc_k bsums_k of one row and token as 4 int32 partial sums.
INLINE __m128i q6_min(const q6_row *r, const block_q8_K *x) {
    const __m256i p = _mm256_madd_epi16(r->sc16, _mm256_loadu_si256((const __m256i *)x->bsums));
    return _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

MOE_AVX512 float moe_vd_q6_K_avx512(int64_t n, const void *vw, const void *vx) {
    const block_q6_K *w = vw;
    const block_q8_K *x = vx;
    float acc = 0.0f;
    for (int64_t b = 0; b < n / QK_K; b++) acc = fmaf(h2f(w[b].d) * x[b].d, (float)moe_q6_K_isum(&w[b], &x[b]), acc);
    return acc;
}

// 16 rows × one token, as gemv16_q4_K (d is the block's last two bytes).
static MOE_AVX512 void gemv16_q6_K(int64_t nb, const uint8_t *W, size_t ws, const block_q8_K *x, float *y, const uint8_t *next) {
    const __m512i rows = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                            _mm512_set1_epi32((int)ws));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q6_K);
        __m512i s[16];
        __m128i m[16];
        for (int r = 0; r < 16; r++) {
            if (next) {
                const char *q = (const char *)next + (size_t)r * ws + off;
                for (int l = 0; l < (int)sizeof(block_q6_K); l += 64) _mm_prefetch(q + l, _MM_HINT_T1);
            }
            q6_row qr;
            q6_unpack((const block_q6_K *)(W + (size_t)r * ws + off), &qr);
            s[r] = q6_dot(&qr, x[b].qs);
            m[r] = q6_min(&qr, &x[b]);
        }
        const __m512i total = _mm512_sub_epi32(reduce16(s), _mm512_slli_epi32(k4_min16(m), 5));
        const __m512i h = _mm512_srli_epi32(_mm512_i32gather_epi32(rows, W + off + offsetof(block_q6_K, d) - 2, 1), 16);
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_set1_ps(x[b].d));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(total), acc);
    }
    _mm512_storeu_ps(y, acc);
}

static MOE_AVX512 void tile_q6_K(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                                 float *Y, int64_t ldy) {
    const block_q8_K *tok[4];
    const uint8_t *row[4];
    for (int k = 0; k < 4; k++) row[k] = W + (size_t)(k < mr ? k : 0) * ws;
    for (int t = 0; t < 4; t++) tok[t] = (const block_q8_K *)(X + (size_t)(t < nr ? t : 0) * xs);
    const __m512i lane_row = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const size_t off = (size_t)b * sizeof(block_q6_K);
        float dxs[4];
        for (int t = 0; t < 4; t++) dxs[t] = tok[t][b].d;
        __m512i s[16];
        __m128i m[16];
        uint32_t ds[4];
        for (int k = 0; k < 4; k++) {
            const block_q6_K *w = (const block_q6_K *)(row[k] + off);
            q6_row qr;
            q6_unpack(w, &qr);
            ds[k] = w->d;
            for (int t = 0; t < 4; t++) {
                s[4 * k + t] = q6_dot(&qr, tok[t][b].qs);
                m[4 * k + t] = q6_min(&qr, &tok[t][b]);
            }
        }
        const __m512i total = _mm512_sub_epi32(reduce16(s), _mm512_slli_epi32(k4_min16(m), 5));
        const __m512i h = _mm512_permutexvar_epi32(lane_row, _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)ds)));
        const __m512 dd = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_cvtepi32_epi16(h)), _mm512_broadcast_f32x4(_mm_loadu_ps(dxs)));
        acc = _mm512_fmadd_ps(dd, _mm512_cvtepi32_ps(total), acc);
    }
    float out[16];
    _mm512_storeu_ps(out, acc);
    for (int t = 0; t < nr; t++)
        for (int k = 0; k < mr; k++) Y[t * ldy + k] = out[4 * k + t];
}

// ---------------------------------------------------------------------------------------------
// Matrix products: one token through the 16-row kernels (the rows after the last 16 in 4 × 1 tiles);
// several tokens in 4 × 4 tiles, rows outer.

// Whether the 16-row kernels' gathers can address every row (offsets in int32).
static int rows_gatherable(size_t ws) { return ws <= (size_t)INT32_MAX / 16; }

// Matrix products of the 32-element types against Q8_0 activations: per group of 4 tokens, their d_x and
// offset terms [block][token] (missing tokens repeat the first), then 16-row kernels for one token, tiles else.
typedef void (*gemv16_32_fn)(int64_t nb, const uint8_t *W, size_t ws, const block_q8_0 *x, const float *dx, const int32_t *c,
                             float *y, const uint8_t *next);
typedef void (*tile_32_fn)(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs,
                           const float *dx, const int32_t *c, float *Y, int64_t ldy);

static MOE_AVX512 void mmq_32(gemv16_32_fn gemv16, tile_32_fn tile, moe_vdot_fn dot, int off, int64_t M, int64_t N, int64_t K,
                              const uint8_t *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    const int64_t nb = K / 32;
    float *dx = moe_thread_scratch(3, (size_t)nb * 4 * (sizeof(float) + sizeof(int32_t)));
    if (dx == NULL) { // out of memory for the terms: the same arithmetic one dot at a time
        moe_mmq_by_dots(dot, M, N, K, W, ws, X, xs, Y, ldy);
        return;
    }
    int32_t *c = (int32_t *)(dx + nb * 4);
    for (int64_t n0 = 0; n0 < N; n0 += 4) {
        const int nr = (int)(N - n0 < 4 ? N - n0 : 4);
        const uint8_t *Xn = (const uint8_t *)X + (size_t)n0 * xs;
        for (int t = 0; t < 4; t++) q8_0_act_terms(nb, (const block_q8_0 *)(Xn + (size_t)(t < nr ? t : 0) * xs), off, dx + t, c + t, 4);
        int64_t m0 = 0;
        if (nr == 1 && rows_gatherable(ws))
            for (; m0 + 16 <= M; m0 += 16) {
                const uint8_t *g = W + (size_t)m0 * ws;
                gemv16(nb, g, ws, (const block_q8_0 *)Xn, dx, c, Y + n0 * ldy + m0, m0 + 32 <= M ? g + 16 * ws : NULL);
            }
        for (; m0 < M; m0 += 4) tile((int)(M - m0 < 4 ? M - m0 : 4), nr, nb, W + (size_t)m0 * ws, ws, Xn, xs, dx, c, Y + n0 * ldy + m0, ldy);
    }
}

MOE_AVX512 void moe_mmq_mxfp4_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                    float *Y, int64_t ldy) {
    mmq_32(gemv16_mxfp4, tile_mxfp4, moe_vd_mxfp4_avx512, 12, M, N, K, W, ws, X, xs, Y, ldy);
}

MOE_AVX512 void moe_mmq_q4_0_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                   float *Y, int64_t ldy) {
    mmq_32(gemv16_q4_0, tile_q4_0, moe_vd_q4_0_avx512, 8, M, N, K, W, ws, X, xs, Y, ldy);
}

MOE_AVX512 void moe_mmq_q8_0_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                   float *Y, int64_t ldy) {
    mmq_32(gemv16_q8_0, tile_q8_0, moe_vd_q8_0_avx512, 128, M, N, K, W, ws, X, xs, Y, ldy);
}

typedef void (*gemv16_k_fn)(int64_t nb, const uint8_t *W, size_t ws, const block_q8_K *x, float *y, const uint8_t *next);
typedef void (*tile_k_fn)(int mr, int nr, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs, float *Y, int64_t ldy);

static MOE_AVX512 void mmq_k(gemv16_k_fn gemv16, tile_k_fn tile, int64_t M, int64_t N, int64_t K, const uint8_t *W, size_t ws,
                             const void *X, size_t xs, float *Y, int64_t ldy) {
    const int64_t nb = K / QK_K;
    int64_t m0 = 0;
    if (N == 1 && rows_gatherable(ws))
        for (; m0 + 16 <= M; m0 += 16) {
            const uint8_t *g = W + (size_t)m0 * ws;
            gemv16(nb, g, ws, X, Y + m0, m0 + 32 <= M ? g + 16 * ws : NULL);
        }
    for (; m0 < M; m0 += 4)
        for (int64_t n0 = 0; n0 < N; n0 += 4)
            tile((int)(M - m0 < 4 ? M - m0 : 4), (int)(N - n0 < 4 ? N - n0 : 4), nb, W + (size_t)m0 * ws, ws,
                 (const uint8_t *)X + (size_t)n0 * xs, xs, Y + n0 * ldy + m0, ldy);
}

MOE_AVX512 void moe_mmq_q4_K_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                   float *Y, int64_t ldy) {
    mmq_k(gemv16_q4_K, tile_q4_K, M, N, K, W, ws, X, xs, Y, ldy);
}

MOE_AVX512 void moe_mmq_q3_K_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                   float *Y, int64_t ldy) {
    mmq_k(gemv16_q3_K, tile_q3_K, M, N, K, W, ws, X, xs, Y, ldy);
}

MOE_AVX512 void moe_mmq_q6_K_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                   float *Y, int64_t ldy) {
    mmq_k(gemv16_q6_K, tile_q6_K, M, N, K, W, ws, X, xs, Y, ldy);
}

MOE_AVX512 void moe_mmq_iq4_xs_avx512(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                                     float *Y, int64_t ldy) {
    mmq_k(gemv16_iq4_xs, tile_iq4_xs, M, N, K, W, ws, X, xs, Y, ldy);
}

#endif // MOE_X86

