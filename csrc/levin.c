/* Levin portable storage: the common case */

#include "speedups.h"

/*
 * levin_register() hands over the value classes (attrs classes with one
 * ``value`` slot) and Section (slots ``_entries`` and ``_hash``); values
 * are made and read through those slots, as the Python reader's trusted
 * construction does.  Tags 1..9 and 11 are numbers and Bool, 10 String,
 * 12 Section.  Arrays, over-long names, unknown tags, limits, truncation:
 * the functions return None and Python takes over.
 */

#define LEVIN_TAGS 13
static PyObject *lv_class[LEVIN_TAGS];      /* tag -> class */
static PyObject *lv_value[LEVIN_TAGS];      /* tag -> its ``value`` slot */
static PyObject *lv_entries, *lv_hash;      /* Section's slots */
static PyObject *lv_empty_args;
static const unsigned char lv_width[10] = {0, 8, 4, 2, 1, 8, 4, 2, 1, 8};
static const unsigned char storage_header[9] = {
    0x01, 0x11, 0x01, 0x01, 0x01, 0x01, 0x02, 0x01, 0x01,
};

enum { LV_ERROR = -1, LV_GIVE_UP = 0, LV_OK = 1 };

/* Deeper nesting goes to Python, which knows its own recursion limit. */
#define LV_MAX_DEPTH 100

/* What levin_decode needs before it makes values; -1 if it cannot. */
int lethean_levin_init(void)
{
    return (lv_empty_args = PyTuple_New(0)) == NULL ? -1 : 0;
}

PyObject *lethean_levin_register(PyObject *module, PyObject *args)
{
    PyObject *section, *classes, *key, *cls;
    Py_ssize_t at = 0;
    if (!PyArg_ParseTuple(args, "OO!:levin_register", &section, &PyDict_Type, &classes))
        return NULL;
    for (int tag = 0; tag < LEVIN_TAGS; tag++) {
        Py_CLEAR(lv_class[tag]);
        Py_CLEAR(lv_value[tag]);
    }
    Py_CLEAR(lv_entries);
    Py_CLEAR(lv_hash);
    while (PyDict_Next(classes, &at, &key, &cls)) {
        long tag = PyLong_AsLong(key);
        if (tag < 1 || tag > 11 || !PyType_Check(cls)) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "value classes are {tag 1..11: class}");
            return NULL;
        }
        Py_INCREF(cls);
        lv_class[tag] = cls;
        if ((lv_value[tag] = lethean_slot_of(cls, "value")) == NULL)
            return NULL;
    }
    if (!PyType_Check(section)) {
        PyErr_SetString(PyExc_TypeError, "Section must be a class");
        return NULL;
    }
    Py_INCREF(section);
    lv_class[12] = section;
    if ((lv_entries = lethean_slot_of(section, "_entries")) == NULL
        || (lv_hash = lethean_slot_of(section, "_hash")) == NULL)
        return NULL;
    Py_RETURN_NONE;
}

/* An instance of ``cls`` whose slot ``slot`` holds ``value`` (stolen). */
static PyObject *lv_make(PyObject *cls, PyObject *slot, PyObject *value)
{
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *obj;
    if (value == NULL)
        return NULL;
    obj = type->tp_new(type, lv_empty_args, NULL);
    if (obj != NULL && Py_TYPE(slot)->tp_descr_set(slot, obj, value) < 0)
        Py_CLEAR(obj);
    Py_DECREF(value);
    return obj;
}

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    long long items_left;
    long max_depth;
} lv_reader;

static int lv_read_varint(lv_reader *r, uint64_t *value)
{
    size_t width;
    uint64_t v = 0;
    if (r->pos >= r->size)
        return LV_GIVE_UP;
    width = (size_t)1 << (r->p[r->pos] & 3);
    if (width > r->size - r->pos)
        return LV_GIVE_UP;
    for (size_t i = width; i-- > 0;)
        v = (v << 8) | r->p[r->pos + i];
    r->pos += width;
    *value = v >> 2;
    return LV_OK;
}

static PyObject *lv_number(int tag, const uint8_t *p)
{
    uint64_t u = 0;
    if (tag == 9)
        return PyFloat_FromDouble(PyFloat_Unpack8((const char *)p, 1));
    for (int i = lv_width[tag]; i-- > 0;)
        u = (u << 8) | p[i];
    switch (tag) {
    case 1: return PyLong_FromLongLong((long long)u);
    case 2: return PyLong_FromLong((int32_t)u);
    case 3: return PyLong_FromLong((int16_t)u);
    case 4: return PyLong_FromLong((int8_t)u);
    default: return PyLong_FromUnsignedLongLong(u);
    }
}

