// See moe_uring.h.
#include "moe_uring.h"

#if defined(__linux__)
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <liburing.h>

struct moe_uring { struct io_uring ring; };

moe_uring *moe_uring_create(unsigned depth) {
    moe_uring *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    if (io_uring_queue_init(depth, &r->ring, 0) != 0) { free(r); return NULL; }
    return r;
}

void moe_uring_destroy(moe_uring *r) {
    if (!r) return;
    io_uring_queue_exit(&r->ring);
    free(r);
}

int moe_uring_register_buffers(moe_uring *r, void *const *bases, const size_t *lengths, unsigned count) {
    struct iovec *v = calloc(count ? count : 1, sizeof *v);
    if (!v) return -ENOMEM;
    for (unsigned i = 0; i < count; i++) { v[i].iov_base = bases[i]; v[i].iov_len = lengths[i]; }
    const int rc = io_uring_register_buffers(&r->ring, v, count);
    free(v);
    return rc;
}

int moe_uring_queue_read(moe_uring *r, int fd, void *dst, unsigned length, uint64_t offset, int buffer, uint64_t tag) {
    struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);
    if (!sqe) return -1;
    if (buffer >= 0) io_uring_prep_read_fixed(sqe, fd, dst, length, offset, buffer);
    else io_uring_prep_read(sqe, fd, dst, length, offset);
    io_uring_sqe_set_data64(sqe, tag);
    return 0;
}

int moe_uring_submit(moe_uring *r) {
    int rc;
    do { rc = io_uring_submit(&r->ring); } while (rc == -EINTR);
    return rc;
}

int moe_uring_next(moe_uring *r, int wait, uint64_t *tag, int32_t *result) {
    struct io_uring_cqe *cqe = NULL;
    int rc;
    if (wait) {
        do { rc = io_uring_wait_cqe(&r->ring, &cqe); } while (rc == -EINTR);
    } else {
        rc = io_uring_peek_cqe(&r->ring, &cqe);
        if (rc == -EAGAIN) return 0;
    }
    if (rc != 0) return rc;
    if (!cqe) return 0;
    *tag = io_uring_cqe_get_data64(cqe);
    *result = cqe->res;
    io_uring_cqe_seen(&r->ring, cqe);
    return 1;
}

#else
moe_uring *moe_uring_create(unsigned depth) { (void)depth; return NULL; }
void moe_uring_destroy(moe_uring *r) { (void)r; }
int moe_uring_register_buffers(moe_uring *r, void *const *b, const size_t *l, unsigned c) { (void)r; (void)b; (void)l; (void)c; return -1; }
int moe_uring_queue_read(moe_uring *r, int fd, void *d, unsigned n, uint64_t o, int b, uint64_t t) { (void)r; (void)fd; (void)d; (void)n; (void)o; (void)b; (void)t; return -1; }
int moe_uring_submit(moe_uring *r) { (void)r; return -1; }
int moe_uring_next(moe_uring *r, int w, uint64_t *t, int32_t *res) { (void)r; (void)w; (void)t; (void)res; return -1; }
#endif
