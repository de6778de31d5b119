/*
 * test_products.c -- every product kernel of products.h this CPU runs, on random shapes and
 * on the training step's, against two references:
 *   - the contract itself, written out here in scalar C (one fmaf/fma chain per element,
 *     alpha, then the epilogue's operations): every kernel must give its bits exactly;
 *   - a product in long double, which the contract's product (no epilogue) must match
 *     within the error bound of a K-term dot product, (K + 2) eps |alpha| (|A| |B|).
 * Shapes: M, N, K in 0..40 at random and the step's; alpha; A's columns and B's columns
 * picked by index (acols, bcols) or not; B read column-major (sbk = 1, sbj >= K) or
 * row-major (sbj = 1, sbk >= N); every epilogue (bias, relu/leaky, from v or a gate).
 * Every operand is its own allocation of exactly its size (AddressSanitizer sees any read
 * or write past it) and C's padding rows must come back untouched. Then the one-example
 * inference kernels (gemm_tile.h one_example) on layers of 1-300 units from their 64-byte
 * panels, bit for bit against the same contract.
 *
 *   make -C bench test          (also under -fsanitize=address,undefined: make -C bench asan)
 * Exit status 0 only when every case passed; the first failure is printed with its case.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_avx2.h"
#include "gemm_avx512.h"
#include "gemm_generic.h"

static unsigned long long rng_state = 88172645463325252ull;
static unsigned long long next_u64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static int rand_int(int lo, int hi) { return lo + (int)(next_u64() % (unsigned)(hi - lo + 1)); }
static double rand_normalish(void) /* in (-2, 2), some exact zeros (relu's ties) */
{
    if (next_u64() % 50 == 0)
        return 0.0;
    return ((double)(next_u64() >> 11) / 9007199254740992.0) * 4.0 - 2.0;
}

typedef struct {
    int M, N, K;
    double alpha;
    int lda_pad, ldc_pad, a_cols, b_cols; /* a_cols/b_cols: columns to pick from, 0: none */
    int b_rows;                           /* B row-major (sbj = 1) */
    int bias, rectify, gate;
    double slope;
    int tight; /* B's columns and the gate's with no gap (sbj = K, ldg = M): with ldc = M,
                  few rows and a short K, the AVX kernels' narrow path (gemm_tile.h) */
} product_case;

static void print_case(const char *what, const char *kernel, const product_case *p)
{
    printf("FAIL %s [%s]: M=%d N=%d K=%d alpha=%g lda_pad=%d ldc_pad=%d acols=%d bcols=%d "
           "b_rows=%d bias=%d rectify=%d gate=%d slope=%g\n",
           what, kernel, p->M, p->N, p->K, p->alpha, p->lda_pad, p->ldc_pad, p->a_cols,
           p->b_cols, p->b_rows, p->bias, p->rectify, p->gate, p->slope);
}

static int failures = 0, cases = 0, kernel_runs = 0;

