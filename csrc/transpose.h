/*
 * transpose.h -- out (cols, rows; ld ldo) := in (rows, cols; ld ldi)^T, column-major:
 * out[c + r ldo] = in[r + c ldi]. A copy: every path gives the same bits.
 *
 * The training step keeps a copy of every layer's W in the orientation its forward product
 * reads (net_impl.h: transpose_weights, update_transposing): 235k values a step for
 * 784-256-128-10. Floats go 8 x 8 at a time in AVX registers, two blocks side by side so
 * that each row of out gets whole 64-byte lines (element by element the copy was 12% of a
 * float32 batch-64 step on an Intel Xeon, perf; 120-126k against 112-120k samples/s with
 * it). Doubles go element by element in 16 x 16 tiles: 4 x 4 AVX blocks ran a float64 epoch
 * slower there (51-55k against 55-58k samples/s).
 */
#ifndef PYDL_TRANSPOSE_H
#define PYDL_TRANSPOSE_H

#include <stddef.h>

/* out := in^T over rows [r0, r1) and columns [c0, c1) of in, element by element */
#define PYDL_TRANSPOSE_SCALAR(r0, r1, c0, c1)      \
    for (int c = (c0); c < (c1); c++)              \
        for (int r = (r0); r < (r1); r++)          \
            out[c + r * ldo] = in[r + c * ldi]

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#include <immintrin.h>
#define PYDL_HAVE_TRANSPOSE_AVX 1

/* the 8 x 8 block at in (ld ldi) to out (ld ldo) */
__attribute__((target("avx"))) static inline void
pydl_transpose8_f32(const float *in, ptrdiff_t ldi, float *out, ptrdiff_t ldo)
{
    __m256 r[8], t[8], u[8];
    for (int c = 0; c < 8; c++)
        r[c] = _mm256_loadu_ps(in + c * ldi);
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm256_unpacklo_ps(r[2 * k], r[2 * k + 1]);
        t[2 * k + 1] = _mm256_unpackhi_ps(r[2 * k], r[2 * k + 1]);
    }
    for (int k = 0; k < 2; k++) {
        u[4 * k] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * k + 1] = _mm256_shuffle_ps(t[4 * k], t[4 * k + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * k + 2] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * k + 3] = _mm256_shuffle_ps(t[4 * k + 1], t[4 * k + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int k = 0; k < 4; k++) {
        _mm256_storeu_ps(out + k * ldo, _mm256_permute2f128_ps(u[k], u[k + 4], 0x20));
        _mm256_storeu_ps(out + (k + 4) * ldo, _mm256_permute2f128_ps(u[k], u[k + 4], 0x31));
    }
}

/* 8 x 8 blocks, two side by side (16 columns of in) down the rows; the edges element by
 * element */
__attribute__((target("avx"))) static void
pydl_transpose_avx_f32(int rows, int cols, const float *in, ptrdiff_t ldi, float *out,
                       ptrdiff_t ldo)
{
    int c0 = 0, r0;
    for (; c0 + 16 <= cols; c0 += 16) {
        for (r0 = 0; r0 + 8 <= rows; r0 += 8) {
            pydl_transpose8_f32(in + r0 + c0 * ldi, ldi, out + c0 + r0 * ldo, ldo);
            pydl_transpose8_f32(in + r0 + (c0 + 8) * ldi, ldi, out + c0 + 8 + r0 * ldo, ldo);
        }
        PYDL_TRANSPOSE_SCALAR(r0, rows, c0, c0 + 16);
    }
    PYDL_TRANSPOSE_SCALAR(0, rows, c0, cols);
}
#endif /* x86-64 with GCC or clang */

static void pydl_transpose_f32(int rows, int cols, const float *in, ptrdiff_t ldi, float *out,
                               ptrdiff_t ldo)
{
#ifdef PYDL_HAVE_TRANSPOSE_AVX
    if (__builtin_cpu_supports("avx")) {
        pydl_transpose_avx_f32(rows, cols, in, ldi, out, ldo);
        return;
    }
#endif
    PYDL_TRANSPOSE_SCALAR(0, rows, 0, cols);
}

static void pydl_transpose_f64(int rows, int cols, const double *in, ptrdiff_t ldi,
                               double *out, ptrdiff_t ldo)
{
    for (int c0 = 0; c0 < cols; c0 += 16) {
        const int c1 = cols - c0 < 16 ? cols : c0 + 16;
        for (int r0 = 0; r0 < rows; r0 += 16) {
            const int r1 = rows - r0 < 16 ? rows : r0 + 16;
            for (int r = r0; r < r1; r++)
                for (int c = c0; c < c1; c++)
                    out[c + r * ldo] = in[r + c * ldi];
        }
    }
}
#undef PYDL_TRANSPOSE_SCALAR

#endif /* PYDL_TRANSPOSE_H */
