/* Go's JSON string literals */

#include "speedups.h"

/*
 * Python's json escapes (", \, \b \f \n \r \t, other controls as \u00xx),
 * plus what Go adds: U+2028 and U+2029 always, <, > and & when ``html``;
 * each surrogate code point (not valid UTF-8) becomes U+FFFD.
 */

static const char hexdigits[] = "0123456789abcdef";

/* Extra output characters of each Latin-1 character: 0, 1 or 5. */
static unsigned char extra_plain[256], extra_html[256];

void lethean_init_escape_tables(void)
{
    for (int c = 0; c < 256; c++) {
        unsigned char extra = 0;
        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
            extra = 1;
        else if (c < 0x20)
            extra = 5;
        extra_plain[c] = extra;
        extra_html[c] = (c == '<' || c == '>' || c == '&') ? 5 : extra;
    }
}

/* Write the escape of ``c`` (one that needs one) at ``out``; returns its length. */
static Py_ssize_t write_escape(Py_UCS4 c, Py_UCS4 *out)
{
    out[0] = '\\';
    switch (c) {
    case '"': out[1] = '"'; return 2;
    case '\\': out[1] = '\\'; return 2;
    case '\b': out[1] = 'b'; return 2;
    case '\f': out[1] = 'f'; return 2;
    case '\n': out[1] = 'n'; return 2;
    case '\r': out[1] = 'r'; return 2;
    case '\t': out[1] = 't'; return 2;
    }
    out[1] = 'u';
    out[2] = hexdigits[(c >> 12) & 0xf];
    out[3] = hexdigits[(c >> 8) & 0xf];
    out[4] = hexdigits[(c >> 4) & 0xf];
    out[5] = hexdigits[c & 0xf];
    return 6;
}

/* The escape of a Latin-1 character that needs one, written at ``out``; its length. */
static Py_ssize_t write_escape1(Py_UCS1 c, Py_UCS1 *out)
{
    Py_UCS4 escape[6];
    Py_ssize_t n = write_escape(c, escape);
    for (Py_ssize_t k = 0; k < n; k++)
        out[k] = (Py_UCS1)escape[k];
    return n;
}

#ifdef LETHEAN_SIMD_SCAN
/* Sixteen characters at a time: which need a 2-character and which a 6-character escape. */
typedef struct {
    __m128i quote, backslash, control, b, t, n, f, r, lt, gt, amp;
} escape_masks;

static void escape_masks_init(escape_masks *k)
{
    k->quote = _mm_set1_epi8('"');
    k->backslash = _mm_set1_epi8('\\');
    k->control = _mm_set1_epi8(0x1f);
    k->b = _mm_set1_epi8('\b');
    k->t = _mm_set1_epi8('\t');
    k->n = _mm_set1_epi8('\n');
    k->f = _mm_set1_epi8('\f');
    k->r = _mm_set1_epi8('\r');
    k->lt = _mm_set1_epi8('<');
    k->gt = _mm_set1_epi8('>');
    k->amp = _mm_set1_epi8('&');
}

static inline void escape_masks_of(const escape_masks *k, __m128i v, int html, int *two, int *six)
{
    __m128i control = _mm_cmpeq_epi8(_mm_max_epu8(v, k->control), k->control); /* v <= 0x1f */
    __m128i named = _mm_or_si128(_mm_cmpeq_epi8(v, k->b), _mm_cmpeq_epi8(v, k->t));
    named = _mm_or_si128(named, _mm_or_si128(_mm_cmpeq_epi8(v, k->n), _mm_cmpeq_epi8(v, k->f)));
    named = _mm_or_si128(named, _mm_cmpeq_epi8(v, k->r));
    __m128i short_ = _mm_or_si128(_mm_cmpeq_epi8(v, k->quote), _mm_cmpeq_epi8(v, k->backslash));
    short_ = _mm_or_si128(short_, named);
    __m128i long_ = _mm_andnot_si128(named, control);
    if (html) {
        __m128i html_ = _mm_or_si128(_mm_cmpeq_epi8(v, k->lt), _mm_cmpeq_epi8(v, k->gt));
        long_ = _mm_or_si128(long_, _mm_or_si128(html_, _mm_cmpeq_epi8(v, k->amp)));
    }
    *two = _mm_movemask_epi8(short_);
    *six = _mm_movemask_epi8(long_);
}
#endif

