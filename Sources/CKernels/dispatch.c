// Entry points: choose once between the generic code and the SIMD code this CPU supports,
// then forward. Also per-thread scratch buffers.
#include "moe_internal.h"
#include "quantk_internal.h"
#include "quant32.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef float (*moe_dot_fn)(const float *, const float *, int64_t);
typedef void (*moe_gemm_fn)(int64_t, int64_t, int64_t, const float *, const float *, float *, int64_t);
typedef void (*moe_wsum_fn)(float *, const float *, const float *, int64_t, int64_t, int64_t, int64_t, int64_t);

// Table slots: every ggml type number with kernels (the largest is MXFP4's 39). Entry points check a type
// has a block size (moe_type_block_size) or an activation type before they index a table with it.
enum { MOE_TYPE_SLOTS = MOE_TYPE_MXFP4 + 1 };

typedef struct {
    moe_dequant_fn dq[MOE_TYPE_SLOTS]; // indexed by ggml type; NULL = unsupported
    moe_dot_fn dot;
    moe_gemm_fn gemm;
    moe_wsum_fn wsum;
    moe_quant_fn quant[MOE_TYPE_SLOTS]; // by activation type (F32, Q8_0, Q8_1, Q8_K)
    moe_vdot_fn vdot[MOE_TYPE_SLOTS];   // by weight type
    moe_mmq_fn mmq[MOE_TYPE_SLOTS];     // by weight type; NULL: by dot products
    const char *features;
} moe_impl;

// Levels, from the scalar reference up: generic, the base SIMD set (AVX2 / NEON), AVX-512 VNNI (x86). Each
// level's table starts as a copy of the one below and replaces what it has kernels for.
static moe_impl generic_impl, simd_impl, avx512_impl;
static int best_level; // the highest level this CPU runs

// moe_dot_f32 with the vec_dot signature (F32 weights, F32 activations).
#if MOE_X86
static float moe_dot_f32_avx2_vd(int64_t n, const void *w, const void *x) { return moe_dot_f32_avx2(w, x, n); }
#endif
#if MOE_NEON
static float moe_dot_f32_neon_vd(int64_t n, const void *w, const void *x) { return moe_dot_f32_neon(w, x, n); }
#endif
static pthread_once_t impl_once = PTHREAD_ONCE_INIT;
static atomic_int force_generic;

