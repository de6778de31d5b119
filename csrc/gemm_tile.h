/*
 * gemm_tile.h -- the register-tiled product kernel of products.h, written once and
 * instantiated per (instruction set, type) by gemm_avx512.h and gemm_avx2.h.
 *
 * Tiles of 2 VL rows by NR columns of C are held in 2 NR vector registers over a chunk of K;
 * A is read in place (column k: 2 vectors of its contiguous rows), B by broadcasts, where
 * they lie or, for a B read across its rows (dW's dZ^T), from a panel of NR columns packed
 * on the stack (GT(block)). Chunks of K and blocks of rows keep the A block in L2 and the
 * tile's columns of B in L1 while the tiles pass. Every element is alpha * (one FMA chain
 * over k = 0..K-1 from 0), then the epilogue: between chunks the chain's value waits in C,
 * exactly, and narrow or masked tiles run the same chains, so every tile, edge and split
 * gives the same bits (and the same as every other kernel of products.h).
 *
 * The includer defines, and this file undefines:
 *   GT_PUBLIC        the product's name          GT(x)   a prefix for the helpers' names
 *   GT_ATTR          the target attribute        T, V    the element and vector types
 *   VL, NR, MC, KC   lanes; columns per tile; rows per block; the K chunk (K > 2 KC only)
 *   ROWV             vectors of rows per tile (1 or 2: ROWV VL rows by NR columns)
 *   MASK             a lane mask: V_LANES(n), the first n lanes (1 <= n <= VL)
 *   V_LOAD(p) V_LOADM(p, m) V_STORE(p, v) V_STOREM(p, m, v) V_SET1(x) V_ZERO()
 *   V_FMA(a, b, c) = a b + c fused   V_MUL(a, b)   V_ADD(a, b)
 *   V_ROUNDED(v)     a statement that keeps the compiler from fusing v's product into the
 *                    next addition (GCC contracts across statements by default)
 *   V_RELU(s, v)     s > 0 ? v : +0        V_LEAKY(s, v, slope)  s > 0 ? v : slope v
 *   IX_T, IX_SET(ix, l, s)  an index vector's entries, and lane l of the index vector ix
 *                    taking source value s (0 <= s < 2 VL)
 *   V_PERM2(lo, hi, ix)  lane l := value ix's lane l names of the 2 VL values lo, hi
 */

/* Rows [0, nv VL) of the tile (the last vector's lanes: `last`, or all where !edge), by
 * `width` columns at column pointers b[0..width) of B (nv, edge, width, resume: constants
 * where this is inlined), over K values of k; the chains start from 0, or from C where
 * `resume`. Columns >= nc are computed (on a repeated column) but not stored. With an
 * epilogue ep (the last chunk of K only), bias and gate point at the tile's rows and first
 * column. */
