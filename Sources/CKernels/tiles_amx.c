// AMX (Intel Advanced Matrix Extensions: AMX-TILE + AMX-INT8, Sapphire Rapids and later) for several tokens on the
// Q4_0 and MXFP4 x16 layouts (moe_repack.h), the prefill products of the one-copy layouts, and on row-major Q4_0,
// MXFP4 and Q8_0 (the weights a memory budget leaves mapped; Q8_0 files).
//
// The AVX-512 several-token kernel (quant_avx512.c, mmq_nibx16) spends most of prefill in vpdpbusd and the
// transpose-and-add trees that bring each (row, token)'s partial sums to one lane. A tile multiply does the whole
// block product for 16 tokens × 16 rows in one instruction:
//
//   per group g (16 rows), block b (32 columns) and 16 tokens:
//     C (16 tokens × 16 rows, int32) = A (16 tokens × 32 int8: the activations' codes, loaded in place with the
//                                         token stride) · B (32 × 16 int8: the rows' values, 4 columns per dword)
//     acc[t] = fma(dw_b · dx_{t,b}, (float)C[t], acc[t])                  (16 rows in one vector per token)
//
// C is the exact integer sum Σ v·y of the block (Q4_0: v = q − 8; MXFP4: v = the table value; Q8_0: v), equal to the AVX-512
// kernels' Σ (v + off)·y − off·Σy, and the float step is theirs, in block order: every output has the bits of
// the AVX-512 one-token product (moe_gemv_q4_0x16 / moe_gemv_mxfp4x16), whatever the batch.
//
// B is unpacked once per group into a per-thread buffer (nb × 512 bytes) and serves every token tile: the x16
// step's quad q (rows q, q + 4, q + 8, q + 12, 16 code bytes each; row-major rows are gathered into the same quads)
// becomes, after a 4 × 4 dword transpose within
// 128-bit lanes, one 64-byte tile row per 4 columns with row n's 4 values at bytes 4n … 4n + 3 (the layout
// TDPBSSD reads). A tail of fewer than 16 tokens is copied into a zero-padded buffer, so the tile shapes never
// change within a call.
//
// Measured on one core of a Sapphire Rapids Xeon (3.2 GHz, 1024 × 2048, 256 tokens): ≈ 69 cycles a block product,
// of which the tile instructions alone take ≈ 46 (two tile loads, the multiply and the 1 KiB store of C at K = 32,
// half a tile's depth: each block's scales must meet its integer sums before the next block) and the scaling ≈ 29;
// 2.7× the AVX-512 kernel. Tried without gain: a second pair of products in flight, scaling the pair stored one
// iteration earlier, the activations copied into contiguous A tiles.
//
// Linux gives a process the AMX tile state only after arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA); moe_amx_setup
// asks once, process-wide, and the kernels are used only if the CPU (CPUID leaf 7), the OS (XCR0 bits 17 and 18)
// and that request all agree.
#include "moe_internal.h"
#include "moe_kernels.h"
#include "quant32.h"

#if MOE_X86 && defined(__linux__)
#include <cpuid.h>
#include <immintrin.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#pragma STDC FP_CONTRACT OFF

enum { ARCH_REQ_XCOMP_PERM = 0x1023, XFEATURE_XTILEDATA = 18 };

static atomic_int amx_available; // the CPU, the OS and the permission request agree (set once)
static atomic_int amx_enabled = 1; // moe_kernels_use_amx

// Tiles: two products in flight (C0/A0/B0 for an even block, C1/A1/B1 for the next).
enum { TC0 = 0, TC1 = 1, TA0 = 2, TA1 = 3, TB0 = 4, TB1 = 5 };

