// float32 → ggml storage types, round-to-nearest, bit for bit as ggml's reference code:
// quantize_row_q8_0_ref, quantize_row_q4_0_ref, quantize_row_q4_1_ref (ggml-quants.c; what llama-quantize
// runs without an importance matrix) and ggml's fp32 → fp16 / bf16 conversions. One scalar code path on
// every CPU (the compiler may vectorize it; results do not change). Inputs must be finite.
#pragma once
#include <stdint.h>
#include "moe_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

// IEEE binary16 bits of x, round to nearest even (GGML_FP32_TO_FP16).
uint16_t moe_f32_to_f16(float x);
// bfloat16 bits of x, round to nearest even; NaN stays a quiet NaN (ggml_compute_fp32_to_bf16).
uint16_t moe_f32_to_bf16(float x);

// n floats (a multiple of 32 for the block types) → n / 32 blocks at dst.
void moe_quantize_ref_q8_0(const float *x, block_q8_0 *dst, int64_t n);
void moe_quantize_ref_q4_0(const float *x, block_q4_0 *dst, int64_t n);
void moe_quantize_ref_q4_1(const float *x, block_q4_1 *dst, int64_t n);
// n floats → n half / bfloat16 values.
void moe_convert_row_f16(const float *x, uint16_t *dst, int64_t n);
void moe_convert_row_bf16(const float *x, uint16_t *dst, int64_t n);

#ifdef __cplusplus
}
#endif
