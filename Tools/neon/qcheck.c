// Cross-check of the dispatched (SIMD) kernels of Sources/CKernels against their scalar `_generic` twins,
// in C, so that the NEON code can be run under qemu-aarch64 on an x86 machine (Tools/scripts/neon-check.sh);
// it also runs natively (on x86-64: whatever AVX2 / AVX-512 kernels the CPU gets). Deterministic (fixed
// seeds). Exit status 0 when all of this holds:
//
// 1. Activation quantizers Q8_0, Q8_1, Q8_K (moe_quantize_activations and the typed moe_quantize_row_*):
//    the generic bytes (memcmp), over random rows, rounding ties, zero and -0 blocks, tiny and huge
//    values (f16 scale overflow), equal magnitudes of both signs, sparse rows.
// 2. Dequantization of every type (moe_dequantize_row): the generic floats bit for bit (memcmp), over
//    random blocks and edge scales (0, -0, f16 subnormals, ±65504), every MXFP4 exponent byte, all 65536
//    F16 and all 65536 BF16 bit patterns (NaN payloads included). Rows with ±inf / NaN block scales are
//    compared bit for bit too, except that two NaNs match whatever their sign and payload (IEEE leaves open
//    which operand's NaN d * q + m propagates, and the compiler may commute the generic code's operands).
// 3. Dot products (moe_vec_dot, the typed moe_vec_dot_*, moe_dot_f32) and matrix products (moe_matmul_q)
//    of every weight type. The SIMD code keeps several float partial sums and fuses multiply-adds, so on
//    general inputs it differs from the generic code by rounding (moe_quant.h). Most cases are therefore
//    built so that every float operation of either path is exact (weight and activation values are small
//    integers times powers of two; activation code ranges, then densities, are shrunk until the sums fit),
//    and there SIMD and generic results must be equal bit for bit (memcmp): a wrong code, bit, sub-block
//    scale, table value, sign or scale product shows as a difference. Whether a (row, token) pair is exact
//    is decided by a certificate computed from the generic dequantization, not assumed: take the
//    elementary products p_i of the dot product (weight part × activation value: d·sc·q·y; the minimum
//    part dmin·m·y; Q4_1/Q5_1's m·s; F16/BF16/F32's w·x; for the types stored with a code offset, also
//    d·sc·(q + off)·y and d·sc·off·y, the split of SIMD code that takes the offset out through the
//    activation sums); if every p_i is a multiple of 2^t (t ≥ -149) and Σ|p_i| < 2^(24+t), then every
//    partial sum in any order and grouping, every integer partial sum converted to float and every scale
//    product is representable, so both paths compute the exact value (the generated scale products never
//    fall below 2^-149). Edge cases among them: activation codes -128 and 127, all -128 against weight
//    blocks whose bytes are all 0x80 / 0x7F / 0xFF / 0x00 (extreme codes and sub-block scales; -128 is
//    outside the contract of the x86 Q8_0 · Q8_0 product only, so natively Q8_0 gets -127 instead), Q6_K
//    scales ±127/-128, zero, -0 and f16-subnormal weight scales, f16 ±65504 scales, zero activation
//    scales, MXFP4 exponents 0…3 and 200…255, F16/BF16/F32 lengths with vector tails.
//    The other pairs (random weights against really quantized random activations, as the old check; and
//    pairs whose row was not the one a token's level was shrunk for) are held to 1e-4 of Σ|w·x|.
//    Always: every matrix product output equals the dot product of its row and token bit for bit (both
//    paths; for F32 with packed rows the SIMD gemm has its own tiles, so there on exact pairs only), the
//    typed entry points equal moe_vec_dot, and nothing outside the N × M outputs (ldy > M) is written.
#include "moe_quant.h"
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t st = 88172645463325252ull;
static void seed(uint64_t s) { st = 88172645463325252ull ^ (s * 0x9E3779B97F4A7C15ull); if (st == 0) st = 1; }
static uint64_t rnd(void) { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return st; }
static int irand(int lo, int hi) { return lo + (int)(rnd() % (uint64_t)(hi - lo + 1)); } // [lo, hi]
static float frand(void) { return (float)((rnd() >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f; }
static uint16_t f2h(float f) { _Float16 h = (_Float16)f; uint16_t u; memcpy(&u, &h, 2); return u; }
static uint16_t f2bf(float f) { uint32_t u; memcpy(&u, &f, 4); return (uint16_t)(u >> 16); } // exact inputs only
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static float sgn(void) { return rnd() & 1 ? -1.0f : 1.0f; }

static int fails;
static void fail(const char *fmt, ...) {
    if (++fails <= 60) { va_list ap; va_start(ap, fmt); vprintf(fmt, ap); va_end(ap); }
}

static const struct { uint32_t t; const char *name; } TYPES[] = {
    {MOE_TYPE_F32, "F32"}, {MOE_TYPE_F16, "F16"}, {MOE_TYPE_BF16, "BF16"}, {MOE_TYPE_Q8_0, "Q8_0"},
    {MOE_TYPE_Q4_0, "Q4_0"}, {MOE_TYPE_Q4_1, "Q4_1"}, {MOE_TYPE_Q5_0, "Q5_0"}, {MOE_TYPE_Q5_1, "Q5_1"},
    {MOE_TYPE_IQ4_NL, "IQ4_NL"}, {MOE_TYPE_MXFP4, "MXFP4"}, {MOE_TYPE_Q2_K, "Q2_K"}, {MOE_TYPE_Q3_K, "Q3_K"},
    {MOE_TYPE_Q4_K, "Q4_K"}, {MOE_TYPE_Q5_K, "Q5_K"}, {MOE_TYPE_Q6_K, "Q6_K"}, {MOE_TYPE_IQ4_XS, "IQ4_XS"},
};
enum { NTYPES = sizeof TYPES / sizeof TYPES[0] };

// Byte offsets of a block's f16 scale and f16 minimum (-1: none; MXFP4's E8M0 byte is handled apart).
static void scale_fields(uint32_t t, int *d, int *m) {
    *d = *m = -1;
    switch (t) {
    case MOE_TYPE_Q8_0: *d = offsetof(block_q8_0, d); break;
    case MOE_TYPE_Q4_0: *d = offsetof(block_q4_0, d); break;
    case MOE_TYPE_Q4_1: *d = offsetof(block_q4_1, d); *m = offsetof(block_q4_1, m); break;
    case MOE_TYPE_Q5_0: *d = offsetof(block_q5_0, d); break;
    case MOE_TYPE_Q5_1: *d = offsetof(block_q5_1, d); *m = offsetof(block_q5_1, m); break;
    case MOE_TYPE_IQ4_NL: *d = offsetof(block_iq4_nl, d); break;
    case MOE_TYPE_Q2_K: *d = offsetof(block_q2_K, d); *m = offsetof(block_q2_K, dmin); break;
    case MOE_TYPE_Q3_K: *d = offsetof(block_q3_K, d); break;
    case MOE_TYPE_Q4_K: *d = offsetof(block_q4_K, d); *m = offsetof(block_q4_K, dmin); break;
    case MOE_TYPE_Q5_K: *d = offsetof(block_q5_K, d); *m = offsetof(block_q5_K, dmin); break;
    case MOE_TYPE_Q6_K: *d = offsetof(block_q6_K, d); break;
    case MOE_TYPE_IQ4_XS: *d = offsetof(block_iq4_xs, d); break;
    }
}
// The minimum enters per element (x = d·sc·q - dmin·m) or per block against the activation's s (Q4_1, Q5_1).
static int elem_min(uint32_t t) { return t == MOE_TYPE_Q4_K || t == MOE_TYPE_Q5_K || t == MOE_TYPE_Q2_K; }
static int block_min(uint32_t t) { return t == MOE_TYPE_Q4_1 || t == MOE_TYPE_Q5_1; }
static int is_float_type(uint32_t t) { return t == MOE_TYPE_F32 || t == MOE_TYPE_F16 || t == MOE_TYPE_BF16; }

// ---------------------------------------------------------------------------------------------
// Weights. Profiles: random (the old check's data), exact (scales ±{1,3,5,7}·2^E, some 0 and -0),
// edge (code bytes mostly 0x00 / 0xFF / 0x80 / 0x7F, in mode 0 one of them for a whole block: extreme
// codes and sub-block scales; scales ±2^E or ±2047·2^(E-10)), subnormal (f16-subnormal scales, MXFP4 e = 0…3), big (scales ±65504, ±32768, MXFP4 e = 200…255),
// nonfinite (dequantization only: scales ±inf / NaN in some blocks).
enum { W_RANDOM, W_EXACT, W_EDGE, W_SUBNORMAL, W_BIG, W_NONFINITE, W_PROFILES };
static const char *WNAME[] = {"random", "exact", "edge", "subnormal", "big", "nonfinite"};

// mode (per case): 0 every block's scale of one kind, 1 another, 2 mixed block by block.
static uint16_t wscale(int prof, int E, int mode) {
    const int kind = mode < 2 ? mode : irand(0, 1);
    switch (prof) {
    case W_RANDOM: return f2h(frand() * 0.1f);
    case W_EXACT: {
        const int r = irand(0, 31);
        if (r == 0) return 0x0000;
        if (r == 1) return 0x8000;
        return f2h(sgn() * ldexpf((float)(1 + 2 * irand(0, 3)), E + irand(0, 1)));
    }
    case W_EDGE: return f2h(sgn() * (kind ? ldexpf(2047.0f, E - 10) : ldexpf(1.0f, E)));
    case W_SUBNORMAL: return (uint16_t)((rnd() & 1 ? 0x8000 : 0) | (kind ? irand(1, 1023) : 1 << irand(0, 9)));
    case W_BIG: {
        const int r = kind ? irand(1, 3) : 0;
        return (uint16_t)((rnd() & 1 ? 0x8000 : 0) | (r == 0 ? 0x7800 : r == 1 ? 0x7BFF : f2h(ldexpf((float)irand(1, 2047), 5))));
    }
    default: { // W_NONFINITE: mostly ordinary, some ±inf and NaNs (quiet, signalling, with payloads)
        static const uint16_t nf[] = {0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7C01, 0x7D55, 0xFFFF};
        return irand(0, 2) == 0 ? nf[irand(0, 6)] : f2h(frand() * 0.1f);
    }
    }
}

static uint16_t f16_value(int prof, int E) {
    switch (prof) {
    case W_RANDOM: return f2h(frand());
    case W_EXACT: return f2h((float)irand(-64, 64) * ldexpf(1.0f, E + irand(0, 1)));
    case W_EDGE: {
        static const uint16_t v[] = {0x7BFF, 0xFBFF, 0x0400, 0x8400, 0x0000, 0x8000, 0x3C00, 0xBC00, 0x03FF, 0x0001};
        return rnd() & 1 ? v[irand(0, 9)] : f2h((float)irand(-64, 64) * ldexpf(1.0f, E));
    }
    case W_SUBNORMAL: return (uint16_t)((rnd() & 1 ? 0x8000 : 0) | irand(0, 1023));
    case W_BIG: return f2h(sgn() * (float)irand(1, 2047) * 32.0f);
    default: return (uint16_t)rnd(); // every bit pattern, inf and NaN included
    }
}
static uint16_t bf16_value(int prof, int E) {
    switch (prof) {
    case W_RANDOM: return f2bf(frand());
    case W_EXACT: return f2bf((float)irand(-255, 255) * ldexpf(1.0f, E));
    case W_EDGE: {
        static const uint16_t v[] = {0x0080, 0x8080, 0x0000, 0x8000, 0x3F80, 0xBF80, 0x5D80}; // ±2^-126, ±0, ±1, 2^60
        return rnd() & 1 ? v[irand(0, 6)] : f2bf((float)irand(-255, 255) * ldexpf(1.0f, E));
    }
    case W_SUBNORMAL: return (uint16_t)((rnd() & 1 ? 0x8000 : 0) | irand(0, 127)); // float subnormals k·2^-133
    case W_BIG: return f2bf((float)irand(-255, 255) * 0x1p90f);
    default: return (uint16_t)rnd();
    }
}
static float f32_value(int prof, int E) {
    switch (prof) {
    case W_RANDOM: return frand();
    case W_EXACT: return (float)irand(-2048, 2048) * ldexpf(1.0f, E);
    case W_EDGE: {
        const float v[] = {0x1p-126f, -0x1p-126f, 0.0f, -0.0f, 0x1p60f, 1.0f, -16777215.0f * 0x1p-20f};
        return rnd() & 1 ? v[irand(0, 6)] : (float)irand(-2048, 2048) * ldexpf(1.0f, E);
    }
    case W_SUBNORMAL: return (float)irand(-255, 255) * 0x1p-135f;
    case W_BIG: return (float)irand(-2048, 2048) * 0x1p80f;
    default: { uint32_t u = (uint32_t)rnd(); float f; memcpy(&f, &u, 4); return f; }
    }
}

// nblk blocks of type t at p (F32 / F16 / BF16: nblk elements). E: exponent base of the exact/edge scales.
static void fill_w(uint32_t t, uint8_t *p, int64_t nblk, int prof, int E, int mode) {
    const int64_t bb = moe_type_block_bytes(t);
    if (t == MOE_TYPE_F32) { for (int64_t i = 0; i < nblk; i++) { float f = f32_value(prof, E); memcpy(p + 4 * i, &f, 4); } return; }
    if (t == MOE_TYPE_F16) { for (int64_t i = 0; i < nblk; i++) put16(p + 2 * i, f16_value(prof, E)); return; }
    if (t == MOE_TYPE_BF16) { for (int64_t i = 0; i < nblk; i++) put16(p + 2 * i, bf16_value(prof, E)); return; }
    static const uint8_t edge[6] = {0x00, 0x00, 0xFF, 0xFF, 0x80, 0x7F}; // extreme codes (Q8_0: -128, 127) and scales
    for (int64_t i = 0; i < nblk * bb; i++) {
        const int r = irand(0, 7);
        p[i] = prof == W_EDGE && r < 6 ? edge[r] : (uint8_t)rnd();
    }
    if (prof == W_EDGE && mode == 0) // every byte of a block the same: all codes and sub-block scales at one extreme
        for (int64_t b = 0; b < nblk; b++) memset(p + b * bb, edge[irand(0, 5)], bb);
    int od, om;
    scale_fields(t, &od, &om);
    for (int64_t b = 0; b < nblk; b++) {
        uint8_t *q = p + b * bb;
        if (od >= 0) put16(q + od, wscale(prof, E, mode));
        if (om >= 0) put16(q + om, wscale(prof, E, mode));
        if (t == MOE_TYPE_Q6_K && prof == W_EDGE) {
            static const int8_t ext[] = {127, -128, -127, 1, -1};
            for (int k = 0; k < QK_K / 16; k++) ((block_q6_K *)q)->scales[k] = ext[irand(0, 4)];
        }
        if (t == MOE_TYPE_MXFP4) {
            switch (prof) {
            case W_RANDOM: q[0] = (uint8_t)(116 + rnd() % 12); break; // 2^-12 … 2^-1
            case W_EXACT: case W_EDGE: q[0] = (uint8_t)(128 + E + irand(0, 1)); break;
            case W_SUBNORMAL: q[0] = (uint8_t)irand(0, 3); break;
            case W_BIG: q[0] = (uint8_t)irand(200, 255); break;
            default: q[0] = (uint8_t)rnd(); break; // every exponent, 0xFF (2^127) included
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Activations built directly (not through a quantizer), for the exact cases. Codes: "uniform" in
// [-128, 127] at level 0, then [-(127 >> L), 127 >> L] down to ±1 (L = 6), then ±1 with probability
// 2^(6 - L), else 0; "extreme": each code -128 or 127 with probability 2^-L, else 0; "min": each code
// -128 with probability 2^-L, else 0. Scales ±2^(X0 + 0|1) (also 0, and for Q8_0/Q8_1 f16 65504 or subnormal,
// for Q8_K an odd multiple); F32 activations are the codes times such a power of two.
enum { A_UNIFORM, A_EXTREME, A_MIN };
static int8_t code(int prof, int L, int allow128) {
    int v;
    const int keep = L < 40 && (rnd() & ((1ull << (prof == A_UNIFORM ? (L > 6 ? L - 6 : 0) : L)) - 1)) == 0;
    if (prof == A_UNIFORM) v = L == 0 ? irand(-128, 127) : keep ? irand(-(127 >> (L < 6 ? L : 6)), 127 >> (L < 6 ? L : 6)) : 0;
    else v = keep ? (prof == A_MIN || rnd() & 1 ? -128 : 127) : 0;
    return (int8_t)(v == -128 && !allow128 ? -127 : v);
}
static float act_scale(int X0, int wide) {
    const int r = irand(0, 15);
    if (r == 0) return 0.0f;
    if (r == 1 && wide == 1) return 65504.0f;
    if (r == 2 && wide == 1) return (float)irand(1, 1023) * 0x1p-24f; // f16 subnormal
    if (r == 3 && wide == 2) return (float)(2 * irand(0, 127) + 1) * ldexpf(1.0f, X0 - 8);
    return sgn() * ldexpf(1.0f, X0 + irand(0, 1));
}
// K elements of activation type a at p. At least one code is nonzero.
static void make_x(uint32_t a, uint8_t *p, int64_t K, int prof, int L, int X0, int allow128) {
    int8_t *c = malloc(K);
    int any = 0;
    for (int64_t i = 0; i < K; i++) any |= (c[i] = code(prof, L, a == MOE_TYPE_F32 || allow128)) != 0;
    if (!any) c[irand(0, (int)K - 1)] = (int8_t)(prof != A_UNIFORM ? (prof == A_EXTREME && rnd() & 1 ? 127 : allow128 ? -128 : -127) : (rnd() & 1 ? 1 : -1));
    if (a == MOE_TYPE_F32) {
        float *x = (float *)p;
        for (int64_t i = 0; i < K; i++) x[i] = (float)c[i] * ldexpf(1.0f, X0 + irand(0, 1));
    } else if (a == MOE_TYPE_Q8_K) {
        block_q8_K *y = (block_q8_K *)p;
        for (int64_t b = 0; b < K / QK_K; b++) {
            y[b].d = act_scale(X0, 2);
            memcpy(y[b].qs, c + b * QK_K, QK_K);
            for (int g = 0; g < QK_K / 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += y[b].qs[16 * g + l];
                y[b].bsums[g] = (int16_t)s;
            }
        }
    } else {
        const int64_t bb = moe_activation_row_bytes(a, 32);
        for (int64_t b = 0; b < K / 32; b++) {
            uint8_t *q = p + b * bb;
            const float d = act_scale(X0 < -14 ? -14 : X0, a == MOE_TYPE_Q8_0); // Q8_1: no 65504 (s would overflow)
            int sum = 0;
            for (int j = 0; j < 32; j++) sum += c[32 * b + j];
            memcpy(q + (a == MOE_TYPE_Q8_1 ? 4 : 2), c + 32 * b, 32);
            put16(q, f2h(d));
            if (a == MOE_TYPE_Q8_1) put16(q + 2, f2h((float)sum * moe_f16_to_f32(f2h(d))));
        }
        if (X0 < -14) // MXFP4 with big exponents: scales 2^X0 (f16 subnormals) so that the products stay finite
            for (int64_t b = 0; b < K / 32; b++) put16(p + b * bb, (uint16_t)((rnd() & 1 ? 0x8000 : 0) | (1u << (X0 + 24 + irand(0, 1)))));
    }
    free(c);
}

// The K activation values (scale × code) of an activation row, as doubles (exact).
static void act_values(uint32_t a, const uint8_t *p, int64_t K, double *v) {
    if (a == MOE_TYPE_F32) { for (int64_t i = 0; i < K; i++) v[i] = ((const float *)p)[i]; return; }
    if (a == MOE_TYPE_Q8_K) {
        const block_q8_K *y = (const block_q8_K *)p;
        for (int64_t i = 0; i < K; i++) v[i] = (double)y[i / QK_K].d * y[i / QK_K].qs[i % QK_K];
        return;
    }
    const int64_t bb = moe_activation_row_bytes(a, 32), off = a == MOE_TYPE_Q8_1 ? 4 : 2;
    for (int64_t i = 0; i < K; i++) {
        const uint8_t *q = p + (i / 32) * bb;
        uint16_t h; memcpy(&h, q, 2);
        v[i] = (double)moe_f16_to_f32(h) * ((const int8_t *)q)[off + i % 32];
    }
}
static double act_s(const uint8_t *p, int64_t b) { // Q8_1 block b's s
    uint16_t h; memcpy(&h, p + b * sizeof(block_q8_1) + 2, 2);
    return moe_f16_to_f32(h);
}

// ---------------------------------------------------------------------------------------------
// Exactness certificate (see the top of the file).
typedef struct { double S; int t; } cert;
static void cert_add(cert *c, double v) {
    if (v == 0) return;
    int e;
    const double m = frexp(fabs(v), &e);
    const uint64_t M = (uint64_t)ldexp(m, 53);
    const int low = e - 53 + __builtin_ctzll(M);
    if (low < c->t) c->t = low;
    c->S += fabs(v);
}
static int cert_exact(cert c) { return c.S == 0 || (c.t >= -149 && c.S < ldexp(1.0, 24 + c.t) && c.S < 0x1p127); }

// The code offset of a type whose codes are stored unsigned (q = u - off): SIMD code may multiply u
// and take off · Σ y out through the activations' sums (the AVX2 Q3_K / Q6_K kernels do), so its
// integer partial sums are made of sc·u·y and sc·off·y rather than sc·q·y; the certificate takes in both.
static int code_offset(uint32_t t) {
    switch (t) {
    case MOE_TYPE_Q4_0: return 8;
    case MOE_TYPE_Q5_0: return 16;
    case MOE_TYPE_Q3_K: return 4;
    case MOE_TYPE_Q6_K: return 32;
    default: return 0;
    }
}
// Set every code of block b (type t, with an offset) to q = 1, so that it dequantizes to its scales d·sc.
static void codes_to_one(uint32_t t, uint8_t *b) {
    switch (t) {
    case MOE_TYPE_Q4_0: memset(((block_q4_0 *)b)->qs, 0x99, QK4_0 / 2); break;             // nibble 9
    case MOE_TYPE_Q5_0: memset(((block_q5_0 *)b)->qs, 0x11, QK5_0 / 2); memset(((block_q5_0 *)b)->qh, 0xFF, 4); break; // 17
    case MOE_TYPE_Q3_K: memset(((block_q3_K *)b)->qs, 0x55, QK_K / 4); memset(((block_q3_K *)b)->hmask, 0xFF, QK_K / 8); break; // 1 + 4 - 4
    case MOE_TYPE_Q6_K: memset(((block_q6_K *)b)->ql, 0x11, QK_K / 2); memset(((block_q6_K *)b)->qh, 0xAA, QK_K / 4); break;  // 33
    }
}

// Per-element weight parts of the M rows, by the generic dequantizer: wA (the d part: minimum fields
// zeroed), wM (the per-element minimum part: d zeroed; Q4_K, Q5_K, Q2_K), wU (d·sc, for the types
// with a code offset), wF (the whole value), and per block the f16 minimum (Q4_1, Q5_1). MXFP4 blocks
// with e ≥ 192 are dequantized with e - 64 and scaled back in double (wA and wF), as their values may
// overflow float while their dot products do not.
static void weight_parts(uint32_t t, const uint8_t *W, size_t rowB, int64_t M, int64_t K,
                         double *wA, double *wM, double *wU, double *wF, double *mblk) {
    const int64_t bs = moe_type_block_size(t), bb = moe_type_block_bytes(t), nb = K / bs;
    int od, om;
    scale_fields(t, &od, &om);
    uint8_t *tmp = malloc(nb * bb);
    float *f = malloc(K * sizeof(float));
    for (int64_t i = 0; i < M; i++) {
        const uint8_t *row = W + i * rowB;
        memcpy(tmp, row, nb * bb);
        moe_dequantize_row_generic(t, tmp, f, K);
        for (int64_t k = 0; k < K; k++) wF[i * K + k] = f[k];
        if (t == MOE_TYPE_MXFP4) for (int64_t b = 0; b < nb; b++) if (tmp[b * bb] >= 192) tmp[b * bb] -= 64;
        if (om >= 0) for (int64_t b = 0; b < nb; b++) put16(tmp + b * bb + om, 0);
        moe_dequantize_row_generic(t, tmp, f, K);
        for (int64_t k = 0; k < K; k++) {
            wA[i * K + k] = f[k];
            if (t == MOE_TYPE_MXFP4 && row[(k / bs) * bb] >= 192) wA[i * K + k] = wF[i * K + k] = ldexp(wA[i * K + k], 64);
        }
        if (elem_min(t)) {
            memcpy(tmp, row, nb * bb);
            for (int64_t b = 0; b < nb; b++) put16(tmp + b * bb + od, 0);
            moe_dequantize_row_generic(t, tmp, f, K);
            for (int64_t k = 0; k < K; k++) wM[i * K + k] = f[k];
        }
        if (code_offset(t)) {
            memcpy(tmp, row, nb * bb);
            for (int64_t b = 0; b < nb; b++) codes_to_one(t, tmp + b * bb);
            moe_dequantize_row_generic(t, tmp, f, K);
            for (int64_t k = 0; k < K; k++) wU[i * K + k] = f[k];
        }
        if (block_min(t))
            for (int64_t b = 0; b < nb; b++) { uint16_t h; memcpy(&h, row + b * bb + om, 2); mblk[i * nb + b] = moe_f16_to_f32(h); }
    }
    free(tmp);
    free(f);
}

static cert pair_cert(uint32_t t, int64_t K, const double *wA, const double *wM, const double *wU, const double *mblk,
                      const double *xv, const uint8_t *xrow) {
    cert c = {0, 1 << 20};
    const int off = code_offset(t);
    for (int64_t k = 0; k < K; k++) {
        cert_add(&c, wA[k] * xv[k]);
        if (elem_min(t)) cert_add(&c, wM[k] * xv[k]);
        if (off) { cert_add(&c, (wA[k] + off * wU[k]) * xv[k]); cert_add(&c, off * wU[k] * xv[k]); }
    }
    if (block_min(t)) for (int64_t b = 0; b < K / 32; b++) cert_add(&c, mblk[b] * act_s(xrow, b));
    return c;
}

// The typed entry point of a weight type (moe_dot_f32 for F32), dispatched or generic.
static float typed_dot(uint32_t t, int gen, int64_t n, const void *w, const void *x) {
#define T(ty, fn) case ty: return gen ? fn##_generic(n, w, x) : fn(n, w, x)
    switch (t) {
    T(MOE_TYPE_Q8_0, moe_vec_dot_q8_0_q8_0); T(MOE_TYPE_Q4_0, moe_vec_dot_q4_0_q8_0); T(MOE_TYPE_Q4_1, moe_vec_dot_q4_1_q8_1);
    T(MOE_TYPE_Q5_0, moe_vec_dot_q5_0_q8_0); T(MOE_TYPE_Q5_1, moe_vec_dot_q5_1_q8_1); T(MOE_TYPE_IQ4_NL, moe_vec_dot_iq4_nl_q8_0);
    T(MOE_TYPE_MXFP4, moe_vec_dot_mxfp4_q8_0); T(MOE_TYPE_Q2_K, moe_vec_dot_q2_K_q8_K); T(MOE_TYPE_Q3_K, moe_vec_dot_q3_K_q8_K);
    T(MOE_TYPE_Q4_K, moe_vec_dot_q4_K_q8_K); T(MOE_TYPE_Q5_K, moe_vec_dot_q5_K_q8_K); T(MOE_TYPE_Q6_K, moe_vec_dot_q6_K_q8_K);
    T(MOE_TYPE_IQ4_XS, moe_vec_dot_iq4_xs_q8_K); T(MOE_TYPE_F16, moe_vec_dot_f16_f32); T(MOE_TYPE_BF16, moe_vec_dot_bf16_f32);
    case MOE_TYPE_F32: return gen ? moe_dot_f32_generic(w, x, n) : moe_dot_f32(w, x, n);
    }
#undef T
    return NAN;
}

static int same(float a, float b) { return memcmp(&a, &b, 4) == 0; }
static const uint32_t SENTINEL = 0x7FC0DEADu;

typedef struct { long exact, zero, exact128, tol, tiles; double worst; } dot_stats;

// One case: M rows of K elements of type t, N tokens. wprof: weight profile; aprof < 0: random float
// activations quantized by the (dispatched) quantizer, else built directly with levels shrunk until
// every row's pair with that token is exact (even tokens) or row j % M's is (odd tokens: the worst row
// does not set the level; that token's other pairs may be held to the rounding bound instead).
static void dot_case(uint32_t t, const char *name, int64_t M, int64_t N, int64_t K, int wprof, int aprof, int pad,
                     int allow128, dot_stats *ds) {
    const int32_t a = moe_activation_type(t);
    const int64_t bs = moe_type_block_size(t), nb = K / bs;
    const size_t wB = nb * moe_type_block_bytes(t), rowB = wB + 4 * pad;
    const int64_t xB = moe_activation_row_bytes(a, K), ldy = M + pad;
    const int E = irand(-14, -6), X0 = t == MOE_TYPE_MXFP4 && wprof == W_BIG ? -24 : irand(-10, -4);
    uint8_t *W = malloc(M * rowB), *X = malloc(N * xB);
    const int mode = irand(0, 2);
    for (int64_t i = 0; i < M; i++) { fill_w(t, W + i * rowB, nb, wprof, E, mode); memset(W + i * rowB + wB, 0xA5, rowB - wB); }
    double *wA = malloc(M * K * sizeof(double)), *wM = malloc(M * K * sizeof(double)), *wU = malloc(M * K * sizeof(double));
    double *wF = malloc(M * K * sizeof(double));
    double *mblk = malloc((M * nb + 1) * sizeof(double)), *xv = malloc(K * sizeof(double));
    weight_parts(t, W, rowB, M, K, wA, wM, wU, wF, mblk);
    int *exact = malloc(M * N * sizeof(int)), *has128 = calloc(M * N, sizeof(int));
    for (int64_t j = 0; j < N; j++) {
        uint8_t *xr = X + j * xB;
        if (aprof < 0) {
            float *x = malloc(K * sizeof(float));
            for (int64_t k = 0; k < K; k++) x[k] = frand();
            moe_quantize_activations((uint32_t)a, x, xr, K);
            free(x);
        }
        for (int L = 0;; L++) {
            if (aprof >= 0) make_x((uint32_t)a, xr, K, aprof, L, X0, allow128);
            act_values((uint32_t)a, xr, K, xv);
            int all = 1;
            for (int64_t i = 0; i < M; i++) {
                const int need = j % 2 == 0 || i == j % M;
                const cert c = pair_cert(t, K, wA + i * K, wM + i * K, wU + i * K, mblk + i * nb, xv, xr);
                exact[j * M + i] = cert_exact(c) ? (c.S == 0 ? 1 : 2) : 0; // 1: every term 0
                all &= exact[j * M + i] != 0 || !need;
            }
            if (aprof < 0 || all || L > 45) break;
        }
        if (a != MOE_TYPE_F32) { // any activation code -128 in this token?
            const int64_t bb = moe_activation_row_bytes((uint32_t)a, a == MOE_TYPE_Q8_K ? QK_K : 32);
            const int64_t qoff = a == MOE_TYPE_Q8_K ? 4 : a == MOE_TYPE_Q8_1 ? 4 : 2, qn = a == MOE_TYPE_Q8_K ? QK_K : 32;
            int m = 0;
            for (int64_t b = 0; b < K / qn; b++) for (int64_t l = 0; l < qn; l++) m |= ((const int8_t *)xr)[b * bb + qoff + l] == -128;
            for (int64_t i = 0; i < M; i++) has128[j * M + i] = m;
        }
    }
    float *Y1 = malloc((N + 1) * ldy * sizeof(float)), *Y2 = malloc((N + 1) * ldy * sizeof(float));
    for (int64_t i = 0; i < (N + 1) * ldy; i++) { memcpy(&Y1[i], &SENTINEL, 4); memcpy(&Y2[i], &SENTINEL, 4); }
    if (moe_matmul_q(t, M, N, K, W, rowB, X, Y1, ldy) || moe_matmul_q_generic(t, M, N, K, W, rowB, X, Y2, ldy))
        fail("%s: moe_matmul_q refused M %lld N %lld K %lld\n", name, (long long)M, (long long)N, (long long)K);
    for (int64_t j = 0; j <= N; j++) for (int64_t i = 0; i < ldy; i++) {
        if (j < N && i < M) continue;
        float s; memcpy(&s, &SENTINEL, 4);
        if (!same(Y1[j * ldy + i], s) || !same(Y2[j * ldy + i], s)) fail("%s: matmul wrote outside its outputs (%lld, %lld)\n", name, (long long)j, (long long)i);
    }
    const int gemm_tiles = t == MOE_TYPE_F32 && rowB == wB; // the SIMD gemm: its own summation order
    for (int64_t j = 0; j < N; j++) for (int64_t i = 0; i < M; i++) {
        const uint8_t *w = W + i * rowB, *x = X + j * xB;
        float d1, d2;
        moe_vec_dot(t, K, w, x, &d1);
        moe_vec_dot_generic(t, K, w, x, &d2);
        const float t1 = typed_dot(t, 0, K, w, x), t2 = typed_dot(t, 1, K, w, x);
        const float y1 = Y1[j * ldy + i], y2 = Y2[j * ldy + i];
        if (!same(t1, d1) || !same(t2, d2)) fail("%s: typed entry point differs from moe_vec_dot\n", name);
        if (!same(y2, d2)) fail("%s: generic matmul output (%lld, %lld) %a differs from its dot %a\n", name, (long long)j, (long long)i, y2, d2);
        if (!gemm_tiles && !same(y1, d1)) fail("%s: matmul output (%lld, %lld) %a differs from its dot %a\n", name, (long long)j, (long long)i, y1, d1);
        ds->tiles++;
        if (exact[j * M + i]) {
            ds->exact++;
            ds->zero += exact[j * M + i] == 1;
            ds->exact128 += has128[j * M + i];
            if (!same(d1, d2) || !same(y1, y2))
                fail("%s [%s, K %lld, row %lld, token %lld]: SIMD %a / %a, generic %a / %a (dot / matmul), must be equal\n",
                     name, WNAME[wprof], (long long)K, (long long)i, (long long)j, d1, y1, d2, y2);
        } else {
            act_values((uint32_t)a, x, K, xv);
            double mag = 1e-30;
            for (int64_t k = 0; k < K; k++) mag += fabs(wF[i * K + k] * xv[k]);
            const double e = fmax(fabs((double)d1 - d2), fabs((double)y1 - y2)) / mag;
            ds->tol++;
            if (e > ds->worst) ds->worst = e;
            if (!(e <= 1e-4)) fail("%s [%s, K %lld]: SIMD %a, generic %a: %.3g of sum |w x|\n", name, WNAME[wprof], (long long)K, d1, d2, e);
        }
    }
    free(W); free(X); free(wA); free(wM); free(wU); free(wF); free(mblk); free(xv); free(exact); free(has128); free(Y1); free(Y2);
}

// ---------------------------------------------------------------------------------------------

static long quant_cases(void) {
    long cases = 0;
    const uint32_t acts[3] = {MOE_TYPE_Q8_0, MOE_TYPE_Q8_1, MOE_TYPE_Q8_K};
    for (int ai = 0; ai < 3; ai++) for (int rep = 0; rep < 120; rep++) {
        const uint32_t a = acts[ai];
        seed(1000 + 100 * ai + rep);
        const int64_t n = rep % 3 == 0 ? 256 * 8 : rep % 3 == 1 ? 256 : (a == MOE_TYPE_Q8_K ? 512 : 96);
        float *x = malloc(n * sizeof(float));
        const int pat = rep % 12;
        for (int64_t i = 0; i < n; i++) {
            switch (pat) {
            case 0: x[i] = frand() * 3.0f; break;
            case 1: x[i] = frand() * 1e-3f; break;
            case 2: x[i] = i < 300 ? 0.0f : frand(); break;                                        // zero blocks
            case 3: x[i] = (float)(int)(frand() * 20) * 0.5f; break;                               // ties
            case 4: x[i] = i % 32 == 0 ? 127.0f * sgn() : (float)irand(-127, 126) + 0.5f; break;  // d = 1: exact ties (Q8_0)
            case 5: x[i] = i % 256 == 0 ? -127.0f : (float)irand(-127, 126) + 0.5f; break;        // Q8_K iscale = 1: ties
            case 6: x[i] = frand() * 1e-30f; break;                                                // tiny (normal) scales
            case 7: x[i] = frand() * (rep & 1 ? 1e6f : 1e30f); break;                              // f16 scale overflow
            case 8: x[i] = (rnd() & 1 ? 1.0f : -1.0f) * (rnd() & 3 ? 2.5f : (float)irand(0, 3)); break; // equal magnitudes, both signs
            case 9: x[i] = rnd() & 1 ? -0.0f : 0.0f; break;                                        // ±0 blocks
            case 10: x[i] = i % 17 == 3 ? frand() * 100.0f : 0.0f; break;                          // sparse
            default: x[i] = (float)irand(-1000, 1000) * 0.127f; break;
            }
        }
        const int64_t rb = moe_activation_row_bytes(a, n);
        uint8_t *q1 = calloc(rb, 1), *q2 = calloc(rb, 1), *q3 = calloc(rb, 1);
        moe_quantize_activations(a, x, q1, n);
        moe_quantize_activations_generic(a, x, q2, n);
        if (a == MOE_TYPE_Q8_0) moe_quantize_row_q8_0(x, (block_q8_0 *)q3, n);
        if (a == MOE_TYPE_Q8_1) moe_quantize_row_q8_1(x, (block_q8_1 *)q3, n);
        if (a == MOE_TYPE_Q8_K) moe_quantize_row_q8_K(x, (block_q8_K *)q3, n);
        if (memcmp(q1, q2, rb) || memcmp(q3, q2, rb)) fail("quantizer %u pattern %d n %lld: bytes differ\n", a, pat, (long long)n);
        if (a == MOE_TYPE_Q8_0) { memset(q3, 0, rb); moe_quantize_row_q8_0_generic(x, (block_q8_0 *)q3, n); }
        if (a == MOE_TYPE_Q8_1) { memset(q3, 0, rb); moe_quantize_row_q8_1_generic(x, (block_q8_1 *)q3, n); }
        if (a == MOE_TYPE_Q8_K) { memset(q3, 0, rb); moe_quantize_row_q8_K_generic(x, (block_q8_K *)q3, n); }
        if (memcmp(q3, q2, rb)) fail("quantizer %u: typed generic entry differs\n", a);
        cases++;
        free(x); free(q1); free(q2); free(q3);
    }
    return cases;
}

static long dequant_cases(void) {
    long cases = 0;
    for (int ti = 0; ti < NTYPES; ti++) {
        const uint32_t t = TYPES[ti].t;
        const int64_t bs = moe_type_block_size(t);
        for (int prof = 0; prof < W_PROFILES; prof++) for (int rep = 0; rep < 6; rep++) {
            seed(5000 + 100 * ti + 10 * prof + rep);
            const int64_t nblk = bs == 1 ? (rep < 4 ? irand(1, 40) : 4096 + irand(0, 15)) : bs == 32 ? (rep < 3 ? rep + 1 : 128) : (rep < 3 ? rep + 1 : 16);
            const int64_t n = nblk * bs;
            uint8_t *W = malloc(nblk * moe_type_block_bytes(t));
            fill_w(t, W, nblk, prof, irand(-14, -6), irand(0, 2));
            float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
            memset(a, 0x5A, n * sizeof(float)); memset(b, 0xA5, n * sizeof(float));
            // Non-finite scales: where both NaN, the NaN's sign and payload are not compared (IEEE leaves open which
            // operand's NaN a*b+c propagates, and compilers may commute the generic code's operands).
            int bad = moe_dequantize_row(t, W, a, n) || moe_dequantize_row_generic(t, W, b, n);
            int64_t k = 0;
            while (k < n && (same(a[k], b[k]) || (prof == W_NONFINITE && isnan(a[k]) && isnan(b[k])))) k++;
            if (bad || k < n) {
                fail("dequant %s [%s] n %lld: element %lld SIMD %a generic %a\n", TYPES[ti].name, WNAME[prof], (long long)n, (long long)k,
                     k < n ? a[k] : 0.0f, k < n ? b[k] : 0.0f);
            }
            cases++;
            free(W); free(a); free(b);
        }
    }
    // every F16 and BF16 bit pattern; every MXFP4 exponent byte
    uint16_t *h = malloc(65536 * 2);
    float *a = malloc(65536 * sizeof(float)), *b = malloc(65536 * sizeof(float));
    for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
    for (int k = 0; k < 2; k++) {
        const uint32_t t = k ? MOE_TYPE_BF16 : MOE_TYPE_F16;
        if (moe_dequantize_row(t, h, a, 65536) || moe_dequantize_row_generic(t, h, b, 65536) || memcmp(a, b, 65536 * sizeof(float)))
            fail("dequant %s: not every bit pattern gives the generic bits\n", k ? "BF16" : "F16");
        cases++;
    }
    seed(6000);
    block_mxfp4 *mx = malloc(256 * sizeof(block_mxfp4));
    fill_w(MOE_TYPE_MXFP4, (uint8_t *)mx, 256, W_RANDOM, 0, 0);
    for (int e = 0; e < 256; e++) mx[e].e = (uint8_t)e;
    if (moe_dequantize_row(MOE_TYPE_MXFP4, mx, a, 256 * 32) || moe_dequantize_row_generic(MOE_TYPE_MXFP4, mx, b, 256 * 32) ||
        memcmp(a, b, 256 * 32 * sizeof(float)))
        fail("dequant MXFP4: not every exponent byte gives the generic bits\n");
    cases++;
    free(h); free(a); free(b); free(mx);
    return cases;
}

int main(void) {
    const char *features = moe_kernels_features();
    const int is_neon = strcmp(features, "neon") == 0;
    printf("features: %s\n", features);

    const long qc = quant_cases();
    printf("activation quantizers Q8_0 Q8_1 Q8_K: %ld rows, bytes equal to the generic ones unless reported\n", qc);
    const long dc = dequant_cases();
    printf("dequantization, %d types: %ld rows (plus all F16/BF16 bit patterns, all MXFP4 exponents)\n", NTYPES, dc);

    long tot_exact = 0, tot_tol = 0;
    for (int ti = 0; ti < NTYPES; ti++) {
        const uint32_t t = TYPES[ti].t;
        const int64_t bs = moe_type_block_size(t);
        // -128 activation codes: outside the contract of the x86 SIMD Q8_0 · Q8_0 product only (moe_quant.h)
        const int allow128 = is_neon || t != MOE_TYPE_Q8_0;
        dot_stats ds = {0};
        int c = 0;
        for (int wprof = W_RANDOM; wprof <= W_BIG; wprof++) for (int ap = -1; ap <= A_MIN; ap++) {
            if ((wprof == W_RANDOM) != (ap < 0) || (ap == A_MIN && wprof != W_EDGE)) continue;
            for (int rep = 0; rep < 6; rep++, c++) {
                seed(10000 + 1000 * ti + c);
                int64_t K;
                if (bs == 1) { static const int64_t ks[] = {1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 100, 256, 1000, 4096}; K = ks[irand(0, 13)]; }
                else if (bs == 32) K = 32 * (rep < 2 ? irand(1, 4) : rep < 5 ? irand(5, 20) : 128);
                else K = 256 * (rep < 4 ? irand(1, 3) : 16);
                const int64_t M = irand(1, 9), N = irand(1, 6);
                dot_case(t, TYPES[ti].name, M, N, K, wprof, ap, irand(0, 2), allow128, &ds);
            }
        }
        printf("dot %-6s (%2u): %4ld pairs bit-exact (%3ld all-zero, %3ld with -128 codes), %3ld within rounding (worst %.2g of sum |w x|), %4ld matmul outputs = dots\n",
               TYPES[ti].name, t, ds.exact, ds.zero, ds.exact128, ds.tol, ds.worst, ds.tiles);
        if (ds.exact - ds.zero < 500) fail("dot %s: only %ld non-zero bit-exact pairs\n", TYPES[ti].name, ds.exact - ds.zero);
        if (is_neon && ds.exact128 == 0 && !is_float_type(t)) fail("dot %s: no bit-exact pair with an activation code -128\n", TYPES[ti].name);
        tot_exact += ds.exact; tot_tol += ds.tol;
    }
    printf("features %s: %ld quantizer rows, %ld dequantized rows, %ld bit-exact dot pairs, %ld rounding-only pairs: %d failures\n",
           features, qc, dc, tot_exact, tot_tol, fails);
    return fails != 0;
}