int moe_amx_setup(void) {
    const char *env = getenv("SWIFTMOE_AMX"); // "0": never ask (the AVX-512 kernels run instead)
    if (env != NULL && strcmp(env, "0") == 0) return 0;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!(d & (1u << 24)) || !(d & (1u << 25))) return 0; // AMX-TILE, AMX-INT8
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; // OSXSAVE: xgetbv is allowed
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & (3u << 17)) != (3u << 17)) return 0; // XTILECFG and XTILEDATA enabled by the OS
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return 0;
    atomic_store(&amx_available, 1);
    return 1;
}

int moe_kernels_amx(void) { return moe_kernels_best_level() >= 2 && atomic_load_explicit(&amx_available, memory_order_relaxed) && atomic_load_explicit(&amx_enabled, memory_order_relaxed); }
void moe_kernels_use_amx(int on) { atomic_store(&amx_enabled, on != 0); }

enum { NIB_Q4_0, NIB_MXFP4, Q8_0 }; // Q8_0: row-major only (it has no x16 layout)

// 4 quads (quad q: rows q, q + 4, q + 8, q + 12 in 128-bit lanes 0 … 3, 16 bytes each, as the x16 layout stores
// them) → T[j]: dword j of each of the 16 rows, row n at dword n. A 4 × 4 dword transpose within 128-bit lanes: dword
// 4k + q of T[j] is dword j of row q + 4k.
static inline __attribute__((always_inline)) MOE_AMX void transpose_quads(__m512i v0, __m512i v1, __m512i v2, __m512i v3, __m512i T[4]) {
    const __m512i t0 = _mm512_unpacklo_epi32(v0, v1), t1 = _mm512_unpacklo_epi32(v2, v3);
    const __m512i t2 = _mm512_unpackhi_epi32(v0, v1), t3 = _mm512_unpackhi_epi32(v2, v3);
    T[0] = _mm512_unpacklo_epi64(t0, t1);
    T[1] = _mm512_unpackhi_epi64(t0, t1);
    T[2] = _mm512_unpacklo_epi64(t2, t3);
    T[3] = _mm512_unpackhi_epi64(t2, t3);
}

// One 4-bit block's B tile (512 bytes at out) from its 4 quads of code bytes. Dword j of a row's 16 bytes holds
// columns 4j … 4j + 3 (low nibbles) and 16 + 4j … (high): T[j]'s low nibbles are tile row j, its high nibbles row 4 + j.
static inline __attribute__((always_inline)) MOE_AMX void quads_to_tile(int kind, __m512i v0, __m512i v1, __m512i v2, __m512i v3,
                                                                        __m512i table, int8_t *out) {
    const __m512i m4 = _mm512_set1_epi8(0x0F), eight = _mm512_set1_epi8(8);
    __m512i T[4];
    transpose_quads(v0, v1, v2, v3, T);
    for (int j = 0; j < 4; j++) {
        __m512i lo = _mm512_and_si512(T[j], m4), hi = _mm512_and_si512(_mm512_srli_epi16(T[j], 4), m4);
        if (kind == NIB_Q4_0) {
            lo = _mm512_sub_epi8(lo, eight);
            hi = _mm512_sub_epi8(hi, eight);
        } else {
            lo = _mm512_shuffle_epi8(table, lo);
            hi = _mm512_shuffle_epi8(table, hi);
        }
        _mm512_storeu_si512((void *)(out + 64 * j), lo);
        _mm512_storeu_si512((void *)(out + 64 * (4 + j)), hi);
    }
}

// Rows r, r + 4, r + 8, r + 12's 16 bytes at p + r · ws (r = the quad), in 128-bit lanes 0 … 3.
static inline __attribute__((always_inline)) MOE_AMX __m512i load_quad(const uint8_t *p, size_t ws) {
    __m512i z = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)p));
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 4 * ws)), 1);
    z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 8 * ws)), 2);
    return _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 12 * ws)), 3);
}

