// Seeded normals for synthetic weights; see moe_synth.h. Box–Muller with log, sin and cos as polynomials
// (|error| < 1e-6, far below bfloat16's 2^-8), written as loops over 64 lanes that the compiler vectorizes.
#include <string.h>
#include "moe_synth.h"

#pragma STDC FP_CONTRACT OFF

#define GAMMA UINT64_C(0x9E3779B97F4A7C15)
#define LANES 64

uint64_t moe_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// ln x for a positive normal float: x = 2^e · m, m ∈ [√½, √2), ln m = 2 atanh(s) with s = (m−1)/(m+1), |s| ≤ 0.172.
static inline float ln_positive(float x) {
    const uint32_t b = bits_of(x);
    const int32_t mant = (int32_t)(b & 0x007FFFFF);
    const int32_t big = (0x003504F3 - mant) >> 31; // −1 where 1.mant > √2: halve m, add 1 to e
    const int32_t e = (int32_t)(b >> 23) - 127 - big;
    const float m = float_of((uint32_t)((mant | 0x3F800000) - (big & 0x00800000)));
    const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
    const float series = (((s2 * (1.0f / 9) + 1.0f / 7) * s2 + 1.0f / 5) * s2 + 1.0f / 3) * s2 + 1.0f;
    return (float)e * 0.693147180559945f + 2.0f * s * series;
}

// Round to nearest even bfloat16 (finite x), kept as a float.
static inline float round_bf16(float x) {
    const uint32_t u = bits_of(x);
    return float_of((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000u);
}

// Two N(0, 1) values from 64 bits: 24 high bits give u ∈ (0, 1] and the radius √(−2 ln u) (|z| ≤ 5.8);
// of the low 32, 2 bits give the quadrant and 22 the angle x ∈ [−π/4, π/4) within it: θ = q·π/2 + x.
static inline void box_muller(uint32_t hi, uint32_t lo, float *z0, float *z1) {
    const float u = (float)((hi >> 8) + 1) * 0x1p-24f;
    const float radius = __builtin_sqrtf(-2.0f * ln_positive(u));
    const float x = ((float)((lo >> 2) & 0x3FFFFF) * 0x1p-22f - 0.5f) * 1.57079632679f;
    const float x2 = x * x;
    const float s = ((((x2 * (1.0f / 362880) - 1.0f / 5040) * x2 + 1.0f / 120) * x2 - 1.0f / 6) * x2 + 1.0f) * x;
    const float c = ((((x2 * (-1.0f / 3628800) + 1.0f / 40320) * x2 - 1.0f / 720) * x2 + 1.0f / 24) * x2 - 0.5f) * x2 + 1.0f;
    // quadrant 1: (cos θ, sin θ) = (−sin x, cos x); 2: (−cos x, −sin x); 3: (sin x, −cos x)
    const uint32_t odd = 0u - (lo & 1), flip = (lo & 2) << 30;
    const uint32_t cb = bits_of(c), sb = bits_of(s);
    *z0 = radius * float_of(((cb & ~odd) | ((sb ^ 0x80000000u) & odd)) ^ flip);
    *z1 = radius * float_of(((sb & ~odd) | (cb & odd)) ^ flip);
}

void moe_normal_bf16(uint64_t key, float mean, float std, float *out, int64_t n) {
    uint32_t hi[LANES], lo[LANES];
    float a[LANES], b[LANES];
    uint64_t state = key;
    for (int64_t i = 0; i < n; i += 2 * LANES) {
        for (int j = 0; j < LANES; j++) {
            state += GAMMA;
            const uint64_t r = moe_mix64(state);
            hi[j] = (uint32_t)(r >> 32);
            lo[j] = (uint32_t)r;
        }
        for (int j = 0; j < LANES; j++) {
            float z0, z1;
            box_muller(hi[j], lo[j], &z0, &z1);
            a[j] = round_bf16(mean + std * z0);
            b[j] = round_bf16(mean + std * z1);
        }
        const int64_t left = n - i;
        if (left >= 2 * LANES) {
            memcpy(out + i, a, sizeof a);
            memcpy(out + i + LANES, b, sizeof b);
        } else {
            for (int64_t j = 0; j < left; j++) out[i + j] = j < LANES ? a[j] : b[j - LANES];
        }
    }
}
