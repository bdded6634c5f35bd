/*
 * A text's distinct words as a frozenset, without a bytes object per occurrence.
 *
 * Why this is C: the injection rules look a text's words up in sets (which
 * detectors it arms, which starts can occur), so every text is mapped through
 * a byte table, split, and put in a frozenset. In Python that is
 * `frozenset(data.translate(table).split())`: on a 4 KB prompt ~700 bytes
 * objects made and hashed for ~200 distinct words, about 20 us. Here the
 * words are found and deduplicated in one pass and only the distinct ones
 * become objects. The Python expression stays as the reference and the
 * fallback (views.word_set); tests/unit/guards/test_guard_injection_compiled.py
 * holds that both give the same set on every text.
 *
 * Semantics, exactly those of the Python expression: each byte is mapped
 * through the 256-byte table, then the result is split at runs of ASCII
 * whitespace as bytes.split() splits (space, \t, \n, \v, \f, \r).
 *
 * Memory: buffers sized from the input's length, allocated per call, freed
 * on every path. The dedupe table is keyed with 64 random bits per process
 * and holds at most one entry per word of the input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_keyed_hash.h"

static uint64_t SEED;

/* 1 for the bytes bytes.split() splits at: space, \t, \n, \v, \f, \r. */
static unsigned char SPACE[256];

static inline int is_space(unsigned char c)
{
    return SPACE[c];
}

typedef struct {
    uint64_t hash;
    Py_ssize_t start; /* -1: an empty slot */
    Py_ssize_t len;
} Slot;

/* The bytes objects of words seen before, by hash (direct-mapped, one per slot): the
 * words of prompts repeat from one request to the next ("the", "you", "instructions"),
 * and a word found here costs neither an allocation nor its Python hash, which the
 * object keeps. Only words of up to CACHED_MAX bytes, so the cache holds at most
 * CACHE_SLOTS small objects (~300 KB) whatever a text holds; a word of another text
 * that lands on a slot replaces the one there. It changes nothing but speed: an entry
 * is used only when its bytes equal the word's. */
#define CACHE_SLOTS 4096
#define CACHED_MAX 32
static PyObject *CACHE[CACHE_SLOTS];

static PyObject *word_object(const unsigned char *p, Py_ssize_t n, uint64_t h)
{
    if (n > CACHED_MAX)
        return PyBytes_FromStringAndSize((const char *)p, n);
    size_t at = (size_t)(h >> 20) & (CACHE_SLOTS - 1);
    PyObject *hit = CACHE[at];
    if (hit != NULL && PyBytes_GET_SIZE(hit) == n && memcmp(PyBytes_AS_STRING(hit), p, (size_t)n) == 0) {
        Py_INCREF(hit);
        return hit;
    }
    PyObject *w = PyBytes_FromStringAndSize((const char *)p, n);
    if (w == NULL)
        return NULL;
    Py_INCREF(w);
    CACHE[at] = w;
    Py_XDECREF(hit);
    return w;
}

/* distinct(data, table) -> frozenset(data.translate(table).split()) */
static PyObject *distinct(PyObject *self, PyObject *args)
{
    Py_buffer data, table;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*", &data, &table))
        return NULL;
    PyObject *out = NULL;
    unsigned char *mapped = NULL;
    Slot *slots = NULL;
    if (table.len != 256) {
        PyErr_SetString(PyExc_ValueError, "the table must be 256 bytes");
        goto done;
    }
    const unsigned char *src = data.buf, *map = table.buf;
    Py_ssize_t len = data.len;
    mapped = PyMem_Malloc((size_t)len + 1);
    if (mapped == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* The map applied, and the words counted (a word starts where a space is followed by
     * a non-space), without a branch per byte. */
    Py_ssize_t words = 0;
    unsigned char was_space = 1;
    for (Py_ssize_t i = 0; i < len; i++) {
        unsigned char c = map[src[i]];
        mapped[i] = c;
        unsigned char space = SPACE[c];
        words += was_space & (space ^ 1);
        was_space = space;
    }
    size_t cap = 16;
    while (cap < 2 * (size_t)words + 1)
        cap <<= 1;
    slots = PyMem_Malloc(cap * sizeof(Slot));
    out = PyFrozenSet_New(NULL);
    if (slots == NULL || out == NULL) {
        if (slots == NULL)
            PyErr_NoMemory();
        Py_CLEAR(out);
        goto done;
    }
    for (size_t i = 0; i < cap; i++)
        slots[i].start = -1;
    for (Py_ssize_t i = 0; i < len;) {
        if (is_space(mapped[i])) {
            i++;
            continue;
        }
        Py_ssize_t s = i;
        while (i < len && !is_space(mapped[i]))
            i++;
        Py_ssize_t n = i - s;
        uint64_t h = hash_bytes(SEED, mapped + s, n);
        size_t j = (size_t)h & (cap - 1);
        int seen = 0;
        while (slots[j].start >= 0) {
            if (slots[j].hash == h && slots[j].len == n &&
                memcmp(mapped + slots[j].start, mapped + s, (size_t)n) == 0) {
                seen = 1;
                break;
            }
            j = (j + 1) & (cap - 1);
        }
        if (seen)
            continue;
        slots[j] = (Slot){h, s, n};
        PyObject *w = word_object(mapped + s, n, h);
        if (w == NULL || PySet_Add(out, w) < 0) {
            Py_XDECREF(w);
            Py_CLEAR(out);
            goto done;
        }
        Py_DECREF(w);
    }
done:
    PyMem_Free(mapped);
    PyMem_Free(slots);
    PyBuffer_Release(&data);
    PyBuffer_Release(&table);
    return out;
}

static PyMethodDef methods[] = {
    {"distinct", distinct, METH_VARARGS,
     "distinct(data, table) -> frozenset(data.translate(table).split()), in one pass"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_word_set",
    "A text's distinct words as a frozenset, found in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__word_set(void)
{
    for (int c = 0; c < 256; c++)
        SPACE[c] = (unsigned char)(c == ' ' || (c >= '\t' && c <= '\r'));
    /* The dedupe table's hash key: 64 random bits per process, from os.urandom. */
    PyObject *os = PyImport_ImportModule("os");
    if (os == NULL)
        return NULL;
    PyObject *bits = PyObject_CallMethod(os, "urandom", "i", 8);
    Py_DECREF(os);
    if (bits == NULL)
        return NULL;
    if (!PyBytes_Check(bits) || PyBytes_GET_SIZE(bits) != 8) {
        Py_DECREF(bits);
        PyErr_SetString(PyExc_RuntimeError, "os.urandom(8) gave no 8 bytes");
        return NULL;
    }
    memcpy(&SEED, PyBytes_AS_STRING(bits), 8);
    Py_DECREF(bits);
    return PyModule_Create(&module);
}
