// See moe_repack.h. The repacks, the scalar references and the dispatch; the SIMD kernels are in nib_x8_avx2.c,
// quantk_x8_avx2.c and the AVX-512 files.
#include <string.h>
#include "moe_internal.h"
#include "moe_repack.h"
#include "moe_kernels.h"
#include "quant32.h"
#include "quantk_internal.h"
#include <math.h>

// The scalar sums must be computed exactly as moe_vd_q4_0_generic does (no fused multiply-add).
#pragma STDC FP_CONTRACT OFF

// n bytes between a repacked step (x8 or x16) and the row's block: into the step when `pack`, out of it otherwise.
static inline void x16_move(int pack, uint8_t *step, void *blk, size_t n) {
    if (pack) memcpy(step, blk, n);
    else memcpy(blk, step, n);
}

size_t moe_q4_0x8_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)(cols / QK4_0) * sizeof(block_q4_0); }

// The lane-per-row x8 layout of the 4-bit 32-element types (moe_repack.h): per group of 8 rows and block, the 8 rows'
// scales (`head` bytes each, rows 0…7), then row r's qs[4v ..< 4v + 4] at 8 · head + 32v + 4r; row r's scale and
// codes moved into (`pack`) or out of the step at p.
static inline void nibx8_move(int pack, uint8_t *p, int r, void *scale, size_t head, uint8_t *qs) {
    x16_move(pack, p + head * (size_t)r, scale, head);
    for (int v = 0; v < 4; v++) x16_move(pack, p + 8 * head + 32 * (size_t)v + 4 * (size_t)r, qs + 4 * v, 4);
}

static void q4_0x8_move(int pack, uint8_t *p, int r, void *vb) {
    block_q4_0 *b = vb;
    nibx8_move(pack, p, r, &b->d, 2, b->qs);
}

typedef void (*x8_move32)(int pack, uint8_t *step, int r, void *blk);

// Row-major rows of a 32-element type (blocks of `block` bytes) → its x8 layout, 8 blocks a step, by `move`.
static void repack_x8_32(x8_move32 move, size_t block, int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {
    const int64_t nb = cols / 32;
    uint8_t *d = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t b = 0; b < nb; b++, d += 8 * block)
            for (int r = 0; r < 8; r++) // (read only: packing copies out of the block)
                move(1, d, r, (uint8_t *)src + (size_t)(8 * g + r) * src_row_bytes + (size_t)b * block);
}

static void mxfp4x8_move(int pack, uint8_t *p, int r, void *vb) {
    block_mxfp4 *b = vb;
    nibx8_move(pack, p, r, &b->e, 1, b->qs);
}

// The generic level's arithmetic of each type (moe_vd_q4_0_generic, moe_vd_mxfp4_generic), no fused multiply-add.
static void gemv_nibx8_generic(int head, int64_t g0, int64_t g1, int64_t cols, const void *w, const void *vx, float *y) {
    const int64_t nb = cols / 32;
    const size_t step = 8 * ((size_t)head + 16);
    const block_q8_0 *x = vx;
    const uint8_t *p = (const uint8_t *)w + (size_t)g0 * (size_t)nb * step;
    for (int64_t g = g0; g < g1; g++) {
        float s[8] = {0};
        for (int64_t b = 0; b < nb; b++, p += step) {
            for (int r = 0; r < 8; r++) {
                if (head == 1) {
                    block_mxfp4 blk;
                    mxfp4x8_move(0, (uint8_t *)p, r, &blk);
                    const float d = moe_half_to_float(x[b].d) * moe_e8m0_to_float_half(blk.e);
                    s[r] += d * (float)moe_mxfp4_isum(&blk, &x[b]);
                } else {
                    block_q4_0 blk;
                    q4_0x8_move(0, (uint8_t *)p, r, &blk);
                    s[r] += (float)moe_q4_0_isum(&blk, &x[b]) * moe_half_to_float(blk.d) * moe_half_to_float(x[b].d);
                }
            }
        }
        for (int r = 0; r < 8; r++) y[8 * g + r] = s[r];
    }
}

void moe_repack_q4_0x8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {
    repack_x8_32(q4_0x8_move, sizeof(block_q4_0), rows, cols, src, src_row_bytes, dst);
}

