// AVX2/FMA/F16C quantized-activation kernels (x86-64, compiled per function, chosen at run time).
//
// Integer parts are computed exactly as the generic code does; only the float accumulation differs:
// each (weight row, token) pair keeps 8 float partial sums (Q4_0/Q4_1: 2 lanes of a vector shared by
// 4 rows, see fold4), updated once per block with a fused multiply-add, and reduced at the end in a
// fixed order.
//
// Integer products use vpmaddubsw (unsigned bytes × signed bytes → pairwise int16 sums) and
// vpmaddwd (int16 × int16 → pairwise int32 sums). Weight codes are kept unsigned where the format
// has an offset (Q4_0: nibble - 8, Q6_K: code - 32) and the offset is taken out through the
// activations' sums, so every activation code -128 ... 127 is exact and no int16 sum can saturate:
//   Q4_0/Q4_1: 15 · 128 · 2 = 3840     Q5_K: 31 · 128 · 2 = 7936     Q6_K: 63 · 128 · 2 = 16128
// Q8_0 · Q8_0 uses |w| × (y signed like w): exact unless an activation code is -128, which the
// quantizers never produce (|y| ≤ 127, so pairs stay ≤ 128 · 127 · 2 = 32512).
//
// Matrix products: the micro-kernels compute an mr × nr tile (mr ≤ 4 weight rows × nr ≤ 4 tokens)
// over all of K, so a weight block is loaded and unpacked once for nr tokens and an activation block
// once for mr rows. Tiles go rows outer, tokens inner, so the mr weight rows (≤ 4 · K bytes of
// codes) stay in L1/L2 while every token passes; the weights are read from memory once per call.
// Every (row, token) pair follows the same instruction sequence whatever the tile shape, so results
// equal the vec_dot functions (a 1 × 1 tile) bit for bit.
//
// f16 scales are converted once per block per row (four rows' scales in one vcvtph2ps) and per
// token; d_w · d_x is one float product, the same in every tile.
#include "moe_internal.h"
#include "x8_avx2.h" // hsum4_i32
#include <math.h>

#if MOE_X86
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline)) MOE_AVX2

// Tile limits (rows × tokens). Per-type shapes for the matrix product are at the end of the file.
enum { MR = 4, NR = 4 };

INLINE float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// f16 → f32 (vcvtph2ps) from a register whose other lanes are zero. Written with the intrinsics,
// clang merges the half into an arbitrary register with vpinsrw, often a live accumulator, which
// chains each block's scale conversion to the previous block's FMA (measured: 2-3× slower loops);
// the asm keeps the zero-extending vmovd.
INLINE float h2f(ggml_half h) {
    __m128 r;
    __asm__("vcvtph2ps %1, %0" : "=x"(r) : "x"(_mm_cvtsi32_si128(h)));
    return _mm_cvtss_f32(r);
}

// 16 bytes of packed nibbles → 32 bytes 0..15 in element order (low nibbles, then high nibbles).
INLINE __m256i nibbles(const uint8_t *qs) {
    const __m256i b = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)qs));
    return _mm256_and_si256(_mm256_srlv_epi64(b, _mm256_setr_epi64x(0, 0, 4, 4)), _mm256_set1_epi8(0x0F));
}

// 16 int16 → 8 float, each the sum of a pair.
INLINE __m256 pairs_to_f32(__m256i p16) { return _mm256_cvtepi32_ps(_mm256_madd_epi16(p16, _mm256_set1_epi16(1))); }

// ---------------------------------------------------------------------------------------------
// Activation quantizers: the generic code's float operations, 8 lanes at a time (same bits).

// roundf (halves away from zero) for |v| < 2²³: truncate v + copysign(0.49999997, v).
// The addend is the float just below ½, so nothing below a half rounds up.
INLINE __m256 round_away(__m256 v) {
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 half = _mm256_or_ps(sign, _mm256_set1_ps(0x1.fffffep-2f));
    return _mm256_round_ps(_mm256_add_ps(v, half), _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
}

// 32 int32 in four vectors → 32 int8 in element order (values already in range).
INLINE __m256i pack32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d); // lanes interleaved
    const __m256i q = _mm256_packs_epi16(ab, cd);
    return _mm256_permutevar8x32_epi32(q, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

INLINE float amax32(const float *x) {
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    __m256 m = _mm256_and_ps(_mm256_loadu_ps(x), abs);
    for (int k = 8; k < 32; k += 8) m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + k), abs));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

// One block of 32: codes into qs, returns d (as quantize_block_q8 in quant_generic.c).
INLINE float q8_block(const float *x, int8_t *qs) {
    const float d = amax32(x) / 127.0f;
    const __m256 id = _mm256_set1_ps(d != 0.0f ? 1.0f / d : 0.0f);
    __m256i v[4];
    for (int k = 0; k < 4; k++) v[k] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(_mm256_loadu_ps(x + 8 * k), id)));
    _mm256_storeu_si256((__m256i *)qs, pack32(v[0], v[1], v[2], v[3]));
    return d;
}

