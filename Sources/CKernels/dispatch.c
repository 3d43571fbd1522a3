// Entry points: choose once between the generic code and the SIMD code this CPU supports,
// then forward. Also per-thread scratch buffers.
#include "moe_internal.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

typedef float (*moe_dot_fn)(const float *, const float *, int64_t);
typedef void (*moe_gemm_fn)(int64_t, int64_t, int64_t, const float *, const float *, float *, int64_t);

typedef struct {
    moe_dequant_fn dq[MOE_TYPE_BF16 + 1]; // indexed by ggml type; NULL = unsupported
    moe_dot_fn dot;
    moe_gemm_fn gemm;
    const char *features;
} moe_impl;

static moe_impl generic_impl, simd_impl;
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
    g->dot = moe_dot_f32_generic;
    g->gemm = moe_gemm_f32_generic;
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
        s->dot = moe_dot_f32_avx2;
        s->gemm = moe_gemm_f32_avx2;
        s->features = "avx2 fma f16c";
    }
#elif MOE_NEON
    s->dq[MOE_TYPE_F16] = moe_dq_f16_neon;
    s->dq[MOE_TYPE_BF16] = moe_dq_bf16_neon;
    s->dq[MOE_TYPE_Q8_0] = moe_dq_q8_0_neon;
    s->dq[MOE_TYPE_Q4_0] = moe_dq_q4_0_neon;
    s->dot = moe_dot_f32_neon;
    s->gemm = moe_gemm_f32_neon;
    s->features = "neon";
#endif
}

static inline const moe_impl *active(void) {
    pthread_once(&impl_once, init_impls);
    return atomic_load_explicit(&force_generic, memory_order_relaxed) ? &generic_impl : &simd_impl;
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

void moe_gemm_f32(int64_t M, int64_t N, int64_t K, const float *W, const float *X, float *Y, int64_t ldy) {
    if (M > 0 && N > 0) active()->gemm(M, N, K, W, X, Y, ldy);
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
