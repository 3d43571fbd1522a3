// Scalar reference dot product and matrix product: one float32 accumulator, k in order.
#include "moe_internal.h"

float moe_dot_f32_generic(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void moe_gemm_f32_generic(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++)
        for (int64_t m = 0; m < M; m++)
            Y[n * ldy + m] = moe_dot_f32_generic(W + m * K, X + n * K, K);
}

void moe_weighted_rows_f32_generic(float *out, const float *p, const float *rows, int64_t stride, int64_t ring, int64_t first,
                                   int64_t last, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = 0.0f;
    for (int64_t j = first; j <= last; j++) {
        const float *v = rows + (j % ring) * stride, pj = p[j];
        for (int64_t i = 0; i < n; i++) {
            const float t = pj * v[i]; // (a separate statement: never contracted into a fused multiply-add)
            out[i] = out[i] + t;
        }
    }
}
