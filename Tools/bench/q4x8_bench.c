// Experiment: Q4_0 weights repacked 8 rows at a time (ggml Q4_0_8x8-like) for the one-token
// matrix-vector product (not part of the package or the tests).
//
// x86-64 with AVX2 only. Build and run from the repository root:
//   clang -O3 -fno-math-errno -mavx2 -mfma -mf16c -ISources/CKernels/include -ISources/CKernels \
//         Tools/bench/q4x8_bench.c Sources/CKernels/*.c -lpthread -lm -o /tmp/q4x8 && /tmp/q4x8 [pairs] [threads]
// Q4X8_HOT=1 in the environment: one copy of each matrix (L3-resident), the compute ceiling.
// (the package's own files compile their AVX2 code through per-function target attributes; the -m
// flags only matter for this file).
//
// Layout A ("x8", the proposal): for each group of 8 rows g and block index b, 144 bytes at
// (g · nb + b) · 144:
//   16 bytes   the 8 rows' f16 scales, rows 0..7
//   4 × 32     codes [row0 | row4], [row1 | row5], [row2 | row6], [row3 | row7] (16 bytes of
//              nibbles each, values unchanged)
// Layout B ("x8p", aligned pairs): the same per pair of blocks b, b + 1 (288 bytes): 32 bytes of
// scales (rows 0..7 of b, then of b + 1), then the 4 code vectors of b, then those of b + 1; an odd
// last block is stored as in layout A. Every 32-byte code vector is 32-byte aligned (layout A
// straddles: a block's vectors sit at 16 mod 32 for every other block).
// Both keep the total bytes (8 · 18 per block of 8 rows), and the whole matrix is one forward stream.
//
// The kernels do the integer and float operations of gemv_block (quant_avx2.c) in the same order per
// row, so with 2 accumulators they equal moe_matmul_q (Q4_0, N = 1) bit for bit; the "4acc" variant
// keeps separate accumulators for even and odd blocks (not bit-identical, shorter FMA chains).
//
// Timing: matrices are cycled through enough copies (≥ 72 MiB in all) that every call reads DRAM;
// each pair times one pass of moe_stream_sum over every copy, then one pass of each kernel; the
// median over pairs of (stream time / kernel time) is the kernel's fraction of the streaming read.
// With threads = 2, each pass splits the row groups of every copy between two pthreads (one
// create/join per pass, not per call), the stream pass splits the bytes the same way.
//
// Measured (AMD EPYC Zen 3, 2 shared vCPUs, 1 thread, 5 runs × 21 pairs, median of run medians,
// kernel bandwidth / moe_stream_sum bandwidth; stream ≈ 17-18 GB/s):
//                      1024×2048   2048×1024   2048×8192
//   existing gemv_q4_0     76.5%       78.0%       80.1%
//   x8, 2 blk, no pf       73.1%       77.2%       73.7%
//   x8, 2 blk, pf 2 KiB    90.7%       93.7%       92.7%
//   x8p, 2 blk, pf 2 KiB   91.2%       94.7%       92.9%
// L3-resident (Q4X8_HOT=1, 1024×2048): existing 13.6 GB/s, x8 2 blk 22.6 GB/s (compute ceiling +65%).
// All 2-accumulator variants equal moe_matmul_q bit for bit; the scalar reference equals
// moe_matmul_q_generic bit for bit.
#define _POSIX_C_SOURCE 200809L
#include "moe_quant.h"
#include "moe_stream.h"
#include <immintrin.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The scalar reference must not be contracted into FMAs (quant_generic.c has the same pragma).
#pragma STDC FP_CONTRACT OFF

#define INLINE static inline __attribute__((always_inline))

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

// Random Q4_0 blocks with small finite f16 scales (0x2000 ≈ 0.0078 .. 0x27FF), as qbench.c.
static void fill_q4_0(uint8_t *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 8) { const uint64_t r = next(); memcpy(p + i, &r, bytes - i < 8 ? bytes - i : 8); }
    for (size_t b = 0; b + sizeof(block_q4_0) <= bytes; b += sizeof(block_q4_0)) {
        const uint16_t h = (uint16_t)(0x2000 | (next() & 0x7FF));
        memcpy(p + b, &h, 2);
    }
}