static void init_impls(void) {
    moe_impl *g = &generic_impl;
    g->dq[MOE_TYPE_F32] = moe_dq_f32_generic;
    g->dq[MOE_TYPE_F16] = moe_dq_f16_generic;
    g->dq[MOE_TYPE_BF16] = moe_dq_bf16_generic;
    g->dq[MOE_TYPE_Q8_0] = moe_dq_q8_0_generic;
    g->dq[MOE_TYPE_Q4_0] = moe_dq_q4_0_generic;
    g->dq[MOE_TYPE_Q4_1] = moe_dq_q4_1_generic;
    g->dq[MOE_TYPE_Q4_K] = moe_dq_q4_K_generic;
    g->dq[MOE_TYPE_Q5_K] = moe_dq_q5_K_generic;
    g->dq[MOE_TYPE_Q6_K] = moe_dq_q6_K_generic;
    g->dq[MOE_TYPE_Q2_K] = moe_dq_q2_K_generic;
    g->dq[MOE_TYPE_Q3_K] = moe_dq_q3_K_generic;
    g->dq[MOE_TYPE_IQ4_XS] = moe_dq_iq4_xs_generic;
    g->dq[MOE_TYPE_Q5_0] = moe_dq_q5_0_generic;
    g->dq[MOE_TYPE_Q5_1] = moe_dq_q5_1_generic;
    g->dq[MOE_TYPE_IQ4_NL] = moe_dq_iq4_nl_generic;
    g->dq[MOE_TYPE_MXFP4] = moe_dq_mxfp4_generic;
    g->dot = moe_dot_f32_generic;
    g->gemm = moe_gemm_f32_generic;
    g->wsum = moe_weighted_rows_f32_generic;
    g->quant[MOE_TYPE_F32] = moe_qa_f32_generic;
    g->quant[MOE_TYPE_Q8_0] = moe_qa_q8_0_generic;
    g->quant[MOE_TYPE_Q8_1] = moe_qa_q8_1_generic;
    g->quant[MOE_TYPE_Q8_K] = moe_qa_q8_K_generic;
    g->vdot[MOE_TYPE_F32] = moe_vd_f32_generic;
    g->vdot[MOE_TYPE_F16] = moe_vd_f16_generic;
    g->vdot[MOE_TYPE_BF16] = moe_vd_bf16_generic;
    g->vdot[MOE_TYPE_Q8_0] = moe_vd_q8_0_generic;
    g->vdot[MOE_TYPE_Q4_0] = moe_vd_q4_0_generic;
    g->vdot[MOE_TYPE_Q4_1] = moe_vd_q4_1_generic;
    g->vdot[MOE_TYPE_Q4_K] = moe_vd_q4_K_generic;
    g->vdot[MOE_TYPE_Q5_K] = moe_vd_q5_K_generic;
    g->vdot[MOE_TYPE_Q6_K] = moe_vd_q6_K_generic;
    g->vdot[MOE_TYPE_Q2_K] = moe_vd_q2_K_generic;
    g->vdot[MOE_TYPE_Q3_K] = moe_vd_q3_K_generic;
    g->vdot[MOE_TYPE_IQ4_XS] = moe_vd_iq4_xs_generic;
    g->vdot[MOE_TYPE_Q5_0] = moe_vd_q5_0_generic;
    g->vdot[MOE_TYPE_Q5_1] = moe_vd_q5_1_generic;
    g->vdot[MOE_TYPE_IQ4_NL] = moe_vd_iq4_nl_generic;
    g->vdot[MOE_TYPE_MXFP4] = moe_vd_mxfp4_generic;
    g->features = "generic";
    simd_impl = generic_impl;
    moe_impl *s = &simd_impl;
#if MOE_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
        s->dq[MOE_TYPE_F16] = moe_dq_f16_avx2;
        s->dq[MOE_TYPE_BF16] = moe_dq_bf16_avx2;
        s->dq[MOE_TYPE_Q8_0] = moe_dq_q8_0_avx2;
        s->dq[MOE_TYPE_Q4_0] = moe_dq_q4_0_avx2;
        s->dq[MOE_TYPE_Q4_1] = moe_dq_q4_1_avx2;
        s->dq[MOE_TYPE_Q4_K] = moe_dq_q4_K_avx2;
        s->dq[MOE_TYPE_Q5_K] = moe_dq_q5_K_avx2;
        s->dq[MOE_TYPE_Q6_K] = moe_dq_q6_K_avx2;
        s->dq[MOE_TYPE_Q2_K] = moe_dq_q2_K_avx2;
        s->dq[MOE_TYPE_Q3_K] = moe_dq_q3_K_avx2;
        s->dq[MOE_TYPE_IQ4_XS] = moe_dq_iq4_xs_avx2;
        s->dq[MOE_TYPE_Q5_0] = moe_dq_q5_0_avx2;
        s->dq[MOE_TYPE_Q5_1] = moe_dq_q5_1_avx2;
        s->dq[MOE_TYPE_IQ4_NL] = moe_dq_iq4_nl_avx2;
        s->dq[MOE_TYPE_MXFP4] = moe_dq_mxfp4_avx2;
        s->dot = moe_dot_f32_avx2;
        s->gemm = moe_gemm_f32_avx2;
        s->wsum = moe_weighted_rows_f32_avx2;
        s->quant[MOE_TYPE_Q8_0] = moe_qa_q8_0_avx2;
        s->quant[MOE_TYPE_Q8_1] = moe_qa_q8_1_avx2;
        s->quant[MOE_TYPE_Q8_K] = moe_qa_q8_K_avx2;
        s->vdot[MOE_TYPE_F32] = moe_dot_f32_avx2_vd;
        s->vdot[MOE_TYPE_F16] = moe_vd_f16_avx2;
        s->vdot[MOE_TYPE_BF16] = moe_vd_bf16_avx2;
        s->vdot[MOE_TYPE_Q8_0] = moe_vd_q8_0_avx2;
        s->vdot[MOE_TYPE_Q4_0] = moe_vd_q4_0_avx2;
        s->vdot[MOE_TYPE_Q4_1] = moe_vd_q4_1_avx2;
        s->vdot[MOE_TYPE_Q4_K] = moe_vd_q4_K_avx2;
        s->vdot[MOE_TYPE_Q5_K] = moe_vd_q5_K_avx2;
        s->vdot[MOE_TYPE_Q6_K] = moe_vd_q6_K_avx2;
        s->vdot[MOE_TYPE_Q2_K] = moe_vd_q2_K_avx2;
        s->vdot[MOE_TYPE_Q3_K] = moe_vd_q3_K_avx2;
        s->vdot[MOE_TYPE_IQ4_XS] = moe_vd_iq4_xs_avx2;
        s->vdot[MOE_TYPE_Q5_0] = moe_vd_q5_0_avx2;
        s->vdot[MOE_TYPE_Q5_1] = moe_vd_q5_1_avx2;
        s->vdot[MOE_TYPE_IQ4_NL] = moe_vd_iq4_nl_avx2;
        s->vdot[MOE_TYPE_MXFP4] = moe_vd_mxfp4_avx2;
        s->mmq[MOE_TYPE_F16] = moe_mmq_f16_avx2;
        s->mmq[MOE_TYPE_BF16] = moe_mmq_bf16_avx2;
        s->mmq[MOE_TYPE_Q8_0] = moe_mmq_q8_0_avx2;
        s->mmq[MOE_TYPE_Q4_0] = moe_mmq_q4_0_avx2;
        s->mmq[MOE_TYPE_Q4_1] = moe_mmq_q4_1_avx2;
        s->mmq[MOE_TYPE_Q4_K] = moe_mmq_q4_K_avx2;
        s->mmq[MOE_TYPE_Q5_K] = moe_mmq_q5_K_avx2;
        s->mmq[MOE_TYPE_Q6_K] = moe_mmq_q6_K_avx2;
        s->mmq[MOE_TYPE_Q2_K] = moe_mmq_q2_K_avx2;
        s->mmq[MOE_TYPE_Q3_K] = moe_mmq_q3_K_avx2;
        s->mmq[MOE_TYPE_IQ4_XS] = moe_mmq_iq4_xs_avx2;
        s->mmq[MOE_TYPE_Q5_0] = moe_mmq_q5_0_avx2;
        s->mmq[MOE_TYPE_Q5_1] = moe_mmq_q5_1_avx2;
        s->mmq[MOE_TYPE_IQ4_NL] = moe_mmq_iq4_nl_avx2;
        s->mmq[MOE_TYPE_MXFP4] = moe_mmq_mxfp4_avx2;
        s->features = "avx2 fma f16c";
        best_level = 1;
    }
    avx512_impl = simd_impl;
    if (best_level == 1 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("bmi2")) {
        moe_impl *v = &avx512_impl;
        v->vdot[MOE_TYPE_MXFP4] = moe_vd_mxfp4_avx512;
        v->vdot[MOE_TYPE_Q4_K] = moe_vd_q4_K_avx512;
        v->mmq[MOE_TYPE_MXFP4] = moe_mmq_mxfp4_amx; // AMX tiles where they run, else moe_mmq_mxfp4_avx512
        v->mmq[MOE_TYPE_Q4_K] = moe_mmq_q4_K_avx512;
        v->vdot[MOE_TYPE_Q8_0] = moe_vd_q8_0_avx512;
        v->mmq[MOE_TYPE_Q8_0] = moe_mmq_q8_0_amx; // AMX tiles where they run, else moe_mmq_q8_0_avx512
        v->vdot[MOE_TYPE_Q4_0] = moe_vd_q4_0_avx512;
        v->mmq[MOE_TYPE_Q4_0] = moe_mmq_q4_0_amx; // AMX tiles where they run, else moe_mmq_q4_0_avx512
        v->vdot[MOE_TYPE_Q6_K] = moe_vd_q6_K_avx512;
        v->mmq[MOE_TYPE_Q6_K] = moe_mmq_q6_K_avx512;
        v->vdot[MOE_TYPE_Q3_K] = moe_vd_q3_K_avx512;
        v->mmq[MOE_TYPE_Q3_K] = moe_mmq_q3_K_avx512;
        v->vdot[MOE_TYPE_IQ4_XS] = moe_vd_iq4_xs_avx512;
        v->mmq[MOE_TYPE_IQ4_XS] = moe_mmq_iq4_xs_avx512;
        v->features = "avx512 vnni (q4_0, q8_0, mxfp4, q4_K, q6_K, q3_K, iq4_xs) avx2 fma f16c";
        best_level = 2;
        if (moe_amx_setup()) v->features = "avx512 vnni (q4_0, q8_0, mxfp4, q4_K, q6_K, q3_K, iq4_xs) amx-int8 (q4_0, mxfp4, q8_0, q4_K: batches) avx2 fma f16c";
    }
