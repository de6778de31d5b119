/*
 * net.c -- instantiates the network kernels (net_impl.h) for float and double, and holds
 * the untyped pieces: the installed BLAS, sizes, thread choice and the seeded shuffle.
 */
#include <math.h>
#include <string.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <time.h>
#endif

#include "pydl.h"
#include "pydl_omp.h"
#include "fpmode.h"
#include "transpose.h"
#include "philox.h"
#include "fastmath.h"
#include "products.h"
#include "gemm_avx512.h"
#include "gemm_avx2.h"
#include "gemm_generic.h"

/* Below this many multiply-adds in a step's forward pass, one thread beats a parallel
 * region and its barriers (a step has 2L + 2 of them, ~1 us each on 2 cores): the
 * 20-64-64-1 network at batch 32 (173k) trained 1048k samples/s on one thread against 484k
 * on two (`bench/bench_training.py --avx2 --only 20-64-64-1`, AMD EPYC, two runs). */
#define PYDL_PARALLEL_MIN_MACS 1000000

/* Set once at import: the same for every network. */
static pydl_sgemm_fn blas_sgemm = NULL;
static pydl_dgemm_fn blas_dgemm = NULL;

/* The kernel choices below are process-wide settings that another thread may change at any
 * time (pydl_set_float_products, pydl_set_inference_kernel): every computation reads them
 * once, at its start, into its own context -- a change takes effect at the next call, never
 * inside a running one -- and reads and writes are atomic. */
#if defined(__GNUC__) || defined(__clang__)
#define PYDL_LOAD(v) __atomic_load_n(&(v), __ATOMIC_RELAXED)
#define PYDL_STORE(v, x) __atomic_store_n(&(v), (x), __ATOMIC_RELAXED)
#else /* MSVC: aligned pointer-sized reads and writes are atomic on its targets */
#define PYDL_LOAD(v) (v)
#define PYDL_STORE(v, x) ((v) = (x))
#endif

/* The product paths (products.h): pydl's own kernels, each for the instruction set it
 * names, and the BLAS behind the same interface (net_impl.h). One path computes every
 * product of a call, for both types; the path in use is one pointer, swapped atomically. */
static void blas_product_f32(int M, int N, int K, float alpha, const float *A, ptrdiff_t lda,
                             const int32_t *acols, const float *B, ptrdiff_t sbk,
                             ptrdiff_t sbj, const int32_t *bcols, float *C, ptrdiff_t ldc,
                             const pydl_epilogue *ep);
static void blas_product_f64(int M, int N, int K, double alpha, const double *A,
                             ptrdiff_t lda, const int32_t *acols, const double *B,
                             ptrdiff_t sbk, ptrdiff_t sbj, const int32_t *bcols, double *C,
                             ptrdiff_t ldc, const pydl_epilogue *ep);

typedef struct {
    const char *name;
    pydl_kernel_f32 f32;
    pydl_kernel_f64 f64;
    int gathers;        /* the step copies a shuffled batch's examples together first (else
                         * the kernels read them where they lie in X) */
} product_path;

/* in pydl's order of preference: the first one the CPU runs is the default. "generic"
 * comes after the BLAS: on x86-64 without FMA its fma() calls are library calls, and on
 * other CPUs (aarch64) it has not been measured against their BLAS yet. */
static const product_path PATHS[] = {
#ifdef PYDL_HAVE_GEMM_AVX512
    {"avx512", pydl_gemm_avx512_f32, pydl_gemm_avx512_f64, 0},
#endif
#ifdef PYDL_HAVE_GEMM_AVX2
    /* (16-row tiles re-read a picked example's row N/6 times: from a gathered copy, batch
     * 512 trained 80k -> 90-105k samples/s on 784-256-128-10, float32, 2 threads, AMD EPYC
     * held to AVX2 kernels; batch 64 alike within the noise) */
    {"avx2", pydl_gemm_avx2_f32, pydl_gemm_avx2_f64, 1},
#endif
    {"blas", blas_product_f32, blas_product_f64, 1},
    {"generic", pydl_gemm_generic_f32, pydl_gemm_generic_f64, 0},
};
enum { N_PATHS = sizeof PATHS / sizeof PATHS[0] };
static const product_path *products = &PATHS[0];

