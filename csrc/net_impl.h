/*
 * net_impl.h -- the dense-network kernels, written once for both precisions.
 *
 * Included twice by net.c with T (float/double), SFX (f32/f64), GEMM (the installed BLAS
 * routine) and the element functions EXP, LOG1P, TANH, SQRT defined.
 *
 * Shapes are the course's, stored column-major (see pydl.h):
 *   X, A[l-1]: (n[l-1], mb)    W[l]: held as W^T (n[l-1], n[l])    Z[l], A[l], dZ[l]: (n[l], mb)
 * A[l] is computed in place over Z[l]; every g'(Z) the course uses can be read off A.
 *
 * Every thread runs the step and predict with denormals flushed to zero (fpmode.h).
 *
 * Work split inside one step (all threads call step(); a barrier ends each phase). Every
 * output element is written by one thread, and each phase reads only what earlier phases
 * completed:
 *   W[l] to its own orientation (Wn)        : by units of each layer (first step of a call)
 *   gather of the batch (and augmentation)  : by examples (the same phase)
 *   Z[l], A[l] (each layer)                 : the tiles of Z[l] (n[l], mb) (step_grid)
 *   output activation, loss, dZ[L]          : by examples
 *   dW[l], dA[l-1], dZ[l-1] (each layer)    : the tiles of dW[l]^T (n[l-1], n[l]), then
 *                                             of dA[l-1] (n[l-1], mb); db[l] by units
 *   finiteness check, then the update       : by ranges of the flat parameter vector cut
 *                                             at unit starts; each range's W copied to
 *                                             Wn as it is updated (the next step's Wn)
 */

#define CAT_(a, b) a##_##b
#define CAT(a, b) CAT_(a, b)
#define FN(name) CAT(name, SFX)

/* C := alpha op(A) op(B), column-major, through the installed BLAS. */
static void FN(gemm)(char ta, char tb, int M, int N, int K, T alpha, const T *A, int lda,
                     const T *B, int ldb, T *C, int ldc)
{
    T beta = 0;
    if (M == 0 || N == 0)
        return;
    GEMM(&ta, &tb, &M, &N, &K, &alpha, (T *)A, &lda, (T *)B, &ldb, &beta, C, &ldc);
}

/* ---- the product door ------------------------------------------------------------------
 * Every product of a step goes through one PRODUCT_T (products.h), read once per call:
 * pydl's own kernels, or the BLAS behind the same interface below. The layer code never
 * knows which: each path applies the epilogue itself. */

/* The epilogue that adds bias (NULL: none) and, for the rectifiers, takes g(z) (gate NULL:
 * forward) or dA g'(z) with g' read off gate = A (backward). */
static pydl_epilogue FN(epilogue)(int act, double slope, const T *bias, const T *gate,
                                  ptrdiff_t ldg)
{
    const pydl_epilogue e = {bias, gate, ldg,
                             act == PYDL_RELU ? PYDL_RECTIFY_RELU
                             : act == PYDL_LEAKY_RELU ? PYDL_RECTIFY_LEAKY : PYDL_RECTIFY_NONE,
                             slope};
    return e;
}

/* whether the epilogue completes g (or g') of act: the rectifiers, linear */
static int FN(epilogue_completes)(int act)
{
    return act == PYDL_RELU || act == PYDL_LEAKY_RELU || act == PYDL_LINEAR;
}

/* The epilogue as a pass over the M x N block of C just written (the BLAS path). */
PYDL_CLONES
static void FN(epilogue_pass)(int M, int N, T *C, ptrdiff_t ldc, const pydl_epilogue *ep)
{
    const T *bias = (const T *)ep->bias, slope = (T)ep->slope;
    for (ptrdiff_t j = 0; j < N; j++) {
        T *c = C + j * ldc;
        const T *sign = ep->gate ? (const T *)ep->gate + j * ep->ldg : c;
        if (bias)
            for (int i = 0; i < M; i++)
                c[i] += bias[i];
        if (ep->rectify == PYDL_RECTIFY_RELU)
            for (int i = 0; i < M; i++)
                c[i] = sign[i] > 0 ? c[i] : 0;
        else if (ep->rectify == PYDL_RECTIFY_LEAKY)
            for (int i = 0; i < M; i++)
                c[i] = sign[i] > 0 ? c[i] : slope * c[i];
    }
}

/* The product contract through the BLAS: alpha A B summed in the BLAS's own order, then
 * the epilogue as a pass. The BLAS reads no picked columns: where a batch's examples are
 * picked from X, the step gathers them for it first (the path's `gathers`, see
 * FN(gathers)), and acols and bcols are NULL here. */
static void FN(blas_product)(int M, int N, int K, T alpha, const T *A, ptrdiff_t lda,
                             const int32_t *acols, const T *B, ptrdiff_t sbk, ptrdiff_t sbj,
                             const int32_t *bcols, T *C, ptrdiff_t ldc,
                             const pydl_epilogue *ep)
{
    (void)acols, (void)bcols;
    if (M == 0 || N == 0)
        return;
    if (K == 0) {
        for (ptrdiff_t j = 0; j < N; j++)
            memset(C + j * ldc, 0, (size_t)M * sizeof(T));
    } else if (sbk == 1 && sbj >= K) { /* B column-major (sbj alone is 1 when K is too) */
        FN(gemm)('N', 'N', M, N, K, alpha, A, (int)lda, B, (int)sbj, C, (int)ldc);
    } else {
        FN(gemm)('N', 'T', M, N, K, alpha, A, (int)lda, B, (int)sbk, C, (int)ldc);
    }
    if (ep)
        FN(epilogue_pass)(M, N, C, ldc, ep);
}


/* ---- activations -------------------------------------------------------------------- */

/* Z := g(Z), elementwise over count values (hidden layers and linear/sigmoid outputs). */
PYDL_CLONES
static void FN(activate)(int act, T slope, ptrdiff_t count, T *z)
{
    switch (act) {
    case PYDL_SIGMOID:
        for (ptrdiff_t i = 0; i < count; i++)
            z[i] = (T)1 / ((T)1 + EXP(-z[i]));
        break;
    case PYDL_TANH:
        for (ptrdiff_t i = 0; i < count; i++)
            z[i] = TANH(z[i]);
        break;
    case PYDL_RELU:
        for (ptrdiff_t i = 0; i < count; i++)
            z[i] = z[i] > 0 ? z[i] : 0;
        break;
    case PYDL_LEAKY_RELU:
        for (ptrdiff_t i = 0; i < count; i++)
            z[i] = z[i] > 0 ? z[i] : slope * z[i];
        break;
    case PYDL_EXP: /* (an output activation only) */
        for (ptrdiff_t i = 0; i < count; i++)
            z[i] = EXP(z[i]);
        break;
    default: /* PYDL_LINEAR; softmax is done by columns in softmax_columns */
        break;
    }
}

/* z := softmax(z) for one column of n units, the max subtracted first. Returns that max and
 * sets *rest = sum of e^(z_i - max) over the units but the max's own (its term is 1), which
 * the cross-entropy takes through log1p. */
static T FN(softmax_column)(int n, T *z, T *rest)
{
    int imax = 0;
    for (int i = 1; i < n; i++)
        imax = z[i] > z[imax] ? i : imax;
    const T mx = z[imax];
    T r = 0;
    for (int i = 0; i < n; i++) {
        z[i] = EXP(z[i] - mx);
        r += i == imax ? 0 : z[i];
    }
    const T sum = 1 + r;
    for (int i = 0; i < n; i++)
        z[i] /= sum;
    *rest = r;
    return mx;
}

/* Z := softmax(Z) column by column, for nc columns of n units. */
static void FN(softmax_columns)(int n, ptrdiff_t nc, T *Z)
{
    T rest;
    for (ptrdiff_t j = 0; j < nc; j++)
        FN(softmax_column)(n, Z + j * n, &rest);
}

/* Z (n, nc) += b down every column. */
PYDL_CLONES
static void FN(add_bias)(int n, ptrdiff_t nc, const T *b, T *Z)
{
    ptrdiff_t j = 0;
    if (n < SHORT_COLUMN) { /* flat runs against b repeated to the run's length */
        const int reps = short_run_columns(n), run = reps * n;
        T pattern[2 * SHORT_COLUMN];
        for (int k = 0; k < run; k++)
            pattern[k] = b[k % n];
        for (; j + reps <= nc; j += reps) {
            T *z = Z + j * n;
            for (int k = 0; k < run; k++)
                z[k] += pattern[k];
        }
    }
    for (; j < nc; j++)
        for (int i = 0; i < n; i++)
            Z[j * n + i] += b[i];
}

/* Rows [r0, r1) of the nc columns of Z (ld n): Z := g(Z + b) (g(Z) if b is NULL). One flat
 * pass when the rows are all of them (contiguous), else one pass per column (cloned: the
 * bias add vectorizes). */
