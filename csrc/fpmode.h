/*
 * fpmode.h -- denormal (subnormal) floats flushed to zero while pydl's loops run.
 *
 * An arithmetic operation with a denormal operand or result costs a microcode assist of
 * ~100+ cycles on Intel CPUs (less on AMD). Training makes them as a matter of course: a
 * weight whose gradient is zero for a while (a dead ReLU unit, a constant input feature)
 * has Adam's first moment decay by beta1 each step, through the denormal range (float32:
 * below 1.2e-38) over ~150 steps. A 784-256-128-10 Adam epoch on an Intel Xeon ran 3.8x
 * slower per step for it (bench/bench_step, 1 thread, batch 64: 2644 vs 696 us). XLA,
 * TensorFlow and oneDNN flush denormals in their compiled loops for the same reason.
 *
 *   const pydl_fpmode saved = pydl_fpmode_flush();   (this thread: FTZ + DAZ)
 *   ... pydl's loops ...
 *   pydl_fpmode_restore(saved);                        (the thread's mode as it was)
 *
 * The mode is per thread: every thread of a parallel region sets it for itself and puts
 * the caller's back, so nothing outside pydl's calls ever runs in it. The flush is itself
 * deterministic (the same bits for any thread count and split). Other CPUs and compilers:
 * no-ops (and denormals are kept).
 */
#ifndef PYDL_FPMODE_H
#define PYDL_FPMODE_H

#if defined(__x86_64__) || defined(_M_X64)
#include <xmmintrin.h>
typedef unsigned int pydl_fpmode;
/* MXCSR: FTZ (bit 15) flushes denormal results, DAZ (bit 6) reads denormal inputs as 0 */
#define PYDL_MXCSR_FTZ_DAZ 0x8040u
static inline pydl_fpmode pydl_fpmode_flush(void)
{
    const pydl_fpmode saved = _mm_getcsr();
    _mm_setcsr(saved | PYDL_MXCSR_FTZ_DAZ);
    return saved;
}
static inline void pydl_fpmode_restore(pydl_fpmode saved) { _mm_setcsr(saved); }
#define PYDL_FPMODE_FLUSHES 1

#elif defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__))
#include <stdint.h>
typedef uint64_t pydl_fpmode;
/* FPCR.FZ (bit 24): denormal inputs and results of float32/float64 arithmetic are 0 */
static inline pydl_fpmode pydl_fpmode_flush(void)
{
    pydl_fpmode saved;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(saved));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved | ((uint64_t)1 << 24)) : "memory");
    return saved;
}
static inline void pydl_fpmode_restore(pydl_fpmode saved)
{
    __asm__ __volatile__("msr fpcr, %0" : : "r"(saved) : "memory");
}
#define PYDL_FPMODE_FLUSHES 1

#else
typedef int pydl_fpmode;
static inline pydl_fpmode pydl_fpmode_flush(void) { return 0; }
static inline void pydl_fpmode_restore(pydl_fpmode saved) { (void)saved; }
#define PYDL_FPMODE_FLUSHES 0
#endif

/* stmt run with denormals flushed on this thread, the thread's mode restored after */
#define PYDL_FLUSHED(stmt)                                       \
    do {                                                         \
        const pydl_fpmode pydl_saved_mode_ = pydl_fpmode_flush(); \
        stmt;                                                    \
        pydl_fpmode_restore(pydl_saved_mode_);                   \
    } while (0)

#endif /* PYDL_FPMODE_H */
