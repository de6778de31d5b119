/*
 * bench_predict.c -- the inference path of the C core (pydl_predict_f32/_f64, what
 * Network.predict_proba calls), without Python, on 784-256-128-10 (relu, softmax), one
 * thread, on every inference kernel this CPU runs:
 *   - a single example: us per call, and the weights' bytes over that time (a one-thread
 *     single-example call reads every weight once: bench_bandwidth gives the floor);
 *   - batches of 1024 rows: thousand samples/s and GFLOP/s (2 flops per multiply-add);
 *   - two threads predicting single examples at once, against one (the C core's own
 *     scaling, without Python's GIL), and the round trip of a condition variable between
 *     two threads (two wake-ups of a sleeping thread: what a thread waiting for the GIL
 *     pays when another hands it over).
 * The pack (pydl_pack: each layer's W^T in 64-byte panels, what predict reads) starts on a
 * 64-byte line, as pydl allocates it; X 16 bytes past one, as numpy gives it.
 *
 *   make -C bench bench_predict && ./bench/bench_predict
 *
 * Each figure: the best of 7 timings of >= 20 ms (the machine may be shared).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pydl.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

/* seconds per call of pydl_predict on m rows (T's instance), the best of 7 */
#define TIMED(T, SFX)                                                                     \
    static double timed_##SFX(const pydl_net *net, int m, const T *pack, const T *X,      \
                              T *out)                                                       \
    {                                                                                       \
        double best = 1e30;                                                                 \
        int calls = 1;                                                                      \
        for (int r = 0; r < 8; r++) {                                                       \
            const double t = now();                                                         \
            for (int c = 0; c < calls; c++)                                                 \
                pydl_predict_##SFX(net, 1, m, pack, X, net->dims[0], out, NULL, NULL);      \
            const double dt = (now() - t) / calls;                                          \
            if (r > 0 && dt < best)                                                         \
                best = dt;                                                                  \
            while (calls * dt < 0.02)                                                       \
                calls *= 2;                                                                 \
        }                                                                                   \
        return best;                                                                        \
    }
TIMED(float, f32)
TIMED(double, f64)

/* ---- threads: single examples from two threads, and a sleeping thread's wake-up ---- */

#define LOOP_CALLS 20000
typedef struct {
    const pydl_net *net;
    const float *pack, *x;
} loop_args;

static void *predict_loop(void *p)
{
    const loop_args *a = p;
    float out[16];
    for (int i = 0; i < LOOP_CALLS; i++)
        pydl_predict_f32(a->net, 1, 1, a->pack, a->x, a->net->dims[0], out, NULL, NULL);
    return NULL;
}