PYDL_CLONES
static void FN(bias_activate)(int act, T slope, int n, int r0, int r1, ptrdiff_t nc,
                              const T *b, T *Z)
{
    if (b && r1 - r0 == n)
        FN(add_bias)(n, nc, b, Z);
    else if (b)
        for (ptrdiff_t j = 0; j < nc; j++)
            for (int i = r0; i < r1; i++)
                Z[j * n + i] += b[i];
    if (act == PYDL_SOFTMAX)
        FN(softmax_columns)(n, nc, Z);
    else if (r1 - r0 == n)
        FN(activate)(act, slope, (ptrdiff_t)n * nc, Z);
    else
        for (ptrdiff_t j = 0; j < nc; j++)
            FN(activate)(act, slope, r1 - r0, Z + j * n + r0);
}

/* D := D * g'(Z), with g' read off a = g(Z) = A * a_scale (a_scale = keep_prob undoes the
 * inverted-dropout scaling of kept units; dropped ones have D = 0 already). Hidden layers
 * only: never softmax. */
PYDL_CLONES
static void FN(mul_derivative)(int act, T slope, ptrdiff_t n, const T *A, T a_scale, T *D)
{
    switch (act) {
    case PYDL_SIGMOID:
        for (ptrdiff_t i = 0; i < n; i++) {
            const T a = A[i] * a_scale;
            D[i] *= a * ((T)1 - a);
        }
        break;
    case PYDL_TANH:
        for (ptrdiff_t i = 0; i < n; i++) {
            const T a = A[i] * a_scale;
            D[i] *= (T)1 - a * a;
        }
        break;
    case PYDL_RELU:
        for (ptrdiff_t i = 0; i < n; i++)
            D[i] = A[i] > 0 ? D[i] : 0;
        break;
    case PYDL_LEAKY_RELU: /* slope >= 0, so A > 0 exactly when Z > 0 */
        for (ptrdiff_t i = 0; i < n; i++)
            D[i] = A[i] > 0 ? D[i] : slope * D[i];
        break;
    case PYDL_EXP: /* (output layers only: an external loss's chain rule) g' = e^z = a */
        for (ptrdiff_t i = 0; i < n; i++)
            D[i] *= A[i] * a_scale;
        break;
    default: /* PYDL_LINEAR */
        break;
    }
}

/* dZ := dA * g'(Z) for nc columns of n units, from A = g(Z) (no aliasing): the chain rule
 * through any activation; softmax by columns, dZ_i = a_i (dA_i - sum_k a_k dA_k). */
static void FN(output_grad)(int act, T slope, int n, ptrdiff_t nc, const T *A, const T *dA,
                            T *dZ)
{
    if (act != PYDL_SOFTMAX) {
        memcpy(dZ, dA, (size_t)n * (size_t)nc * sizeof(T));
        FN(mul_derivative)(act, slope, (ptrdiff_t)n * nc, A, 1, dZ);
        return;
    }
    for (ptrdiff_t j = 0; j < nc; j++) {
        const T *a = A + j * n, *d = dA + j * n;
        T s = 0;
        for (int i = 0; i < n; i++)
            s += a[i] * d[i];
        for (int i = 0; i < n; i++)
            dZ[j * n + i] = a[i] * (d[i] - s);
    }
}

/* ---- output layer: activation, cost and dZ[L] = A[L] - Y, fused ------------------------
 * Z: (n, nc) pre-activations without bias; rows of Y (m, n) or labels (m,) are read at the
 * examples' indices idx[j] (or first + j when idx is NULL). Losses are computed stably from
 * Z into a buffer (summed later in a fixed order); A is written over Z, and dZ. */

/* sigmoid/linear/exp output over count consecutive values with their targets y; the loss of
 * each value goes to loss[i]. */
PYDL_CLONES
static void FN(output_flat)(int act, ptrdiff_t count, T *z, const T *y, T *dz, T *loss)
{
    if (act == PYDL_SIGMOID) {
        for (ptrdiff_t i = 0; i < count; i++) {
            const T zi = z[i], az = zi < 0 ? -zi : zi;
            const T a = (T)1 / ((T)1 + EXP(-zi));
            /* -[y log a + (1-y) log(1-a)] = max(z,0) - z y + log(1 + e^-|z|) */
            loss[i] = (zi > 0 ? zi : 0) - zi * y[i] + LOG1P(EXP(-az));
            z[i] = a;
            dz[i] = a - y[i];
        }
    } else if (act == PYDL_EXP) { /* Poisson: a - y z + y log y - y, >= 0 (0 log 0 = 0) */
        for (ptrdiff_t i = 0; i < count; i++) {
            const T zi = z[i], yi = y[i], a = EXP(zi);
            loss[i] = a - yi * zi + (yi > 0 ? yi * LOG(yi) - yi : 0);
            z[i] = a;
            dz[i] = a - yi;
        }
    } else { /* linear output, squared error */
        for (ptrdiff_t i = 0; i < count; i++) {
            const T r = z[i] - y[i];
            loss[i] = (T)0.5 * r * r;
            dz[i] = r;
        }
    }
}

/* The output layer for nc examples: Z (n, nc) := A[L] (from Z[L] with its bias),
 * dZ := A - Y, and loss[k] := the loss of value k (sigmoid/linear, n per example) or of
 * example k (softmax). */
static void FN(output_block)(int act, int n, ptrdiff_t nc, T *Z, T *dZ, T *loss, const T *Y,
                             const int32_t *labels, const int32_t *idx, ptrdiff_t first)
{
    if (act != PYDL_SOFTMAX) {
        if (!idx) { /* consecutive examples: their rows of Y are one contiguous block */
            FN(output_flat)(act, (ptrdiff_t)n * nc, Z, Y + first * n, dZ, loss);
            return;
        }
        /* picked examples: their rows of Y copied together, OUTPUT_CHUNK values at a time,
         * so that output_flat runs vectorized over many examples (one output unit, one
         * example per call, cost 7% of a 100-100-1 step) */
        enum { OUTPUT_CHUNK = 256 };
        T y[OUTPUT_CHUNK];
        const ptrdiff_t per = n <= OUTPUT_CHUNK ? OUTPUT_CHUNK / n : 1;
        for (ptrdiff_t j0 = 0; j0 < nc; j0 += per) {
            const ptrdiff_t cnt = nc - j0 < per ? nc - j0 : per;
            const T *yc = Y + (ptrdiff_t)idx[j0] * n;
            if (n <= OUTPUT_CHUNK) {
                for (ptrdiff_t j = 0; j < cnt; j++)
                    memcpy(y + j * n, Y + (ptrdiff_t)idx[j0 + j] * n, (size_t)n * sizeof(T));
                yc = y;
            }
            FN(output_flat)(act, cnt * n, Z + j0 * n, yc, dZ + j0 * n, loss + j0 * n);
        }
        return;
    }
    for (ptrdiff_t j = 0; j < nc; j++) {
        T *z = Z + j * n;
        const int y = labels[idx ? idx[j] : first + j];
        const T zy = z[y];
        T rest;
        const T mx = FN(softmax_column)(n, z, &rest);
        /* logsumexp(z) - z_y, with log1p keeping small losses accurate */
        loss[j] = LOG1P(rest) + (mx - zy);
        T *d = dZ + j * n;
        for (int i = 0; i < n; i++)
            d[i] = z[i];
        d[y] -= 1;
    }
}

/* sum of loss[0..count) in a fixed order (chunks summed in T, vectorizable, then in double):
 * the same whatever the number of threads that produced the values */
static double FN(sum_losses)(ptrdiff_t count, const T *loss)
{
    double total = 0;
    for (ptrdiff_t c0 = 0; c0 < count; c0 += 256) {
        const ptrdiff_t c1 = count - c0 < 256 ? count : c0 + 256;
        T part = 0;
        PYDL_SIMD_REDUCTION(+:part)
        for (ptrdiff_t i = c0; i < c1; i++)
            part += loss[i];
        total += (double)part;
    }
    return total;
}

/* ---- the optimizer update --------------------------------------------------------- */

PYDL_CLONES
static void FN(update_range)(int kind, T lr, T b1, T b2, T eps, T c1, T c2, ptrdiff_t lo,
                             ptrdiff_t hi, T *theta, const T *g, T *v, T *s)
{
    switch (kind) {
    case PYDL_OPT_MOMENTUM:
        for (ptrdiff_t i = lo; i < hi; i++) {
            v[i] = b1 * v[i] + ((T)1 - b1) * g[i];
            theta[i] -= lr * v[i];
        }
        break;
    case PYDL_OPT_RMSPROP:
        for (ptrdiff_t i = lo; i < hi; i++) {
            s[i] = b2 * s[i] + ((T)1 - b2) * g[i] * g[i];
            theta[i] -= lr * g[i] / (SQRT(s[i]) + eps);
        }
        break;
    case PYDL_OPT_ADAM:
        for (ptrdiff_t i = lo; i < hi; i++) {
            v[i] = b1 * v[i] + ((T)1 - b1) * g[i];
            s[i] = b2 * s[i] + ((T)1 - b2) * g[i] * g[i];
            theta[i] -= lr * (v[i] * c1) / (SQRT(s[i] * c2) + eps);
        }
        break;
    case PYDL_OPT_SGD_MOMENTUM:
        for (ptrdiff_t i = lo; i < hi; i++) {
            v[i] = b1 * v[i] - lr * g[i];
            theta[i] += v[i];
        }
        break;
    case PYDL_OPT_NESTEROV:
        for (ptrdiff_t i = lo; i < hi; i++) {
            v[i] = b1 * v[i] - lr * g[i];
            theta[i] += b1 * v[i] - lr * g[i];
        }
        break;
    default: /* PYDL_OPT_GD */
        for (ptrdiff_t i = lo; i < hi; i++)
            theta[i] -= lr * g[i];
        break;
    }
}

