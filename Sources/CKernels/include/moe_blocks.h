// Quantized block layouts, byte for byte as ggml stores them (ggml-common.h).
// A quantized row of n elements is n / QK consecutive blocks; nothing else in between.
// All multi-byte fields are little-endian; `ggml_half` is an IEEE binary16 bit pattern.
#pragma once
#include <stdint.h>

// ggml type numbers (GGUF stores them raw). Same values as MoEFormats.TensorType.
enum {
    MOE_TYPE_F32  = 0,
    MOE_TYPE_F16  = 1,
    MOE_TYPE_Q4_0 = 2,
    MOE_TYPE_Q4_1 = 3,
    MOE_TYPE_Q5_0 = 6,
    MOE_TYPE_Q5_1 = 7,
    MOE_TYPE_Q8_0 = 8,
    MOE_TYPE_Q8_1 = 9,   // activations only (paired with Q4_1 weights)
    MOE_TYPE_Q4_K = 12,
    MOE_TYPE_Q5_K = 13,
    MOE_TYPE_Q6_K = 14,
    MOE_TYPE_Q8_K = 15,  // activations only (paired with the K-quant weights)
    MOE_TYPE_IQ4_NL = 20,
    MOE_TYPE_BF16 = 30,
    MOE_TYPE_MXFP4 = 39,
};
// Low-bit K-quants and IQ4_XS (quantk_generic.c, quantk_avx2.c); also paired with Q8_K activations.
enum {
    MOE_TYPE_Q2_K = 10,
    MOE_TYPE_Q3_K = 11,
    MOE_TYPE_IQ4_XS = 23,
};

typedef uint16_t ggml_half;   // IEEE 754 binary16 bits
typedef uint16_t ggml_bf16;   // bfloat16 bits: the top half of a float32

#define QK4_0 32
#define QK4_1 32
#define QK8_0 32
#define QK8_1 32
#define QK5_0 32
#define QK5_1 32
#define QK4_NL 32
#define QK_MXFP4 32
#define QK_K 256
#define K_SCALE_SIZE 12

// Q4_0: 32 elements. x[j] = d * ((qs[j] & 0xF) - 8), x[j + 16] = d * ((qs[j] >> 4) - 8), j < 16.
typedef struct {
    ggml_half d;              // scale
    uint8_t qs[QK4_0 / 2];    // nibbles: low = first half of the block, high = second half
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 2 + QK4_0 / 2, "block_q4_0 size");

// Q4_1: 32 elements. x[j] = d * (qs[j] & 0xF) + m, x[j + 16] = d * (qs[j] >> 4) + m.
typedef struct {
    ggml_half d;              // scale
    ggml_half m;              // minimum (added)
    uint8_t qs[QK4_1 / 2];
} block_q4_1;
_Static_assert(sizeof(block_q4_1) == 2 + 2 + QK4_1 / 2, "block_q4_1 size");

// Q5_0: 32 elements, 5-bit codes q = 0..31 standing for q - 16. The low 4 bits are packed as Q4_0's
// (qs[j] & 0xF: element j, qs[j] >> 4: element j + 16, j < 16); the fifth bit of element j is bit j of
// qh read as a little-endian uint32. x[j] = d * (q[j] - 16).
typedef struct {
    ggml_half d;              // scale
    uint8_t qh[4];            // fifth bits, element j at bit j (little-endian)
    uint8_t qs[QK5_0 / 2];    // low nibbles: first half of the block, high nibbles: second half
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 2 + 4 + QK5_0 / 2, "block_q5_0 size");

// Q5_1: 32 elements, 5-bit codes q = 0..31 laid out as Q5_0's, with a minimum: x[j] = d * q[j] + m.
typedef struct {
    ggml_half d;              // scale
    ggml_half m;              // minimum (added)
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 2 + 2 + 4 + QK5_1 / 2, "block_q5_1 size");

