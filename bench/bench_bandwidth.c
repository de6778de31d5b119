/*
 * bench_bandwidth.c -- how fast one core reads a buffer it has just read, by buffer size:
 * the floor under a single-example predict, which reads every weight once (784-256-128-10
 * float32: 0.94 MB, so ~10 us at ~95 GB/s from L2 on the AMD EPYC of the README).
 *
 *   make -C bench bench_bandwidth && ./bench/bench_bandwidth
 *
 * Each figure: the best of 200 passes over the buffer, summed with 8 independent vector
 * accumulators (256-bit loads where the compiler has AVX2; plain C elsewhere).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

typedef float v8 __attribute__((vector_size(32)));

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2")))
#endif
static float sum(const v8 *p, long n) /* n: vectors, a multiple of 8 */
{
    v8 a[8] = {{0}};
    for (long i = 0; i < n; i += 8)
        for (int q = 0; q < 8; q++)
            a[q] += p[i + q];
    for (int q = 1; q < 8; q++)
        a[0] += a[q];
    return a[0][0] + a[0][7];
}

int main(void)
{
    printf("read bandwidth of one core, by buffer size (best of 200 passes)\n");
    for (long kb = 16; kb <= 16384; kb *= 2) {
        const long n = kb * 1024 / (long)sizeof(v8);
        v8 *p = aligned_alloc(64, (size_t)n * sizeof(v8));
        if (!p)
            return 1;
        for (long i = 0; i < n; i++)
            for (int q = 0; q < 8; q++)
                p[i][q] = 1;
        double best = 1e30;
        volatile float sink = 0;
        for (int r = 0; r < 200; r++) {
            const double t = now();
            sink += sum(p, n);
            const double dt = now() - t;
            best = dt < best ? dt : best;
        }
        printf("%6ld KB  %7.1f GB/s  %9.2f us per pass\n", kb, kb * 1024 / best / 1e9,
               best * 1e6);
        free(p);
    }
    return 0;
}