/* Update number t (>= 1) over [lo, hi). */
static void FN(update_share)(const pydl_optimizer *o, int64_t t, double lr, ptrdiff_t lo,
                             ptrdiff_t hi, T *theta, const T *g, T *v, T *s)
{
    double c1, c2;
    bias_corrections(o, t, &c1, &c2);
    FN(update_range)(o->kind, (T)lr, (T)o->beta1, (T)o->beta2, (T)o->epsilon, (T)c1, (T)c2,
                     lo, hi, theta, g, v, s);
}

/* Whether [lo, hi) of a is all finite: no early exit, so that the loop vectorizes. */
PYDL_CLONES
static int FN(finite_range)(const T *a, ptrdiff_t lo, ptrdiff_t hi)
{
    int ok = 1;
    for (ptrdiff_t i = lo; i < hi; i++)
        ok &= isfinite(a[i]) != 0;
    return ok;
}

/* ---- one step ------------------------------------------------------------------------ */

typedef struct {
    const pydl_net *net;
    int mb;                  /* examples in this batch */
    const T *X;              /* the whole X (m, n0) */
    const int32_t *idx;      /* example indices of the batch, or NULL: first..first+mb */
    ptrdiff_t first;
    const T *Y;
    const int32_t *labels;
    const T *sw;             /* sample weights of the whole X, or NULL */
    /* the product path, read once at the call's start (a switch by another thread waits
     * for the next call): its kernel, and whether the step gathers picked examples for it */
    PRODUCT_T product;
    int gathers_picked;
    T sw_scale;              /* mb / (the batch's sum of sw): dZ[L] and losses get sw * this */
    int with_cost;           /* Y or labels given */
    int with_grad;           /* run the backward pass into grad */
    T *theta;                /* written only by the update (training: opt != NULL) */
    T *grad;
    T *out;                  /* where A[L] goes (NULL: the workspace) */
    T l2, l1;
    /* workspace */
    T *Xb;                   /* gathered batch (n0, mb): shuffled or augmented batches */
    T *A;                    /* A[1..L] one after the other, each (n[l], mb) */
    T *D[2];                 /* dZ[l] lives in D[l & 1] */
    T *loss;                 /* (n[L], mb): the loss of each output value (or example) */
    T *Wn;                   /* every layer's W in its own orientation (transpose_weights) */
    int wn_current;          /* Wn holds theta's W already: the step before, in the same
                                call, updated theta and Wn together (update_transposing) */
    /* training only: update number t with learning rate lr, applied at the end of the step;
     * reg (m_b times the regularization cost, computed before) joins the finiteness check */
    const pydl_optimizer *opt;
    int64_t t;
    double lr, reg;
    T *v, *s;
    const pydl_step_key *dk; /* training: this step's random key (dropout, augmentation) */
    const double *keep;      /* dropout keep_prob of each layer 1..L, or NULL: none */
    const uint8_t *const *masks; /* given dropout masks, masks[l-1] (mb, n[l]) 0/1 of hidden
                                    layer l; NULL: Philox masks keyed by dk */
    const T *dA;             /* an external loss: dL/dA[L] (n[L], mb), so dZ[L] = dA g'(Z[L]) */
    int *bad;                /* training: set when the loss or a gradient is not finite */
    const pydl_augment *aug; /* training with augmentation, else NULL */
    /* data-parallel training: the gradient is divided by m_norm (the global batch), the
     * random keys use each example's position pos[j] in the global batch, and the update
     * waits for the reduction (defer_update) */
    int m_norm;              /* 0: mb */
    const int32_t *pos;      /* NULL: j */
    int defer_update;
} FN(step_ctx);

/* Points c at the product path named `name` (NULL: the one in use now, read once).
 * Returns 0 for a name this CPU does not run. */
static int FN(use_path)(FN(step_ctx) *c, const char *name)
{
    const product_path *path = name ? path_named(name) : PYDL_LOAD(products);
    if (!path)
        return 0;
    c->product = PATH_KERNEL(path);
    c->gathers_picked = path->gathers;
    return 1;
}

/* One example's image (h, w, c) in C order: out = shift(flip(in)), zeros filling in. */
static void FN(augment_image)(const pydl_augment *aug, pydl_aug_choice ch, const T *in, T *out)
{
    const int H = aug->height, W = aug->width, C = aug->channels;
    for (int h = 0; h < H; h++) {
        const int hs = h - ch.dy;
        for (int w = 0; w < W; w++) {
            const int ws = w - ch.dx; /* position in the flipped image */
            T *o = out + ((ptrdiff_t)h * W + w) * C;
            if (hs < 0 || hs >= H || ws < 0 || ws >= W) {
                for (int k = 0; k < C; k++)
                    o[k] = 0;
                continue;
            }
            const int wsrc = ch.flip ? W - 1 - ws : ws;
            const T *src = in + ((ptrdiff_t)hs * W + wsrc) * C;
            for (int k = 0; k < C; k++)
                o[k] = src[k];
        }
    }
}

void FN(pydl_augment_batch)(const pydl_augment *aug, uint64_t seed, int64_t epoch,
                            int64_t batch, int mb, const T *in, T *out)
{
    const pydl_step_key sk = {{(uint32_t)seed, (uint32_t)(seed >> 32)}, (uint32_t)epoch,
                              (uint32_t)batch};
    const ptrdiff_t n0 = (ptrdiff_t)aug->height * aug->width * aug->channels;
    for (int j = 0; j < mb; j++)
        FN(augment_image)(aug, augment_choice(aug, &sk, j), in + j * n0, out + j * n0);
}

/* keep_prob of hidden layer l in this step (1: no dropout; dropout acts where the step's
 * caller asks: training, or given masks) */
static double FN(keep_of)(const FN(step_ctx) *c, int l)
{
    return c->keep && l < c->net->n_layers ? c->keep[l - 1] : 1.0;
}

/* Inverted dropout on rows [r0, r1), columns [c0, c1) of the (n, mb) matrix M of layer l:
 * M *= D / keep. Forward applies it to A[l]; backward to dA[l], with the same mask
 * (regenerated). */
static void FN(apply_dropout)(const FN(step_ctx) *c, int l, int r0, int r1, int c0, int c1,
                              T *M)
{
    const int n = c->net->dims[l];
    const double keep = FN(keep_of)(c, l);
    const uint32_t threshold = keep_threshold(keep);
    const T inv_keep = (T)(1.0 / keep);
    uint8_t bits[256];
    for (ptrdiff_t j = c0; j < c1; j++) {
        const uint64_t at = (uint64_t)(c->pos ? c->pos[j] : j); /* the place in the batch */
        for (int i0 = r0; i0 < r1; i0 += 256) {
            const int cnt = r1 - i0 < 256 ? r1 - i0 : 256;
            T *m = M + j * n + i0;
            const uint8_t *given = c->masks ? c->masks[l - 1] + j * n + i0 : NULL;
            if (!given)
                dropout_bits(c->dk, l, threshold, at * n + i0, cnt, bits);
            for (int k = 0; k < cnt; k++)
                m[k] = (given ? given[k] : bits[k]) ? m[k] * inv_keep : 0;
        }
    }
}

/* Offset of A[l] in the A area (w_off, in net.c, gives W[l]'s in theta). */
static ptrdiff_t FN(a_off)(const pydl_net *net, int l, int mb)
{
    ptrdiff_t off = 0;
    for (int k = 1; k < l; k++)
        off += (ptrdiff_t)net->dims[k] * mb;
    return off;
}

/* Whether the step gathers its batch into Xb first: augmented examples, and picked ones
 * for a product path that cannot read them in place. */
static int FN(gathers)(const FN(step_ctx) *c)
{
    return c->aug || (c->idx && c->gathers_picked);
}

/* The input of layer l, (n[l-1], mb) with column j at A + j n[l-1]; or, where *cols is set,
 * with column j at A + cols[j] n[l-1]: a shuffled batch's rows of X read where they lie. */
static const T *FN(layer_input)(const FN(step_ctx) *c, int l, const int32_t **cols)
{
    *cols = NULL;
    if (l > 1)
        return c->A + FN(a_off)(c->net, l - 1, c->mb);
    if (FN(gathers)(c))
        return c->Xb;
    if (c->idx) {
        *cols = c->idx;
        return c->X;
    }
    return c->X + c->first * c->net->dims[0];
}

