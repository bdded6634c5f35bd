/*
 * Which of a fixed set of literals occur in a text, in one pass.
 *
 * Why this is C: the secrets guard decides which of its detectors to run by
 * asking whether a needle (`aws`, `azure`, `://`, `-----BEGIN `, ...) occurs in
 * the text, and on ordinary prose most do not. Each `needle in text` is a pass
 * over the whole text: on 4 KB a dozen of them took ~20 us. Here one pass
 * answers for all of them: a position is looked at further only when its
 * first two characters begin some needle (a 64 Kbit table), which in prose is
 * rare. `Literals.present` gives the same answer as `needle in text` for each
 * needle; guards/literals.py holds the Python fallback and the tests compare
 * the two on every kind of string (one, two and four bytes per character).
 *
 * Needles are str of code points below 256 (checked at construction); a
 * character of the text at or above 256 is in no needle. At most 64 needles:
 * the answer is a 64-bit mask, bit i for needle i.
 *
 * Memory: the tables are built once per Literals; `present` allocates nothing
 * and reads the text only, each position once plus, at a position whose first
 * two characters begin a needle, that needle's length.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define MAX_NEEDLES 64

typedef struct {
    PyObject_HEAD
    int ready;
    int count;
    uint64_t all;                   /* every needle's bit */
    uint64_t always;                /* empty needles: in every text */
    uint64_t single[256];           /* needles of one character, by that character */
    uint8_t pairs[65536 / 8];       /* the first two characters of a longer needle */
    uint64_t by_first[256];         /* longer needles, by their first character */
    unsigned char *chars[MAX_NEEDLES]; /* each needle's characters (all < 256) */
    Py_ssize_t len[MAX_NEEDLES];
} Literals;

static void literals_dealloc(Literals *self)
{
    for (int i = 0; i < MAX_NEEDLES; i++)
        PyMem_Free(self->chars[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int literals_init(Literals *self, PyObject *args, PyObject *kwds)
{
    PyObject *needles;
    if (kwds != NULL && PyDict_GET_SIZE(kwds) > 0) {
        PyErr_SetString(PyExc_TypeError, "Literals takes no keyword arguments");
        return -1;
    }
    if (self->ready || self->count) {
        PyErr_SetString(PyExc_TypeError, "Literals is initialised once");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &needles))
        return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(needles);
    if (n > MAX_NEEDLES) {
        PyErr_SetString(PyExc_ValueError, "at most 64 needles");
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *s = PyTuple_GET_ITEM(needles, i);
        if (!PyUnicode_Check(s)) {
            PyErr_SetString(PyExc_TypeError, "needles must be str");
            return -1;
        }
        if (PyUnicode_READY(s) < 0)
            return -1;
        Py_ssize_t len = PyUnicode_GET_LENGTH(s);
        int kind = PyUnicode_KIND(s);
        const void *data = PyUnicode_DATA(s);
        unsigned char *copy = PyMem_Malloc((size_t)len + 1);
        if (copy == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        self->chars[i] = copy;
        self->count = (int)i + 1;
        for (Py_ssize_t k = 0; k < len; k++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, k);
            if (c >= 256) {
                PyErr_SetString(PyExc_ValueError, "a needle has a character at or above U+0100");
                return -1;
            }
            copy[k] = (unsigned char)c;
        }
        self->len[i] = len;
        uint64_t bit = 1ULL << i;
        self->all |= bit;
        if (len == 0) {
            self->always |= bit;
        } else if (len == 1) {
            self->single[copy[0]] |= bit;
        } else {
            unsigned pair = (unsigned)copy[0] << 8 | copy[1];
            self->pairs[pair >> 3] |= (uint8_t)(1u << (pair & 7));
            self->by_first[copy[0]] |= bit;
        }
    }
    self->ready = 1;
    return 0;
}

/* The scan, for one width of character. */
#define SCAN(TYPE)                                                                        \
    {                                                                                     \
        const TYPE *t = (const TYPE *)data;                                               \
        for (Py_ssize_t i = 0; i < n && found != self->all; i++) {                        \
            Py_UCS4 c0 = t[i];                                                            \
            if (c0 >= 256)                                                                \
                continue;                                                                 \
            found |= self->single[c0];                                                    \
            if (i + 1 >= n || t[i + 1] >= 256)                                            \
                continue;                                                                 \
            unsigned pair = (unsigned)c0 << 8 | (unsigned)t[i + 1];                       \
            if (!(self->pairs[pair >> 3] & (1u << (pair & 7))))                           \
                continue;                                                                 \
            uint64_t todo = self->by_first[c0] & ~found;                                  \
            while (todo) {                                                                \
                int j = 0;                                                                \
                while (!((todo >> j) & 1))                                                \
                    j++;                                                                  \
                todo &= todo - 1;                                                         \
                Py_ssize_t m = self->len[j];                                              \
                if (i + m > n)                                                            \
                    continue;                                                             \
                const unsigned char *want = self->chars[j];                               \
                Py_ssize_t k = 1;                                                         \
                while (k < m && t[i + k] == want[k])                                      \
                    k++;                                                                  \
                if (k == m)                                                               \
                    found |= 1ULL << j;                                                   \
            }                                                                             \
        }                                                                                 \
    }

/* present(text) -> int: bit i set when needle i occurs in `text` */
static PyObject *literals_present(Literals *self, PyObject *text)
{
    if (!self->ready) {
        PyErr_SetString(PyExc_ValueError, "Literals is not initialised");
        return NULL;
    }
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "present() takes str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    uint64_t found = self->always;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        SCAN(Py_UCS1)
        break;
    case PyUnicode_2BYTE_KIND:
        SCAN(Py_UCS2)
        break;
    default:
        SCAN(Py_UCS4)
        break;
    }
    return PyLong_FromUnsignedLongLong(found);
}

static PyMethodDef literals_methods[] = {
    {"present", (PyCFunction)literals_present, METH_O,
     "present(text: str) -> int: bit i set when needle i occurs in text"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LiteralsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "gateway_cli.guards._literals.Literals",
    .tp_basicsize = sizeof(Literals),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Literals(needles: tuple[str, ...]): which of them occur in a text, in one pass.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)literals_init,
    .tp_dealloc = (destructor)literals_dealloc,
    .tp_methods = literals_methods,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_literals",
    "Which of a fixed set of literals occur in a text, found in C.", -1, NULL,
};

PyMODINIT_FUNC PyInit__literals(void)
{
    if (PyType_Ready(&LiteralsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&LiteralsType);
    if (PyModule_AddObject(m, "Literals", (PyObject *)&LiteralsType) < 0) {
        Py_DECREF(&LiteralsType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
