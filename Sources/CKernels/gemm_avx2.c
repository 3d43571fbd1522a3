// AVX2/FMA dot product and register-blocked matrix product (x86-64, chosen at run time).
//
// moe_gemm_f32: Y[n*ldy + m] = Σ_k W[m*K + k] · X[n*K + k]. Both operands run along k, so the
// micro-kernel keeps MR × NR (≤ 4 × 3) vector accumulators, each holding 8 partial sums of one
// (row, token) pair, and reduces them horizontally at the end. Per 8 k: NR token loads, MR weight
// loads, MR·NR FMAs; 12 accumulators + 3 tokens + 1 weight = 16 ymm registers, no spills.
// k is cut into chunks of KC so one chunk of the W rows and of the tokens stays in cache while
// all (row, token) blocks use it; partial sums of later chunks are added into Y.
#include "moe_internal.h"

#if MOE_X86
#include <immintrin.h>

#ifndef MOE_GEMM_KC
#define MOE_GEMM_KC 1024
#endif
enum { MR = 4, NR = 3, KC = MOE_GEMM_KC };

static inline MOE_AVX2 float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// Mask that loads the first `rem` (0 < rem < 8) floats of 8.
static inline MOE_AVX2 __m256i tail_mask(int64_t rem) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

MOE_AVX2 float moe_dot_f32_avx2(const float *a, const float *b, int64_t n) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        s1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, m), _mm256_maskload_ps(b + i, m), s1);
    }
    return hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
}

// Attention's weighted sum of value rows: 64 output floats stay in 8 registers while the rows stream past (the loop
// it replaces loaded and stored `out` once per row), then 8 at a time, then the tail; per element out + p·v in j
// order with a separate multiply and add, as the generic function.
MOE_AVX2 void moe_weighted_rows_f32_avx2(float *out, const float *p, const float *rows, int64_t stride, int64_t ring, int64_t first,
                                         int64_t last, int64_t n) {
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m256 a[8];
        for (int k = 0; k < 8; k++) a[k] = _mm256_setzero_ps();
        for (int64_t j = first; j <= last; j++) {
            const float *v = rows + (j % ring) * stride + i;
            const __m256 pj = _mm256_set1_ps(p[j]);
            for (int k = 0; k < 8; k++) a[k] = _mm256_add_ps(a[k], _mm256_mul_ps(pj, _mm256_loadu_ps(v + 8 * k)));
        }
        for (int k = 0; k < 8; k++) _mm256_storeu_ps(out + i + 8 * k, a[k]);
    }
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_setzero_ps();
        for (int64_t j = first; j <= last; j++) a = _mm256_add_ps(a, _mm256_mul_ps(_mm256_set1_ps(p[j]), _mm256_loadu_ps(rows + (j % ring) * stride + i)));
        _mm256_storeu_ps(out + i, a);
    }
    for (; i < n; i++) {
        float a = 0.0f;
        for (int64_t j = first; j <= last; j++) {
            const float t = p[j] * rows[(j % ring) * stride + i];
            a = a + t;
        }
        out[i] = a;
    }
}

// One mr × nr block over kc values of k. W, X point at k = k0 of the block's first row / token;
// rows are K floats apart. add: accumulate into Y (later k chunks) instead of storing.
// Small blocks would wait on the FMA latency (4 cycles) with so few accumulators, so they keep
// u independent sets over consecutive 8-float steps of k (u · mr · nr ≥ 4 chains in flight).
static inline __attribute__((always_inline)) MOE_AVX2 void micro(
    const int mr, const int nr, int64_t kc, int64_t K, const float *W, const float *X, float *Y, int64_t ldy, int add) {
    enum { UMAX = 4 };
    const int u = mr * nr >= 6 ? 1 : mr * nr >= 3 ? 2 : 4;
    __m256 acc[UMAX][MR][NR];
    for (int v = 0; v < u; v++)
        for (int i = 0; i < mr; i++)
            for (int j = 0; j < nr; j++) acc[v][i][j] = _mm256_setzero_ps();
    int64_t k = 0;
    for (; k + 8 * u <= kc; k += 8 * u) {
        for (int v = 0; v < u; v++) {
            __m256 x[NR];
            for (int j = 0; j < nr; j++) x[j] = _mm256_loadu_ps(X + j * K + k + 8 * v);
            for (int i = 0; i < mr; i++) {
                const __m256 w = _mm256_loadu_ps(W + i * K + k + 8 * v);
                for (int j = 0; j < nr; j++) acc[v][i][j] = _mm256_fmadd_ps(w, x[j], acc[v][i][j]);
            }
        }
    }
    for (; k + 8 <= kc; k += 8) {
        __m256 x[NR];
        for (int j = 0; j < nr; j++) x[j] = _mm256_loadu_ps(X + j * K + k);
        for (int i = 0; i < mr; i++) {
            const __m256 w = _mm256_loadu_ps(W + i * K + k);
            for (int j = 0; j < nr; j++) acc[0][i][j] = _mm256_fmadd_ps(w, x[j], acc[0][i][j]);
        }
    }
    if (k < kc) { // masked loads read nothing past the row end
        const __m256i m = tail_mask(kc - k);
        __m256 x[NR];
        for (int j = 0; j < nr; j++) x[j] = _mm256_maskload_ps(X + j * K + k, m);
        for (int i = 0; i < mr; i++) {
            const __m256 w = _mm256_maskload_ps(W + i * K + k, m);
            for (int j = 0; j < nr; j++) acc[0][i][j] = _mm256_fmadd_ps(w, x[j], acc[0][i][j]);
        }
    }
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < mr; i++) {
            __m256 a = acc[0][i][j];
            for (int v = 1; v < u; v++) a = _mm256_add_ps(a, acc[v][i][j]);
            const float s = hsum8(a);
            Y[j * ldy + i] = add ? Y[j * ldy + i] + s : s;
        }
}

// Instantiates the micro-kernel for each edge shape (constants, so accumulators stay in registers).
#define MICRO(a, b) case (a) * 4 + (b): micro(a, b, kc, K, W, X, Y, ldy, add); break
static MOE_AVX2 void micro_any(int mr, int nr, int64_t kc, int64_t K, const float *W, const float *X, float *Y, int64_t ldy, int add) {
    switch (mr * 4 + nr) {
        MICRO(4, 3); MICRO(4, 2); MICRO(4, 1);
        MICRO(3, 3); MICRO(3, 2); MICRO(3, 1);
        MICRO(2, 3); MICRO(2, 2); MICRO(2, 1);
        MICRO(1, 3); MICRO(1, 2); MICRO(1, 1);
        default: break;
    }
}
#undef MICRO

MOE_AVX2 void moe_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    if (K == 0) { // empty sums
        for (int64_t n = 0; n < N; n++) memset(Y + n * ldy, 0, (size_t)M * sizeof(float));
        return;
    }
    for (int64_t k0 = 0; k0 < K; k0 += KC) {
        const int64_t kc = K - k0 < KC ? K - k0 : KC;
        for (int64_t n0 = 0; n0 < N; n0 += NR) {
            const int nr = (int)(N - n0 < NR ? N - n0 : NR);
            int64_t m0 = 0;
            for (; m0 + MR <= M; m0 += MR)
                micro_any(MR, nr, kc, K, W + m0 * K + k0, X + n0 * K + k0, Y + n0 * ldy + m0, ldy, k0 > 0);
            if (m0 < M)
                micro_any((int)(M - m0), nr, kc, K, W + m0 * K + k0, X + n0 * K + k0, Y + n0 * ldy + m0, ldy, k0 > 0);
        }
    }
}

#endif // MOE_X86
