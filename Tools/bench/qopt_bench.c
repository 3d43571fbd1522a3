// Benchmark and checks of the error-minimising quantizers (CKernels/quantize_opt.c); not part of the package.
//
// Build from the repository root with the package's flags (quantize_opt.c is #included, to reach its static parts):
//   clang -O3 -fno-math-errno -ISources/CKernels/include -ISources/CKernels Tools/bench/qopt_bench.c \
//         $(ls Sources/CKernels/*.c | grep -v quantize_opt.c) -lpthread -lm -o /tmp/qopt_bench
// (GCC ignores `#pragma STDC FP_CONTRACT OFF`: with gcc add -ffp-contract=off, or -mfma would change the bytes.)
//
//   /tmp/qopt_bench quality [rows.f32]  squared error opt / ggml's reference for each type and effort, unweighted and
//                                       with log-normal column weights, on Gaussian and Student-t(3) rows (and on the
//                                       raw little-endian floats of rows.f32, if given, in rows of 256), next to an
//                                       exhaustive search over every f16 scale in a wide range (Q4_0, Q8_0; Q4_1:
//                                       every f16 scale with a least-squares minimum refined from 4 starts).
//   /tmp/qopt_bench speed               M elements/s of one thread, per type and effort, unweighted and weighted.
//   /tmp/qopt_bench tool [threads]      the moe-quantize pattern: bf16 rows → f32 → Q4_0 (effort 0, no weights) on
//                                       `threads` threads (default 2) over a 4096 × 8192 matrix; MB/s of bf16 input.
//   /tmp/qopt_bench check               edge cases (tiny, subnormal, huge, constant, zero / partial / extreme
//                                       weights, ties): every block no worse than the reference, finite f16 fields,
//                                       no Q8_0 code −128, the AVX2 and generic copies equal, and the recomputed
//                                       reference values equal to decoding moe_quantize_ref_*'s bytes.
//   /tmp/qopt_bench hash                an FNV-1a hash of the bytes written for seeded rows by every type, effort and
//                                       weighting, through the dispatched and the generic entry points: compare
//                                       across machines and compilers. E.g. AArch64 under qemu (as neon-check.sh):
//     g=$(ls -d /usr/lib/gcc-cross/aarch64-linux-gnu/* | sort -V | tail -1)
//     clang --target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu -isystem /usr/aarch64-linux-gnu/include \
//           -B$g -L$g -fuse-ld=lld -static -O3 -fno-math-errno -ISources/CKernels/include -ISources/CKernels \
//           Tools/bench/qopt_bench.c $(ls Sources/CKernels/*.c | grep -v quantize_opt.c) -lm -lpthread -o /tmp/qopt_bench_arm
//     qemu-aarch64 /tmp/qopt_bench_arm hash
// Times are CPU time of the calling thread (speed) or wall time (tool); on a shared machine take the best of a few runs.
#define _POSIX_C_SOURCE 200809L
#include "quantize_opt.c"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((double)(rng_state >> 11) + 0.5) * 0x1p-53;
}
static double gauss(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }
static double student_t3(void) {
    const double z = gauss();
    double c = 0;
    for (int k = 0; k < 3; k++) { const double g = gauss(); c += g * g; }
    return z / sqrt(c / 3);
}

static const int types[3] = {MOE_TYPE_Q8_0, MOE_TYPE_Q4_0, MOE_TYPE_Q4_1};
static const char *type_name(int t) { return t == MOE_TYPE_Q8_0 ? "Q8_0" : t == MOE_TYPE_Q4_0 ? "Q4_0" : "Q4_1"; }
static size_t block_bytes(int t) { return t == MOE_TYPE_Q8_0 ? sizeof(block_q8_0) : t == MOE_TYPE_Q4_0 ? sizeof(block_q4_0) : sizeof(block_q4_1); }