/* whether this CPU runs the path's kernels */
static int path_runs(const product_path *p)
{
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    __builtin_cpu_init();
    if (strcmp(p->name, "avx512") == 0)
        return __builtin_cpu_supports("avx512f");
    if (strcmp(p->name, "avx2") == 0)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    (void)p;
    return 1;
}

const char *pydl_runnable_float_products(int i)
{
    for (int k = 0; k < N_PATHS; k++)
        if (path_runs(&PATHS[k]) && i-- == 0)
            return PATHS[k].name;
    return NULL;
}

/* the path named `kernel` if this CPU runs it, else NULL */
static const product_path *path_named(const char *kernel)
{
    for (int i = 0; i < N_PATHS; i++)
        if (strcmp(kernel, PATHS[i].name) == 0 && path_runs(&PATHS[i]))
            return &PATHS[i];
    return NULL;
}

int pydl_set_float_products(const char *kernel)
{
    const product_path *p = path_named(kernel);
    if (p)
        PYDL_STORE(products, p);
    return p != NULL;
}

const char *pydl_float_products(void)
{
    return PYDL_LOAD(products)->name;
}

void pydl_init(pydl_sgemm_fn sgemm, pydl_dgemm_fn dgemm)
{
    blas_sgemm = sgemm;
    blas_dgemm = dgemm;
    for (int i = 0; i < N_PATHS; i++)
        if (pydl_set_float_products(PATHS[i].name))
            break;
    if (!pydl_set_inference_kernel("avx512") && !pydl_set_inference_kernel("avx2"))
        pydl_set_inference_kernel("generic");
}

double pydl_monotonic_seconds(void)
{
#ifdef _WIN32
    LARGE_INTEGER now, freq;
    QueryPerformanceCounter(&now);
    QueryPerformanceFrequency(&freq);
    return (double)now.QuadPart / (double)freq.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
#endif
}

int pydl_flushes_denormals(void) { return PYDL_FPMODE_FLUSHES; }

int pydl_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int pydl_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* Offset of W[l] in theta; b[l] follows it at + n[l] * n[l-1]. w_off(net, L + 1) = P. */
static ptrdiff_t w_off(const pydl_net *net, int l)
{
    ptrdiff_t off = 0;
    for (int k = 1; k < l; k++)
        off += (ptrdiff_t)net->dims[k] * ((ptrdiff_t)net->dims[k - 1] + 1);
    return off;
}

/* p, where it falls inside a layer's W, moved back to the first weight of its unit (W[l] is
 * stored as W^T: unit u's n[l-1] weights at w_off + u n[l-1]) */
static ptrdiff_t unit_start(const pydl_net *net, ptrdiff_t p)
{
    for (int l = 1; l <= net->n_layers; l++) {
        const ptrdiff_t w = w_off(net, l), np = net->dims[l - 1];
        if (p >= w && p < w + np * net->dims[l])
            return w + (p - w) / np * np;
    }
    return p;
}

/* Adam's bias corrections 1 / (1 - beta^t) of update number t (>= 1); 1 for the others */
static void bias_corrections(const pydl_optimizer *o, int64_t t, double *c1, double *c2)
{
    *c1 = *c2 = 1;
    if (o->kind == PYDL_OPT_ADAM) {
        *c1 = 1.0 / (1.0 - pow(o->beta1, (double)t));
        *c2 = 1.0 / (1.0 - pow(o->beta2, (double)t));
    }
}

ptrdiff_t pydl_n_params(const pydl_net *net)
{
    return w_off(net, net->n_layers + 1);
}

/* The leading dimension of a layer of n units in the Wn area (W in its own orientation,
 * (n, np)): n, padded by 16 where n is a multiple of 32, so that the forward product's
 * walk down consecutive columns does not land every 4 KB in the same few L1 sets (n = 256
 * floats: a column every 1 KB, 4 of the 64 sets; padded: every set). The 784-256-128-10
 * forward product of layer 1 ran ~3% (float32) and ~9% (float64) faster on an AVX2 Zen 3. */