/* Where layer l's W, in its own orientation (n, np) with ld wn_ld(n), lies in the Wn area. */
static T *FN(wn_of)(const FN(step_ctx) *c, int l)
{
    ptrdiff_t off = 0;
    for (int k = 1; k < l; k++)
        off += (ptrdiff_t)wn_ld(c->net->dims[k]) * c->net->dims[k - 1];
    return c->Wn + off;
}

/* Units [share of this thread] of every layer's W copied to their own orientation: the
 * forward product reads A = W (n, np) by columns, and theta holds W^T (np, n). */
static void FN(transpose_weights)(const FN(step_ctx) *c, int tid, int n_threads)
{
    const pydl_net *net = c->net;
    for (int l = 1; l <= net->n_layers; l++) {
        const int n = net->dims[l], np = net->dims[l - 1];
        ptrdiff_t u0, u1;
        pydl_share(n, tid, n_threads, &u0, &u1);
        FN(pydl_transpose)(np, (int)(u1 - u0), c->theta + w_off(net, l) + u0 * np, np,
                           FN(wn_of)(c, l) + u0, wn_ld(n));
    }
}

#define UPDATE_UNITS 16 /* units of W updated, then copied to Wn while still in cache */

/* The update over [p0, p1) (p0 and p1 at unit starts: unit_start), with Wn kept in step:
 * each layer's weights in chunks of UPDATE_UNITS units, each chunk copied to Wn right after
 * its update, from this core's cache (the next step's transpose_weights read them from
 * wherever the update had left them: 9% of a batch-64 784-256-128-10 step, perf). */
static void FN(update_transposing)(const FN(step_ctx) *c, ptrdiff_t p0, ptrdiff_t p1)
{
    const pydl_net *net = c->net;
    const pydl_optimizer *o = c->opt;
    double c1, c2;
    bias_corrections(o, c->t, &c1, &c2);
#define UT_UPDATE(lo, hi) \
    FN(update_range)(o->kind, (T)c->lr, (T)o->beta1, (T)o->beta2, (T)o->epsilon, (T)c1, \
                     (T)c2, (lo), (hi), c->theta, c->grad, c->v, c->s)
    ptrdiff_t p = p0;
    for (int l = 1; l <= net->n_layers && p < p1; l++) {
        const int n = net->dims[l], np = net->dims[l - 1];
        const ptrdiff_t w = w_off(net, l), b = w + (ptrdiff_t)n * np; /* W^T, then b */
        if (p < b && np > 0) {
            const int u1 = (int)(((p1 < b ? p1 : b) - w) / np);
            for (int u = (int)((p - w) / np); u < u1; u += UPDATE_UNITS) {
                const int u2 = u1 - u < UPDATE_UNITS ? u1 : u + UPDATE_UNITS;
                UT_UPDATE(w + (ptrdiff_t)u * np, w + (ptrdiff_t)u2 * np);
                FN(pydl_transpose)(np, u2 - u, c->theta + w + (ptrdiff_t)u * np, np,
                                   FN(wn_of)(c, l) + u, wn_ld(n));
            }
            p = w + (ptrdiff_t)u1 * np;
        }
        const ptrdiff_t hi = p1 < b + n ? p1 : b + n;
        if (p < hi) {
            UT_UPDATE(p, hi);
            p = hi;
        }
    }
#undef UT_UPDATE
}

/* Z[l] rows [r0, r1), columns (examples) [c0, c1): Z (n, mb) = W (n, np) . A_prev (np, mb)
 * + b; with `finish` (hidden layers) also the activation and dropout. The output layer is
 * finished by examples in step(): softmax needs whole columns. */
static void FN(forward_tile)(const FN(step_ctx) *c, int l, int r0, int r1, int c0, int c1,
                             int finish)
{
    const pydl_net *net = c->net;
    const int L = net->n_layers, mb = c->mb;
    const int n = net->dims[l], np = net->dims[l - 1], nr = r1 - r0, nc = c1 - c0;
    const int32_t *cols;
    const T *Ain = FN(layer_input)(c, l, &cols);
    T *Z = (l == L && c->out ? c->out : c->A + FN(a_off)(net, l, mb)) + (ptrdiff_t)c0 * n;
    const int act = finish ? net->act[l - 1] : PYDL_LINEAR; /* the output's g comes later */
    const pydl_epilogue ep = FN(epilogue)(act, net->leaky_slope,
                                          c->theta + w_off(net, l) + (ptrdiff_t)n * np + r0,
                                          NULL, 0);
    if (cols)
        cols += c0;
    else
        Ain += (ptrdiff_t)c0 * np;
    c->product(nr, nc, np, 1, FN(wn_of)(c, l) + r0, wn_ld(n), NULL, Ain, 1, np, cols, Z + r0,
               n, &ep);
    if (!finish)
        return;
    if (!FN(epilogue_completes)(act))
        FN(bias_activate)(act, (T)net->leaky_slope, n, r0, r1, nc, NULL, Z);
    if (FN(keep_of)(c, l) < 1)
        FN(apply_dropout)(c, l, r0, r1, c0, c1, Z - (ptrdiff_t)c0 * n);
}

/* dW[l] columns [q0, q1) (rows of the stored dW^T) for units [u0, u1), with the
 * regularization terms (l2/m) W + (l1/m) sign(W). Returns whether they are all finite
 * (checked while they are in cache: a separate pass over the gradient cost 2% of a
 * batch-512 step). */
static int FN(backward_dw_tile)(const FN(step_ctx) *c, int l, int q0, int q1, int u0, int u1)
{
    const pydl_net *net = c->net;
    const int n = net->dims[l], np = net->dims[l - 1], mb = c->mb, nq = q1 - q0;
    const ptrdiff_t off = w_off(net, l);
    const T *W = c->theta + off;
    T *dW = c->grad + off;
    const T *dZ = c->D[l & 1];
    const int32_t *cols;
    const T *Ain = FN(layer_input)(c, l, &cols);
    const T inv_m = (T)1 / (T)(c->m_norm ? c->m_norm : mb);
    /* dW = (1/m) dZ . A_prev^T; stored as dW^T (np, n) = (1/m) A_prev (np, mb) . dZ^T (mb, n) */
    c->product(nq, u1 - u0, mb, inv_m, Ain + q0, np, cols, dZ + u0, n, 1, NULL,
               dW + q0 + (ptrdiff_t)u0 * np, np, NULL);
    if (c->l2 != 0 || c->l1 != 0) {
        const T k2 = c->l2 * inv_m, k1 = c->l1 * inv_m;
        for (ptrdiff_t u = u0; u < u1; u++)
            for (ptrdiff_t q = u * np + q0; q < u * np + q1; q++)
                dW[q] += k2 * W[q] + k1 * (T)((W[q] > 0) - (W[q] < 0));
    }
    int ok = 1;
    for (ptrdiff_t u = u0; u < u1; u++)
        ok &= FN(finite_range)(dW, u * np + q0, u * np + q1);
    return ok;
}

/* db[l] for units [u0, u1): (1/m) sum over the batch of dZ[l]. */
PYDL_CLONES
static void FN(backward_db)(const FN(step_ctx) *c, int l, ptrdiff_t u0, ptrdiff_t u1)
{
    const pydl_net *net = c->net;
    const int n = net->dims[l], np = net->dims[l - 1], mb = c->mb;
    const T *dZ = c->D[l & 1];
    T *db = c->grad + w_off(net, l) + (ptrdiff_t)n * np;
    const T inv_m = (T)1 / (T)(c->m_norm ? c->m_norm : mb);
    if (u0 < u1 && n < SHORT_COLUMN) {
        /* short columns: sums over runs of whole columns in `reps` lanes per unit, then
         * the lanes in order; every thread with units to write sums them all (cheap at
         * this width), so the order is the same whatever the split */
        const int reps = short_run_columns(n), run = reps * n;
        T acc[2 * SHORT_COLUMN] = {0};
        ptrdiff_t j = 0;
        for (; j + reps <= mb; j += reps) {
            const T *d = dZ + j * n;
            for (int k = 0; k < run; k++)
                acc[k] += d[k];
        }
        for (; j < mb; j++)
            for (int i = 0; i < n; i++)
                acc[i] += dZ[j * n + i];
        for (ptrdiff_t u = u0; u < u1; u++) {
            T s = 0;
            for (int r = 0; r < reps; r++)
                s += acc[r * n + u];
            db[u] = s * inv_m;
        }
        return;
    }
    /* long columns: down the batch in db itself, a contiguous run of units at a time (a
     * sum per unit across strided columns was 4% of a batch-512 step) */
    for (ptrdiff_t u = u0; u < u1; u++)
        db[u] = 0;
    for (ptrdiff_t j = 0; j < mb; j++) {
        const T *d = dZ + j * n;
        for (ptrdiff_t u = u0; u < u1; u++)
            db[u] += d[u];
    }
    for (ptrdiff_t u = u0; u < u1; u++)
        db[u] *= inv_m;
}

