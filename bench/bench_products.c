/*
 * bench_products.c -- GFLOP/s of each product kernel of products.h (AVX-512, AVX2+FMA,
 * generic C) and of OpenBLAS, one thread, on the products of a training step, called the
 * way the step calls them: one call per block of at most 64 rows of C.
 *
 *   pip install scipy-openblas32 && make -C bench bench_products && ./bench/bench_products
 *   (OPENBLAS_CORETYPE=Haswell ./bench/bench_products: OpenBLAS's AVX2 kernels;
 *   ./bench/bench_products f32 mb=64: one type, the networks whose name holds "mb=64")
 *
 * Roles (C = M x N, K; mb the batch): forward l: M = n[l], N = mb, K = n[l-1], A = W's row
 * block where the step keeps it (lda: n[l] padded as net.c's wn_ld), B = the layer's input
 * column-major, epilogue bias + relu. dW l: M = n[l-1], N = n[l], K = mb, A = the layer's
 * input, B = dZ read row-wise (sbk = n[l], sbj = 1), alpha = 1/mb. dA l: M = n[l-1],
 * N = mb, K = n[l], A = W^T, B = dZ, epilogue relu gated by the layer's input.
 * Layer 1's input is the batch's rows of X, as each path's step reads them: the avx512 and
 * generic kernels where they lie (bcols, acols), the avx2 kernel and the BLAS from the copy
 * the step gathers once (net.c's PATHS), whose cost is in the avx2 and "blas+" forward l1.
 * Columns: the kernels; "blas" = OpenBLAS's ?gemm alone, on operands already contiguous;
 * "blas+" = what the BLAS path costs the step: the gather and the epilogue as a pass over
 * the block just written. Each figure: the best of 5 timings of >= 4 ms (the machine may be
 * shared). First, on AVX2 CPUs, one core's FMA peak (a register-only loop): the ceiling the
 * rates are read against. The last rows: each path's total time for one step's products.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gemm_avx2.h"
#include "gemm_avx512.h"
#include "gemm_generic.h"

/* scipy-openblas32's symbols carry the prefix scipy_ */
void scipy_sgemm_(const char *, const char *, const int *, const int *, const int *,
                  const float *, const float *, const int *, const float *, const int *,
                  const float *, float *, const int *);
void scipy_dgemm_(const char *, const char *, const int *, const int *, const int *,
                  const double *, const double *, const int *, const double *, const int *,
                  const double *, double *, const int *);
void scipy_openblas_set_num_threads(int);
char *scipy_openblas_get_corename(void);

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

enum { ROLE_FORWARD, ROLE_DW, ROLE_DA };
typedef struct {
    const char *net;
    int role, layer, M, N, K; /* M: all rows of C (called in blocks of 64) */
    int gather;               /* layer 1: the batch's columns of X by index */
} shape;

enum { BLOCK = 64, X_ROWS = 60000, PATHS = 5 };
static const char *path_names[PATHS] = {"avx512", "avx2", "generic", "blas", "blas+"};

/* One instance per type T: times[p] := seconds per product of shape s on path p (< 0: the
 * path does not run here). */
