/*
 * bench_step.c -- the C core alone, no Python: one mini-batch step of pydl_train_f32 on a
 * 784-256-128-10 ReLU/softmax network with Adam, on every product path this CPU runs
 * (products.h: avx512, avx2, blas, generic), against the same step's matrix products issued
 * as plain sgemm calls (what a hand-written C trainer would spend on GEMM alone); then
 * Adam's update of the same parameters alone, float32 and float64 (a floor under any step).
 *
 *   pip install scipy-openblas32 && make -C bench step && ./bench/bench_step [threads]
 *
 * Links the OpenBLAS of PyPI's scipy-openblas32 (its symbols carry the prefix scipy_).
 * pydl runs its own OpenMP threads and computes its products sequentially in each (one
 * thread pool; the BLAS held at one thread for it); the plain sgemm calls get the same
 * number of threads from OpenBLAS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "pydl.h"

void scipy_sgemm_(char *, char *, int *, int *, int *, float *, float *, int *, float *, int *,
                  float *, float *, int *);
void scipy_openblas_set_num_threads(int); /* OpenBLAS's own control of its thread pool */
#define sgemm_ scipy_sgemm_
#define openblas_set_num_threads scipy_openblas_set_num_threads

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static float frand(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 16777216.0f;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : pydl_max_threads();
    const int dims[] = {784, 256, 128, 10}, act[] = {PYDL_RELU, PYDL_RELU, PYDL_SOFTMAX};
    const int L = 3, m = 8192, batches[] = {32, 64, 128, 512};
    pydl_net net = {L, dims, act, 0.01, NULL};
    pydl_init(sgemm_, NULL);
    const ptrdiff_t P = pydl_n_params(&net);
    float *theta = malloc(P * sizeof *theta), *v = calloc(P, sizeof *v), *s = calloc(P, sizeof *s);
    float *X = malloc((size_t)m * dims[0] * sizeof *X);
    int32_t *labels = malloc(m * sizeof *labels), *perm = malloc(m * sizeof *perm);
    unsigned st = 1;
    for (ptrdiff_t i = 0; i < P; i++)
        theta[i] = (frand(&st) - 0.5f) * 0.1f;
    for (ptrdiff_t i = 0; i < (ptrdiff_t)m * dims[0]; i++)
        X[i] = frand(&st);
    for (int i = 0; i < m; i++)
        labels[i] = (int32_t)(frand(&st) * 10) % 10;

    printf("pydl C core, %d thread(s), OpenMP %s; one epoch of %d examples, Adam, float32;\n"
           "us per step on each product path this CPU runs (x: over the step's products as "
           "bare sgemm calls)\n", threads, pydl_openmp_enabled() ? "on" : "off", m);
    const char *paths[8];
    int n_paths = 0;
    while (n_paths < 8 && (paths[n_paths] = pydl_runnable_float_products(n_paths)))
        n_paths++;
    printf("%6s %14s", "batch", "sgemm-only us");
    for (int p = 0; p < n_paths; p++)
        printf(" %18s", paths[p]);
    printf("\n");
    for (int b = 0; b < 4; b++) {
        const int bs = batches[b];
        /* the step's products as plain sgemm calls: forward, dW, dA (no layer-1 dA) */
        /* zeros, not malloc's leftovers: a denormal among them costs an assist per use */
        float *A = calloc((size_t)256 * bs, sizeof *A), *B = calloc((size_t)256 * bs, sizeof *B);
        float *C = calloc((size_t)784 * 256, sizeof *C), one = 1, zero = 0;
        const int reps = 20;
        openblas_set_num_threads(threads);
        double t0 = now();
        for (int r = 0; r < reps; r++)
            for (int l = 1; l <= L; l++) {
                int n = dims[l], np = dims[l - 1], mb = bs;
                float *W = theta; /* contents do not matter for timing */
                sgemm_("T", "N", &n, &mb, &np, &one, W, &np, X, &np, &zero, A, &n);
                sgemm_("N", "T", &np, &n, &mb, &one, X, &np, B, &n, &zero, C, &np);
                if (l > 1)
                    sgemm_("N", "N", &np, &mb, &n, &one, W, &np, B, &n, &zero, A, &np);
            }
        const double gemm = (now() - t0) / reps * 1e6;
        printf("%6d %14.1f", bs, gemm);
        float *work = malloc(pydl_workspace_size(&net, bs) * sizeof *work);
        for (int p = 0; p < n_paths; p++) {
            pydl_set_float_products(paths[p]);
            pydl_optimizer opt = {PYDL_OPT_ADAM, 0.9, 0.999, 1e-8, 0};
            int bad = 0, done = 0;
            pydl_train tr = {&net, threads, bs, 1, 42, 0.0, 0.0, &opt, 0.0,
                             {0, 0, 0, 0, 0}, NULL, NULL, 1 << 30, &bad};
            double lr = 0.001, cost;
            openblas_set_num_threads(1); /* pydl's one-pool rule: its threads call the BLAS */
            pydl_train_f32(&tr, m, theta, v, s, X, NULL, labels, NULL, 0, 1, &lr, &cost, NULL,
                           NULL, &done, perm, work); /* warm-up */
            t0 = now();
            pydl_train_f32(&tr, m, theta, v, s, X, NULL, labels, NULL, 1, 1, &lr, &cost, NULL,
                           NULL, &done, perm, work);
            const double step = (now() - t0) / ((m + bs - 1) / bs) * 1e6;
            printf(" %10.1f (%4.2fx)", step, step / gemm);
        }
        printf("\n");
        free(work); free(A); free(B); free(C);
    }
    /* the update alone: a floor under every step at any batch size (it reads theta, the
     * gradient and both moments and writes three of them, after every gradient is known
     * finite, so it overlaps no product) */
    double *theta64 = calloc(P, sizeof *theta64), *g64 = calloc(P, sizeof *g64),
           *v64 = calloc(P, sizeof *v64), *s64 = calloc(P, sizeof *s64);
    float *g = calloc(P, sizeof *g);
    double best32 = 1e30, best64 = 1e30;
    for (int r = 0; r < 7; r++) {
        pydl_optimizer opt = {PYDL_OPT_ADAM, 0.9, 0.999, 1e-8, 0};
        const int reps = 50;
        double t0 = now();
        for (int i = 0; i < reps; i++)
            pydl_update_f32(&opt, i + 1, 1e-3, P, theta, g, v, s, threads);
        const double t32 = (now() - t0) / reps * 1e6;
        t0 = now();
        for (int i = 0; i < reps; i++)
            pydl_update_f64(&opt, i + 1, 1e-3, P, theta64, g64, v64, s64, threads);
        const double t64 = (now() - t0) / reps * 1e6;
        best32 = t32 < best32 ? t32 : best32;
        best64 = t64 < best64 ? t64 : best64;
    }
    printf("Adam's update alone (pydl_update_*, %td parameters, %d thread(s)): float32 %.1f us, "
           "float64 %.1f us\n", P, threads, best32, best64);
    return 0;
}