GT_ATTR static inline __attribute__((always_inline)) void
GT(tile)(int nv, int edge, MASK last, int width, int nc, int resume, int K, T alpha,
         const T *A, ptrdiff_t lda, const int32_t *acols, const T *const *b, ptrdiff_t sbk,
         T *C, ptrdiff_t ldc, const pydl_epilogue *ep, const T *bias, const T *gate)
{
    /* every loop over the tile's columns is unrolled, so that acc0/acc1 stay in registers
     * (an array indexed at run time lives in memory: the kernel ran at a third the speed) */
#define GT_LOAD0(p) (nv == 1 && edge ? V_LOADM((p), last) : V_LOAD(p))
#define GT_LOAD1(p) (edge ? V_LOADM((p), last) : V_LOAD(p))
    V acc0[NR], acc1[NR];
    _Pragma("GCC unroll 12") for (int c = 0; c < width; c++)
    {
        const T *in = C + (c < nc ? c : 0) * ldc;
        acc0[c] = resume ? GT_LOAD0(in) : V_ZERO();
        acc1[c] = resume && nv == 2 ? GT_LOAD1(in + VL) : V_ZERO();
    }
    for (int k = 0; k < K; k++) {
        const T *a = A + (acols ? acols[k] : k) * lda;
        const V a0 = GT_LOAD0(a);
        const V a1 = nv == 2 ? GT_LOAD1(a + VL) : V_ZERO();
        const ptrdiff_t kb = k * sbk;
        _Pragma("GCC unroll 12") for (int c = 0; c < width; c++)
        {
            const V bc = V_SET1(b[c][kb]);
            acc0[c] = V_FMA(a0, bc, acc0[c]);
            if (nv == 2)
                acc1[c] = V_FMA(a1, bc, acc1[c]);
        }
    }
    const V va = V_SET1(alpha);
    const V slope = V_SET1(ep ? (T)ep->slope : (T)0);
    const V b0 = bias ? GT_LOAD0(bias) : V_ZERO();
    const V b1 = bias && nv == 2 ? GT_LOAD1(bias + VL) : V_ZERO();
    _Pragma("GCC unroll 12") for (int c = 0; c < width; c++)
    {
        if (c >= nc)
            break;
        V v0 = V_MUL(acc0[c], va), v1 = V_MUL(acc1[c], va);
        if (ep) {
            if (bias) {
                V_ROUNDED(v0);
                V_ROUNDED(v1);
                v0 = V_ADD(v0, b0);
                v1 = V_ADD(v1, b1);
            }
            if (ep->rectify != PYDL_RECTIFY_NONE) {
                const T *g = gate ? gate + c * ep->ldg : NULL;
                const V s0 = g ? GT_LOAD0(g) : v0;
                const V s1 = g && nv == 2 ? GT_LOAD1(g + VL) : v1;
                if (ep->rectify == PYDL_RECTIFY_RELU) {
                    v0 = V_RELU(s0, v0);
                    v1 = V_RELU(s1, v1);
                } else {
                    v0 = V_LEAKY(s0, v0, slope);
                    v1 = V_LEAKY(s1, v1, slope);
                }
            }
        }
        T *out = C + c * ldc;
        if (nv == 1) {
            if (edge)
                V_STOREM(out, last, v0);
            else
                V_STORE(out, v0);
        } else {
            V_STORE(out, v0);
            if (edge)
                V_STOREM(out + VL, last, v1);
            else
                V_STORE(out + VL, v1);
        }
    }
#undef GT_LOAD0
#undef GT_LOAD1
}

/* The tile of nc columns, computed in the narrowest of NR, 2NR/3, NR/3, 2 or 1 columns that
 * holds them (the same FMA chains in all: only fewer wasted columns), whether it starts
 * from 0 or resumes C's chains (a resumed NR-wide tile on the last 4 of 64 columns computed
 * 72 for 64 in every chunk of K after the first). */
GT_ATTR static inline __attribute__((always_inline)) void
GT(column_tile)(int nv, int edge, MASK last, int nc, int resume, int K, T alpha, const T *A,
                ptrdiff_t lda, const int32_t *acols, const T *const *b, ptrdiff_t sbk, T *C,
                ptrdiff_t ldc, const pydl_epilogue *ep, const T *bias, const T *gate)
{
#define GT_TILE(width, resume_) \
    GT(tile)(nv, edge, last, width, nc, resume_, K, alpha, A, lda, acols, b, sbk, C, ldc, \
             ep, bias, gate)
    /* resume: a constant in each call (a run-time choice spilled accumulators) */
#define GT_WIDTHS(resume_)                 \
    if (nc > 2 * NR / 3)                   \
        GT_TILE(NR, resume_);              \
    else if (nc > NR / 3)                  \
        GT_TILE(2 * NR / 3, resume_);      \
    else if (nc > 2)                       \
        GT_TILE(NR / 3, resume_);          \
    else if (nc == 2)                      \
        GT_TILE(2, resume_);               \
    else                                   \
        GT_TILE(1, resume_);
    if (resume) {
        GT_WIDTHS(1)
    } else {
        GT_WIDTHS(0)
    }
#undef GT_WIDTHS
#undef GT_TILE
}