/* One instance per type: the kernels this CPU runs, the contract, the case's check. */
#define PRODUCT_TESTS(SFX, T, FMA, EPS)                                                     \
    typedef struct {                                                                        \
        const char *name;                                                                   \
        pydl_kernel_##SFX fn;                                                              \
        /* its one-example inference kernel (gemm_tile.h one_example) */                    \
        void (*one)(int n, int K, const T *P, const T *bias, const T *x, T *out,            \
                    int rectify, T slope);                                                  \
        int runs;                                                                           \
    } kernel_##SFX;                                                                         \
                                                                                            \
    static void contract_##SFX(const product_case *p, const T *A, ptrdiff_t lda,            \
                               const int32_t *acols, const T *B, ptrdiff_t sbk,             \
                               ptrdiff_t sbj, const int32_t *bcols, T *C, ptrdiff_t ldc,    \
                               const T *bias, const T *gate, ptrdiff_t ldg, int epilogue)   \
    {                                                                                       \
        for (int j = 0; j < p->N; j++)                                                      \
            for (int i = 0; i < p->M; i++) {                                                \
                T acc = 0;                                                                  \
                for (int k = 0; k < p->K; k++)                                              \
                    acc = FMA(A[(ptrdiff_t)(acols ? acols[k] : k) * lda + i],               \
                              B[k * sbk + (ptrdiff_t)(bcols ? bcols[j] : j) * sbj], acc);   \
                volatile T v = (T)p->alpha * acc; /* rounded: never fused with the bias */  \
                T w = v;                                                                    \
                if (epilogue && bias)                                                       \
                    w = w + bias[i];                                                        \
                if (epilogue && p->rectify) {                                               \
                    const T s = gate ? gate[i + (ptrdiff_t)j * ldg] : w;                    \
                    w = s > 0 ? w : p->rectify == PYDL_RECTIFY_RELU ? (T)0 : (T)p->slope * w; \
                }                                                                           \
                C[i + (ptrdiff_t)j * ldc] = w;                                              \
            }                                                                               \
    }                                                                                       \
                                                                                            \
    static T *alloc_##SFX(ptrdiff_t n) /* exactly n values (at least 1: malloc(0)) */      \
    {                                                                                       \
        T *x = malloc((size_t)(n > 0 ? n : 1) * sizeof(T));                                 \
        for (ptrdiff_t i = 0; i < n; i++)                                                   \
            x[i] = (T)rand_normalish();                                                     \
        return x;                                                                           \
    }                                                                                       \
                                                                                            \
    static void run_case_##SFX(const product_case *p, const kernel_##SFX *kernels, int nk)  \
    {                                                                                       \
        const int M = p->M, N = p->N, K = p->K;                                             \
        const ptrdiff_t lda = M + p->lda_pad, ldc = M + p->ldc_pad, ldg = M + 3 * !p->tight; \
        const int acount = p->a_cols ? p->a_cols : K, bcount = p->b_cols ? p->b_cols : N;   \
        /* B's k and j strides; its allocation ends at its last element */                  \
        const ptrdiff_t sbk = p->b_rows ? bcount + 2 : 1, sbj = p->b_rows ? 1 : K + !p->tight; \
        const ptrdiff_t bsize = K && bcount ? (K - 1) * sbk + (bcount - 1) * sbj + 1 : 0;   \
        const ptrdiff_t asize = acount ? (acount - 1) * lda + M : 0;                        \
        T *A = alloc_##SFX(asize), *B = alloc_##SFX(bsize);                                 \
        int32_t *acols = NULL, *bcols = NULL;                                               \
        if (p->a_cols) {                                                                    \
            acols = malloc((size_t)(K > 0 ? K : 1) * sizeof *acols);                        \
            for (int k = 0; k < K; k++)                                                     \
                acols[k] = rand_int(0, p->a_cols - 1);                                      \
        }                                                                                   \
        if (p->b_cols) {                                                                    \
            bcols = malloc((size_t)(N > 0 ? N : 1) * sizeof *bcols);                        \
            for (int j = 0; j < N; j++)                                                     \
                bcols[j] = rand_int(0, p->b_cols - 1);                                      \
        }                                                                                   \
        T *bias = p->bias ? alloc_##SFX(M) : NULL;                                          \
        T *gate = p->gate ? alloc_##SFX(N ? (N - 1) * ldg + M : 0) : NULL;                  \
        const ptrdiff_t csize = N ? (N - 1) * ldc + M : 0;                                  \
        T *want = alloc_##SFX(csize), *plain = alloc_##SFX(csize), *C = alloc_##SFX(csize); \
        T *init = alloc_##SFX(csize); /* C's first contents: padding must survive */        \
        memcpy(want, init, (size_t)csize * sizeof(T));                                      \
        memcpy(plain, init, (size_t)csize * sizeof(T));                                     \
        contract_##SFX(p, A, lda, acols, B, sbk, sbj, bcols, want, ldc, bias, gate, ldg, 1); \
        contract_##SFX(p, A, lda, acols, B, sbk, sbj, bcols, plain, ldc, NULL, NULL, 0, 0); \
        cases++;                                                                            \
        /* the contract's product against long double, within a K-term dot's error bound */ \
        for (int j = 0; j < N; j++)                                                         \
            for (int i = 0; i < M; i++) {                                                   \
                long double ref = 0, mag = 0;                                               \
                for (int k = 0; k < K; k++) {                                               \
                    const long double a = A[(ptrdiff_t)(acols ? acols[k] : k) * lda + i];   \
                    const long double b =                                                   \
                        B[k * sbk + (ptrdiff_t)(bcols ? bcols[j] : j) * sbj];               \
                    ref += a * b;                                                           \
                    mag += fabsl(a * b);                                                    \
                }                                                                           \
                const long double got = plain[i + (ptrdiff_t)j * ldc];                      \
                const long double bound = (K + 2) * (EPS) * fabsl(p->alpha) * mag;          \
                if (fabsl(got - (long double)p->alpha * ref) > bound + 1e-300L) {           \
                    print_case("product vs long double", #SFX, p);                          \
                    failures++;                                                             \
                    goto done;                                                              \
                }                                                                           \
            }                                                                               \
        for (int e = 0; e < nk; e++) {                                                      \
            if (!kernels[e].runs)                                                           \
                continue;                                                                   \
            for (int with_ep = 0; with_ep < 2; with_ep++) {                                 \
                const pydl_epilogue ep = {bias, gate, ldg, p->rectify, p->slope};           \
                memcpy(C, init, (size_t)csize * sizeof(T));                                 \
                kernels[e].fn(M, N, K, (T)p->alpha, A, lda, acols, B, sbk, sbj, bcols, C,   \
                              ldc, with_ep ? &ep : NULL);                                   \
                kernel_runs++;                                                              \
                const T *expect = with_ep ? want : plain;                                   \
                for (ptrdiff_t x = 0; x < csize; x++) /* padding rows included */           \
                    if (memcmp(&C[x], &expect[x], sizeof(T)) != 0) {                        \
                        printf("  element %td (row %td, column %td): %.9g, expected %.9g\n", \
                               x, x % ldc, x / ldc, (double)C[x], (double)expect[x]);       \
                        print_case(with_ep ? "bits, with epilogue" : "bits, no epilogue",   \
                                   kernels[e].name, p);                                     \
                        failures++;                                                         \
                        goto done;                                                          \
                    }                                                                       \
            }                                                                               \
        }                                                                                   \
    done:                                                                                   \
        free(A); free(B); free(acols); free(bcols); free(bias); free(gate);                 \
        free(want); free(plain); free(C); free(init);                                       \
    }                                                                                       \
                                                                                            \
    /* The one-example inference kernels (gemm_tile.h one_example): n units of K inputs in \
     * 64-byte panels (products.h), the contract's chain for each unit, alpha 1, the bias \
     * and the rectifier: the same bits as a product's column. */                           \
    static void run_one_##SFX(int n, int K, int rectify, double slope,                      \
                              const kernel_##SFX *ks, int nk)                               \
    {                                                                                       \
        enum { PW = PYDL_PANEL_BYTES / (int)sizeof(T) };                                    \
        const int np = (n + PW - 1) / PW;                                                   \
        T *W = alloc_##SFX((ptrdiff_t)n * K), *x = alloc_##SFX(K);                          \
        T *P = alloc_##SFX((ptrdiff_t)np * PW * K), *bias = alloc_##SFX(np * PW);           \
        T *want = alloc_##SFX(n), *out = alloc_##SFX(n);                                    \
        for (int u = 0; u < np * PW; u++) /* the pack: W^T by panels, zeros past n */      \
            for (int k = 0; k < K; k++)                                                     \
                P[((ptrdiff_t)(u / PW) * K + k) * PW + u % PW] =                            \
                    u < n ? W[(ptrdiff_t)u * K + k] : (T)0;                                 \
        for (int u = n; u < np * PW; u++)                                                   \
            bias[u] = 0;                                                                    \
        for (int u = 0; u < n; u++) {                                                       \
            T acc = 0;                                                                      \
            for (int k = 0; k < K; k++)                                                     \
                acc = FMA(W[(ptrdiff_t)u * K + k], x[k], acc);                              \
            T w = acc + bias[u];                                                            \
            if (rectify)                                                                    \
                w = w > 0 ? w : rectify == PYDL_RECTIFY_RELU ? (T)0 : (T)slope * w;         \
            want[u] = w;                                                                    \
        }                                                                                   \
        cases++;                                                                            \
        for (int e = 0; e < nk && !failures; e++) {                                         \
            if (!ks[e].runs)                                                                \
                continue;                                                                   \
            ks[e].one(n, K, P, bias, x, out, rectify, (T)slope);                            \
            kernel_runs++;                                                                  \
            if (memcmp(out, want, (size_t)n * sizeof(T)) != 0) {                            \
                printf("FAIL one example [%s]: n=%d K=%d rectify=%d slope=%g\n", ks[e].name, \
                       n, K, rectify, slope);                                               \
                failures++;                                                                 \
            }                                                                               \
        }                                                                                   \
        free(W); free(x); free(P); free(bias); free(want); free(out);                       \
    }

PRODUCT_TESTS(f32, float, fmaf, 0x1p-24L)
PRODUCT_TESTS(f64, double, fma, 0x1p-53L)

static product_case random_case(int max_dim)
{
    product_case p = {0};
    p.M = rand_int(0, max_dim);
    p.N = rand_int(0, max_dim);
    p.K = rand_int(0, max_dim);
    const int pick = rand_int(0, 3);
    p.alpha = pick == 0 ? 1.0 : pick == 1 ? 1.0 / rand_int(1, 512) : rand_normalish();
    p.lda_pad = rand_int(0, 1) ? 0 : rand_int(1, 9);
    p.ldc_pad = rand_int(0, 1) ? 0 : rand_int(1, 9);
    p.a_cols = rand_int(0, 3) ? 0 : rand_int(1, 100);
    p.b_cols = rand_int(0, 3) ? 0 : rand_int(1, 100);
    p.b_rows = rand_int(0, 1);
    p.bias = rand_int(0, 1);
    p.rectify = rand_int(0, 2);
    p.gate = p.rectify && rand_int(0, 1);
    p.slope = rand_int(0, 1) ? 0.01 : rand_normalish();
    p.tight = rand_int(0, 1);
    return p;
}

int main(int argc, char **argv)
{
    const int random_cases = argc > 1 ? atoi(argv[1]) : 3000;
    int avx512 = 0, avx2 = 0;
#if defined(PYDL_HAVE_GEMM_AVX512) || defined(PYDL_HAVE_GEMM_AVX2)
    __builtin_cpu_init();
#endif
#ifdef PYDL_HAVE_GEMM_AVX512
    avx512 = __builtin_cpu_supports("avx512f");
#endif
#ifdef PYDL_HAVE_GEMM_AVX2
    avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    const kernel_f32 k32[] = {
#ifdef PYDL_HAVE_GEMM_AVX512
        {"avx512_f32", pydl_gemm_avx512_f32, pydl_avx512_f32_one_example, avx512},
#endif
#ifdef PYDL_HAVE_GEMM_AVX2
        {"avx2_f32", pydl_gemm_avx2_f32, pydl_avx2_f32_one_example, avx2},
#endif
        {"generic_f32", pydl_gemm_generic_f32, pydl_generic_f32_one_example, 1}};
    const kernel_f64 k64[] = {
#ifdef PYDL_HAVE_GEMM_AVX512
        {"avx512_f64", pydl_gemm_avx512_f64, pydl_avx512_f64_one_example, avx512},
#endif
#ifdef PYDL_HAVE_GEMM_AVX2
        {"avx2_f64", pydl_gemm_avx2_f64, pydl_avx2_f64_one_example, avx2},
#endif
        {"generic_f64", pydl_gemm_generic_f64, pydl_generic_f64_one_example, 1}};
    const int n32 = (int)(sizeof k32 / sizeof *k32), n64 = (int)(sizeof k64 / sizeof *k64);
    printf("kernels run here:");
    for (int e = 0; e < n32; e++)
        printf(" %s%s", k32[e].name, k32[e].runs ? "" : " (not on this CPU: skipped)");
    for (int e = 0; e < n64; e++)
        printf(" %s%s", k64[e].name, k64[e].runs ? "" : " (not on this CPU: skipped)");
    printf("\n");

    for (int r = 0; r < random_cases && !failures; r++) {
        product_case p = random_case(r % 10 == 0 ? 70 : 40);
        if (r % 4 == 1) { /* the narrow path's shapes: few rows, a short K */
            p.M = rand_int(1, 9);
            p.K = rand_int(1, 17);
        }
        run_case_f32(&p, k32, n32);
        run_case_f64(&p, k64, n64);
    }
    /* K past 2 KC (chunks) with every count of columns a tile can be left with: each
     * narrow width resumes C's chains */
    for (int n = 1; n <= 26 && !failures; n++) {
        product_case p = random_case(40);
        p.M = rand_int(1, 40);
        p.N = n;
        p.K = rand_int(769, 1300);
        run_case_f32(&p, k32, n32);
        run_case_f64(&p, k64, n64);
    }
    /* B row-major (dW's dZ^T), which the AVX kernels pack NR columns at a time, with K past
     * 2 KB (their chunks of such products) and every count of columns a tile can be left
     * with */
    for (int n = 1; n <= 26 && !failures; n++) {
        product_case p = random_case(40);
        p.M = rand_int(1, 80);
        p.N = n;
        p.K = rand_int(257, 700);
        p.b_rows = 1;
        p.b_cols = 0;
        run_case_f32(&p, k32, n32);
        run_case_f64(&p, k64, n64);
    }
    /* B row-major with M past the kernels' blocks of rows (MC, and 2-4 MC where B is
     * packed: up to 1024 rows), K short, between KB and 2 KB, and past 2 KB */
    for (int r = 0; r < 12 && !failures; r++) {
        product_case p = random_case(40);
        p.M = rand_int(129, 1100);
        p.N = rand_int(1, 14);
        p.K = r % 3 == 0 ? rand_int(1, 128) : r % 3 == 1 ? rand_int(129, 256) : rand_int(257, 600);
        p.b_rows = 1;
        p.b_cols = 0;
        run_case_f32(&p, k32, n32);
        run_case_f64(&p, k64, n64);
    }
    /* the training step's shapes (products.h's roles; see bench_products.c), and K past
     * 2 KC, where the AVX kernels split K into chunks */
    const int dims[] = {784, 256, 128, 10}, batches[] = {64, 512};
    for (int b = 0; b < 2 && !failures; b++)
        for (int l = 1; l <= 3 && !failures; l++) {
            const int mb = batches[b], np = dims[l - 1], n = dims[l];
            const int rows = n < 64 ? n : 64;
            const product_case forward = {rows, mb, np, 1.0, 0, 0, 0, l == 1 ? 3000 : 0, 0,
                                          1, PYDL_RECTIFY_RELU, 0, 0.0, 0};
            const product_case dW = {np < 64 ? np : 64, n, mb, 1.0 / mb, np - 64 > 0 ? np - 64 : 0,
                                     0, l == 1 ? 3000 : 0, 0, 1, 0, 0, 0, 0.0, 0};
            const product_case dA = {np < 64 ? np : 64, mb, n, 1.0, np - 64 > 0 ? np - 64 : 0,
                                     0, 0, 0, 0, 0, PYDL_RECTIFY_LEAKY, 1, 0.01, 0};
            const product_case *all[] = {&forward, &dW, &dA};
            for (int c = 0; c < 3 && !failures; c++) {
                run_case_f32(all[c], k32, n32);
                run_case_f64(all[c], k64, n64);
            }
        }
    const product_case odd[] = {
        {4, 400, 2, 1.0, 0, 0, 0, 0, 0, 1, PYDL_RECTIFY_NONE, 0, 0.0, 1}, /* planar 2-4-1 */
        {1, 400, 4, 1.0, 0, 0, 0, 0, 0, 1, PYDL_RECTIFY_NONE, 0, 0.0, 1},
        {4, 400, 2, 1.0, 0, 0, 0, 0, 0, 1, PYDL_RECTIFY_NONE, 0, 0.0, 0},
        {4, 1, 400, 1.0 / 400, 0, 0, 0, 0, 1, 0, 0, 0, 0.0, 0},
        {2, 4, 400, 1.0 / 400, 0, 0, 0, 0, 1, 0, 0, 0, 0.0, 0},
        {4, 400, 1, 1.0, 0, 0, 0, 0, 0, 0, PYDL_RECTIFY_RELU, 1, 0.0, 1},
        {37, 29, 1700, 0.5, 3, 1, 0, 0, 0, 1, PYDL_RECTIFY_RELU, 0, 0.0, 0}, /* K chunks */
        {130, 13, 800, 1.0, 0, 2, 900, 20, 1, 1, PYDL_RECTIFY_LEAKY, 1, -0.3, 0},
    };
    for (size_t c = 0; c < sizeof odd / sizeof *odd && !failures; c++) {
        run_case_f32(&odd[c], k32, n32);
        run_case_f64(&odd[c], k64, n64);
    }
    /* one example through a layer: 1 to 9 panels (groups of panels and their last, partial
     * group), partial last panels, K from 1 to past 2 KC */
    for (int r = 0; r < 300 && !failures; r++) {
        const int n = r < 130 ? r % 130 + 1 : rand_int(1, 300), K = rand_int(1, r % 5 ? 60 : 900);
        const int rectify = r % 3, K1 = r == 0 ? 784 : K;
        run_one_f32(n, K1, rectify, rectify == PYDL_RECTIFY_LEAKY ? 0.01 : 0.0, k32, n32);
        run_one_f64(n, K1, rectify, rectify == PYDL_RECTIFY_LEAKY ? 0.01 : 0.0, k64, n64);
    }
    printf("%s: %d cases, %d kernel runs (each with and without its epilogue)\n",
           failures ? "FAILED" : "all passed", cases, kernel_runs);
    return failures ? 1 : 0;
}
