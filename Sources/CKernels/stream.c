// moe_stream_sum: the streaming-read yardstick of moe-bench (see moe_stream.h).
#include "moe_stream.h"
#include "moe_internal.h"
#if MOE_X86
#include <immintrin.h>

// Four independent vpsadbw accumulators, 128 bytes per iteration.
static MOE_AVX2 uint64_t stream_sum_avx2(const uint8_t *p, size_t n) {
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    const __m256i z = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 128 <= n; i += 128) {
        a0 = _mm256_add_epi64(a0, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(p + i)), z));
        a1 = _mm256_add_epi64(a1, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(p + i + 32)), z));
        a2 = _mm256_add_epi64(a2, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(p + i + 64)), z));
        a3 = _mm256_add_epi64(a3, _mm256_sad_epu8(_mm256_loadu_si256((const __m256i *)(p + i + 96)), z));
    }
    const __m256i s = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t r = (uint64_t)_mm256_extract_epi64(s, 0) + (uint64_t)_mm256_extract_epi64(s, 1) +
                 (uint64_t)_mm256_extract_epi64(s, 2) + (uint64_t)_mm256_extract_epi64(s, 3);
    for (; i < n; i++) r += p[i];
    return r;
}
#endif

// Integer sums reassociate freely, so the compiler vectorizes this loop with the target's baseline SIMD.
static uint64_t stream_sum_generic(const uint8_t *p, size_t n) {
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) r += p[i];
    return r;
}

uint64_t moe_stream_sum(const void *p, size_t n) {
#if MOE_X86
    if (moe_kernels_simd_active()) return stream_sum_avx2((const uint8_t *)p, n);
#endif
    return stream_sum_generic((const uint8_t *)p, n);
}