static float f16(uint16_t h) { return _cvtsh_ss(h); }

// ---------------------------------------------------------------------------------------------
// Repacking

enum { X8_BLOCK = 8 * sizeof(block_q4_0) }; // 144

// Layout A. rows % 8 == 0, cols % 32 == 0; src: rows × (cols / 32) blocks, row-major.
static void repack_q4_0x8(int64_t rows, int64_t cols, const void *src, void *dst) {
    const int64_t nb = cols / QK4_0;
    const block_q4_0 *s = src;
    uint8_t *d = dst;
    for (int64_t g = 0; g < rows / 8; g++)
        for (int64_t b = 0; b < nb; b++, d += X8_BLOCK) {
            for (int r = 0; r < 8; r++) memcpy(d + 2 * r, &s[(8 * g + r) * nb + b].d, 2);
            for (int k = 0; k < 4; k++) {
                memcpy(d + 16 + 32 * k, s[(8 * g + k) * nb + b].qs, 16);
                memcpy(d + 16 + 32 * k + 16, s[(8 * g + k + 4) * nb + b].qs, 16);
            }
        }
}

// Layout B (pairs of blocks).
static void repack_q4_0x8p(int64_t rows, int64_t cols, const void *src, void *dst) {
    const int64_t nb = cols / QK4_0;
    const block_q4_0 *s = src;
    uint8_t *d = dst;
    for (int64_t g = 0; g < rows / 8; g++) {
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2, d += 2 * X8_BLOCK)
            for (int h = 0; h < 2; h++) {
                for (int r = 0; r < 8; r++) memcpy(d + 16 * h + 2 * r, &s[(8 * g + r) * nb + b + h].d, 2);
                for (int k = 0; k < 4; k++) {
                    memcpy(d + 32 + 128 * h + 32 * k, s[(8 * g + k) * nb + b + h].qs, 16);
                    memcpy(d + 32 + 128 * h + 32 * k + 16, s[(8 * g + k + 4) * nb + b + h].qs, 16);
                }
            }
        if (b < nb) { // odd last block: layout A
            for (int r = 0; r < 8; r++) memcpy(d + 2 * r, &s[(8 * g + r) * nb + b].d, 2);
            for (int k = 0; k < 4; k++) {
                memcpy(d + 16 + 32 * k, s[(8 * g + k) * nb + b].qs, 16);
                memcpy(d + 16 + 32 * k + 16, s[(8 * g + k + 4) * nb + b].qs, 16);
            }
            d += X8_BLOCK;
        }
    }
}

// Scalar reference on layout A, the float operations of moe_vd_q4_0_generic (quant_generic.c):
// s += (float)sumi * d_w * d_x, blocks in order.
static void gemv_q4_0x8_ref(int64_t rows, int64_t cols, const void *W, const void *X, float *Y) {
    const int64_t nb = cols / QK4_0;
    const block_q8_0 *x = X;
    const uint8_t *p = W;
    for (int64_t g = 0; g < rows / 8; g++) {
        float s[8] = { 0 };
        for (int64_t b = 0; b < nb; b++, p += X8_BLOCK)
            for (int r = 0; r < 8; r++) {
                uint16_t h;
                memcpy(&h, p + 2 * r, 2);
                const uint8_t *qs = p + 16 + 32 * (r & 3) + 16 * (r >> 2);
                int sumi = 0;
                for (int j = 0; j < 16; j++) {
                    sumi += ((qs[j] & 0x0F) - 8) * x[b].qs[j];
                    sumi += ((qs[j] >> 4) - 8) * x[b].qs[j + 16];
                }
                s[r] += (float)sumi * f16(h) * f16(x[b].d);
            }
        for (int r = 0; r < 8; r++) Y[8 * g + r] = s[r];
    }
}

// ---------------------------------------------------------------------------------------------
// AVX2 kernels (helpers copied from quant_avx2.c)

