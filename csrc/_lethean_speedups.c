/*
 * _lethean_speedups: the optional compiled versions of lethean's hottest
 * loops, all built on one SHA-256.
 *
 *   xor_obfuscate(data, nonce)   the SMSG sigil's pre-obfuscation: data XOR
 *                                SHA-256(nonce || u64_be(i)) for each 32-byte
 *                                block i (lethean/smsg/_sigil.py)
 *   xor_obfuscate_at(data, nonce, offset)  the same for a stretch of a
 *                                longer plaintext (large bundles, piece by
 *                                piece: lethean/smsg/_sigil_stream.py)
 *   sigil_seal / sigil_open      the whole sigil in one call: that key stream
 *                                and XChaCha20-Poly1305, calling the
 *                                libsodium inside PyNaCl (sodium_register)
 *   hmac_sha256(key, *chunks)    HMAC-SHA256 of the chunks joined (UEPS)
 *   ueps_encode(packet, secret)  a whole signed UEPS frame; Python's encode
 *                                does anything unusual (lethean/ueps/_codec.py)
 *   go_string(value, html=True)  a JSON string literal exactly as Go writes
 *                                it (lethean/_gojson.py)
 *   smsg_body(plaintext)         the SMSG message object, the common case
 *                                (lethean/smsg/_frame.py)
 *   levin_decode / levin_encode  epee portable storage, the common case:
 *                                sections of numbers, strings and sections
 *                                (lethean/levin/_storage.py)
 *
 * The first two share one SHA-256.  Each has a pure-Python twin that gives
 * the same results; lethean/_accel.py
 * decides which one runs.  Nothing here parses wire input: bounds and errors
 * stay in the Python codecs, these functions only turn bytes into bytes.
 *
 * SHA-256 runs on the x86 SHA extensions when the CPU has them (checked once
 * with cpuid) and on portable C otherwise; set_backend() lets the tests run
 * both.  Large inputs are processed without the GIL.
 *
 * One file per concept, sharing speedups.h: sha256.c (with the backend
 * choice), keystream.c, sigil.c, hmac.c, ueps.c, gojson.c, smsg.c,
 * levin.c; this file holds the method table and the module's init.
 */

#include "speedups.h"

#ifndef LETHEAN_SOURCE_SHA256
#define LETHEAN_SOURCE_SHA256 ""
#endif

/* What Python registers with the module: the functions that need it check it happened. */

/* Whether the registration the caller needs happened (an error if not). */
int lethean_registered(int done, const char *call)
{
    if (!done)
        PyErr_Format(PyExc_RuntimeError, "%s() was not called", call);
    return done;
}

/* A slot (member descriptor) of a registered class; a TypeError if ``name`` is not one. */
PyObject *lethean_slot_of(PyObject *cls, const char *name)
{
    PyObject *slot = PyObject_GetAttrString(cls, name);
    if (slot != NULL
        && (Py_TYPE(slot)->tp_descr_get == NULL || Py_TYPE(slot)->tp_descr_set == NULL)) {
        PyErr_Format(PyExc_TypeError, "%R.%s is not a slot", cls, name);
        Py_CLEAR(slot);
    }
    return slot;
}

/* The module */