/* seconds for k threads (1 or 2) to make LOOP_CALLS single-example calls each */
static double threads_timed(int k, const loop_args *a)
{
    pthread_t t[2];
    const double t0 = now();
    for (int i = 0; i < k; i++)
        if (pthread_create(&t[i], NULL, predict_loop, (void *)a) != 0)
            exit(1);
    for (int i = 0; i < k; i++)
        pthread_join(t[i], NULL);
    return now() - t0;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;

static void *ping(void *unused)
{
    (void)unused;
    for (int i = 0; i < LOOP_CALLS; i++) {
        pthread_mutex_lock(&mu);
        while (turn != 1)
            pthread_cond_wait(&cv, &mu);
        turn = 0;
        pthread_cond_signal(&cv);
        pthread_mutex_unlock(&mu);
    }
    return NULL;
}

/* microseconds per round trip: each side sleeps until the other wakes it */
static double round_trip_us(void)
{
    pthread_t t;
    turn = 0;
    if (pthread_create(&t, NULL, ping, NULL) != 0)
        exit(1);
    const double t0 = now();
    for (int i = 0; i < LOOP_CALLS; i++) {
        pthread_mutex_lock(&mu);
        turn = 1;
        pthread_cond_signal(&cv);
        while (turn != 0)
            pthread_cond_wait(&cv, &mu);
        pthread_mutex_unlock(&mu);
    }
    pthread_join(t, NULL);
    return (now() - t0) / LOOP_CALLS * 1e6;
}

int main(void)
{
    const int dims[] = {784, 256, 128, 10}, act[] = {PYDL_RELU, PYDL_RELU, PYDL_SOFTMAX};
    const int m = 1024;
    pydl_net net = {3, dims, act, 0.01, NULL};
    pydl_init(NULL, NULL);
    const ptrdiff_t P = pydl_n_params(&net);
    double macs = 0;
    for (int l = 1; l <= 3; l++)
        macs += (double)dims[l] * dims[l - 1];
    /* the pack on a line, X 16 bytes past one (C11's aligned_alloc wants whole lines) */
#define LINES(bytes) (((size_t)(bytes) + 64 + 63) / 64 * 64)
    float *theta32 = malloc(P * sizeof(float));
    double *theta64 = malloc(P * sizeof(double));
    float *t32 = aligned_alloc(64, LINES(pydl_pack_size_f32(&net) * sizeof(float)));
    double *t64 = aligned_alloc(64, LINES(pydl_pack_size_f64(&net) * sizeof(double)));
    char *x32 = aligned_alloc(64, LINES((size_t)m * dims[0] * sizeof(float)));
    char *x64 = aligned_alloc(64, LINES((size_t)m * dims[0] * sizeof(double)));
    float *o32 = malloc((size_t)m * 10 * sizeof(float));
    double *o64 = malloc((size_t)m * 10 * sizeof(double));
    if (!theta32 || !theta64 || !t32 || !t64 || !x32 || !x64 || !o32 || !o64)
        return 1;
    float *X32 = (float *)(x32 + 16);
    double *X64 = (double *)(x64 + 16);
    unsigned st = 1;
    for (ptrdiff_t i = 0; i < P; i++) {
        st = st * 1664525u + 1013904223u;
        theta64[i] = theta32[i] = ((float)(st >> 8) / 16777216.0f - 0.5f) * 0.1f;
    }
    pydl_pack_f32(&net, theta32, t32);
    pydl_pack_f64(&net, theta64, t64);
    for (ptrdiff_t i = 0; i < (ptrdiff_t)m * dims[0]; i++) {
        st = st * 1664525u + 1013904223u;
        X64[i] = X32[i] = (float)(st >> 8) / 16777216.0f;
    }
    static const char *kernels[] = {"avx512", "avx2", "generic"};
    printf("pydl C core: predict on 784-256-128-10, one thread, the pack on 64-byte lines\n"
           "%-8s %-8s %14s %12s %18s %10s\n", "kernel", "type", "1 example, us",
           "weights GB/s", "1024 rows, k/s", "GFLOP/s");
    for (int k = 0; k < 3; k++) {
        if (!pydl_set_inference_kernel(kernels[k]))
            continue;
        for (int f64 = 0; f64 < 2; f64++) {
            const double one = f64 ? timed_f64(&net, 1, t64, X64, o64)
                                   : timed_f32(&net, 1, t32, X32, o32);
            const double many = f64 ? timed_f64(&net, m, t64, X64, o64)
                                    : timed_f32(&net, m, t32, X32, o32);
            const double bytes = (double)P * (f64 ? sizeof(double) : sizeof(float));
            printf("%-8s %-8s %14.2f %12.1f %18.1f %10.1f\n", kernels[k],
                   f64 ? "float64" : "float32", one * 1e6, bytes / one / 1e9,
                   m / many / 1e3, 2 * macs * m / many / 1e9);
        }
    }
    /* the widest kernel again, for the threads' figures */
    if (!pydl_set_inference_kernel("avx512") && !pydl_set_inference_kernel("avx2"))
        pydl_set_inference_kernel("generic");
    const loop_args args = {&net, t32, X32};
    double one = 1e30, two = 1e30, trip = 1e30;
    for (int r = 0; r < 3; r++) {
        const double a = threads_timed(1, &args), b = threads_timed(2, &args);
        const double c = round_trip_us();
        one = a < one ? a : one;
        two = b < two ? b : two;
        trip = c < trip ? c : trip;
    }
    printf("two threads predicting single float32 examples at once: %.2fx the throughput of "
           "one (%s kernel, no Python)\n", 2 * one / two, pydl_inference_kernel());
    printf("a condition variable's round trip between two threads (two wake-ups): %.1f us\n",
           trip);
    return 0;
}