void moe_gemv_q4_0x8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *vx, float *y) {
    gemv_nibx8_generic(2, g0, g1, cols, w, vx, y);
}

#if MOE_X86
// Whether the x8 kernels' AVX2 code runs: where the CPU has AVX2, FMA and F16C (as the AVX2 level).
static int moe_x8_avx2(void) {
    static int avx2 = -1;
    if (avx2 < 0) {
        __builtin_cpu_init();
        avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    }
    return avx2;
}
#endif

// The x8 entry points: the AVX2 kernel where the CPU has AVX2 (and `fits`), the generic one elsewhere.
#if MOE_X86
#define X8_DISPATCH_GEMV(name, fits)                                                                      \
    void name(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {            \
        if (moe_x8_avx2() && (fits)) name##_avx2(g0, g1, cols, w, x, y);                                  \
        else name##_generic(g0, g1, cols, w, x, y);                                                       \
    }
#define X8_DISPATCH_MMQ(name)                                                                             \
    void name(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) { \
        if (moe_x8_avx2()) name##_avx2(g0, g1, N, cols, w, x, y, ldy);                                    \
        else name##_generic(g0, g1, N, cols, w, x, y, ldy);                                               \
    }
#else
#define X8_DISPATCH_GEMV(name, fits)                                                                      \
    void name(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) { name##_generic(g0, g1, cols, w, x, y); }
#define X8_DISPATCH_MMQ(name)                                                                             \
    void name(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) { \
        name##_generic(g0, g1, N, cols, w, x, y, ldy);                                                    \
    }
#endif

X8_DISPATCH_GEMV(moe_gemv_q4_0x8, cols / QK4_0 <= 1024) // activation terms on the stack

// The x16 entry points: the AVX-512 kernel where that level runs (and `fits`: the 32-element types keep their
// activation terms on the stack, cols / 32 ≤ 1024), the generic one elsewhere.
#if MOE_X86
#define X16_DISPATCH_GEMV(name, fits)                                                                     \
    void name(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {            \
        if (moe_kernels_best_level() >= 2 && (fits)) name##_avx512(g0, g1, cols, w, x, y);                \
        else name##_generic(g0, g1, cols, w, x, y);                                                       \
    }
#define X16_DISPATCH_MMQ(name, fits)                                                                      \
    void name(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) { \
        if (moe_kernels_best_level() >= 2 && (fits)) name##_avx512(g0, g1, N, cols, w, x, y, ldy);        \
        else name##_generic(g0, g1, N, cols, w, x, y, ldy);                                               \
    }
// Where the CPU has AMX, batches go through tiles first (tiles_amx.c, the same bits; it declines short ones).
#define X16_DISPATCH_MMQ_AMX(name, fits)                                                                  \
    void name(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) { \
        if (moe_kernels_best_level() >= 2 && (fits)) {                                                    \
            if (!name##_amx(g0, g1, N, cols, w, x, y, ldy)) name##_avx512(g0, g1, N, cols, w, x, y, ldy);  \
        } else                                                                                            \
            name##_generic(g0, g1, N, cols, w, x, y, ldy);                                                \
    }
#else
#define X16_DISPATCH_GEMV(name, fits)                                                                     \
    void name(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) { name##_generic(g0, g1, cols, w, x, y); }
#define X16_DISPATCH_MMQ(name, fits)                                                                      \
    void name(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) { \
        name##_generic(g0, g1, N, cols, w, x, y, ldy);                                                    \
    }
#define X16_DISPATCH_MMQ_AMX X16_DISPATCH_MMQ
#endif

// Several tokens on the x8 layout (bit for bit the AVX2 or generic level's row-major products).
void moe_mmq_q4_0x8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    const size_t xs = (size_t)(cols / QK4_0) * sizeof(block_q8_0);
    for (int64_t t = 0; t < N; t++) moe_gemv_q4_0x8_generic(g0, g1, cols, w, (const uint8_t *)x + (size_t)t * xs, y + t * ldy);
}

X8_DISPATCH_MMQ(moe_mmq_q4_0x8)

// ---- MXFP4 x8 (AVX2) ----
size_t moe_mxfp4x8_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)(cols / QK_MXFP4) * sizeof(block_mxfp4); }

void moe_repack_mxfp4x8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {
    repack_x8_32(mxfp4x8_move, sizeof(block_mxfp4), rows, cols, src, src_row_bytes, dst);
}

void moe_gemv_mxfp4x8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *vx, float *y) {
    gemv_nibx8_generic(1, g0, g1, cols, w, vx, y);
}

X8_DISPATCH_GEMV(moe_gemv_mxfp4x8, cols / QK_MXFP4 <= 1024) // activation offsets on the stack

void moe_mmq_mxfp4x8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    const size_t xs = (size_t)(cols / QK_MXFP4) * sizeof(block_q8_0);
    for (int64_t t = 0; t < N; t++) moe_gemv_mxfp4x8_generic(g0, g1, cols, w, (const uint8_t *)x + (size_t)t * xs, y + t * ldy);
}

