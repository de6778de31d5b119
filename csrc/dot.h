/*
 * dot.h -- pydl's "dot form" product kernel, for inference (and for the product door:
 * it is the kernel for products whose two operands both run along k).
 *
 *   C (m, n) := A (m, K) . W (n, K)^T + bias,   C[j, i] = bias[i] + sum_k A[j, k] W[i, k]
 *
 * Row j of A starts at A + j lda, row i of W at W + i K (theta's row-major W[l]), row j of C
 * at C + j ldc: the rows of X a user passes and the rows of theta's W[l] are both read along
 * k where they lie, so a single example needs no transpose and no packing (the training
 * step's kernels, sgemm.h and BLAS, read W across k and copy it first).
 *
 * The order of every element is fixed: DOT_VL lanes, lane r an FMA chain over the k with
 * k % DOT_VL == r in increasing k from 0 (past K: zeros, which add +0), then the lanes
 * summed pairwise (lane r += lane r + w for w = VL/2, ..., 1), then the bias added. So an
 * element's bits depend on the instruction set (the lane count) only: never on the tile,
 * on m, on which other rows share the call, or on the thread that computes it.
 *
 * Instantiated by net.c once per (type, instruction set), with:
 *   DOT_T       float or double          DOT_V     the vector type of DOT_VL DOT_T
 *   DOT_LOAD(p) an unaligned load        DOT_FMA(a, b, c)  a * b + c, fused where the
 *   DOT_ZERO()  the zero vector                            set has FMA
 *   DOT_RI, DOT_RJ  the register tile: units by examples (DOT_RI1 units for one example)
 *   DOT_TARGET  the function attribute that compiles it for the set   DOT_NAME  its name
 * No allocation; the caller splits the work (by rows of C) among threads.
 */

/* The DOT_RI-unit by `rj`-example tile at units i0.. (units >= n: the last one again, not
 * stored) and examples j0..j0+rj, all of K. */
DOT_TARGET static inline DOT_INLINE_ATTR void
DOT_CAT(DOT_NAME, tile)(int ri, int rj, int n, int K, const DOT_T *W, const DOT_T *bias,
                        const DOT_T *A, ptrdiff_t lda, DOT_T *C, ptrdiff_t ldc, int i0, int j0)
{
    DOT_V acc[DOT_RI1 > DOT_RI ? DOT_RI1 : DOT_RI][DOT_RJ];
    const DOT_T *w[DOT_RI1 > DOT_RI ? DOT_RI1 : DOT_RI];
    const DOT_T *a[DOT_RJ];
    for (int r = 0; r < ri; r++) {
        w[r] = W + (ptrdiff_t)(i0 + r < n ? i0 + r : n - 1) * K;
        for (int c = 0; c < rj; c++)
            acc[r][c] = DOT_ZERO();
    }
    for (int c = 0; c < rj; c++)
        a[c] = A + (ptrdiff_t)(j0 + c) * lda;
    int k = 0;
    for (; k + DOT_VL <= K; k += DOT_VL) {
        DOT_V av[DOT_RJ];
        for (int c = 0; c < rj; c++)
            av[c] = DOT_LOAD(a[c] + k);
        for (int r = 0; r < ri; r++) {
            const DOT_V wv = DOT_LOAD(w[r] + k);
            for (int c = 0; c < rj; c++)
                acc[r][c] = DOT_FMA(wv, av[c], acc[r][c]);
        }
    }
    if (k < K) { /* the last K % VL values, zero-padded */
        DOT_T pad[DOT_VL];
        DOT_V av[DOT_RJ];
        for (int c = 0; c < rj; c++) {
            for (int q = 0; q < DOT_VL; q++)
                pad[q] = k + q < K ? a[c][k + q] : 0;
            av[c] = DOT_LOAD(pad);
        }
        for (int r = 0; r < ri; r++) {
            for (int q = 0; q < DOT_VL; q++)
                pad[q] = k + q < K ? w[r][k + q] : 0;
            const DOT_V wv = DOT_LOAD(pad);
            for (int c = 0; c < rj; c++)
                acc[r][c] = DOT_FMA(wv, av[c], acc[r][c]);
        }
    }
    for (int r = 0; r < ri; r++) {
        if (i0 + r >= n)
            break;
        for (int c = 0; c < rj; c++) {
            DOT_T lane[DOT_VL];
            memcpy(lane, &acc[r][c], sizeof lane);
            for (int h = DOT_VL / 2; h >= 1; h /= 2)
                for (int q = 0; q < h; q++)
                    lane[q] += lane[q + h];
            C[(ptrdiff_t)(j0 + c) * ldc + i0 + r] = lane[0] + bias[i0 + r];
        }
    }
}

/* C (m, n) := A (m, K) . W^T + bias, as the file header says. */
DOT_TARGET static void DOT_NAME(int m, int n, int K, const DOT_T *W, const DOT_T *bias,
                                const DOT_T *A, ptrdiff_t lda, DOT_T *C, ptrdiff_t ldc)
{
    int j0 = 0;
    /* whole tiles of DOT_RJ examples: units outside, so that the tile's rows of W stay in
     * L1 while the examples pass */
    if (m >= DOT_RJ) {
        const int mj = m - m % DOT_RJ;
        for (int i0 = 0; i0 < n; i0 += DOT_RI)
            for (int j = 0; j < mj; j += DOT_RJ)
                DOT_CAT(DOT_NAME, tile)(DOT_RI, DOT_RJ, n, K, W, bias, A, lda, C, ldc, i0, j);
        j0 = mj;
    }
    for (; j0 < m; j0++) /* one example at a time: wider tiles of units */
        for (int i0 = 0; i0 < n; i0 += DOT_RI1)
            DOT_CAT(DOT_NAME, tile)(DOT_RI1, 1, n, K, W, bias, A, lda, C, ldc, i0, j0);
}
