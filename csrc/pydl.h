/*
 * pydl.h -- the numerical core of pydl: dense feed-forward networks, plain C99.
 *
 * Rules this core keeps:
 *  - No Python headers, no allocation, no I/O: the caller owns every buffer and passes
 *    pointers and sizes; functions return an int status (PYDL_OK or a negative code).
 *  - Inputs are trusted: the Cython door (pydl/_core.pyx) has validated every array.
 *  - Column-major views of C-contiguous arrays: an (m, n) NumPy array read by column-major
 *    BLAS is the course's (n, m) matrix with examples in columns. So X (n_samples, n_x) is
 *    the course's X (n_x, m), and W[l] stored as NumPy (n[l], n[l-1]) is, column-major,
 *    W[l]^T (n[l-1], n[l]) with leading dimension n[l-1].
 *  - Results do not depend on the number of threads: every output element is computed by
 *    one thread, in a fixed order (matrix products in fixed row blocks, element-wise work
 *    by examples, the update over the flat parameter vector, sums in a fixed order).
 *
 * Every typed function exists as _f32 (float) and _f64 (double), built from one template
 * (net_impl.h).
 */
#ifndef PYDL_H
#define PYDL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- status codes ------------------------------------------------------------------ */
enum {
    PYDL_OK = 0,
    PYDL_ERR_NO_BLAS = -1,      /* pydl_init was never called */
    PYDL_ERR_NONFINITE = -2,    /* a non-finite cost or gradient; parameters left before it */
    PYDL_ERR_INTERRUPTED = -3,  /* the stop hook asked to stop; last completed step kept */
    PYDL_ERR_ARGUMENT = -4      /* an impossible size (the door should have caught it) */
};

/* ---- activations and outputs -------------------------------------------------------- */
typedef enum {
    PYDL_LINEAR = 0,
    PYDL_SIGMOID = 1,
    PYDL_TANH = 2,
    PYDL_RELU = 3,
    PYDL_LEAKY_RELU = 4,
    PYDL_SOFTMAX = 5,
    PYDL_EXP = 6           /* output only: a = e^z, the mean of a Poisson count */
} pydl_activation;

/* The cost follows from the output activation:
 *   sigmoid -> binary cross-entropy  J = -(1/m) sum_k sum_i [y log a + (1-y) log(1-a)]
 *   softmax -> categorical cross-entropy on integer labels  J = -(1/m) sum_i log a[y_i, i]
 *   linear  -> mean squared error  J = (1/(2m)) sum_k sum_i (a - y)^2
 *   exp     -> half the Poisson deviance  J = (1/m) sum_k sum_i [a - y z + y log y - y]
 *              (y >= 0; scikit-learn's loss='poisson')
 * so that in all four cases dZ[L] = A[L] - Y. */

/* ---- BLAS --------------------------------------------------------------------------- */
/* Fortran-ABI ?gemm, as exported by scipy.linalg.cython_blas (LP64 int). */
typedef void (*pydl_sgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                              float *alpha, float *a, int *lda, float *b, int *ldb,
                              float *beta, float *c, int *ldc);
typedef void (*pydl_dgemm_fn)(char *transa, char *transb, int *m, int *n, int *k,
                              double *alpha, double *a, int *lda, double *b, int *ldb,
                              double *beta, double *c, int *ldc);

/* Installs the GEMM routines used by every kernel and reads the number of processors
 * (which fixes how products are split). Called once, at import, before anything else. */
void pydl_init(pydl_sgemm_fn sgemm, pydl_dgemm_fn dgemm);

/* ---- network description ------------------------------------------------------------ */
typedef struct {
    int n_layers;          /* L >= 1 */
    const int *dims;       /* n[0..L]: n[0] = n_x, n[L] = number of outputs */
    const int *act;        /* act[l-1]: pydl_activation of layer l = 1..L */
    double leaky_slope;    /* slope of leaky relu for z <= 0 (>= 0) */
    const double *keep;    /* keep[l-1]: inverted-dropout keep_prob of hidden layer l in
                              training (1 = none; the output's is 1); NULL: no dropout */
} pydl_net;

/* Number of parameters: sum over l of n[l]*n[l-1] + n[l]. Layout of theta: for l = 1..L,
 * W[l] (n[l], n[l-1]) row-major, then b[l] (n[l]). */
ptrdiff_t pydl_n_params(const pydl_net *net);

/* Elements of the typed workspace that forward/cost_grad/train need for batches of up to
 * max_batch examples (whatever the number of threads). */
ptrdiff_t pydl_workspace_size(const pydl_net *net, int max_batch);