/* B's rows packed (see GT(block)) where B is read across them, its columns contiguous:
 * dW's dZ^T (sbk = the layer's units, sbj = 1) */
#define GT_PACKS_B(sbk, sbj, bcols) ((sbk) != 1 && (sbj) == 1 && !(bcols))
#define KB 128 /* the K chunk of such products (K > 2 KB only) */

/* The M rows by N columns of C over k in [k0, k0 + kc): the tiles, 2 VL rows at a time down
 * each NR columns of B. */
GT_ATTR static void GT(block)(int M, int N, int k0, int kc, int resume, T alpha, const T *A,
                              ptrdiff_t lda, const int32_t *acols, const T *B, ptrdiff_t sbk,
                              ptrdiff_t sbj, const int32_t *bcols, T *C, ptrdiff_t ldc,
                              const pydl_epilogue *ep)
{
    const MASK full = V_LANES(VL);
    const T *Ak = acols ? A : A + k0 * lda;
    const int32_t *ak = acols ? acols + k0 : NULL;
    const T *bias = ep ? (const T *)ep->bias : NULL;
    const T *gate = ep ? (const T *)ep->gate : NULL;
    /* B read across its rows puts each k of a tile's NR columns on a line of its own, a row
     * apart (dZ of 256 units: 1 KB, 4 of L1's 64 sets), re-read from L2 by every tile down
     * the block: packed once per NR columns (the same values: the same bits) into kc x NR
     * contiguous, and K in chunks of KB so that the A block's lines stay near too. dW of
     * 784-256-128-10 on an AVX2 Zen 3 (bench_products, then reading layer 1's input by
     * index): batch 512 float32 44-49 -> 54-55
     * GFLOP/s, float64 20 -> 26-28; batch 64 float64 27 -> 29. A batch-512 step (2 threads):
     * float32 +15%, float64 +12%; batch 64 within +-3%. */
    const int pack = GT_PACKS_B(sbk, sbj, bcols) && M > ROWV * VL;
    T packed[2 * KB * NR + VL]; /* kc <= 2 KB; a vector's store past the last k */
    for (int j0 = 0; j0 < N; j0 += NR) {
        const int nc = N - j0 < NR ? N - j0 : NR;
        const T *b[NR];
        for (int c = 0; c < NR; c++) { /* past the edge: the last column again */
            const int j = j0 + (c < nc ? c : nc - 1);
            b[c] = B + k0 * sbk + (ptrdiff_t)(bcols ? bcols[j] : j) * sbj;
        }
        ptrdiff_t sb = sbk;
        if (pack) {
            for (int k = 0; k < kc; k++)
                for (int c = 0; c < nc; c += VL) {
                    const T *row = b[0] + k * sbk + c;
                    V_STORE(packed + k * NR + c,
                            nc - c >= VL ? V_LOAD(row) : V_LOADM(row, V_LANES(nc - c)));
                }
            for (int c = 0; c < NR; c++)
                b[c] = packed + (c < nc ? c : nc - 1);
            sb = NR;
        }
        T *Cj = C + (ptrdiff_t)j0 * ldc;
        const T *Gj = gate ? gate + (ptrdiff_t)j0 * ep->ldg : NULL;
#define GT_AT(i) Ak + (i), lda, ak, b, sb, Cj + (i), ldc, ep, bias ? bias + (i) : NULL, \
                 Gj ? Gj + (i) : NULL
        int i0 = 0;
        for (; i0 + ROWV * VL <= M; i0 += ROWV * VL)
            GT(column_tile)(ROWV, 0, full, nc, resume, kc, alpha, GT_AT(i0));
        const int rest = M - i0;
        if (ROWV == 2 && rest > VL)
            GT(column_tile)(2, 1, V_LANES(rest - VL), nc, resume, kc, alpha, GT_AT(i0));
        else if (rest > 0)
            GT(column_tile)(1, 1, V_LANES(rest), nc, resume, kc, alpha, GT_AT(i0));
#undef GT_AT
    }
}