static int lv_read_section(lv_reader *r, long depth, PyObject **out);

/* The value of an entry with ``tag``: LV_OK with *out set, or not. */
static int lv_read_value(lv_reader *r, int tag, long depth, PyObject **out)
{
    uint64_t length;
    int status;
    if (tag >= 1 && tag <= 9) {
        if (lv_width[tag] > r->size - r->pos)
            return LV_GIVE_UP;
        *out = lv_make(lv_class[tag], lv_value[tag], lv_number(tag, r->p + r->pos));
        r->pos += lv_width[tag];
    } else if (tag == 10) {
        if ((status = lv_read_varint(r, &length)) != LV_OK)
            return status;
        if (length > r->size - r->pos)
            return LV_GIVE_UP;
        *out = lv_make(lv_class[10], lv_value[10],
                       PyBytes_FromStringAndSize((const char *)r->p + r->pos, (Py_ssize_t)length));
        r->pos += length;
    } else if (tag == 11) {
        if (r->pos >= r->size)
            return LV_GIVE_UP;
        *out = lv_make(lv_class[11], lv_value[11], PyBool_FromLong(r->p[r->pos++] != 0));
    } else if (tag == 12) {
        return lv_read_section(r, depth + 1, out);
    } else {
        return LV_GIVE_UP;
    }
    return *out == NULL ? LV_ERROR : LV_OK;
}

static int lv_read_section(lv_reader *r, long depth, PyObject **out)
{
    uint64_t count;
    int status;
    PyObject *entries, *section;
    if (depth > r->max_depth || depth > LV_MAX_DEPTH)
        return LV_GIVE_UP;
    if ((status = lv_read_varint(r, &count)) != LV_OK)
        return status;
    if ((entries = PyDict_New()) == NULL)
        return LV_ERROR;
    /* Every entry takes bytes: a lying count runs out of them. */
    for (uint64_t i = 0; i < count; i++) {
        PyObject *name, *value = NULL;
        size_t length;
        if (--r->items_left < 0 || r->pos >= r->size)
            goto give_up;
        length = r->p[r->pos++];
        if (length >= r->size - r->pos)
            goto give_up; /* no room for the name and its tag */
        name = PyUnicode_DecodeUTF8((const char *)r->p + r->pos, (Py_ssize_t)length,
                                    "surrogateescape");
        if (name == NULL)
            goto error;
        r->pos += length;
        status = lv_read_value(r, r->p[r->pos++], depth, &value);
        if (status == LV_OK && PyDict_SetItem(entries, name, value) < 0)
            status = LV_ERROR;
        Py_DECREF(name);
        Py_XDECREF(value);
        if (status == LV_ERROR)
            goto error;
        if (status == LV_GIVE_UP)
            goto give_up;
    }
    PyTypeObject *section_type = (PyTypeObject *)lv_class[12];
    section = section_type->tp_new(section_type, lv_empty_args, NULL);
    if (section == NULL || Py_TYPE(lv_entries)->tp_descr_set(lv_entries, section, entries) < 0
        || Py_TYPE(lv_hash)->tp_descr_set(lv_hash, section, Py_None) < 0) {
        Py_XDECREF(section);
        goto error;
    }
    Py_DECREF(entries);
    *out = section;
    return LV_OK;
give_up:
    Py_DECREF(entries);
    return LV_GIVE_UP;
error:
    Py_DECREF(entries);
    return LV_ERROR;
}

PyObject *lethean_levin_decode(PyObject *module, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t offset;
    long max_depth;
    long long max_items;
    PyObject *section = NULL;
    int status;
    if (!PyArg_ParseTuple(args, "y*nlL:levin_decode", &data, &offset, &max_depth, &max_items))
        return NULL;
    if (!lethean_registered(lv_entries != NULL, "levin_register") || offset < 0
        || offset > data.len) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "offset outside the data");
        PyBuffer_Release(&data);
        return NULL;
    }
    lv_reader r = {data.buf, (size_t)data.len, (size_t)offset, max_items, max_depth};
    status = lv_read_section(&r, 1, &section);
    PyBuffer_Release(&data);
    if (status == LV_ERROR)
        return NULL;
    if (status == LV_GIVE_UP)
        Py_RETURN_NONE;
    return section;
}