#define BENCH_TYPE(SFX, T, GEMM)                                                            \
    static void gemm_##SFX(char ta, char tb, int M, int N, int K, T alpha, const T *A,      \
                           int lda, const T *B, int ldb, T *C, int ldc)                     \
    {                                                                                       \
        const T zero = 0;                                                                   \
        GEMM(&ta, &tb, &M, &N, &K, &alpha, A, &lda, B, &ldb, &zero, C, &ldc);               \
    }                                                                                       \
                                                                                            \
    /* the epilogue as its own pass over an M x N block (the BLAS path's) */                \
    static void epilogue_pass_##SFX(int M, int N, T *C, ptrdiff_t ldc,                      \
                                    const pydl_epilogue *ep)                                \
    {                                                                                       \
        const T *bias = ep->bias, *gate = ep->gate;                                         \
        for (int j = 0; j < N; j++) {                                                       \
            T *c = C + j * ldc;                                                             \
            const T *g = gate ? gate + j * ep->ldg : NULL;                                  \
            if (bias)                                                                       \
                for (int i = 0; i < M; i++)                                                 \
                    c[i] = c[i] + bias[i];                                                  \
            if (g)                                                                          \
                for (int i = 0; i < M; i++)                                                 \
                    c[i] = g[i] > 0 ? c[i] : 0;                                             \
            else                                                                            \
                for (int i = 0; i < M; i++)                                                 \
                    c[i] = c[i] > 0 ? c[i] : 0;                                             \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    /* one product of shape s on path p (0..2: kernels[p]; 3: BLAS; 4: BLAS + passes) */    \
    static void run_##SFX(const shape *s, int p, pydl_kernel_##SFX kernel, const T *X,     \
                          const int32_t *idx, T *in, const T *W, const T *dZ, const T *bias, \
                          T *C)                                                             \
    {                                                                                       \
        const int M = s->M, N = s->N, K = s->K;                                             \
        const int blas = p >= 3, passes = p == 4;                                           \
        const int gathers = p == 1 || passes; /* net.c's PATHS: avx2 and the BLAS gather */ \
        if (s->role == ROLE_FORWARD) { /* in: the layer's input, K x N */                   \
            const T *B = in;                                                                \
            const int32_t *bcols = NULL;                                                    \
            if (s->gather && !blas && !gathers) {                                           \
                B = X, bcols = idx;                                                         \
            } else if (s->gather && gathers) {                                              \
                for (int j = 0; j < N; j++)                                                 \
                    memcpy(in + (ptrdiff_t)j * K, X + (ptrdiff_t)idx[j] * K, K * sizeof(T)); \
            }                                                                               \
            const int ldw = M % 32 == 0 ? M + 16 : M; /* the step's Wn: net.c's wn_ld */ \
            for (int i0 = 0; i0 < M; i0 += BLOCK) {                                         \
                const int rows = M - i0 < BLOCK ? M - i0 : BLOCK;                           \
                const T *Wb = W + i0;                                                       \
                const pydl_epilogue ep = {bias + i0, NULL, 0, PYDL_RECTIFY_RELU, 0.0};      \
                if (!blas) {                                                                \
                    kernel(rows, N, K, 1, Wb, ldw, NULL, B, 1, K, bcols, C + i0, M, &ep);   \
                } else {                                                                    \
                    gemm_##SFX('N', 'N', rows, N, K, 1, Wb, ldw, B, K, C + i0, M);          \
                    if (passes)                                                             \
                        epilogue_pass_##SFX(rows, N, C + i0, M, &ep);                       \
                }                                                                           \
            }                                                                               \
        } else if (s->role == ROLE_DW) { /* A: the input (M x K, lda M), dZ: N x K */       \
            const int in_place = s->gather && !blas && !gathers; /* (else: the copy) */     \
            const T *A = in_place ? X : in;                                                 \
            const int32_t *acols = in_place ? idx : NULL;                                   \
            for (int i0 = 0; i0 < M; i0 += BLOCK) {                                         \
                const int rows = M - i0 < BLOCK ? M - i0 : BLOCK;                           \
                if (!blas)                                                                  \
                    kernel(rows, N, K, (T)1 / K, A + i0, M, acols, dZ, N, 1, NULL, C + i0,  \
                           M, NULL);                                                        \
                else                                                                        \
                    gemm_##SFX('N', 'T', rows, N, K, (T)1 / K, A + i0, M, dZ, N, C + i0, M); \
            }                                                                               \
        } else { /* dA: W^T (M x K, lda M), dZ (K x N), gate: the input (M x N) */          \
            for (int i0 = 0; i0 < M; i0 += BLOCK) {                                         \
                const int rows = M - i0 < BLOCK ? M - i0 : BLOCK;                           \
                const pydl_epilogue ep = {NULL, in + i0, M, PYDL_RECTIFY_RELU, 0.0};        \
                if (!blas) {                                                                \
                    kernel(rows, N, K, 1, W + i0, M, NULL, dZ, 1, K, NULL, C + i0, M, &ep); \
                } else {                                                                    \
                    gemm_##SFX('N', 'N', rows, N, K, 1, W + i0, M, dZ, K, C + i0, M);       \
                    if (passes)                                                             \
                        epilogue_pass_##SFX(rows, N, C + i0, M, &ep);                       \
                }                                                                           \
            }                                                                               \
        }                                                                                   \
    }                                                                                       \
                                                                                            \
    static void bench_##SFX(const shape *s, const pydl_kernel_##SFX *kernels, const T *X,  \
                            const int32_t *idx, T *in, const T *W, const T *dZ,             \
                            const T *bias, T *C, double *times)                             \
    {                                                                                       \
        for (int p = 0; p < PATHS; p++) {                                                   \
            times[p] = -1;                                                                  \
            if (p < 3 && !kernels[p])                                                       \
                continue;                                                                   \
            const pydl_kernel_##SFX kernel = p < 3 ? kernels[p] : NULL;                    \
            int reps = 1;                                                                   \
            for (;;) { /* calibrate: >= 4 ms per timing */                                 \
                const double t0 = now();                                                    \
                for (int r = 0; r < reps; r++)                                              \
                    run_##SFX(s, p, kernel, X, idx, in, W, dZ, bias, C);                    \
                if (now() - t0 >= 4e-3)                                                     \
                    break;                                                                  \
                reps *= 2;                                                                  \
            }                                                                               \
            double best = 1e30;                                                             \
            for (int t = 0; t < 5; t++) {                                                   \
                const double t0 = now();                                                    \
                for (int r = 0; r < reps; r++)                                              \
                    run_##SFX(s, p, kernel, X, idx, in, W, dZ, bias, C);                    \
                const double dt = (now() - t0) / reps;                                      \
                best = dt < best ? dt : best;                                               \
            }                                                                               \
            times[p] = best;                                                                \
        }                                                                                   \
    }