X8_DISPATCH_MMQ(moe_mmq_mxfp4x8)

// ---- MXFP4 and Q4_0 x16 ----
// Per group and block: the 16 rows' scales (MXFP4: 16 exponent bytes; Q4_0: 16 f16 d, 32 bytes), then 4 × 64 bytes of
// codes, quad q holding rows q, q + 4, q + 8, q + 12. `head`: bytes of one row's scale (1 or 2); blocks are
// head + 16 bytes.

static void repack_nibx16(int head, int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {
    const int64_t nb = cols / 32;
    const size_t block = (size_t)head + 16, step = 16 * block;
    uint8_t *d = dst;
    for (int64_t g = 0; g < rows / 16; g++) {
        for (int64_t b = 0; b < nb; b++, d += step) {
            for (int r = 0; r < 16; r++) {
                const uint8_t *blk = (const uint8_t *)src + (size_t)(16 * g + r) * src_row_bytes + (size_t)b * block;
                memcpy(d + head * r, blk, (size_t)head);
                memcpy(d + 16 * head + 64 * (r & 3) + 16 * (r >> 2), blk + head, 16);
            }
        }
    }
}

// Row r's block of a x16 step at p, back in the row-major form (head + 16 bytes at out).
static void nibx16_block(int head, const uint8_t *p, int r, uint8_t *out) {
    memcpy(out, p + head * r, (size_t)head);
    memcpy(out + head, p + 16 * head + 64 * (r & 3) + 16 * (r >> 2), 16);
}

size_t moe_mxfp4x16_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)(cols / QK_MXFP4) * sizeof(block_mxfp4); }
size_t moe_q4_0x16_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)(cols / QK4_0) * sizeof(block_q4_0); }

void moe_repack_mxfp4x16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {
    repack_nibx16(1, rows, cols, src, src_row_bytes, dst);
}
void moe_repack_q4_0x16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {
    repack_nibx16(2, rows, cols, src, src_row_bytes, dst);
}

// The AVX-512 level's arithmetic (quant_avx512.c): per row and block an exact integer sum, then
// acc = fma(dw · dx, sum, acc).
static void gemv_nibx16_generic(int head, int64_t g0, int64_t g1, int64_t cols, const void *w, const void *vx, float *y) {
    const int64_t nb = cols / 32;
    const size_t step = 16 * ((size_t)head + 16);
    const block_q8_0 *x = vx;
    for (int64_t g = g0; g < g1; g++) {
        float acc[16] = {0};
        const uint8_t *p = (const uint8_t *)w + (size_t)g * (size_t)nb * step;
        for (int64_t b = 0; b < nb; b++, p += step) {
            const float dx = moe_half_to_float(x[b].d);
            for (int r = 0; r < 16; r++) {
                if (head == 1) {
                    block_mxfp4 blk;
                    nibx16_block(1, p, r, (uint8_t *)&blk);
                    acc[r] = fmaf(moe_e8m0_to_float_half(blk.e) * dx, (float)moe_mxfp4_isum(&blk, &x[b]), acc[r]);
                } else {
                    block_q4_0 blk;
                    nibx16_block(2, p, r, (uint8_t *)&blk);
                    acc[r] = fmaf(moe_half_to_float(blk.d) * dx, (float)moe_q4_0_isum(&blk, &x[b]), acc[r]);
                }
            }
        }
        for (int r = 0; r < 16; r++) y[16 * g + r] = acc[r];
    }
}

