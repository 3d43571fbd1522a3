// See moe_gptq.h.
#include <math.h>
#include <string.h>
#include "moe_gptq.h"
#include "moe_kernels.h"
#include "moe_quantize.h"
#include "moe_quantize_k.h"

// No fused multiply-add, so that the bytes do not depend on the CPU or the compiler.
#pragma STDC FP_CONTRACT OFF

enum { T_Q4_0 = 2, T_Q4_1 = 3, T_Q8_0 = 8 };

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

// The stored value closest to x with the block's stored scale d (and minimum m), and its code.
static inline float nearest(int type, float x, float d, float m, int *code) {
    if (d == 0.0f) {
        *code = type == T_Q4_0 ? 8 : 0;
        return type == T_Q4_1 ? m : 0.0f;
    }
    switch (type) {
    case T_Q4_0: { int q = clampi((int)lrintf(x / d), -8, 7); *code = q + 8; return d * (float)q; }
    case T_Q4_1: { int q = clampi((int)lrintf((x - m) / d), 0, 15); *code = q; return d * (float)q + m; }
    default: { int q = clampi((int)lrintf(x / d), -127, 127); *code = q; return d * (float)q; }
    }
}

int moe_gptq_row(int type, float *w, int64_t cols, const float *U, const float *hdiag, void *dst, int effort) {
    switch (type) {
    case MOE_TYPE_Q2_K: case MOE_TYPE_Q3_K: case MOE_TYPE_Q4_K: case MOE_TYPE_Q5_K: case MOE_TYPE_Q6_K:
    case MOE_TYPE_Q5_0: case MOE_TYPE_Q5_1: case MOE_TYPE_MXFP4:
        return moe_gptq_row_kquant(type, w, cols, U, hdiag, dst, effort);
    default: break;
    }
    if ((type != T_Q4_0 && type != T_Q4_1 && type != T_Q8_0) || cols % 32 != 0) return -1;
    for (int64_t b = 0; b < cols / 32; b++) {
        const int64_t c0 = b * 32;
        // The block's stored scale (and minimum), chosen from the weights as updated so far.
        float d, m = 0.0f;
        int codes[32];
        uint8_t *blk;
        switch (type) {
        case T_Q4_0: {
            block_q4_0 *y = (block_q4_0 *)dst + b;
            if (moe_quantize_opt(type, w + c0, y, 32, hdiag + c0, effort) != 0) return -1;
            d = moe_f16_to_f32(y->d);
            blk = (uint8_t *)y;
            break;
        }
        case T_Q4_1: {
            block_q4_1 *y = (block_q4_1 *)dst + b;
            if (moe_quantize_opt(type, w + c0, y, 32, hdiag + c0, effort) != 0) return -1;
            d = moe_f16_to_f32(y->d);
            m = moe_f16_to_f32(y->m);
            blk = (uint8_t *)y;
            break;
        }
        default: {
            block_q8_0 *y = (block_q8_0 *)dst + b;
            if (moe_quantize_opt(type, w + c0, y, 32, hdiag + c0, effort) != 0) return -1;
            d = moe_f16_to_f32(y->d);
            blk = (uint8_t *)y;
            break;
        }
        }
        (void)blk;
        // Round one column at a time and push its error onto every later column of the row.
        for (int j = 0; j < 32; j++) {
            const int64_t i = c0 + j;
            const float q = nearest(type, w[i], d, m, &codes[j]);
            const float *u = U + i * cols;
            const float e = (w[i] - q) / u[i];
            for (int64_t k = i + 1; k < cols; k++) w[k] -= e * u[k];
            w[i] = q;
        }
        switch (type) {
        case T_Q4_0: {
            block_q4_0 *y = (block_q4_0 *)dst + b;
            for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(codes[j] | (codes[j + 16] << 4));
            break;
        }
        case T_Q4_1: {
            block_q4_1 *y = (block_q4_1 *)dst + b;
            for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(codes[j] | (codes[j + 16] << 4));
            break;
        }
        default: {
            block_q8_0 *y = (block_q8_0 *)dst + b;
            for (int j = 0; j < 32; j++) y->qs[j] = (int8_t)codes[j];
            break;
        }
        }
    }
    return 0;
}

void moe_accumulate_xxt(double *c, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const double xi = x[i];
        if (xi == 0.0) continue;
        double *row = c + i * n;
        for (int64_t j = i; j < n; j++) row[j] += xi * (double)x[j];
    }
}