static PyObject *go_string_latin1(const Py_UCS1 *in, Py_ssize_t length, int html)
{
    const unsigned char *extra = html ? extra_html : extra_plain;
    Py_ssize_t size = length + 2, i = 0;
    Py_UCS1 seen = 0;
#ifdef LETHEAN_SIMD_SCAN
    escape_masks k;
    escape_masks_init(&k);
    __m128i all = _mm_setzero_si128();
    for (; i + 16 <= length; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
        int two, six;
        escape_masks_of(&k, v, html, &two, &six);
        size += __builtin_popcount((unsigned int)two) + 5 * __builtin_popcount((unsigned int)six);
        all = _mm_or_si128(all, v);
    }
    seen = _mm_movemask_epi8(all) ? 0x80 : 0;
#endif
    for (; i < length; i++) {
        size += extra[in[i]];
        seen |= in[i];
    }
    PyObject *result = PyUnicode_New(size, seen & 0x80 ? 0xff : 0x7f);
    if (result == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(result);
    *out++ = '"';
    i = 0;
#ifdef LETHEAN_SIMD_SCAN
    for (; i + 16 <= length; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(in + i));
        int two, six;
        escape_masks_of(&k, v, html, &two, &six);
        if (!(two | six)) {
            _mm_storeu_si128((__m128i *)out, v);
            out += 16;
            continue;
        }
        for (int j = 0; j < 16; j++) {
            Py_UCS1 c = in[i + j];
            if (extra[c])
                out += write_escape1(c, out);
            else
                *out++ = c;
        }
    }
#endif
    for (; i < length; i++) {
        Py_UCS1 c = in[i];
        if (extra[c])
            out += write_escape1(c, out);
        else
            *out++ = c;
    }
    *out = '"';
    return result;
}

/* Output characters of ``c`` and the largest character written for it. */
static Py_ssize_t wide_size(Py_UCS4 c, int html, Py_UCS4 *written)
{
    *written = '\\';
    if (c < 0x100) {
        unsigned char extra = (html ? extra_html : extra_plain)[c];
        if (!extra)
            *written = c;
        return 1 + extra;
    }
    if (c == 0x2028 || c == 0x2029)
        return 6;
    *written = (c >= 0xD800 && c <= 0xDFFF) ? 0xFFFD : c;
    return 1;
}

static PyObject *go_string_wide(PyObject *value, int html)
{
    int kind = PyUnicode_KIND(value);
    const void *data = PyUnicode_DATA(value);
    Py_ssize_t length = PyUnicode_GET_LENGTH(value), size = 2, i, at = 0;
    Py_UCS4 maxchar = '"', written;
    for (i = 0; i < length; i++) {
        size += wide_size(PyUnicode_READ(kind, data, i), html, &written);
        if (written > maxchar)
            maxchar = written;
    }
    PyObject *result = PyUnicode_New(size, maxchar);
    if (result == NULL)
        return NULL;
    int out_kind = PyUnicode_KIND(result);
    void *out = PyUnicode_DATA(result);
    PyUnicode_WRITE(out_kind, out, at++, '"');
    for (i = 0; i < length; i++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, i), escape[6];
        Py_ssize_t n = wide_size(c, html, &written);
        if (written == '\\' || n > 1) {
            n = write_escape(c, escape);
            for (Py_ssize_t k = 0; k < n; k++)
                PyUnicode_WRITE(out_kind, out, at++, escape[k]);
        } else {
            PyUnicode_WRITE(out_kind, out, at++, written);
        }
    }
    PyUnicode_WRITE(out_kind, out, at, '"');
    return result;
}

PyObject *lethean_go_string(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int html = 1;
    if (nargs < 1 || nargs > 2) {
        PyErr_Format(PyExc_TypeError, "go_string() takes 1 or 2 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyUnicode_Check(args[0])) {
        PyErr_Format(PyExc_TypeError, "expected a str, not %.100s", Py_TYPE(args[0])->tp_name);
        return NULL;
    }
    if (nargs == 2 && (html = PyObject_IsTrue(args[1])) < 0)
        return NULL;
#if PY_VERSION_HEX < 0x030C0000
    if (PyUnicode_READY(args[0]) < 0)
        return NULL;
#endif
    if (PyUnicode_KIND(args[0]) == PyUnicode_1BYTE_KIND)
        return go_string_latin1(PyUnicode_1BYTE_DATA(args[0]), PyUnicode_GET_LENGTH(args[0]), html);
    return go_string_wide(args[0], html);
}
