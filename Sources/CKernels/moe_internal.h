// Internal to CKernels: value conversions and the per-path function tables.
#pragma once
#include <stdint.h>
#include <string.h>
#include "moe_kernels.h"
#include "moe_quant.h"

#if defined(__x86_64__) || defined(__i386__)
#define MOE_X86 1
#define MOE_AVX2 __attribute__((target("avx2,fma,f16c")))
#define MOE_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c,bmi2")))
// AMX tiles (tiles_amx.c, and Q4_K's in quant_avx512.c): the AVX-512 set plus AMX-TILE/AMX-INT8.
#define MOE_AMX __attribute__((target("amx-tile,amx-int8,avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c,bmi2")))
// The palette-1 tile configuration (64 bytes, the layout LDTILECFG reads).
typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} moe_tile_config;
_Static_assert(sizeof(moe_tile_config) == 64, "LDTILECFG reads 64 bytes");
// Batches below this many tokens stay on the AVX-512 kernels (as fast there: the tiles unpack weights per call).
#define MOE_AMX_MIN_TOKENS 9
#endif
#if defined(__ARM_NEON) && defined(__aarch64__)
#define MOE_NEON 1
#endif

static inline float moe_bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t moe_f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

// binary16 → binary32, exact. 1 sign, 5 exponent (bias 15), 10 mantissa bits.
// Subnormals (exponent 0) are man · 2⁻²⁴; inf stays inf; NaN keeps its payload and is made quiet,
// as F16C (vcvtph2ps) and NEON (fcvtl) do, so every path gives the same bits.
static inline float moe_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = (h >> 10) & 0x1Fu;
    const uint32_t man = h & 0x3FFu;
    if (exp == 0x1F) return moe_bits_f32(sign | 0x7F800000u | (man << 13) | (man ? 0x00400000u : 0));
    if (exp != 0) return moe_bits_f32(sign | ((exp + (127 - 15)) << 23) | (man << 13));
    const float f = (float)man * 0x1p-24f; // 0 or subnormal: exact (man < 2¹⁰)
    return moe_bits_f32(sign | moe_f32_bits(f));
}

// binary32 → binary16, rounding to nearest even (as F16C's vcvtps2ph with imm 0 and ggml's
// GGML_FP32_TO_FP16): too large → ±inf, below 2⁻²⁴·½ → ±0, subnormals rounded; NaN → quiet NaN
// with the top 9 payload bits kept.
static inline uint16_t moe_float_to_half(float f) {
    const uint32_t x = moe_f32_bits(f);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u) return (uint16_t)(sign | 0x7E00u | ((ax >> 13) & 0x3FFu)); // NaN
    if (ax >= 0x47800000u) return (uint16_t)(sign | 0x7C00u);                           // ≥ 2¹⁶: inf
    if (ax < 0x38800000u) {
        // |f| < 2⁻¹⁴: half subnormal or zero. Adding 0.5 (whose ulp is 2⁻²⁴, the half subnormal unit)
        // rounds |f| to a multiple of 2⁻²⁴ (nearest even); the low bits are then that multiple.
        const float t = moe_bits_f32(ax) + 0.5f;
        return (uint16_t)(sign | (moe_f32_bits(t) - 0x3F000000u));
    }
    // Normal: rebias the exponent (127 → 15) and round the 13 dropped bits to nearest even;
    // a carry out of the mantissa bumps the exponent, up to inf for 65520 and above.
    ax += 0xC8000FFFu + ((ax >> 13) & 1u); // -(112 << 23) + 0xFFF + odd bit, modulo 2³²
    return (uint16_t)(sign | (ax >> 13));
}

// bfloat16 → binary32: the 16 bits are the top half of the float (exact, NaNs untouched).
static inline float moe_bf16_to_float(uint16_t h) { return moe_bits_f32((uint32_t)h << 16); }

// One dequantizer: n elements (a multiple of the block size) from src into dst.
typedef void (*moe_dequant_fn)(const void *src, float *dst, int64_t n);

#define MOE_DECL_DEQUANT(name) \
    void moe_dq_##name##_generic(const void *src, float *dst, int64_t n);
MOE_DECL_DEQUANT(f32)
MOE_DECL_DEQUANT(f16)
MOE_DECL_DEQUANT(bf16)
MOE_DECL_DEQUANT(q8_0)
MOE_DECL_DEQUANT(q4_0)
MOE_DECL_DEQUANT(q4_1)
MOE_DECL_DEQUANT(q4_K)
MOE_DECL_DEQUANT(q5_K)
MOE_DECL_DEQUANT(q6_K)