// Four vectors of 16 int16 pairs → [a, b, c, d] lane sums per 128-bit half (see quant_avx2.c fold4).
INLINE __m256i fold4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i ab = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(a, one), _mm256_madd_epi16(b, one)), one);
    const __m256i cd = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(c, one), _mm256_madd_epi16(d, one)), one);
    return _mm256_madd_epi16(_mm256_packs_epi32(ab, cd), one);
}

// Per-call activation terms, as gemv_q4_0: d_x as float, 8 Σy of each half block.
enum { NB_MAX = 1024 };
typedef struct { float dx[NB_MAX]; int32_t cs[2 * NB_MAX]; } act_terms;

static void act_prepare(int64_t nb, const block_q8_0 *x, act_terms *t) {
    for (int64_t b = 0; b < nb; b++) {
        t->dx[b] = f16(x[b].d);
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), _mm256_loadu_si256((const __m256i *)x[b].qs)), _mm256_set1_epi16(1));
        __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
        lo = _mm_add_epi32(lo, _mm_unpackhi_epi64(lo, lo)); lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 1));
        hi = _mm_add_epi32(hi, _mm_unpackhi_epi64(hi, hi)); hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 1));
        t->cs[2 * b] = _mm_cvtsi128_si32(lo);
        t->cs[2 * b + 1] = _mm_cvtsi128_si32(hi);
    }
}

// One block of 8 rows: scales at sp (8 × f16), codes at qp (4 × 32 bytes). The operations of
// gemv_block, with 1 load + 1 conversion for the scales and 4 plain loads for the codes.
INLINE void x8_block(const uint8_t *sp, const uint8_t *qp, const int8_t *xq, const int32_t *c, const float *dxp,
                     __m256 *accl, __m256 *acch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)qp), v1 = _mm256_loadu_si256((const __m256i *)(qp + 32));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(qp + 64)), v3 = _mm256_loadu_si256((const __m256i *)(qp + 96));
    const __m256i yl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)xq));
    const __m256i yh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xq + 16)));
#define LO(v) _mm256_maddubs_epi16(_mm256_and_si256(v, m4), yl)
#define HI(v) _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), yh)
    const __m256i sl = _mm256_sub_epi32(fold4_i32(LO(v0), LO(v1), LO(v2), LO(v3)), _mm256_set1_epi32(c[0]));
    const __m256i sh = _mm256_sub_epi32(fold4_i32(HI(v0), HI(v1), HI(v2), HI(v3)), _mm256_set1_epi32(c[1]));
#undef LO
#undef HI
    const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)sp)), _mm256_broadcast_ss(dxp));
    *accl = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sl), *accl);
    *acch = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sh), *acch);
}

#define PF(q)                                                                                                  \
    do {                                                                                                       \
        _mm_prefetch((const char *)(q), _MM_HINT_T0); _mm_prefetch((const char *)(q) + 64, _MM_HINT_T0);      \
        _mm_prefetch((const char *)(q) + 128, _MM_HINT_T0); _mm_prefetch((const char *)(q) + 192, _MM_HINT_T0); \
        _mm_prefetch((const char *)(q) + 256, _MM_HINT_T0);                                                    \
    } while (0)

