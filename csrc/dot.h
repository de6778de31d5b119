/*
 * dot.h -- pydl's "dot form" product kernel, for inference (and for the product door:
 * it is the kernel for products whose two operands both run along k).
 *
 *   C (m, n) := A (m, K) . W (n, K)^T + bias,   C[j, i] = bias[i] + sum_k A[j, k] W[i, k]
 *
 * Row j of A starts at A + j lda, row i of W at W + i K (theta's row-major W[l]), row j of C
 * at C + j ldc: the rows of X a user passes and the rows of theta's W[l] are both read along
 * k where they lie, so a single example needs no transpose and no packing (the training
 * step's product kernels (products.h) read W across k and copy it first).
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
 *   DOT_LOAD_PART(p, n)  optional: the first n < DOT_VL values at p, zeros after (a masked
 *               load that reads nothing past them)
 *   DOT_RI, DOT_RJ  the register tile: units by examples (DOT_RI1 units for one example)
 *   DOT_KC      0, or a multiple of DOT_VL: tiles of several examples take k in chunks of
 *               DOT_KC values (their lanes kept in memory between chunks: the same chains,
 *               so the same bits), so that a tile's rows of W and of A stay in L1 where
 *               (DOT_RI + DOT_RJ) rows of all of K would not
 *   DOT_TARGET  the function attribute that compiles it for the set   DOT_NAME  its name
 * No allocation; the caller splits the work (by rows of C) among threads.
 */

/* sum[e] := the lanes of v[e] summed pairwise (lane q += lane q + h, h = VL/2, ..., 1),
 * e < count. With GCC and a power-of-two count, several vectors at a time: two vectors
 * whose lanes hold blocks of width w (one element each) become one of blocks of width w/2,
 * A's blocks' halves added, then B's -- the same additions of the same values, so the same
 * bits as one element at a time, in a few shuffles and vector adds instead of VL - 1
 * scalar additions per element (which cost as much as the products on a layer of 256). */
DOT_TARGET static inline DOT_INLINE_ATTR void
DOT_CAT(DOT_NAME, reduce)(int count, DOT_V *v, DOT_T *sum)
{
#if defined(__GNUC__) && !defined(__clang__)
    if ((count & (count - 1)) == 0) {
        /* lane i of the result of a stage of half-width h: lanes lo[i] and lo[i] + h of the
         * pair (a's lanes 0..VL-1, then b's), lo[i] = 2i - i % h (constants: one vpermt2ps) */
        typedef DOT_MASK_T mask_t __attribute__((vector_size(sizeof(DOT_V))));
#define DOT_LO(i, h) (2 * (i) - (i) % (h))
#if DOT_VL == 16
#define DOT_MASK(h) {DOT_LO(0, h), DOT_LO(1, h), DOT_LO(2, h), DOT_LO(3, h), DOT_LO(4, h), \
    DOT_LO(5, h), DOT_LO(6, h), DOT_LO(7, h), DOT_LO(8, h), DOT_LO(9, h), DOT_LO(10, h), \
    DOT_LO(11, h), DOT_LO(12, h), DOT_LO(13, h), DOT_LO(14, h), DOT_LO(15, h)}
#elif DOT_VL == 8
#define DOT_MASK(h) {DOT_LO(0, h), DOT_LO(1, h), DOT_LO(2, h), DOT_LO(3, h), DOT_LO(4, h), \
    DOT_LO(5, h), DOT_LO(6, h), DOT_LO(7, h)}
#elif DOT_VL == 4
#define DOT_MASK(h) {DOT_LO(0, h), DOT_LO(1, h), DOT_LO(2, h), DOT_LO(3, h)}
#else
#define DOT_MASK(h) {DOT_LO(0, h), DOT_LO(1, h)}
#endif
        int cnt = count;
