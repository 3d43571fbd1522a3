// A small C API over liburing (Debian: liburing-dev) for the expert cache's reads (MoEStore/Offload/UringReads):
// many reads in flight from the compute thread, without a thread per read. liburing.h is included only by
// uring.c: it defines glibc feature macros (_XOPEN_SOURCE, _GNU_SOURCE) that change system structs such as
// fd_set, so a Clang module importing it directly conflicts with Dispatch's view of the same headers in debug
// builds. Here only opaque handles and fixed-width integers cross.
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct moe_uring moe_uring;

// A ring of `depth` entries; NULL where this kernel or process may not use io_uring (old kernel, seccomp,
// io_uring_disabled) or on another platform.
moe_uring *moe_uring_create(unsigned depth);
void moe_uring_destroy(moe_uring *ring);
// Registers `count` buffers (bases[i], lengths[i]) for fixed reads; 0, or -errno where the kernel refuses.
int moe_uring_register_buffers(moe_uring *ring, void *const *bases, const size_t *lengths, unsigned count);
// Queues a read of `length` bytes at `offset` of `fd` into `dst`, from registered buffer `buffer` (-1: a plain
// read), tagged `tag`. 0, or -1 when the submission queue is full.
int moe_uring_queue_read(moe_uring *ring, int fd, void *dst, unsigned length, uint64_t offset, int buffer, uint64_t tag);
// Hands the queued reads to the kernel (retrying EINTR): how many it took, or -errno.
int moe_uring_submit(moe_uring *ring);
// The next completion: with `wait`, blocks until one exists (retrying EINTR). 1 with *tag and *result (bytes
// read or -errno) set, 0 when none is ready (without `wait`), or -errno.
int moe_uring_next(moe_uring *ring, int wait, uint64_t *tag, int32_t *result);

#ifdef __cplusplus
}
#endif