static int wn_ld(int n)
{
    return n % 32 == 0 ? n + 16 : n;
}

/* The workspace for batches of mb examples, as offsets (in elements) of
 * Xb (n0, mb) | A[1..L] | D[0], D[1] (max n, mb) each | loss (n[L], mb) | grad (P) |
 * Wn (every layer's W in its own orientation, see transpose_weights) | end. */
enum { WS_XB, WS_A, WS_D0, WS_D1, WS_LOSS, WS_GRAD, WS_WN, WS_END };

static void ws_layout(const pydl_net *net, int mb, ptrdiff_t off[WS_END + 1])
{
    ptrdiff_t sum_n = 0;
    ptrdiff_t sum_w = 0;
    int max_n = 0;
    for (int l = 1; l <= net->n_layers; l++) {
        sum_n += net->dims[l];
        max_n = net->dims[l] > max_n ? net->dims[l] : max_n;
        sum_w += (ptrdiff_t)wn_ld(net->dims[l]) * net->dims[l - 1];
    }
    off[WS_XB] = 0;
    off[WS_A] = off[WS_XB] + (ptrdiff_t)net->dims[0] * mb;
    off[WS_D0] = off[WS_A] + sum_n * mb;
    off[WS_D1] = off[WS_D0] + (ptrdiff_t)max_n * mb;
    off[WS_LOSS] = off[WS_D1] + (ptrdiff_t)max_n * mb;
    off[WS_GRAD] = off[WS_LOSS] + (ptrdiff_t)net->dims[net->n_layers] * mb;
    off[WS_WN] = off[WS_GRAD] + pydl_n_params(net);
    off[WS_END] = off[WS_WN] + sum_w;
}

ptrdiff_t pydl_workspace_size(const pydl_net *net, int max_batch)
{
    ptrdiff_t off[WS_END + 1];
    ws_layout(net, max_batch, off);
    return off[WS_END];
}

/* Every product of a step on the BLAS path (and the small ones of pydl's own kernels: see
 * step_grid) is cut into a fixed grid of tiles of its output, which depends on the shapes
 * alone -- never on the number of threads, the processors this process may use (taskset,
 * cgroups, Slurm) or the machine's load -- because the BLAS gives bitwise-different
 * results for the same element computed in differently shaped calls (pydl's own kernels
 * do not: products.h). Rows in blocks of at least TILE_MIN_ROWS, then columns in
 * blocks of at least TILE_MIN_COLS while there are fewer than TILES_MAX tiles: a layer of
 * 100 units at batch 200 gives 6 tiles, not one block that only one thread computes. */
#define TILE_MIN_ROWS 64
#define TILE_MIN_COLS 32
#define TILES_MAX 32

typedef struct {
    int rows, cols;   /* the product's output */
    int nbr, nbc;     /* blocks of rows, of columns */
} tile_grid;

static tile_grid grid_of(int rows, int cols)
{
    tile_grid g = {rows, cols, rows / TILE_MIN_ROWS, 0};
    g.nbr = g.nbr < 1 ? 1 : g.nbr > TILES_MAX ? TILES_MAX : g.nbr;
    g.nbc = cols / TILE_MIN_COLS;
    g.nbc = g.nbc < 1 ? 1 : g.nbc > TILES_MAX / g.nbr ? TILES_MAX / g.nbr : g.nbc;
    /* an odd count of several tiles gives one of two threads a tile more (a 100 x 100 dW in
     * 3 tiles: 2 : 1): one column block more, where the blocks keep half the minimum */
    if (g.nbr * g.nbc > 1 && (g.nbr * g.nbc) % 2 && (g.nbc + 1) * g.nbr <= TILES_MAX &&
        cols / (g.nbc + 1) >= TILE_MIN_COLS / 2)
        g.nbc++;
    return g;
}

static ptrdiff_t grid_tiles(tile_grid g)
{
    return (ptrdiff_t)g.nbr * g.nbc;
}