static inline __attribute__((always_inline)) MOE_AMX __m512i mxfp4_table(void) {
    int8_t t[16];
    for (int i = 0; i < 16; i++) t[i] = moe_kvalues_mxfp4[i];
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

// Where a call's 16-row groups come from: x16 steps (group g at base + g · nb · 16 blocks), or row-major rows
// (group g = rows 16g … 16g + 15 at base + 16g · ws, ws bytes apart).
typedef struct {
    const uint8_t *base;
    size_t ws; // 0: the x16 layout
} amx_rows;

// Group g's B tiles (nb × 512 bytes at B) and scales (nb × 16 floats at dw).
static MOE_AMX void unpack_group(int kind, amx_rows src, int64_t g, int64_t nb, int8_t *B, float *dw) {
    const size_t block = kind == NIB_MXFP4 ? sizeof(block_mxfp4) : kind == Q8_0 ? sizeof(block_q8_0) : sizeof(block_q4_0);
    const size_t head = kind == NIB_MXFP4 ? 1 : 2; // bytes of a row's scale before its codes
    const __m512i table = kind == NIB_MXFP4 ? mxfp4_table() : _mm512_setzero_si512(); // (MXFP4's values only)
    if (src.ws == 0) {
        const uint8_t *p = src.base + (size_t)g * (size_t)nb * 16 * block;
        for (int64_t b = 0; b < nb; b++, p += 16 * block) { // 16 scales (head bytes each), then the 4 quads
            if (kind == NIB_Q4_0) _mm512_storeu_ps(dw + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)));
            else
                for (int r = 0; r < 16; r++) dw[16 * b + r] = moe_e8m0_to_float_half(p[r]);
            const uint8_t *q = p + 16 * head;
            quads_to_tile(kind, _mm512_loadu_si512((const void *)q), _mm512_loadu_si512((const void *)(q + 64)),
                          _mm512_loadu_si512((const void *)(q + 128)), _mm512_loadu_si512((const void *)(q + 192)), table, B + 512 * b);
        }
        return;
    }
    const uint8_t *rows = src.base + (size_t)(16 * g) * src.ws;
    const size_t ws = src.ws;
    for (int64_t b = 0; b < nb; b++) {
        const uint8_t *blk = rows + (size_t)b * block;
        for (int r = 0; r < 16; r++) {
            const uint8_t *h = blk + (size_t)r * ws;
            dw[16 * b + r] = kind == NIB_MXFP4 ? moe_e8m0_to_float_half(h[0]) : moe_half_to_float((uint16_t)(h[0] | h[1] << 8));
        }
        if (kind == Q8_0) { // 32 signed codes a row: dwords 0 … 3 are tile rows 0 … 3, dwords 4 … 7 rows 4 … 7
            for (int half = 0; half < 2; half++) {
                const uint8_t *c = blk + head + 16 * half;
                __m512i T[4];
                transpose_quads(load_quad(c, ws), load_quad(c + ws, ws), load_quad(c + 2 * ws, ws), load_quad(c + 3 * ws, ws), T);
                for (int j = 0; j < 4; j++) _mm512_storeu_si512((void *)(B + 512 * b + 64 * (4 * half + j)), T[j]);
            }
            continue;
        }
        const uint8_t *c = blk + head;
        quads_to_tile(kind, load_quad(c, ws), load_quad(c + ws, ws), load_quad(c + 2 * ws, ws), load_quad(c + 3 * ws, ws), table, B + 512 * b);
    }
}

// acc[t] += dw · dx[t] · C[t] for the 16 tokens of one block's product (C: 16 rows of 16 int32).
#define AMX_ACCUMULATE(C, dwv, dxb)                                                                                    \
    for (int t = 0; t < 16; t++)                                                                                       \
        acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dwv, _mm512_set1_ps((dxb)[t])), _mm512_cvtepi32_ps(_mm512_load_si512((const void *)((C) + 16 * t))), acc[t]);