MOE_AVX2 void moe_qa_q8_0_avx2(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0)
        y[i].d = _cvtss_sh(q8_block(x, y[i].qs), _MM_FROUND_TO_NEAREST_INT);
}

// Σ of 32 int8 codes.
INLINE int sum_i8x32(__m256i q) {
    const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), q), _mm256_set1_epi16(1));
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_unpackhi_epi64(h, h));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 1));
    return _mm_cvtsi128_si32(h);
}

MOE_AVX2 void moe_qa_q8_1_avx2(const float *x, void *vy, int64_t n) {
    block_q8_1 *y = vy;
    for (int64_t i = 0; i < n / QK8_1; i++, x += QK8_1) {
        const float d = q8_block(x, y[i].qs);
        const int sum = sum_i8x32(_mm256_loadu_si256((const __m256i *)y[i].qs));
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        y[i].s = _cvtss_sh((float)sum * d, _MM_FROUND_TO_NEAREST_INT);
    }
}

MOE_AVX2 void moe_qa_q8_K_avx2(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    for (int64_t i = 0; i < n / QK_K; i++, x += QK_K) {
        float amax = 0.0f;
        for (int k = 0; k < QK_K; k += 32) { const float a = amax32(x + k); amax = a > amax ? a : amax; }
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        // The first element whose magnitude is amax gives the sign (as the generic scan does).
        const __m256 va = _mm256_set1_ps(amax);
        int first = 0;
        for (int k = 0; k < QK_K; k += 8) {
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + k), abs), va, _CMP_EQ_OQ));
            if (mask) { first = k + __builtin_ctz((unsigned)mask); break; }
        }
        const float iscale = -127.0f / x[first];
        const __m256 vs = _mm256_set1_ps(iscale);
        for (int k = 0; k < QK_K; k += 32) {
            __m256i v[4];
            // cvtps rounds half to even (MXCSR default), as nearest_int; packs saturate at 127 as min(127, v).
            for (int e = 0; e < 4; e++) v[e] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8 * e), vs));
            const __m256i q = pack32(v[0], v[1], v[2], v[3]);
            _mm256_storeu_si256((__m256i *)(y[i].qs + k), q);
            // Sums of 16 codes: |sad| of the codes biased to unsigned gives 4 sums of 8 bytes.
            const __m256i sad = _mm256_sad_epu8(_mm256_xor_si256(q, _mm256_set1_epi8((char)0x80)), _mm256_setzero_si256());
            const __m256i s16 = _mm256_add_epi64(sad, _mm256_srli_si256(sad, 8));
            y[i].bsums[k / 16] = (int16_t)(_mm256_extract_epi16(s16, 0) - 16 * 128);
            y[i].bsums[k / 16 + 1] = (int16_t)(_mm256_extract_epi16(s16, 8) - 16 * 128);
        }
        y[i].d = 1.0f / iscale;
    }
}

// ---------------------------------------------------------------------------------------------
// Half-precision weights · float activations: 4 × 8 partial sums, then a masked tail.

INLINE float dot_halfish(int64_t n, const uint16_t *w, const float *x, const int bf16) {
#define LOADW(p) (bf16 ? _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(p))), 16)) \
                       : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p))))
    __m256 s[4] = { _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps() };
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        for (int k = 0; k < 4; k++) s[k] = _mm256_fmadd_ps(LOADW(w + i + 8 * k), _mm256_loadu_ps(x + i + 8 * k), s[k]);
    for (; i + 8 <= n; i += 8) s[0] = _mm256_fmadd_ps(LOADW(w + i), _mm256_loadu_ps(x + i), s[0]);
    if (i < n) { // copy the last < 8 halves so nothing past the row is read
        uint16_t t[8] = { 0 };
        memcpy(t, w + i, (size_t)(n - i) * 2);
        const __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        s[1] = _mm256_fmadd_ps(LOADW(t), _mm256_maskload_ps(x + i, m), s[1]);
    }
#undef LOADW
    return hsum8(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])));
}

MOE_AVX2 float moe_vd_f16_avx2(int64_t n, const void *w, const void *x) { return dot_halfish(n, w, x, 0); }
MOE_AVX2 float moe_vd_bf16_avx2(int64_t n, const void *w, const void *x) { return dot_halfish(n, w, x, 1); }

MOE_AVX2 void moe_mmq_f16_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    moe_mmq_by_dots(moe_vd_f16_avx2, M, N, K, W, ws, X, xs, Y, ldy);
}
MOE_AVX2 void moe_mmq_bf16_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    moe_mmq_by_dots(moe_vd_bf16_avx2, M, N, K, W, ws, X, xs, Y, ldy);
}

// ---------------------------------------------------------------------------------------------
// Tiles of 32-element blocks (Q8_0, Q4_0, Q4_1). W, X: first row / token of the tile; ws, xs: bytes
// between rows / tokens; nb blocks per row; Y: output (row i, token j) at Y[j * ldy + i].