// 6-bit scale and min of sub-block j (0 ..< 8) of a Q4_K / Q5_K block, from the 12 packed bytes:
// bytes 0-3: low 6 bits = sc[0..3], top 2 bits = high bits of sc[4..7]
// bytes 4-7: low 6 bits = m[0..3],  top 2 bits = high bits of m[4..7]
// bytes 8-11: low nibble = low 4 bits of sc[4..7], high nibble = low 4 bits of m[4..7]
static inline void moe_get_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// The exact integer sum Σ (q_j − 8) y_j of a Q4_0 block against a Q8_0 block (the product is d·dx times it):
// the AVX-512 level's scalar dot and the x16 layout's reference share it.
static inline int moe_q4_0_isum(const block_q4_0 *w, const block_q8_0 *x) {
    int s = 0;
    for (int j = 0; j < QK4_0 / 2; j++) s += ((w->qs[j] & 0x0F) - 8) * x->qs[j] + ((w->qs[j] >> 4) - 8) * x->qs[j + QK4_0 / 2];
    return s;
}

// The exact integer sums of a Q4_K block against a Q8_K block: *s = Σ_k sc_k Σ_{l in k} q_l y_l and
// *m = Σ_k m_k Σ_{l in k} y_l, so that the product is d·dx·s − dmin·dx·m. The AVX-512 level's scalar dot and
// the x16 layout's reference (repack.c) both finish them with the same two fused multiply-adds.
static inline void moe_k4_isums(const block_q4_K *w, const block_q8_K *x, int *s, int *m) {
    int si = 0, mi = 0;
    for (int k = 0; k < 8; k++) {
        uint8_t sc, mn;
        moe_get_scale_min_k4(k, w->scales, &sc, &mn);
        int sub = 0;
        for (int l = 0; l < 32; l++) {
            const uint8_t byte = w->qs[32 * (k / 2) + l];
            sub += ((k & 1) ? byte >> 4 : byte & 0x0F) * x->qs[32 * k + l];
        }
        si += sc * sub;
        mi += mn * (x->bsums[2 * k] + x->bsums[2 * k + 1]);
    }
    *s = si;
    *m = mi;
}

#if MOE_X86
// AVX2 twins (dequant_avx2.c, gemm_avx2.c): same results, bit for bit, for dequantization.
void moe_dq_f16_avx2(const void *src, float *dst, int64_t n);
void moe_dq_bf16_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q8_0_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q4_0_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q4_1_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q4_K_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q5_K_avx2(const void *src, float *dst, int64_t n);
void moe_dq_q6_K_avx2(const void *src, float *dst, int64_t n);
float moe_dot_f32_avx2(const float *a, const float *b, int64_t n);
void moe_weighted_rows_f32_avx2(float *out, const float *p, const float *rows, int64_t stride, int64_t ring, int64_t first, int64_t last,
                                int64_t n);
void moe_gemm_f32_avx2(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy);
#endif

#if MOE_NEON
// NEON twins (dequant_neon.c, gemm_neon.c).
void moe_dq_f16_neon(const void *src, float *dst, int64_t n);
void moe_dq_bf16_neon(const void *src, float *dst, int64_t n);
void moe_dq_q8_0_neon(const void *src, float *dst, int64_t n);
void moe_dq_q4_0_neon(const void *src, float *dst, int64_t n);
float moe_dot_f32_neon(const float *a, const float *b, int64_t n);
void moe_gemm_f32_neon(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy);
#endif

// ---- quantized-activation kernels (quant_generic.c, quant_avx2.c, quant_neon.c) ----
// Activation quantizer: n floats (whole blocks) → blocks at y.
typedef void (*moe_quant_fn)(const float *x, void *y, int64_t n);
// Dot product of one weight row with one activation row, n elements.
typedef float (*moe_vdot_fn)(int64_t n, const void *w, const void *x);
// Matrix product: Y[j*ldy + i] = dot(row i of W, row j of X), i < M, j < N; K elements per row;
// W rows wStride bytes apart, X rows xStride bytes apart.
typedef void (*moe_mmq_fn)(int64_t M, int64_t N, int64_t K, const void *W, size_t wStride,
                           const void *X, size_t xStride, float *Y, int64_t ldy);

void moe_qa_q8_0_generic(const float *x, void *y, int64_t n);
void moe_qa_q8_1_generic(const float *x, void *y, int64_t n);
void moe_qa_q8_K_generic(const float *x, void *y, int64_t n);
void moe_qa_f32_generic(const float *x, void *y, int64_t n);

float moe_vd_f32_generic(int64_t n, const void *w, const void *x);
float moe_vd_f16_generic(int64_t n, const void *w, const void *x);
float moe_vd_bf16_generic(int64_t n, const void *w, const void *x);
float moe_vd_q8_0_generic(int64_t n, const void *w, const void *x);
float moe_vd_q4_0_generic(int64_t n, const void *w, const void *x);
float moe_vd_q4_1_generic(int64_t n, const void *w, const void *x);
float moe_vd_q4_K_generic(int64_t n, const void *w, const void *x);
float moe_vd_q5_K_generic(int64_t n, const void *w, const void *x);
float moe_vd_q6_K_generic(int64_t n, const void *w, const void *x);

