// Helpers shared by the AVX2 kernels on the lane-per-row x8 layouts (quantk_x8_avx2.c, nib_x8_avx2.c: 8 rows,
// one per 32-bit lane, so that 4 activations are one broadcast and no horizontal sum is needed), and the row-major
// kernels' 4-row reductions that give the same per-row arithmetic (quant_avx2.c, quantk_avx2.c).
#pragma once
#include "moe_internal.h"

#if MOE_X86
#include <immintrin.h>
#include <string.h>

#define X8_INLINE static inline __attribute__((always_inline)) MOE_AVX2

enum { X8_NT_MAX = 4 }; // tokens decoded together

// The `bytes` of a step, `ahead` bytes further down the stream, into L1.
X8_INLINE void x8_prefetch(const uint8_t *p, int bytes, int ahead) {
    for (int l = 0; l < bytes; l += 64) _mm_prefetch((const char *)p + ahead + l, _MM_HINT_T0);
}

// 4 activation bytes broadcast to the 8 lanes.
X8_INLINE __m256i bcast4(const int8_t *q) {
    int32_t v;
    memcpy(&v, q, 4);
    return _mm256_set1_epi32(v);
}

// [Σ a, Σ b, Σ c, Σ d] of four rows' 8 int32 lanes (exact): one reduction for 4 rows instead of 4.
X8_INLINE __m128i hsum4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i abcd = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
}

// The halved E8M0 scales of 8 rows (byte r of e8) as floats, lane r: moe_e8m0_to_float_half lane by lane
// (e ≥ 2: (e - 1) << 23; e < 2: 0x00200000 << e), the same bits.
X8_INLINE __m256 e8m0x8_half(uint64_t e8) {
    const __m256i e = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)e8));
    const __m256i normal = _mm256_slli_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(1)), 23);
    const __m256i tiny = _mm256_sllv_epi32(_mm256_set1_epi32(0x00200000), e);
    return _mm256_castsi256_ps(_mm256_blendv_epi8(normal, tiny, _mm256_cmpgt_epi32(_mm256_set1_epi32(2), e)));
}
#endif