// Software prefetch of each weight row's stream, MOE_Q_PF bytes ahead of the block in use: with
// several rows streamed at once and the arithmetic taking about as long as the memory, the hardware
// prefetchers alone leave the two poorly overlapped (measured on Zen 3: Q4_0 matvec ~25% faster).
#ifndef MOE_Q_PF
#define MOE_Q_PF 1024
#endif
// One prefetch per 64-byte line of a block of `bytes` bytes at p (32-element blocks: one line).
#ifndef MOE_Q_PF_MODE
#define MOE_Q_PF_MODE 1
#endif
#if MOE_Q_PF_MODE == 1
#define PF_DIST ((size_t)ws * MR > MOE_Q_PF ? (size_t)ws * MR : MOE_Q_PF)
#else
#define PF_DIST MOE_Q_PF
#endif
#define PREFETCH(p, bytes) do { \
        for (int pf_ = 0; pf_ < (int)(bytes); pf_ += 64) _mm_prefetch((const char *)(p) + PF_DIST + pf_, _MM_HINT_T0); \
    } while (0)

#define TILE_ARGS int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, size_t xs, float *Y, int64_t ldy

// The f16 scales of up to 4 rows' blocks (at p[i]) as floats in lanes 0 ..< mr of one vector:
// one conversion for all rows instead of one per row.
INLINE __m128 row_scales(const int mr, const ggml_half *const p[MR]) {
    __m128i h = _mm_cvtsi32_si128(*p[0]);
    if (mr > 1) h = _mm_insert_epi16(h, *p[1], 1);
    if (mr > 2) h = _mm_insert_epi16(h, *p[2], 2);
    if (mr > 3) h = _mm_insert_epi16(h, *p[3], 3);
    return _mm_cvtph_ps(h);
}

// Lane i of v in all 8 lanes.
INLINE __m256 lane(__m128 v, int i) { return _mm256_permutevar8x32_ps(_mm256_castps128_ps256(v), _mm256_set1_epi32(i)); }

INLINE void store_tile(const int mr, const int nr, __m256 acc[MR][NR], float *Y, int64_t ldy) {
    for (int j = 0; j < nr; j++)
        for (int i = 0; i < mr; i++) Y[j * ldy + i] = hsum8(acc[i][j]);
}

INLINE void tile_q8_0(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i aw[MR], sw[MR];
        const ggml_half *dp[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const block_q8_0 *w = (const block_q8_0 *)(W + (size_t)i * ws) + b;
            PREFETCH(w, 1);
            sw[i] = _mm256_loadu_si256((const __m256i *)w->qs);
            aw[i] = _mm256_abs_epi8(sw[i]); // -128 → 0x80, read as unsigned 128
            dp[i] = &w->d;
        }
        const __m128 dw = row_scales(mr, dp);
        for (int j = 0; j < nr; j++) {
            const block_q8_0 *x = (const block_q8_0 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            for (int i = 0; i < mr; i++) {
                const __m256 f = pairs_to_f32(_mm256_maddubs_epi16(aw[i], _mm256_sign_epi8(y, sw[i])));
                acc[i][j] = _mm256_fmadd_ps(lane(dd, i), f, acc[i][j]);
            }
        }
    }
    store_tile(mr, nr, acc, Y, ldy);
}

// Q4_0 and Q4_1 tiles reduce the 4 rows' products together: the int16 pair sums of rows 0-3 are
// folded into one vector of int32 (each 128-bit half: one sum of 16 products per row), so one
// conversion and one FMA serve all 4 rows: acc lanes i and i + 4 belong to row i. Tiles of fewer rows fold in zeros,
// so every row sees the same operations whatever the tile.
// vphaddw is slow on Zen 3 (one per 2 cycles, measured); the same sums come from vpmaddwd with ones and
// vpackssdw (sums of 4 and 8 products fit int16, so nothing saturates): 7 vpmaddwd + 3 vpackssdw.
INLINE __m256i fold4_i32(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i one = _mm256_set1_epi16(1);
    const __m256i ab = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(a, one), _mm256_madd_epi16(b, one)), one);
    const __m256i cd = _mm256_madd_epi16(_mm256_packs_epi32(_mm256_madd_epi16(c, one), _mm256_madd_epi16(d, one)), one);
    return _mm256_madd_epi16(_mm256_packs_epi32(ab, cd), one);
}
INLINE __m256 fold4(const __m256i p[4]) { return _mm256_cvtepi32_ps(fold4_i32(p[0], p[1], p[2], p[3])); }

// Y[j * ldy + i] = lanes i + (i + 4) of acc[j].
INLINE void store_fold4(const int mr, const int nr, const __m256 acc[NR], float *Y, int64_t ldy) {
    for (int j = 0; j < nr; j++) {
        const __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[j]), _mm256_extractf128_ps(acc[j], 1));
        float t[4];
        _mm_storeu_ps(t, s);
        for (int i = 0; i < mr; i++) Y[j * ldy + i] = t[i];
    }
}

