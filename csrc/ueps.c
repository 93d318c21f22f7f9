/* UEPS frames */

#include "speedups.h"

/*
 * ueps_encode(packet, secret) is lethean.ueps.encode: a Packet of a Header
 * with exact ints, a bytes payload of at most 65535 bytes and a buffer
 * secret are framed here; anything else goes to the Python encode that
 * ueps_register_encode gave, which builds the frame or raises.
 */

#define UEPS_HEADER_BYTES 21
#define UEPS_PAYLOAD_AT (UEPS_HEADER_BYTES + 3 + 32 + 3)

static PyObject *ueps_python_encode, *ueps_packet_class, *ueps_header_class;
/* Packet.header, Packet.payload, then the Header fields in wire order. */
static const char *const ueps_slot_names[7] = {
    "header", "payload", "version", "current_layer", "target_layer", "intent_id", "threat_score",
};
static PyObject *ueps_slots[7];

PyObject *lethean_ueps_register_encode(PyObject *module, PyObject *encode)
{
    Py_INCREF(encode);
    Py_XSETREF(ueps_python_encode, encode);
    Py_RETURN_NONE;
}

/* The value of slot ``i`` of ``obj`` (a new reference), or NULL with no error set. */
static PyObject *ueps_slot(int i, PyObject *obj)
{
    PyObject *value = Py_TYPE(ueps_slots[i])->tp_descr_get(ueps_slots[i], obj,
                                                           (PyObject *)Py_TYPE(obj));
    if (value == NULL)
        PyErr_Clear();
    return value;
}

/* Header field ``i`` (2..6) as an int in range, or -1. */
static long ueps_field(int i, PyObject *header)
{
    PyObject *value = ueps_slot(i, header);
    long v = -1;
    if (value != NULL && PyLong_CheckExact(value)) {
        v = PyLong_AsLong(value);
        if (v == -1 && PyErr_Occurred())
            PyErr_Clear();
        else if (v > (i == 6 ? 0xFFFF : 0xFF))
            v = -1;
    }
    Py_XDECREF(value);
    return v;
}

/* The signed frame of ``packet``, or NULL with no error set when Python must build it. */
static PyObject *ueps_frame(PyObject *packet, PyObject *secret)
{
    PyObject *header = NULL, *payload = NULL, *result = NULL;
    long field[5];
    Py_buffer key;
    hmac_key_state state;
    sha256_ctx inner;

    if (Py_TYPE(packet) != (PyTypeObject *)ueps_packet_class
        || (header = ueps_slot(0, packet)) == NULL
        || Py_TYPE(header) != (PyTypeObject *)ueps_header_class
        || (payload = ueps_slot(1, packet)) == NULL
        || !PyBytes_CheckExact(payload) || PyBytes_GET_SIZE(payload) > 0xFFFF)
        goto done;
    for (int i = 0; i < 5; i++)
        if ((field[i] = ueps_field(i + 2, header)) < 0)
            goto done;
    if (PyObject_GetBuffer(secret, &key, PyBUF_SIMPLE) < 0) {
        PyErr_Clear();
        goto done;
    }
    lethean_hmac_key(&state, key.buf, (size_t)key.len);
    PyBuffer_Release(&key);

    Py_ssize_t size = PyBytes_GET_SIZE(payload);
    result = PyBytes_FromStringAndSize(NULL, UEPS_PAYLOAD_AT + size);
    if (result == NULL) {
        PyErr_Clear();
        goto done;
    }
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    for (int i = 0; i < 4; i++) {
        out[4 * i] = (uint8_t)(i + 1);
        out[4 * i + 1] = 0;
        out[4 * i + 2] = 1;
        out[4 * i + 3] = (uint8_t)field[i];
    }
    out[16] = 0x05;
    out[17] = 0;
    out[18] = 2;
    out[19] = (uint8_t)(field[4] >> 8);
    out[20] = (uint8_t)field[4];
    out[21] = 0x06;
    out[22] = 0;
    out[23] = 32;
    out[56] = 0xFF;
    out[57] = (uint8_t)(size >> 8);
    out[58] = (uint8_t)size;
    memcpy(out + UEPS_PAYLOAD_AT, PyBytes_AS_STRING(payload), (size_t)size);
    lethean_hmac_begin(&inner, &state);
    lethean_sha256_update(&inner, out, UEPS_HEADER_BYTES);
    lethean_sha256_update(&inner, out + UEPS_PAYLOAD_AT, (size_t)size);
    lethean_hmac_end(&inner, &state, out + 24);
done:
    Py_XDECREF(header);
    Py_XDECREF(payload);
    return result;
}

/*
 * Header.__new__ and Packet.__new__ (lethean/ueps/_packet.py): every packet
 * sent makes both.  The usual calls are done here; any other goes to the
 * Python __new__ that ueps_register_values gave, which checks and raises.
 */
