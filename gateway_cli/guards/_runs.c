/*
 * Runs of characters the guards look inside, found in one pass.
 *
 * `digits(text)`: the runs of digits and separators of the PII guard. Every
 * card, SSN, IPv4 address and phone number lies inside a run of 7 or more
 * digits and separators (pii/runs.py). Finding them was one regex pass, and `re`
 * pays a charset test and an attempt at every digit: on a 4 KB support ticket
 * with 400 digits (logs, dates, versions) ~20 us, most of the PII guard's time.
 * The spans are exactly those of runs.RUN: a match begins at `+`, `(` or an
 * ASCII digit followed by 6 or more of `0-9 ().-`, and takes all of them
 * (possessive); the next search starts at its end. Each span comes with RUN's
 * mark, its lookaheads spelled out here (`bare`, `skip`): 1 when it begins with
 * a bare North American number (runs._BARE), 2 when nothing can be found in it
 * (runs._SKIP), else 0. runs.py keeps RUN.finditer as the fallback; the two
 * are compared in tests/unit/guards/test_guard_pii_runs.py.
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

/* The text as RUN's lookaheads read it: a position past the end reads as 0, which is
 * neither a digit, a separator nor an extension letter, as the end of the text is. */
typedef struct {
    int kind;
    const void *data;
    Py_ssize_t n;
} Text;

static inline Py_UCS4 ch(const Text *t, Py_ssize_t i)
{
    return i < t->n ? PyUnicode_READ(t->kind, t->data, i) : 0;
}

static inline int dig(Py_UCS4 c)
{
    return c >= '0' && c <= '9';
}

static inline int dash_dot(Py_UCS4 c)
{
    return c == '-' || c == '.';
}

static inline int digits_at(const Text *t, Py_ssize_t i, int count)
{
    for (int k = 0; k < count; k++)
        if (!dig(ch(t, i + k)))
            return 0;
    return 1;
}

/* `(?![0-9])[ ().\-]*+(?![0-9xXe#])` at q: the number ends, separators, no extension. */
static int tail_ok(const Text *t, Py_ssize_t q)
{
    if (dig(ch(t, q)))
        return 0;
    Py_UCS4 c = ch(t, q);
    while (c == ' ' || c == '(' || c == ')' || c == '.' || c == '-')
        c = ch(t, ++q);
    return !(dig(c) || c == 'x' || c == 'X' || c == 'e' || c == '#');
}

/* runs._BARE at p + 1, p the run's first digit: a 10-digit number from 2-9, or 11 from
 * 1, whose exchange begins with 2-9, then the tail. */
static int bare(const Text *t, Py_ssize_t p)
{
    Py_UCS4 d0 = ch(t, p);
    Py_ssize_t i = p + 1;
    if (d0 >= '2' && d0 <= '9') {
        if (!digits_at(t, i, 2))
            return 0;
        i += 2;
    } else if (d0 == '1') {
        Py_UCS4 c = ch(t, i);
        if (!(c >= '2' && c <= '9' && digits_at(t, i + 1, 2)))
            return 0;
        i += 3;
    } else {
        return 0;
    }
    Py_UCS4 c = ch(t, i);
    return c >= '2' && c <= '9' && digits_at(t, i + 1, 6) && tail_ok(t, i + 7);
}

/* A date's optional hour `(?: [0-9]{1,2})?` at w, then the tail: with the hour (two
 * digits, then one) before without it, as the regex backtracks; any way that matches
 * marks the run. */
static int hour_tail(const Text *t, Py_ssize_t w)
{
    if (ch(t, w) == ' ')
        for (int c = 2; c >= 1; c--)
            if (digits_at(t, w + 1, c) && tail_ok(t, w + 1 + c))
                return 1;
    return tail_ok(t, w);
}

/* `[0-9]{1,2}` at v (two digits tried before one), then the hour and the tail. */
static int date_end(const Text *t, Py_ssize_t v)
{
    for (int b = 2; b >= 1; b--)
        if (digits_at(t, v, b) && hour_tail(t, v + b))
            return 1;
    return 0;
}

/* runs._SKIP at p + 1, p the run's first digit: a digit string no SSN, North American
 * number or card can be, or a date, then the tail. */
static int skip(const Text *t, Py_ssize_t p)
{
    Py_UCS4 d0 = ch(t, p);
    Py_ssize_t s = p + 1, d = 0;
    while (dig(ch(t, s + d)))
        d++;
    int length = d <= 7 || d == 9 || d == 10 || d >= 19 || (d0 == '9' && d == 8)
        || ((d0 == '0' || d0 == '7' || d0 == '8' || d0 == '9') && d >= 11 && d <= 18)
        || (d0 == '1' && d >= 11 && d <= 18
            && !(d == 14 && ch(t, s) == '8' && ch(t, s + 1) == '0' && ch(t, s + 2) == '0'));
    if (length && tail_ok(t, s + d))
        return 1;
    /* `[0-9]{3}[\-.][0-9]{1,2}[\-.][0-9]{1,2}(?: [0-9]{1,2})?`: 2024-03-12 (09) */
    if (d == 3 && dash_dot(ch(t, s + 3)))
        for (int a = 2; a >= 1; a--)
            if (digits_at(t, s + 4, a) && dash_dot(ch(t, s + 4 + a)) && date_end(t, s + 5 + a))
                return 1;
    /* `[0-9]?[\-.][0-9]{1,2}[\-.](?:19|20)[0-9]{2}(?: [0-9]{1,2})?`: 12.03.2024 (09) */
    for (int o = 1; o >= 0; o--) {
        if (o && !dig(ch(t, s)))
            continue;
        Py_ssize_t u = s + o;
        if (!dash_dot(ch(t, u)))
            continue;
        for (int a = 2; a >= 1; a--) {
            Py_ssize_t y = u + 1 + a;
            if (!digits_at(t, u + 1, a) || !dash_dot(ch(t, y)))
                continue;
            Py_UCS4 c0 = ch(t, y + 1), c1 = ch(t, y + 2);
            if (!((c0 == '1' && c1 == '9') || (c0 == '2' && c1 == '0')) || !digits_at(t, y + 3, 2))
                continue;
            if (hour_tail(t, y + 5))
                return 1;
        }
    }
    return 0;
}

static int mark(const Text *t, Py_ssize_t p)
{
    if (!dig(ch(t, p)))
        return 0; /* `(?<=[0-9])`: a run from `+` or `(` has no mark */
    return bare(t, p) ? 1 : skip(t, p) ? 2 : 0;
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
            if (add(out, i, j) < 0 || add_mark(out, mark(&whole, i)) < 0) { \
                Py_DECREF(out);                                         \
                return NULL;                                            \
            }                                                           \
            i = j;                                                      \
        }                                                               \
    }

static int add_mark(PyObject *out, int value)
{
    PyObject *m = PyLong_FromLong(value);
    int r = (m == NULL || PyList_Append(out, m) < 0) ? -1 : 0;
    Py_XDECREF(m);
    return r;
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

/* digits(text) -> [start0, end0, mark0, start1, end1, mark1, ...] */
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
    const Text whole = {PyUnicode_KIND(text), data, n};
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
     "digits(text) -> [start, end, mark, ...] of pii.runs.RUN's matches (mark 0, 1 or 2)"},
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