#elif MOE_NEON
    s->dq[MOE_TYPE_F16] = moe_dq_f16_neon;
    s->dq[MOE_TYPE_BF16] = moe_dq_bf16_neon;
    s->dq[MOE_TYPE_Q8_0] = moe_dq_q8_0_neon;
    s->dq[MOE_TYPE_Q4_0] = moe_dq_q4_0_neon;
    s->dot = moe_dot_f32_neon;
    s->gemm = moe_gemm_f32_neon;
    s->quant[MOE_TYPE_Q8_0] = moe_qa_q8_0_neon;
    s->quant[MOE_TYPE_Q8_1] = moe_qa_q8_1_neon;
    s->quant[MOE_TYPE_Q8_K] = moe_qa_q8_K_neon;
    s->vdot[MOE_TYPE_F32] = moe_dot_f32_neon_vd;
    s->vdot[MOE_TYPE_F16] = moe_vd_f16_neon;
    s->vdot[MOE_TYPE_BF16] = moe_vd_bf16_neon;
    s->vdot[MOE_TYPE_Q8_0] = moe_vd_q8_0_neon;
    s->vdot[MOE_TYPE_Q4_0] = moe_vd_q4_0_neon;
    s->vdot[MOE_TYPE_Q4_1] = moe_vd_q4_1_neon;
    s->vdot[MOE_TYPE_Q4_K] = moe_vd_q4_K_neon;
    s->vdot[MOE_TYPE_Q5_K] = moe_vd_q5_K_neon;
    s->vdot[MOE_TYPE_Q6_K] = moe_vd_q6_K_neon;
    s->vdot[MOE_TYPE_Q2_K] = moe_vd_q2_K_neon;
    s->vdot[MOE_TYPE_Q3_K] = moe_vd_q3_K_neon;
    s->vdot[MOE_TYPE_IQ4_XS] = moe_vd_iq4_xs_neon;
    s->vdot[MOE_TYPE_Q5_0] = moe_vd_q5_0_neon;
    s->vdot[MOE_TYPE_Q5_1] = moe_vd_q5_1_neon;
    s->vdot[MOE_TYPE_IQ4_NL] = moe_vd_iq4_nl_neon;
    s->vdot[MOE_TYPE_MXFP4] = moe_vd_mxfp4_neon;
    s->features = "neon";
    best_level = 1;
    avx512_impl = simd_impl;
