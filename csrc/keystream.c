/* The sigil's key stream */

#include "speedups.h"

/* out = in XOR the first n (<= 32) bytes of the digest in ``state``. */
static inline void xor_digest(uint8_t *out, const uint8_t *in, const uint32_t state[8], size_t n)
{
    uint8_t digest[32];
    for (int i = 0; i < 8; i++)
        store_be32(digest + 4 * i, state[i]);
    if (n == 32) {
        for (int i = 0; i < 32; i += 8) {
            uint64_t x, y;
            memcpy(&x, in + i, 8);
            memcpy(&y, digest + i, 8);
            x ^= y;
            memcpy(out + i, &x, 8);
        }
        return;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = in[i] ^ digest[i];
}

/*
 * data XOR SHA-256(nonce || u64_be(i)) block by block, from block
 * ``counter`` on and skipping the first ``skip`` (< 32) bytes of its digest:
 * a stretch of a longer plaintext's key stream.  The nonce's whole 64-byte
 * blocks are hashed once; each counter then costs one or two compressions
 * of a prepared tail (rest of the nonce, counter, padding).
 */
static void keystream_xor_at(uint8_t *out, const uint8_t *in, size_t length,
                             const uint8_t *nonce, size_t nonce_length,
                             uint64_t counter, size_t skip)
{
    uint32_t mid[8];
    uint8_t tail[128];
    size_t whole = nonce_length & ~(size_t)63;
    size_t rest = nonce_length - whole;
    size_t tail_blocks = rest + 8 + 9 <= 64 ? 1 : 2;

    memcpy(mid, lethean_sha256_iv, sizeof mid);
    if (whole)
        lethean_sha256_blocks(mid, nonce, whole / 64);
    memset(tail, 0, sizeof tail);
    memcpy(tail, nonce + whole, rest);
    tail[rest + 8] = 0x80;
    store_be64(tail + 64 * tail_blocks - 8, (uint64_t)(nonce_length + 8) * 8);

    if (skip && length) {
        uint32_t state[8];
        uint8_t digest[32];
        size_t n = length < 32 - skip ? length : 32 - skip;
        store_be64(tail + rest, counter++);
        memcpy(state, mid, sizeof state);
        lethean_sha256_blocks(state, tail, tail_blocks);
        for (int i = 0; i < 8; i++)
            store_be32(digest + 4 * i, state[i]);
        for (size_t i = 0; i < n; i++)
            out[i] = in[i] ^ digest[skip + i];
        out += n;
        in += n;
        length -= n;
    }
    for (; length; counter++) {
        uint32_t state[8];
        size_t n = length < 32 ? length : 32;
        store_be64(tail + rest, counter);
        memcpy(state, mid, sizeof state);
        lethean_sha256_blocks(state, tail, tail_blocks);
        xor_digest(out, in, state, n);
        out += n;
        in += n;
        length -= n;
    }
}

void lethean_keystream_xor(uint8_t *out, const uint8_t *in, size_t length,
                          const uint8_t *nonce, size_t nonce_length)
{
    keystream_xor_at(out, in, length, nonce, nonce_length, 0, 0);
}

/* bytes: ``data`` XOR the key stream of ``nonce`` from byte 32 * counter + skip on. */
static PyObject *obfuscated(PyObject *data_object, PyObject *nonce_object, uint64_t counter,
                            size_t skip)
{
    Py_buffer data, nonce;
    PyObject *result = NULL;

    if (PyObject_GetBuffer(data_object, &data, PyBUF_SIMPLE) < 0)
        return NULL;
    if (PyObject_GetBuffer(nonce_object, &nonce, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    result = PyBytes_FromStringAndSize(NULL, data.len);
    if (result != NULL && data.len) {
        uint8_t *out = (uint8_t *)PyBytes_AS_STRING(result);
        if (data.len >= RELEASE_GIL_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            keystream_xor_at(out, data.buf, (size_t)data.len, nonce.buf, (size_t)nonce.len,
                             counter, skip);
            Py_END_ALLOW_THREADS
        } else {
            keystream_xor_at(out, data.buf, (size_t)data.len, nonce.buf, (size_t)nonce.len,
                             counter, skip);
        }
    }
    PyBuffer_Release(&nonce);
    PyBuffer_Release(&data);
    return result;
}

PyObject *lethean_xor_obfuscate(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "xor_obfuscate() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    return obfuscated(args[0], args[1], 0, 0);
}

PyObject *lethean_xor_obfuscate_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t offset;

    if (nargs != 3) {
        PyErr_Format(PyExc_TypeError, "xor_obfuscate_at() takes 3 arguments (%zd given)", nargs);
        return NULL;
    }
    if (!PyLong_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "the offset must be an int");
        return NULL;
    }
    offset = PyLong_AsSsize_t(args[2]);
    if (offset == -1 && PyErr_Occurred())
        return NULL;
    if (offset < 0) {
        PyErr_SetString(PyExc_ValueError, "negative offset");
        return NULL;
    }
    return obfuscated(args[0], args[1], (uint64_t)offset / 32, (size_t)offset % 32);
}
