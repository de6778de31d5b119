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

/* The first n (<= 8) lanes of v stored at p, 4, 2 and 1 at a time: vmaskmov's store is
 * microcoded on AMD's Zen (tiles of 1-8 rows, e.g. the planar network's, store every
 * column that way), and a copy through the stack cost a store-forwarding stall per column. */
__attribute__((target("avx2,fma"), always_inline)) static inline void
pydl_avx2_store_f32(float *p, int n, __m256 v)
{
    __m128 part = _mm256_castps256_ps128(v);
    if (n == 8) {
        _mm256_storeu_ps(p, v);
        return;
    }
    if (n >= 4) {
        _mm_storeu_ps(p, part);
        part = _mm256_extractf128_ps(v, 1);
        p += 4;
        n -= 4;
    }
    if (n >= 2) {
        _mm_storel_pi((__m64 *)p, part);
        part = _mm_movehl_ps(part, part);
        p += 2;
        n -= 2;
    }
    if (n == 1)
        _mm_store_ss(p, part);
}

__attribute__((target("avx2,fma"), always_inline)) static inline void
pydl_avx2_store_f64(double *p, int n, __m256d v)
{
    __m128d part = _mm256_castpd256_pd128(v);
    if (n == 4) {
        _mm256_storeu_pd(p, v);
        return;
    }
    if (n >= 2) {
        _mm_storeu_pd(p, part);
        part = _mm256_extractf128_pd(v, 1);
        p += 2;
        n -= 2;
    }
    if (n == 1)
        _mm_store_sd(p, part);
}

/* Lane l := value idx[l] (0..15) of lo's 8 values then hi's (V_PERM2 of gemm_tile.h;
 * vpermps takes the index's low 3 bits) */
__attribute__((target("avx2,fma"), always_inline)) static inline __m256
pydl_avx2_perm2_ps(__m256 lo, __m256 hi, const int32_t *ix)
{
    const __m256i idx = _mm256_loadu_si256((const __m256i *)ix);
    const __m256 from_hi = _mm256_castsi256_ps(_mm256_cmpgt_epi32(idx, _mm256_set1_epi32(7)));
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx),
                            _mm256_permutevar8x32_ps(hi, idx), from_hi);
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
#define IX_T int32_t
#define IX_SET(ix, l, s) ((ix)[l] = (s))
#define V_PERM2(lo, hi, ix) pydl_avx2_perm2_ps((lo), (hi), (ix))
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
/* a double is two 32-bit halves: value s is halves 2s, 2s + 1 of the 16 (vpermps) */
#define IX_T int32_t
#define IX_SET(ix, l, s) ((ix)[2 * (l)] = 2 * (s), (ix)[2 * (l) + 1] = 2 * (s) + 1)
#define V_PERM2(lo, hi, ix) \
    _mm256_castps_pd(pydl_avx2_perm2_ps(_mm256_castpd_ps(lo), _mm256_castpd_ps(hi), (ix)))
#include "gemm_tile.h"

#endif /* x86-64 with GCC or clang */

#endif /* PYDL_GEMM_AVX2_H */
