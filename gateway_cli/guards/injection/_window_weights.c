/*
 * The injection classifier's window features, found and looked up in one pass.
 *
 * Why this is C: on a 4 KB prompt the pure-Python scorer (features.py with
 * classifier.Model._weigh) spends ~0.1 ms making 700 word objects, 700 pair
 * tuples and hashing each into sets, before a few hundred dictionary lookups;
 * here the same work is a few microseconds. The Python scorer stays as the
 * reference and the fallback: tests/unit/guards/test_guard_injection_compiled.py
 * holds that both give the same weights and the same count on every text.
 *
 * What it computes for one prepared window (UTF-8 bytes, already folded, lowered
 * and stripped of invisible characters, as features.window_features leaves it):
 * the weights of its distinct words, of its distinct pairs of adjacent words, of
 * its distinct 5-byte stems of words of 7 bytes or more and of the markers in its
 * punctuation skeleton, with the number of those distinct features. A word is a
 * run of ASCII letters, digits, `_` and bytes >= 0x80 (features._SPLIT then
 * bytes.split()). Character pairs of long non-ASCII words are left to Python
 * (features.char_bigrams): the distinct such words are returned for it.
 * Weights are returned, not summed: Python sums them with math.fsum, exactly,
 * as the reference does, so a score is the same bit for bit on either path.
 *
 * Memory: every buffer is sized from the input's length, allocated per call
 * and freed on every path. Hashing: a multiply-xorshift hash keyed with 64
 * random bits per process, so a text cannot be built to collide in the
 * per-call tables; even if it did, those tables hold at most one entry per
 * word of the window, so the cost stays bounded by the window's size squared.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "_keyed_hash.h"

#define STEM 5
#define STEM_MIN 7
#define CJK_MIN 9
#define EMPTY32 (-1)

/* Per byte: a word byte (features._SPLIT keeps it), kept in the punctuation skeleton
 * (features._NOT_PUNCT does not delete it), a byte >= 0x80. */
#define WORD 1
#define SKELETON 2
#define HIGH 4
static unsigned char CLASS[256];


static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n)
        c <<= 1;
    return c;
}

/* An open-addressing set of nonzero 64-bit keys; 0 marks an empty slot. */
typedef struct {
    uint64_t *keys;
    size_t mask;
} U64Set;

/* 1 when `key` was added, 0 when it was there already. */
static int u64set_add(U64Set *s, uint64_t key, uint64_t seed)
{
    size_t i = (size_t)finish(key ^ seed) & s->mask;
    for (;;) {
        if (s->keys[i] == 0) {
            s->keys[i] = key;
            return 1;
        }
        if (s->keys[i] == key)
            return 0;
        i = (i + 1) & s->mask;
    }
}

/* A model word where a lookup finds it: one cache line holds the hash, the weight and
 * where its bytes are, so a lookup reads the word's bytes only when the hash matched. */
#define HEAD 6
typedef struct {
    uint64_t hash;
    float uni;       /* its unigram weight (the file's weights are f32), 0 when it has none */
    int32_t gid;     /* its index, for the bigram keys */
    uint32_t off;    /* its bytes in `blob` */
    /* One bit (`pair_bit` of the second word's hash) per bigram this word begins: a pair
     * whose bit is not set is in no bigram, and is not looked up in the bigram table (which
     * the other guards have pushed out of the cache by the time a window is scored). */
    uint32_t pairs;
    int16_t len;     /* -1: an empty slot */
    unsigned char head[HEAD]; /* its first bytes: a word this long is compared here only */
} WordSlot;

static inline uint32_t pair_bit(uint64_t hash)
{
    return 1u << ((hash >> 40) & 31);
}

typedef struct {
    uint64_t key;    /* 0: an empty slot */
    double weight;
} KeyWeight;

/* The model: its words (unigram keys and the words of bigram keys), their unigram
 * weights, and the bigrams and stems as integer-keyed tables. */
