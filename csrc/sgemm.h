/* sgemm.h -- transitional: net.c's former name for gemm_avx512.h's float kernel, until the
 * product door (net.c) includes the gemm_*.h headers itself; then this file goes. */
#ifndef PYDL_SGEMM_H
#define PYDL_SGEMM_H
#include "gemm_avx512.h"
#ifdef PYDL_HAVE_GEMM_AVX512
#define PYDL_HAVE_OWN_SGEMM 1
#define pydl_sgemm_avx512 pydl_gemm_avx512_f32
#endif
#endif
