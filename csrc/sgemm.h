/*
 * sgemm.h -- pydl's own float matrix product, for x86-64 CPUs with AVX-512.
 *
 * pydl_sgemm_avx512(M, N, K, alpha, A, lda, B, sbk, sbj, C, ldc):
 * C (M, N) := alpha * A (M, K) * B (K, N), C column-major with ldc. Column k of A starts at
 * A + k*lda (its M values contiguous); B's element (k, j) is B[k*sbk + j*sbj], so B may be
 * read either way round without a copy. Tiles of 32 rows by 12 columns of C are held in 24
 * of the 32 zmm registers over a chunk of K; A is read in place, B by broadcasts (no
 * packing). Chunks of K and blocks of rows keep the A block in L2 and the tile's columns of
 * B in L1 while the tiles pass.
 *
 * Every element of C is alpha * (a fused multiply-add chain over k = 0, 1, ..., K-1 from 0):
 * the same operations whatever the tile, the edge, the block or the thread that computes it
 * (between chunks the chain's float value waits in C, exactly).
 *
 * Compiled for AVX-512 whatever the build's -march; the caller checks the CPU first
 * (net.c). Why not the BLAS: a step's products are small (K = the batch, or a few hundred),
 * and a BLAS packs both operands of every call first; and its kernels are its own choice
 * (OPENBLAS_CORETYPE=Haswell holds OpenBLAS to AVX2 on an AVX-512 CPU). On AVX2-only CPUs
 * an AVX2 version of these tiles (16 x 6) measured slower than OpenBLAS's Haswell kernels
 * in training (126k against 159k samples/s at batch 64), so those use the BLAS.
 */
#ifndef PYDL_SGEMM_H
#define PYDL_SGEMM_H

#include <stddef.h>

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PYDL_HAVE_OWN_SGEMM 1
#include <immintrin.h>

#define PYDL_AVX512 __attribute__((target("avx512f")))

enum { SG_VL = 16, SG_NR = 12 }; /* floats per vector; columns per tile */

PYDL_AVX512 static inline __mmask16 sg_lanes(int n) { return (__mmask16)((1u << n) - 1u); }

PYDL_AVX512 static inline __m512 sg_load_lanes(const float *p, __mmask16 k)
{
    return _mm512_maskz_loadu_ps(k, p);
}

/* Rows [i0, i0 + nv*SG_VL) (the last vector masked by `last`) by `width` columns of C at
 * column pointers b[0..width) of B (nv and width are constants where this is inlined),
 * over K values of k; the chains start from 0, or from C where `resume`. Columns >= nc are
 * computed (on a repeated column) but not stored. */