static void quantize_ref(int t, const float *x, void *y, int64_t n) {
    if (t == MOE_TYPE_Q8_0) moe_quantize_ref_q8_0(x, y, n);
    else if (t == MOE_TYPE_Q4_0) moe_quantize_ref_q4_0(x, y, n);
    else moe_quantize_ref_q4_1(x, y, n);
}

// ---- exhaustive searches (slow), to show what the bounded search leaves ----

// Q4_0: every f16 scale of either sign with |d| in [amax / (weighted ? 64 : 16), amax / 3.5], nearest codes.
static double exhaustive_q4_0(const float *x, const float *w) {
    float max, amax = block_amax(x, &max);
    if (amax == 0) return 0;
    const uint16_t lo = moe_float_to_half(amax / (w ? 64 : 16)), hi = moe_float_to_half(amax / 3.5f);
    double best = INFINITY;
    for (int s = 0; s < 2; s++)
        for (uint16_t h = lo; h <= hi; h++) {
            float q[QK], y[QK];
            q4_0_codes(x, moe_half_to_float((uint16_t)(h | (s ? 0x8000 : 0))), q, y);
            const double e = block_error(x, y, w);
            best = e < best ? e : best;
        }
    return best;
}

// Q8_0: every f16 scale in [amax / 128.5, amax / 110], nearest codes.
static double exhaustive_q8_0(const float *x, const float *w) {
    float max, amax = block_amax(x, &max);
    if (amax == 0) return 0;
    const uint16_t lo = moe_float_to_half(amax / 128.5f), hi = moe_float_to_half(amax / 110);
    double best = INFINITY;
    for (uint16_t h = lo; h <= hi; h++) {
        const float d = moe_half_to_float(h);
        float y[QK];
        for (int j = 0; j < QK; j++) y[j] = rintf(fminf(fmaxf(x[j] / d, -127), 127)) * d;
        const double e = block_error(x, y, w);
        best = e < best ? e : best;
    }
    return best;
}

// Q4_1: every f16 scale in [range / (weighted ? 24 : 18), range / 11]; for each, the minimum from 4 starts
// (min + {0, -1/2, 1/2, 1} steps) refined 4 times by least squares, ±2 f16 steps tried each time.
static double exhaustive_q4_1(const float *x, const float *w) {
    float mn = x[0], mx = x[0];
    for (int j = 1; j < QK; j++) { mn = fminf(mn, x[j]); mx = fmaxf(mx, x[j]); }
    if (!(mx > mn)) return NAN;
    const float range = mx - mn;
    const uint16_t lo = moe_float_to_half(range / (w ? 24 : 18)), hi = moe_float_to_half(range / 11);
    double best = INFINITY;
    for (uint16_t h = lo; h <= hi; h++) {
        const float d = moe_half_to_float(h);
        for (int st = 0; st < 4; st++) {
            float m = mn - d * (st == 1 ? 0.5f : st == 2 ? -0.5f : st == 3 ? -1.0f : 0.0f);
            for (int it = 0; it < 4; it++) {
                const uint16_t hm = moe_float_to_half(m);
                for (int k = -2; k <= 2; k++) {
                    float q[QK], y[QK];
                    q4_1_codes(x, d, moe_half_to_float((uint16_t)(hm + k)), q, y);
                    const double e = block_error(x, y, w);
                    best = e < best ? e : best;
                }
                float q[QK], y[QK];
                q4_1_codes(x, d, moe_half_to_float(hm), q, y);
                double sw = 0, s = 0;
                for (int j = 0; j < QK; j++) { const double ww = w ? w[j] : 1; sw += ww; s += ww * (x[j] - q[j] * d); }
                m = (float)(s / sw);
            }
        }
    }
    return best;
}

// ---- quality ----