void moe_gemv_mxfp4x16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    gemv_nibx16_generic(1, g0, g1, cols, w, x, y);
}
void moe_gemv_q4_0x16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) {
    gemv_nibx16_generic(2, g0, g1, cols, w, x, y);
}

X16_DISPATCH_GEMV(moe_gemv_mxfp4x16, cols / 32 <= 1024)
X16_DISPATCH_GEMV(moe_gemv_q4_0x16, cols / 32 <= 1024)

// Several tokens (N Q8_0 rows one after another, cols / 32 blocks each) on the x16 layouts:
// Y[t · ldy + r] for the rows r of groups [g0, g1), bit for bit the one-token products of each token.
X16_DISPATCH_MMQ_AMX(moe_mmq_mxfp4x16, cols / 32 <= 1024)
X16_DISPATCH_MMQ_AMX(moe_mmq_q4_0x16, cols / 32 <= 1024)
void moe_mmq_mxfp4x16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    const size_t xs = (size_t)(cols / 32) * sizeof(block_q8_0);
    for (int64_t t = 0; t < N; t++) gemv_nibx16_generic(1, g0, g1, cols, w, (const uint8_t *)x + (size_t)t * xs, y + t * ldy);
}
void moe_mmq_q4_0x16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    const size_t xs = (size_t)(cols / 32) * sizeof(block_q8_0);
    for (int64_t t = 0; t < N; t++) gemv_nibx16_generic(2, g0, g1, cols, w, (const uint8_t *)x + (size_t)t * xs, y + t * ldy);
}

// ---- Q4_K, IQ4_XS and Q3_K x16 (the AVX-512 level's one-token products; layouts in moe_repack.h) ----
// Each type is one map between a row's super-block and its place in a x16 step (`x16_map`): the repack runs it one
// way, the scalar reference the other way before the row-major block's exact integer sum.

typedef void (*x16_map)(int pack, uint8_t *step, int r, void *blk);
// acc + (row r's product with one Q8_K block), from its row-major block.
typedef float (*x16_row)(const void *blk, const block_q8_K *x, float acc);

// Q4_K x16, one row per 32-bit lane: d at 2r, dmin at 32 + 2r, scale byte j at the position of x16_scale, and for
// chunk c (qs[32c ..< 32c + 32]) and g4 < 8 the 64 bytes at 256 + 512c + 64 g4 holding row r's qs[32c + 4 g4 ..< + 4] at 4r.
static inline size_t x16_scale(size_t base, int j, int r) {
    return base + 64 * (size_t)(j / 4) + 32 * (size_t)((j % 4) / 2) + 8 * (size_t)(r / 4) + 4 * (size_t)(j % 2) + (size_t)(r % 4);
}

static void q4_K_map(int pack, uint8_t *p, int r, void *vb) {
    block_q4_K *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    x16_move(pack, p + 32 + 2 * r, &b->dmin, 2);
    for (int j = 0; j < K_SCALE_SIZE; j++) x16_move(pack, p + x16_scale(64, j, r), b->scales + j, 1);
    for (int c = 0; c < 4; c++)
        for (int g4 = 0; g4 < 8; g4++) x16_move(pack, p + 256 + 512 * c + 64 * g4 + 4 * r, b->qs + 32 * c + 4 * g4, 4);
}

static float q4_K_row(const void *vb, const block_q8_K *x, float acc) {
    const block_q4_K *b = vb;
    int s, m;
    moe_k4_isums(b, x, &s, &m);
    acc = fmaf(moe_half_to_float(b->d) * x->d, (float)s, acc);
    return fmaf(-(moe_half_to_float(b->dmin) * x->d), (float)m, acc);
}

// IQ4_XS x16, one row per 32-bit lane: d at 2r, scales_h at 32 + 2r, scales_l at 64 + 4r; for sub-block ib and g4 < 4
// the 64 bytes at 128 + 256 ib + 64 g4 holding row r's qs[16 ib + 4 g4 ..< + 4] at 4r.
static void iq4_xs_map(int pack, uint8_t *p, int r, void *vb) {
    block_iq4_xs *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    x16_move(pack, p + 32 + 2 * r, &b->scales_h, 2);
    x16_move(pack, p + 64 + 4 * r, b->scales_l, 4);
    for (int ib = 0; ib < 8; ib++)
        for (int g4 = 0; g4 < 4; g4++) x16_move(pack, p + 128 + 256 * ib + 64 * g4 + 4 * r, b->qs + 16 * ib + 4 * g4, 4);
}