/* dA[l-1] rows [q0, q1), columns [c0, c1) = (W[l]^T dZ[l]), then dZ[l-1] = dA[l-1] *
 * g'(Z[l-1]) there. */
static void FN(backward_da_tile)(const FN(step_ctx) *c, int l, int q0, int q1, int c0, int c1)
{
    const pydl_net *net = c->net;
    const int n = net->dims[l], np = net->dims[l - 1], mb = c->mb, nq = q1 - q0, nc = c1 - c0;
    const T *W = c->theta + w_off(net, l);
    const T *dZ = c->D[l & 1] + (ptrdiff_t)c0 * n;
    T *dA = c->D[(l - 1) & 1] + (ptrdiff_t)c0 * np;
    const T *Aprev = c->A + FN(a_off)(net, l - 1, mb) + (ptrdiff_t)c0 * np;
    const double keep = FN(keep_of)(c, l - 1);
    const int act = net->act[l - 2];
    const T slope = (T)net->leaky_slope, a_scale = (T)keep;
    /* without dropout in between, the product's epilogue takes the rectifiers' g'(z) */
    const int fuse = keep >= 1 && FN(epilogue_completes)(act);
    const pydl_epilogue ep = FN(epilogue)(act, slope, NULL, Aprev + q0, np);
    /* (np, mb) = W^T (np, n) . dZ (n, mb); column-major W^T is the stored array itself */
    c->product(nq, nc, n, 1, W + q0, np, NULL, dZ, 1, n, NULL, dA + q0, np, fuse ? &ep : NULL);
    if (fuse)
        return;
    if (keep < 1) /* the same units as forward dropped, the same 1/keep_prob */
        FN(apply_dropout)(c, l - 1, q0, q1, c0, c1, dA - (ptrdiff_t)c0 * np);
    if (nq == np) /* all rows: one contiguous block */
        FN(mul_derivative)(act, slope, (ptrdiff_t)np * nc, Aprev, a_scale, dA);
    else
        for (ptrdiff_t j = 0; j < nc; j++)
            FN(mul_derivative)(act, slope, nq, Aprev + j * np + q0, a_scale, dA + j * np + q0);
}

/* Sample weights on examples [c0, c1) of the step: their dZ[L] columns and losses times
 * sw_i * sw_scale, so that the (1/m_b) of the gradient and cost becomes 1/sum(sw). */
static void FN(weigh_examples)(const FN(step_ctx) *c, int n, ptrdiff_t c0, ptrdiff_t c1)
{
    const int lw = loss_width(c->net);
    T *dZ = c->D[c->net->n_layers & 1];
    for (ptrdiff_t j = c0; j < c1; j++) {
        const T f = c->sw[c->idx ? (ptrdiff_t)c->idx[j] : c->first + j] * c->sw_scale;
        for (int i = 0; i < n; i++)
            dZ[j * n + i] *= f;
        for (int i = 0; i < lw; i++)
            c->loss[j * lw + i] *= f;
    }
}

/* mb / (the sum of the batch's sample weights), summed in a fixed order; 0 for a zero sum */
static double FN(weight_scale)(const T *sw, const int32_t *idx, ptrdiff_t first, int mb)
{
    double sum = 0;
    for (int j = 0; j < mb; j++)
        sum += (double)sw[idx ? (ptrdiff_t)idx[j] : first + j];
    return sum > 0 ? mb / sum : 0.0;
}

/* The tiles of a product of the step (rows, cols): grid_of's, fixed by the shape, for the
 * BLAS, whose bits depend on the calls. pydl's own kernels give the same bits however a
 * product is cut (products.h), and each call costs a setup (packing B, the edges): one
 * tile on one thread (the planar network's forward products were 12 calls of 33 columns
 * each), one block of rows per thread where each gets TILE_MIN_ROWS or more (784-256-128-10
 * on 2 threads of an AVX2 Zen 3, C-level A/B, 8 interleaved rounds: a batch-512 step
 * +12%, batch 64 +10%, against grid_of's 64-row tiles), else grid_of's tiles. */
static tile_grid FN(step_grid)(const FN(step_ctx) *c, int n_threads, int rows, int cols)
{
    if (c->product != FN(blas_product)) {
        if (n_threads == 1)
            return (tile_grid){rows, cols, 1, 1};
        if (rows >= TILE_MIN_ROWS * n_threads)
            return (tile_grid){rows, cols, n_threads, 1};
    }
    return grid_of(rows, cols);
}

/* One step, run by each of n_threads threads: forward, cost, backward and (training) the
 * update -- applied only when the loss and every gradient are finite, so that a diverging
 * step leaves theta as it was. */
static void FN(step)(const FN(step_ctx) *c, int tid, int n_threads)
{
    const pydl_net *net = c->net;
    const int L = net->n_layers, mb = c->mb, n0 = net->dims[0];
    ptrdiff_t c0, c1, t0, t1, u0, u1;
    int r0, r1, k0, k1;
    pydl_share(mb, tid, n_threads, &c0, &c1);
    const int prepare = !c->wn_current || FN(gathers)(c);
    if (!c->wn_current)
        FN(transpose_weights)(c, tid, n_threads);
    if (FN(gathers)(c)) { /* gather the batch (see layer_input) */
        for (ptrdiff_t j = c0; j < c1; j++) {
            const T *x = c->X + (c->idx ? (ptrdiff_t)c->idx[j] : c->first + j) * n0;
            if (c->aug)
                FN(augment_image)(c->aug,
                                  augment_choice(c->aug, c->dk, c->pos ? c->pos[j] : (int)j),
                                  x, c->Xb + j * n0);
            else
                memcpy(c->Xb + j * n0, x, (size_t)n0 * sizeof(T));
        }
    }
    if (prepare) /* (else nothing to wait for: each step is a parallel region of its own) */
        pydl_barrier(n_threads); /* Wn (and Xb) complete */
    for (int l = 1; l <= L; l++) {
        const tile_grid g = FN(step_grid)(c, n_threads, net->dims[l], mb);
        const int finish = l < L; /* the output layer is finished by examples below */
        pydl_share(grid_tiles(g), tid, n_threads, &t0, &t1);
        for (ptrdiff_t t = t0; t < t1; t++) {
            grid_tile(g, t, &r0, &r1, &k0, &k1);
            FN(forward_tile)(c, l, r0, r1, k0, k1, finish);
        }
        pydl_barrier(n_threads); /* A[l] complete */
    }
    {   /* output activation (softmax needs whole columns), loss and dZ[L], by examples */
        const int n = net->dims[L];
        /* Z[L] + b (the product added the bias) */
        T *Z = (c->out ? c->out : c->A + FN(a_off)(net, L, mb)) + c0 * n;
        if (c->dA) { /* an external loss: dZ[L] = dA[L] * g'(Z[L]) */
            FN(bias_activate)(net->act[L - 1], (T)net->leaky_slope, n, 0, n, c1 - c0, NULL, Z);
            FN(output_grad)(net->act[L - 1], (T)net->leaky_slope, n, c1 - c0, Z, c->dA + c0 * n,
                            c->D[L & 1] + c0 * n);
        } else if (!c->with_cost) {
            FN(bias_activate)(net->act[L - 1], (T)net->leaky_slope, n, 0, n, c1 - c0, NULL, Z);
            return;
        } else {
            /* dZ[L] is written even for a cost alone: the workspace always has room for it */
            FN(output_block)(net->act[L - 1], n, c1 - c0, Z, c->D[L & 1] + c0 * n,
                             c->loss + c0 * loss_width(net), c->Y, c->labels,
                             c->idx ? c->idx + c0 : NULL, c->first + c0);
        }
        if (c->sw && !c->dA)
            FN(weigh_examples)(c, n, c0, c1);
        if (!c->with_grad)
            return;
    }
    int finite = 1; /* the gradients this thread wrote */
    for (int l = L; l >= 1; l--) {
        const int n = net->dims[l], np = net->dims[l - 1];
        pydl_barrier(n_threads); /* dZ[l] complete */
        /* the tiles of dW[l] (np, n), then those of dA[l-1] (np, mb): both read dZ[l] */
        const tile_grid gw = FN(step_grid)(c, n_threads, np, n);
        const tile_grid ga = FN(step_grid)(c, n_threads, np, mb);
        const ptrdiff_t nw = grid_tiles(gw);
        backward_share(nw, l > 1 ? grid_tiles(ga) : 0, tid, n_threads, &t0, &t1);
        for (ptrdiff_t t = t0; t < t1; t++) {
            if (t < nw) {
                grid_tile(gw, t, &r0, &r1, &k0, &k1);
                finite &= FN(backward_dw_tile)(c, l, r0, r1, k0, k1);
            } else {
                grid_tile(ga, t - nw, &r0, &r1, &k0, &k1);
                FN(backward_da_tile)(c, l, r0, r1, k0, k1);
            }
        }
        pydl_share(n, tid, n_threads, &u0, &u1);
        FN(backward_db)(c, l, u0, u1);
        finite &= FN(finite_range)(c->grad + w_off(net, l) + (ptrdiff_t)n * np, u0, u1);
    }
    if (!c->opt || c->defer_update)
        return;
    /* the update: only from a finite loss and finite gradients (each thread checked those
     * it wrote; the verdict is shared through *c->bad) */
    ptrdiff_t p0, p1;
    const ptrdiff_t P = pydl_n_params(net);
    pydl_share(P, tid, n_threads, &p0, &p1);
    p0 = unit_start(net, p0); /* whole units to each thread: the same cuts in all of them */
    p1 = unit_start(net, p1);
    int bad = !finite || (tid == 0 && !isfinite(FN(sum_losses)((ptrdiff_t)loss_width(net) * mb,
                                                                c->loss) + c->reg));
    if (bad) {
#ifdef _OPENMP
#pragma omp atomic
#endif
        *c->bad |= bad;
    }
    pydl_barrier(n_threads); /* every gradient complete, every verdict in */
    if (!*c->bad)
        FN(update_transposing)(c, p0, p1);
}