// Up to 4 rows × up to 4 tokens (the arithmetic the x8 layout's kernels, nib_x8_avx2.c, reproduce lane by lane).
INLINE void tile_q4_0(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[NR];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[MR];
        const ggml_half *dp[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const block_q4_0 *w = (const block_q4_0 *)(W + (size_t)i * ws) + b;
            PREFETCH(w, 1);
            q[i] = nibbles(w->qs);
            dp[i] = &w->d;
        }
        const __m128 dw = row_scales(mr, dp);
        for (int j = 0; j < nr; j++) {
            const block_q8_0 *x = (const block_q8_0 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            const __m256i y8 = _mm256_maddubs_epi16(_mm256_set1_epi8(8), y); // the -8 offset: 8 (y0 + y1)
            __m256i p[4];
            for (int i = 0; i < 4; i++) p[i] = i < mr ? _mm256_sub_epi16(_mm256_maddubs_epi16(q[i], y), y8) : _mm256_setzero_si256();
            acc[j] = _mm256_fmadd_ps(_mm256_set_m128(dd, dd), fold4(p), acc[j]);
        }
    }
    store_fold4(mr, nr, acc, Y, ldy);
}

INLINE void tile_q4_1(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[NR];
    for (int j = 0; j < nr; j++) acc[j] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i q[MR];
        const ggml_half *dp[MR] = { 0 }, *mp[MR] = { 0 };
        for (int i = 0; i < mr; i++) {
            const block_q4_1 *w = (const block_q4_1 *)(W + (size_t)i * ws) + b;
            PREFETCH(w, 1);
            q[i] = nibbles(w->qs);
            dp[i] = &w->d;
            mp[i] = &w->m;
        }
        const __m128 dw = row_scales(mr, dp), mw = row_scales(mr, mp);
        for (int j = 0; j < nr; j++) {
            const block_q8_1 *x = (const block_q8_1 *)(X + (size_t)j * xs) + b;
            const __m128 dd = _mm_mul_ps(dw, _mm_set1_ps(h2f(x->d)));
            const __m128 ms = _mm_mul_ps(mw, _mm_set1_ps(h2f(x->s))); // m_w * s_x per row
            const __m256i y = _mm256_loadu_si256((const __m256i *)x->qs);
            __m256i p[4];
            for (int i = 0; i < 4; i++) p[i] = i < mr ? _mm256_maddubs_epi16(q[i], y) : _mm256_setzero_si256();
            acc[j] = _mm256_fmadd_ps(_mm256_set_m128(dd, dd), fold4(p), acc[j]);
            // the minima's terms go into lanes 0-3 only (row i: lane i)
            acc[j] = _mm256_add_ps(acc[j], _mm256_zextps128_ps256(ms));
        }
    }
    store_fold4(mr, nr, acc, Y, ldy);
}

// ---------------------------------------------------------------------------------------------
// Tiles of K-quant super-blocks (256 elements) against Q8_K. Per super-block, row by row: the row's
// codes are unpacked once per 32-element sub-block and used for all nr tokens (whose codes come
// from L1), into nr int32 vectors of scaled sums; then one multiply-add per (row, token) for the
// codes and one for the minima (or Q6_K's offset, folded into the integer sum).

// Byte shuffles that broadcast int16 lane k (0..7) of a 128-bit half to all 8 lanes of that half.
INLINE __m256i bcast16_ctrl(int k) { return _mm256_set1_epi16((short)((2 * k) | ((2 * k + 1) << 8))); }

// Q4_K / Q5_K scales and mins of one super-block: 8 six-bit scales as int16 in lanes 0-7 of both
// halves of *sc; the 8 mins as int16 in *mn. Byte layout: see moe_get_scale_min_k4.
INLINE void k4_scales(const uint8_t *scales, __m256i *sc, __m128i *mn) {
    uint32_t u[3];
    memcpy(u, scales, 12);
    const uint32_t sc03 = u[0] & 0x3F3F3F3Fu, m03 = u[1] & 0x3F3F3F3Fu;
    const uint32_t sc47 = (u[2] & 0x0F0F0F0Fu) | (((u[0] >> 6) & 0x03030303u) << 4);
    const uint32_t m47 = ((u[2] >> 4) & 0x0F0F0F0Fu) | (((u[1] >> 6) & 0x03030303u) << 4);
    const __m128i s16 = _mm_cvtepu8_epi16(_mm_setr_epi32((int)sc03, (int)sc47, 0, 0));
    *sc = _mm256_broadcastsi128_si256(s16);
    *mn = _mm_cvtepu8_epi16(_mm_setr_epi32((int)m03, (int)m47, 0, 0));
}

// Sums of the 8 sub-blocks of 32 of a Q8_K block: bsums pairs, as int16.
INLINE __m128i q8k_sub_sums(const block_q8_K *x) {
    return _mm_hadd_epi16(_mm_loadu_si128((const __m128i *)x->bsums), _mm_loadu_si128((const __m128i *)(x->bsums + 8)));
}