typedef struct {
    uint8_t *buf;
    size_t len, cap;
} lv_writer;

static int lv_reserve(lv_writer *w, size_t more)
{
    if (w->len + more <= w->cap)
        return 1;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + more)
        cap *= 2;
    uint8_t *buf = PyMem_Realloc(w->buf, cap);
    if (buf == NULL) {
        PyErr_NoMemory();
        return 0;
    }
    w->buf = buf;
    w->cap = cap;
    return 1;
}

static int lv_put(lv_writer *w, const void *p, size_t n)
{
    if (!lv_reserve(w, n))
        return 0;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 1;
}

static int lv_put_le(lv_writer *w, uint64_t v, int width)
{
    uint8_t bytes[8];
    for (int i = 0; i < width; i++, v >>= 8)
        bytes[i] = (uint8_t)v;
    return lv_put(w, bytes, (size_t)width);
}

static int lv_put_varint(lv_writer *w, uint64_t n)
{
    if (n < (1ull << 6))
        return lv_put_le(w, n << 2, 1);
    if (n < (1ull << 14))
        return lv_put_le(w, (n << 2) | 1, 2);
    if (n < (1ull << 30))
        return lv_put_le(w, (n << 2) | 2, 4);
    return lv_put_le(w, (n << 2) | 3, 8);
}

typedef struct {
    const char *name;
    Py_ssize_t length;
    PyObject *value;   /* borrowed from the entries dict */
    PyObject *encoded; /* owned: the name's bytes when not its cached UTF-8 */
} lv_entry;

static int lv_compare(const void *a, const void *b)
{
    const lv_entry *x = a, *y = b;
    Py_ssize_t n = x->length < y->length ? x->length : y->length;
    int c = memcmp(x->name, y->name, (size_t)n);
    if (c)
        return c;
    return (x->length > y->length) - (x->length < y->length);
}

/* A number's bytes, if ``value`` is an int (or, for tag 9, float) that fits. */
static int lv_put_number(lv_writer *w, int tag, PyObject *value)
{
    static const long long low[9] = {0, LLONG_MIN, INT32_MIN, INT16_MIN, INT8_MIN, 0, 0, 0, 0};
    static const unsigned long long high[9] = {
        0, LLONG_MAX, INT32_MAX, INT16_MAX, INT8_MAX,
        ULLONG_MAX, UINT32_MAX, UINT16_MAX, UINT8_MAX,
    };
    if (tag == 9) {
        uint8_t bytes[8];
        if (!PyFloat_CheckExact(value)
            || PyFloat_Pack8(PyFloat_AS_DOUBLE(value), (char *)bytes, 1) < 0) {
            PyErr_Clear();
            return LV_GIVE_UP;
        }
        return lv_put(w, bytes, 8) ? LV_OK : LV_ERROR;
    }
    if (!PyLong_CheckExact(value))
        return LV_GIVE_UP;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (v == -1 && PyErr_Occurred())
        return LV_ERROR;
    if (overflow > 0 && tag == 5) {
        unsigned long long u = PyLong_AsUnsignedLongLong(value);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            return LV_GIVE_UP;
        }
        return lv_put_le(w, u, 8) ? LV_OK : LV_ERROR;
    }
    if (overflow || v < low[tag] || (v >= 0 && (unsigned long long)v > high[tag]))
        return LV_GIVE_UP;
    return lv_put_le(w, (uint64_t)v, lv_width[tag]) ? LV_OK : LV_ERROR;
}

static int lv_write_section(lv_writer *w, PyObject *section, long depth, long max_depth);

static int lv_write_value(lv_writer *w, PyObject *value, long depth, long max_depth)
{
    int tag;
    uint8_t tag_byte;
    PyObject *inner;
    int status;
    for (tag = 1; tag < LEVIN_TAGS; tag++)
        if ((PyObject *)Py_TYPE(value) == lv_class[tag])
            break;
    if (tag == LEVIN_TAGS)
        return LV_GIVE_UP; /* an Array, or not a value */
    tag_byte = (uint8_t)tag;
    if (!lv_put(w, &tag_byte, 1))
        return LV_ERROR;
    if (tag == 12)
        return lv_write_section(w, value, depth + 1, max_depth);
    inner = Py_TYPE(lv_value[tag])->tp_descr_get(lv_value[tag], value, (PyObject *)Py_TYPE(value));
    if (inner == NULL) {
        PyErr_Clear();
        return LV_GIVE_UP;
    }
    if (tag == 10) {
        status = LV_GIVE_UP;
        if (PyBytes_CheckExact(inner)) {
            size_t size = (size_t)PyBytes_GET_SIZE(inner);
            status = lv_put_varint(w, size) && lv_put(w, PyBytes_AS_STRING(inner), size)
                         ? LV_OK : LV_ERROR;
        }
    } else if (tag == 11) {
        uint8_t byte = inner == Py_True;
        status = LV_GIVE_UP;
        if (inner == Py_True || inner == Py_False)
            status = lv_put(w, &byte, 1) ? LV_OK : LV_ERROR;
    } else {
        status = lv_put_number(w, tag, inner);
    }
    Py_DECREF(inner);
    return status;
}

