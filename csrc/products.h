/*
 * products.h -- the contract every matrix-product kernel of pydl keeps (the product door).
 *
 * A kernel computes C (M, N) := alpha * A (M, K) * B (K, N), C column-major with ldc:
 *   column k of A starts at A + (acols ? acols[k] : k) * lda (its M values contiguous);
 *   B's element (k, j) is B[k * sbk + (bcols ? bcols[j] : j) * sbj], so B may be read either
 *   way round without a copy, and a mini-batch's rows of X are read where they lie;
 * and applies the epilogue ep (NULL: none) to each value as it stores it (below).
 *
 * Every element of C is alpha * (a fused multiply-add chain over k = 0, 1, ..., K-1 from 0),
 * then the epilogue: the same operations whatever the tile, the edge, the block, the thread
 * or the instruction set that computes it, so that every kernel that keeps this contract
 * (AVX-512, AVX2+FMA, generic C with fma()) gives the same bits. The BLAS (net_impl.h) keeps
 * the interface, not the bits: it sums in its own order.
 */
#ifndef PYDL_PRODUCTS_H
#define PYDL_PRODUCTS_H

#include <stddef.h>
#include <stdint.h>

/* What the final store of a product does to each value v of C (row i, column j), with
 * exactly the operations of the separate element passes it replaces (T: the product's type):
 *   bias:    v := v + bias[i]                         (the forward pass; added after alpha)
 *   rectify: relu  v := s > 0 ? v : 0
 *            leaky v := s > 0 ? v : (T)slope * v
 *            where the sign s is gate[i + j * ldg] if a gate is given (backward: g'(z) read
 *            off A), else v itself (forward: g(z)). */
enum { PYDL_RECTIFY_NONE = 0, PYDL_RECTIFY_RELU = 1, PYDL_RECTIFY_LEAKY = 2 };
typedef struct {
    const void *bias;   /* T[M]; NULL: none */
    const void *gate;   /* T, column-major with ldg; NULL: none */
    ptrdiff_t ldg;
    int rectify;
    double slope;       /* used as (T)slope */
} pydl_epilogue;

typedef void (*pydl_kernel_f32)(int M, int N, int K, float alpha, const float *A,
                                ptrdiff_t lda, const int32_t *acols, const float *B,
                                ptrdiff_t sbk, ptrdiff_t sbj, const int32_t *bcols, float *C,
                                ptrdiff_t ldc, const pydl_epilogue *ep);
typedef void (*pydl_kernel_f64)(int M, int N, int K, double alpha, const double *A,
                                ptrdiff_t lda, const int32_t *acols, const double *B,
                                ptrdiff_t sbk, ptrdiff_t sbj, const int32_t *bcols, double *C,
                                ptrdiff_t ldc, const pydl_epilogue *ep);

/* The inference copy of a layer's weights (pydl_pack): W^T in panels of PYDL_PANEL_BYTES /
 * sizeof(T) units (16 float, 8 double: one 64-byte line per k), panel p holding units
 * [p PW, (p + 1) PW) as K columns of PW contiguous values (units past n: zeros), so that a
 * panel is the A operand (lda = PW) of a product above, and the one-example kernels
 * (gemm_tile.h's one_example) read it in the same order: each output is the same FMA chain
 * over k, so a row gives the same bits alone and in any batch. */
#define PYDL_PANEL_BYTES 64

#endif /* PYDL_PRODUCTS_H */