// Variants, all on groups [g0, g1) of 8 rows:
//   step: 1 or 2 blocks per loop iteration; pf: prefetch distance in bytes (0: none);
//   acc4: separate accumulators for even / odd blocks (not bit-identical); pairs: layout B.
INLINE void gemv_x8_impl(int64_t g0, int64_t g1, int64_t nb, const uint8_t *W, const block_q8_0 *x, const act_terms *t,
                         float *Y, const int step, const size_t pf, const int acc4, const int pairs) {
    const uint8_t *p = W + (size_t)g0 * (size_t)nb * X8_BLOCK;
    for (int64_t g = g0; g < g1; g++) {
        __m256 al = _mm256_setzero_ps(), ah = al, bl = al, bh = al;
        int64_t b = 0;
        if (step == 2) {
            for (; b + 2 <= nb; b += 2, p += 2 * X8_BLOCK) {
                if (pf) PF(p + pf);
                const uint8_t *s0 = p, *q0 = p + 16, *s1 = p + X8_BLOCK, *q1 = p + X8_BLOCK + 16;
                if (pairs) { s1 = p + 16; q0 = p + 32; q1 = p + 160; }
                x8_block(s0, q0, x[b].qs, t->cs + 2 * b, t->dx + b, &al, &ah);
                if (acc4) x8_block(s1, q1, x[b + 1].qs, t->cs + 2 * b + 2, t->dx + b + 1, &bl, &bh);
                else x8_block(s1, q1, x[b + 1].qs, t->cs + 2 * b + 2, t->dx + b + 1, &al, &ah);
            }
        }
        for (; b < nb; b++, p += X8_BLOCK) {
            if (pf && step == 1 && (b & 1) == 0) PF(p + pf);
            x8_block(p, p + 16, x[b].qs, t->cs + 2 * b, t->dx + b, &al, &ah);
        }
        if (acc4) { al = _mm256_add_ps(al, bl); ah = _mm256_add_ps(ah, bh); }
        _mm256_storeu_ps(Y + 8 * g, _mm256_add_ps(al, ah));
    }
}

typedef void (*x8_fn)(int64_t g0, int64_t g1, int64_t nb, const uint8_t *W, const block_q8_0 *x, const act_terms *t, float *Y);
#define VARIANT(name, step, pf, acc4, pairs)                                                                         \
    static void name(int64_t g0, int64_t g1, int64_t nb, const uint8_t *W, const block_q8_0 *x, const act_terms *t, float *Y) { \
        gemv_x8_impl(g0, g1, nb, W, x, t, Y, step, pf, acc4, pairs);                                                 \
    }
VARIANT(x8_s1, 1, 0, 0, 0)
VARIANT(x8_s2, 2, 0, 0, 0)
VARIANT(x8_s2_pf1k, 2, 1024, 0, 0)
VARIANT(x8_s2_pf2k, 2, 2048, 0, 0)
VARIANT(x8_s2_pf4k, 2, 4096, 0, 0)
VARIANT(x8_s1_pf2k, 1, 2048, 0, 0)
VARIANT(x8_s2_4acc_pf2k, 2, 2048, 1, 0)
VARIANT(x8p_s2, 2, 0, 0, 1)
VARIANT(x8p_s2_pf1k, 2, 1024, 0, 1)
VARIANT(x8p_s2_pf2k, 2, 2048, 0, 1)

// The public form: one call, rows % 8 == 0, cols / 32 ≤ NB_MAX.
static void gemv_q4_0x8_avx2(int64_t rows, int64_t cols, const void *W, const void *X, float *Y) {
    act_terms t;
    act_prepare(cols / QK4_0, X, &t);
    x8_s2(0, rows / 8, cols / QK4_0, W, X, &t, Y);
}

// ---------------------------------------------------------------------------------------------
// Benchmark

typedef struct { const char *name; x8_fn fn; int pairs; } variant;
static const variant variants[] = {
    { "x8 1blk", x8_s1, 0 },           { "x8 2blk", x8_s2, 0 },           { "x8 2blk pf1k", x8_s2_pf1k, 0 },
    { "x8 2blk pf2k", x8_s2_pf2k, 0 },   { "x8 2blk pf4k", x8_s2_pf4k, 0 },   { "x8 1blk pf2k", x8_s1_pf2k, 0 },
    { "x8 4acc pf2k", x8_s2_4acc_pf2k, 0 }, { "x8p 2blk", x8p_s2, 1 },        { "x8p 2blk pf1k", x8p_s2_pf1k, 1 },
    { "x8p 2blk pf2k", x8p_s2_pf2k, 1 },
};
enum { NV = sizeof variants / sizeof variants[0], NK = NV + 2 }; // + stream, + existing kernel

typedef struct {
    int kind; // 0 stream, 1 existing moe_matmul_q, 2.. variant kind-2
    int part, parts;
    int64_t M, K, copies;
    size_t mBytes;
    const uint8_t *W, *Wx, *Wxp;
    const uint8_t *xq;
    float *Y;
    uint64_t sum;
} job;