static void quality_table(const char *label, const float *x, int64_t n, int cols, const float *wrow) {
    float *wfull = NULL;
    if (wrow) {
        wfull = malloc(sizeof(float) * (size_t)n);
        for (int64_t i = 0; i < n; i++) wfull[i] = wrow[i % cols];
    }
    const int64_t nb = n / QK, gb = nb < 1024 ? nb : 1024; // the exhaustive search on the first gb blocks only
    for (int ti = 0; ti < 3; ti++) {
        const int t = types[ti];
        void *y = malloc(block_bytes(t) * (size_t)nb);
        quantize_ref(t, x, y, n);
        const double ref = moe_quant_block_error(t, x, y, n, wfull), ref_g = moe_quant_block_error(t, x, y, gb * QK, wfull);
        double ex = 0;
        for (int64_t i = 0; i < gb; i++) {
            const float *xb = x + i * QK, *wb = wfull ? wfull + i * QK : NULL;
            const double e = t == MOE_TYPE_Q8_0 ? exhaustive_q8_0(xb, wb) : t == MOE_TYPE_Q4_0 ? exhaustive_q4_0(xb, wb) : exhaustive_q4_1(xb, wb);
            ex += e == e ? e : moe_quant_block_error(t, xb, (char *)y + i * block_bytes(t), QK, wb); // constant block: the reference
        }
        printf("%-28s %s  %s  ", label, type_name(t), wrow ? "weighted  " : "unweighted");
        for (int effort = 0; effort < MOE_QOPT_EFFORTS; effort++) {
            for (int64_t r = 0; r < n / cols; r++) moe_quantize_opt(t, x + r * cols, (char *)y + r * (cols / QK) * block_bytes(t), cols, wrow, effort);
            printf("effort %d %.4f   ", effort, moe_quant_block_error(t, x, y, n, wfull) / ref);
        }
        // the first gb blocks again with effort 0, to compare with the exhaustive search on the same blocks
        for (int64_t r = 0; r < n / cols; r++) moe_quantize_opt(t, x + r * cols, (char *)y + r * (cols / QK) * block_bytes(t), cols, wrow, 0);
        printf("| first %lld blocks: effort 0 %.4f, exhaustive %.4f\n", (long long)gb, moe_quant_block_error(t, x, y, gb * QK, wfull) / ref_g, ex / ref_g);
        free(y);
    }
    free(wfull);
}

static int quality(const char *path) {
    const int cols = 256;
    const int64_t n = 32 * 8192;
    float *x = malloc(sizeof(float) * (size_t)n), wrow[256];
    for (int j = 0; j < cols; j++) wrow[j] = (float)exp(1.5 * gauss()); // importance-matrix-like column weights
    printf("squared error, opt / ggml reference (lower is better; 1 = no gain); rows of %d, weights log-normal (sigma 1.5)\n", cols);
    for (int64_t i = 0; i < n; i++) x[i] = (float)gauss();
    quality_table("gaussian", x, n, cols, NULL);
    quality_table("gaussian", x, n, cols, wrow);
    for (int64_t i = 0; i < n; i++) x[i] = (float)(0.02 * student_t3());
    quality_table("student-t3", x, n, cols, NULL);
    quality_table("student-t3", x, n, cols, wrow);
    free(x);
    if (path) {
        FILE *f = fopen(path, "rb");
        if (!f) { perror(path); return 1; }
        fseek(f, 0, SEEK_END);
        const long bytes = ftell(f);
        fseek(f, 0, SEEK_SET);
        int64_t m = bytes / 4 / cols * cols;
        float *r = malloc(sizeof(float) * (size_t)m);
        m = (int64_t)fread(r, 4, (size_t)m, f) / cols * cols;
        fclose(f);
        quality_table(path, r, m, cols, NULL);
        quality_table(path, r, m, cols, wrow);
        free(r);
    }
    return 0;
}

// ---- speed ----

