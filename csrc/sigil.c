/* The whole sigil: key stream and XChaCha20-Poly1305 */

#include "speedups.h"

/*
 * PyNaCl carries libsodium; lethean/smsg/_aead.py passes the addresses of
 * its two AEAD functions (through PyNaCl's cffi handle) and the error to
 * raise when a ciphertext does not verify.  One call then does what the
 * Python path does in three (key stream, AEAD, joining the frame), with
 * one allocation, and without the GIL for large inputs (for a small one the
 * reactor thread keeps it: another thread could hold it for a whole switch
 * interval).
 */

typedef int (*aead_encrypt_fn)(unsigned char *c, unsigned long long *clen, const unsigned char *m,
                               unsigned long long mlen, const unsigned char *ad,
                               unsigned long long adlen, const unsigned char *nsec,
                               const unsigned char *npub, const unsigned char *k);
typedef int (*aead_decrypt_fn)(unsigned char *m, unsigned long long *mlen, unsigned char *nsec,
                               const unsigned char *c, unsigned long long clen,
                               const unsigned char *ad, unsigned long long adlen,
                               const unsigned char *npub, const unsigned char *k);

static aead_encrypt_fn aead_encrypt;
static aead_decrypt_fn aead_decrypt;
static PyObject *decryption_error;

#define SIGIL_NONCE 24
#define SIGIL_KEY 32
#define SIGIL_TAG 16

PyObject *lethean_sodium_register(PyObject *module, PyObject *args)
{
    PyObject *encrypt, *decrypt, *error;
    if (!PyArg_ParseTuple(args, "O!O!O:sodium_register", &PyLong_Type, &encrypt, &PyLong_Type,
                          &decrypt, &error))
        return NULL;
    if (!PyExceptionClass_Check(error)) {
        PyErr_SetString(PyExc_TypeError, "the third argument is an exception class");
        return NULL;
    }
    void *e = PyLong_AsVoidPtr(encrypt), *d = PyLong_AsVoidPtr(decrypt);
    if (PyErr_Occurred())
        return NULL;
    if (e == NULL || d == NULL) {
        PyErr_SetString(PyExc_ValueError, "null function address");
        return NULL;
    }
    aead_encrypt = (aead_encrypt_fn)e;
    aead_decrypt = (aead_decrypt_fn)d;
    Py_INCREF(error);
    Py_XSETREF(decryption_error, error);
    Py_RETURN_NONE;
}

static int sigil_check(Py_ssize_t nonce, Py_ssize_t key)
{
    if (nonce == SIGIL_NONCE && key == SIGIL_KEY)
        return 1;
    PyErr_SetString(PyExc_ValueError, "XChaCha20-Poly1305 needs a 32-byte key and a 24-byte nonce");
    return 0;
}

/* body = AEAD(plaintext XOR key stream) | tag; non-zero if libsodium refuses. */
static int seal_in_place(uint8_t *body, const uint8_t *plaintext, size_t size,
                         const uint8_t *nonce, const uint8_t *key)
{
    lethean_keystream_xor(body, plaintext, size, nonce, SIGIL_NONCE);
    return aead_encrypt(body, NULL, body, (unsigned long long)size, NULL, 0, NULL, nonce, key);
}

/* out = the plaintext of nonce | ciphertext (size bytes) | tag; non-zero if it does not verify. */
static int open_in_place(uint8_t *out, const uint8_t *nonce, size_t size, const uint8_t *key)
{
    if (aead_decrypt(out, NULL, NULL, nonce + SIGIL_NONCE, (unsigned long long)size + SIGIL_TAG,
                     NULL, 0, nonce, key))
        return -1;
    lethean_keystream_xor(out, out, size, nonce, SIGIL_NONCE);
    return 0;
}

/* sigil_seal(prefix, nonce, key, plaintext): prefix | nonce | AEAD(plaintext XOR stream) */
PyObject *lethean_sigil_seal(PyObject *module, PyObject *args)
{
    Py_buffer prefix, nonce, key, plaintext;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*:sigil_seal", &prefix, &nonce, &key, &plaintext))
        return NULL;
    if (!lethean_registered(aead_encrypt != NULL, "sodium_register")
        || !sigil_check(nonce.len, key.len))
        goto done;
    if (plaintext.len > PY_SSIZE_T_MAX - prefix.len - SIGIL_NONCE - SIGIL_TAG) {
        PyErr_NoMemory();
        goto done;
    }
    result = PyBytes_FromStringAndSize(NULL, prefix.len + SIGIL_NONCE + plaintext.len + SIGIL_TAG);
    if (result == NULL)
        goto done;
    uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
    memcpy(out, prefix.buf, (size_t)prefix.len);
    memcpy(out + prefix.len, nonce.buf, SIGIL_NONCE);
    uint8_t *body = out + prefix.len + SIGIL_NONCE;
    int failed;
    if (plaintext.len >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        failed = seal_in_place(body, plaintext.buf, (size_t)plaintext.len, nonce.buf, key.buf);
        Py_END_ALLOW_THREADS
    } else {
        failed = seal_in_place(body, plaintext.buf, (size_t)plaintext.len, nonce.buf, key.buf);
    }
    if (failed) {
        Py_CLEAR(result);
        PyErr_SetString(PyExc_RuntimeError, "XChaCha20-Poly1305 encryption failed");
    }
done:
    PyBuffer_Release(&prefix);
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&key);
    PyBuffer_Release(&plaintext);
    return result;
}

/* sigil_open(data, offset, key): the plaintext of the sigil payload at data[offset:] */
PyObject *lethean_sigil_open(PyObject *module, PyObject *args)
{
    Py_buffer data, key;
    Py_ssize_t offset;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*ny*:sigil_open", &data, &offset, &key))
        return NULL;
    if (!lethean_registered(aead_encrypt != NULL, "sodium_register"))
        goto done;
    if (offset < 0) {
        PyErr_SetString(PyExc_ValueError, "negative offset");
        goto done;
    }
    if (data.len - offset < SIGIL_NONCE + SIGIL_TAG) {
        PyErr_Format(decryption_error, "payload of %zd bytes is shorter than nonce and tag",
                     data.len - offset);
        goto done;
    }
    if (!sigil_check(SIGIL_NONCE, key.len))
        goto done;
    Py_ssize_t size = data.len - offset - SIGIL_NONCE - SIGIL_TAG;
    const uint8_t *nonce = (const uint8_t *)data.buf + offset;
    result = PyBytes_FromStringAndSize(NULL, size);
    if (result == NULL)
        goto done;
    uint8_t empty, *out = size ? (uint8_t *)PyBytes_AS_STRING(result) : &empty;
    int failed;
    if (size >= RELEASE_GIL_BYTES) {
        Py_BEGIN_ALLOW_THREADS
        failed = open_in_place(out, nonce, (size_t)size, key.buf);
        Py_END_ALLOW_THREADS
    } else {
        failed = open_in_place(out, nonce, (size_t)size, key.buf);
    }
    if (failed) {
        Py_CLEAR(result);
        PyErr_SetString(decryption_error, "authentication failed");
    }
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&key);
    return result;
}