static void *run_pass(void *v) {
    job *j = v;
    const int64_t nb = j->K / QK4_0, groups = j->M / 8;
    const int64_t g0 = groups * j->part / j->parts, g1 = groups * (j->part + 1) / j->parts;
    const size_t rowB = (size_t)nb * sizeof(block_q4_0);
    if (j->kind == 0) {
        uint64_t s = 0;
        for (int64_t c = 0; c < j->copies; c++)
            s += moe_stream_sum(j->W + c * j->mBytes + (size_t)g0 * 8 * rowB, (size_t)(g1 - g0) * 8 * rowB);
        j->sum = s;
    } else if (j->kind == 1) {
        for (int64_t c = 0; c < j->copies; c++)
            moe_matmul_q(MOE_TYPE_Q4_0, (g1 - g0) * 8, 1, j->K, j->W + c * j->mBytes + (size_t)g0 * 8 * rowB, rowB, j->xq,
                         j->Y + g0 * 8, j->M);
    } else {
        const variant *vr = &variants[j->kind - 2];
        const uint8_t *base = vr->pairs ? j->Wxp : j->Wx;
        for (int64_t c = 0; c < j->copies; c++) { // per call: activation terms, then the rows
            act_terms t;
            act_prepare(nb, (const block_q8_0 *)j->xq, &t);
            vr->fn(g0, g1, nb, base + c * j->mBytes, (const block_q8_0 *)j->xq, &t, j->Y);
        }
    }
    return NULL;
}

static double timed_pass(job *tmpl, int kind, int threads) {
    job js[2];
    pthread_t th;
    for (int i = 0; i < threads; i++) { js[i] = *tmpl; js[i].kind = kind; js[i].part = i; js[i].parts = threads; }
    const double t0 = now();
    if (threads == 2) pthread_create(&th, NULL, run_pass, &js[1]);
    run_pass(&js[0]);
    if (threads == 2) pthread_join(th, NULL);
    const double t1 = now();
    tmpl->sum += js[0].sum;
    return t1 - t0;
}

static int cmp_d(const void *a, const void *b) { const double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
static double median(double *v, int n) { qsort(v, (size_t)n, sizeof *v, cmp_d); return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]); }

static volatile uint64_t sink;