/* ---- optimizers and the learning rate ----------------------------------------------- */
typedef enum {
    PYDL_OPT_GD = 0,       /* theta -= lr * g */
    PYDL_OPT_MOMENTUM = 1, /* v = b1 v + (1-b1) g;        theta -= lr * v */
    PYDL_OPT_RMSPROP = 2,  /* s = b2 s + (1-b2) g^2;      theta -= lr * g / (sqrt(s) + eps) */
    PYDL_OPT_ADAM = 3,     /* both, bias-corrected by 1 - b^t; theta -= lr * vh / (sqrt(sh) + eps) */
    /* scikit-learn's SGD momentum (its MLP's solver='sgd'): the velocity carries the
     * learning rate, so a rate changed between epochs scales new gradients only */
    PYDL_OPT_SGD_MOMENTUM = 4, /* v = b1 v - lr g;  theta += v */
    PYDL_OPT_NESTEROV = 5      /* v = b1 v - lr g;  theta += b1 v - lr g */
} pydl_optimizer_kind;

typedef struct {
    int kind;              /* pydl_optimizer_kind */
    double beta1;          /* momentum / Adam first moment (Momentum's beta) */
    double beta2;          /* RMSprop's beta / Adam second moment */
    double epsilon;
    int64_t t;             /* updates applied so far; the next update is number t + 1 */
} pydl_optimizer;

/* ---- a training run: one call trains whole epochs ------------------------------------ */
typedef int (*pydl_stop_hook)(void *ctx);   /* nonzero: stop now */

/* Data augmentation of image inputs while a mini-batch is gathered: each example (a row of
 * X holding an (height, width, channels) image in C order) is flipped horizontally with
 * probability 1/2 (if flip) and shifted by (dy, dx) in [-max_shift, max_shift]^2, zeros
 * filling what comes in: out[h, w] = flipped[h - dy, w - dx]. The decisions for example j
 * of batch b in epoch e are Philox(counter (j, e, b, AUGMENT), key seed): bit 0 of word 0
 * flips, words 1 and 2 modulo 2 max_shift + 1 give dy + max_shift and dx + max_shift. */
typedef struct {
    int height, width, channels;   /* height * width * channels = n[0]; 0: no augmentation */
    int flip;
    int max_shift;
} pydl_augment;

/* Augments rows of an (mb, n0) batch: in -> out (no aliasing) as training would for
 * batch `batch` of epoch `epoch`. */
void pydl_augment_batch_f32(const pydl_augment *aug, uint64_t seed, int64_t epoch,
                            int64_t batch, int mb, const float *in, float *out);
void pydl_augment_batch_f64(const pydl_augment *aug, uint64_t seed, int64_t epoch,
                            int64_t batch, int mb, const double *in, double *out);

/* Data-parallel training: the process is one of several, each holding a slice of the
 * training set, which together train one network in lockstep (pydl.distributed). The
 * global set of m_global examples is split into consecutive slices, this process holding
 * examples [first, first + m). Every process draws the same permutation of m_global and
 * the same global batches of batch_size; each computes the gradient of its own examples
 * of batch k scaled by 1/(examples of batch k over all processes) -- with the
 * regularization terms on the one process holding the batch's first example -- and
 * reduce() sums it over the processes, so that every process applies the same update,
 * the one a single process would apply to the whole batch. Dropout and augmentation are
 * keyed by an example's position in the global batch: the same as on one process. */
typedef int (*pydl_reduce_hook)(void *ctx, void *grad, ptrdiff_t count, double *loss);
typedef struct {
    pydl_reduce_hook reduce; /* sums grad (count values of the network's type) and *loss
                                over every process, in place, the same bits on every
                                process; nonzero: stop (every process must agree) */
    void *ctx;
    int64_t m_global;        /* examples over all processes (< 2^31) */
    int64_t first;           /* this process holds global examples [first, first + m) */
} pydl_data_parallel;

