/*
 * sgemm_tile.h -- one register-tiled float product kernel, included by sgemm.h once per
 * vector instruction set with:
 *   KFN(name)  the function's name for this set      KATTR   its target attribute
 *   V          the vector type (W floats)            W       floats per vector
 *   NR         columns of C per tile                 MASK    the type of a lane mask
 *   VLOAD(p)   VLOADM(p, k)   VSTORE(p, v)   VSTOREM(p, k, v)   (k: a lane mask)
 *   VMASK(n)   the mask of the first n lanes         VBCAST(x)   VFMA(a, b, c) = a*b + c
 *   VZERO()    VMUL(a, b)
 *
 * C (M, N) := alpha * A (M, K) * B (K, N), C column-major with ldc. Column k of A starts at
 * A + k*lda (its M values contiguous); B's element (k, j) is B[k*sbk + j*sbj], so B may be
 * read either way round without a copy. Tiles are 2W rows by NR columns of C, held in
 * registers over the whole of K; A is read in place (no packing).
 *
 * Every element of C is alpha * (a fused multiply-add chain over k = 0, 1, ..., K-1 from 0):
 * the same operations whatever the tile, the edge, the block or the thread that computes it.
 */

/* Rows [i0, i0 + nv*W) (the last vector masked by `last`) by `width` columns of C at
 * column pointers b[0..width) of B (nv and width are constants where this is inlined);
 * columns >= nc are computed (on a repeated column) but not stored. */
KATTR static inline __attribute__((always_inline)) void
KFN(tile)(int nv, MASK last, int width, int nc, int K, float alpha, const float *A,
          ptrdiff_t lda, const float *const *b, ptrdiff_t sbk, float *C, ptrdiff_t ldc)
{
    V acc0[NR], acc1[NR];
    for (int c = 0; c < width; c++) {
        acc0[c] = VZERO();
        acc1[c] = VZERO();
    }
    for (int k = 0; k < K; k++) {
        const float *a = A + k * lda;
        const V a0 = nv == 2 ? VLOAD(a) : VLOADM(a, last);
        const V a1 = nv == 2 ? VLOADM(a + W, last) : VZERO();
        const ptrdiff_t kb = k * sbk;
        for (int c = 0; c < width; c++) {
            const V bc = VBCAST(b[c][kb]);
            acc0[c] = VFMA(a0, bc, acc0[c]);
            if (nv == 2)
                acc1[c] = VFMA(a1, bc, acc1[c]);
        }
    }
    const V va = VBCAST(alpha);
    for (int c = 0; c < width; c++) { /* a constant trip count keeps acc in registers */
        if (c >= nc)
            break;
        float *out = C + c * ldc;
        if (nv == 2) {
            VSTORE(out, VMUL(acc0[c], va));
            VSTOREM(out + W, last, VMUL(acc1[c], va));
        } else {
            VSTOREM(out, last, VMUL(acc0[c], va));
        }
    }
}

/* The tile of nc columns, computed in the narrowest of NR, 2NR/3, NR/3, 2, 1 columns that
 * holds them (the FMA chains are the same in all: only fewer wasted columns). */
KATTR static inline __attribute__((always_inline)) void
KFN(column_tile)(int nv, MASK last, int nc, int K, float alpha, const float *A, ptrdiff_t lda,
                 const float *const *b, ptrdiff_t sbk, float *C, ptrdiff_t ldc)
{
    if (nc > 2 * NR / 3)
        KFN(tile)(nv, last, NR, nc, K, alpha, A, lda, b, sbk, C, ldc);
    else if (nc > NR / 3)
        KFN(tile)(nv, last, 2 * NR / 3, nc, K, alpha, A, lda, b, sbk, C, ldc);
    else if (nc > 2)
        KFN(tile)(nv, last, NR / 3, nc, K, alpha, A, lda, b, sbk, C, ldc);
    else if (nc == 2)
        KFN(tile)(nv, last, 2, nc, K, alpha, A, lda, b, sbk, C, ldc);
    else
        KFN(tile)(nv, last, 1, nc, K, alpha, A, lda, b, sbk, C, ldc);
}

KATTR static void KFN(sgemm)(int M, int N, int K, float alpha, const float *A, ptrdiff_t lda,
                             const float *B, ptrdiff_t sbk, ptrdiff_t sbj, float *C,
                             ptrdiff_t ldc)
{
    const MASK full = VMASK(W);
    for (int j0 = 0; j0 < N; j0 += NR) {
        const int nc = N - j0 < NR ? N - j0 : NR;
        const float *b[NR];
        for (int c = 0; c < NR; c++) /* past the edge: the last column again */
            b[c] = B + (ptrdiff_t)(j0 + (c < nc ? c : nc - 1)) * sbj;
        float *Cj = C + (ptrdiff_t)j0 * ldc;
        int i0 = 0;
        for (; i0 + 2 * W <= M; i0 += 2 * W)
            KFN(column_tile)(2, full, nc, K, alpha, A + i0, lda, b, sbk, Cj + i0, ldc);
        const int rest = M - i0;
        if (rest > W)
            KFN(column_tile)(2, VMASK(rest - W), nc, K, alpha, A + i0, lda, b, sbk, Cj + i0,
                             ldc);
        else if (rest > 0)
            KFN(column_tile)(1, VMASK(rest), nc, K, alpha, A + i0, lda, b, sbk, Cj + i0, ldc);
    }
}