int main(int argc, char **argv) {
    const int pairs = argc > 1 ? atoi(argv[1]) : 11, threads = argc > 2 ? atoi(argv[2]) : 1;
    const int64_t shapes[][2] = { { 1024, 2048 }, { 2048, 1024 }, { 2048, 8192 } };
    printf("features: %s; %d pairs, %d thread(s)\n", moe_kernels_features(), pairs, threads);
    for (int si = 0; si < 3; si++) {
        const int64_t M = shapes[si][0], K = shapes[si][1], nb = K / QK4_0;
        const size_t rowB = (size_t)nb * sizeof(block_q4_0), mBytes = rowB * (size_t)M;
        // Q4X8_HOT=1: one copy, read from L3 (32 MiB) after the first pass: the kernels' compute ceiling.
        const int hot = getenv("Q4X8_HOT") != NULL && atoi(getenv("Q4X8_HOT")) != 0;
        const int64_t copies = hot ? 1 : (int64_t)((72u << 20) / mBytes + 1);
        const size_t total = mBytes * (size_t)copies;
        uint8_t *W = aligned_alloc(64, total), *Wx = aligned_alloc(64, total), *Wxp = aligned_alloc(64, total);
        fill_q4_0(W, total);
        for (int64_t c = 0; c < copies; c++) {
            repack_q4_0x8(M, K, W + c * mBytes, Wx + c * mBytes);
            repack_q4_0x8p(M, K, W + c * mBytes, Wxp + c * mBytes);
        }
        float *x = malloc(sizeof(float) * (size_t)K);
        for (int64_t i = 0; i < K; i++) x[i] = (float)((int64_t)(next() % 2001) - 1000) / 1000.0f;
        uint8_t *xq = aligned_alloc(64, (size_t)nb * sizeof(block_q8_0) + 64);
        moe_quantize_row_q8_0(x, (block_q8_0 *)xq, K);
        float *Y0 = malloc(sizeof(float) * (size_t)M), *Y1 = malloc(sizeof(float) * (size_t)M), *Yr = malloc(sizeof(float) * (size_t)M);
        float *Yg = malloc(sizeof(float) * (size_t)M);

        // correctness on copy 0
        moe_matmul_q(MOE_TYPE_Q4_0, M, 1, K, W, rowB, xq, Y0, M);
        moe_matmul_q_generic(MOE_TYPE_Q4_0, M, 1, K, W, rowB, xq, Yg, M);
        gemv_q4_0x8_ref(M, K, Wx, xq, Yr);
        gemv_q4_0x8_avx2(M, K, Wx, xq, Y1);
        printf("\n%lld x %lld: %.2f MB per matrix, %lld copies (%.0f MB)\n", (long long)M, (long long)K, mBytes / 1e6,
               (long long)copies, total / 1e6);
        double ymax = 0, gd = 0;
        for (int64_t i = 0; i < M; i++) {
            if (fabs((double)Yr[i]) > ymax) ymax = fabs((double)Yr[i]);
            if (fabs((double)Yr[i] - (double)Yg[i]) > gd) gd = fabs((double)Yr[i] - (double)Yg[i]);
        }
        printf("  ref(x8 layout) vs moe_matmul_q_generic: %s (max |diff| / max |y| %.3g), max |y| %.3g\n",
               memcmp(Yr, Yg, sizeof(float) * (size_t)M) ? "DIFFER" : "bit-identical", gd / ymax, ymax);
        for (int v = 0; v < NV; v++) {
            act_terms t;
            act_prepare(nb, (const block_q8_0 *)xq, &t);
            memset(Y1, 0, sizeof(float) * (size_t)M);
            variants[v].fn(0, M / 8, nb, variants[v].pairs ? Wxp : Wx, (const block_q8_0 *)xq, &t, Y1);
            double md = 0, mr = 0;
            for (int64_t i = 0; i < M; i++) {
                const double d = fabs((double)Y1[i] - (double)Y0[i]);
                if (d > md) md = d;
                const double r = fabs((double)Y1[i] - (double)Yr[i]);
                if (r > mr) mr = r;
            }
            mr /= ymax;
            printf("  %-14s vs moe_matmul_q: %s (max |diff| %.3g); vs scalar ref: max |diff| / max |y| %.3g\n", variants[v].name,
                   memcmp(Y1, Y0, sizeof(float) * (size_t)M) ? "DIFFER" : "bit-identical", md, mr);
        }

        job tmpl = { .M = M, .K = K, .copies = copies, .mBytes = mBytes, .W = W, .Wx = Wx, .Wxp = Wxp, .xq = xq, .Y = Y1 };
        double t[NK][256], r[NK][256];
        for (int k = 0; k < NK; k++) timed_pass(&tmpl, k, threads); // warm-up
        for (int p = 0; p < pairs && p < 256; p++) {
            for (int k = 1; k < NK; k++) { // stream, kernel, stream, kernel, ...
                const double ts = timed_pass(&tmpl, 0, threads);
                const double tk = timed_pass(&tmpl, k, threads);
                t[k][p] = tk;
                r[k][p] = ts / tk;
                t[0][p] = k == 1 ? ts : (t[0][p] < ts ? t[0][p] : ts);
            }
        }
        sink = tmpl.sum;
        printf("  %-16s %8s %8s %10s\n", "kernel", "GB/s", "ms/call", "vs stream");
        printf("  %-16s %8.1f %8.3f %10s\n", "stream", total / median(t[0], pairs) / 1e9, median(t[0], pairs) * 1e3 / copies, "");
        for (int k = 1; k < NK; k++) {
            const double tm = median(t[k], pairs);
            printf("  %-16s %8.1f %8.3f %9.1f%%\n", k == 1 ? "existing" : variants[k - 2].name, total / tm / 1e9,
                   tm * 1e3 / copies, 100.0 * median(r[k], pairs));
        }
        free(W); free(Wx); free(Wxp); free(x); free(xq); free(Y0); free(Y1); free(Yr); free(Yg);
    }
    return 0;
}