/* The first row of row block b: an even share, rounded to a multiple of TILE_ROW_ALIGN
 * (the kernels' tiles are 16 or 32 rows: 784 rows in 12 blocks of 64-80, not of 65-66,
 * whose last row would take a tile of its own). */
#define TILE_ROW_ALIGN 32
static int grid_row(tile_grid g, ptrdiff_t b)
{
    if (b >= g.nbr)
        return g.rows;
    const ptrdiff_t even = (ptrdiff_t)g.rows * b / g.nbr;
    return (int)((even + TILE_ROW_ALIGN / 2) / TILE_ROW_ALIGN * TILE_ROW_ALIGN);
}

/* Rows [r0, r1) and columns [c0, c1) of tile t (tiles of one row block are consecutive). */
static void grid_tile(tile_grid g, ptrdiff_t t, int *r0, int *r1, int *c0, int *c1)
{
    const ptrdiff_t br = t / g.nbc, bc = t % g.nbc;
    *r0 = grid_row(g, br);
    *r1 = grid_row(g, br + 1);
    *c0 = (int)((ptrdiff_t)g.cols * bc / g.nbc);
    *c1 = (int)((ptrdiff_t)g.cols * (bc + 1) / g.nbc);
}

/* Thread tid's tiles [lo, hi) of a backward phase: nw tiles of dW, then na of dA, shared
 * by work, not by count. The two products have the same multiply-adds (n[l-1] n[l] mb),
 * so a dW tile weighs na and a dA tile nw (the unit: 1 / (2 nw na) of the phase); with
 * equal counts per thread a 256-unit layer after a 128-unit one at batch 64 gave one of two
 * threads 16 dW tiles' worth of work and the other 4 + 8 dA tiles', 1.7 times as much. */
static ptrdiff_t backward_tile_at(ptrdiff_t nw, ptrdiff_t na, int tid, int n_threads)
{
    if (na == 0)
        return nw * tid / n_threads;
    /* the first tile whose middle lies in thread tid's share of the work, or past it */
    const int64_t goal = 4 * (int64_t)nw * na * tid;
    ptrdiff_t t = 0;
    for (; t < nw + na; t++) {
        const int64_t before = t < nw ? (int64_t)t * na : (int64_t)nw * na + (int64_t)(t - nw) * nw;
        if ((2 * before + (t < nw ? na : nw)) * n_threads >= goal)
            break;
    }
    return t;
}

static void backward_share(ptrdiff_t nw, ptrdiff_t na, int tid, int n_threads, ptrdiff_t *lo,
                           ptrdiff_t *hi)
{
    *lo = backward_tile_at(nw, na, tid, n_threads);
    *hi = backward_tile_at(nw, na, tid + 1, n_threads);
}

int64_t pydl_batch_count(int m, int bs)
{
    return ((int64_t)m + bs - 1) / bs;
}

void pydl_batch_span(int m, int bs, int64_t k, int64_t *first, int *mb)
{
    *first = k * bs;
    *mb = (int)((int64_t)m - *first < bs ? (int64_t)m - *first : bs);
}

/* The threads a step of mb examples uses: one when the step is too small to share, and
 * never more than the most tiles any of its phases has (extra threads would only wait at
 * the barriers). */
int pydl_effective_threads(int n_threads, const pydl_net *net, int mb)
{
    double macs = 0;
    ptrdiff_t most = 1;
    for (int l = 1; l <= net->n_layers; l++) {
        const int n = net->dims[l], np = net->dims[l - 1];
        const ptrdiff_t fwd = grid_tiles(grid_of(n, mb));
        const ptrdiff_t bwd = grid_tiles(grid_of(np, n)) + grid_tiles(grid_of(np, mb));
        macs += (double)n * np;
        most = fwd > most ? fwd : most;
        most = bwd > most ? bwd : most;
    }
    if (n_threads < 2 || macs * mb < PYDL_PARALLEL_MIN_MACS)
        return 1;
    return n_threads > most ? (int)most : n_threads;
}

/* losses per example in the loss buffer: n[L] for sigmoid/linear outputs, 1 for softmax */
static int loss_width(const pydl_net *net)
{
    return net->act[net->n_layers - 1] == PYDL_SOFTMAX ? 1 : net->dims[net->n_layers];
}

