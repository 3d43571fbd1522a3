// Seeded normal random numbers for synthetic weights (moe-synth). One scalar code path on every CPU, no
// libm and no fused multiply-add, so the bits are the same on every machine.
#pragma once
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// SplitMix64's output function.
uint64_t moe_mix64(uint64_t x);

// out[0 ..< n] = mean + std · N(0, 1), each rounded to the nearest bfloat16 (kept as float32), from the
// SplitMix64 stream with state `key`: output k of the stream is mix64(key + (k+1)·γ). Outputs are taken in
// chunks of 64; output 128c + j and 128c + 64 + j (j < 64) are the Box–Muller pair of stream output 64c + j.
void moe_normal_bf16(uint64_t key, float mean, float std, float *out, int64_t n);

#ifdef __cplusplus
}
#endif