static float iq4_xs_row(const void *vb, const block_q8_K *x, float acc) {
    const block_iq4_xs *b = vb;
    return fmaf(moe_half_to_float(b->d) * x->d, (float)moe_iq4_xs_isum(b, x), acc);
}

// Q3_K x16, one row per 32-bit lane: d at 2r, scale byte j at 32 + 16j + r, the codes as nibble triples of 64-byte
// vectors from 224 (q3_K_triples).
static void q3_K_triples(int pack, uint8_t *codes, int width, int r, block_q3_K *b);
static void q3_K_map(int pack, uint8_t *p, int r, void *vb) {
    block_q3_K *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    for (int j = 0; j < 12; j++) x16_move(pack, p + 32 + 16 * j + r, b->scales + j, 1);
    if (!pack) memset(b->hmask, 0, sizeof b->hmask), memset(b->qs, 0, sizeof b->qs);
    q3_K_triples(pack, p + 224, 64, r, b);
}

static float q3_K_row(const void *vb, const block_q8_K *x, float acc) {
    const block_q3_K *b = vb;
    return fmaf(moe_half_to_float(b->d) * x->d, (float)moe_q3_K_isum(b, x), acc);
}

// Q6_K x16, one row per 32-bit lane: d at 2r; scale k (int8) at 32 + 16k + r; for half h and element quad lq < 8 three
// 64-byte vectors at 288 + 192 (8h + lq): row r's ql[64h + 4lq ..< + 4], ql[64h + 32 + 4lq ..< + 4] and qh[32h + 4lq ..< + 4] at 4r.
static void q6_K_map(int pack, uint8_t *p, int r, void *vb) {
    block_q6_K *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    for (int k = 0; k < 16; k++) x16_move(pack, p + 32 + 16 * k + r, b->scales + k, 1);
    for (int h = 0; h < 2; h++) {
        for (int lq = 0; lq < 8; lq++) {
            uint8_t *v = p + 288 + 192 * (8 * h + lq) + 4 * r;
            x16_move(pack, v, b->ql + 64 * h + 4 * lq, 4);
            x16_move(pack, v + 64, b->ql + 64 * h + 32 + 4 * lq, 4);
            x16_move(pack, v + 128, b->qh + 32 * h + 4 * lq, 4);
        }
    }
}

static float q6_K_row(const void *vb, const block_q8_K *x, float acc) {
    const block_q6_K *b = vb;
    return fmaf(moe_half_to_float(b->d) * x->d, (float)moe_q6_K_isum(b, x), acc);
}

// `block`: bytes of one row's super-block (a step is `n` of them: 16 rows, or 8 for the x8 layouts below).
static void repack_super(int n, size_t block, x16_map map, int64_t rows, int64_t cols, const void *src, size_t src_row_bytes,
                         void *dst) {
    const int64_t nb = cols / QK_K;
    uint8_t *d = dst;
    for (int64_t g = 0; g < rows / n; g++) {
        for (int64_t b = 0; b < nb; b++, d += (size_t)n * block) {
            for (int r = 0; r < n; r++) {
                const uint8_t *blk = (const uint8_t *)src + (size_t)(n * g + r) * src_row_bytes + (size_t)b * block;
                map(1, d, r, (void *)blk); // (read only: packing copies out of it)
            }
        }
    }
}

static void gemv_super_generic(int n, size_t block, x16_map map, x16_row row, int64_t g0, int64_t g1, int64_t cols, const void *w,
                               const void *vx, float *y) {
    const int64_t nb = cols / QK_K;
    const block_q8_K *x = vx;
    _Alignas(16) uint8_t blk[sizeof(block_q6_K)]; // the largest of the four
    for (int64_t g = g0; g < g1; g++) {
        float acc[16] = {0};
        uint8_t *p = (uint8_t *)w + (size_t)g * (size_t)nb * (size_t)n * block;
        for (int64_t b = 0; b < nb; b++, p += (size_t)n * block) {
            for (int r = 0; r < n; r++) {
                map(0, p, r, blk); // (unpacking only reads the step)
                acc[r] = row(blk, &x[b], acc[r]);
            }
        }
        for (int r = 0; r < n; r++) y[n * g + r] = acc[r];
    }
}