typedef struct {
    const pydl_net *net;
    int n_threads;         /* >= 1 */
    int batch_size;        /* 1..m */
    int shuffle;           /* permute the examples each epoch (seeded) */
    uint64_t seed;
    double l2, l1;         /* regularization strengths (lambda), weights only */
    pydl_optimizer *opt;   /* opt->t is advanced by each update (the Adam t, the k/sqrt(t) t) */
    double lr_step_k;      /* > 0: per-step decay lr_t = lr * k / sqrt(t) */
    pydl_augment augment;  /* height 0: off */
    pydl_stop_hook stop;   /* may be NULL */
    void *stop_ctx;
    int64_t check_every;   /* call stop() every this many steps */
    int *bad_layer;        /* on PYDL_ERR_NONFINITE: the first layer whose activations hold
                              NaN or inf in the failing batch (0: none did; the loss or a
                              gradient did) */
    const pydl_data_parallel *dp; /* NULL: one process. Else batch_size is the global batch
                              size, perm holds 2 m_global, the stop hook is not called (the
                              reduce hook decides) and the work has room for batches of
                              min(batch_size, m) examples */
    const char *products;  /* the product path to run (a name pydl_set_float_products takes),
                              so that a caller can decide around it (e.g. hold the BLAS at
                              one thread) with no switch by another thread in between;
                              NULL: the path set when the call starts */
} pydl_train;

/* ---- typed entry points -------------------------------------------------------------- */
#define PYDL_DECLARE(T, SFX)                                                                 \
/* A[L] for m examples: X (m, n0) C-contiguous -> out (m, n[L]). */                           \
int pydl_forward_##SFX(const pydl_net *net, int n_threads, int m, const T *theta,            \
                       const T *X, T *out, T *work);                                         \
/* Cost (with the regularization terms) and, if grad is not NULL, its gradient over theta,  \
 * for m examples, full batch. Y is (m, n[L]) for sigmoid/linear outputs, labels (m,)      \
 * for softmax; the other is NULL. sw: sample weights (m,), >= 0 with a sum > 0, or NULL   \
 * (all 1); with them J = (sum_i sw_i loss_i + regularization) / sum_i sw_i. products: the  \
 * product path to run, as pydl_train's (NULL: the one set when the call starts). */       \
int pydl_cost_grad_##SFX(const pydl_net *net, const char *products, int n_threads, int m,   \
                         const T *theta, const T *X, const T *Y, const int32_t *labels,     \
                         const T *sw, double l2, double l1, double *cost, T *grad, T *work); \
/* Applies update number t (>= 1; opt->t is not read) to theta (length P) from grad; v, s:  \
 * the optimizer's state, overwritten (NULL when the optimizer does not use it). */         \
void pydl_update_##SFX(const pydl_optimizer *opt, int64_t t, double lr, ptrdiff_t P,         \
                       T *theta, const T *grad, T *v, T *s, int n_threads);                 \
/* Trains epochs [epoch0, epoch0 + n_epochs) with learning rates lr[0..n_epochs).           \
 * cost_out[e] receives the epoch's cost (sum over batches of m_b * J_b, divided by m).     \
 * If step_cost is not NULL, step_cost[k] and step_lr[k] receive J_b and the learning rate  \
 * of the k-th step of the call (n_epochs * ceil(m / batch_size) of them).                  \
 * *epochs_done receives the number of completed epochs; on PYDL_ERR_INTERRUPTED the       \
 * parameters are those after the last completed step, on PYDL_ERR_NONFINITE those before  \
 * the failing step (its update is skipped). perm: int32 workspace of m. Dropout (net->keep) \
 * and augmentation (tr->augment) act here only. sw: sample weights as for cost_grad, each  \
 * batch's J_b weighted by its own weights (a batch whose weights sum to 0 contributes a    \
 * zero gradient and a zero cost), or NULL. */                                               \
int pydl_train_##SFX(const pydl_train *tr, int m, T *theta, T *v, T *s, const T *X,          \
                     const T *Y, const int32_t *labels, const T *sw, int64_t epoch0,         \
                     int n_epochs,                                                           \
                     const double *lr, double *cost_out, double *step_cost, double *step_lr,  \
                     int *epochs_done, int32_t *perm, T *work);                              \
/* Forward and backward propagation with what training alone otherwise does, for one      \
 * full batch of m examples: keep (one keep_prob per layer 1..L, the output's 1; NULL: no   \
 * dropout) with masks[l-1] (m, n[l]) row-major 0/1 of each hidden layer (required with    \
 * keep); the cost of Y or labels (into *cost) or, instead, an external loss's dA = dL/dA[L] \
 * (m, n[L]) so that dZ[L] = dA g'(Z[L]) (cost not written); out (m, n[L]) receives A[L]    \
 * unless NULL; grad receives the gradient of the mean loss (+ the l2/l1 terms) unless NULL. \
 * products: as for cost_grad. */                                                            \
int pydl_propagate_##SFX(const pydl_net *net, const char *products, const double *keep,     \
                         const uint8_t *const *masks, int n_threads, int m, const T *theta,  \
                         const T *X, const T *Y, const int32_t *labels, const T *dA,         \
                         double l2, double l1, double *cost, T *out, T *grad, T *work);      \
