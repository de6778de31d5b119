/*
 * fastmath.h -- float32 exp, tanh and log1p written as branch-free arithmetic, so that the
 * element loops that call them auto-vectorize (a scalar libm call per element otherwise
 * dominates small networks: 1600 tanhf per iteration of the course's planar network).
 * float64 keeps libm: it is pydl's exact-comparison precision.
 *
 * Accuracy (measured against float64 on dense grids; tests/test_fastmath.py checks it
 * through float32 networks with unit weights):
 *   pydl_expf   ~1-2 ulp (Cephes expf: Cody-Waite reduction, degree-6 polynomial)
 *   pydl_tanhf  < 3e-7 absolute (Eigen's rational approximation, clamped at +-7.9053)
 *   pydl_log1pf ~1-2 ulp (Cephes logf on 1 + u, with Goldberg's correction for small u)
 */
#ifndef PYDL_FASTMATH_H
#define PYDL_FASTMATH_H

#include <stdint.h>
#include <string.h>

static inline float pydl_bits_to_float(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t pydl_float_to_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

/* e^x; the argument is clamped to [-87.3, 88.7], so no inf, NaN or denormal comes out. */
static inline float pydl_expf(float x)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds to an integer */
    x = x < -87.33654f ? -87.33654f : x;
    x = x > 88.72283f ? 88.72283f : x;
    const float t = x * 1.44269504088896341f + magic;
    const float n = t - magic;                      /* round(x / ln 2) */
    const int32_t ni = (int32_t)(pydl_float_to_bits(t) - pydl_float_to_bits(magic));
    float r = x - n * 0.693359375f;                 /* Cody-Waite: ln 2 in two parts */
    r = r - n * -2.12194440e-4f;
    const float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    /* 2^n for n in [-126, 128]: split in two factors so that n = 128 does not overflow */
    const int32_t h = ni >> 1;
    return p * pydl_bits_to_float((uint32_t)(h + 127) << 23)
             * pydl_bits_to_float((uint32_t)(ni - h + 127) << 23);
}

/* tanh(x), odd rational approximation on [-7.9053, 7.9053], +-1 beyond. */
static inline float pydl_tanhf(float x)
{
    x = x < -7.90531110763549805f ? -7.90531110763549805f : x;
    x = x > 7.90531110763549805f ? 7.90531110763549805f : x;
    const float x2 = x * x;
    float p = -2.76076847742355e-16f;
    p = p * x2 + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f;
    p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f;
    p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f;
    p = p * x;
    float q = 1.19825839466702e-06f;
    q = q * x2 + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f;
    q = q * x2 + 4.89352518554385e-03f;
    return p / q;
}

/* log(w) for a normal w > 0 (Cephes logf: mantissa in [sqrt(1/2), sqrt(2)), degree-9). */
static inline float pydl_logf_normal(float w)
{
    const uint32_t bits = pydl_float_to_bits(w);
    int32_t e = (int32_t)((bits >> 23) & 0xff) - 126;
    float x = pydl_bits_to_float((bits & 0x807fffffu) | 0x3f000000u); /* in [0.5, 1) */
    const int low = x < 0.707106781186547524f;
    e -= low;
    x = low ? x + x - 1.0f : x - 1.0f;
    const float fe = (float)e;
    const float z = x * x;
    float y = 7.0376836292e-2f;
    y = y * x - 1.1514610310e-1f;
    y = y * x + 1.1676998740e-1f;
    y = y * x - 1.2420140846e-1f;
    y = y * x + 1.4249322787e-1f;
    y = y * x - 1.6668057665e-1f;
    y = y * x + 2.0000714765e-1f;
    y = y * x - 2.4999993993e-1f;
    y = y * x + 3.3333331174e-1f;
    y = y * x * z;
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    return x + y + 0.693359375f * fe;
}

/* log(1 + u) for u >= 0; log(w) * u / (w - 1) corrects the rounding of w = 1 + u. */
static inline float pydl_log1pf(float u)
{
    const float w = 1.0f + u;
    const float d = w - 1.0f;
    const float l = pydl_logf_normal(w);
    return d == 0.0f ? u : l * (u / d);
}

#endif /* PYDL_FASTMATH_H */