#define SUPER_X16(name, T)                                                                                           \
    size_t moe_##name##x16_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)(cols / QK_K) * sizeof(T); } \
    void moe_repack_##name##x16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {      \
        repack_super(16, sizeof(T), name##_map, rows, cols, src, src_row_bytes, dst);                               \
    }                                                                                                                \
    void moe_gemv_##name##x16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) { \
        gemv_super_generic(16, sizeof(T), name##_map, name##_row, g0, g1, cols, w, x, y);                           \
    }                                                                                                                \
    X16_DISPATCH_GEMV(moe_gemv_##name##x16, 1)

_Static_assert(sizeof(block_q6_K) >= sizeof(block_q4_K) && sizeof(block_q6_K) >= sizeof(block_iq4_xs) && sizeof(block_q6_K) >= sizeof(block_q3_K),
               "scratch block size");
SUPER_X16(q4_K, block_q4_K)
SUPER_X16(q6_K, block_q6_K)
// Several tokens on the K-quant x16 layouts: each token's one-token product (the same bits).
#define SUPER_X16_TOKENS(name, DISPATCH)                                                                             \
    void moe_mmq_##name##x16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x,  \
                                     float *y, int64_t ldy) {                                                        \
        const size_t xs = (size_t)(cols / QK_K) * sizeof(block_q8_K);                                                \
        for (int64_t t = 0; t < N; t++) moe_gemv_##name##x16_generic(g0, g1, cols, w, (const uint8_t *)x + (size_t)t * xs, y + t * ldy); \
    }                                                                                                                \
    DISPATCH(moe_mmq_##name##x16, 1)
SUPER_X16_TOKENS(q4_K, X16_DISPATCH_MMQ_AMX) // AMX tiles where they run (quant_avx512.c)
SUPER_X16_TOKENS(q6_K, X16_DISPATCH_MMQ)
SUPER_X16_TOKENS(q3_K, X16_DISPATCH_MMQ)
SUPER_X16_TOKENS(iq4_xs, X16_DISPATCH_MMQ)
SUPER_X16(iq4_xs, block_iq4_xs)
SUPER_X16(q3_K, block_q3_K)

// ---- K-quant x8 layouts (the AVX2 level's products; layouts in moe_repack.h) ----
// The x16 layouts' row arithmetic (x16_row: the AVX2 and AVX-512 levels' per-row sums) with an 8-row map each.

// Scale byte j (0 ..< 4 · 3) of row r in the x8 scale vectors at `base`: vector j / 4, 128-bit half (j % 4) / 2.
static inline size_t x8_scale(size_t base, int j, int r) {
    return base + 32 * (size_t)(j / 4) + 16 * (size_t)((j % 4) / 2) + 4 * (size_t)(j % 2) + (size_t)(r % 4) + 8 * (size_t)(r / 4);
}

// Q3_K code u = low 2 bits | hmask bit << 2 (0 … 7, the value u - 4) of element e, as moe_q3_K_isum reads them.
static inline int q3_K_code(const block_q3_K *b, int e) {
    return ((b->qs[32 * (e / 128) + e % 32] >> (2 * ((e % 128) / 32))) & 3) | (((b->hmask[e % 32] >> (e / 32)) & 1) << 2);
}

// Q3_K codes as nibble triples (moe_repack.h), for the x8 (vectors of 32 bytes) and x16 (64) layouts: triple q of vectors
// A, B, C at `codes` + 3 · width · q; row r's byte i (i < 4) of each carries the codes of elements 32q + 4p + i for the
// planes p = 0 … 7: planes 0/1 in A's nibbles, 2/3 in B's, 4/5 in C's (3 bits each), and planes 6 and 7 bit by bit in
// the nibbles' top bits (bit 3 and 7): A the code's bit 2, B bit 1, C bit 0. Unpacking ORs into a zeroed block.
static void q3_K_triples(int pack, uint8_t *codes, int width, int r, block_q3_K *b) {
    for (int q = 0; q < 8; q++) {
        for (int i = 0; i < 4; i++) {
            uint8_t *abc[3];
            for (int v = 0; v < 3; v++) abc[v] = codes + (size_t)(3 * q + v) * (size_t)width + 4 * (size_t)r + (size_t)i;
            if (pack) {
                int u[8];
                for (int pl = 0; pl < 8; pl++) u[pl] = q3_K_code(b, 32 * q + 4 * pl + i);
                for (int v = 0; v < 3; v++)
                    *abc[v] = (uint8_t)(u[2 * v] | u[2 * v + 1] << 4 | ((u[6] >> (2 - v)) & 1) << 3 | ((u[7] >> (2 - v)) & 1) << 7);
            } else {
                int u[8] = {0};
                for (int v = 0; v < 3; v++) {
                    u[2 * v] = *abc[v] & 7, u[2 * v + 1] = (*abc[v] >> 4) & 7;
                    u[6] |= ((*abc[v] >> 3) & 1) << (2 - v), u[7] |= ((*abc[v] >> 7) & 1) << (2 - v);
                }
                for (int pl = 0; pl < 8; pl++) {
                    const int e = 32 * q + 4 * pl + i;
                    b->qs[32 * (e / 128) + e % 32] |= (uint8_t)((u[pl] & 3) << (2 * ((e % 128) / 32)));
                    b->hmask[e % 32] |= (uint8_t)((u[pl] >> 2) << (e / 32));
                }
            }
        }
    }
}

static void q3_K_x8_map(int pack, uint8_t *p, int r, void *vb) {
    block_q3_K *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    for (int j = 0; j < 12; j++) x16_move(pack, p + x8_scale(16, j, r), b->scales + j, 1);
    if (!pack) memset(b->hmask, 0, sizeof b->hmask), memset(b->qs, 0, sizeof b->qs);
    q3_K_triples(pack, p + 112, 32, r, b);
}

static void q4_K_x8_map(int pack, uint8_t *p, int r, void *vb) {
    block_q4_K *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    x16_move(pack, p + 16 + 2 * r, &b->dmin, 2);
    for (int j = 0; j < K_SCALE_SIZE; j++) x16_move(pack, p + x8_scale(32, j, r), b->scales + j, 1);
    for (int c = 0; c < 4; c++)
        for (int g4 = 0; g4 < 8; g4++) x16_move(pack, p + 128 + 256 * c + 32 * g4 + 4 * r, b->qs + 32 * c + 4 * g4, 4);
}

static void iq4_xs_x8_map(int pack, uint8_t *p, int r, void *vb) {
    block_iq4_xs *b = vb;
    x16_move(pack, p + 2 * r, &b->d, 2);
    for (int i = 0; i < 4; i++) x16_move(pack, p + x8_scale(16, i, r), b->scales_l + i, 1);
    x16_move(pack, p + 48 + 2 * r, &b->scales_h, 2);
    for (int ib = 0; ib < 8; ib++)
        for (int g4 = 0; g4 < 4; g4++) x16_move(pack, p + 64 + 128 * ib + 32 * g4 + 4 * r, b->qs + 16 * ib + 4 * g4, 4);
}

#define SUPER_X8(name, T)                                                                                            \
    size_t moe_##name##x8_bytes(int64_t rows, int64_t cols) { return (size_t)rows * (size_t)(cols / QK_K) * sizeof(T); } \
    void moe_repack_##name##x8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst) {       \
        repack_super(8, sizeof(T), name##_x8_map, rows, cols, src, src_row_bytes, dst);                             \
    }                                                                                                                \
    void moe_gemv_##name##x8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y) { \
        gemv_super_generic(8, sizeof(T), name##_x8_map, name##_row, g0, g1, cols, w, x, y);                          \
    }                                                                                                                \
    void moe_mmq_##name##x8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x,   \
                                    float *y, int64_t ldy) {                                                         \
        const size_t xs = (size_t)(cols / QK_K) * sizeof(block_q8_K);                                                \
        for (int64_t t = 0; t < N; t++) moe_gemv_##name##x8_generic(g0, g1, cols, w, (const uint8_t *)x + (size_t)t * xs, y + t * ldy); \
    }                                                                                                                \
    X8_DISPATCH_GEMV(moe_gemv_##name##x8, 1)                                                                        \
    X8_DISPATCH_MMQ(moe_mmq_##name##x8)

SUPER_X8(q3_K, block_q3_K)
SUPER_X8(q4_K, block_q4_K)
SUPER_X8(iq4_xs, block_iq4_xs)
