/*
 * Runs of characters the guards look inside, found in one pass.
 *
 * `digits(text)`: the runs of digits and separators of the PII guard. Every
 * card, SSN, IPv4 address and phone number lies inside a run of 7 or more
 * digits and separators (pii/runs.py). Finding them was one regex pass, and `re`
 * pays a charset test and an attempt at every digit: on a 4 KB support ticket
 * with 400 digits (logs, dates, versions) ~20 us, most of the PII guard's time.
 * The spans are exactly those of runs.RUN without its marks: a match begins at
 * `+`, `(` or an ASCII digit followed by 6 or more of `0-9 ().-`, and takes all
 * of them (possessive); the next search starts at its end. runs.py adds the
 * marks and keeps RUN.finditer as the fallback (compared in
 * tests/unit/guards/test_guard_pii_runs.py).
 *
 * `words(text, some, keep)`: the secrets guard's long words. Whether the text
 * has a word (a run of non-whitespace, whitespace as str.split() has it) of
 * `some` characters or more, and the spans of those of `keep` or more. In
 * Python that was a `find` of a run of marks, which re-reads the text wherever
 * words are long (secrets/engine.py keeps it as the fallback; compared in
 * tests/unit/guards/test_guard_secrets.py).
 *
 * Memory: each reads the text once (`digits` reads a position after a start
 * character that is not a span's at most 6 more times) and returns a list of
 * ints.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MIN_AFTER 6

static inline int is_start(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || c == '+' || c == '(';
}

static inline int is_part(Py_UCS4 c)
{
    return (c >= '0' && c <= '9') || c == ' ' || c == '(' || c == ')' || c == '.' || c == '-';
}

#define SCAN(TYPE)                                                      \
    {                                                                   \
        const TYPE *t = (const TYPE *)data;                             \
        Py_ssize_t i = 0;                                               \
        while (i < n) {                                                 \
            if (!is_start(t[i])) {                                      \
                i++;                                                    \
                continue;                                               \
            }                                                           \
            Py_ssize_t j = i + 1;                                       \
            while (j < n && is_part(t[j]))                              \
                j++;                                                    \
            if (j - i - 1 < MIN_AFTER) {                                \
                i++;                                                    \
                continue;                                               \
            }                                                           \
            if (add(out, i, j) < 0) {                                   \
                Py_DECREF(out);                                         \
                return NULL;                                            \
            }                                                           \
            i = j;                                                      \
        }                                                               \
    }

static int add(PyObject *out, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *a = PyLong_FromSsize_t(start), *b = PyLong_FromSsize_t(end);
    int r = (a == NULL || b == NULL || PyList_Append(out, a) < 0 || PyList_Append(out, b) < 0)
                ? -1 : 0;
    Py_XDECREF(a);
    Py_XDECREF(b);
    return r;
}

/* spans(text) -> [start0, end0, start1, end1, ...] */
static PyObject *spans(PyObject *self, PyObject *text)
{
    (void)self;
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "digits() takes str");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
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
    return out;
}

#define WORDS(TYPE)                                                     \
    {                                                                   \
        const TYPE *t = (const TYPE *)data;                             \
        Py_ssize_t i = 0;                                               \
        while (i < n) {                                                 \
            if (Py_UNICODE_ISSPACE(t[i])) {                             \
                i++;                                                    \
                continue;                                               \
            }                                                           \
            Py_ssize_t j = i + 1;                                       \
            while (j < n && !Py_UNICODE_ISSPACE(t[j]))                  \
                j++;                                                    \
            if (j - i >= some)                                          \
                has = 1;                                                \
            if (j - i >= keep && add(spans, i, j) < 0) {                \
                Py_DECREF(spans);                                       \
                return NULL;                                            \
            }                                                           \
            i = j;                                                      \
        }                                                               \
    }

/* words(text, some, keep) -> (has a word of `some`+ characters, [start, end, ...] of those
 * of `keep`+) */
static PyObject *words(PyObject *self, PyObject *args)
{
    PyObject *text;
    Py_ssize_t some, keep;
    (void)self;
    if (!PyArg_ParseTuple(args, "Unn", &text, &some, &keep))
        return NULL;
    if (some < 1 || keep < 1) {
        PyErr_SetString(PyExc_ValueError, "word lengths start at 1");
        return NULL;
    }
    if (PyUnicode_READY(text) < 0)
        return NULL;
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    const void *data = PyUnicode_DATA(text);
    PyObject *spans = PyList_New(0);
    if (spans == NULL)
        return NULL;
    int has = 0;
    switch (PyUnicode_KIND(text)) {
    case PyUnicode_1BYTE_KIND:
        WORDS(Py_UCS1)
        break;
    case PyUnicode_2BYTE_KIND:
        WORDS(Py_UCS2)
        break;
    default:
        WORDS(Py_UCS4)
        break;
    }
    PyObject *out = Py_BuildValue("(OO)", has ? Py_True : Py_False, spans);
    Py_DECREF(spans);
    return out;
}

static PyMethodDef methods[] = {
    {"digits", spans, METH_O,
     "digits(text) -> [start, end, ...] of pii.runs.RUN's matches (without their marks)"},
    {"words", words, METH_VARARGS,
     "words(text, some, keep) -> (a word of `some`+ characters?, [start, end, ...] of `keep`+)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_runs",
    "Runs of characters the guards look inside, found in C.", -1, methods,
};

PyMODINIT_FUNC PyInit__runs(void)
{
    return PyModule_Create(&module);
}
