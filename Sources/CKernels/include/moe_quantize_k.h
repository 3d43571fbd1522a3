// float32 → Q6_K super-blocks (256 elements: 16 sub-blocks of 16 with int8 scales under one f16 scale), as
// ggml's quantize_row_q6_K_ref (no weights: the bytes llama-quantize writes without an importance matrix)
// and quantize_row_q6_K_impl (with per-element importance weights, llama-quantize --imatrix).
// llama-quantize stores the output head of its Q4_0/Q4_1 files in Q6_K; so does moe-quantize.
#pragma once
#include <stdint.h>
#include "moe_blocks.h"

#ifdef __cplusplus
extern "C" {
#endif

// n floats (a multiple of 256) → n / 256 blocks. `w`: NULL, or n importance weights (one per element;
// a matrix passes the same row of column weights for every row).
void moe_quantize_q6_K(const float *x, block_q6_K *dst, int64_t n, const float *w);

#ifdef __cplusplus
}
#endif
