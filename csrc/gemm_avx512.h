/*
 * sgemm.h -- pydl's own float matrix product, for x86-64 CPUs with AVX-512.
 *
 * pydl_sgemm_avx512(M, N, K, alpha, A, lda, acols, B, sbk, sbj, bcols, C, ldc, ep):
 * C (M, N) := alpha * A (M, K) * B (K, N), C column-major with ldc. Column k of A starts at
 * A + k*lda (its M values contiguous); B's element (k, j) is B[k*sbk + j*sbj], so B may be
 * read either way round without a copy (acols, bcols: columns picked by index instead; ep:
 * what the final store does besides, see pydl_epilogue). Tiles of 32 rows by 12 columns of
 * C are held in 24 of the 32 zmm registers over a chunk of K; A is read in place, B by
 * broadcasts (no packing). Chunks of K and blocks of rows keep the A block in L2 and the
 * tile's columns of B in L1 while the tiles pass.
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
#include <stdint.h>

#include "products.h" /* the contract this kernel keeps, and pydl_epilogue */

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define PYDL_HAVE_OWN_SGEMM 1
#include <immintrin.h>

#define PYDL_AVX512 __attribute__((target("avx512f")))

enum { SG_VL = 16, SG_NR = 12 }; /* floats per vector; columns per tile */
#define SG_UNROLL _Pragma("GCC unroll 12")

PYDL_AVX512 static inline __mmask16 sg_lanes(int n) { return (__mmask16)((1u << n) - 1u); }

PYDL_AVX512 static inline __m512 sg_load_lanes(const float *p, __mmask16 k)
{
    return _mm512_maskz_loadu_ps(k, p);
}

/* Rows [i0, i0 + nv*SG_VL) (the last vector masked by `last`) by `width` columns of C at
 * column pointers b[0..width) of B (nv and width are constants where this is inlined),
 * over K values of k; the chains start from 0, or from C where `resume`. Columns >= nc are
 * computed (on a repeated column) but not stored. With an epilogue `ep` (the last chunk of
 * K only), bias and gate point at the tile's rows and first column. */
PYDL_AVX512 static inline __attribute__((always_inline)) void
sg_tile(int nv, __mmask16 last, int width, int nc, int resume, int K, float alpha,
        const float *A, ptrdiff_t lda, const int32_t *acols, const float *const *b,
        ptrdiff_t sbk, float *C, ptrdiff_t ldc, const pydl_epilogue *ep, const float *bias,
        const float *gate)
{
    /* every loop over the tile's columns is unrolled, so that acc0/acc1 stay in registers
     * (an array indexed at run time lives in memory: the kernel ran at a third the speed) */
    __m512 acc0[SG_NR], acc1[SG_NR];
    SG_UNROLL
    for (int c = 0; c < width; c++) {
        const float *in = C + (c < nc ? c : 0) * ldc;
        acc0[c] = !resume ? _mm512_setzero_ps()
                  : nv == 2 ? _mm512_loadu_ps(in) : sg_load_lanes(in, last);
        acc1[c] = !resume || nv == 1 ? _mm512_setzero_ps() : sg_load_lanes(in + SG_VL, last);
    }
    for (int k = 0; k < K; k++) {
        const float *a = A + (acols ? acols[k] : k) * lda;
        const __m512 a0 = nv == 2 ? _mm512_loadu_ps(a) : sg_load_lanes(a, last);
        const __m512 a1 = nv == 2 ? sg_load_lanes(a + SG_VL, last) : _mm512_setzero_ps();
        const ptrdiff_t kb = k * sbk;
        SG_UNROLL
        for (int c = 0; c < width; c++) {
            const __m512 bc = _mm512_set1_ps(b[c][kb]);
            acc0[c] = _mm512_fmadd_ps(a0, bc, acc0[c]);
            if (nv == 2)
                acc1[c] = _mm512_fmadd_ps(a1, bc, acc1[c]);
        }
    }
    const __m512 va = _mm512_set1_ps(alpha), zero = _mm512_setzero_ps();
    const __m512 slope = _mm512_set1_ps(ep ? (float)ep->slope : 0.0f);
    const __mmask16 m0 = nv == 2 ? sg_lanes(SG_VL) : last, m1 = nv == 2 ? last : 0;
    const __m512 b0 = bias ? sg_load_lanes(bias, m0) : zero;
    const __m512 b1 = bias ? sg_load_lanes(bias + SG_VL, m1) : zero;
    SG_UNROLL
    for (int c = 0; c < width; c++) {
        if (c >= nc)
            break;
        __m512 v[2] = {_mm512_mul_ps(acc0[c], va), _mm512_mul_ps(acc1[c], va)};
        if (ep) {
            const __mmask16 m[2] = {m0, m1};
            for (int h = 0; h < nv; h++) {
                if (bias)
                    v[h] = _mm512_add_ps(v[h], h ? b1 : b0);
                if (ep->rectify == PYDL_RECTIFY_NONE)
                    continue;
                const __m512 sign = gate ? sg_load_lanes(gate + c * ep->ldg + h * SG_VL, m[h])
                                         : v[h];
                const __mmask16 up = _mm512_cmp_ps_mask(sign, zero, _CMP_GT_OQ);
                v[h] = ep->rectify == PYDL_RECTIFY_RELU
                           ? _mm512_maskz_mov_ps(up, v[h])
                           : _mm512_mask_blend_ps(up, _mm512_mul_ps(v[h], slope), v[h]);
            }
        }
        float *out = C + c * ldc;
        if (nv == 2) {
            _mm512_storeu_ps(out, v[0]);
            _mm512_mask_storeu_ps(out + SG_VL, last, v[1]);
        } else {
            _mm512_mask_storeu_ps(out, last, v[0]);
        }
    }
}