typedef struct {
    PyObject_HEAD
    uint64_t seed;
    /* words */
    unsigned char *blob;
    WordSlot *words; /* open addressing, at most half full */
    size_t word_mask;
    /* bigrams: key (gid1 + 1) << 32 | (gid2 + 1) */
    KeyWeight *bigrams;
    size_t bi_mask;
    /* stems: key = the 5 bytes, little-endian, with bit 63 set */
    KeyWeight *stems;
    size_t stem_mask;
    /* markers */
    PyObject *markers;    /* tuple of bytes: every marker the features look for */
    double *marker_weight;
    unsigned char *marker_known;
    int ready; /* set last by a successful __init__: a half-built table weighs nothing */
} Table;

static void table_dealloc(Table *t)
{
    PyMem_Free(t->blob);
    PyMem_Free(t->words);
    PyMem_Free(t->bigrams);
    PyMem_Free(t->stems);
    Py_XDECREF(t->markers);
    PyMem_Free(t->marker_weight);
    PyMem_Free(t->marker_known);
    Py_TYPE(t)->tp_free((PyObject *)t);
}

static const WordSlot *word_find(const Table *t, uint64_t h, const unsigned char *p, Py_ssize_t n)
{
    if (n > INT16_MAX)
        return NULL;
    size_t i = (size_t)h & t->word_mask;
    size_t head = n < HEAD ? (size_t)n : HEAD;
    for (;;) {
        const WordSlot *w = &t->words[i];
        if (w->len < 0)
            return NULL;
        if (w->hash == h && w->len == n && memcmp(w->head, p, head) == 0 &&
            (n <= HEAD || memcmp(t->blob + w->off + HEAD, p + HEAD, (size_t)n - HEAD) == 0))
            return w;
        i = (i + 1) & t->word_mask;
    }
}

/* The weight of `key` in a KeyWeight table, or 0.0. */
static double key_weight(const KeyWeight *table, size_t mask, uint64_t key, uint64_t seed)
{
    size_t j = (size_t)finish(key ^ seed) & mask;
    while (table[j].key != 0) {
        if (table[j].key == key)
            return table[j].weight;
        j = (j + 1) & mask;
    }
    return 0.0;
}

/* Put `key` in a KeyWeight table; -1 when it is there already. */
static int key_put(KeyWeight *table, size_t mask, uint64_t key, double weight, uint64_t seed)
{
    size_t j = (size_t)finish(key ^ seed) & mask;
    while (table[j].key != 0) {
        if (table[j].key == key)
            return -1;
        j = (j + 1) & mask;
    }
    table[j].key = key;
    table[j].weight = weight;
    return 0;
}

static uint64_t stem_key(const unsigned char *p)
{
    uint64_t k = 0;
    for (int i = 0; i < STEM; i++)
        k |= (uint64_t)p[i] << (8 * i);
    return k | (1ULL << 63);
}

static int get_bytes(PyObject *o, const char **p, Py_ssize_t *n)
{
    if (!PyBytes_Check(o)) {
        PyErr_SetString(PyExc_TypeError, "keys must be bytes");
        return -1;
    }
    *p = PyBytes_AS_STRING(o);
    *n = PyBytes_GET_SIZE(o);
    return 0;
}

/* Table(words, unigram_weights, bigrams, stems, markers, marker_weights, seed)
 * words: list of distinct bytes; unigram_weights: list of float (0.0 = none) per word;
 * bigrams: list of (index1, index2, weight); stems: list of (5-byte bytes, weight);
 * markers: tuple of bytes; marker_weights: list of float or None per marker. */
static int init_words(Table *t, PyObject *words, PyObject *uni, Py_ssize_t nw, WordSlot **slot_of);
static int init_pairs(Table *t, PyObject *bigrams, Py_ssize_t nw, WordSlot **slot_of);
static int init_rest(Table *t, PyObject *stems, PyObject *markers, PyObject *mweights);

