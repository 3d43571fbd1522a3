// ggml's reference quantizers (ggml-quants.c, *_ref), transcribed: same arithmetic, same order, so the
// same bytes as llama-quantize. See moe_quantize.h.
#include <float.h>
#include <math.h>
#include <string.h>
#include "moe_quantize.h"
#include "moe_quant.h"

// No fused multiply-add: the bytes must not depend on the CPU or compiler (ggml's code has none either).
#pragma STDC FP_CONTRACT OFF

static inline uint32_t bits_of(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float float_of(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

// ggml_compute_fp32_to_fp16 (the portable version; F16C gives the same bits): round to nearest even,
// subnormals included, overflow to infinity, NaN to a quiet NaN.
uint16_t moe_f32_to_f16(float f) {
    const float scale_to_inf = 0x1.0p+112f;
    const float scale_to_zero = 0x1.0p-110f;
    float base = (fabsf(f) * scale_to_inf) * scale_to_zero;
    const uint32_t w = bits_of(f);
    const uint32_t shl1_w = w + w;
    const uint32_t sign = w & UINT32_C(0x80000000);
    uint32_t bias = shl1_w & UINT32_C(0xFF000000);
    if (bias < UINT32_C(0x71000000)) bias = UINT32_C(0x71000000);
    base = float_of((bias >> 1) + UINT32_C(0x07800000)) + base;
    const uint32_t bits = bits_of(base);
    const uint32_t exp_bits = (bits >> 13) & UINT32_C(0x00007C00);
    const uint32_t mantissa_bits = bits & UINT32_C(0x00000FFF);
    const uint32_t nonsign = exp_bits + mantissa_bits;
    return (uint16_t)((sign >> 16) | (shl1_w > UINT32_C(0xFF000000) ? UINT16_C(0x7E00) : nonsign));
}

uint16_t moe_f32_to_bf16(float s) {
    const uint32_t u = bits_of(s);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64); // NaN: force quiet
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}

// Q8_0 weights are quantized exactly as Q8_0 activations are (ggml uses one function for both):
// the scalar reference of moe_quant.h.
void moe_quantize_ref_q8_0(const float *x, block_q8_0 *y, int64_t k) { moe_quantize_row_q8_0_generic(x, y, k); }

void moe_quantize_ref_q4_0(const float *x, block_q4_0 *y, int64_t k) {
    const int qk = QK4_0;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; i++) {
        // ggml: `if (amax < fabsf(v)) { amax = fabsf(v); max = v; }` over j, i.e. max = the first element of
        // largest magnitude. Found in two passes here, so that the first one vectorizes.
        float amax = 0.0f; // absolute max
        for (int j = 0; j < qk; j++) {
            const float a = fabsf(x[i * qk + j]);
            amax = amax < a ? a : amax;
        }
        float max = 0.0f; // stays +0 for a block of zeros, as in ggml
        for (int j = 0; j < qk && amax > 0; j++) {
            if (fabsf(x[i * qk + j]) == amax) {
                max = x[i * qk + j];
                break;
            }
        }
        const float d = max / -8;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = moe_f32_to_f16(d);
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = x[i * qk + 0 + j] * id;
            const float x1 = x[i * qk + qk / 2 + j] * id;
            const int8_t t0 = (int8_t)(x0 + 8.5f), t1 = (int8_t)(x1 + 8.5f);
            const uint8_t xi0 = (uint8_t)(t0 < 15 ? t0 : 15);
            const uint8_t xi1 = (uint8_t)(t1 < 15 ? t1 : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void moe_quantize_ref_q4_1(const float *x, block_q4_1 *y, int64_t k) {
    const int qk = QK4_1;
    const int64_t nb = k / qk;
    for (int64_t i = 0; i < nb; i++) {
        float min = FLT_MAX;
        float max = -FLT_MAX;
        for (int j = 0; j < qk; j++) {
            const float v = x[i * qk + j];
            if (v < min) min = v;
            if (v > max) max = v;
        }
        const float d = (max - min) / ((1 << 4) - 1);
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[i].d = moe_f32_to_f16(d);
        y[i].m = moe_f32_to_f16(min);
        for (int j = 0; j < qk / 2; ++j) {
            const float x0 = (x[i * qk + 0 + j] - min) * id;
            const float x1 = (x[i * qk + qk / 2 + j] - min) * id;
            const int8_t t0 = (int8_t)(x0 + 0.5f), t1 = (int8_t)(x1 + 0.5f);
            const uint8_t xi0 = (uint8_t)(t0 < 15 ? t0 : 15);
            const uint8_t xi1 = (uint8_t)(t1 < 15 ? t1 : 15);
            y[i].qs[j] = (uint8_t)(xi0 | (xi1 << 4));
        }
    }
}

void moe_convert_row_f16(const float *x, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = moe_f32_to_f16(x[i]);
}

void moe_convert_row_bf16(const float *x, uint16_t *dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = moe_f32_to_bf16(x[i]);
}
