/*
 * sgemm.h -- pydl's own float matrix product for x86-64 with AVX-512 or AVX2 + FMA.
 *
 * pydl_sgemm_own(M, N, K, alpha, A, lda, B, sbk, sbj, C, ldc): see sgemm_tile.h. Compiled for
 * both instruction sets whatever the build's -march; pydl_sgemm_own_level() says which one
 * this CPU runs (0: neither, the caller uses the BLAS).
 *
 * Why not the BLAS for these: the products of a training step are small (K = the batch, or a
 * few hundred), and a BLAS packs both operands of every call into its own layout first;
 * reading A in place and B by broadcasts needs no packing. And the BLAS's kernels are the
 * BLAS's choice (OPENBLAS_CORETYPE=Haswell holds OpenBLAS to AVX2 on an AVX-512 CPU).
 */
#ifndef PYDL_SGEMM_H
#define PYDL_SGEMM_H

#include <stddef.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PYDL_HAVE_OWN_SGEMM 1
#include <immintrin.h>

/* ---- AVX-512: 32 x 12 tiles in 24 of the 32 zmm registers ---- */
#define KFN(name) avx512_##name
#define KATTR __attribute__((target("avx512f")))
#define V __m512
#define W 16
#define NR 12
#define MASK __mmask16
#define VLOAD(p) _mm512_loadu_ps(p)
#define VLOADM(p, k) _mm512_maskz_loadu_ps((k), (p))
#define VSTORE(p, v) _mm512_storeu_ps((p), (v))
#define VSTOREM(p, k, v) _mm512_mask_storeu_ps((p), (k), (v))
#define VMASK(n) ((__mmask16)((1u << (n)) - 1u))
#define VBCAST(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define VZERO() _mm512_setzero_ps()
#define VMUL(a, b) _mm512_mul_ps((a), (b))
#include "sgemm_tile.h"
#undef KFN
#undef KATTR
#undef V
#undef W
#undef NR
#undef MASK
#undef VLOAD
#undef VLOADM
#undef VSTORE
#undef VSTOREM
#undef VMASK
#undef VBCAST
#undef VFMA
#undef VZERO
#undef VMUL

/* ---- AVX2 + FMA: 16 x 6 tiles in 12 of the 16 ymm registers ---- */
#define KFN(name) avx2_##name
#define KATTR __attribute__((target("avx2,fma")))
#define V __m256
#define W 8
#define NR 6
#define MASK __m256i
#define VLOAD(p) _mm256_loadu_ps(p)
#define VLOADM(p, k) _mm256_maskload_ps((p), (k))
#define VSTORE(p, v) _mm256_storeu_ps((p), (v))
#define VSTOREM(p, k, v) _mm256_maskstore_ps((p), (k), (v))
#define VMASK(n) _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))
#define VBCAST(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define VZERO() _mm256_setzero_ps()
#define VMUL(a, b) _mm256_mul_ps((a), (b))
#include "sgemm_tile.h"
#undef KFN
#undef KATTR
#undef V
#undef W
#undef NR
#undef MASK
#undef VLOAD
#undef VLOADM
#undef VSTORE
#undef VSTOREM
#undef VMASK
#undef VBCAST
#undef VFMA
#undef VZERO
#undef VMUL

#endif /* x86-64 with GCC or clang */

#endif /* PYDL_SGEMM_H */