#else
    avx512_impl = simd_impl;
#endif
}

static inline const moe_impl *at_level(int level) {
    return level <= 0 ? &generic_impl : level == 1 ? &simd_impl : &avx512_impl;
}

static inline const moe_impl *active(void) {
    pthread_once(&impl_once, init_impls);
    return atomic_load_explicit(&force_generic, memory_order_relaxed) ? &generic_impl : at_level(best_level);
}

static inline const moe_impl *generic(void) {
    pthread_once(&impl_once, init_impls);
    return &generic_impl;
}

float moe_f16_to_f32(uint16_t h) { return moe_half_to_float(h); }
float moe_bf16_to_f32(uint16_t h) { return moe_bf16_to_float(h); }

int64_t moe_type_block_size(uint32_t t) {
    switch (t) {
    case MOE_TYPE_F32: case MOE_TYPE_F16: case MOE_TYPE_BF16: return 1;
    case MOE_TYPE_Q8_0: case MOE_TYPE_Q4_0: case MOE_TYPE_Q4_1: return 32;
    case MOE_TYPE_Q4_K: case MOE_TYPE_Q5_K: case MOE_TYPE_Q6_K: return QK_K;
    case MOE_TYPE_Q2_K: case MOE_TYPE_Q3_K: case MOE_TYPE_IQ4_XS: return QK_K;
    case MOE_TYPE_Q5_0: case MOE_TYPE_Q5_1: case MOE_TYPE_IQ4_NL: case MOE_TYPE_MXFP4: return 32;
    default: return 0;
    }
}