#define DOT_STAGE(h)                                                                       \
        {                                                                                  \
            const mask_t lo = DOT_MASK(h), hi = lo + (h);                                  \
            const int half = cnt > 1 ? cnt / 2 : 1;                                        \
            for (int j = 0; j < half; j++) {                                               \
                const DOT_V a = v[2 * j], b = cnt > 1 ? v[2 * j + 1] : v[2 * j];           \
                v[j] = __builtin_shuffle(a, b, lo) + __builtin_shuffle(a, b, hi);          \
            }                                                                              \
            cnt = half;                                                                    \
        }
#if DOT_VL >= 16
        DOT_STAGE(8)
#endif
#if DOT_VL >= 8
        DOT_STAGE(4)
#endif
#if DOT_VL >= 4
        DOT_STAGE(2)
#endif
        DOT_STAGE(1)
#undef DOT_STAGE
#undef DOT_MASK
#undef DOT_LO
        memcpy(sum, v, (size_t)count * sizeof(DOT_T));
        return;
    }
#endif
    for (int e = 0; e < count; e++) {
        DOT_T lane[DOT_VL];
        memcpy(lane, &v[e], sizeof lane);
        for (int h = DOT_VL / 2; h >= 1; h /= 2)
            for (int q = 0; q < h; q++)
                lane[q] += lane[q + h];
        sum[e] = lane[0];
    }
}

/* chunks of k start at multiples of DOT_VL, so that each lane keeps its k % DOT_VL */
typedef char DOT_CAT(DOT_NAME, kc_is_whole_lanes)[DOT_KC % DOT_VL == 0 ? 1 : -1];

/* The DOT_RI-unit by `rj`-example tile at units i0.. (units >= n: the last one again, not
 * stored) and examples j0..j0+rj, over k in [k0, k1) (k0 a multiple of DOT_VL): its lanes
 * start from part[] unless k0 == 0, and go back there unless k1 == K, where they are summed
 * and stored. */
DOT_TARGET static inline DOT_INLINE_ATTR void
DOT_CAT(DOT_NAME, tile)(int ri, int rj, int n, int K, int k0, int k1, DOT_V *part,
                        const DOT_T *W, const DOT_T *bias, const DOT_T *A, ptrdiff_t lda,
                        DOT_T *C, ptrdiff_t ldc, int i0, int j0)
{
    DOT_V acc[(DOT_RI1 > DOT_RI ? DOT_RI1 : DOT_RI) * DOT_RJ]; /* element r rj + c */
    const DOT_T *w[DOT_RI1 > DOT_RI ? DOT_RI1 : DOT_RI];
    const DOT_T *a[DOT_RJ];
    for (int r = 0; r < ri; r++) {
        w[r] = W + (ptrdiff_t)(i0 + r < n ? i0 + r : n - 1) * K;
        for (int c = 0; c < rj; c++)
            acc[r * rj + c] = k0 > 0 ? part[r * rj + c] : DOT_ZERO();
    }
    for (int c = 0; c < rj; c++)
        a[c] = A + (ptrdiff_t)(j0 + c) * lda;
    int k = k0;
    for (; k + DOT_VL <= k1; k += DOT_VL) {
        DOT_V av[DOT_RJ];
        for (int c = 0; c < rj; c++)
            av[c] = DOT_LOAD(a[c] + k);
        for (int r = 0; r < ri; r++) {
            const DOT_V wv = DOT_LOAD(w[r] + k);
            for (int c = 0; c < rj; c++)
                acc[r * rj + c] = DOT_FMA(wv, av[c], acc[r * rj + c]);
        }
    }
    if (k1 < K) { /* a chunk: the lanes wait in part[] for the next one */
        for (int e = 0; e < ri * rj; e++)
            part[e] = acc[e];
        return;
    }
    if (k < K) { /* the last K % VL values, zero-padded */
        DOT_V av[DOT_RJ];
#ifdef DOT_LOAD_PART /* a masked load: zeros past K, and no access there */
#define DOT_TAIL(p) DOT_LOAD_PART((p), K - k)
#else
        DOT_T pad[DOT_VL];
#define DOT_TAIL(p) (memset(pad, 0, sizeof pad), memcpy(pad, (p), (size_t)(K - k) * sizeof(DOT_T)), \
                     DOT_LOAD(pad))
#endif
        for (int c = 0; c < rj; c++)
            av[c] = DOT_TAIL(a[c] + k);
        for (int r = 0; r < ri; r++) {
            const DOT_V wv = DOT_TAIL(w[r] + k);
            for (int c = 0; c < rj; c++)
                acc[r * rj + c] = DOT_FMA(wv, av[c], acc[r * rj + c]);
        }
#undef DOT_TAIL
    }
    /* the lanes' sums of all ri * rj accumulators, element e = r rj + c */
    DOT_T sum[(DOT_RI1 > DOT_RI ? DOT_RI1 : DOT_RI) * DOT_RJ];
    { /* the largest power of two of them, then the rest (reduce is fast on powers of two) */
        const int count = ri * rj, p = count >= 32 ? 32 : count >= 16 ? 16 : count >= 8 ? 8
                                                  : count >= 4 ? 4 : count >= 2 ? 2 : 1;
        DOT_CAT(DOT_NAME, reduce)(p, acc, sum);
        if (count > p)
            DOT_CAT(DOT_NAME, reduce)(count - p, acc + p, sum + p);
    }
    for (int r = 0; r < ri; r++) {
        if (i0 + r >= n)
            break;
        for (int c = 0; c < rj; c++)
            C[(ptrdiff_t)(j0 + c) * ldc + i0 + r] = sum[r * rj + c] + bias[i0 + r];
    }
}