// Per (row, token) and super-block the 8 lanes' exact sums are added up before they meet the float scales, one float
// per (row, token): acc = fma(d_w · d_x, Σ, acc), then acc = fma(-(dmin_w · d_x), Σ mins, acc), as the AVX-512 level
// and the Q4_K x8 layout (quantk_x8_avx2.c) do, so all give the same bits.
INLINE void tile_k45(const int mr, const int nr, const int five, TILE_ARGS) {
    // lane i: row i's accumulator for token j (per row and token the scalar arithmetic acc = fma(d·dx, isum, acc),
    // then fma(-(dmin·dx), msum, acc), lane by lane: the x8 and AVX-512 kernels' bits)
    __m128 acc[NR];
    for (int j = 0; j < nr; j++) acc[j] = _mm_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; b++) {
        __m128i xs8[NR];
        float dx[NR];
        for (int j = 0; j < nr; j++) {
            const block_q8_K *x = (const block_q8_K *)(X + (size_t)j * xs) + b;
            dx[j] = x->d;
            xs8[j] = q8k_sub_sums(x);
        }
        __m256i isum[MR][NR];
        __m128i msum[MR][NR];
        const ggml_half *dp[MR] = {0}, *mp[MR] = {0};
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < nr; j++) isum[i][j] = _mm256_setzero_si256(), msum[i][j] = _mm_setzero_si128();
        for (int i = 0; i < mr; i++) {
            const block_q4_K *w4 = (const block_q4_K *)(W + (size_t)i * ws) + b; // used when !five
            const block_q5_K *w5 = (const block_q5_K *)(W + (size_t)i * ws) + b; // used when five
            if (five) PREFETCH(w5, sizeof *w5); else PREFETCH(w4, sizeof *w4);
            const uint8_t *qs = five ? w5->qs : w4->qs;
            dp[i] = five ? &w5->d : &w4->d;
            mp[i] = five ? &w5->dmin : &w4->dmin;
            __m256i sc;
            __m128i mn;
            k4_scales(five ? w5->scales : w4->scales, &sc, &mn);
            const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)w5->qh) : _mm256_setzero_si256();
            for (int c = 0; c < 4; c++) {
                const __m256i raw = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                for (int e = 0; e < 2; e++) {
                    const int k = 2 * c + e;
                    __m256i q = _mm256_and_si256(e ? _mm256_srli_epi16(raw, 4) : raw, m4);
                    if (five) // bit k of qh[l] is the fifth bit of element l of sub-block k
                        q = _mm256_or_si256(q, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, k), one), 4));
                    const __m256i s = _mm256_shuffle_epi8(sc, bcast16_ctrl(k));
                    for (int j = 0; j < nr; j++) {
                        const block_q8_K *x = (const block_q8_K *)(X + (size_t)j * xs) + b;
                        const __m256i y = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * k));
                        isum[i][j] = _mm256_add_epi32(isum[i][j], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, y)));
                    }
                }
            }
            for (int j = 0; j < nr; j++) msum[i][j] = _mm_madd_epi16(mn, xs8[j]);
        }
        // the 4 rows' exact sums in one vector each (rows past mr are zero), one conversion for their scales
        for (int i = mr; i < MR; i++) dp[i] = dp[0], mp[i] = mp[0];
        const __m128 d = row_scales(MR, dp), dmin = row_scales(MR, mp);
        for (int j = 0; j < nr; j++) {
            const __m128 dxj = _mm_set1_ps(dx[j]);
            const __m128i is = hsum4_i32(isum[0][j], isum[1][j], isum[2][j], isum[3][j]);
            const __m128i ms = _mm_hadd_epi32(_mm_hadd_epi32(msum[0][j], msum[1][j]), _mm_hadd_epi32(msum[2][j], msum[3][j]));
            acc[j] = _mm_fmadd_ps(_mm_mul_ps(d, dxj), _mm_cvtepi32_ps(is), acc[j]);
            acc[j] = _mm_fnmadd_ps(_mm_mul_ps(dmin, dxj), _mm_cvtepi32_ps(ms), acc[j]);
        }
    }
    for (int j = 0; j < nr; j++) {
        float out[4];
        _mm_storeu_ps(out, acc[j]);
        for (int i = 0; i < mr; i++) Y[j * ldy + i] = out[i];
    }
}

INLINE void tile_q4_K(const int mr, const int nr, TILE_ARGS) { tile_k45(mr, nr, 0, nb, W, ws, X, xs, Y, ldy); }
INLINE void tile_q5_K(const int mr, const int nr, TILE_ARGS) { tile_k45(mr, nr, 1, nb, W, ws, X, xs, Y, ldy); }