static int table_init(Table *t, PyObject *args, PyObject *kwds)
{
    PyObject *words, *uni, *bigrams, *stems, *markers, *mweights;
    unsigned long long seed;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_SetString(PyExc_TypeError, "Table takes no keyword arguments");
        return -1;
    }
    if (t->ready || t->blob != NULL) {
        PyErr_SetString(PyExc_TypeError, "Table is initialised once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "O!O!O!O!O!O!K", &PyList_Type, &words, &PyList_Type, &uni,
                          &PyList_Type, &bigrams, &PyList_Type, &stems, &PyTuple_Type, &markers,
                          &PyList_Type, &mweights, &seed))
        return -1;
    Py_ssize_t nw = PyList_GET_SIZE(words);
    if (PyList_GET_SIZE(uni) != nw || PyTuple_GET_SIZE(markers) != PyList_GET_SIZE(mweights)) {
        PyErr_SetString(PyExc_ValueError, "table lengths differ");
        return -1;
    }
    if (nw >= INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "too many words");
        return -1;
    }
    t->seed = (uint64_t)seed;
    Py_ssize_t total = 1;
    for (Py_ssize_t i = 0; i < nw; i++) {
        const char *p;
        Py_ssize_t n;
        if (get_bytes(PyList_GET_ITEM(words, i), &p, &n) < 0)
            return -1;
        total += n;
    }
    if (total >= UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "the words are 4 GiB or more");
        return -1;
    }
    t->blob = PyMem_Malloc((size_t)total);
    size_t wcap = pow2_at_least(2 * (size_t)nw + 1);
    t->words = PyMem_Malloc(wcap * sizeof(WordSlot));
    if (!t->blob || !t->words) {
        PyErr_NoMemory();
        return -1;
    }
    t->word_mask = wcap - 1;
    for (size_t i = 0; i < wcap; i++)
        t->words[i].len = -1;
    /* Each word's slot, for the bigrams' bits below; freed before returning. */
    WordSlot **slot_of = PyMem_Calloc((size_t)nw + 1, sizeof(WordSlot *));
    if (slot_of == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    int ok = init_words(t, words, uni, nw, slot_of) == 0 && init_pairs(t, bigrams, nw, slot_of) == 0;
    PyMem_Free(slot_of);
    if (!ok)
        return -1;
    return init_rest(t, stems, markers, mweights);
}

static int init_words(Table *t, PyObject *words, PyObject *uni, Py_ssize_t nw, WordSlot **slot_of)
{
    Py_ssize_t at = 0;
    for (Py_ssize_t i = 0; i < nw; i++) {
        const char *p;
        Py_ssize_t n;
        (void)get_bytes(PyList_GET_ITEM(words, i), &p, &n);
        double w = PyFloat_AsDouble(PyList_GET_ITEM(uni, i));
        if (w == -1.0 && PyErr_Occurred())
            return -1;
        if (n > INT16_MAX) {
            PyErr_SetString(PyExc_ValueError, "a word is 32 KiB or longer");
            return -1;
        }
        if ((double)(float)w != w) {
            PyErr_SetString(PyExc_ValueError, "a unigram weight is not a 32-bit float");
            return -1;
        }
        memcpy(t->blob + at, p, (size_t)n);
        uint64_t h = hash_bytes(t->seed, (const unsigned char *)p, n);
        if (word_find(t, h, (const unsigned char *)p, n) != NULL) {
            PyErr_SetString(PyExc_ValueError, "a word is listed twice");
            return -1;
        }
        size_t j = (size_t)h & t->word_mask;
        while (t->words[j].len >= 0)
            j = (j + 1) & t->word_mask;
        WordSlot *slot = &t->words[j];
        memset(slot, 0, sizeof(*slot));
        slot->hash = h;
        slot->uni = (float)w;
        slot->gid = (int32_t)i;
        slot->off = (uint32_t)at;
        slot->len = (int16_t)n;
        memcpy(slot->head, p, n < HEAD ? (size_t)n : HEAD);
        slot_of[i] = slot;
        at += n;
    }
    return 0;
}