// Rows outer, tokens inner, one dot product per output (the reference, and the matrix product of
// any path whose dot product has no tiled kernel).
void moe_mmq_by_dots(moe_vdot_fn dot, int64_t M, int64_t N, int64_t K, const void *W, size_t wStride,
                     const void *X, size_t xStride, float *Y, int64_t ldy);

#if MOE_X86
// AVX-512 VNNI kernels (quant_avx512.c): Q8_0, MXFP4, Q4_K, Q6_K, Q3_K and IQ4_XS, their own arithmetic (see the file's top), the same
// bits for every (row, token) whatever the tile.
float moe_vd_mxfp4_avx512(int64_t n, const void *w, const void *x);
float moe_vd_q4_K_avx512(int64_t n, const void *w, const void *x);
void moe_mmq_mxfp4_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q4_K_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
float moe_vd_q8_0_avx512(int64_t n, const void *w, const void *x);
void moe_mmq_q8_0_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_gemv_mxfp4x16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q4_Kx16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q4_Kx16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_q6_Kx16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q6_Kx16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_q4_0x16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q4_0x16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_mxfp4x16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
// AMX tiles (tiles_amx.c) for the same products, the same bits; 0 when they did not run (AMX off, fewer than 9
// tokens, no scratch memory).
int moe_amx_setup(void); // once, from the dispatch tables' set-up: 1 when AMX may be used
int moe_mmq_q4_0x16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
int moe_mmq_mxfp4x16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
int moe_mmq_q4_Kx16_amx(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
// Row-major Q4_0, MXFP4 and Q8_0 (moe_mmq_fn): the tiles where they run, the AVX-512 kernel for the rest.
void moe_mmq_q4_0_amx(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_mxfp4_amx(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q8_0_amx(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
float moe_vd_q4_0_avx512(int64_t n, const void *w, const void *x);
void moe_mmq_q4_0_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_gemv_iq4_xsx16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_iq4_xsx16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_q3_Kx16_avx512(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q3_Kx16_avx512(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
float moe_vd_q6_K_avx512(int64_t n, const void *w, const void *x);
void moe_mmq_q6_K_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
float moe_vd_q3_K_avx512(int64_t n, const void *w, const void *x);
void moe_mmq_q3_K_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
float moe_vd_iq4_xs_avx512(int64_t n, const void *w, const void *x);
void moe_mmq_iq4_xs_avx512(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);

void moe_qa_q8_0_avx2(const float *x, void *y, int64_t n);
void moe_qa_q8_1_avx2(const float *x, void *y, int64_t n);
void moe_qa_q8_K_avx2(const float *x, void *y, int64_t n);
float moe_vd_f16_avx2(int64_t n, const void *w, const void *x);
float moe_vd_bf16_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q8_0_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q4_0_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q4_1_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q4_K_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q5_K_avx2(int64_t n, const void *w, const void *x);
float moe_vd_q6_K_avx2(int64_t n, const void *w, const void *x);
void moe_mmq_f16_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_bf16_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q8_0_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q4_0_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_gemv_q4_0x8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y); // moe_repack.h
void moe_mmq_q4_0x8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_mxfp4x8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y); // moe_repack.h
void moe_mmq_mxfp4x8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_q4_Kx8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y); // moe_repack.h
void moe_mmq_q4_Kx8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_iq4_xsx8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y); // moe_repack.h
void moe_mmq_iq4_xsx8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_gemv_q3_Kx8_avx2(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y); // moe_repack.h
void moe_mmq_q3_Kx8_avx2(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q4_1_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q4_K_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q5_K_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
void moe_mmq_q6_K_avx2(int64_t, int64_t, int64_t, const void *, size_t, const void *, size_t, float *, int64_t);
#endif

#if MOE_NEON
void moe_qa_q8_0_neon(const float *x, void *y, int64_t n);
void moe_qa_q8_1_neon(const float *x, void *y, int64_t n);
void moe_qa_q8_K_neon(const float *x, void *y, int64_t n);
float moe_vd_f16_neon(int64_t n, const void *w, const void *x);
float moe_vd_bf16_neon(int64_t n, const void *w, const void *x);
float moe_vd_q8_0_neon(int64_t n, const void *w, const void *x);
float moe_vd_q4_0_neon(int64_t n, const void *w, const void *x);
float moe_vd_q4_1_neon(int64_t n, const void *w, const void *x);
float moe_vd_q4_K_neon(int64_t n, const void *w, const void *x);
float moe_vd_q5_K_neon(int64_t n, const void *w, const void *x);
float moe_vd_q6_K_neon(int64_t n, const void *w, const void *x);
#endif

// ggml's make_qx_quants (rmse_type 1), shared by the Q6_K writer (quantize_k.c, where it is defined) and the other
// K-quant writers (quantize_kref.c): symmetric codes in [0, 2·nmax) for n values and the weighted least-squares scale,
// 19 trial scales (weights qw, or x² when qw is NULL). Compiled without FP contraction, as ggml's reference.
float moe_make_qx_quants(int n, int nmax, const float *x, int8_t *L, const float *qw);