/* Runs step() on n_threads threads (or inline for one); returns the batch's summed loss
 * (0 without a cost). */
static double FN(run_step)(const FN(step_ctx) *c, int n_threads)
{
#ifdef _OPENMP
    if (n_threads > 1) {
#pragma omp parallel num_threads(n_threads)
        PYDL_FLUSHED(FN(step)(c, pydl_thread_num(), pydl_num_threads()));
    } else
#endif
        PYDL_FLUSHED(FN(step)(c, 0, 1));
    if (!c->with_cost)
        return 0;
    return FN(sum_losses)((ptrdiff_t)loss_width(c->net) * c->mb, c->loss);
}

/* ---- workspace ----------------------------------------------------------------------- */

/* Points the context into the workspace, laid out by ws_layout (net.c). */
static void FN(carve)(const pydl_net *net, int mb, T *work, FN(step_ctx) *c)
{
    ptrdiff_t off[WS_END + 1];
    ws_layout(net, mb, off);
    c->Xb = work + off[WS_XB];
    c->A = work + off[WS_A];
    c->D[0] = work + off[WS_D0];
    c->D[1] = work + off[WS_D1];
    c->loss = work + off[WS_LOSS];
    c->grad = work + off[WS_GRAD];
    c->Wn = work + off[WS_WN];
}

/* sum of W^2 and of |W| over every layer's weights (biases excluded), in a fixed order:
 * value i of a layer goes to lane i % SUM_LANES, the lanes are summed in order at the end.
 * (One serial chain of additions was 5% of a 100-100-4 batch-200 step: the training loop
 * takes it every step.) */
#define SUM_LANES 16
static void FN(weight_sums)(const pydl_net *net, const T *theta, double *w2, double *w1)
{
    double s2[SUM_LANES] = {0}, s1[SUM_LANES] = {0};
    for (int l = 1; l <= net->n_layers; l++) {
        const T *W = theta + w_off(net, l);
        const ptrdiff_t n = (ptrdiff_t)net->dims[l] * net->dims[l - 1];
        ptrdiff_t i = 0;
        for (; i + SUM_LANES <= n; i += SUM_LANES)
            for (int r = 0; r < SUM_LANES; r++) {
                const double w = (double)W[i + r];
                s2[r] += w * w;
                s1[r] += fabs(w);
            }
        for (int r = 0; i < n; i++, r++) {
            const double w = (double)W[i];
            s2[r] += w * w;
            s1[r] += fabs(w);
        }
    }
    *w2 = *w1 = 0;
    for (int r = 0; r < SUM_LANES; r++) {
        *w2 += s2[r];
        *w1 += s1[r];
    }
}

#define UPDATE_PARALLEL_MIN 32768 /* below this a parallel region costs more than it saves */

void FN(pydl_update)(const pydl_optimizer *o, int64_t t, double lr, ptrdiff_t P, T *theta,
                     const T *grad, T *v, T *s, int n_threads)
{
#ifdef _OPENMP
    if (n_threads > 1 && P >= UPDATE_PARALLEL_MIN) {
#pragma omp parallel num_threads(n_threads)
        {
            ptrdiff_t lo, hi;
            pydl_share(P, pydl_thread_num(), pydl_num_threads(), &lo, &hi);
            PYDL_FLUSHED(FN(update_share)(o, t, lr, lo, hi, theta, grad, v, s));
        }
        return;
    }
#endif
    (void)n_threads;
    PYDL_FLUSHED(FN(update_share)(o, t, lr, 0, P, theta, grad, v, s));
}

/* ---- entry points -------------------------------------------------------------------- */

#define FINITE_CHUNK 65536 /* values per chunk of the finiteness scan */

int FN(pydl_all_finite)(ptrdiff_t count, const T *a, int n_threads)
{
    const ptrdiff_t chunks = (count + FINITE_CHUNK - 1) / FINITE_CHUNK;
    int ok = 1;
#ifdef _OPENMP
    if (n_threads > 1 && chunks > 1) {
#pragma omp parallel for num_threads(n_threads) reduction(&:ok) schedule(static)
        for (ptrdiff_t k = 0; k < chunks; k++) {
            const ptrdiff_t lo = k * FINITE_CHUNK;
            ok &= FN(finite_range)(a, lo, count - lo < FINITE_CHUNK ? count : lo + FINITE_CHUNK);
        }
        return ok;
    }
#endif
    (void)n_threads;
    (void)chunks;
    return FN(finite_range)(a, 0, count);
}

int FN(pydl_product)(int M, int N, int K, double alpha, const T *A, int lda,
                     const int32_t *acols, const T *B, int sbk, int sbj, const int32_t *bcols,
                     T *C, int ldc, const T *bias, const T *gate, int ldg, int rectify,
                     double slope)
{
    const PRODUCT_T product = PATH_KERNEL(PYDL_LOAD(products));
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    if ((acols || bcols) && product == FN(blas_product))
        return PYDL_ERR_ARGUMENT;
    const pydl_epilogue ep = {bias, gate, ldg, rectify, slope};
    const int with_ep = bias || gate || rectify != PYDL_RECTIFY_NONE;
    PYDL_FLUSHED(product(M, N, K, (T)alpha, A, lda, acols, B, sbk, sbj, bcols, C, ldc,
                         with_ep ? &ep : NULL));
    return PYDL_OK;
}

/* the first layer l whose A[l] (for the step's batch) holds NaN or inf, else 0 */
static int FN(first_nonfinite_layer)(const FN(step_ctx) *c)
{
    for (int l = 1; l <= c->net->n_layers; l++) {
        const T *A = c->A + FN(a_off)(c->net, l, c->mb);
        const ptrdiff_t n = (ptrdiff_t)c->net->dims[l] * c->mb;
        for (ptrdiff_t i = 0; i < n; i++)
            if (!isfinite(A[i]))
                return l;
    }
    return 0;
}

/* m * J's regularization part: (l2/2) sum ||W||^2 + l1 sum |W| (a serial pass, fixed order) */
static double FN(regularization)(const pydl_net *net, const T *theta, double l2, double l1)
{
    double w2, w1;
    if (l2 == 0 && l1 == 0)
        return 0;
    FN(weight_sums)(net, theta, &w2, &w1);
    return 0.5 * l2 * w2 + l1 * w1;
}

int FN(pydl_forward)(const pydl_net *net, int n_threads, int m, const T *theta, const T *X,
                     T *out, T *work)
{
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    FN(step_ctx) c = {0};
    FN(carve)(net, m, work, &c);
    c.net = net; c.mb = m; c.X = X; c.theta = (T *)theta; c.out = out; /* not written */
    FN(use_path)(&c, NULL);
    FN(run_step)(&c, pydl_effective_threads(n_threads, net, m));
    return PYDL_OK;
}

/* ---- inference ----------------------------------------------------------------------
 * Predict reads the network's inference copy (pydl_pack): each layer's W^T in panels of
 * PW units (products.h) and its bias, padded to whole panels. Examples go in blocks of
 * `rows` through every layer, the hidden activations of a block in two per-thread buffers
 * on the stack (or in `work` for very wide layers); each panel is the A operand of a
 * product kernel (the training step's own: each output one FMA chain over k, then bias and
 * rectifier in its epilogue) over the block's rows read where they lie, and a single row
 * goes through the one-example kernel, whose chains are the same. Threads share the rows
 * in whole tiles; the results do not depend on the number of threads, on which rows share
 * a call, or on the kernel's instruction set. */

enum { FN(PW) = PYDL_PANEL_BYTES / (int)sizeof(T) };