static int init_pairs(Table *t, PyObject *bigrams, Py_ssize_t nw, WordSlot **slot_of)
{
    Py_ssize_t nb = PyList_GET_SIZE(bigrams);
    size_t bcap = pow2_at_least(2 * (size_t)nb + 1);
    t->bigrams = PyMem_Calloc(bcap, sizeof(KeyWeight));
    if (!t->bigrams) {
        PyErr_NoMemory();
        return -1;
    }
    t->bi_mask = bcap - 1;
    for (Py_ssize_t i = 0; i < nb; i++) {
        Py_ssize_t a, b;
        double w;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(bigrams, i), "nnd", &a, &b, &w))
            return -1;
        if (a < 0 || b < 0 || a >= nw || b >= nw) {
            PyErr_SetString(PyExc_ValueError, "a bigram names a word out of range");
            return -1;
        }
        if (key_put(t->bigrams, t->bi_mask, ((uint64_t)(a + 1) << 32) | (uint64_t)(b + 1), w,
                    t->seed) < 0) {
            PyErr_SetString(PyExc_ValueError, "a bigram is listed twice");
            return -1;
        }
        slot_of[a]->pairs |= pair_bit(slot_of[b]->hash);
    }
    return 0;
}

static int init_rest(Table *t, PyObject *stems, PyObject *markers, PyObject *mweights)
{
    Py_ssize_t ns = PyList_GET_SIZE(stems);
    size_t scap = pow2_at_least(2 * (size_t)ns + 1);
    t->stems = PyMem_Calloc(scap, sizeof(KeyWeight));
    if (!t->stems) {
        PyErr_NoMemory();
        return -1;
    }
    t->stem_mask = scap - 1;
    for (Py_ssize_t i = 0; i < ns; i++) {
        const char *p;
        Py_ssize_t n;
        double w;
        PyObject *k;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(stems, i), "Sd", &k, &w))
            return -1;
        (void)get_bytes(k, &p, &n);
        if (n != STEM) {
            PyErr_SetString(PyExc_ValueError, "a stem is not 5 bytes");
            return -1;
        }
        if (key_put(t->stems, t->stem_mask, stem_key((const unsigned char *)p), w, t->seed) < 0) {
            PyErr_SetString(PyExc_ValueError, "a stem is listed twice");
            return -1;
        }
    }
    Py_ssize_t nm = PyTuple_GET_SIZE(markers);
    t->marker_weight = PyMem_Calloc((size_t)nm + 1, sizeof(double));
    t->marker_known = PyMem_Calloc((size_t)nm + 1, 1);
    if (!t->marker_weight || !t->marker_known) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < nm; i++) {
        const char *p;
        Py_ssize_t n;
        if (get_bytes(PyTuple_GET_ITEM(markers, i), &p, &n) < 0)
            return -1;
        if (n < 1) {
            PyErr_SetString(PyExc_ValueError, "a marker is empty");
            return -1;
        }
        PyObject *w = PyList_GET_ITEM(mweights, i);
        if (w != Py_None) {
            t->marker_weight[i] = PyFloat_AsDouble(w);
            if (t->marker_weight[i] == -1.0 && PyErr_Occurred())
                return -1;
            t->marker_known[i] = 1;
        }
    }
    Py_INCREF(markers);
    t->markers = markers;
    t->ready = 1;
    return 0;
}

static int append_weight(PyObject *out, double w)
{
    if (w == 0.0)
        return 0; /* filter(None, ...): a zero weight adds nothing */
    PyObject *f = PyFloat_FromDouble(w);
    if (f == NULL)
        return -1;
    int r = PyList_Append(out, f);
    Py_DECREF(f);
    return r;
}

static int contains(const unsigned char *hay, Py_ssize_t n, const unsigned char *needle, Py_ssize_t m)
{
    const unsigned char *at = hay, *end = hay + n;
    while (end - at >= m) {
        at = memchr(at, needle[0], (size_t)(end - at - m + 1));
        if (at == NULL)
            return 0;
        if (memcmp(at, needle, (size_t)m) == 0)
            return 1;
        at++;
    }
    return 0;
}

