/* The SMSG message object: the common case */

#include "speedups.h"

/*
 * What every sender writes, ASCII only: {"body":"...","timestamp":N} (or
 * without the timestamp).  Returns (body, timestamp), or None for
 * anything else (other keys, whitespace, non-ASCII bytes, escapes of
 * non-ASCII characters, odd numbers): lethean/smsg/_frame.py then reads
 * it with the JSON module, which decides every error.
 */

static int hex_digit(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The character a \u escape at p (4 hex digits follow) stands for, or -1. */
static int escaped_ascii(const uint8_t *p)
{
    int value = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(p[i]);
        if (digit < 0)
            return -1;
        value = value * 16 + digit;
    }
    return value < 0x80 ? value : -1;
}

/* Index of the first byte of p[i:n] that is '"', '\\', a control or not ASCII (or n). */
static size_t next_json_special(const uint8_t *p, size_t i, size_t n)
{
#ifdef LETHEAN_SIMD_SCAN
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
    const __m128i control = _mm_set1_epi8(0x1f);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
        __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
        m = _mm_or_si128(m, _mm_cmpeq_epi8(_mm_max_epu8(v, control), control));
        int bits = _mm_movemask_epi8(m) | _mm_movemask_epi8(v); /* ... or a high bit */
        if (bits)
            return i + (size_t)__builtin_ctz((unsigned int)bits);
    }
#endif
    for (; i < n; i++)
        if (p[i] == '"' || p[i] == '\\' || p[i] < 0x20 || p[i] >= 0x80)
            return i;
    return n;
}

PyObject *lethean_smsg_body(PyObject *module, PyObject *arg)
{
    static const char head[] = "{\"body\":\"", stamp[] = ",\"timestamp\":";
    Py_buffer view;
    PyObject *result = NULL;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const uint8_t *p = view.buf;
    size_t n = (size_t)view.len, i = sizeof head - 1, size = 0;
    if (n < sizeof head || memcmp(p, head, sizeof head - 1) != 0)
        goto give_up;
    /* The body: where it ends, and its length once unescaped. */
    for (;;) {
        size_t special = next_json_special(p, i, n);
        size += special - i;
        i = special;
        if (i >= n || p[i] != '\\') {
            if (i < n && p[i] == '"')
                break;
            goto give_up; /* the end, a control or not ASCII */
        }
        if (i + 1 < n && p[i + 1] != 0 && strchr("\"\\/bfnrt", p[i + 1]) != NULL)
            i += 2;
        else if (i + 6 <= n && p[i + 1] == 'u' && escaped_ascii(p + i + 2) >= 0)
            i += 6;
        else
            goto give_up;
        size++;
    }
    size_t end = i++;
    long long timestamp = 0;
    if (i < n && p[i] == ',') {
        if (n - i < sizeof stamp - 1 || memcmp(p + i, stamp, sizeof stamp - 1) != 0)
            goto give_up;
        i += sizeof stamp - 1;
        int negative = i < n && p[i] == '-';
        i += negative;
        size_t digits = i;
        unsigned long long magnitude = 0;
        while (i < n && p[i] >= '0' && p[i] <= '9' && i - digits < 19)
            magnitude = magnitude * 10 + (p[i++] - '0');
        if (i == digits || (p[digits] == '0' && (i - digits > 1 || negative)) || i >= n
            || (p[i] >= '0' && p[i] <= '9') || magnitude > (unsigned long long)LLONG_MAX + negative)
            goto give_up; /* no digits, a leading zero, -0, 20 digits or more, outside int64 */
        timestamp = negative ? (long long)(0 - magnitude) : (long long)magnitude;
    }
    if (i + 1 != n || p[i] != '}')
        goto give_up;

    PyObject *text = PyUnicode_New((Py_ssize_t)size, 0x7f);
    if (text == NULL)
        goto done;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(text);
    for (i = sizeof head - 1; i < end;) {
        size_t special = next_json_special(p, i, end);
        memcpy(out, p + i, special - i);
        out += special - i;
        i = special;
        if (i == end)
            break;
        switch (p[i + 1]) { /* an escape: the scan above checked each one */
        case 'b': *out = '\b'; break;
        case 'f': *out = '\f'; break;
        case 'n': *out = '\n'; break;
        case 'r': *out = '\r'; break;
        case 't': *out = '\t'; break;
        case 'u': *out = (Py_UCS1)escaped_ascii(p + i + 2); i += 4; break;
        default: *out = p[i + 1]; break; /* " \ / */
        }
        out++;
        i += 2;
    }
    result = Py_BuildValue("(NL)", text, timestamp);
    goto done;
give_up:
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&view);
    return result;
}
