/*
 * gemm_avx2.h -- pydl's product kernels of products.h for x86-64 CPUs with AVX2 and FMA
 * (Intel since Haswell, AMD since Zen 1, and AVX-512 CPUs whose VMs mask AVX-512):
 *
 *   pydl_gemm_avx2_f32   tiles of 16 rows by 6 columns of C (12 of the 16 ymm registers)
 *   pydl_gemm_avx2_f64   tiles of 8 rows by 6 columns
 *
 * (the tile: gemm_tile.h; edges by _mm256_maskload/maskstore, which touch no element past
 * the operands). Compiled for AVX2+FMA whatever the build's -march; the caller checks the
 * CPU first (__builtin_cpu_supports("avx2") && ("fma")). PYDL_HAVE_GEMM_AVX2 says whether
 * this compiler built them (GCC or clang, x86-64).
 */
#ifndef PYDL_GEMM_AVX2_H
#define PYDL_GEMM_AVX2_H

#include "products.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PYDL_HAVE_GEMM_AVX2 1
#include <immintrin.h>

/* The first n lanes of v stored at p, through a copy on the stack: vmaskmov's store is
 * microcoded on AMD's Zen (tiles of 1-8 rows, e.g. the planar network's, store every
 * column that way). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
pydl_avx2_store_f32(float *p, int n, __m256 v)
{
    float lane[8];
    _mm256_storeu_ps(lane, v);
    for (int i = 0; i < n; i++)
        p[i] = lane[i];
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
pydl_avx2_store_f64(double *p, int n, __m256d v)
{
    double lane[4];
    _mm256_storeu_pd(lane, v);
    for (int i = 0; i < n; i++)
        p[i] = lane[i];
}

/* ---- float: 8 lanes ---- */
#define GT_PUBLIC pydl_gemm_avx2_f32
#define GT(x) pydl_avx2_f32_##x
#define GT_ATTR __attribute__((target("avx2,fma")))
#define T float
#define V __m256
#define VL 8
#define ROWV 2
#define NR 6
#define MC 128
#define KC 384
#define MASK int /* the lane count: see pydl_avx2_store_f32 */
#define V_LANES(n) (n)
#define V_LOAD(p) _mm256_loadu_ps(p)
#define V_LOADM(p, m) \
    _mm256_maskload_ps((p), _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)))
#define V_STORE(p, v) _mm256_storeu_ps((p), (v))
#define V_STOREM(p, m, v) pydl_avx2_store_f32((p), (m), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ZERO() _mm256_setzero_ps()
#define V_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_ROUNDED(v) __asm__("" : "+x"(v))
#define V_RELU(s, v) _mm256_and_ps(_mm256_cmp_ps((s), V_ZERO(), _CMP_GT_OQ), (v))
#define V_LEAKY(s, v, slope) \
    _mm256_blendv_ps(_mm256_mul_ps((v), (slope)), (v), _mm256_cmp_ps((s), V_ZERO(), _CMP_GT_OQ))
#include "gemm_tile.h"

/* ---- double: 4 lanes ---- */
#define GT_PUBLIC pydl_gemm_avx2_f64
#define GT(x) pydl_avx2_f64_##x
#define GT_ATTR __attribute__((target("avx2,fma")))
#define T double
#define V __m256d
#define VL 4
#define ROWV 2
#define NR 6
#define MC 64
#define KC 384
#define MASK int
#define V_LANES(n) (n)
#define V_LOAD(p) _mm256_loadu_pd(p)
#define V_LOADM(p, m) \
    _mm256_maskload_pd((p), _mm256_cmpgt_epi64(_mm256_set1_epi64x(m), _mm256_setr_epi64x(0, 1, 2, 3)))
#define V_STORE(p, v) _mm256_storeu_pd((p), (v))
#define V_STOREM(p, m, v) pydl_avx2_store_f64((p), (m), (v))
#define V_SET1(x) _mm256_set1_pd(x)
#define V_ZERO() _mm256_setzero_pd()
#define V_FMA(a, b, c) _mm256_fmadd_pd((a), (b), (c))
#define V_MUL(a, b) _mm256_mul_pd((a), (b))
#define V_ADD(a, b) _mm256_add_pd((a), (b))
#define V_ROUNDED(v) __asm__("" : "+x"(v))
#define V_RELU(s, v) _mm256_and_pd(_mm256_cmp_pd((s), V_ZERO(), _CMP_GT_OQ), (v))
#define V_LEAKY(s, v, slope) \
    _mm256_blendv_pd(_mm256_mul_pd((v), (slope)), (v), _mm256_cmp_pd((s), V_ZERO(), _CMP_GT_OQ))
#include "gemm_tile.h"

#endif /* x86-64 with GCC or clang */

#endif /* PYDL_GEMM_AVX2_H */
