/*
 * philox.h -- Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11), the counter-based generator behind shuffling, dropout masks and augmentation: a block
 * is a pure function of (counter, key), so results depend on the seed and on *which*
 * element is drawn, never on the order or the thread that draws it.
 */
#ifndef PYDL_PHILOX_H
#define PYDL_PHILOX_H

#include <stdint.h>

static inline void pydl_philox_round(uint32_t c[4], const uint32_t k[2])
{
    uint64_t p0 = (uint64_t)0xD2511F53u * c[0];
    uint64_t p1 = (uint64_t)0xCD9E8D57u * c[2];
    uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
    uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
    c[0] = hi1 ^ c[1] ^ k[0];
    c[1] = lo1;
    c[2] = hi0 ^ c[3] ^ k[1];
    c[3] = lo0;
}

static inline void pydl_philox_block(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4])
{
    uint32_t c[4] = {ctr[0], ctr[1], ctr[2], ctr[3]};
    uint32_t k[2] = {key[0], key[1]};
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k[0] += 0x9E3779B9u;
            k[1] += 0xBB67AE85u;
        }
        pydl_philox_round(c, k);
    }
    out[0] = c[0]; out[1] = c[1]; out[2] = c[2]; out[3] = c[3];
}

/* Streams: word 3 of the counter names what the numbers are for, so that two uses of
 * the same seed never share numbers. */
enum {
    PYDL_STREAM_SHUFFLE = 0x53480000u,   /* "SH" */
    PYDL_STREAM_DROPOUT = 0x44520000u,   /* "DR" | layer in the low 16 bits */
    PYDL_STREAM_AUGMENT = 0x41550000u    /* "AU" */
};

#endif /* PYDL_PHILOX_H */