static int speed(void) {
    const int cols = 4096;
    const int64_t n = (int64_t)cols * 256;
    float *x = malloc(sizeof(float) * (size_t)n), w[4096];
    for (int64_t i = 0; i < n; i++) x[i] = (float)gauss();
    for (int j = 0; j < cols; j++) w[j] = (float)exp(1.5 * gauss());
    void *y = malloc(sizeof(block_q8_0) * (size_t)(n / QK));
    printf("one thread, CPU time, M elements/s (SIMD path: %s)\n", moe_kernels_features());
    for (int ti = 0; ti < 3; ti++)
        for (int weighted = 0; weighted < 2; weighted++) {
            const int t = types[ti];
            printf("%s %-10s", type_name(t), weighted ? "weighted" : "unweighted");
            double t0 = cpu_now();
            int reps = 0;
            do { quantize_ref(t, x, y, n); reps++; } while (cpu_now() - t0 < 0.3);
            printf("  ref %6.1f", (double)n * reps / (cpu_now() - t0) * 1e-6);
            for (int effort = 0; effort < MOE_QOPT_EFFORTS; effort++)
                for (int generic = 0; generic < 2; generic++) {
                    t0 = cpu_now();
                    reps = 0;
                    do {
                        for (int64_t r = 0; r < n / cols; r++) {
                            char *yr = (char *)y + r * (cols / QK) * block_bytes(t);
                            if (generic) moe_quantize_opt_generic(t, x + r * cols, yr, cols, weighted ? w : NULL, effort);
                            else moe_quantize_opt(t, x + r * cols, yr, cols, weighted ? w : NULL, effort);
                        }
                        reps++;
                    } while (cpu_now() - t0 < 0.5);
                    printf("  effort %d%s %6.1f", effort, generic ? " generic" : "", (double)n * reps / (cpu_now() - t0) * 1e-6);
                }
            printf("\n");
        }
    free(x);
    free(y);
    return 0;
}

// ---- the tool's pattern: bf16 in, Q4_0 out, rows split over threads ----

typedef struct {
    const uint16_t *src;
    block_q4_0 *dst;
    int64_t rows, cols;
} tool_job;

static void *tool_worker(void *p) {
    const tool_job *j = p;
    float *row = malloc(sizeof(float) * (size_t)j->cols);
    for (int64_t r = 0; r < j->rows; r++) {
        for (int64_t c = 0; c < j->cols; c++) row[c] = moe_bf16_to_float(j->src[r * j->cols + c]);
        moe_quantize_opt_q4_0(row, j->dst + r * (j->cols / QK), j->cols, NULL);
    }
    free(row);
    return NULL;
}

static int tool(int threads) {
    const int64_t rows = 4096, cols = 8192, n = rows * cols;
    uint16_t *src = malloc(sizeof(uint16_t) * (size_t)n);
    block_q4_0 *dst = malloc(sizeof(block_q4_0) * (size_t)(n / QK));
    for (int64_t i = 0; i < n; i++) src[i] = moe_f32_to_bf16((float)(0.02 * gauss()));
    pthread_t th[64];
    tool_job jobs[64];
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = wall_now();
        for (int k = 0; k < threads; k++) {
            const int64_t r0 = rows * k / threads, r1 = rows * (k + 1) / threads;
            jobs[k] = (tool_job){src + r0 * cols, dst + r0 * (cols / QK), r1 - r0, cols};
            pthread_create(&th[k], NULL, tool_worker, &jobs[k]);
        }
        for (int k = 0; k < threads; k++) pthread_join(th[k], NULL);
        const double mbs = (double)n * 2 / (wall_now() - t0) * 1e-6;
        best = mbs > best ? mbs : best;
        printf("bf16 → Q4_0 (effort 0, unweighted), %d threads: %.0f MB/s of bf16 input (%.1f M elements/s)\n", threads, mbs, mbs / 2);
    }
    printf("best %.0f MB/s\n", best);
    free(src);
    free(dst);
    return 0;
}

// ---- edge-case checks ----