// IQ4_NL: 32 elements, 4-bit indices into the non-linear table moe_kvalues_iq4nl (int8, -127 … 113;
// see quant32.h), nibbles packed as Q4_0's. x[j] = d * kvalues_iq4nl[index j].
typedef struct {
    ggml_half d;              // scale
    uint8_t qs[QK4_NL / 2];
} block_iq4_nl;
_Static_assert(sizeof(block_iq4_nl) == 2 + QK4_NL / 2, "block_iq4_nl size");

// MXFP4 (OCP microscaling FP4): 32 elements, one E8M0 exponent byte e (scale 2^(e - 127)) and 32 E2M1
// codes (sign, 2 exponent bits, 1 mantissa bit), nibbles packed as Q4_0's. As ggml, the codes are read
// through moe_kvalues_mxfp4, the E2M1 values doubled (0, ±1, ±2, ±3, ±4, ±6, ±8, ±12; both zeros 0),
// and the scale is halved to match: x[j] = 2^(e - 128) * kvalues_mxfp4[code j]. No padding: 17 bytes.
// e = 0xFF (NaN in the OCP spec) is read as 2^127, as ggml does (see quant32.h).
typedef struct {
    uint8_t e;                // E8M0 shared exponent (biased by 127)
    uint8_t qs[QK_MXFP4 / 2];
} block_mxfp4;
_Static_assert(sizeof(block_mxfp4) == 1 + QK_MXFP4 / 2, "block_mxfp4 size");

// Q8_0: 32 elements. x[j] = d * qs[j].
typedef struct {
    ggml_half d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 2 + QK8_0, "block_q8_0 size");

// Q4_K: 256 elements in 8 sub-blocks of 32, each with a 6-bit scale sc and 6-bit min m
// packed in `scales` (see moe_get_scale_min_k4). Elements come in 4 chunks of 64: chunk c uses
// qs[32c ..< 32c+32]; its first 32 elements are the low nibbles (sub-block 2c), the next 32 the
// high nibbles (sub-block 2c+1). x = (d * sc) * q - (dmin * m).
typedef struct {
    ggml_half d;              // super-block scale for the 6-bit scales
    ggml_half dmin;           // super-block scale for the 6-bit mins
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 2 + 2 + K_SCALE_SIZE + QK_K / 2, "block_q4_K size");

// Q5_K: as Q4_K plus a fifth bit per element: for chunk c (64 elements) and l < 32,
// bit 2c of qh[l] is the high bit of element 64c + l, bit 2c+1 that of element 64c + 32 + l.
typedef struct {
    ggml_half d;
    ggml_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 2 + 2 + K_SCALE_SIZE + QK_K / 8 + QK_K / 2, "block_q5_K size");

// Q6_K: 256 elements in 16 sub-blocks of 16, each with an int8 scale. x = (d * scales[i / 16]) * (q - 32),
// q 6 bits: 4 low bits in ql, 2 high bits in qh. Two halves of 128 elements; half h uses
// ql[64h ..< 64h+64] and qh[32h ..< 32h+32]. For l < 32, within the half:
//   element l      : ql[l]      & 0xF, (qh[l] >> 0) & 3
//   element l + 32 : ql[l + 32] & 0xF, (qh[l] >> 2) & 3
//   element l + 64 : ql[l]      >> 4,  (qh[l] >> 4) & 3
//   element l + 96 : ql[l + 32] >> 4,  (qh[l] >> 6) & 3
typedef struct {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    ggml_half d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == QK_K / 2 + QK_K / 4 + QK_K / 16 + 2, "block_q6_K size");

// Q2_K: 256 elements in 16 sub-blocks of 16, each with a 4-bit scale sc and a 4-bit min m packed in
// one byte of `scales` (sc low nibble, m high nibble). x = (d * sc) * q - (dmin * m), q 2 bits.
// Codes: two halves of 128 elements; half h uses qs[32h ..< 32h+32]. For l < 32 and j < 4, element
// 128h + 32j + l is (qs[32h + l] >> 2j) & 3; it lies in sub-block (128h + 32j + l) / 16.
// (ggml stores d, dmin after the codes, unlike Q4_K.)
typedef struct {
    uint8_t scales[QK_K / 16];  // sub-block k: low nibble = sc, high nibble = m
    uint8_t qs[QK_K / 4];       // 2-bit codes, 4 per byte (see above)
    ggml_half d;                // super-block scale for the 4-bit scales
    ggml_half dmin;             // super-block scale for the 4-bit mins
} block_q2_K;
_Static_assert(sizeof(block_q2_K) == QK_K / 16 + QK_K / 4 + 2 + 2, "block_q2_K size");