int64_t moe_type_block_bytes(uint32_t t) {
    switch (t) {
    case MOE_TYPE_F32: return 4;
    case MOE_TYPE_F16: case MOE_TYPE_BF16: return 2;
    case MOE_TYPE_Q8_0: return sizeof(block_q8_0);
    case MOE_TYPE_Q4_0: return sizeof(block_q4_0);
    case MOE_TYPE_Q4_1: return sizeof(block_q4_1);
    case MOE_TYPE_Q4_K: return sizeof(block_q4_K);
    case MOE_TYPE_Q5_K: return sizeof(block_q5_K);
    case MOE_TYPE_Q6_K: return sizeof(block_q6_K);
    case MOE_TYPE_Q2_K: return sizeof(block_q2_K);
    case MOE_TYPE_Q3_K: return sizeof(block_q3_K);
    case MOE_TYPE_IQ4_XS: return sizeof(block_iq4_xs);
    case MOE_TYPE_Q5_0: return sizeof(block_q5_0);
    case MOE_TYPE_Q5_1: return sizeof(block_q5_1);
    case MOE_TYPE_IQ4_NL: return sizeof(block_iq4_nl);
    case MOE_TYPE_MXFP4: return sizeof(block_mxfp4);
    default: return 0;
    }
}

static int dequant_with(const moe_impl *impl, uint32_t t, const void *src, float *dst, int64_t n) {
    const int64_t bs = moe_type_block_size(t);
    if (bs == 0 || n < 0 || n % bs != 0 || impl->dq[t] == NULL) return -1;
    if (n > 0) impl->dq[t](src, dst, n);
    return 0;
}

int moe_dequantize_row(uint32_t t, const void *src, float *dst, int64_t n) { return dequant_with(active(), t, src, dst, n); }
int moe_dequantize_row_generic(uint32_t t, const void *src, float *dst, int64_t n) { return dequant_with(generic(), t, src, dst, n); }

float moe_dot_f32(const float *a, const float *b, int64_t n) { return active()->dot(a, b, n); }

void moe_weighted_rows_f32(float *out, const float *p, const float *rows, int64_t stride, int64_t ring, int64_t first, int64_t last,
                           int64_t n) {
    active()->wsum(out, p, rows, stride, ring, first, last, n);
}

void moe_gemm_f32(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    if (M > 0 && N > 0) active()->gemm(M, N, K, W, X, Y, ldy);
}

// ---- quantized activations ----

int32_t moe_activation_type(uint32_t t) {
    switch (t) {
    case MOE_TYPE_F32: case MOE_TYPE_F16: case MOE_TYPE_BF16: return MOE_TYPE_F32;
    case MOE_TYPE_Q8_0: case MOE_TYPE_Q4_0: return MOE_TYPE_Q8_0;
    case MOE_TYPE_Q4_1: return MOE_TYPE_Q8_1;
    case MOE_TYPE_Q4_K: case MOE_TYPE_Q5_K: case MOE_TYPE_Q6_K: return MOE_TYPE_Q8_K;
    case MOE_TYPE_Q2_K: case MOE_TYPE_Q3_K: case MOE_TYPE_IQ4_XS: return MOE_TYPE_Q8_K;
    case MOE_TYPE_Q5_0: case MOE_TYPE_IQ4_NL: case MOE_TYPE_MXFP4: return MOE_TYPE_Q8_0;
    case MOE_TYPE_Q5_1: return MOE_TYPE_Q8_1;
    default: return -1;
    }
}

// Elements per block and bytes per block of an activation type; 0 for others.
static int64_t act_block_size(uint32_t a) {
    switch (a) {
    case MOE_TYPE_F32: return 1;
    case MOE_TYPE_Q8_0: case MOE_TYPE_Q8_1: return 32;
    case MOE_TYPE_Q8_K: return QK_K;
    default: return 0;
    }
}
static int64_t act_block_bytes(uint32_t a) {
    switch (a) {
    case MOE_TYPE_F32: return 4;
    case MOE_TYPE_Q8_0: return sizeof(block_q8_0);
    case MOE_TYPE_Q8_1: return sizeof(block_q8_1);
    case MOE_TYPE_Q8_K: return sizeof(block_q8_K);
    default: return 0;
    }
}

