/*
 * gemm_avx512.h -- pydl's product kernels of products.h for x86-64 CPUs with AVX-512F:
 *
 *   pydl_gemm_avx512_f32   tiles of 32 rows by 12 columns of C (24 of the 32 zmm registers)
 *   pydl_gemm_avx512_f64   tiles of 16 rows by 12 columns
 *
 * (the tile: gemm_tile.h). Compiled for AVX-512 whatever the build's -march; the caller
 * checks the CPU first (__builtin_cpu_supports("avx512f")). PYDL_HAVE_GEMM_AVX512 says
 * whether this compiler built them (GCC or clang, x86-64).
 *
 * Why not the BLAS for these: a step's products are small (K = the batch, or a few hundred)
 * and a BLAS packs both operands of every call first; and its kernels sum in their own
 * order (OPENBLAS_CORETYPE=Haswell holds OpenBLAS to AVX2 on an AVX-512 CPU).
 */
#ifndef PYDL_GEMM_AVX512_H
#define PYDL_GEMM_AVX512_H

#include "products.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PYDL_HAVE_GEMM_AVX512 1
#include <immintrin.h>

/* ---- float: 16 lanes ---- */
#define GT_PUBLIC pydl_gemm_avx512_f32
#define GT(x) pydl_avx512_f32_##x
#define GT_ATTR __attribute__((target("avx512f,fma")))
#define T float
#define V __m512
#define VL 16
#define ROWV 2
#define NR 12
#define MC 128
#define KC 384
#define MASK __mmask16
#define V_LANES(n) ((__mmask16)((1u << (n)) - 1u))
#define V_LOAD(p) _mm512_loadu_ps(p)
#define V_LOADM(p, m) _mm512_maskz_loadu_ps((m), (p))
#define V_STORE(p, v) _mm512_storeu_ps((p), (v))
#define V_STOREM(p, m, v) _mm512_mask_storeu_ps((p), (m), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ZERO() _mm512_setzero_ps()
#define V_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_ROUNDED(v) __asm__("" : "+v"(v))
#define V_RELU(s, v) _mm512_maskz_mov_ps(_mm512_cmp_ps_mask((s), V_ZERO(), _CMP_GT_OQ), (v))
#define V_LEAKY(s, v, slope) \
    _mm512_mask_blend_ps(_mm512_cmp_ps_mask((s), V_ZERO(), _CMP_GT_OQ), \
                         _mm512_mul_ps((v), (slope)), (v))
#define IX_T int32_t
#define IX_SET(ix, l, s) ((ix)[l] = (s))
#define V_PERM2(lo, hi, ix) _mm512_permutex2var_ps((lo), _mm512_loadu_si512(ix), (hi))
#include "gemm_tile.h"

/* ---- double: 8 lanes ---- */
#define GT_PUBLIC pydl_gemm_avx512_f64
#define GT(x) pydl_avx512_f64_##x
#define GT_ATTR __attribute__((target("avx512f,fma")))
#define T double
#define V __m512d
#define VL 8
#define ROWV 2
#define NR 12
#define MC 64
#define KC 384
#define MASK __mmask8
#define V_LANES(n) ((__mmask8)((1u << (n)) - 1u))
#define V_LOAD(p) _mm512_loadu_pd(p)
#define V_LOADM(p, m) _mm512_maskz_loadu_pd((m), (p))
#define V_STORE(p, v) _mm512_storeu_pd((p), (v))
#define V_STOREM(p, m, v) _mm512_mask_storeu_pd((p), (m), (v))
#define V_SET1(x) _mm512_set1_pd(x)
#define V_ZERO() _mm512_setzero_pd()
#define V_FMA(a, b, c) _mm512_fmadd_pd((a), (b), (c))
#define V_MUL(a, b) _mm512_mul_pd((a), (b))
#define V_ADD(a, b) _mm512_add_pd((a), (b))
#define V_ROUNDED(v) __asm__("" : "+v"(v))
#define V_RELU(s, v) _mm512_maskz_mov_pd(_mm512_cmp_pd_mask((s), V_ZERO(), _CMP_GT_OQ), (v))
#define V_LEAKY(s, v, slope) \
    _mm512_mask_blend_pd(_mm512_cmp_pd_mask((s), V_ZERO(), _CMP_GT_OQ), \
                         _mm512_mul_pd((v), (slope)), (v))
#define IX_T int64_t
#define IX_SET(ix, l, s) ((ix)[l] = (s))
#define V_PERM2(lo, hi, ix) _mm512_permutex2var_pd((lo), _mm512_loadu_si512(ix), (hi))
#include "gemm_tile.h"

#endif /* x86-64 with GCC or clang */

#endif /* PYDL_GEMM_AVX512_H */