// Q3_K: 256 elements in 16 sub-blocks of 16, each with a 6-bit scale s stored biased by 32.
// x = (d * (s - 32)) * q, q = low2 - (high bit set ? 0 : 4), a value in -4 ... 3.
// Low 2 bits as Q2_K's codes: element 128h + 32j + l is (qs[32h + l] >> 2j) & 3. High bits: bit
// 4h + j of hmask[l] is the third bit of that element (set = no -4 offset).
// Scales (see moe_q3k_scales in quantk_internal.h): for sub-block k < 16, the low 4 bits are
// scales[k] & 0xF for k < 8 and scales[k - 8] >> 4 for k ≥ 8; the high 2 bits are
// (scales[8 + k % 4] >> (2 * (k / 4))) & 3.
typedef struct {
    uint8_t hmask[QK_K / 8];    // third bit of each code
    uint8_t qs[QK_K / 4];       // low 2 bits of each code
    uint8_t scales[12];         // 16 six-bit scales, biased by 32
    ggml_half d;                // super-block scale
} block_q3_K;
_Static_assert(sizeof(block_q3_K) == QK_K / 8 + QK_K / 4 + 12 + 2, "block_q3_K size");

// IQ4_XS: 256 elements in 8 sub-blocks of 32, each with a 6-bit scale ls stored biased by 32, and
// 4-bit codes that index a fixed table of 16 int8 values (kvalues_iq4nl, shared with IQ4_NL):
// x = (d * (ls - 32)) * kvalues_iq4nl[code]. Sub-block ib uses qs[16ib ..< 16ib+16]: the low
// nibbles are its elements 0..15, the high nibbles 16..31 (as Q4_0's blocks). ls = low 4 bits
// from scales_l[ib / 2] (low nibble for even ib, high for odd) | bits 2ib, 2ib+1 of scales_h << 4.
typedef struct {
    ggml_half d;                // super-block scale
    uint16_t scales_h;          // high 2 bits of the 8 scales
    uint8_t scales_l[QK_K / 64]; // low 4 bits of the 8 scales, two per byte
    uint8_t qs[QK_K / 2];       // 4-bit table indices
} block_iq4_xs;
_Static_assert(sizeof(block_iq4_xs) == 2 + 2 + QK_K / 64 + QK_K / 2, "block_iq4_xs size");

// ---- activation blocks: what a float activation row is quantized to before a quantized dot ----

// Q8_1: 32 elements, as Q8_0 plus s = d * Σ qs (stored as f16), so that a Q4_1 block's minimum m
// contributes m * s to a dot product without touching the 32 codes. x[j] ≈ d * qs[j].
// (Current ggml layout: two f16 then the codes, 36 bytes; older ggml used two floats.)
typedef struct {
    ggml_half d;              // scale: amax / 127
    ggml_half s;              // d * Σ_j qs[j], computed with the float d before rounding to f16
    int8_t qs[QK8_1];
} block_q8_1;
_Static_assert(sizeof(block_q8_1) == 2 + 2 + QK8_1, "block_q8_1 size");

// Q8_K: 256 elements with a float scale, for the K-quant dot products. x[j] ≈ d * qs[j].
// bsums[g] = Σ qs[16g ..< 16g+16]: group sums that carry the K-quants' per-sub-block minimum
// (Q4_K, Q5_K, Q2_K) and Q6_K's code offset of 32 (Q3_K's SIMD code: its offset 4) through the dot product.
typedef struct {
    float d;                  // scale: 1 / iscale, iscale = -127 / (the element of largest magnitude)
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 4 + QK_K + 2 * (QK_K / 16), "block_q8_K size");
