// Cross-check of the dispatched (SIMD) quantized kernels against the generic ones, in C, so that the
// NEON code can be run under qemu-aarch64 on an x86 machine (Tools/scripts/neon-check.sh); it also
// runs natively. Exit status 0 when: the quantizers give the generic bytes, every matmul output
// equals its dot product (tile = dot, both paths), and SIMD dots are within 1e-4 of the generic
// ones relative to Σ|w·x| (a loose check; the Swift tests hold the exact bounds).
#include "moe_quant.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
static uint64_t st = 88172645463325252ull;
static uint64_t rnd(void){ st ^= st << 13; st ^= st >> 7; st ^= st << 17; return st; }
static float frand(void){ return (float)((rnd() >> 11) * (1.0/9007199254740992.0)) * 2.0f - 1.0f; }
static uint16_t f2h(float f){ _Float16 h = (_Float16)f; uint16_t u; memcpy(&u,&h,2); return u; }
static void fill_w(uint32_t t, uint8_t *p, int64_t nblk) {
  int64_t bb = moe_type_block_bytes(t);
  for (int64_t i = 0; i < nblk*bb; i++) p[i] = (uint8_t)rnd();
  for (int64_t b = 0; b < nblk; b++) {
    uint8_t *q = p + b*bb; uint16_t h;
    switch (t) {
      case MOE_TYPE_Q8_0: case MOE_TYPE_Q4_0: h = f2h(frand()*0.1f); memcpy(q,&h,2); break;
      case MOE_TYPE_Q4_1: case MOE_TYPE_Q4_K: case MOE_TYPE_Q5_K: h = f2h(frand()*0.1f); memcpy(q,&h,2); h = f2h(frand()*0.1f); memcpy(q+2,&h,2); break;
      case MOE_TYPE_Q6_K: h = f2h(frand()*0.1f); memcpy(q+bb-2,&h,2); break;
      case MOE_TYPE_Q2_K: h = f2h(frand()*0.1f); memcpy(q+80,&h,2); h = f2h(frand()*0.1f); memcpy(q+82,&h,2); break;
      case MOE_TYPE_Q3_K: h = f2h(frand()*0.1f); memcpy(q+bb-2,&h,2); break;
      case MOE_TYPE_IQ4_XS: h = f2h(frand()*0.1f); memcpy(q,&h,2); break;
      case MOE_TYPE_F16: h = f2h(frand()); memcpy(q,&h,2); break;
      case MOE_TYPE_BF16: { float f = frand(); uint32_t u; memcpy(&u,&f,4); h = u>>16; memcpy(q,&h,2); } break;
      case MOE_TYPE_F32: { float f = frand(); memcpy(q,&f,4); } break;
      case MOE_TYPE_Q5_0: case MOE_TYPE_IQ4_NL: h = f2h(frand()*0.1f); memcpy(q,&h,2); break;
      case MOE_TYPE_Q5_1: h = f2h(frand()*0.1f); memcpy(q,&h,2); h = f2h(frand()*0.1f); memcpy(q+2,&h,2); break;
      case MOE_TYPE_MXFP4: q[0] = (uint8_t)(116 + rnd() % 12); break; // E8M0: scales 2^-12 .. 2^-1
    }
  }
}
int main(void) {
  int fails = 0;
  // quantizers bit-exact
  uint32_t acts[3] = {MOE_TYPE_Q8_0, MOE_TYPE_Q8_1, MOE_TYPE_Q8_K};
  for (int a = 0; a < 3; a++) for (int rep = 0; rep < 50; rep++) {
    int64_t n = 256*8; float *x = malloc(n*4);
    for (int i = 0; i < n; i++) x[i] = frand() * (rep % 5 == 0 ? 1e-3f : 3.0f);
    if (rep % 7 == 1) for (int i = 0; i < 300; i++) x[i] = 0;
    if (rep % 7 == 2) for (int i = 0; i < n; i++) x[i] = (float)((int)(frand()*20)) * 0.5f; // ties
    int64_t rb = moe_activation_row_bytes(acts[a], n);
    uint8_t *q1 = calloc(rb,1), *q2 = calloc(rb,1);
    moe_quantize_activations(acts[a], x, q1, n); moe_quantize_activations_generic(acts[a], x, q2, n);
    if (memcmp(q1,q2,rb)) { fails++; printf("quant %u rep %d differs\n", acts[a], rep); }
    free(x); free(q1); free(q2);
  }
  uint32_t types[] = {MOE_TYPE_Q8_0, MOE_TYPE_Q4_0, MOE_TYPE_Q4_1, MOE_TYPE_Q4_K, MOE_TYPE_Q5_K, MOE_TYPE_Q6_K, MOE_TYPE_F16, MOE_TYPE_BF16, MOE_TYPE_F32,
                     MOE_TYPE_Q2_K, MOE_TYPE_Q3_K, MOE_TYPE_IQ4_XS,
                     MOE_TYPE_Q5_0, MOE_TYPE_Q5_1, MOE_TYPE_IQ4_NL, MOE_TYPE_MXFP4};
  for (int ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++) {
    uint32_t t = types[ti]; int32_t a = moe_activation_type(t);
    int64_t bs = moe_type_block_size(t); int64_t K = (bs == 1 ? 256 : bs) * 16;
    int64_t M = 7, N = 5; int64_t rowB = K/bs*moe_type_block_bytes(t);
    uint8_t *W = malloc(M*rowB); fill_w(t, W, M*K/bs);
    float *x = malloc(N*K*4); for (int i = 0; i < N*K; i++) x[i] = frand();
    int64_t xb = moe_activation_row_bytes(a, K); uint8_t *xq = malloc(N*xb);
    moe_quantize_activations(a, x, xq, N*K);
    float Y1[64], Y2[64]; double worst = 0; int bitdiff = 0;
    float *wf = malloc(M*K*4); moe_dequantize_row_generic(t, W, wf, M*K);
    if (moe_matmul_q(t, M, N, K, W, rowB, xq, Y1, M) || moe_matmul_q_generic(t, M, N, K, W, rowB, xq, Y2, M)) { printf("err\n"); fails++; }
    for (int j = 0; j < N; j++) for (int i = 0; i < M; i++) {
      float d1, d2; moe_vec_dot(t, K, W + i*rowB, xq + j*xb, &d1); moe_vec_dot_generic(t, K, W+i*rowB, xq+j*xb, &d2);
      if (t != MOE_TYPE_F32 && memcmp(&d1, &Y1[j*M+i], 4)) bitdiff++;
      double mag = 1e-30; for (int64_t k = 0; k < K; k++) mag += fabs((double)wf[i*K+k] * x[j*K+k]);
      double e = fabs(Y1[j*M+i] - Y2[j*M+i]) / mag;
      if (e > worst) worst = e;
      if (fabs(d2 - Y2[j*M+i]) > 0) bitdiff += 1000;
    }
    printf("type %2u: simd vs generic %.3g of sum |w x|, tile-vs-dot mismatches %d\n", t, worst, bitdiff);
    if (worst > 1e-4 || bitdiff) fails++;
    free(W); free(x); free(xq); free(wf);
  }
  // dequantization: dispatched = generic, bit for bit
  uint32_t dqt[] = {MOE_TYPE_Q8_0, MOE_TYPE_Q4_0, MOE_TYPE_Q4_1, MOE_TYPE_Q4_K, MOE_TYPE_Q5_K, MOE_TYPE_Q6_K,
                    MOE_TYPE_Q5_0, MOE_TYPE_Q5_1, MOE_TYPE_IQ4_NL, MOE_TYPE_MXFP4};
  for (int ti = 0; ti < (int)(sizeof dqt / sizeof dqt[0]); ti++) {
    uint32_t t = dqt[ti]; int64_t bs = moe_type_block_size(t), nblk = 4096 / bs, n = nblk * bs;
    uint8_t *W = malloc(nblk * moe_type_block_bytes(t)); fill_w(t, W, nblk);
    float *a = malloc(n*4), *b = malloc(n*4);
    if (moe_dequantize_row(t, W, a, n) || moe_dequantize_row_generic(t, W, b, n) || memcmp(a, b, n*4)) { printf("dequant %u differs\n", t); fails++; }
    free(W); free(a); free(b);
  }
  printf("features %s: %d failures\n", moe_kernels_features(), fails);
  return fails != 0;
}
