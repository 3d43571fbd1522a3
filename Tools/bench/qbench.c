// Micro-benchmark of the quantized matrix products (not part of the package or the tests).
//
// x86-64 with AVX2 only. Build and run from the repository root (one core, the package's -O3 flags):
//   clang -O3 -fno-math-errno -ISources/CKernels/include -ISources/CKernels Tools/bench/qbench.c \
//         Sources/CKernels/*.c -lpthread -lm -o /tmp/qbench && /tmp/qbench [rows] [cols]
//
// Decode (one token): GB/s of weight bytes read by moe_matmul_q for a matrix larger than the
// last-level cache, against a plain streaming read of the same buffer (a sum of its bytes), and the
// ratio of the two. Prefill (N tokens): GFLOP/s (2 · rows · cols · N per call) of moe_matmul_q,
// and of the float path it replaces (dequantize a tile of rows, then moe_gemm_f32).
#define _POSIX_C_SOURCE 200809L
#include "moe_quant.h"
#include "moe_stream.h"
#include <immintrin.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

// Random blocks with small finite f16 scales (0x2000 ≈ 0.0078 .. 0x27FF).
static void fill(uint32_t t, uint8_t *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += 8) { const uint64_t r = next(); memcpy(p + i, &r, bytes - i < 8 ? bytes - i : 8); }
    const size_t bb = (size_t)moe_type_block_bytes(t);
    if (bb <= 2) return;
    const size_t off = t == MOE_TYPE_Q6_K ? bb - 2 : 0;
    for (size_t b = 0; b + bb <= bytes; b += bb) {
        const uint16_t h = (uint16_t)(0x2000 | (next() & 0x7FF));
        memcpy(p + b + off, &h, 2);
        if (t == MOE_TYPE_Q4_1 || t == MOE_TYPE_Q4_K || t == MOE_TYPE_Q5_K) memcpy(p + b + 2, &h, 2);
    }
}

// Streaming read: moe_stream_sum (stream.c), the same yardstick moe-bench kernels uses.
static uint64_t sum_bytes(const uint8_t *p, size_t n) { return moe_stream_sum(p, n); }

static volatile uint64_t sink;

int main(int argc, char **argv) {
    const int64_t M = argc > 1 ? atoll(argv[1]) : 16384, K = argc > 2 ? atoll(argv[2]) : 8192;
    printf("features: %s; matrix %lld x %lld\n", moe_kernels_features(), (long long)M, (long long)K);
    const uint32_t types[] = { MOE_TYPE_Q4_0, MOE_TYPE_Q8_0, MOE_TYPE_Q4_1, MOE_TYPE_Q4_K, MOE_TYPE_Q5_K, MOE_TYPE_Q6_K };
    const char *names[] = { "Q4_0", "Q8_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K" };
    for (int ti = 0; ti < 6; ti++) {
        const uint32_t t = types[ti];
        const int32_t a = moe_activation_type(t);
        const size_t rowB = (size_t)(K / moe_type_block_size(t) * moe_type_block_bytes(t));
        const size_t wBytes = rowB * (size_t)M;
        uint8_t *W = aligned_alloc(64, (wBytes + 63) & ~(size_t)63);
        fill(t, W, wBytes);
        enum { NMAX = 64 };
        float *x = malloc(sizeof(float) * NMAX * (size_t)K);
        for (int64_t i = 0; i < NMAX * K; i++) x[i] = (float)((int64_t)(next() % 2001) - 1000) / 1000.0f;
        const size_t xB = (size_t)moe_activation_row_bytes((uint32_t)a, K);
        uint8_t *xq = aligned_alloc(64, (xB * NMAX + 63) & ~(size_t)63);
        moe_quantize_activations((uint32_t)a, x, xq, NMAX * K);
        float *Y = malloc(sizeof(float) * NMAX * (size_t)M);

        // decode: best of 15 passes over the whole matrix, alternating with the streaming read
        double ts = 1e9, tq = 1e9;
        for (int r = 0; r < 15; r++) {
            double t0 = now();
            sink = sum_bytes(W, wBytes);
            double t1 = now();
            moe_matmul_q(t, M, 1, K, W, rowB, xq, Y, M);
            double t2 = now();
            if (t1 - t0 < ts) ts = t1 - t0;
            if (t2 - t1 < tq) tq = t2 - t1;
        }
        const double gs = (double)wBytes / ts / 1e9, gq = (double)wBytes / tq / 1e9;
        printf("%s decode: %6.1f MB weights, stream %5.1f GB/s, matvec %5.1f GB/s (%3.0f%%), %.2f ms\n", names[ti],
               (double)wBytes / 1e6, gs, gq, 100.0 * gq / gs, tq * 1e3);

        // prefill on the first rows (at most 2048): N tokens per call
        const int64_t Mp = M < 2048 ? M : 2048;
        const int ns[] = { 1, 4, 16, 64 };
        float *tile = aligned_alloc(64, sizeof(float) * 64 * (size_t)K);
        for (int k = 0; k < 4; k++) {
            const int64_t N = ns[k];
            double best = 1e9, bestf = 1e9;
            for (int r = 0; r < 3; r++) {
                double t0 = now();
                moe_matmul_q(t, Mp, N, K, W, rowB, xq, Y, Mp);
                double t1 = now();
                for (int64_t m0 = 0; m0 < Mp; m0 += 64) { // the dequantize + f32 gemm path, 64-row tiles
                    const int64_t mr = Mp - m0 < 64 ? Mp - m0 : 64;
                    moe_dequantize_row(t, W + (size_t)m0 * rowB, tile, mr * K);
                    moe_gemm_f32(mr, N, K, tile, x, Y + m0, Mp);
                }
                double t2 = now();
                if (t1 - t0 < best) best = t1 - t0;
                if (t2 - t1 < bestf) bestf = t2 - t1;
            }
            const double fl = 2.0 * (double)Mp * (double)K * (double)N;
            printf("%s prefill %lld x %lld, N=%2lld: quantized %6.1f GFLOP/s, dequant+f32 gemm %6.1f GFLOP/s\n", names[ti],
                   (long long)Mp, (long long)K, (long long)N, fl / best / 1e9, fl / bestf / 1e9);
        }
        free(tile); free(W); free(x); free(xq); free(Y);
    }
    return 0;
}