// Q6_K: per half (128 elements) 64 bytes of low nibbles and 32 of high bit pairs; group g (0..3) of
// 32 elements takes ql[32 (g & 1) + l] (low nibble for g < 2, high for g ≥ 2) and bits 2g, 2g+1 of
// qh[l]. Sub-blocks of 16 have their own int8 scale: lanes 0-7 of a maddubs result hold elements
// 0..15 of the group and lanes 8-15 elements 16..31. The code offset 32 is taken out at the end as
// 32 Σ_k sc_k bsum_k.
INLINE void tile_q6_K(const int mr, const int nr, TILE_ARGS) {
    __m256 acc[MR][NR];
    for (int i = 0; i < mr; i++)
        for (int j = 0; j < nr; j++) acc[i][j] = _mm256_setzero_ps();
    const __m256i m4 = _mm256_set1_epi8(0x0F), m2 = _mm256_set1_epi8(0x30);
    for (int64_t b = 0; b < nb; b++) {
        float dx[NR];
        for (int j = 0; j < nr; j++) dx[j] = ((const block_q8_K *)(X + (size_t)j * xs) + b)->d;
        for (int i = 0; i < mr; i++) {
            const block_q6_K *w = (const block_q6_K *)(W + (size_t)i * ws) + b;
            PREFETCH(w, sizeof *w);
            const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)w->scales)); // 16 × int16
            __m256i isum[NR];
            for (int j = 0; j < nr; j++) { // start from -32 Σ_k sc_k bsum_k
                const block_q8_K *x = (const block_q8_K *)(X + (size_t)j * xs) + b;
                const __m256i off = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x->bsums));
                isum[j] = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(off, 5));
            }
            for (int h = 0; h < 2; h++) {
                const __m256i a = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h));
                const __m256i c = _mm256_loadu_si256((const __m256i *)(w->ql + 64 * h + 32));
                const __m256i qh = _mm256_loadu_si256((const __m256i *)(w->qh + 32 * h));
                const __m256i sch = h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00); // sc[8h ..< 8h+8] twice
                for (int g = 0; g < 4; g++) {
                    __m256i q;
                    switch (g) { // 6-bit codes 0..63: low nibble | high bit pair moved to bits 4-5
                    case 0: q = _mm256_or_si256(_mm256_and_si256(a, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2)); break;
                    case 1: q = _mm256_or_si256(_mm256_and_si256(c, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2)); break;
                    case 2: q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(a, 4), m4), _mm256_and_si256(qh, m2)); break;
                    default: q = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(c, 4), m4), _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2)); break;
                    }
                    // scale of sub-block 8h+2g in the low half, of 8h+2g+1 in the high half
                    const __m256i ctrl = _mm256_setr_m128i(_mm_set1_epi16((short)((4 * g) | ((4 * g + 1) << 8))),
                                                           _mm_set1_epi16((short)((4 * g + 2) | ((4 * g + 3) << 8))));
                    const __m256i s = _mm256_shuffle_epi8(sch, ctrl);
                    for (int j = 0; j < nr; j++) {
                        const block_q8_K *x = (const block_q8_K *)(X + (size_t)j * xs) + b;
                        const __m256i y = _mm256_loadu_si256((const __m256i *)(x->qs + 128 * h + 32 * g));
                        isum[j] = _mm256_add_epi32(isum[j], _mm256_madd_epi16(s, _mm256_maddubs_epi16(q, y)));
                    }
                }
            }
            const float d = h2f(w->d);
            for (int j = 0; j < nr; j++)
                acc[i][j] = _mm256_fmadd_ps(_mm256_set1_ps(d * dx[j]), _mm256_cvtepi32_ps(isum[j]), acc[i][j]);
        }
    }
    store_tile(mr, nr, acc, Y, ldy);
}

// ---------------------------------------------------------------------------------------------
// Instantiation: each tile shape with constant mr, nr (accumulators stay in registers), the dot
// product as the 1 × 1 tile, and the matrix product driver.

#define SHAPE(T, a, b) case (a) * 8 + (b): tile_##T(a, b, nb, W, ws, X, xs, Y, ldy); break
#define DEFINE_TILES(T, BLOCK, QK)                                                                         \
    static MOE_AVX2 void tiles_##T(int mr, int nr, TILE_ARGS) {                                           \
        switch (mr * 8 + nr) {                                                                            \
            SHAPE(T, 4, 4); SHAPE(T, 4, 3); SHAPE(T, 4, 2); SHAPE(T, 4, 1);                               \
            SHAPE(T, 3, 4); SHAPE(T, 3, 3); SHAPE(T, 3, 2); SHAPE(T, 3, 1);                               \
            SHAPE(T, 2, 4); SHAPE(T, 2, 3); SHAPE(T, 2, 2); SHAPE(T, 2, 1);                               \
            SHAPE(T, 1, 4); SHAPE(T, 1, 3); SHAPE(T, 1, 2); SHAPE(T, 1, 1);                               \
            default: break;                                                                               \
        }                                                                                                 \
    }                                                                                                     \
    MOE_AVX2 float moe_vd_##T##_avx2(int64_t n, const void *w, const void *x) {                           \
        float r;                                                                                          \
        tile_##T(1, 1, n / (QK), w, 0, x, 0, &r, 1);                                                      \
        return r;                                                                                         \
    }
