// A plain streaming read, the yardstick of the matrix-vector kernels' memory bandwidth (moe-bench).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Σ of the n bytes at p, read once front to back with the widest loads the CPU has (AVX2 on x86-64):
// as fast as one core can pull memory, with next to no arithmetic per byte.
uint64_t moe_stream_sum(const void *p, size_t n);

#ifdef __cplusplus
}
#endif
