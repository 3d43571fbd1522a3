// Small helpers for the Swift thread pool (MoEKernels/ThreadPool.swift).
#pragma once
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

// One spin-wait hint: PAUSE on x86 (lets the sibling hyperthread run, saves power), YIELD on ARM.
static inline void moe_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    _mm_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}