PYDL_AVX512 static inline __attribute__((always_inline)) void
sg_tile(int nv, __mmask16 last, int width, int nc, int resume, int K, float alpha,
        const float *A, ptrdiff_t lda, const float *const *b, ptrdiff_t sbk, float *C,
        ptrdiff_t ldc)
{
    __m512 acc0[SG_NR], acc1[SG_NR];
    for (int c = 0; c < width; c++) {
        const float *in = C + (c < nc ? c : 0) * ldc;
        acc0[c] = !resume ? _mm512_setzero_ps()
                  : nv == 2 ? _mm512_loadu_ps(in) : sg_load_lanes(in, last);
        acc1[c] = !resume || nv == 1 ? _mm512_setzero_ps() : sg_load_lanes(in + SG_VL, last);
    }
    for (int k = 0; k < K; k++) {
        const float *a = A + k * lda;
        const __m512 a0 = nv == 2 ? _mm512_loadu_ps(a) : sg_load_lanes(a, last);
        const __m512 a1 = nv == 2 ? sg_load_lanes(a + SG_VL, last) : _mm512_setzero_ps();
        const ptrdiff_t kb = k * sbk;
        for (int c = 0; c < width; c++) {
            const __m512 bc = _mm512_set1_ps(b[c][kb]);
            acc0[c] = _mm512_fmadd_ps(a0, bc, acc0[c]);
            if (nv == 2)
                acc1[c] = _mm512_fmadd_ps(a1, bc, acc1[c]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha);
    for (int c = 0; c < width; c++) { /* a constant trip count keeps acc in registers */
        if (c >= nc)
            break;
        float *out = C + c * ldc;
        if (nv == 2) {
            _mm512_storeu_ps(out, _mm512_mul_ps(acc0[c], va));
            _mm512_mask_storeu_ps(out + SG_VL, last, _mm512_mul_ps(acc1[c], va));
        } else {
            _mm512_mask_storeu_ps(out, last, _mm512_mul_ps(acc0[c], va));
        }
    }
}

/* The tile of nc columns, computed in the narrowest of SG_NR, 2NR/3, SG_NR/3, 2, 1 columns that
 * holds them (the FMA chains are the same in all: only fewer wasted columns). */
PYDL_AVX512 static inline __attribute__((always_inline)) void
sg_column_tile(int nv, __mmask16 last, int nc, int resume, int K, float alpha, const float *A,
               ptrdiff_t lda, const float *const *b, ptrdiff_t sbk, float *C, ptrdiff_t ldc)
{
    if (resume) { /* a constant here too: a run-time choice spilled accumulators */
        sg_tile(nv, last, SG_NR, nc, 1, K, alpha, A, lda, b, sbk, C, ldc);
        return;
    }
    if (nc > 2 * SG_NR / 3)
        sg_tile(nv, last, SG_NR, nc, 0, K, alpha, A, lda, b, sbk, C, ldc);
    else if (nc > SG_NR / 3)
        sg_tile(nv, last, 2 * SG_NR / 3, nc, 0, K, alpha, A, lda, b, sbk, C, ldc);
    else if (nc > 2)
        sg_tile(nv, last, SG_NR / 3, nc, 0, K, alpha, A, lda, b, sbk, C, ldc);
    else if (nc == 2)
        sg_tile(nv, last, 2, nc, 0, K, alpha, A, lda, b, sbk, C, ldc);
    else
        sg_tile(nv, last, 1, nc, 0, K, alpha, A, lda, b, sbk, C, ldc);
}

/* Rows [i_lo, i_hi) of C (i_lo a multiple of 2 SG_VL) by columns [j_lo, j_hi), over k in
 * [k0, k0 + kc): the tiles, 2 SG_VL rows at a time down each SG_NR columns of B. */
PYDL_AVX512 static void sg_block(int i_lo, int i_hi, int j_lo, int j_hi, int k0, int kc,
                                 int resume, float alpha, const float *A, ptrdiff_t lda,
                                 const float *B, ptrdiff_t sbk, ptrdiff_t sbj, float *C,
                                 ptrdiff_t ldc)
{
    const __mmask16 full = sg_lanes(SG_VL);
    const float *Ak = A + k0 * lda;
    for (int j0 = j_lo; j0 < j_hi; j0 += SG_NR) {
        const int nc = j_hi - j0 < SG_NR ? j_hi - j0 : SG_NR;
        const float *b[SG_NR];
        for (int c = 0; c < SG_NR; c++) /* past the edge: the last column again */
            b[c] = B + k0 * sbk + (ptrdiff_t)(j0 + (c < nc ? c : nc - 1)) * sbj;
        float *Cj = C + (ptrdiff_t)j0 * ldc;
        int i0 = i_lo;
        for (; i0 + 2 * SG_VL <= i_hi; i0 += 2 * SG_VL)
            sg_column_tile(2, full, nc, resume, kc, alpha, Ak + i0, lda, b, sbk, Cj + i0, ldc);
        const int rest = i_hi - i0;
        if (rest > SG_VL)
            sg_column_tile(2, sg_lanes(rest - SG_VL), nc, resume, kc, alpha, Ak + i0, lda, b,
                           sbk, Cj + i0, ldc);
        else if (rest > 0)
            sg_column_tile(1, sg_lanes(rest), nc, resume, kc, alpha, Ak + i0, lda, b, sbk,
                           Cj + i0, ldc);
    }
}

PYDL_AVX512 static void pydl_sgemm_avx512(int M, int N, int K, float alpha, const float *A,
                                          ptrdiff_t lda, const float *B, ptrdiff_t sbk,
                                          ptrdiff_t sbj, float *C, ptrdiff_t ldc)
{
    /* rows in blocks of MC, and a K over 2 KC in equal chunks of at most KC: an A block of
     * at most MC x 2 KC floats (a shorter K in chunks gained nothing, and lost the narrow
     * tiles, which a resumed chain does without) */
    enum { SG_KC = 384, SG_MC = 128 };
    const int chunks = K > 2 * SG_KC ? (K + SG_KC - 1) / SG_KC : 1;
    for (int q = 0; q < chunks; q++) {
        const int k0 = (int)((ptrdiff_t)K * q / chunks);
        const int k1 = (int)((ptrdiff_t)K * (q + 1) / chunks);
        const float scale = q == chunks - 1 ? alpha : 1.0f; /* alpha once, at the end */
        for (int i_lo = 0; i_lo < M; i_lo += SG_MC)
            sg_block(i_lo, M - i_lo < SG_MC ? M : i_lo + SG_MC, 0, N, k0, k1 - k0, q > 0,
                     scale, A, lda, B, sbk, sbj, C, ldc);
    }
}

#endif /* x86-64 with GCC or clang */

#endif /* PYDL_SGEMM_H */