int64_t moe_activation_row_bytes(uint32_t a, int64_t n) {
    const int64_t bs = act_block_size(a);
    if (bs == 0 || n < 0 || n % bs != 0) return -1;
    return n / bs * act_block_bytes(a);
}

static int quantize_with(const moe_impl *impl, uint32_t a, const float *x, void *xq, int64_t n) {
    if (moe_activation_row_bytes(a, n) < 0) return -1;
    if (n > 0) impl->quant[a](x, xq, n);
    return 0;
}
int moe_quantize_activations(uint32_t a, const float *x, void *xq, int64_t n) { return quantize_with(active(), a, x, xq, n); }
int moe_quantize_activations_generic(uint32_t a, const float *x, void *xq, int64_t n) { return quantize_with(generic(), a, x, xq, n); }

void moe_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) { active()->quant[MOE_TYPE_Q8_0](x, y, n); }
void moe_quantize_row_q8_0_generic(const float *x, block_q8_0 *y, int64_t n) { moe_qa_q8_0_generic(x, y, n); }
void moe_quantize_row_q8_1(const float *x, block_q8_1 *y, int64_t n) { active()->quant[MOE_TYPE_Q8_1](x, y, n); }
void moe_quantize_row_q8_1_generic(const float *x, block_q8_1 *y, int64_t n) { moe_qa_q8_1_generic(x, y, n); }
void moe_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n) { active()->quant[MOE_TYPE_Q8_K](x, y, n); }
void moe_quantize_row_q8_K_generic(const float *x, block_q8_K *y, int64_t n) { moe_qa_q8_K_generic(x, y, n); }

#define VEC_DOT(name, T, XT)                                                                                  \
    float moe_vec_dot_##name(int64_t n, const void *w, const XT *x) { return active()->vdot[T](n, w, x); }     \
    float moe_vec_dot_##name##_generic(int64_t n, const void *w, const XT *x) { return generic_impl_vdot(T)(n, w, x); }
static inline moe_vdot_fn generic_impl_vdot(uint32_t t) { return generic()->vdot[t]; }
VEC_DOT(q8_0_q8_0, MOE_TYPE_Q8_0, void)
VEC_DOT(q4_0_q8_0, MOE_TYPE_Q4_0, void)
VEC_DOT(q4_1_q8_1, MOE_TYPE_Q4_1, void)
VEC_DOT(q4_K_q8_K, MOE_TYPE_Q4_K, void)
VEC_DOT(q5_K_q8_K, MOE_TYPE_Q5_K, void)
VEC_DOT(q6_K_q8_K, MOE_TYPE_Q6_K, void)
VEC_DOT(q2_K_q8_K, MOE_TYPE_Q2_K, void)
VEC_DOT(q3_K_q8_K, MOE_TYPE_Q3_K, void)
VEC_DOT(iq4_xs_q8_K, MOE_TYPE_IQ4_XS, void)
VEC_DOT(q5_0_q8_0, MOE_TYPE_Q5_0, void)
VEC_DOT(q5_1_q8_1, MOE_TYPE_Q5_1, void)
VEC_DOT(iq4_nl_q8_0, MOE_TYPE_IQ4_NL, void)
VEC_DOT(mxfp4_q8_0, MOE_TYPE_MXFP4, void)
VEC_DOT(f16_f32, MOE_TYPE_F16, float)
VEC_DOT(bf16_f32, MOE_TYPE_BF16, float)
#undef VEC_DOT

static int vec_dot_with(const moe_impl *impl, uint32_t t, int64_t n, const void *w, const void *x, float *out) {
    const int64_t bs = moe_type_block_size(t);
    if (moe_activation_type(t) < 0 || bs == 0 || n < 0 || n % bs != 0) return -1;
    *out = impl->vdot[t](n, w, x);
    return 0;
}
int moe_vec_dot(uint32_t t, int64_t n, const void *w, const void *x, float *out) { return vec_dot_with(active(), t, n, w, x, out); }
int moe_vec_dot_generic(uint32_t t, int64_t n, const void *w, const void *x, float *out) { return vec_dot_with(generic(), t, n, w, x, out); }

