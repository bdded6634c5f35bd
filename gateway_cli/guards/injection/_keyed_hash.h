/*
 * The keyed hash of the injection guard's C helpers (_window_weights.c, _word_set.c).
 *
 * A multiply-xorshift over 8-byte words, keyed with a caller's 64 random bits per
 * process and finished with MurmurHash3's fmix64: fast on the short words a prompt
 * holds, and without the key no text can be built to collide in the tables it
 * indexes (which are bounded by the input's word count either way). Not a MAC.
 */
#ifndef GATEWAY_KEYED_HASH_H
#define GATEWAY_KEYED_HASH_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

static const uint64_t K1 = 0x9E3779B97F4A7C15ULL;

static inline uint64_t finish(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

static inline uint64_t hash_bytes(uint64_t seed, const unsigned char *p, Py_ssize_t n)
{
    uint64_t h = seed ^ ((uint64_t)n * K1);
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        h = (h ^ v) * K1;
        h ^= h >> 29;
        p += 8;
        n -= 8;
    }
    uint64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return finish((h ^ v) * K1);
}

#endif
