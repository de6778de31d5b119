/* sgemm.h -- transitional: net.c's former name for gemm_avx512.h's float kernel, until the
 * product door (net.c) includes the gemm_*.h headers itself; then this file goes.
 * products.h's typedefs pydl_product_f32/_f64 clash with pydl.h's functions of those names
 * (the door renames one of them): here they take other names. */
#ifndef PYDL_SGEMM_H
#define PYDL_SGEMM_H
#define pydl_product_f32 pydl_product_kernel_f32
#define pydl_product_f64 pydl_product_kernel_f64
#include "gemm_avx512.h"
#undef pydl_product_f32
#undef pydl_product_f64
#ifdef PYDL_HAVE_GEMM_AVX512
#define PYDL_HAVE_OWN_SGEMM 1
#define pydl_sgemm_avx512 pydl_gemm_avx512_f32
#endif
#endif