BENCH_TYPE(f32, float, scipy_sgemm_)
BENCH_TYPE(f64, double, scipy_dgemm_)

static void fill(void *x, size_t n, int is_double)
{
    unsigned st = 12345;
    for (size_t i = 0; i < n; i++) {
        st = st * 1664525u + 1013904223u;
        const double v = (double)(st >> 8) / 16777216.0 - 0.5;
        if (is_double)
            ((double *)x)[i] = v;
        else
            ((float *)x)[i] = (float)v;
    }
}

static int add_net(shape *out, const char *net, const int *dims, int L, int mb, int gather)
{
    int n = 0;
    for (int l = 1; l <= L; l++)
        out[n++] = (shape){net, ROLE_FORWARD, l, dims[l], mb, dims[l - 1], gather && l == 1};
    for (int l = L; l >= 1; l--) {
        out[n++] = (shape){net, ROLE_DW, l, dims[l - 1], dims[l], mb, gather && l == 1};
        if (l > 1)
            out[n++] = (shape){net, ROLE_DA, l, dims[l - 1], mb, dims[l], 0};
    }
    return n;
}

#ifdef PYDL_HAVE_GEMM_AVX2
/* One core's float32 FMA peak with AVX2 (GFLOP/s, the best of 5): 12 independent chains of
 * vfmadd in registers, no memory traffic -- the ceiling every kernel's rate is read
 * against (float64: half). */
__attribute__((target("avx2,fma"))) static double fma_peak_avx2(void)
{
    enum { CHAINS = 12, ITERS = 1 << 22 };
    double best = 0;
    for (int r = 0; r < 5; r++) {
        __m256 acc[CHAINS];
        const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
        for (int c = 0; c < CHAINS; c++)
            acc[c] = _mm256_set1_ps((float)c);
        const double t0 = now();
        for (int i = 0; i < ITERS; i++)
            for (int c = 0; c < CHAINS; c++)
                acc[c] = _mm256_fmadd_ps(acc[c], a, b);
        const double dt = now() - t0;
        float sink[8], sum = 0;
        for (int c = 0; c < CHAINS; c++) {
            _mm256_storeu_ps(sink, acc[c]);
            sum += sink[0];
        }
        if (sum == 12345.f) /* never: keeps the chains from being optimized away */
            printf(" ");
        const double rate = 2.0 * 8 * CHAINS * (double)ITERS / dt * 1e-9;
        best = rate > best ? rate : best;
    }
    return best;
}
#endif

