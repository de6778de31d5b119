/*
 * transpose.h -- out (cols, rows; ld ldo) := in (rows, cols; ld ldi)^T, column-major:
 * out[c + r ldo] = in[r + c ldi]. A copy: every path gives the same bits.
 *
 * The training step copies every layer's W to the orientation its forward product reads
 * (net_impl.h: transpose_weights), each step: 235k values for 784-256-128-10. Element by
 * element that was 12% of a batch-64 step on an Intel Xeon (perf); in AVX registers, 8 x 8
 * floats (4 x 4 doubles) at a time, it is a pass at memory speed. Two blocks side by side
 * so that each row of out gets whole 64-byte lines; what is left at the edges goes element
 * by element.
 */
#ifndef PYDL_TRANSPOSE_H
#define PYDL_TRANSPOSE_H

#include <stddef.h>

/* out := in^T over rows [r0, r1) and columns [c0, c1) of in, element by element */
#define PYDL_TRANSPOSE_SCALAR(r0, r1, c0, c1)   \
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

/* the 4 x 4 block at in (ld ldi) to out (ld ldo) */
__attribute__((target("avx"))) static inline void
pydl_transpose4_f64(const double *in, ptrdiff_t ldi, double *out, ptrdiff_t ldo)
{
    const __m256d r0 = _mm256_loadu_pd(in), r1 = _mm256_loadu_pd(in + ldi);
    const __m256d r2 = _mm256_loadu_pd(in + 2 * ldi), r3 = _mm256_loadu_pd(in + 3 * ldi);
    const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
    const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
    _mm256_storeu_pd(out, _mm256_permute2f128_pd(t0, t2, 0x20));
    _mm256_storeu_pd(out + ldo, _mm256_permute2f128_pd(t1, t3, 0x20));
    _mm256_storeu_pd(out + 2 * ldo, _mm256_permute2f128_pd(t0, t2, 0x31));
    _mm256_storeu_pd(out + 3 * ldo, _mm256_permute2f128_pd(t1, t3, 0x31));
}

/* B x B blocks, two side by side (2B columns of in) down the rows; the edges element by
 * element */
#define PYDL_TRANSPOSE_BLOCKS(B, block)                                                    \
    int c0 = 0, r0;                                                                        \
    for (; c0 + 2 * (B) <= cols; c0 += 2 * (B)) {                                          \
        for (r0 = 0; r0 + (B) <= rows; r0 += (B)) {                                        \
            block(in + r0 + c0 * ldi, ldi, out + c0 + r0 * ldo, ldo);                      \
            block(in + r0 + (c0 + (B)) * ldi, ldi, out + c0 + (B) + r0 * ldo, ldo);        \
        }                                                                                  \
        PYDL_TRANSPOSE_SCALAR(r0, rows, c0, c0 + 2 * (B));                              \
    }                                                                                      \
    PYDL_TRANSPOSE_SCALAR(0, rows, c0, cols)

__attribute__((target("avx"))) static void
pydl_transpose_avx_f32(int rows, int cols, const float *in, ptrdiff_t ldi, float *out,
                       ptrdiff_t ldo)
{
    PYDL_TRANSPOSE_BLOCKS(8, pydl_transpose8_f32);
}

__attribute__((target("avx"))) static void
pydl_transpose_avx_f64(int rows, int cols, const double *in, ptrdiff_t ldi, double *out,
                       ptrdiff_t ldo)
{
    PYDL_TRANSPOSE_BLOCKS(4, pydl_transpose4_f64);
}
#undef PYDL_TRANSPOSE_BLOCKS
#endif /* x86-64 with GCC or clang */

/* the transposes for any CPU: in AVX registers where the CPU has them */
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
#ifdef PYDL_HAVE_TRANSPOSE_AVX
    if (__builtin_cpu_supports("avx")) {
        pydl_transpose_avx_f64(rows, cols, in, ldi, out, ldo);
        return;
    }
#endif
    PYDL_TRANSPOSE_SCALAR(0, rows, 0, cols);
}
#undef PYDL_TRANSPOSE_SCALAR

#endif /* PYDL_TRANSPOSE_H */