/* ---- dropout masks ---------------------------------------------------------------- */

/* What keys a step's random numbers (dropout masks, augmentation): the seed, the epoch and
 * the mini-batch's number within it -- never the thread. */
typedef struct {
    uint32_t key[2];
    uint32_t epoch, batch;   /* counter words 1 and 2 */
} pydl_step_key;

static uint32_t keep_threshold(double keep)
{
    const double t = keep * 4294967296.0;
    return t >= 4294967295.0 ? 0xFFFFFFFFu : (uint32_t)t;
}

/* keep[k] = 1 if element e0 + k of layer l is kept, for k < count. Element e comes from
 * word e % 4 of block e / 4; past 2^34 elements (a layer's n * mb) the block number's high
 * bits go into the key's second word, so the stream never wraps. */
static void dropout_bits(const pydl_step_key *dk, int l, uint32_t threshold, uint64_t e0,
                         ptrdiff_t count, uint8_t *keep)
{
    uint32_t ctr[4] = {0, dk->epoch, dk->batch, PYDL_STREAM_DROPOUT | ((uint32_t)l & 0xFFFFu)};
    uint32_t key[2] = {dk->key[0], dk->key[1]};
    uint32_t block[4];
    ptrdiff_t k = 0;
    while (k < count) {
        const uint64_t e = e0 + (uint64_t)k;
        ctr[0] = (uint32_t)(e / 4);
        key[1] = dk->key[1] ^ ((uint32_t)(e / 4 >> 32) * 0x9E3779B9u);
        pydl_philox_block(ctr, key, block);
        for (unsigned w = (unsigned)(e % 4); w < 4 && k < count; w++, k++)
            keep[k] = block[w] < threshold;
    }
}

void pydl_dropout_mask(uint64_t seed, int64_t epoch, int64_t batch, int l, int n, int mb,
                       double keep, uint8_t *mask)
{
    const pydl_step_key dk = {{(uint32_t)seed, (uint32_t)(seed >> 32)}, (uint32_t)epoch,
                                 (uint32_t)batch};
    if (keep >= 1) {
        memset(mask, 1, (size_t)n * mb);
        return;
    }
    dropout_bits(&dk, l, keep_threshold(keep), 0, (ptrdiff_t)n * mb, mask);
}

void pydl_dropout_bits(uint64_t seed, int64_t epoch, int64_t batch, int l, double keep,
                       uint64_t e0, ptrdiff_t count, uint8_t *mask)
{
    const pydl_step_key dk = {{(uint32_t)seed, (uint32_t)(seed >> 32)}, (uint32_t)epoch,
                                 (uint32_t)batch};
    dropout_bits(&dk, l, keep_threshold(keep), e0, count, mask);
}

/* ---- augmentation ----------------------------------------------------------------- */

typedef struct {
    int flip, dy, dx;
} pydl_aug_choice;

static pydl_aug_choice augment_choice(const pydl_augment *aug, const pydl_step_key *sk,
                                      int j)
{
    const uint32_t ctr[4] = {(uint32_t)j, sk->epoch, sk->batch, PYDL_STREAM_AUGMENT};
    uint32_t r[4];
    const uint32_t span = 2u * (uint32_t)aug->max_shift + 1u;
    pydl_aug_choice ch;
    pydl_philox_block(ctr, sk->key, r);
    ch.flip = aug->flip && (r[0] & 1u);
    ch.dy = (int)(r[1] % span) - aug->max_shift;
    ch.dx = (int)(r[2] % span) - aug->max_shift;
    return ch;
}

void pydl_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    pydl_philox_block(ctr, key, out);
}

/* Fisher-Yates driven by Philox: number i of the epoch's stream comes from block i / 4,
 * word i % 4; j uniform in [0, i] by Lemire's multiply-and-reject. */
