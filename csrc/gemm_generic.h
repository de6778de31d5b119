/*
 * gemm_generic.h -- pydl's product kernels of products.h in plain C99, for every CPU and
 * compiler (aarch64, MSVC, x86-64 without AVX2):
 *
 *   pydl_gemm_generic_f32, pydl_gemm_generic_f64
 *
 * Each element is alpha * (an fmaf/fma chain over k = 0..K-1 from 0), then the epilogue:
 * the same operations as the SIMD kernels, so the same bits. fma() rounds once wherever it
 * runs (one instruction where the CPU has FMA, a correctly rounded library call where it
 * does not: slower, never different). The product by alpha and the bias's addition must
 * stay two roundings: GCC fuses a product into a later addition by default, so its
 * functions here are compiled with fp-contract=off; clang fuses only within one expression
 * and MSVC not at all, and they are separate statements.
 *
 * Tiles of GEN_MR rows by GEN_NR columns of C in local arrays, which compilers keep in
 * vector registers where the CPU has them; A is read in place, B by scalars. No allocation.
 */
#ifndef PYDL_GEMM_GENERIC_H
#define PYDL_GEMM_GENERIC_H

#include <math.h>

#include "products.h"

#if defined(__GNUC__) && !defined(__clang__)
#define PYDL_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define PYDL_NO_CONTRACT
#endif

enum { GEN_MR = 16, GEN_NR = 4 };

/* One instance per type: T, its fma (FMA) and the function's name (NAME) */
#define PYDL_GEMM_GENERIC(NAME, T, FMA)                                                     \
    PYDL_NO_CONTRACT static void NAME(int M, int N, int K, T alpha, const T *A,            \
                                      ptrdiff_t lda, const int32_t *acols, const T *B,      \
                                      ptrdiff_t sbk, ptrdiff_t sbj, const int32_t *bcols,   \
                                      T *C, ptrdiff_t ldc, const pydl_epilogue *ep)         \
    {                                                                                       \
        const T *bias = ep ? (const T *)ep->bias : NULL;                                    \
        const T *gate = ep ? (const T *)ep->gate : NULL;                                    \
        const int rectify = ep ? ep->rectify : PYDL_RECTIFY_NONE;                           \
        const T slope = ep ? (T)ep->slope : (T)0;                                           \
        for (int j0 = 0; j0 < N; j0 += GEN_NR) {                                            \
            const int nc = N - j0 < GEN_NR ? N - j0 : GEN_NR;                               \
            const T *b[GEN_NR];                                                             \
            for (int c = 0; c < nc; c++)                                                    \
                b[c] = B + (ptrdiff_t)(bcols ? bcols[j0 + c] : j0 + c) * sbj;               \
            for (int i0 = 0; i0 < M; i0 += GEN_MR) {                                        \
                const int mr = M - i0 < GEN_MR ? M - i0 : GEN_MR;                           \
                T acc[GEN_NR][GEN_MR] = {{0}};                                              \
                for (int k = 0; k < K; k++) {                                               \
                    const T *a = A + (ptrdiff_t)(acols ? acols[k] : k) * lda + i0;          \
                    for (int c = 0; c < nc; c++) {                                          \
                        const T bk = b[c][k * sbk];                                         \
                        if (mr == GEN_MR) /* a constant trip count: vectorized */           \
                            for (int r = 0; r < GEN_MR; r++)                                \
                                acc[c][r] = FMA(a[r], bk, acc[c][r]);                       \
                        else                                                                \
                            for (int r = 0; r < mr; r++)                                    \
                                acc[c][r] = FMA(a[r], bk, acc[c][r]);                       \
                    }                                                                       \
                }                                                                           \
                for (int c = 0; c < nc; c++) {                                              \
                    T *out = C + (ptrdiff_t)(j0 + c) * ldc + i0;                            \
                    const T *g = gate ? gate + (ptrdiff_t)(j0 + c) * ep->ldg + i0 : NULL;   \
                    for (int r = 0; r < mr; r++) {                                          \
                        T v = alpha * acc[c][r];                                            \
                        if (bias)                                                           \
                            v = v + bias[i0 + r];                                           \
                        if (rectify != PYDL_RECTIFY_NONE) {                                 \
                            const T s = g ? g[r] : v;                                       \
                            v = s > 0 ? v : rectify == PYDL_RECTIFY_RELU ? (T)0 : slope * v; \
                        }                                                                   \
                        out[r] = v;                                                         \
                    }                                                                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }

/* gemm_tile.h's one_example (see there) in plain C: the same chains, the same bits; 4
 * panels in flight. */
#define PYDL_ONE_GENERIC(NAME, T, FMA)                                                      \
    PYDL_NO_CONTRACT static void NAME(int n, int K, const T *P, const T *bias, const T *x,  \
                                      T *out, int rectify, T slope)                         \
    {                                                                                       \
        enum { PW = PYDL_PANEL_BYTES / (int)sizeof(T), G = 4 };                             \
        const int np = (n + PW - 1) / PW;                                                   \
        for (int p0 = 0; p0 < np; p0 += G) {                                                \
            const int g1 = np - p0 < G ? np - p0 : G;                                       \
            T acc[G][PW] = {{0}};                                                           \
            for (int k = 0; k < K; k++)                                                     \
                for (int g = 0; g < g1; g++) {                                              \
                    const T *w = P + ((ptrdiff_t)(p0 + g) * K + k) * PW;                    \
                    for (int r = 0; r < PW; r++)                                            \
                        acc[g][r] = FMA(w[r], x[k], acc[g][r]);                             \
                }                                                                           \
            for (int g = 0; g < g1; g++)                                                    \
                for (int r = 0; r < PW && (p0 + g) * PW + r < n; r++) {                     \
                    const int u = (p0 + g) * PW + r;                                        \
                    T v = acc[g][r] + bias[u];                                              \
                    if (rectify != PYDL_RECTIFY_NONE)                                       \
                        v = v > 0 ? v : rectify == PYDL_RECTIFY_RELU ? (T)0 : slope * v;    \
                    out[u] = v;                                                             \
                }                                                                           \
        }                                                                                   \
    }

PYDL_ONE_GENERIC(pydl_generic_f32_one_example, float, fmaf)
PYDL_ONE_GENERIC(pydl_generic_f64_one_example, double, fma)
#undef PYDL_ONE_GENERIC

PYDL_GEMM_GENERIC(pydl_gemm_generic_f32, float, fmaf)
PYDL_GEMM_GENERIC(pydl_gemm_generic_f64, double, fma)
#undef PYDL_GEMM_GENERIC

#endif /* PYDL_GEMM_GENERIC_H */