/* Offset of layer l's panels in the pack; its bias follows them (l = L + 1: the size) */
static ptrdiff_t FN(pack_off)(const pydl_net *net, int l)
{
    ptrdiff_t off = 0;
    for (int k = 1; k < l; k++) {
        const ptrdiff_t units = (net->dims[k] + FN(PW) - 1) / FN(PW) * FN(PW);
        off += units * ((ptrdiff_t)net->dims[k - 1] + 1);
    }
    return off;
}

ptrdiff_t FN(pydl_pack_size)(const pydl_net *net)
{
    return FN(pack_off)(net, net->n_layers + 1);
}

void FN(pydl_pack)(const pydl_net *net, const T *theta, T *pack)
{
    const int PW = FN(PW);
    for (int l = 1; l <= net->n_layers; l++) {
        const int n = net->dims[l], K = net->dims[l - 1];
        const T *W = theta + w_off(net, l), *b = W + (ptrdiff_t)n * K;
        T *P = pack + FN(pack_off)(net, l);
        const int np = (n + PW - 1) / PW;
        for (int p = 0; p < np; p++) {
            T *panel = P + (ptrdiff_t)p * K * PW;
            for (int r = 0; r < PW; r++) {
                const int u = p * PW + r;
                for (int k = 0; k < K; k++)
                    panel[(ptrdiff_t)k * PW + r] = u < n ? W[(ptrdiff_t)u * K + k] : (T)0;
            }
        }
        T *bias = P + (ptrdiff_t)np * PW * K;
        for (int u = 0; u < np * PW; u++)
            bias[u] = u < n ? b[u] : (T)0;
    }
}

/* Rows of a block (a multiple of `step`, the kernel's columns per tile, where at least
 * that many fit) and the elements of each of its two buffers (0: the block does not fit on
 * the stack: work is needed). The output layer writes `out` directly, unless only labels
 * are asked for. */
static int FN(infer_rows)(const pydl_net *net, int with_out, int step, ptrdiff_t *width)
{
    int w = with_out ? 0 : net->dims[net->n_layers];
    for (int l = 1; l < net->n_layers; l++)
        w = net->dims[l] > w ? net->dims[l] : w;
    *width = w;
    if (w == 0)
        return INFER_MAX_ROWS;
    ptrdiff_t rows = (ptrdiff_t)(INFER_BLOCK_BYTES / sizeof(T)) / w;
    rows = rows > INFER_MAX_ROWS ? INFER_MAX_ROWS : rows;
    return (int)(rows >= step ? rows / step * step : rows);
}

ptrdiff_t FN(pydl_predict_work_size)(const pydl_net *net, int n_threads, int with_out)
{
    ptrdiff_t width;
    if (FN(infer_rows)(net, with_out, 1, &width) > 0)
        return 0;
    return 2 * width * (n_threads < 1 ? 1 : n_threads);
}

/* The labels of mb examples from their output activations A (mb, n): the first argmax
 * (softmax; NaN counts as the largest, as numpy.argmax) or a > 1/2 per output (sigmoid). */
static void FN(decide)(int act, int n, int mb, const T *A, int64_t *labels)
{
    if (act != PYDL_SOFTMAX) {
        for (ptrdiff_t i = 0; i < (ptrdiff_t)n * mb; i++)
            labels[i] = A[i] > (T)0.5;
        return;
    }
    for (int j = 0; j < mb; j++) {
        const T *a = A + (ptrdiff_t)j * n;
        int best = 0;
        for (int i = 1; i < n && a[best] == a[best]; i++)
            best = a[i] > a[best] || a[i] != a[i] ? i : best;
        labels[j] = best;
    }
}

/* Examples [j0, j1) in blocks of `rows`, with the buffers buf0, buf1 of `width` each.
 * Each block's rows are checked finite just before the kernel reads them (from cache: a
 * separate pass over all of X first cost ~7% of a 1024-row call); 0 at the first block
 * that is not, else 1. */
static int FN(infer_blocks)(const infer_kernel *kernel, const pydl_net *net, const T *pack,
                             const T *X, ptrdiff_t ldx, T *out, int64_t *labels, int rows,
                             T *buf0, T *buf1, ptrdiff_t j0, ptrdiff_t j1)
{
    const int L = net->n_layers, nL = net->dims[L], n0 = net->dims[0], PW = FN(PW);
    T *buf[2] = {buf0, buf1};
    for (ptrdiff_t b0 = j0; b0 < j1; b0 += rows) {
        const int mb = (int)(j1 - b0 < rows ? j1 - b0 : rows);
        const T *in = X + b0 * ldx;
        ptrdiff_t ldin = ldx;
        int finite = 1;
        for (int j = 0; j < mb; j++)
            finite &= FN(finite_range)(in + j * ldin, 0, n0);
        if (!finite)
            return 0;
        for (int l = 1; l <= L; l++) {
            const int n = net->dims[l], K = net->dims[l - 1], np = (n + PW - 1) / PW;
            const int act = net->act[l - 1];
            const int rectify = act == PYDL_RELU ? PYDL_RECTIFY_RELU
                                : act == PYDL_LEAKY_RELU ? PYDL_RECTIFY_LEAKY : PYDL_RECTIFY_NONE;
            const T *P = pack + FN(pack_off)(net, l), *bias = P + (ptrdiff_t)np * PW * K;
            T *o = l == L && out ? out + b0 * nL : buf[(l - 1) & 1];
            if (mb == 1) {
                INFER_ONE(kernel)(n, K, P, bias, in, o, rectify, (T)net->leaky_slope);
            } else {
                for (int p = 0; p < np; p++) {
                    const int u = p * PW;
                    const pydl_epilogue ep = {bias + u, NULL, 0, rectify, net->leaky_slope};
                    INFER_GEMM(kernel)(n - u < PW ? n - u : PW, mb, K, (T)1,
                                       P + (ptrdiff_t)u * K, PW, NULL, in, 1, ldin, NULL,
                                       o + u, n, &ep);
                }
            }
            if (act == PYDL_SOFTMAX)
                FN(softmax_columns)(n, mb, o); /* a row of o is one example's outputs */
            else if (rectify == PYDL_RECTIFY_NONE)
                FN(activate)(act, (T)net->leaky_slope, (ptrdiff_t)n * mb, o);
            in = o;
            ldin = n;
        }
        if (labels)
            FN(decide)(net->act[L - 1], nL, mb, in, labels + b0 * (net->act[L - 1] == PYDL_SOFTMAX ? 1 : nL));
    }
    return 1;
}

/* Blocks of `rows` (0: one row at a time, in work), buffers on this thread's stack (or
 * its share of work), examples [j0, j1); 0 if X holds a non-finite value there. */
static int FN(infer_share)(const infer_kernel *kernel, const pydl_net *net, const T *pack,
                            const T *X, ptrdiff_t ldx, T *out, int64_t *labels, T *work,
                            int rows, ptrdiff_t j0, ptrdiff_t j1, int tid)
{
    ptrdiff_t width;
    FN(infer_rows)(net, out != NULL, kernel->rows, &width);
    if (rows > 0) {
        _Alignas(INFER_ALIGN) T stack[2][INFER_BLOCK_BYTES / sizeof(T)];
        return FN(infer_blocks)(kernel, net, pack, X, ldx, out, labels, rows, stack[0],
                                stack[1], j0, j1);
    }
    T *mine = work + 2 * width * tid;
    return FN(infer_blocks)(kernel, net, pack, X, ldx, out, labels, 1, mine, mine + width, j0,
                            j1);
}

int FN(pydl_predict)(const pydl_net *net, int n_threads, int m, const T *pack, const T *X,
                     ptrdiff_t ldx, T *out, int64_t *labels, T *work)
{
    /* once: a switch by another thread waits for the next call */
    const infer_kernel *kernel = PYDL_LOAD(infer_now);
    ptrdiff_t width;
    const int rows = FN(infer_rows)(net, out != NULL, kernel->rows, &width);
    if (m < 0 || (!out && !labels) || (rows == 0 && !work)
        || (labels && (net->act[net->n_layers - 1] == PYDL_LINEAR
                       || net->act[net->n_layers - 1] == PYDL_EXP)))
        return PYDL_ERR_ARGUMENT;
    double macs = 0;
    for (int l = 1; l <= net->n_layers; l++)
        macs += (double)net->dims[l] * net->dims[l - 1];
    /* threads share the rows in whole tiles (not whole blocks: 1024 rows in blocks of 72
     * would go 576 to one thread, 448 to the other), each its share in blocks */
    const ptrdiff_t step = rows > 0 ? kernel->rows : 1, units = (m + step - 1) / step;
    int nt = macs * m < INFER_PARALLEL_MIN_MACS ? 1 : n_threads;
    nt = nt > units ? (int)units : nt < 1 ? 1 : nt;
    int finite = 1;
#ifdef _OPENMP
    if (nt > 1) {
#pragma omp parallel num_threads(nt) reduction(&:finite)
        {
            ptrdiff_t u0, u1;
            pydl_share(units, pydl_thread_num(), pydl_num_threads(), &u0, &u1);
            const ptrdiff_t j1 = u1 * step < m ? u1 * step : m;
            PYDL_FLUSHED(finite = FN(infer_share)(kernel, net, pack, X, ldx, out, labels,
                                                  work, rows, u0 * step, j1,
                                                  pydl_thread_num()));
        }
        return finite ? PYDL_OK : PYDL_ERR_NONFINITE;
    }
#endif
    PYDL_FLUSHED(finite = FN(infer_share)(kernel, net, pack, X, ldx, out, labels, work, rows, 0,
                                          m, 0));
    return finite ? PYDL_OK : PYDL_ERR_NONFINITE;
}

