# Declarations of the C core (csrc/pydl.h) for the Cython door, and nothing else.
from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t

cdef extern from "pydl.h" nogil:
    enum:
        PYDL_OK
        PYDL_ERR_NO_BLAS
        PYDL_ERR_NONFINITE
        PYDL_ERR_INTERRUPTED
        PYDL_ERR_ARGUMENT
        PYDL_LINEAR
        PYDL_SOFTMAX
        PYDL_EXP

    ctypedef void (*pydl_sgemm_fn)(char *, char *, int *, int *, int *, float *, float *,
                                   int *, float *, int *, float *, float *, int *) noexcept nogil
    ctypedef void (*pydl_dgemm_fn)(char *, char *, int *, int *, int *, double *, double *,
                                   int *, double *, int *, double *, double *, int *) noexcept nogil
    void pydl_init(pydl_sgemm_fn sgemm, pydl_dgemm_fn dgemm)

    ctypedef struct pydl_net:
        int n_layers
        const int *dims
        const int *act
        double leaky_slope
        const double *keep

    Py_ssize_t pydl_n_params(const pydl_net *net)
    Py_ssize_t pydl_workspace_size(const pydl_net *net, int max_batch)

    ctypedef struct pydl_optimizer:
        int kind
        double beta1
        double beta2
        double epsilon
        int64_t t

    ctypedef int (*pydl_stop_hook)(void *ctx) noexcept nogil

    ctypedef struct pydl_augment:
        int height
        int width
        int channels
        int flip
        int max_shift

    void pydl_augment_batch_f32(const pydl_augment *aug, uint64_t seed, int64_t epoch,
                                int64_t batch, int mb, const float *inp, float *out)
    void pydl_augment_batch_f64(const pydl_augment *aug, uint64_t seed, int64_t epoch,
                                int64_t batch, int mb, const double *inp, double *out)

    ctypedef int (*pydl_reduce_hook)(void *ctx, void *grad, Py_ssize_t count,
                                     double *loss) noexcept nogil
    ctypedef struct pydl_data_parallel:
        pydl_reduce_hook reduce
        void *ctx
        int64_t m_global
        int64_t first

    ctypedef struct pydl_train:
        const pydl_net *net
        int n_threads
        int batch_size
        int shuffle
        uint64_t seed
        double l2
        double l1
        pydl_optimizer *opt
        double lr_step_k
        pydl_augment augment
        pydl_stop_hook stop
        void *stop_ctx
        int64_t check_every
        int *bad_layer
        const pydl_data_parallel *dp
        const char *products

    int pydl_forward_f32(const pydl_net *net, int n_threads, int m, const float *theta,
                         const float *X, float *out, float *work)
    int pydl_forward_f64(const pydl_net *net, int n_threads, int m, const double *theta,
                         const double *X, double *out, double *work)
    int pydl_cost_grad_f32(const pydl_net *net, const char *products, int n_threads, int m,
                           const float *theta,
                           const float *X, const float *Y, const int32_t *labels,
                           const float *sw, double l2, double l1, double *cost, float *grad,
                           float *work)
    int pydl_cost_grad_f64(const pydl_net *net, const char *products, int n_threads, int m,
                           const double *theta,
                           const double *X, const double *Y, const int32_t *labels,
                           const double *sw, double l2, double l1, double *cost, double *grad,
                           double *work)
    void pydl_update_f32(const pydl_optimizer *opt, int64_t t, double lr, Py_ssize_t P,
                         float *theta, const float *grad, float *v, float *s, int n_threads)
    void pydl_update_f64(const pydl_optimizer *opt, int64_t t, double lr, Py_ssize_t P,
                         double *theta, const double *grad, double *v, double *s, int n_threads)
    int pydl_train_f32(const pydl_train *tr, int m, float *theta, float *v, float *s,
                       const float *X, const float *Y, const int32_t *labels, const float *sw,
                       int64_t epoch0,
                       int n_epochs, const double *lr, double *cost_out, double *step_cost,
                       double *step_lr, int *epochs_done, int32_t *perm, float *work)
    int pydl_train_f64(const pydl_train *tr, int m, double *theta, double *v, double *s,
                       const double *X, const double *Y, const int32_t *labels, const double *sw,
                       int64_t epoch0,
                       int n_epochs, const double *lr, double *cost_out, double *step_cost,
                       double *step_lr, int *epochs_done, int32_t *perm, double *work)
    const char *pydl_simd_level()
    const char *pydl_float_products()
    int pydl_set_float_products(const char *kernel)
    const char *pydl_runnable_float_products(int i)
    int pydl_product_f32(int M, int N, int K, double alpha, const float *A, int lda,
                         const int32_t *acols, const float *B, int sbk, int sbj,
                         const int32_t *bcols, float *C, int ldc, const float *bias,
                         const float *gate, int ldg, int rectify, double slope)
    int pydl_product_f64(int M, int N, int K, double alpha, const double *A, int lda,
                         const int32_t *acols, const double *B, int sbk, int sbj,
                         const int32_t *bcols, double *C, int ldc, const double *bias,
                         const double *gate, int ldg, int rectify, double slope)
    int pydl_all_finite_f32(Py_ssize_t count, const float *a, int n_threads)
    int pydl_all_finite_f64(Py_ssize_t count, const double *a, int n_threads)

    void pydl_dropout_mask(uint64_t seed, int64_t epoch, int64_t batch, int l, int n, int mb,
                           double keep, uint8_t *mask)
    void pydl_philox4x32(const uint32_t *ctr, const uint32_t *key, uint32_t *out)
    void pydl_permutation(uint64_t seed, int64_t epoch, int m, int32_t *perm)
    void pydl_dropout_bits(uint64_t seed, int64_t epoch, int64_t batch, int l, double keep,
                           uint64_t e0, ptrdiff_t count, uint8_t *mask)
    int64_t pydl_batch_count(int m, int bs)
    void pydl_batch_span(int m, int bs, int64_t k, int64_t *first, int *mb)
    int pydl_openmp_enabled()
    int pydl_flushes_denormals()
    int pydl_max_threads()
    int pydl_effective_threads(int n_threads, const pydl_net *net, int mb)

    Py_ssize_t pydl_pack_size_f32(const pydl_net *net)
    Py_ssize_t pydl_pack_size_f64(const pydl_net *net)
    void pydl_pack_f32(const pydl_net *net, const float *theta, float *pack)
    void pydl_pack_f64(const pydl_net *net, const double *theta, double *pack)
    int pydl_predict_f32(const pydl_net *net, int n_threads, int m, const float *pack,
                         const float *X, Py_ssize_t ldx, float *out, int64_t *labels,
                         float *work)
    int pydl_predict_f64(const pydl_net *net, int n_threads, int m, const double *pack,
                         const double *X, Py_ssize_t ldx, double *out, int64_t *labels,
                         double *work)
    Py_ssize_t pydl_predict_work_size_f32(const pydl_net *net, int n_threads, int with_out)
    Py_ssize_t pydl_predict_work_size_f64(const pydl_net *net, int n_threads, int with_out)
    const char *pydl_inference_kernel()
    int pydl_set_inference_kernel(const char *kernel)
    double pydl_monotonic_seconds()
    # building blocks and external gradients (pydl.blocks, Network.backward, given masks)
    int pydl_propagate_f32(const pydl_net *net, const char *products, const double *keep,
                           const uint8_t *const *masks,
                           int n_threads, int m, const float *theta, const float *X,
                           const float *Y, const int32_t *labels, const float *dA, double l2,
                           double l1, double *cost, float *out, float *grad, float *work)
    int pydl_propagate_f64(const pydl_net *net, const char *products, const double *keep,
                           const uint8_t *const *masks,
                           int n_threads, int m, const double *theta, const double *X,
                           const double *Y, const int32_t *labels, const double *dA, double l2,
                           double l1, double *cost, double *out, double *grad, double *work)
    int pydl_layer_forward_f32(int act, double slope, int n, int np, int m, const float *W,
                               const float *b, const float *A_prev, float *Z, float *A)
    int pydl_layer_forward_f64(int act, double slope, int n, int np, int m, const double *W,
                               const double *b, const double *A_prev, double *Z, double *A)
    int pydl_layer_backward_f32(int act, double slope, int n, int np, int m, const float *W,
                                const float *A_prev, const float *Z, const float *dA,
                                float *dZ, float *dW, float *db, float *dA_prev, float *work)
    int pydl_layer_backward_f64(int act, double slope, int n, int np, int m, const double *W,
                                const double *A_prev, const double *Z, const double *dA,
                                double *dZ, double *dW, double *db, double *dA_prev,
                                double *work)
    void pydl_loss_grad_f32(int act, Py_ssize_t count, const float *A, const float *Y,
                            float *dA)
    void pydl_loss_grad_f64(int act, Py_ssize_t count, const double *A, const double *Y,
                            double *dA)