static PyObject *ueps_header_python_new, *ueps_packet_python_new, *ueps_default_headers;
static PyObject *ueps_header_names[5];

PyObject *lethean_ueps_register_values(PyObject *module, PyObject *args)
{
    PyObject *packet, *header, *packet_new, *header_new, *defaults;
    if (!PyArg_ParseTuple(args, "O!O!OOO!:ueps_register_values", &PyType_Type, &packet,
                          &PyType_Type, &header, &packet_new, &header_new,
                          &PyTuple_Type, &defaults))
        return NULL;
    if (PyTuple_GET_SIZE(defaults) != 256) {
        PyErr_SetString(PyExc_ValueError, "one default header per intent");
        return NULL;
    }
    /* Every descriptor is found before any is replaced: a failed call
     * leaves the registration it found whole. */
    PyObject *slots[7] = {NULL};
    for (int i = 0; i < 7; i++) {
        if ((slots[i] = lethean_slot_of(i < 2 ? packet : header, ueps_slot_names[i])) == NULL
            || (i >= 2 && ueps_header_names[i - 2] == NULL
                && (ueps_header_names[i - 2] = PyUnicode_InternFromString(ueps_slot_names[i]))
                   == NULL)) {
            for (int j = 0; j <= i; j++)
                Py_XDECREF(slots[j]);
            return NULL;
        }
    }
    for (int i = 0; i < 7; i++)
        Py_XSETREF(ueps_slots[i], slots[i]);
    Py_INCREF(packet);
    Py_XSETREF(ueps_packet_class, packet);
    Py_INCREF(header);
    Py_XSETREF(ueps_header_class, header);
    Py_INCREF(packet_new);
    Py_XSETREF(ueps_packet_python_new, packet_new);
    Py_INCREF(header_new);
    Py_XSETREF(ueps_header_python_new, header_new);
    Py_INCREF(defaults);
    Py_XSETREF(ueps_default_headers, defaults);
    Py_RETURN_NONE;
}

/* ``value`` is an exact int equal to ``expected``. */
static int ueps_is_int(PyObject *value, long expected)
{
    if (!PyLong_CheckExact(value))
        return 0;
    long v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return v == expected;
}

/* Header(intent_id) with the builder's defaults: the shared header, or NULL. */
static PyObject *ueps_default_header(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    static const long defaults[5] = {9, 5, 5, -1, 0};
    PyObject *intent = nargs == 2 ? args[1] : NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);

    if (nargs < 1 || nargs > 2 || args[0] != ueps_header_class)
        return NULL;
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k), *value = args[nargs + k];
        int field = 0;
        while (field < 5 && name != ueps_header_names[field])
            field++;
        if (field == 5)
            return NULL;
        if (field == 3) {
            if (intent != NULL)
                return NULL;
            intent = value;
        } else if (!ueps_is_int(value, defaults[field])) {
            return NULL;
        }
    }
    if (intent == NULL || !PyLong_CheckExact(intent))
        return NULL;
    long id = PyLong_AsLong(intent);
    if (id < 0 || id > 0xFF) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *header = PyTuple_GET_ITEM(ueps_default_headers, id);
    Py_INCREF(header);
    return header;
}

PyObject *lethean_ueps_header_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    if (!lethean_registered(ueps_header_python_new != NULL, "ueps_register_values"))
        return NULL;
    PyObject *header = ueps_default_header(args, nargs, kwnames);
    if (header != NULL)
        return header;
    return PyObject_Vectorcall(ueps_header_python_new, args, (size_t)nargs, kwnames);
}

PyObject *lethean_ueps_packet_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    if (!lethean_registered(ueps_packet_python_new != NULL, "ueps_register_values"))
        return NULL;
    if (kwnames == NULL && nargs == 3 && args[0] == ueps_packet_class
        && Py_TYPE(args[1]) == (PyTypeObject *)ueps_header_class && PyBytes_CheckExact(args[2])) {
        PyTypeObject *type = (PyTypeObject *)ueps_packet_class;
        PyObject *packet = type->tp_alloc(type, 0);
        if (packet != NULL
            && (Py_TYPE(ueps_slots[0])->tp_descr_set(ueps_slots[0], packet, args[1]) < 0
                || Py_TYPE(ueps_slots[1])->tp_descr_set(ueps_slots[1], packet, args[2]) < 0))
            Py_CLEAR(packet);
        return packet;
    }
    return PyObject_Vectorcall(ueps_packet_python_new, args, (size_t)nargs, kwnames);
}

PyObject *lethean_ueps_encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    if (!lethean_registered(ueps_python_encode != NULL && ueps_packet_class != NULL,
                    "ueps_register_encode and ueps_register_values"))
        return NULL;
    if (nargs == 2 && kwnames == NULL) {
        PyObject *frame = ueps_frame(args[0], args[1]);
        if (frame != NULL)
            return frame;
    }
    return PyObject_Vectorcall(ueps_python_encode, args, (size_t)nargs, kwnames);
}