static int ref_values_agree(const float *x) {
    // The recomputed reference values (used for the comparison) against decoding the reference's own bytes.
    float y[QK], yd[QK], max, amax = block_amax(x, &max);
    int ok = 1;
    if (fabsf(max / -8) >= FLT_MIN) {
        block_q4_0 b;
        moe_quantize_ref_q4_0(x, &b, QK);
        dequant_q4_0(&b, yd);
        q4_0_ref_values(x, max / -8, y);
        for (int j = 0; j < QK; j++) ok &= y[j] == yd[j] || (y[j] != y[j] && yd[j] != yd[j]);
    }
    if (amax / 127 == 0 || amax / 127 >= FLT_MIN) {
        block_q8_0 b;
        moe_quantize_ref_q8_0(x, &b, QK);
        dequant_q8_0(&b, yd);
        q8_0_ref_values(x, amax / 127, y);
        for (int j = 0; j < QK; j++) ok &= y[j] == yd[j] || (y[j] != y[j] && yd[j] != yd[j]);
    }
    float mn = x[0], mx = x[0];
    for (int j = 1; j < QK; j++) { mn = x[j] < mn ? x[j] : mn; mx = x[j] > mx ? x[j] : mx; }
    const float dr = (mx - mn) / 15;
    if (dr <= FLT_MAX && (dr == 0 || dr >= FLT_MIN)) {
        block_q4_1 b;
        moe_quantize_ref_q4_1(x, &b, QK);
        dequant_q4_1(&b, yd);
        q4_1_ref_values(x, mn, dr, y);
        for (int j = 0; j < QK; j++) ok &= y[j] == yd[j] || (y[j] != y[j] && yd[j] != yd[j]);
    }
    return ok;
}

static int check(void) {
    static const double scales[] = {1e-44, 1e-40, 1e-30, 1e-9, 6e-8, 1e-5, 1, 300, 1e4, 6e4, 5.2e5, 1e6, 1e20, 1e37, 3e38};
    long blocks = 0, fails = 0, ref_bad = 0, ref_nonfinite = 0;
    for (int iter = 0; iter < 60000; iter++) {
        float x[QK], w[QK];
        const int kind = iter % 10;
        const double sc = scales[(iter / 10) % 15];
        for (int j = 0; j < QK; j++) {
            double v = gauss();
            switch (kind) {
            case 1: v = 0; break;                                   // all zero
            case 2: v = 0.7; break;                                 // constant
            case 3: v = j == 5 ? 40 : v; break;                     // one outlier
            case 4: v = j % 3 ? 0 : v; break;                       // mostly zeros
            case 5: v = j % 2 ? 1 : -1; break;                      // two values
            case 6: v = j == 3 ? -2.5 : j == 20 ? 2.5 : v; break;   // tied extremes of both signs
            case 7: v = student_t3(); break;                        // heavy tails
            case 8: v = urand() < 0.5 ? 1.0 + 0.001 * v : v; break; // a cluster far from zero
            case 9: v = j == 0 ? 127 : j - 16 + 0.5; break;         // rounding ties of the references
            }
            const double xv = v * sc;
            x[j] = (float)(xv > 3.4e38 ? 3.4e38 : xv < -3.4e38 ? -3.4e38 : xv);
        }
        const int wk = (iter / 150) % 7;
        for (int j = 0; j < QK; j++) {
            switch (wk) {
            case 0: w[j] = 1; break;
            case 1: w[j] = (float)exp(2 * gauss()); break;
            case 2: w[j] = j % 4 ? 0 : (float)exp(gauss()); break;  // mostly zero weights
            case 3: w[j] = 0; break;                                // all zero: judged unweighted
            case 4: w[j] = (float)(1e30 * exp(gauss())); break;     // huge
            case 5: w[j] = (float)(1e-42 * (1 + j)); break;         // subnormal
            case 6: w[j] = j == 7 ? 1000 : 1e-3f; break;            // one dominant column
            }
        }
        ref_bad += !ref_values_agree(x);
        for (int ti = 0; ti < 3; ti++)
            for (int weighted = 0; weighted < 2; weighted++)
                for (int effort = 0; effort < MOE_QOPT_EFFORTS; effort++) {
                    const int t = types[ti];
                    const float *ww = weighted ? w : NULL;
                    unsigned char ro[64], oo[64], og[64];
                    quantize_ref(t, x, ro, QK);
                    moe_quantize_opt(t, x, oo, QK, ww, effort);
                    moe_quantize_opt_generic(t, x, og, QK, ww, effort);
                    const double er = moe_quant_block_error(t, x, ro, QK, ww), eo = moe_quant_block_error(t, x, oo, QK, ww);
                    uint16_t d, m = 0;
                    memcpy(&d, oo, 2);
                    if (t == MOE_TYPE_Q4_1) memcpy(&m, oo + 2, 2);
                    int bad = 0;
                    if (memcmp(oo, og, block_bytes(t))) bad |= 1;            // AVX2 copy ≠ generic copy
                    if (!(eo <= DBL_MAX)) bad |= 2;                          // not finite
                    if (er == er && eo > er) bad |= 4;                       // worse than the reference
                    if (!half_is_finite(d) || !half_is_finite(m)) bad |= 8;  // f16 overflow written
                    if (t == MOE_TYPE_Q8_0)
                        for (int j = 0; j < QK; j++) bad |= (int8_t)oo[2 + j] == -128 ? 16 : 0;
                    ref_nonfinite += !(er <= DBL_MAX);
                    blocks++;
                    if (bad) {
                        if (fails < 10) printf("FAIL %d: %s kind %d scale %g weights %d/%d effort %d: opt %g ref %g\n", bad, type_name(t), kind, sc, weighted, wk, effort, eo, er);
                        fails++;
                    }
                }
    }
    printf("%ld blocks checked (%ld with a non-finite reference error), %ld failures, %ld reference recomputations differing\n",
           blocks, ref_nonfinite, fails, ref_bad);
    return fails || ref_bad ? 1 : 0;
}