static PyMethodDef methods[] = {
    {"xor_obfuscate", (PyCFunction)(void (*)(void))lethean_xor_obfuscate, METH_FASTCALL,
     "xor_obfuscate(data, nonce)\n--\n\n"
     "``data`` XOR the SHA-256 key stream of ``nonce`` (the sigil pre-obfuscation)."},
    {"xor_obfuscate_at", (PyCFunction)(void (*)(void))lethean_xor_obfuscate_at, METH_FASTCALL,
     "xor_obfuscate_at(data, nonce, offset)\n--\n\n"
     "``data`` XOR the key stream of ``nonce`` from byte ``offset`` on."},
    {"sodium_register", lethean_sodium_register, METH_VARARGS,
     "sodium_register(encrypt_address, decrypt_address, error)\n--\n\n"
     "libsodium's XChaCha20-Poly1305 functions, and the error of a failed check."},
    {"sigil_seal", lethean_sigil_seal, METH_VARARGS,
     "sigil_seal(prefix, nonce, key, plaintext)\n--\n\n"
     "``prefix | nonce | XChaCha20-Poly1305(plaintext XOR key stream)``."},
    {"sigil_open", lethean_sigil_open, METH_VARARGS,
     "sigil_open(data, offset, key)\n--\n\n"
     "The plaintext of the sigil payload ``data[offset:]``."},
    {"hmac_sha256", (PyCFunction)(void (*)(void))lethean_hmac_sha256, METH_FASTCALL,
     "hmac_sha256(key, *chunks)\n--\n\n"
     "HMAC-SHA256 under ``key`` of the chunks joined."},
    {"ueps_register_encode", lethean_ueps_register_encode, METH_O,
     "ueps_register_encode(encode)\n--\n\n"
     "The Python encode ueps_encode leaves the unusual to."},
    {"ueps_register_values", lethean_ueps_register_values, METH_VARARGS,
     "ueps_register_values(Packet, Header, packet_new, header_new, default_headers)\n--\n\n"
     "The classes, the Python constructors the compiled ones leave the unusual to, "
     "and the 256 shared headers."},
    {"ueps_header_new", (PyCFunction)(void (*)(void))lethean_ueps_header_new,
     METH_FASTCALL | METH_KEYWORDS,
     "ueps_header_new(cls, intent_id, *, version=9, current_layer=5, target_layer=5, "
     "threat_score=0)\n--\n\nHeader.__new__."},
    {"ueps_packet_new", (PyCFunction)(void (*)(void))lethean_ueps_packet_new,
     METH_FASTCALL | METH_KEYWORDS,
     "ueps_packet_new(cls, header, payload=b'')\n--\n\nPacket.__new__."},
    {"ueps_encode", (PyCFunction)(void (*)(void))lethean_ueps_encode,
     METH_FASTCALL | METH_KEYWORDS,
     "ueps_encode(packet, secret)\n--\n\n"
     "The signed UEPS frame of ``packet`` (lethean.ueps.encode)."},
    {"go_string", (PyCFunction)(void (*)(void))lethean_go_string, METH_FASTCALL,
     "go_string(value, html=True)\n--\n\n"
     "A JSON string literal for ``value`` as Go writes it."},
    {"smsg_body", lethean_smsg_body, METH_O,
     "smsg_body(plaintext)\n--\n\n"
     "``(body, timestamp)`` of a plain ASCII SMSG message object, or None."},
    {"levin_register", lethean_levin_register, METH_VARARGS,
     "levin_register(section_class, {tag: value_class})\n--\n\n"
     "The classes levin_decode makes and levin_encode reads."},
    {"levin_decode", lethean_levin_decode, METH_VARARGS,
     "levin_decode(data, offset, max_depth, max_items)\n--\n\n"
     "The root Section at ``offset``, or None when Python must decode it."},
    {"levin_encode", lethean_levin_encode, METH_VARARGS,
     "levin_encode(section, max_depth)\n--\n\n"
     "Header and section bytes, or None when Python must encode it."},
    {"get_backend", lethean_get_backend, METH_NOARGS,
     "get_backend()\n--\n\nThe SHA-256 implementation in use."},
    {"set_backend", lethean_set_backend, METH_O,
     "set_backend(name)\n--\n\nUse one of ``BACKENDS`` (tests run each)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_lethean_speedups",
    "Compiled versions of lethean's hottest loops (optional; see lethean._accel).",
    -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__lethean_speedups(void)
{
    PyObject *module = PyModule_Create(&moduledef);
    PyObject *names;
    if (module == NULL)
        return NULL;
    lethean_init_escape_tables();
    if (lethean_levin_init() < 0) {
        Py_DECREF(module);
        return NULL;
    }
    lethean_sha256_use_fastest();
    names = lethean_sha256_backends();
    if (names == NULL || PyModule_AddObject(module, "BACKENDS", names) < 0
        || PyModule_AddStringConstant(module, "SOURCE_SHA256", LETHEAN_SOURCE_SHA256) < 0) {
        Py_XDECREF(names);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