/* One layer in the course's equations (layer_impl.h), column-major, single-threaded:       \
 * Z (n, m) := W A_prev + b and, unless A is NULL, A := g(Z) (softmax by columns). W is     \
 * (n, np) row-major (as in theta), b (n), A_prev (np, m). */                                \
int pydl_layer_forward_##SFX(int act, double slope, int n, int np, int m, const T *W,        \
                             const T *b, const T *A_prev, T *Z, T *A);                       \
/* dZ := dA g'(Z) (dZ may be dA for linear), dW (n, np) row-major := (1/m) dZ A_prev^T,     \
 * db (n) := (1/m) sum_j dZ[:, j], and, unless dA_prev is NULL, dA_prev (np, m) := W^T dZ.  \
 * work: n m elements (not used for linear). */                                              \
int pydl_layer_backward_##SFX(int act, double slope, int n, int np, int m, const T *W,       \
                              const T *A_prev, const T *Z, const T *dA, T *dZ, T *dW, T *db, \
                              T *dA_prev, T *work);                                          \
/* dA := dL/dA of the cost an output activation decides, element by element: sigmoid       \
 * -(y/a - (1-y)/(1-a)), softmax (one-hot Y) -y/a, linear a - y. */                          \
void pydl_loss_grad_##SFX(int act, ptrdiff_t count, const T *A, const T *Y, T *dA);          \
/* 1 if all count values of a are finite (no NaN, no inf), else 0; large arrays are         \
 * scanned by up to n_threads threads. */                                                    \
int pydl_all_finite_##SFX(ptrdiff_t count, const T *a, int n_threads);

PYDL_DECLARE(float, f32)
PYDL_DECLARE(double, f64)
#undef PYDL_DECLARE

/* ---- inference ------------------------------------------------------------------------
 * pydl_pack: the network's inference copy of theta (pack, pydl_pack_size values, on a
 * 64-byte line): each layer's W^T in panels of 64 bytes of units and its bias (products.h,
 * PYDL_PANEL_BYTES). Predict reads only the pack, so it must be rebuilt whenever theta
 * changes.
 * pydl_predict: A[L] for m examples, and/or the labels predict gives, from the pack, with
 * nothing written but the outputs: no workspace (hidden activations live on the calling
 * threads' stacks in blocks of examples), no global state, no thread pool but OpenMP's for
 * large calls (one thread below a few million multiply-adds). Row j of X starts at
 * X + j ldx (ldx >= n[0]). out (m, n[L]) C-contiguous, or NULL; labels (NULL, or: (m,)
 * int64 argmax of a softmax output, (m, n[L]) int64 a > 1/2 of a sigmoid one; a linear
 * output has none). work: NULL unless pydl_predict_work_size (for the same n_threads and
 * out given or not) is > 0 (a hidden layer too wide for the stack). Every output is one FMA
 * chain over k (products.h): results are bitwise the same whatever n_threads, whichever
 * rows share the call and whichever inference kernel runs. X is checked finite block by
 * block as it is read: PYDL_ERR_NONFINITE if it holds a NaN or an infinity (out and labels
 * then partly written). */
#define PYDL_DECLARE_PREDICT(T, SFX)                                                          \
ptrdiff_t pydl_pack_size_##SFX(const pydl_net *net);                                         \
void pydl_pack_##SFX(const pydl_net *net, const T *theta, T *pack);                          \
int pydl_predict_##SFX(const pydl_net *net, int n_threads, int m, const T *pack,             \
                       const T *X, ptrdiff_t ldx, T *out, int64_t *labels, T *work);        \
ptrdiff_t pydl_predict_work_size_##SFX(const pydl_net *net, int n_threads, int with_out);
PYDL_DECLARE_PREDICT(float, f32)
PYDL_DECLARE_PREDICT(double, f64)
#undef PYDL_DECLARE_PREDICT
/* The instruction set of the inference kernel: "avx512", "avx2" (AVX2 + FMA) or "generic"
 * (plain C with fma(): the same bits); pydl_init picks the widest this CPU runs. pydl_set_inference_kernel
 * chooses one by name (tests, benchmarks; not while predicting) and returns 0, changing
 * nothing, when this CPU or build lacks it. */
const char *pydl_inference_kernel(void);
int pydl_set_inference_kernel(const char *kernel);