static int lv_write_section(lv_writer *w, PyObject *section, long depth, long max_depth)
{
    PyObject *entries, *key, *value;
    Py_ssize_t at = 0, n, i;
    lv_entry *sorted = NULL;
    int status = LV_GIVE_UP;
    if (depth > max_depth || depth > LV_MAX_DEPTH)
        return LV_GIVE_UP;
    entries = Py_TYPE(lv_entries)->tp_descr_get(lv_entries, section, lv_class[12]);
    if (entries == NULL) {
        PyErr_Clear();
        return LV_GIVE_UP;
    }
    if (!PyDict_CheckExact(entries))
        goto done;
    n = PyDict_GET_SIZE(entries);
    sorted = PyMem_Calloc(n ? (size_t)n : 1, sizeof *sorted);
    if (sorted == NULL) {
        PyErr_NoMemory();
        status = LV_ERROR;
        goto done;
    }
    for (i = 0; PyDict_Next(entries, &at, &key, &value); i++) {
        lv_entry *e = &sorted[i];
        if (!PyUnicode_CheckExact(key))
            goto done;
        e->value = value;
        e->name = PyUnicode_AsUTF8AndSize(key, &e->length);
        if (e->name == NULL) {
            /* Names read from the wire keep non-UTF-8 bytes as surrogates. */
            PyErr_Clear();
            e->encoded = PyUnicode_AsEncodedString(key, "utf-8", "surrogateescape");
            if (e->encoded == NULL) {
                PyErr_Clear();
                goto done;
            }
            e->name = PyBytes_AS_STRING(e->encoded);
            e->length = PyBytes_GET_SIZE(e->encoded);
        }
        if (e->length > 255)
            goto done;
    }
    qsort(sorted, (size_t)n, sizeof *sorted, lv_compare);
    for (i = 1; i < n; i++)
        if (lv_compare(&sorted[i - 1], &sorted[i]) == 0)
            goto done; /* two spellings of one wire name */
    if (!lv_put_varint(w, (uint64_t)n)) {
        status = LV_ERROR;
        goto done;
    }
    for (i = 0; i < n; i++) {
        uint8_t length = (uint8_t)sorted[i].length;
        if (!lv_put(w, &length, 1) || !lv_put(w, sorted[i].name, (size_t)sorted[i].length)) {
            status = LV_ERROR;
            goto done;
        }
        if ((status = lv_write_value(w, sorted[i].value, depth, max_depth)) != LV_OK)
            goto done;
    }
    status = LV_OK;
done:
    if (sorted != NULL) {
        for (i = 0; i < n; i++)
            Py_XDECREF(sorted[i].encoded);
        PyMem_Free(sorted);
    }
    Py_DECREF(entries);
    return status;
}

PyObject *lethean_levin_encode(PyObject *module, PyObject *args)
{
    PyObject *section, *result = NULL;
    long max_depth;
    lv_writer w = {NULL, 0, 0};
    int status;
    if (!PyArg_ParseTuple(args, "Ol:levin_encode", &section, &max_depth)
        || !lethean_registered(lv_entries != NULL, "levin_register"))
        return NULL;
    if ((PyObject *)Py_TYPE(section) != lv_class[12])
        Py_RETURN_NONE;
    status = LV_ERROR;
    if (lv_put(&w, storage_header, sizeof storage_header))
        status = lv_write_section(&w, section, 1, max_depth);
    if (status == LV_OK)
        result = PyBytes_FromStringAndSize((const char *)w.buf, (Py_ssize_t)w.len);
    else if (status == LV_GIVE_UP)
        result = Py_NewRef(Py_None);
    PyMem_Free(w.buf);
    return result;
}