/* Whether GT(narrow) computes the product: few rows (a layer of at most VL/2 units), a
 * short K, and B's and C's columns contiguous (the forward and dA products of tiny
 * networks: the planar 2-4-1 network's are 4 x 400 x 2, 1 x 400 x 4 and 4 x 400 x 1). */
#define GT_NARROW(M, K, sbk, sbj, bcols, ldc, ep)                                          \
    (2 * (M) <= VL && (K) <= VL && (sbk) == 1 && (sbj) == (K) && !(bcols) && (ldc) == (M) && \
     (!(ep) || !(ep)->gate || (ep)->ldg == (M)))

/* The column blocks of GT(narrow) (below), with kk == K: a constant where K is small, so
 * that the chain over k unrolls and A's spread columns stay in registers (a loop over a
 * run-time K of 2 took twice as long). */
GT_ATTR static inline __attribute__((always_inline)) void
GT(narrow_blocks)(int kk, int M, int N, int G, const T *arow, const IX_T *ix, int per_k,
                  T alpha, const T *brow, const T *bias, const T *gate, int rectify, T slope_,
                  const T *B, T *C)
{
    const V va = V_SET1(alpha), vb = V_LOAD(brow), slope = V_SET1(slope_);
    for (int j0 = 0; j0 < N; j0 += G) {
        const int g = N - j0 < G ? N - j0 : G, nb = g * kk, lanes = g * M;
        const T *b = B + (ptrdiff_t)j0 * kk;
        const V lo = nb >= VL ? V_LOAD(b) : V_LOADM(b, V_LANES(nb));
        const V hi = nb >= 2 * VL ? V_LOAD(b + VL)
                     : nb > VL   ? V_LOADM(b + VL, V_LANES(nb - VL)) : V_ZERO();
        V acc = V_ZERO();
        for (int k = 0; k < kk; k++)
            acc = V_FMA(V_LOAD(arow + k * VL), V_PERM2(lo, hi, ix + k * per_k), acc);
        V v = V_MUL(acc, va);
        if (bias) {
            V_ROUNDED(v);
            v = V_ADD(v, vb);
        }
        if (rectify != PYDL_RECTIFY_NONE) {
            const T *gj = gate ? gate + (ptrdiff_t)j0 * M : NULL;
            const V s = !gj ? v : lanes >= VL ? V_LOAD(gj) : V_LOADM(gj, V_LANES(lanes));
            v = rectify == PYDL_RECTIFY_RELU ? V_RELU(s, v) : V_LEAKY(s, v, slope);
        }
        if (lanes >= VL)
            V_STORE(C + (ptrdiff_t)j0 * M, v);
        else
            V_STOREM(C + (ptrdiff_t)j0 * M, V_LANES(lanes), v);
    }
}

/* C (M, N) for GT_NARROW's shapes. The tile kernel would give each column VL lanes for its
 * M rows; here G columns share a vector, lane l holding row l % M of column l / M, so B's
 * columns come in whole (G K contiguous values, two vectors at most) and V_PERM2 spreads
 * value k of each column over its M lanes. Each lane runs the tile's chain (from 0, FMA over
 * k in order; alpha; then the epilogue), so the bits are the same. */
