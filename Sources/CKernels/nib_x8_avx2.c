// AVX2 kernels on the lane-per-row x8 layouts of the 32-element 4-bit types, Q4_0 and MXFP4 (moe_repack.h): 8 rows,
// one per 32-bit lane, against one token or a few.
//
// A block step is the 8 rows' scales (Q4_0: 8 × f16; MXFP4: 8 E8M0 bytes), then 4 × 32 bytes of codes: load v holds
// row r's bytes at 4r, elements 4v … 4v + 3 in the low nibbles, 16 + 4v … in the high ones. Codes become unsigned
// values u = v + c for vpmaddubsw, which then takes the activations as they are (no sign trick, no horizontal
// sum): Q4_0's nibbles are u as stored (c = 8); MXFP4's table lookup gives its doubled E2M1 value + 12 (c = 12).
// The offset c · Σ y is taken out by starting each pair-position's int16 accumulator at -c · Σ y of its 8 elements
// (int16 sums wrap, and the final Σ v y of 8 elements, ≤ 8 · 12 · 128, fits, so every intermediate overflow
// cancels). Per row, block and half (elements 0-15, 16-31) the integer sum is exact; then acc_half =
// fma(d_w · d_x, sum, acc_half) and y = acc_lo + acc_hi: the arithmetic of the row-major AVX2 products (Q4_0:
// gemv_q4_0 and tile_q4_0 in quant_avx2.c; MXFP4: tile_mxfp4 in quant32_avx2.c), hence their bits.
#include "moe_repack.h"
#include "quant32.h"
#include "x8_avx2.h"
#include <stdlib.h>

#if MOE_X86
#pragma STDC FP_CONTRACT OFF

#define INLINE X8_INLINE

typedef enum { NIBX8_Q4_0, NIBX8_MXFP4 } nibx8_kind;

enum { NIBX8_MAX_BLOCKS = 1024 };
enum { NIBX8_AHEAD = 2048 }; // bytes prefetched ahead (measured 512 … 4096 for MXFP4)

// Bytes of one row's scale, of a block step, and the offset c of the unsigned codes.
#define NIBX8_HEAD(kind) ((kind) == NIBX8_Q4_0 ? 2 : 1)
#define NIBX8_STEP(kind) (8 * (NIBX8_HEAD(kind) + 16))
#define NIBX8_OFFSET(kind) ((kind) == NIBX8_Q4_0 ? 8 : 12)

// Per token and block, the two halves' starting accumulators: int16 lanes (-c · Σ y of the pair position 0,
// -c · Σ y of position 1) over the half's 4 groups of 4 (|.| ≤ 12 · 8 · 128 = 12288), as one int32.
static void nibx8_offsets(int c, const block_q8_0 *x, int64_t nb, int32_t *off) {
    for (int64_t b = 0; b < nb; b++) {
        for (int h = 0; h < 2; h++) {
            int s0 = 0, s1 = 0;
            for (int v = 0; v < 4; v++) {
                const int8_t *q = x[b].qs + 16 * h + 4 * v;
                s0 += q[0] + q[1], s1 += q[2] + q[3];
            }
            off[2 * b + h] = (int32_t)((uint32_t)(uint16_t)(int16_t)(-c * s0) | (uint32_t)(uint16_t)(int16_t)(-c * s1) << 16);
        }
    }
}

// One block step of 8 rows against nt tokens (x[t]: the token's Q8_0 block, off[t]: its two offsets).
INLINE void nibx8_step(const nibx8_kind kind, const int nt, const uint8_t *p, const block_q8_0 *const *x, const int32_t *const *off,
                       __m256 *accl, __m256 *acch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi16(1);
    const uint8_t *codes = p + 8 * NIBX8_HEAD(kind);
    __m256i lo[4], hi[4];
    for (int v = 0; v < 4; v++) {
        const __m256i raw = _mm256_loadu_si256((const __m256i *)(codes + 32 * v));
        lo[v] = _mm256_and_si256(raw, m4);
        hi[v] = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
    }
    __m256 dw;
    if (kind == NIBX8_MXFP4) {
        const __m256i table = _mm256_add_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)moe_kvalues_mxfp4)),
                                              _mm256_set1_epi8(12));
        for (int v = 0; v < 4; v++) {
            lo[v] = _mm256_shuffle_epi8(table, lo[v]);
            hi[v] = _mm256_shuffle_epi8(table, hi[v]);
        }
        uint64_t e8;
        memcpy(&e8, p, 8);
        dw = e8m0x8_half(e8);
    } else {
        dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
    }
    for (int t = 0; t < nt; t++) {
        __m256i pl = _mm256_set1_epi32(off[t][0]), ph = _mm256_set1_epi32(off[t][1]);
        for (int v = 0; v < 4; v++) {
            pl = _mm256_add_epi16(pl, _mm256_maddubs_epi16(lo[v], bcast4(x[t]->qs + 4 * v)));
            ph = _mm256_add_epi16(ph, _mm256_maddubs_epi16(hi[v], bcast4(x[t]->qs + 16 + 4 * v)));
        }
        const __m256 dd = _mm256_mul_ps(dw, _mm256_set1_ps(_cvtsh_ss(x[t]->d)));
        accl[t] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(_mm256_madd_epi16(pl, one)), accl[t]);
        acch[t] = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(_mm256_madd_epi16(ph, one)), acch[t]);
    }
}