/* ---- utilities ----------------------------------------------------------------------- */
/* The inverted-dropout mask of hidden layer l for batch `batch` of epoch `epoch`:
 * mask (mb, n) row-major (example j, unit i) gets 1 where the unit is kept, else 0. Element
 * e = j * n + i keeps if word e % 4 of Philox(counter (e / 4, epoch, batch,
 * DROPOUT | l), key seed) is below keep * 2^32: the mask training uses, whatever the threads.
 * (epoch and batch enter as 32-bit words: masks repeat after 2^32 epochs.) */
void pydl_dropout_mask(uint64_t seed, int64_t epoch, int64_t batch, int l, int n, int mb,
                       double keep, uint8_t *mask);
/* Philox4x32-10: out = block(counter, key). */
void pydl_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);
/* The seeded permutation of 0..m-1 used for epoch `epoch` (Fisher-Yates on Philox). */
void pydl_permutation(uint64_t seed, int64_t epoch, int m, int32_t *perm);
/* Seconds on a monotonic clock (for the stop hook's time gate; no Python needed). */
double pydl_monotonic_seconds(void);
/* The dropout bits of elements e0 .. e0 + count - 1 of layer l's mask (as above; past
 * 2^34 elements the block number's high 32 bits go into the key). For tests of the 64-bit
 * index arithmetic without a 2^34-element mask. */
void pydl_dropout_bits(uint64_t seed, int64_t epoch, int64_t batch, int l, double keep,
                       uint64_t e0, ptrdiff_t count, uint8_t *mask);
/* Mini-batch k of an epoch of m examples in batches of bs: the count of batches and batch
 * k's first example and size, in 64-bit arithmetic (m + bs may pass 2^31). */
int64_t pydl_batch_count(int m, int bs);
void pydl_batch_span(int m, int bs, int64_t k, int64_t *first, int *mb);
/* 1 if compiled with OpenMP. */
int pydl_openmp_enabled(void);
/* 1 if training, predict and the products run with denormals flushed to zero on this
 * build's CPU family (fpmode.h: x86-64 and AArch64); 0: denormals are kept. */
int pydl_flushes_denormals(void);
/* The instruction set the element loops run with on this CPU: "x86-64-v4" (AVX-512),
 * "x86-64-v3" (AVX2 + FMA), "avx2" (built by GCC < 12) or "baseline" (what the build
 * targets). */
const char *pydl_simd_level(void);
/* What computes every matrix product of a training step, float32 and float64 (products.h):
 * "avx512", "avx2" (pydl's own kernels, for CPUs with AVX-512, or AVX2 and FMA), "generic"
 * (pydl's own, plain C) -- all three give the same bits -- or "blas" (the installed BLAS,
 * summing in its own order). pydl_init picks the fastest one this CPU runs.
 * pydl_set_float_products chooses one by name (for tests and benchmarks; safe while
 * networks compute: each computation reads the choice once, at its start) and returns 0,
 * changing nothing, when this CPU or build lacks it. */
const char *pydl_float_products(void);
int pydl_set_float_products(const char *kernel);
/* The i-th path this CPU and build run, in pydl's order of preference (NULL: no more). */
const char *pydl_runnable_float_products(int i);
/* C (M, N) := alpha A (M, K) B (K, N) through the path a training step uses, with the
 * epilogue (bias, gate, ldg, rectify, slope) of products.h (NULL, NULL, 0, 0, 0: none), for
 * tests and benchmarks of it: column k of A at A + (acols ? acols[k] : k) lda (lda >= M),
 * B's element (k, j) at B[k sbk + (bcols ? bcols[j] : j) sbj] with sbk == 1 and sbj >= K,
 * or sbj == 1 and sbk >= N; C column-major, ldc >= M. PYDL_ERR_ARGUMENT: picked columns
 * on the "blas" path (which never reads them). */
int pydl_product_f32(int M, int N, int K, double alpha, const float *A, int lda,
                     const int32_t *acols, const float *B, int sbk, int sbj,
                     const int32_t *bcols, float *C, int ldc, const float *bias,
                     const float *gate, int ldg, int rectify, double slope);
int pydl_product_f64(int M, int N, int K, double alpha, const double *A, int lda,
                     const int32_t *acols, const double *B, int sbk, int sbj,
                     const int32_t *bcols, double *C, int ldc, const double *bias,
                     const double *gate, int ldg, int rectify, double slope);
/* Threads OpenMP would use by default (1 without OpenMP). */
int pydl_max_threads(void);
/* The threads a step of mb examples actually uses out of n_threads: 1 when the step is
 * too small for a parallel region to pay. */
int pydl_effective_threads(int n_threads, const pydl_net *net, int mb);

#ifdef __cplusplus
}
#endif
#endif /* PYDL_H */