/* C (m, n) := A (m, K) . W^T + bias, as the file header says. */
DOT_TARGET static void DOT_NAME(int m, int n, int K, const DOT_T *W, const DOT_T *bias,
                                const DOT_T *A, ptrdiff_t lda, DOT_T *C, ptrdiff_t ldc)
{
    int j0 = 0;
    /* whole tiles of DOT_RJ examples: units outside, so that the tile's rows of W stay in
     * L1 while the examples pass; with DOT_KC, groups of GROUP tiles take each chunk of k
     * in turn (their lanes in part[] between chunks) */
    if (m >= DOT_RJ) {
        enum { GROUP = 8 };
        DOT_V part[GROUP * DOT_RI * DOT_RJ];
        const int mj = m - m % DOT_RJ, kc = DOT_KC > 0 && K > DOT_KC ? DOT_KC : K;
        for (int i0 = 0; i0 < n; i0 += DOT_RI)
            for (int g = 0; g < mj; g += GROUP * DOT_RJ) {
                const int g1 = g + GROUP * DOT_RJ < mj ? g + GROUP * DOT_RJ : mj;
                for (int k0 = 0; k0 < K; k0 += kc) {
                    const int k1 = K - k0 > kc ? k0 + kc : K;
                    for (int j = g; j < g1; j += DOT_RJ)
                        DOT_CAT(DOT_NAME, tile)(DOT_RI, DOT_RJ, n, K, k0, k1,
                                                part + (j - g) / DOT_RJ * DOT_RI * DOT_RJ, W,
                                                bias, A, lda, C, ldc, i0, j);
                }
            }
        j0 = mj;
    }
    for (; j0 < m; j0++) /* one example at a time: wider tiles of units, all of k at once */
        for (int i0 = 0; i0 < n; i0 += DOT_RI1)
            DOT_CAT(DOT_NAME, tile)(DOT_RI1, 1, n, K, 0, K, NULL, W, bias, A, lda, C, ldc, i0,
                                    j0);
}

/* one instantiation's parameters end here (DOT_TARGET and the tile sizes may serve the next) */
#undef DOT_T
#undef DOT_MASK_T
#undef DOT_V
#undef DOT_VL
#undef DOT_LOAD
#undef DOT_LOAD_PART
#undef DOT_ZERO
#undef DOT_FMA
#undef DOT_NAME
#undef DOT_KC