/* The tile of nc columns, computed in the narrowest of 12, 8, 4, 2 or 1 columns that holds
 * them (the FMA chains are the same in all: only fewer wasted columns). */
PYDL_AVX512 static inline __attribute__((always_inline)) void
sg_column_tile(int nv, __mmask16 last, int nc, int resume, int K, float alpha, const float *A,
               ptrdiff_t lda, const int32_t *acols, const float *const *b, ptrdiff_t sbk,
               float *C, ptrdiff_t ldc, const pydl_epilogue *ep, const float *bias,
               const float *gate)
{
#define SG_TILE(width, resume_) \
    sg_tile(nv, last, width, nc, resume_, K, alpha, A, lda, acols, b, sbk, C, ldc, ep, bias, \
            gate)
    if (resume) /* a constant here too: a run-time choice spilled accumulators */
        SG_TILE(SG_NR, 1);
    else if (nc > 2 * SG_NR / 3)
        SG_TILE(SG_NR, 0);
    else if (nc > SG_NR / 3)
        SG_TILE(2 * SG_NR / 3, 0);
    else if (nc > 2)
        SG_TILE(SG_NR / 3, 0);
    else if (nc == 2)
        SG_TILE(2, 0);
    else
        SG_TILE(1, 0);
#undef SG_TILE
}

/* The M rows by N columns of C over k in [k0, k0 + kc): the tiles, 2 SG_VL rows at a time
 * down each SG_NR columns of B. */
PYDL_AVX512 static void sg_block(int M, int N, int k0, int kc, int resume, float alpha,
                                 const float *A, ptrdiff_t lda, const int32_t *acols,
                                 const float *B, ptrdiff_t sbk, ptrdiff_t sbj,
                                 const int32_t *bcols, float *C, ptrdiff_t ldc,
                                 const pydl_epilogue *ep)
{
    const __mmask16 full = sg_lanes(SG_VL);
    const float *Ak = acols ? A : A + k0 * lda;
    const int32_t *ak = acols ? acols + k0 : NULL;
    const float *bias = ep ? (const float *)ep->bias : NULL;
    const float *gate = ep ? (const float *)ep->gate : NULL;
    for (int j0 = 0; j0 < N; j0 += SG_NR) {
        const int nc = N - j0 < SG_NR ? N - j0 : SG_NR;
        const float *b[SG_NR];
        for (int c = 0; c < SG_NR; c++) /* past the edge: the last column again */
        {
            const int j = j0 + (c < nc ? c : nc - 1);
            b[c] = B + k0 * sbk + (ptrdiff_t)(bcols ? bcols[j] : j) * sbj;
        }
        float *Cj = C + (ptrdiff_t)j0 * ldc;
        const float *Gj = gate ? gate + (ptrdiff_t)j0 * ep->ldg : NULL;
#define SG_AT(i) Ak + (i), lda, ak, b, sbk, Cj + (i), ldc, ep, bias ? bias + (i) : NULL, \
                 Gj ? Gj + (i) : NULL
        int i0 = 0;
        for (; i0 + 2 * SG_VL <= M; i0 += 2 * SG_VL)
            sg_column_tile(2, full, nc, resume, kc, alpha, SG_AT(i0));
        const int rest = M - i0;
        if (rest > SG_VL)
            sg_column_tile(2, sg_lanes(rest - SG_VL), nc, resume, kc, alpha, SG_AT(i0));
        else if (rest > 0)
            sg_column_tile(1, sg_lanes(rest), nc, resume, kc, alpha, SG_AT(i0));
#undef SG_AT
    }
}

/* The product, with the epilogue ep (or NULL) on its final store. Where acols (bcols) is
 * given, column k of A is A + acols[k] lda (column j of B starts at B + bcols[j] sbj): the
 * rows of X a mini-batch takes, read where they lie. */
PYDL_AVX512 static void pydl_sgemm_avx512(int M, int N, int K, float alpha, const float *A,
                                          ptrdiff_t lda, const int32_t *acols, const float *B,
                                          ptrdiff_t sbk, ptrdiff_t sbj, const int32_t *bcols,
                                          float *C, ptrdiff_t ldc, const pydl_epilogue *ep)
{
    /* rows in blocks of MC, and a K over 2 KC in equal chunks of at most KC: an A block of
     * at most MC x 2 KC floats (a shorter K in chunks gained nothing, and lost the narrow
     * tiles, which a resumed chain does without) */
    enum { SG_KC = 384, SG_MC = 128 };
    const int chunks = K > 2 * SG_KC ? (K + SG_KC - 1) / SG_KC : 1;
    for (int q = 0; q < chunks; q++) {
        const int k0 = (int)((ptrdiff_t)K * q / chunks);
        const int k1 = (int)((ptrdiff_t)K * (q + 1) / chunks);
        const int final = q == chunks - 1; /* alpha and the epilogue once, at the end */
        for (int i_lo = 0; i_lo < M; i_lo += SG_MC) {
            const int i_hi = M - i_lo < SG_MC ? M : i_lo + SG_MC;
            pydl_epilogue at = ep ? *ep : (pydl_epilogue){0};
            if (ep && ep->bias)
                at.bias = (const float *)ep->bias + i_lo;
            if (ep && ep->gate)
                at.gate = (const float *)ep->gate + i_lo;
            sg_block(i_hi - i_lo, N, k0, k1 - k0, q > 0, final ? alpha : 1.0f, A + i_lo, lda,
                     acols, B, sbk, sbj, bcols, C + i_lo, ldc, ep && final ? &at : NULL);
        }
    }
}

#endif /* x86-64 with GCC or clang */

#endif /* PYDL_SGEMM_H */