GT_ATTR static void GT(narrow)(int M, int N, int K, T alpha, const T *A, ptrdiff_t lda,
                               const int32_t *acols, const T *B, T *C,
                               const pydl_epilogue *ep)
{
    const int G = VL / M < 2 * VL / K ? VL / M : 2 * VL / K; /* columns per vector */
    T arow[VL * VL], brow[VL]; /* A's column k spread: lane l = A[l % M, k]; the bias */
    IX_T ix[VL * VL * (sizeof(T) / sizeof(IX_T) > 1 ? sizeof(T) / sizeof(IX_T) : 1)];
    const int per_k = (int)(sizeof ix / sizeof ix[0]) / VL; /* index entries per k */
    const T *bias = ep ? (const T *)ep->bias : NULL;
    const T *gate = ep ? (const T *)ep->gate : NULL;
    /* ep's fields in locals: read through ep after each store to C, they made every
     * column block wait for the previous one's store */
    const int rectify = ep ? ep->rectify : PYDL_RECTIFY_NONE;
    const T slope = ep ? (T)ep->slope : (T)0;
    for (int k = 0; k < K; k++) { /* (no division: this setup is part of a 0.1 us call) */
        const T *a = A + (ptrdiff_t)(acols ? acols[k] : k) * lda;
        IX_T *ixk = ix + k * per_k;
        int l = 0;
        for (int c = 0; c < G; c++)
            for (int i = 0; i < M; i++, l++) {
                arow[k * VL + l] = a[i];
                IX_SET(ixk, l, c * K + k);
            }
        for (; l < VL; l++) {
            arow[k * VL + l] = 0;
            IX_SET(ixk, l, 0);
        }
    }
    for (int l = 0, i = 0; l < VL; l++, i = i + 1 < M ? i + 1 : 0)
        brow[l] = bias && l < G * M ? bias[i] : (T)0;
#define GT_BLOCKS(kk) \
    GT(narrow_blocks)(kk, M, N, G, arow, ix, per_k, alpha, brow, bias, gate, rectify, slope, B, C)
    switch (K) {
    case 1: GT_BLOCKS(1); break;
    case 2: GT_BLOCKS(2); break;
    case 3: GT_BLOCKS(3); break;
    case 4: GT_BLOCKS(4); break;
    default: GT_BLOCKS(K); break;
    }
#undef GT_BLOCKS
}

/* One example through a layer from its panels (products.h, PYDL_PANEL_BYTES): out[u] :=
 * rectify(chain_k P[u][k] x[k] + bias[u]) for u < n, the chain from 0 in increasing k, then
 * the bias added and the rectifier applied: the same operations as a product's element
 * with alpha 1 and that epilogue (alpha 1 multiplies exactly), so the same bits as the
 * example in any batch. bias: the layer's padded bias (whole panels). A product of one
 * column would run two chains per panel, each waiting on its last FMA: here G panels go
 * together, 8 chains in flight (a 784-256-128-10 example on a Zen 3: as fast as the dot
 * form it replaced, 17.1-17.9 us against 17.5-18.1 in the same slow spell). */
GT_ATTR static void GT(one_example)(int n, int K, const T *P, const T *bias, const T *x,
                                    T *out, int rectify, T slope_)
{
    enum { PW = PYDL_PANEL_BYTES / (int)sizeof(T), PV = PW / VL, G = 8 / PV };
    _Static_assert(PV * VL == PW && G >= 1, "a panel is whole vectors");
    const int np = (n + PW - 1) / PW;
    const V slope = V_SET1(slope_);
    for (int p0 = 0; p0 < np; p0 += G) {
        const int g1 = np - p0 < G ? np - p0 : G;
        const T *w[G];
        V acc[G * PV];
        _Pragma("GCC unroll 8") for (int g = 0; g < G; g++)
        { /* past the last panel: the first one again, not stored */
            w[g] = P + (ptrdiff_t)(p0 + (g < g1 ? g : 0)) * K * PW;
            _Pragma("GCC unroll 8") for (int v = 0; v < PV; v++)
                acc[g * PV + v] = V_ZERO();
        }
        for (int k = 0; k < K; k++) {
            const V xk = V_SET1(x[k]);
            _Pragma("GCC unroll 8") for (int g = 0; g < G; g++)
                _Pragma("GCC unroll 8") for (int v = 0; v < PV; v++)
                    acc[g * PV + v] = V_FMA(V_LOAD(w[g] + (ptrdiff_t)k * PW + v * VL), xk,
                                            acc[g * PV + v]);
        }
        _Pragma("GCC unroll 8") for (int g = 0; g < G; g++)
            _Pragma("GCC unroll 8") for (int v = 0; v < PV; v++)
            {
                const int u = (p0 + g) * PW + v * VL, left = n - u;
                if (g >= g1 || left <= 0)
                    break;
                V z = V_ADD(acc[g * PV + v], V_LOAD(bias + u));
                if (rectify == PYDL_RECTIFY_RELU)
                    z = V_RELU(z, z);
                else if (rectify == PYDL_RECTIFY_LEAKY)
                    z = V_LEAKY(z, z, slope);
                if (left >= VL)
                    V_STORE(out + u, z);
                else
                    V_STOREM(out + u, V_LANES(left), z);
            }
    }
}