void pydl_permutation(uint64_t seed, int64_t epoch, int m, int32_t *perm)
{
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    uint32_t ctr[4] = {0, (uint32_t)epoch, (uint32_t)((uint64_t)epoch >> 32), PYDL_STREAM_SHUFFLE};
    uint32_t block[4];
    uint64_t drawn = 0;
    for (int i = 0; i < m; i++)
        perm[i] = i;
    for (int i = m - 1; i > 0; i--) {
        const uint32_t range = (uint32_t)i + 1;
        const uint32_t threshold = (uint32_t)(-range) % range;
        uint64_t prod;
        do {
            if (drawn % 4 == 0) {
                ctr[0] = (uint32_t)(drawn / 4);
                pydl_philox_block(ctr, key, block);
            }
            prod = (uint64_t)block[drawn % 4] * range;
            drawn++;
        } while ((uint32_t)prod < threshold);
        const int j = (int)(prod >> 32);
        const int32_t tmp = perm[i];
        perm[i] = perm[j];
        perm[j] = tmp;
    }
}

/* Short columns (n < SHORT_COLUMN units) are walked in runs of whole columns at least
 * SHORT_COLUMN values long, so that loops over them vectorize: the column width alone
 * decides, never the thread count. */
#define SHORT_COLUMN 64

static int short_run_columns(int n)
{
    return (SHORT_COLUMN + n - 1) / n;
}

/* Inference (net_impl.h): blocks of at most INFER_MAX_ROWS examples, whose hidden
 * activations fit in two buffers of INFER_BLOCK_BYTES on the calling thread's stack (on
 * lines of INFER_ALIGN bytes): 784-256-128-10 goes 72 float32 or 36 float64 rows at a time
 * (each block streams all of W from L3 where it does not fit L2; blocks of 24 rows ran
 * 1024-row calls 2-4% slower, AVX2 Zen 3, bench_predict); 144 KB of stack in all. One
 * thread below INFER_PARALLEL_MIN_MACS multiply-adds a call (a parallel region costs
 * microseconds, and more while another process keeps a core busy). */
#define INFER_MAX_ROWS 72
#define INFER_BLOCK_BYTES 73728
#define INFER_ALIGN 64
#define INFER_PARALLEL_MIN_MACS 4e6

/* Element loops are compiled three times, for x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA)
 * and the baseline the wheel targets, and the loader picks one for the CPU (GNU ifunc: Linux
 * with GCC only; one version elsewhere). Clones are chosen per machine, never per thread
 * count. (One string per clone: "avx2,fma" would make two clones, neither with both.)
 * GCC keeps 256-bit vectors in the v4 clone; preferring 512 measured 9% slower here. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define PYDL_HAVE_CLONES 1
#if __GNUC__ >= 12 /* the first to dispatch on (and test for) the x86-64-vN levels */
#define PYDL_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define PYDL_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#else
#define PYDL_CLONES
#endif

const char *pydl_simd_level(void)
{
#ifdef PYDL_HAVE_CLONES
    __builtin_cpu_init();
#if __GNUC__ >= 12
    if (__builtin_cpu_supports("x86-64-v4"))
        return "x86-64-v4";
    if (__builtin_cpu_supports("x86-64-v3"))
        return "x86-64-v3";
#else
    if (__builtin_cpu_supports("avx2"))
        return "avx2";
#endif
#endif
    return "baseline";
}

/* Data-parallel training: the examples of the global batch [gfirst, gfirst + gmb) of the
 * epoch order that this process holds, as local indices (written over the batch's part of
 * perm) with their positions in the batch (perm + m_global + gfirst); returns how many. */
static int dp_local_batch(const pydl_data_parallel *dp, int m, int32_t *perm, int64_t gfirst,
                          int gmb, int *with_reg)
{
    int32_t *seg = perm + gfirst, *pos = perm + dp->m_global + gfirst;
    int mb = 0;
    *with_reg = seg[0] >= dp->first && seg[0] < dp->first + m;
    for (int j = 0; j < gmb; j++) { /* mb <= j: each entry is read before it is written */
        const int64_t g = seg[j] - dp->first;
        if (g >= 0 && g < m) {
            seg[mb] = (int32_t)g;
            pos[mb++] = j;
        }
    }
    return mb;
}

