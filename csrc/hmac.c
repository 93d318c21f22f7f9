/* HMAC-SHA256 */

#include "speedups.h"

/*
 * HMAC-SHA256 begins with one block of the key XOR ipad and one of the key
 * XOR opad.  A link signs every UEPS frame with its one secret, so the two
 * hash states after those blocks are kept per key in a small direct-mapped
 * table: its size is fixed, and a collision only costs computing them again.
 */
#define HMAC_KEY_SLOTS 64
#define HMAC_CACHED_KEY_BYTES 64

static struct {
    int filled;
    size_t length;
    uint8_t key[HMAC_CACHED_KEY_BYTES];
    hmac_key_state state;
} hmac_keys[HMAC_KEY_SLOTS];

static void hmac_key_compute(hmac_key_state *out, const uint8_t *key, size_t length)
{
    uint8_t pad[64];
    memset(pad, 0, 64);
    if (length > 64) {
        sha256_ctx k;
        lethean_sha256_init(&k);
        lethean_sha256_update(&k, key, length);
        lethean_sha256_final(&k, pad);
    } else {
        memcpy(pad, key, length);
    }
    for (int i = 0; i < 64; i++)
        pad[i] ^= 0x36;
    memcpy(out->inner, lethean_sha256_iv, sizeof lethean_sha256_iv);
    lethean_sha256_blocks(out->inner, pad, 1);
    for (int i = 0; i < 64; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    memcpy(out->outer, lethean_sha256_iv, sizeof lethean_sha256_iv);
    lethean_sha256_blocks(out->outer, pad, 1);
}

/* The table slot of a key: any mix of its bytes will do, it only spreads keys. */
static size_t hmac_key_slot(const uint8_t *key, size_t length)
{
    uint64_t h = length, word;
    size_t i = 0;
    for (; i + 8 <= length; i += 8) {
        memcpy(&word, key + i, 8);
        h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
        h ^= h >> 29;
    }
    for (; i < length; i++)
        h = (h ^ key[i]) * 0x100000001b3ULL;
    return (size_t)((h ^ (h >> 32)) % HMAC_KEY_SLOTS);
}

/* ``out`` = the key states of ``key``, from the table when it holds them (needs the GIL). */
void lethean_hmac_key(hmac_key_state *out, const uint8_t *key, size_t length)
{
    if (length > HMAC_CACHED_KEY_BYTES) {
        hmac_key_compute(out, key, length);
        return;
    }
    size_t slot = hmac_key_slot(key, length);
    if (!hmac_keys[slot].filled || hmac_keys[slot].length != length
        || memcmp(hmac_keys[slot].key, key, length) != 0) {
        hmac_key_compute(&hmac_keys[slot].state, key, length);
        memcpy(hmac_keys[slot].key, key, length);
        hmac_keys[slot].length = length;
        hmac_keys[slot].filled = 1;
    }
    *out = hmac_keys[slot].state;
}

/* The inner hash, past its key block. */
void lethean_hmac_begin(sha256_ctx *inner, const hmac_key_state *key)
{
    memcpy(inner->state, key->inner, sizeof inner->state);
    inner->total = 64;
    inner->used = 0;
}

void lethean_hmac_end(sha256_ctx *inner, const hmac_key_state *key, uint8_t mac[32])
{
    sha256_ctx outer;
    lethean_sha256_final(inner, mac);
    memcpy(outer.state, key->outer, sizeof outer.state);
    outer.total = 64;
    outer.used = 0;
    lethean_sha256_update(&outer, mac, 32);
    lethean_sha256_final(&outer, mac);
}

PyObject *lethean_hmac_sha256(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    Py_buffer key, chunk;
    hmac_key_state state;
    uint8_t mac[32];
    sha256_ctx inner;

    if (nargs < 1) {
        PyErr_SetString(PyExc_TypeError, "hmac_sha256() needs a key");
        return NULL;
    }
    if (PyObject_GetBuffer(args[0], &key, PyBUF_SIMPLE) < 0)
        return NULL;
    lethean_hmac_key(&state, key.buf, (size_t)key.len);
    PyBuffer_Release(&key);
    lethean_hmac_begin(&inner, &state);
    for (Py_ssize_t i = 1; i < nargs; i++) {
        if (PyObject_GetBuffer(args[i], &chunk, PyBUF_SIMPLE) < 0)
            return NULL;
        if (chunk.len >= RELEASE_GIL_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            lethean_sha256_update(&inner, chunk.buf, (size_t)chunk.len);
            Py_END_ALLOW_THREADS
        } else {
            lethean_sha256_update(&inner, chunk.buf, (size_t)chunk.len);
        }
        PyBuffer_Release(&chunk);
    }
    lethean_hmac_end(&inner, &state, mac);
    return PyBytes_FromStringAndSize((const char *)mac, 32);
}
