/*
 * pydl_omp.h -- the one door through which OpenMP enters the C core.
 *
 * Without OpenMP (a compiler without it, or a build that turned it off) everything here
 * degrades to one thread, and the code that uses it needs no #ifdef of its own.
 * MSVC implements OpenMP 2.0 only: signed loop indices, no simd/collapse/task clauses.
 */
#ifndef PYDL_OMP_H
#define PYDL_OMP_H

#ifdef _OPENMP
#include <omp.h>
#define PYDL_PRAGMA(x) _Pragma(#x)
static inline int pydl_thread_num(void) { return omp_get_thread_num(); }
static inline int pydl_num_threads(void) { return omp_get_num_threads(); }
#else
#define PYDL_PRAGMA(x)
static inline int pydl_thread_num(void) { return 0; }
static inline int pydl_num_threads(void) { return 1; }
#endif

/* `omp simd reduction(...)`: lets the compiler vectorize a floating-point sum (a reordering
 * it may not do on its own). OpenMP 4.0+ only (not MSVC's 2.0). */
#if defined(_OPENMP) && _OPENMP >= 201307
#define PYDL_SIMD_REDUCTION(r) PYDL_PRAGMA(omp simd reduction(r))
#else
#define PYDL_SIMD_REDUCTION(r)
#endif

/* A barrier for code that runs inside a parallel region started by its caller
 * (an orphaned barrier); free when the team has one thread. */
static inline void pydl_barrier(int n_threads)
{
#ifdef _OPENMP
    if (n_threads > 1) {
#pragma omp barrier
    }
#else
    (void)n_threads;
#endif
}

/* [lo, hi): the share of thread tid of n items split into n_threads contiguous blocks. */
static inline void pydl_share(ptrdiff_t n, int tid, int n_threads, ptrdiff_t *lo, ptrdiff_t *hi)
{
    *lo = n * tid / n_threads;
    *hi = n * (tid + 1) / n_threads;
}

#endif /* PYDL_OMP_H */