/* ---- inference: the product kernels over the layers' panels (products.h) ----
 * An inference kernel: the product kernel (products.h) that takes a block's rows through
 * each panel, and the one-example kernel (gemm_tile.h's one_example) for single rows, per
 * type; rows: its tile's columns (blocks of rows are cut to a multiple of them). Every one
 * computes each output as the same FMA chain, so all give the same bits. The one in use is
 * the widest this CPU runs, chosen at pydl_init and read once per call by the predict
 * path, which writes no global state. */
typedef void (*one_f32_fn)(int n, int K, const float *P, const float *bias, const float *x,
                           float *out, int rectify, float slope);
typedef void (*one_f64_fn)(int n, int K, const double *P, const double *bias,
                           const double *x, double *out, int rectify, double slope);
typedef struct {
    const char *name;
    pydl_kernel_f32 gemm_f32;
    pydl_kernel_f64 gemm_f64;
    one_f32_fn one_f32;
    one_f64_fn one_f64;
    int rows;
} infer_kernel;

static const infer_kernel infer_generic = {"generic", pydl_gemm_generic_f32,
                                           pydl_gemm_generic_f64, pydl_generic_f32_one_example,
                                           pydl_generic_f64_one_example, GEN_NR};
#ifdef PYDL_HAVE_GEMM_AVX2
static const infer_kernel infer_avx2 = {"avx2", pydl_gemm_avx2_f32, pydl_gemm_avx2_f64,
                                        pydl_avx2_f32_one_example, pydl_avx2_f64_one_example,
                                        6};
static const infer_kernel infer_avx512 = {"avx512", pydl_gemm_avx512_f32, pydl_gemm_avx512_f64,
                                          pydl_avx512_f32_one_example,
                                          pydl_avx512_f64_one_example, 12};
#endif
static const infer_kernel *infer_now = &infer_generic;

int pydl_set_inference_kernel(const char *kernel)
{
    if (strcmp(kernel, "generic") == 0) {
        PYDL_STORE(infer_now, &infer_generic);
        return 1;
    }
#ifdef PYDL_HAVE_GEMM_AVX2
    __builtin_cpu_init();
    if (strcmp(kernel, "avx2") == 0 && __builtin_cpu_supports("avx2")
        && __builtin_cpu_supports("fma")) {
        PYDL_STORE(infer_now, &infer_avx2);
        return 1;
    }
    if (strcmp(kernel, "avx512") == 0 && __builtin_cpu_supports("avx512f")) {
        PYDL_STORE(infer_now, &infer_avx512);
        return 1;
    }
#endif
    return 0;
}

const char *pydl_inference_kernel(void)
{
    return PYDL_LOAD(infer_now)->name;
}

/* ---- float: the fast element functions of fastmath.h ---- */
#define T float
#define SFX f32
#define PRODUCT_T pydl_kernel_f32
#define PATH_KERNEL(p) ((p)->f32)
#define INFER_GEMM(k) ((k)->gemm_f32)
#define INFER_ONE(k) ((k)->one_f32)
#define GEMM blas_sgemm
#define GEMM_READY (blas_sgemm != NULL)
#define EXP pydl_expf
#define LOG1P pydl_log1pf
#define TANH pydl_tanhf
#define SQRT sqrtf
#define LOG logf
#include "net_impl.h"
#include "layer_impl.h"
#undef T
#undef SFX
#undef PRODUCT_T
#undef PATH_KERNEL
#undef INFER_GEMM
#undef INFER_ONE
#undef GEMM
#undef GEMM_READY
#undef EXP
#undef LOG1P
#undef TANH
#undef SQRT
#undef LOG

/* ---- double: libm, pydl's exact precision ---- */
#define T double
#define SFX f64
#define PRODUCT_T pydl_kernel_f64
#define PATH_KERNEL(p) ((p)->f64)
#define INFER_GEMM(k) ((k)->gemm_f64)
#define INFER_ONE(k) ((k)->one_f64)
#define GEMM blas_dgemm
#define GEMM_READY (blas_dgemm != NULL)
#define EXP exp
#define LOG1P log1p
#define TANH tanh
#define SQRT sqrt
#define LOG log
#include "net_impl.h"
#include "layer_impl.h"
