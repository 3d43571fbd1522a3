// Q4_0 weights repacked 8 rows at a time ("x8") for the AVX2 level, one row per 32-bit lane.
//
// Layout, for each group of 8 rows g and each block index b (in that order, one sequential stream):
//   16 bytes: the 8 rows' f16 scales d, rows 0…7;
//   128 bytes: the codes as 4 × 32 bytes, vector v holding row r's qs[4v ..< 4v + 4] at 4r (nibbles unchanged:
//   elements 4v … 4v + 3 of the 8 rows in the low nibbles of one load, 16 + 4v … in the high ones).
// 144 bytes per (group, block): exactly the bytes of the 8 original blocks (8 × 18), reordered so that a block step
// is one scale load and four 256-bit code loads, and 4 activations broadcast to the 8 lanes meet the 8 rows' codes
// in one vpmaddubsw with no horizontal sum (nib_x8_avx2.c). Results equal moe_matmul_q (Q4_0) at the AVX2 level
// bit for bit (the _generic functions: the generic level's).
#pragma once
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

// Bytes of `rows` × `cols` Q4_0 weights (rows % 8 == 0, cols % 32 == 0) in either layout.
size_t moe_q4_0x8_bytes(int64_t rows, int64_t cols);
// Row-major Q4_0 rows (`src_row_bytes` apart) → x8 layout at dst.
void moe_repack_q4_0x8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
// y[8·g0 … 8·g1) = W x for row groups [g0, g1): W in the x8 layout (the whole matrix, `cols` wide), x one
// token as cols / 32 Q8_0 blocks (cols / 32 ≤ 1024). Bit-identical to moe_matmul_q(Q4_0, N = 1).
void moe_gemv_q4_0x8(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
// The scalar reference (same results on every CPU; moe_gemv_q4_0x8 uses AVX2 where available).
void moe_gemv_q4_0x8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
// Several tokens (N Q8_0 rows one after another): Y[t · ldy + r] for rows r of groups [g0, g1), bit for bit the
// row-major products (moe_matmul_q at the AVX2 level where the CPU has AVX2, else the generic one).
void moe_mmq_q4_0x8(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q4_0x8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);

// MXFP4 weights repacked 8 rows at a time ("x8") for the AVX2 level, as Q4_0's: per group of 8 rows g and block b,
// the 8 rows' E8M0 exponents (8 bytes, rows 0…7), then the codes as 4 × 32 bytes, vector v holding row r's
// qs[4v ..< 4v + 4] at 4r: 136 bytes, the 8 original blocks' 8 × 17. Results equal moe_matmul_q (MXFP4) at the AVX2 level where
// the CPU has AVX2 (the SIMD functions), at the generic level otherwise (the _generic ones), bit for bit.
size_t moe_mxfp4x8_bytes(int64_t rows, int64_t cols);
void moe_repack_mxfp4x8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_mxfp4x8(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_mxfp4x8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_mxfp4x8(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_mxfp4x8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);

// MXFP4 weights repacked 16 rows at a time ("x16") for the AVX-512 one-token kernel. For each group of 16 rows g
// and block b: 16 bytes, the rows' E8M0 exponents (rows 0…15), then 4 × 64 bytes of codes, quad q holding rows
// q, q + 4, q + 8, q + 12 (16 bytes each): the bytes of the 16 original blocks (16 × 17), reordered so that a block
// step is one exponent load and four code loads instead of 16 row loads and a gather. Results equal the AVX-512
// level's MXFP4 products (moe_kernels_best_level() ≥ 2) bit for bit; the generic function computes the same
// arithmetic on any CPU.
size_t moe_mxfp4x16_bytes(int64_t rows, int64_t cols);
void moe_repack_mxfp4x16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
// y[16·g0 … 16·g1) = W x; x one token as cols / 32 Q8_0 blocks.
void moe_gemv_mxfp4x16(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_mxfp4x16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
// Q4_0 the same way for the AVX-512 level (whose Q4_0 arithmetic differs from the x8 layout's AVX2 one): per group
// and block 16 f16 scales (32 bytes), then the 4 quads' codes: 288 bytes, the 16 original blocks' 16 × 18.
size_t moe_q4_0x16_bytes(int64_t rows, int64_t cols);
void moe_repack_q4_0x16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_q4_0x16(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q4_0x16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
// Several tokens on the MXFP4 and Q4_0 x16 layouts (N Q8_0 rows of cols / 32 blocks, one after another):
// Y[t · ldy + r] for rows r of groups [g0, g1), t < N; bit for bit the one-token products of each token, so a copy
// in this layout can serve prefill as well as decode and the row-major rows need not stay in memory.
void moe_mmq_q4_0x16(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q4_0x16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_mxfp4x16(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_mxfp4x16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);

// Q4_K, Q6_K, IQ4_XS and Q3_K weights repacked 16 rows at a time for the AVX-512 kernels, the bytes of the 16 original
// super-blocks reordered (no byte added), per group g and super-block b:
//   Q4_K (2,304 bytes), one row per 32-bit lane: 16 × 2 bytes d (row r at 2r), 16 × 2 bytes dmin (at 32 + 2r);
//                         the 12 scale bytes as 3 × 64 from 64: byte j of row r in vector j / 4, 256-bit half
//                         (j % 4) / 2, at 8 · (r / 4) + 4 · (j % 2) + r % 4 within it (one widening and one unpack
//                         make a sub-block's 16 rows' scales, row r in lane r); codes from 256: for chunk c (the
//                         row's qs[32c ..< 32c + 32]: sub-blocks 2c, low nibbles, and 2c + 1) and g4 < 8, 64 bytes
//                         holding row r's qs[32c + 4 g4 ..< + 4] at 4r. So one 64-byte load holds the same 4
//                         elements of the 16 rows against one broadcast of 4 activations, and no lane is summed
//                         across. Serves several tokens too (moe_mmq_q4_Kx16: the codes of a step decoded once).
//   Q6_K (3,360 bytes), one row per 32-bit lane: 16 × 2 bytes d; the 16 int8 scales from 32 (scale k of row r at
//                         32 + 16k + r); from 288, for half h and element quad lq < 8, three 64-byte vectors at
//                         288 + 192 (8h + lq) holding row r's ql[64h + 4lq ..< + 4], ql[64h + 32 + 4lq ..< + 4] and
//                         qh[32h + 4lq ..< + 4] at 4r: the 16 codes of elements 128h + 32j + 4lq + i (j, i < 4) of the
//                         16 rows. Serves several tokens too (moe_mmq_q6_Kx16).
// IQ4_XS keeps the codes in the order the one-token kernel loads them: chunk c (0 ..< 8, the row's
// qs[16c ..< 16c + 16]), then quad q = r % 4, then r / 4: 64 bytes holding rows q, q + 4, q + 8, q + 12, 16 bytes each.
//   IQ4_XS (2,176 bytes): 16 × 2 bytes d; 16 × 2 bytes scales_h (at 32 + 2r); 16 × 4 bytes scales_l (at
//                         64 + 4r); 2,048 bytes of codes from 128.
// x: one token as cols / 256 Q8_K blocks. Results equal the AVX-512 level's row-major products bit for bit;
// the generic functions compute the same arithmetic on any CPU.
size_t moe_q4_Kx16_bytes(int64_t rows, int64_t cols);
void moe_repack_q4_Kx16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_q4_Kx16(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q4_Kx16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q4_Kx16(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q4_Kx16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
size_t moe_q6_Kx16_bytes(int64_t rows, int64_t cols);
void moe_repack_q6_Kx16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_q6_Kx16(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q6_Kx16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q6_Kx16(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q6_Kx16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
// Q3_K (1,760 bytes), one row per 32-bit lane: 16 × 2 bytes d; 12 × 16 scale bytes (byte j of row r at 32 + 16j + r);
//                       from 224 the codes as the x8 layout's nibble triples (below) with 64-byte vectors: triple q at
//                       224 + 192q, row r's bytes at 4r. Serves several tokens too (moe_mmq_q3_Kx16).
size_t moe_q3_Kx16_bytes(int64_t rows, int64_t cols);
void moe_repack_q3_Kx16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_q3_Kx16(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q3_Kx16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q3_Kx16(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q3_Kx16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
size_t moe_iq4_xsx16_bytes(int64_t rows, int64_t cols);
void moe_repack_iq4_xsx16(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_iq4_xsx16(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_iq4_xsx16_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_iq4_xsx16(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_iq4_xsx16_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);


// Q3_K, Q4_K and IQ4_XS weights repacked 8 rows at a time for the AVX2 level (one token and several), the bytes of the 8 original
// super-blocks reordered (no byte added): per group g and super-block b, 880 bytes:
//   [0, 16)     the 8 rows' f16 d;
//   [16, 112)   the 12 scale bytes as 3 × 32: byte j of row r in vector j / 4, 128-bit half (j % 4) / 2, at
//               4 · (j % 2) + r % 4 + 8 · (r / 4) within it (so that the unpacked scales of a sub-block widen and
//               interleave into [row 0 … row 7] int16 pairs with one unpack);
//   [112, 880)  the codes u = q + 4 (0 … 7: the 2 low bits and the hmask bit) as 8 triples of 32-byte vectors A, B, C:
//               row r's bytes 4r + i (i < 4) of triple q hold the codes of elements 32q + 4p + i for the 8 planes p:
//               planes 0/1 in A's low/high nibble (bits 0-2 and 4-6), 2/3 in B's, 4/5 in C's; planes 6 and 7 spread
//               over the nibbles' top bits (bit 3 for plane 6, bit 7 for plane 7): A holds the code's bit 2, B bit 1,
//               C bit 0 (a triple decodes in 20 operations where 2-bit fields plus a separate hmask take 36);
// so that one 32-byte load (decoded) holds the same 4 elements of the 8 rows, one row per 32-bit lane, against one
// broadcast of 4 activations. Results equal the AVX2 level's row-major products (and the AVX-512 level's) bit for bit: per
// row and super-block the exact integer sum, then acc = fma(d_w · d_x, sum, acc). The generic functions compute the
// same arithmetic on any CPU.
// Q4_K (1,152 bytes per step): the 8 rows' d at 0 and dmin at 16; the 12 scale bytes from 32 as Q3_K's; codes from 128:
//   for chunk c (the row's qs[32c ..< 32c + 32]: sub-blocks 2c, low nibbles, and 2c + 1) and g4 = 0 ..< 8, 32 bytes
//   holding row r's qs[32c + 4 g4 ..< + 4] at 4r.
// IQ4_XS (1,088 bytes per step): d at 0; the 4 scales_l bytes from 16 as Q3_K's scale bytes 0-3; scales_h of row r at
//   48 + 2r; codes from 64: for sub-block ib and g4 = 0 ..< 4, 32 bytes holding row r's qs[16 ib + 4 g4 ..< + 4] at 4r.
// Same guarantees as Q3_K's.
size_t moe_q4_Kx8_bytes(int64_t rows, int64_t cols);
void moe_repack_q4_Kx8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_q4_Kx8(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q4_Kx8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q4_Kx8(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q4_Kx8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
size_t moe_iq4_xsx8_bytes(int64_t rows, int64_t cols);
void moe_repack_iq4_xsx8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_iq4_xsx8(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_iq4_xsx8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_iq4_xsx8(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_iq4_xsx8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
size_t moe_q3_Kx8_bytes(int64_t rows, int64_t cols);
void moe_repack_q3_Kx8(int64_t rows, int64_t cols, const void *src, size_t src_row_bytes, void *dst);
void moe_gemv_q3_Kx8(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_gemv_q3_Kx8_generic(int64_t g0, int64_t g1, int64_t cols, const void *w, const void *x, float *y);
void moe_mmq_q3_Kx8(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);
void moe_mmq_q3_Kx8_generic(int64_t g0, int64_t g1, int64_t N, int64_t cols, const void *w, const void *x, float *y, int64_t ldy);

#ifdef __cplusplus
}
#endif