#define DEFINE_TYPE(T, BLOCK, QK)                                                                          \
    DEFINE_TILES(T, BLOCK, QK)                                                                            \
    MOE_AVX2 void moe_mmq_##T##_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws,          \
                                     const void *X, size_t xs, float *Y, int64_t ldy) {                   \
        mmq_tiles(tiles_##T, T##_MR, T##_NR, M, N, K / (QK), W, ws, X, xs, Y, ldy);                      \
    }

typedef void (*tiles_fn)(int mr, int nr, TILE_ARGS);

// Rows outer in groups of mr_max, tokens inner in groups of nr_max; edges get smaller tiles.
static MOE_AVX2 void mmq_tiles(tiles_fn tiles, int mr_max, int nr_max, int64_t M, int64_t N, int64_t nb,
                               const void *W, size_t ws, const void *X, size_t xs, float *Y, int64_t ldy) {
    for (int64_t m0 = 0; m0 < M; m0 += mr_max) {
        const int mr = (int)(M - m0 < mr_max ? M - m0 : mr_max);
        for (int64_t n0 = 0; n0 < N; n0 += nr_max) {
            const int nr = (int)(N - n0 < nr_max ? N - n0 : nr_max);
            tiles(mr, nr, nb, (const uint8_t *)W + (size_t)m0 * ws, ws, (const uint8_t *)X + (size_t)n0 * xs, xs,
                  Y + n0 * ldy + m0, ldy);
        }
    }
}

// Tile shape per type for the matrix product (rows × tokens), at most MR × NR: 4 × 2 where each
// (row, token) pair has its own accumulator (12-16 live vectors), 4 × 4 for the folded Q4_0 / Q4_1
// tiles (one accumulator per token).
#ifndef MOE_Q_MR
#define MOE_Q_MR 4
#endif
#ifndef MOE_Q_NR
#define MOE_Q_NR 2
#endif
enum {
    q8_0_MR = MOE_Q_MR, q8_0_NR = MOE_Q_NR,
    q4_0_MR = 4, q4_0_NR = 4, // fold4 tiles: one accumulator per token
    q4_1_MR = 4, q4_1_NR = 4,
    q4_K_MR = MOE_Q_MR, q4_K_NR = MOE_Q_NR,
    q5_K_MR = MOE_Q_MR, q5_K_NR = MOE_Q_NR,
    q6_K_MR = MOE_Q_MR, q6_K_NR = MOE_Q_NR,
};

DEFINE_TYPE(q8_0, block_q8_0, QK8_0)
DEFINE_TILES(q4_0, block_q4_0, QK4_0)
DEFINE_TYPE(q4_1, block_q4_1, QK4_1)
DEFINE_TYPE(q4_K, block_q4_K, QK_K)
DEFINE_TYPE(q5_K, block_q5_K, QK_K)
DEFINE_TYPE(q6_K, block_q6_K, QK_K)

// One token (matrix-vector), 8 rows at a time: the same integers and float operations per row as
// tile_q4_0 (so the same bits), fewer instructions per block:
// - rows r and r + 4 share a vector (row r in the low 128 bits, row r + 4 in the high), low and
//   high nibbles in separate vectors, so the activations are two broadcast loads and the folded
//   sums come out as [rows 0-7, elements 0-15] and [rows 0-7, elements 16-31]: the 8 rows' scales
//   are one conversion and one product;
// - the -8 offset is taken out after the fold, as 8 Σy of each half of the block (int32, computed
//   once per call with d_x as a float), instead of once per row;
// - the 8 scales are gathered in general registers and moved over in two vmovq;
// - two blocks per step; the row group MOE_Q4_PF8 rows ahead is prefetched as one contiguous range.
enum { GEMV_NB_MAX = 1024 }; // per-call activation sums on the stack; longer rows take the tiles

#ifndef MOE_Q4_PF8
#define MOE_Q4_PF8 16 // rows ahead (a multiple of 8): the row group after next
#endif

// The arithmetic of one block of 8 rows of the row-major one-token kernel (the x8 layout has its own: nib_x8_avx2.c):
// codes v0…v3 ([row r | row r + 4] nibbles), the 8 rows' f16 scales in `scales` (rows 0…7), one token's
// Q8_0 codes xq with its half-block sums c (8 Σy) and scale *dxp; accumulates rows 0-3 / 4-7 into the
// lanes of accl (low halves of the blocks) and acch (high halves).
INLINE void block8_fma(__m256i v0, __m256i v1, __m256i v2, __m256i v3, __m128i scales, const int8_t *xq, const int32_t *c,
                       const float *dxp, __m256 *accl, __m256 *acch) {
    const __m256i m4 = _mm256_set1_epi8(0x0F);
    const __m256i yl = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)xq));
    const __m256i yh = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(xq + 16)));
#define LO(v) _mm256_maddubs_epi16(_mm256_and_si256(v, m4), yl)
#define HI(v) _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4), yh)
    const __m256i sl = _mm256_sub_epi32(fold4_i32(LO(v0), LO(v1), LO(v2), LO(v3)), _mm256_set1_epi32(c[0]));
    const __m256i sh = _mm256_sub_epi32(fold4_i32(HI(v0), HI(v1), HI(v2), HI(v3)), _mm256_set1_epi32(c[1]));
#undef LO
#undef HI
    const __m256 dd = _mm256_mul_ps(_mm256_cvtph_ps(scales), _mm256_broadcast_ss(dxp));
    *accl = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sl), *accl);
    *acch = _mm256_fmadd_ps(dd, _mm256_cvtepi32_ps(sh), *acch);
}