int main(int argc, char **argv)
{
    /* optional: the type (f32, f64) and a part of the network's name, to run fewer */
    const char *only_type = argc > 1 ? argv[1] : "", *only_net = argc > 2 ? argv[2] : "";
    static const char *roles[] = {"forward", "dW", "dA"};
    const int big[] = {784, 256, 128, 10}, tiny[] = {20, 64, 64, 1}, planar[] = {2, 4, 1};
    shape shapes[64];
    int n = 0, net_start[5], nets = 0;
    net_start[nets++] = n, n += add_net(shapes + n, "784-256-128-10 mb=64", big, 3, 64, 1);
    net_start[nets++] = n, n += add_net(shapes + n, "784-256-128-10 mb=512", big, 3, 512, 1);
    net_start[nets++] = n, n += add_net(shapes + n, "20-64-64-1 mb=32", tiny, 3, 32, 0);
    net_start[nets++] = n, n += add_net(shapes + n, "2-4-1 mb=400", planar, 2, 400, 0);
    net_start[nets] = n;

    int avx512 = 0, avx2 = 0;
#if defined(PYDL_HAVE_GEMM_AVX512) || defined(PYDL_HAVE_GEMM_AVX2)
    __builtin_cpu_init();
#endif
    pydl_kernel_f32 k32[3] = {NULL, NULL, pydl_gemm_generic_f32};
    pydl_kernel_f64 k64[3] = {NULL, NULL, pydl_gemm_generic_f64};
#ifdef PYDL_HAVE_GEMM_AVX512
    avx512 = __builtin_cpu_supports("avx512f");
    k32[0] = avx512 ? pydl_gemm_avx512_f32 : NULL;
    k64[0] = avx512 ? pydl_gemm_avx512_f64 : NULL;
#endif
#ifdef PYDL_HAVE_GEMM_AVX2
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    k32[1] = avx2 ? pydl_gemm_avx2_f32 : NULL;
    k64[1] = avx2 ? pydl_gemm_avx2_f64 : NULL;
#endif
    scipy_openblas_set_num_threads(1);
    printf("product kernels, 1 thread, GFLOP/s (best of 5); OpenBLAS core: %s; "
           "avx512 %s, avx2 %s here\n",
           scipy_openblas_get_corename(), avx512 ? "runs" : "does not run",
           avx2 ? "runs" : "does not run");
#ifdef PYDL_HAVE_GEMM_AVX2
    if (avx2) {
        const double peak = fma_peak_avx2();
        printf("one core's AVX2 FMA peak (registers only): %.1f GFLOP/s float32, %.1f float64\n",
               peak, peak / 2);
    }
#endif

    /* operands big enough for every shape: X (60000 examples x 784), the rest 784 x 512 */
    const size_t big_n = 784 * 512;
    int32_t *idx = malloc(512 * sizeof *idx);
    unsigned st = 7;
    for (int j = 0; j < 512; j++) {
        st = st * 1664525u + 1013904223u;
        idx[j] = (int32_t)((st >> 8) % X_ROWS);
    }
    double totals[2][5][PATHS] = {{{0}}};
    for (int is_double = 0; is_double < 2; is_double++) {
        if (*only_type && strcmp(only_type, is_double ? "f64" : "f32") != 0)
            continue;
        const size_t sz = is_double ? sizeof(double) : sizeof(float);
        void *X = malloc((size_t)X_ROWS * 784 * sz), *in = malloc(big_n * sz),
             *W = malloc(big_n * sz), *dZ = malloc(big_n * sz), *bias = malloc(784 * sz),
             *C = malloc(big_n * sz);
        fill(X, (size_t)X_ROWS * 784, is_double);
        fill(in, big_n, is_double), fill(W, big_n, is_double), fill(dZ, big_n, is_double);
        fill(bias, 784, is_double);
        printf("\n%s\n%-22s %-8s %2s %4s %4s %4s", is_double ? "float64" : "float32", "network",
               "product", "l", "M", "N", "K");
        for (int p = 0; p < PATHS; p++)
            printf(" %8s", path_names[p]);
        printf("\n");
        for (int net = 0; net < nets; net++)
            for (int i = net_start[net]; i < net_start[net + 1]; i++) {
                if (!strstr(shapes[i].net, only_net))
                    continue;
                const shape *s = &shapes[i];
                double t[PATHS];
                if (is_double)
                    bench_f64(s, k64, X, idx, in, W, dZ, bias, C, t);
                else
                    bench_f32(s, k32, X, idx, in, W, dZ, bias, C, t);
                printf("%-22s %-8s %2d %4d %4d %4d", s->net, roles[s->role], s->layer, s->M,
                       s->N, s->K);
                const double flops = 2.0 * s->M * s->N * s->K;
                for (int p = 0; p < PATHS; p++) {
                    if (t[p] < 0)
                        printf(" %8s", "-");
                    else
                        printf(" %8.2f", flops / t[p] * 1e-9);
                    totals[is_double][net][p] += t[p];
                }
                printf("\n");
            }
        printf("one step's products, us:\n");
        for (int net = 0; net < nets; net++) {
            if (!strstr(shapes[net_start[net]].net, only_net))
                continue;
            printf("%-22s %-8s %2s %4s %4s %4s", shapes[net_start[net]].net, "all", "", "", "",
                   "");
            for (int p = 0; p < PATHS; p++)
                if (p < 3 && !(is_double ? k64[p] != NULL : k32[p] != NULL))
                    printf(" %8s", "-");
                else
                    printf(" %8.2f", totals[is_double][net][p] * 1e6);
            printf("\n");
        }
        free(X), free(in), free(W), free(dZ), free(bias), free(C);
    }
    free(idx);
    return 0;
}