/* weigh(data) -> (weights, count, long non-ASCII words) */
static PyObject *table_weigh(Table *t, PyObject *arg)
{
    if (!PyBytes_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "weigh() takes bytes");
        return NULL;
    }
    if (!t->ready) {
        PyErr_SetString(PyExc_ValueError, "Table is not initialised");
        return NULL;
    }
    const unsigned char *data = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t len = PyBytes_GET_SIZE(arg);
    size_t most = (size_t)len / 2 + 1; /* words: one byte and a separator each, at most */

    /* Sized by the input's length, but only written as far as it has words: not zeroed. */
    Py_ssize_t *start = PyMem_Malloc(most * sizeof(Py_ssize_t));
    int32_t *wlen = PyMem_Malloc(most * sizeof(int32_t));
    unsigned char *skeleton = PyMem_Malloc((size_t)len + 1);
    int32_t *lid = NULL, *gid = NULL, *d_first = NULL, *d_slots = NULL;
    uint32_t *sig = NULL;
    char *block = NULL;
    uint64_t *d_hash = NULL;
    size_t dcap = 0;
    U64Set pairs = {NULL, 0}, stems = {NULL, 0};
    PyObject *weights = NULL, *long_words = NULL, *result = NULL;
    if (!start || !wlen || !skeleton) {
        PyErr_NoMemory();
        goto done;
    }
    if (len >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "a window of 2 GiB or more");
        goto done;
    }

    /* The words, and the punctuation skeleton, in one pass. */
    Py_ssize_t nocc = 0, nskel = 0;
    int non_ascii = 0;
    for (Py_ssize_t i = 0; i < len;) {
        unsigned char c = CLASS[data[i]];
        if (!(c & WORD)) {
            if (c & SKELETON)
                skeleton[nskel++] = data[i];
            i++;
            continue;
        }
        Py_ssize_t s = i;
        for (; i < len && ((c = CLASS[data[i]]) & WORD); i++) {
            if (c & SKELETON) { /* `_` and bytes >= 0x80 stay in the skeleton */
                skeleton[nskel++] = data[i];
                non_ascii |= c & HIGH;
            }
        }
        start[nocc] = s;
        wlen[nocc] = (int32_t)(i - s);
        nocc++;
    }

    /* The per-call tables, sized by the words found. */
    size_t words = (size_t)nocc + 1;
    dcap = pow2_at_least(2 * words + 1);
    /* One block: four arrays of `words` int32, the distinct words' hashes, the distinct-word
     * slots, and the pair and stem sets (only the three tables need zeroing). */
    size_t sets = dcap * sizeof(uint64_t);
    block = PyMem_Malloc(4 * words * sizeof(int32_t) + words * sizeof(uint64_t) +
                         dcap * sizeof(int32_t) + 2 * sets);
    if (block == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    pairs.keys = (uint64_t *)block;
    stems.keys = (uint64_t *)(block + sets);
    d_hash = (uint64_t *)(block + 2 * sets);
    d_slots = (int32_t *)(block + 2 * sets + words * sizeof(uint64_t));
    lid = d_slots + dcap;       /* per occurrence: distinct id */
    gid = lid + words;          /* per distinct: model word or -1 */
    d_first = gid + words;      /* per distinct: an occurrence */
    sig = (uint32_t *)(d_first + words); /* per distinct: its slot's `pairs` bits, or 0 */
    pairs.mask = stems.mask = dcap - 1;
    memset(block, 0, 2 * sets);
    memset(d_slots, 0xff, dcap * sizeof(int32_t)); /* EMPTY32 */
    weights = PyList_New(0);
    long_words = PyList_New(0);
    if (weights == NULL || long_words == NULL)
        goto done;

    /* Distinct words, and each one's weight. */
    Py_ssize_t ndist = 0, nstems = 0;
    for (Py_ssize_t k = 0; k < nocc; k++) {
        const unsigned char *p = data + start[k];
        Py_ssize_t n = wlen[k];
        uint64_t h = hash_bytes(t->seed, p, n);
        size_t s = (size_t)h & (dcap - 1);
        int32_t found = EMPTY32;
        for (;;) {
            int32_t d = d_slots[s];
            if (d == EMPTY32)
                break;
            if (d_hash[d] == h && wlen[d_first[d]] == n && memcmp(data + start[d_first[d]], p, (size_t)n) == 0) {
                found = d;
                break;
            }
            s = (s + 1) & (dcap - 1);
        }
        if (found == EMPTY32) {
            found = (int32_t)ndist;
            d_slots[s] = found;
            d_first[ndist] = (int32_t)k;
            d_hash[ndist] = h;
            const WordSlot *known = word_find(t, h, p, n);
            gid[ndist] = known == NULL ? -1 : known->gid;
            sig[ndist] = known == NULL ? 0 : known->pairs;
            ndist++;
            if (known != NULL && append_weight(weights, (double)known->uni) < 0)
                goto done;
            if (n >= STEM_MIN && u64set_add(&stems, stem_key(p), t->seed)) {
                nstems++;
                if (append_weight(weights, key_weight(t->stems, t->stem_mask, stem_key(p), t->seed)) < 0)
                    goto done;
            }
            if (non_ascii && n >= CJK_MIN) {
                int wide = 0;
                for (Py_ssize_t b = 0; b < n; b++)
                    wide |= p[b] >= 0x80;
                if (wide) {
                    PyObject *w = PyBytes_FromStringAndSize((const char *)p, n);
                    if (w == NULL || PyList_Append(long_words, w) < 0) {
                        Py_XDECREF(w);
                        goto done;
                    }
                    Py_DECREF(w);
                }
            }
        }
        lid[k] = found;
    }

    /* Distinct pairs of adjacent words, and each one's weight. */
    Py_ssize_t npairs = 0;
    for (Py_ssize_t k = 1; k < nocc; k++) {
        uint64_t key = ((uint64_t)(lid[k - 1] + 1) << 32) | (uint64_t)(lid[k] + 1);
        if (!u64set_add(&pairs, key, t->seed))
            continue;
        npairs++;
        int32_t a = gid[lid[k - 1]], b = gid[lid[k]];
        if (a < 0 || b < 0 || !(sig[lid[k - 1]] & pair_bit(d_hash[lid[k]])))
            continue;
        uint64_t mkey = ((uint64_t)(a + 1) << 32) | (uint64_t)(b + 1);
        if (append_weight(weights, key_weight(t->bigrams, t->bi_mask, mkey, t->seed)) < 0)
            goto done;
    }

    /* Markers in the skeleton (only when it has two bytes or more, as features.assemble). */
    Py_ssize_t nmarkers = 0;
    if (nskel > 1) {
        Py_ssize_t nm = PyTuple_GET_SIZE(t->markers);
        for (Py_ssize_t i = 0; i < nm; i++) {
            PyObject *m = PyTuple_GET_ITEM(t->markers, i);
            const char *needle = PyBytes_AS_STRING(m);
            Py_ssize_t mlen = PyBytes_GET_SIZE(m);
            if (!contains(skeleton, nskel, (const unsigned char *)needle, mlen))
                continue;
            nmarkers++;
            if (t->marker_known[i] && append_weight(weights, t->marker_weight[i]) < 0)
                goto done;
        }
    }
    result = Py_BuildValue("(OnO)", weights, ndist + npairs + nstems + nmarkers, long_words);
done:
    PyMem_Free(start);
    PyMem_Free(wlen);
    PyMem_Free(block);
    PyMem_Free(skeleton);
    Py_XDECREF(weights);
    Py_XDECREF(long_words);
    return result;
}

static PyMethodDef table_methods[] = {
    {"weigh", (PyCFunction)table_weigh, METH_O,
     "weigh(data: bytes) -> (weights, count, long non-ASCII words) of one prepared window"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TableType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gateway_cli.guards.injection._window_weights.Table",
    .tp_basicsize = sizeof(Table),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The classifier's tables, ready to weigh windows.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)table_init,
    .tp_dealloc = (destructor)table_dealloc,
    .tp_methods = table_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_window_weights",
    "The injection classifier's window features, found and looked up in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__window_weights(void)
{
    for (int b = 0; b < 256; b++) {
        int alnum = (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z');
        int space = b == ' ' || (b >= 0x09 && b <= 0x0d) || (b >= 0x1c && b <= 0x1f);
        CLASS[b] = (unsigned char)(((b >= 0x80 || alnum || b == '_') ? WORD : 0) |
                                   ((b >= 0x80 || !(alnum || space)) ? SKELETON : 0) |
                                   (b >= 0x80 ? HIGH : 0));
    }
    if (PyType_Ready(&TableType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&TableType);
    if (PyModule_AddObject(m, "Table", (PyObject *)&TableType) < 0) {
        Py_DECREF(&TableType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