static int matmul_with(const moe_impl *impl, uint32_t t, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes,
                       const void *Xq, float *Y, int64_t ldy) {
    const int32_t a = moe_activation_type(t);
    const int64_t bs = moe_type_block_size(t);
    if (a < 0 || bs == 0 || M < 0 || N < 0 || K < 0 || K % bs != 0 || ldy < M) return -1;
    const int64_t wBytes = K / bs * moe_type_block_bytes(t);
    if ((int64_t)rowBytes < wBytes) return -1;
    if (M == 0 || N == 0) return 0;
    const size_t xBytes = (size_t)moe_activation_row_bytes((uint32_t)a, K);
    if (t == MOE_TYPE_F32 && (int64_t)rowBytes == wBytes) {
        impl->gemm(M, N, K, W, Xq, Y, ldy);
    } else if (impl->mmq[t] != NULL) {
        impl->mmq[t](M, N, K, W, rowBytes, Xq, xBytes, Y, ldy);
    } else {
        moe_mmq_by_dots(impl->vdot[t], M, N, K, W, rowBytes, Xq, xBytes, Y, ldy);
    }
    return 0;
}
int moe_matmul_q(uint32_t t, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes, const void *Xq, float *Y, int64_t ldy) {
    return matmul_with(active(), t, M, N, K, W, rowBytes, Xq, Y, ldy);
}
int moe_matmul_q_generic(uint32_t t, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes, const void *Xq, float *Y, int64_t ldy) {
    return matmul_with(generic(), t, M, N, K, W, rowBytes, Xq, Y, ldy);
}

int moe_kernels_best_level(void) {
    pthread_once(&impl_once, init_impls);
    return best_level;
}
const char *moe_kernels_level_features(int level) {
    pthread_once(&impl_once, init_impls);
    return level < 0 || level > best_level ? NULL : at_level(level)->features;
}
int moe_vec_dot_level(int level, uint32_t t, int64_t n, const void *w, const void *x, float *out) {
    if (level < 0 || level > moe_kernels_best_level()) return -1;
    return vec_dot_with(at_level(level), t, n, w, x, out);
}
int moe_matmul_q_level(int level, uint32_t t, int64_t M, int64_t N, int64_t K, const void *W, size_t rowBytes, const void *Xq,
                       float *Y, int64_t ldy) {
    if (level < 0 || level > moe_kernels_best_level()) return -1;
    return matmul_with(at_level(level), t, M, N, K, W, rowBytes, Xq, Y, ldy);
}

void moe_kernels_force_generic(int on) { atomic_store(&force_generic, on != 0); }
int moe_kernels_simd_active(void) { return active() != &generic_impl && simd_impl.gemm != generic_impl.gemm; }
const char *moe_kernels_features(void) { return active()->features; }

// ---- per-thread scratch: a pthread key frees the buffers when the thread exits ----
enum { SCRATCH_SLOTS = 4 };
typedef struct { void *p[SCRATCH_SLOTS]; size_t bytes[SCRATCH_SLOTS]; } scratch_set;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch_set *scratch_tls;

static void scratch_free(void *v) {
    scratch_set *s = v;
    for (int i = 0; i < SCRATCH_SLOTS; i++) free(s->p[i]);
    free(s);
}
static void scratch_make_key(void) { pthread_key_create(&scratch_key, scratch_free); }

void *moe_thread_scratch(int slot, size_t bytes) {
    if (slot < 0 || slot >= SCRATCH_SLOTS) return NULL;
    scratch_set *s = scratch_tls;
    if (s == NULL) {
        pthread_once(&scratch_once, scratch_make_key);
        s = calloc(1, sizeof *s);
        if (s == NULL) return NULL;
        pthread_setspecific(scratch_key, s);
        scratch_tls = s;
    }
    if (s->bytes[slot] < bytes || s->p[slot] == NULL) {
        size_t want = s->bytes[slot] * 2 > bytes ? s->bytes[slot] * 2 : bytes;
        want = (want + 63) & ~(size_t)63;
        if (want == 0) want = 64;
        void *p = NULL;
        if (posix_memalign(&p, 64, want) != 0) return NULL;
        free(s->p[slot]);
        s->p[slot] = p;
        s->bytes[slot] = want;
    }
    return s->p[slot];
}