// Y[t · ldy + 16g + r] for the rows r of groups [g0, g1) and tokens t < N (Q8_0 rows xs bytes apart at vx). 0 when
// there was no scratch memory (nothing written).
static MOE_AMX int products_amx(int kind, amx_rows src, int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *vx, size_t xs,
                                float *Y, int64_t ldy) {
    const int64_t nb = cols / 32, tiles = (N + 15) / 16, tail = N % 16;
    const uint8_t *X = vx;
    // Scratch (slot 2): B tiles | dw | dx per tile and block (16 tokens, 0 past N) | C (2 × 1 KiB) | padded tail tokens.
    const size_t bBytes = (size_t)nb * 512, dwBytes = (size_t)nb * 64, dxBytes = (size_t)(tiles * nb) * 64, cBytes = 2048;
    const size_t padBytes = tail ? 16 * xs : 0;
    uint8_t *s = moe_thread_scratch(2, bBytes + dwBytes + dxBytes + cBytes + padBytes);
    if (s == NULL) return 0;
    int8_t *B = (int8_t *)s;
    float *dw = (float *)(s + bBytes), *dx = (float *)(s + bBytes + dwBytes);
    int32_t *C = (int32_t *)(s + bBytes + dwBytes + dxBytes);
    uint8_t *pad = s + bBytes + dwBytes + dxBytes + cBytes;
    for (int64_t tile = 0; tile < tiles; tile++)
        for (int64_t b = 0; b < nb; b++)
            for (int t = 0; t < 16; t++) {
                const int64_t n = 16 * tile + t;
                dx[(tile * nb + b) * 16 + t] = n < N ? moe_half_to_float(((const block_q8_0 *)(X + (size_t)n * xs))[b].d) : 0.0f;
            }
    if (tail) {
        memset(pad, 0, padBytes);
        memcpy(pad, X + (size_t)(N - tail) * xs, (size_t)tail * xs);
    }
    moe_tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int i = TC0; i <= TC1; i++) cfg.rows[i] = 16, cfg.colsb[i] = 64; // 16 tokens × 16 int32
    for (int i = TA0; i <= TA1; i++) cfg.rows[i] = 16, cfg.colsb[i] = 32; // 16 tokens × 32 int8
    for (int i = TB0; i <= TB1; i++) cfg.rows[i] = 8, cfg.colsb[i] = 64;  // 8 × (16 rows × 4 int8)
    _tile_loadconfig(&cfg);
    for (int64_t g = g0; g < g1; g++) {
        unpack_group(kind, src, g, nb, B, dw);
        for (int64_t tile = 0; tile < tiles; tile++) {
            const int mt = tile == tiles - 1 && tail ? (int)tail : 16;
            const uint8_t *A = (mt < 16 ? pad : X + (size_t)(16 * tile) * xs) + offsetof(block_q8_0, qs);
            const float *dxt = dx + tile * nb * 16;
            __m512 acc[16];
            for (int t = 0; t < 16; t++) acc[t] = _mm512_setzero_ps();
            // Block blk's product into tile tc (tile numbers must be constants, hence a macro).
#define AMX_PRODUCT(tc, ta, tb, blk)                                                                                   \
    _tile_loadd(ta, A + (size_t)(blk) * sizeof(block_q8_0), (long)xs);                                                 \
    _tile_loadd(tb, B + 512 * (blk), 64);                                                                              \
    _tile_zero(tc);                                                                                                    \
    _tile_dpbssd(tc, ta, tb);
            int64_t b = 0;
            for (; b + 2 <= nb; b += 2) {
                AMX_PRODUCT(TC0, TA0, TB0, b)
                AMX_PRODUCT(TC1, TA1, TB1, b + 1)
                _tile_stored(TC0, C, 64);
                _tile_stored(TC1, C + 256, 64);
                const __m512 dw0 = _mm512_loadu_ps(dw + 16 * b), dw1 = _mm512_loadu_ps(dw + 16 * (b + 1));
                AMX_ACCUMULATE(C, dw0, dxt + 16 * b)
                AMX_ACCUMULATE(C + 256, dw1, dxt + 16 * (b + 1))
            }
            if (b < nb) {
                AMX_PRODUCT(TC0, TA0, TB0, b)
                _tile_stored(TC0, C, 64);
                const __m512 dw0 = _mm512_loadu_ps(dw + 16 * b);
                AMX_ACCUMULATE(C, dw0, dxt + 16 * b)
            }
            // Constant indices after unrolling: a store loop bounded by mt would keep acc[] in memory.
#pragma clang loop unroll(full)
            for (int t = 0; t < 16; t++)
                if (t < mt) _mm512_storeu_ps(Y + (16 * tile + t) * ldy + 16 * g, acc[t]);
        }
    }
    _tile_release();
    return 1;
}