// Groups [g0, g1) × tokens [0, nt): token t's blocks at X + t · xs, its offsets at off + 2 nb t; Y[t · ldy + 8g + r].
INLINE void nibx8_groups(const nibx8_kind kind, const int nt, int64_t g0, int64_t g1, int64_t nb, const uint8_t *w, const uint8_t *X,
                         size_t xs, const int32_t *off, float *Y, int64_t ldy) {
    const int step = NIBX8_STEP(kind);
    for (int64_t g = g0; g < g1; g++) {
        const uint8_t *p = w + (size_t)g * (size_t)nb * (size_t)step;
        __m256 accl[X8_NT_MAX], acch[X8_NT_MAX];
        for (int t = 0; t < nt; t++) accl[t] = acch[t] = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; b++, p += step) {
            x8_prefetch(p, step, NIBX8_AHEAD);
            const block_q8_0 *x[X8_NT_MAX];
            const int32_t *o[X8_NT_MAX];
            for (int t = 0; t < nt; t++) {
                x[t] = (const block_q8_0 *)(X + (size_t)t * xs) + b;
                o[t] = off + 2 * (nb * t + b);
            }
            nibx8_step(kind, nt, p, x, o, accl, acch);
        }
        for (int t = 0; t < nt; t++) _mm256_storeu_ps(Y + t * ldy + 8 * g, _mm256_add_ps(accl[t], acch[t]));
    }
}

// One token. (cols / 32 ≤ NIBX8_MAX_BLOCKS: the dispatch and the layout's column limit see to it.)
INLINE void nibx8_gemv(const nibx8_kind kind, int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    const int64_t nb = cols / 32;
    int32_t off[2 * NIBX8_MAX_BLOCKS];
    nibx8_offsets(NIBX8_OFFSET(kind), x, nb, off);
    nibx8_groups(kind, 1, g0, g1, nb, w, x, 0, off, y, 0);
}

// Several tokens: every token's offsets first (on the heap: N · cols / 16 bytes), then group by group, 4 tokens at a
// time, so that a group's weights (cols / 32 · step bytes) are read from memory once for all N tokens.
INLINE void nibx8_mmq(const nibx8_kind kind, int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *X, float *Y,
                      int64_t ldy) {
    const int64_t nb = cols / 32;
    const size_t xs = (size_t)nb * sizeof(block_q8_0);
    int32_t *off = malloc((size_t)N * 2 * (size_t)nb * sizeof(int32_t));
    if (!off) { // (out of memory: a token at a time, offsets on the stack)
        for (int64_t t = 0; t < N; t++) nibx8_gemv(kind, g0, g1, cols, w, (const uint8_t *)X + (size_t)t * xs, Y + t * ldy);
        return;
    }
    for (int64_t t = 0; t < N; t++)
        nibx8_offsets(NIBX8_OFFSET(kind), (const block_q8_0 *)((const uint8_t *)X + (size_t)t * xs), nb, off + 2 * nb * t);
    for (int64_t g = g0; g < g1; g++) {
        for (int64_t n0 = 0; n0 < N; n0 += X8_NT_MAX) {
            const uint8_t *Xn = (const uint8_t *)X + (size_t)n0 * xs;
            const int32_t *On = off + 2 * nb * n0;
            float *Yn = Y + n0 * ldy;
            switch (N - n0 < X8_NT_MAX ? N - n0 : X8_NT_MAX) {
            case 4: nibx8_groups(kind, 4, g, g + 1, nb, w, Xn, xs, On, Yn, ldy); break;
            case 3: nibx8_groups(kind, 3, g, g + 1, nb, w, Xn, xs, On, Yn, ldy); break;
            case 2: nibx8_groups(kind, 2, g, g + 1, nb, w, Xn, xs, On, Yn, ldy); break;
            default: nibx8_groups(kind, 1, g, g + 1, nb, w, Xn, xs, On, Yn, ldy); break;
            }
        }
    }
    free(off);
}

MOE_AVX2 void moe_gemv_q4_0x8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    nibx8_gemv(NIBX8_Q4_0, g0, g1, cols, w, x, y);
}
MOE_AVX2 void moe_mmq_q4_0x8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *X, float *Y, int64_t ldy) {
    nibx8_mmq(NIBX8_Q4_0, g0, g1, N, cols, w, X, Y, ldy);
}
MOE_AVX2 void moe_gemv_mxfp4x8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    nibx8_gemv(NIBX8_MXFP4, g0, g1, cols, w, x, y);
}
MOE_AVX2 void moe_mmq_mxfp4x8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *X, float *Y, int64_t ldy) {
    nibx8_mmq(NIBX8_MXFP4, g0, g1, N, cols, w, X, Y, ldy);
}

#endif // MOE_X86
