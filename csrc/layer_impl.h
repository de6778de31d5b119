/*
 * layer_impl.h -- one layer at a time, for the course's building blocks (pydl.blocks).
 *
 * Included by net.c after net_impl.h, with the same T, SFX and GEMM, so that a layer here
 * runs the very element kernels a network step runs (bias, activation, g'(Z), softmax).
 * Column-major as everywhere in the core: A_prev (np, m), Z, A, dA, dZ (n, m); W and dW are
 * stored as NumPy (n, np) arrays, i.e. column-major W^T (np, n). Single-threaded, products
 * through the BLAS (the blocks are for learning and checking, not for speed); overwrites
 * every output, allocates nothing.
 */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

int FN(pydl_layer_forward)(int act, double slope, int n, int np, int m, const T *W,
                           const T *b, const T *A_prev, T *Z, T *A)
{
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    /* Z (n, m) = W (n, np) . A_prev (np, m) + b */
    if (np > 0)
        FN(gemm)('T', 'N', n, m, np, 1, W, np, A_prev, np, Z, n);
    else
        memset(Z, 0, (size_t)n * (size_t)m * sizeof(T));
    FN(add_bias)(n, m, b, Z);
    if (A) {
        memcpy(A, Z, (size_t)n * (size_t)m * sizeof(T));
        FN(bias_activate)(act, (T)slope, n, 0, n, m, NULL, A);
    }
    return PYDL_OK;
}

int FN(pydl_layer_backward)(int act, double slope, int n, int np, int m, const T *W,
                            const T *A_prev, const T *Z, const T *dA, T *dZ, T *dW, T *db,
                            T *dA_prev, T *work)
{
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    if (act != PYDL_LINEAR) { /* dZ = dA * g'(Z), g' read off A = g(Z) (in work) */
        memcpy(work, Z, (size_t)n * (size_t)m * sizeof(T));
        FN(bias_activate)(act, (T)slope, n, 0, n, m, NULL, work);
        FN(output_grad)(act, (T)slope, n, m, work, dA, dZ);
    } else if (dZ != dA) {
        memcpy(dZ, dA, (size_t)n * (size_t)m * sizeof(T));
    }
    /* dW^T (np, n) = (1/m) A_prev (np, m) . dZ^T (m, n) */
    const T inv_m = (T)1 / (T)m;
    if (np > 0)
        FN(gemm)('N', 'T', np, n, m, inv_m, A_prev, np, dZ, n, dW, np);
    /* db = (1/m) sum over the examples of dZ, in example order */
    for (int i = 0; i < n; i++)
        db[i] = 0;
    for (ptrdiff_t j = 0; j < m; j++)
        for (int i = 0; i < n; i++)
            db[i] += dZ[j * n + i];
    for (int i = 0; i < n; i++)
        db[i] *= inv_m;
    /* dA_prev (np, m) = W^T (np, n) . dZ (n, m) */
    if (dA_prev && np > 0)
        FN(gemm)('N', 'N', np, m, n, 1, W, np, dZ, n, dA_prev, np);
    return PYDL_OK;
}

void FN(pydl_loss_grad)(int act, ptrdiff_t count, const T *A, const T *Y, T *dA)
{
    switch (act) {
    case PYDL_SIGMOID: /* binary cross-entropy: -(y/a - (1-y)/(1-a)) */
        for (ptrdiff_t i = 0; i < count; i++)
            dA[i] = -(Y[i] / A[i] - ((T)1 - Y[i]) / ((T)1 - A[i]));
        break;
    case PYDL_SOFTMAX: /* categorical cross-entropy on one-hot Y: -y/a */
        for (ptrdiff_t i = 0; i < count; i++)
            dA[i] = Y[i] != 0 ? -Y[i] / A[i] : 0;
        break;
    default: /* linear, squared error (1/2)(a - y)^2 */
        for (ptrdiff_t i = 0; i < count; i++)
            dA[i] = A[i] - Y[i];
        break;
    }
}

#undef FN
#undef CAT
#undef CAT_