/* The product of products.h (see there), with the epilogue ep (or NULL) on its final store.
 * No allocation, no alignment required, nothing read or written outside the operands. */
GT_ATTR static void GT_PUBLIC(int M, int N, int K, T alpha, const T *A, ptrdiff_t lda,
                              const int32_t *acols, const T *B, ptrdiff_t sbk, ptrdiff_t sbj,
                              const int32_t *bcols, T *C, ptrdiff_t ldc,
                              const pydl_epilogue *ep)
{
    /* rows in blocks of MC, and a K over 2 KC in equal chunks of at most KC: an A block of
     * at most MC x 2 KC values (a shorter K in chunks gained nothing, measured while resumed
     * tiles were all NR wide); where B is packed (GT(block)), K over 2 KB in chunks of at
     * most KB, and rows in larger blocks, since each block packs B anew: an A block of at
     * most 4 MC x KB values (256 KB float32 on AVX2), and 784-256-128-10 steps 2-5% faster
     * (AVX2 Zen 3, C-level A/B: batch 64 and 512, 1 and 2 threads, float32 and float64) */
    const int packs = GT_PACKS_B(sbk, sbj, bcols);
    const int kc_max = packs ? KB : KC;
    /* (not for one tile of rows, such as an inference panel's: its A block is the tile's
     * own rows, and chunks only store and reload C; 1024 rows of 784-256-128-10 predict
     * 2-4% faster without, AVX2 Zen 3, bench_predict) */
    const int chunks = K > 2 * kc_max && M > ROWV * VL ? (K + kc_max - 1) / kc_max : 1;
    const int mc = !packs ? MC : K <= KB || chunks > 1 ? 4 * MC : 2 * MC;
    if (M <= 0 || N <= 0)
        return;
    if (K > 0 && GT_NARROW(M, K, sbk, sbj, bcols, ldc, ep)) {
        GT(narrow)(M, N, K, alpha, A, lda, acols, B, C, ep);
        return;
    }
    for (int q = 0; q < chunks; q++) {
        const int k0 = (int)((ptrdiff_t)K * q / chunks);
        const int k1 = (int)((ptrdiff_t)K * (q + 1) / chunks);
        const int final = q == chunks - 1; /* alpha and the epilogue once, at the end */
        for (int i_lo = 0; i_lo < M; i_lo += mc) {
            const int i_hi = M - i_lo < mc ? M : i_lo + mc;
            pydl_epilogue at = ep ? *ep : (pydl_epilogue){0};
            if (ep && ep->bias)
                at.bias = (const T *)ep->bias + i_lo;
            if (ep && ep->gate)
                at.gate = (const T *)ep->gate + i_lo;
            GT(block)(i_hi - i_lo, N, k0, k1 - k0, q > 0, final ? alpha : (T)1, A + i_lo, lda,
                      acols, B, sbk, sbj, bcols, C + i_lo, ldc, ep && final ? &at : NULL);
        }
    }
}

#undef GT_PUBLIC
#undef GT_NARROW
#undef GT_PACKS_B
#undef KB
#undef GT
#undef GT_ATTR
#undef T
#undef V
#undef VL
#undef ROWV
#undef NR
#undef MC
#undef KC
#undef MASK
#undef V_LANES
#undef V_LOAD
#undef V_LOADM
#undef V_STORE
#undef V_STOREM
#undef V_SET1
#undef V_ZERO
#undef V_FMA
#undef V_MUL
#undef V_ADD
#undef V_ROUNDED
#undef V_RELU
#undef V_LEAKY
#undef IX_T
#undef IX_SET
#undef V_PERM2