// One block of 8 rows: rows r and r + 4 at a[r] and a[r] + ws4.
INLINE void gemv_block(const uint8_t *a0, size_t ws, const int8_t *xq, const int32_t *c, const float *dxp,
                       __m256 *accl, __m256 *acch) {
    const size_t ws4 = 4 * ws;
    const uint8_t *a1 = a0 + ws, *a2 = a0 + 2 * ws, *a3 = a1 + 2 * ws;
#define LD(p) _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)((p) + 2))), _mm_loadu_si128((const __m128i *)((p) + ws4 + 2)), 1)
    const __m256i v0 = LD(a0), v1 = LD(a1), v2 = LD(a2), v3 = LD(a3);
#undef LD
#define H(p) ((uint64_t)*(const uint16_t *)(p))
    const __m128i hg = _mm_set_epi64x((long long)(H(a0 + ws4) | H(a1 + ws4) << 16 | H(a2 + ws4) << 32 | H(a3 + ws4) << 48),
                                      (long long)(H(a0) | H(a1) << 16 | H(a2) << 32 | H(a3) << 48));
#undef H
    block8_fma(v0, v1, v2, v3, hg, xq, c, dxp, accl, acch);
}

// The one-token paths' per-call activation terms: d_x as float, and 8 Σy of each half of each block.
INLINE void gemv_activation_terms(int64_t nb, const block_q8_0 *x, float *dx, int32_t *cs) {
    for (int64_t b = 0; b < nb; b++) {
        dx[b] = h2f(x[b].d);
        const __m256i s = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(8), _mm256_loadu_si256((const __m256i *)x[b].qs)), _mm256_set1_epi16(1));
        __m128i lo = _mm256_castsi256_si128(s), hi = _mm256_extracti128_si256(s, 1);
        lo = _mm_add_epi32(lo, _mm_unpackhi_epi64(lo, lo)); lo = _mm_add_epi32(lo, _mm_shuffle_epi32(lo, 1));
        hi = _mm_add_epi32(hi, _mm_unpackhi_epi64(hi, hi)); hi = _mm_add_epi32(hi, _mm_shuffle_epi32(hi, 1));
        cs[2 * b] = _mm_cvtsi128_si32(lo);
        cs[2 * b + 1] = _mm_cvtsi128_si32(hi);
    }
}

static MOE_AVX2 void gemv_q4_0(int64_t M, int64_t nb, const uint8_t *W, size_t ws, const uint8_t *X, float *Y) {
    const block_q8_0 *x = (const block_q8_0 *)X;
    float dx[GEMV_NB_MAX];
    int32_t cs[2 * GEMV_NB_MAX];
    gemv_activation_terms(nb, x, dx, cs);
    const size_t pf = (size_t)ws * MOE_Q4_PF8;
    int64_t m0 = 0;
    for (; m0 + 8 <= M; m0 += 8) {
        const uint8_t *a = W + (size_t)m0 * ws;
        __m256 accl = _mm256_setzero_ps(), acch = _mm256_setzero_ps();
        int64_t b = 0;
        for (; b + 2 <= nb; b += 2, a += 2 * sizeof(block_q4_0)) {
            // The 8 rows of a group are contiguous (8 · ws bytes) and a step consumes 8 · 36 = 288 of
            // them, so prefetch the group MOE_Q4_PF8 rows ahead as one sequential range, 288 bytes
            // (5 lines) per step, rather than 8 strided lines: fewer prefetches, one stream.
            {
                const char *q = (const char *)W + (size_t)m0 * ws + pf + (size_t)b * (8 * sizeof(block_q4_0));
                _mm_prefetch(q, _MM_HINT_T0);
                _mm_prefetch(q + 64, _MM_HINT_T0);
                _mm_prefetch(q + 128, _MM_HINT_T0);
                _mm_prefetch(q + 192, _MM_HINT_T0);
                _mm_prefetch(q + 256, _MM_HINT_T0);
            }
            gemv_block(a, ws, x[b].qs, cs + 2 * b, dx + b, &accl, &acch);
            gemv_block(a + sizeof(block_q4_0), ws, x[b + 1].qs, cs + 2 * b + 2, dx + b + 1, &accl, &acch);
        }
        if (b < nb) gemv_block(a, ws, x[b].qs, cs + 2 * b, dx + b, &accl, &acch);
        // lanes 0-3: rows 0-3, lanes 4-7: rows 4-7
        _mm256_storeu_ps(Y + m0, _mm256_add_ps(accl, acch));
    }
    if (m0 < M) mmq_tiles(tiles_q4_0, 4, 1, M - m0, 1, nb, W + (size_t)m0 * ws, ws, X, 0, Y + m0, 1);
}

MOE_AVX2 void moe_mmq_q4_0_avx2(int64_t M, int64_t N, int64_t K, const void *W, size_t ws, const void *X, size_t xs,
                               float *Y, int64_t ldy) {
    if (N == 1 && K / QK4_0 <= GEMV_NB_MAX) gemv_q4_0(M, K / QK4_0, W, ws, X, Y);
    else mmq_tiles(tiles_q4_0, q4_0_MR, q4_0_NR, M, N, K / QK4_0, W, ws, X, xs, Y, ldy);
}

#endif // MOE_X86