// The x16 layouts: 1 when the tiles computed the products, 0 when the caller's AVX-512 kernel should.
int moe_mmq_q4_0x16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    const amx_rows src = {w, 0};
    return N >= MOE_AMX_MIN_TOKENS && moe_kernels_amx() &&
           products_amx(NIB_Q4_0, src, g0, g1, N, cols, x, (size_t)(cols / 32) * sizeof(block_q8_0), y, ldy);
}
int moe_mmq_mxfp4x16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    const amx_rows src = {w, 0};
    return N >= MOE_AMX_MIN_TOKENS && moe_kernels_amx() &&
           products_amx(NIB_MXFP4, src, g0, g1, N, cols, x, (size_t)(cols / 32) * sizeof(block_q8_0), y, ldy);
}

// Row-major Q4_0, MXFP4 and Q8_0 (the weights a budget leaves mapped, e.g. attention's; Q8_0 files): the 16-row groups through the tiles,
// the rows past the last whole group and short batches through the AVX-512 kernel (the same bits).

static void rows_amx(int kind, moe_mmq_fn avx512, int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                     float *Y, int64_t ldy) {
    int64_t done = 0;
    if (N >= MOE_AMX_MIN_TOKENS && M >= 16 && moe_kernels_amx()) {
        const amx_rows src = {W, ws};
        if (products_amx(kind, src, 0, M / 16, N, K, X, xs, Y, ldy)) done = M / 16 * 16;
    }
    if (done < M) avx512(M - done, N, K, (const uint8_t *)W + (size_t)done * ws, ws, X, xs, Y + done, ldy);
}
void moe_mmq_q4_0_amx(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    rows_amx(NIB_Q4_0, moe_mmq_q4_0_avx512, M, N, K, W, ws, X, xs, Y, ldy);
}
void moe_mmq_mxfp4_amx(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    rows_amx(NIB_MXFP4, moe_mmq_mxfp4_avx512, M, N, K, W, ws, X, xs, Y, ldy);
}
void moe_mmq_q8_0_amx(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    rows_amx(Q8_0, moe_mmq_q8_0_avx512, M, N, K, W, ws, X, xs, Y, ldy);
}

#else
#if MOE_X86
void moe_mmq_q4_0_amx(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    moe_mmq_q4_0_avx512(M, N, K, W, ws, X, xs, Y, ldy);
}
void moe_mmq_mxfp4_amx(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    moe_mmq_mxfp4_avx512(M, N, K, W, ws, X, xs, Y, ldy);
}
void moe_mmq_q8_0_amx(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    moe_mmq_q8_0_avx512(M, N, K, W, ws, X, xs, Y, ldy);
}
#endif
int moe_amx_setup(void) { return 0; }
int moe_kernels_amx(void) { return 0; }
void moe_kernels_use_amx(int on) { (void)on; }
int moe_mmq_q4_0x16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    (void)g0, (void)g1, (void)N, (void)cols, (void)w, (void)x, (void)y, (void)ldy;
    return 0;
}
int moe_mmq_mxfp4x16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy) {
    (void)g0, (void)g1, (void)N, (void)cols, (void)w, (void)x, (void)y, (void)ldy;
    return 0;
}
#endif