// ---- cross-machine determinism ----

static int hash(void) {
    const int64_t n = 32 * 2048;
    float *x = malloc(sizeof(float) * (size_t)n), *w = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) {
        const int64_t b = i / QK;
        const double scale = b % 7 == 0 ? 1e-3 : b % 11 == 0 ? 1e5 : 1;
        x[i] = (float)(gauss() * scale * (b % 5 == 0 ? 1 / (0.2 + urand()) : 1));
        w[i] = (float)exp(1.5 * gauss());
    }
    unsigned char *y = malloc(sizeof(block_q8_0) * (size_t)(n / QK));
    uint64_t all = 1469598103934665603ull;
    for (int ti = 0; ti < 3; ti++)
        for (int weighted = 0; weighted < 2; weighted++)
            for (int effort = 0; effort < MOE_QOPT_EFFORTS; effort++)
                for (int generic = 0; generic < 2; generic++) {
                    const int t = types[ti];
                    if (generic) moe_quantize_opt_generic(t, x, y, n, weighted ? w : NULL, effort);
                    else moe_quantize_opt(t, x, y, n, weighted ? w : NULL, effort);
                    uint64_t h = 1469598103934665603ull;
                    for (size_t i = 0; i < block_bytes(t) * (size_t)(n / QK); i++) h = (h ^ y[i]) * 1099511628211ull;
                    printf("%s %-10s effort %d %-8s %016llx  error %.17g\n", type_name(t), weighted ? "weighted" : "unweighted", effort,
                           generic ? "generic" : "dispatch", (unsigned long long)h, moe_quant_block_error(t, x, y, n, weighted ? w : NULL));
                    all = (all ^ h) * 1099511628211ull;
                }
    printf("all %016llx (SIMD path: %s)\n", (unsigned long long)all, moe_kernels_features());
    free(x);
    free(w);
    free(y);
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (!strcmp(mode, "quality")) return quality(argc > 2 ? argv[2] : NULL);
    if (!strcmp(mode, "speed")) return speed();
    if (!strcmp(mode, "tool")) return tool(argc > 2 ? atoi(argv[2]) : 2);
    if (!strcmp(mode, "check")) return check();
    if (!strcmp(mode, "hash")) return hash();
    fprintf(stderr, "usage: %s quality [rows.f32] | speed | tool [threads] | check | hash\n", argv[0]);
    return 2;
}