int FN(pydl_cost_grad)(const pydl_net *net, const char *products, int n_threads, int m,
                       const T *theta, const T *X, const T *Y, const int32_t *labels,
                       const T *sw, double l2, double l1, double *cost, T *grad, T *work)
{
    const double scale = sw ? FN(weight_scale)(sw, NULL, 0, m) : 1.0;
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    FN(step_ctx) c = {0};
    FN(carve)(net, m, work, &c);
    c.net = net; c.mb = m; c.X = X; c.theta = (T *)theta; /* not written: no opt */
    if (!FN(use_path)(&c, products))
        return PYDL_ERR_ARGUMENT;
    c.Y = Y; c.labels = labels;
    c.with_cost = 1; c.with_grad = grad != NULL;
    if (grad)
        c.grad = grad;
    c.sw = sw; c.sw_scale = (T)scale;
    c.l2 = (T)(l2 * scale); c.l1 = (T)(l1 * scale);
    const double loss = FN(run_step)(&c, pydl_effective_threads(n_threads, net, m));
    *cost = (loss + scale * FN(regularization)(net, theta, l2, l1)) / m;
    return isfinite(*cost) ? PYDL_OK : PYDL_ERR_NONFINITE;
}

int FN(pydl_propagate)(const pydl_net *net, const char *products, const double *keep,
                       const uint8_t *const *masks, int n_threads, int m, const T *theta,
                       const T *X, const T *Y, const int32_t *labels, const T *dA, double l2,
                       double l1, double *cost, T *out, T *grad, T *work)
{
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    if (keep && !masks)
        return PYDL_ERR_ARGUMENT;
    FN(step_ctx) c = {0};
    FN(carve)(net, m, work, &c);
    c.net = net; c.mb = m; c.X = X; c.theta = (T *)theta; /* not written: no opt */
    if (!FN(use_path)(&c, products))
        return PYDL_ERR_ARGUMENT;
    c.out = out;
    c.keep = keep; c.masks = masks;
    c.dA = dA;
    c.Y = dA ? NULL : Y; c.labels = dA ? NULL : labels;
    c.with_cost = !dA && (Y || labels);
    c.with_grad = grad != NULL && (dA || c.with_cost);
    if (c.with_grad)
        c.grad = grad;
    c.l2 = (T)l2; c.l1 = (T)l1;
    const double loss = FN(run_step)(&c, pydl_effective_threads(n_threads, net, m));
    if (!c.with_cost)
        return PYDL_OK;
    *cost = (loss + FN(regularization)(net, theta, l2, l1)) / m;
    return isfinite(*cost) ? PYDL_OK : PYDL_ERR_NONFINITE;
}

int FN(pydl_train)(const pydl_train *tr, int m, T *theta, T *v, T *s, const T *X, const T *Y,
                   const int32_t *labels, const T *sw, int64_t epoch0, int n_epochs,
                   const double *lr,
                   double *cost_out, double *step_cost, double *step_lr, int *epochs_done,
                   int32_t *perm, T *work)
{
    const pydl_net *net = tr->net;
    const pydl_data_parallel *dp = tr->dp;
    const int bs = tr->batch_size;
    const int64_t M = dp ? dp->m_global : m; /* examples in an epoch, over all processes */
    const ptrdiff_t P = pydl_n_params(net);
    int64_t since_check = 0, step = 0;
    *epochs_done = 0;
    if (!GEMM_READY)
        return PYDL_ERR_NO_BLAS;
    if (bs < 1 || bs > M || M > INT32_MAX || (dp && (dp->first < 0 || dp->first + m > M || sw)))
        return PYDL_ERR_ARGUMENT;
    FN(step_ctx) c = {0};
    FN(carve)(net, bs < m ? bs : m, work, &c);
    c.net = net; c.X = X; c.theta = theta; c.Y = Y; c.labels = labels;
    if (!FN(use_path)(&c, tr->products))
        return PYDL_ERR_ARGUMENT;
    c.with_cost = 1; c.with_grad = 1;
    c.opt = tr->opt; c.v = v; c.s = s;
    c.sw = sw;
    c.keep = net->keep;
    c.defer_update = dp != NULL;
    int bad = 0;
    c.bad = &bad;
    pydl_step_key dk = {{(uint32_t)tr->seed, (uint32_t)(tr->seed >> 32)}, 0, 0};
    c.dk = &dk;
    c.aug = tr->augment.height > 0 ? &tr->augment : NULL;
    const int shuffle = tr->shuffle && bs < M;
    for (int e = 0; e < n_epochs; e++) {
        double total = 0;
        if (shuffle)
            pydl_permutation(tr->seed, epoch0 + e, (int)M, perm);
        else if (dp)
            for (int64_t i = 0; i < M; i++)
                perm[i] = (int32_t)i;
        const int64_t n_batches = pydl_batch_count((int)M, bs);
        for (int64_t k = 0; k < n_batches; k++) {
            /* signals are looked at before a step, so that an interruption never falls
             * between a step and its epoch's bookkeeping (data-parallel: in reduce) */
            if (!dp && tr->stop && ++since_check >= tr->check_every) {
                since_check = 0;
                if (tr->stop(tr->stop_ctx))
                    return PYDL_ERR_INTERRUPTED;
            }
            int64_t gfirst; /* the batch in the epoch's order, over every process */
            int gmb;
            pydl_batch_span((int)M, bs, k, &gfirst, &gmb);  /* 64-bit: m + bs may pass 2^31 */
            int mb = gmb, with_reg = 1;
            if (dp) {
                mb = dp_local_batch(dp, m, perm, gfirst, gmb, &with_reg);
                c.idx = perm + gfirst;
                c.pos = perm + M + gfirst;
                c.m_norm = gmb;
            } else {
                c.idx = shuffle ? perm + gfirst : NULL;
                c.first = gfirst;
            }
            const int nt = pydl_effective_threads(tr->n_threads, net, mb > 0 ? mb : 1);
            c.mb = mb;
            dk.epoch = (uint32_t)(epoch0 + e);
            dk.batch = (uint32_t)k;
            c.t = tr->opt->t + 1;
            c.lr = tr->lr_step_k > 0 ? lr[e] * tr->lr_step_k / sqrt((double)c.t) : lr[e];
            /* the regularization enters once per global batch */
            c.l2 = with_reg ? (T)tr->l2 : 0;
            c.l1 = with_reg ? (T)tr->l1 : 0;
            /* m_b * J_b at the parameters before the update: the regularization first */
            c.reg = with_reg ? FN(regularization)(net, theta, tr->l2, tr->l1) : 0;
            if (sw) { /* J_b = (sum sw_i loss_i + reg) / sum sw_i: scale all by m_b / sum
                       * (never with dp: sample weights would need global sums) */
                const double scale = FN(weight_scale)(sw, c.idx, c.first, mb);
                c.sw_scale = (T)scale;
                c.l2 = (T)(tr->l2 * scale);
                c.l1 = (T)(tr->l1 * scale);
                c.reg *= scale;
            }
            bad = 0;
            double batch = c.reg;
            if (mb > 0) {
                batch += FN(run_step)(&c, nt);
                c.wn_current = !dp; /* the step updated Wn with theta (data-parallel: later) */
            }
            else /* none of this batch here: nothing to add to the sum */
                memset(c.grad, 0, (size_t)P * sizeof(T));
            if (dp) {
                if (dp->reduce(dp->ctx, c.grad, P, &batch))
                    return PYDL_ERR_INTERRUPTED;
                /* the same sums on every process: the same verdict, the same update */
                bad = !isfinite(batch) || !FN(pydl_all_finite)(P, c.grad, tr->n_threads);
                if (!bad)
                    FN(pydl_update)(c.opt, c.t, c.lr, P, theta, c.grad, v, s, tr->n_threads);
            }
            if (bad) { /* the step skipped its update: theta is as it was */
                *tr->bad_layer = mb > 0 ? FN(first_nonfinite_layer)(&c) : 0;
                return PYDL_ERR_NONFINITE;
            }
            total += batch;
            tr->opt->t = c.t;
            if (step_cost) {
                step_cost[step] = batch / gmb;
                step_lr[step] = c.lr;
            }
            step++;
        }
        cost_out[e] = total / M;
        *epochs_done = e + 1;
    }
    return PYDL_OK;
}

#undef FN
#undef CAT
#undef CAT_
#undef UPDATE_PARALLEL_MIN
#undef UPDATE_UNITS
#undef FINITE_CHUNK
