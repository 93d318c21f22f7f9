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
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdint.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LETHEAN_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

#ifndef LETHEAN_SOURCE_SHA256
#define LETHEAN_SOURCE_SHA256 ""
#endif

/* Inputs at least this long are hashed with the GIL released. */
#define RELEASE_GIL_BYTES (64 * 1024)

/* ------------------------------------------------------------------ */
/* SHA-256                                                             */

static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static const uint32_t IV256[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

typedef void (*blocks_fn)(uint32_t state[8], const uint8_t *data, size_t nblocks);

static inline uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void blocks_portable(uint32_t state[8], const uint8_t *data, size_t nblocks)
{
    uint32_t w[64];
    while (nblocks--) {
        int i;
        for (i = 0; i < 16; i++)
            w[i] = load_be32(data + 4 * i);
        for (i = 16; i < 64; i++) {
            uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
        uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
        for (i = 0; i < 64; i++) {
            uint32_t t1 = h + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g))
                          + K256[i] + w[i];
            uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
        data += 64;
    }
}

#ifdef LETHEAN_HAVE_SHANI
/*
 * The SHA extensions keep the state as ABEF and CDGH and do two rounds per
 * sha256rnds2; the message schedule runs four words at a time in a ring of
 * four vectors.
 */
__attribute__((target("sha,ssse3,sse4.1")))
static void blocks_shani(uint32_t state[8], const uint8_t *data, size_t nblocks)
{
    const __m128i swap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&state[0]);
    __m128i state1 = _mm_loadu_si128((const __m128i *)&state[4]);
    tmp = _mm_shuffle_epi32(tmp, 0xB1);            /* CDAB */
    state1 = _mm_shuffle_epi32(state1, 0x1B);      /* EFGH */
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8); /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);   /* CDGH */

    while (nblocks--) {
        __m128i abef = state0, cdgh = state1, w[4];
        int j;
        for (j = 0; j < 4; j++)
            w[j] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(data + 16 * j)), swap);
        for (j = 0; j < 16; j++) {
            if (j >= 4) {
                /* w[t] = w[t-16] + s0(w[t-15]) + w[t-7] + s1(w[t-2]), four at a time */
                __m128i t = _mm_sha256msg1_epu32(w[j & 3], w[(j + 1) & 3]);
                t = _mm_add_epi32(t, _mm_alignr_epi8(w[(j + 3) & 3], w[(j + 2) & 3], 4));
                w[j & 3] = _mm_sha256msg2_epu32(t, w[(j + 3) & 3]);
            }
            __m128i msg = _mm_add_epi32(w[j & 3], _mm_loadu_si128((const __m128i *)&K256[4 * j]));
            state1 = _mm_sha256rnds2_epu32(state1, state0, msg);
            msg = _mm_shuffle_epi32(msg, 0x0E);
            state0 = _mm_sha256rnds2_epu32(state0, state1, msg);
        }
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
        data += 64;
    }

    tmp = _mm_shuffle_epi32(state0, 0x1B);         /* FEBA */
    state1 = _mm_shuffle_epi32(state1, 0xB1);      /* DCHG */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);   /* DCBA */
    state1 = _mm_alignr_epi8(state1, tmp, 8);      /* HGFE */
    _mm_storeu_si128((__m128i *)&state[0], state0);
    _mm_storeu_si128((__m128i *)&state[4], state1);
}

static int cpu_has_shani(void)
{
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    if (!(c & (1u << 9)) || !(c & (1u << 19))) /* SSSE3, SSE4.1 */
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 29) & 1; /* SHA */
}
#endif

static blocks_fn sha256_blocks = blocks_portable;
static const char *backend_name = "portable";

typedef struct {
    uint32_t state[8];
    uint64_t total;
    uint8_t buf[64];
    size_t used;
} sha256_ctx;

static void sha256_init(sha256_ctx *ctx)
{
    memcpy(ctx->state, IV256, sizeof IV256);
    ctx->total = 0;
    ctx->used = 0;
}

static void sha256_update(sha256_ctx *ctx, const uint8_t *p, size_t n)
{
    ctx->total += n;
    if (ctx->used) {
        size_t take = 64 - ctx->used;
        if (take > n)
            take = n;
        memcpy(ctx->buf + ctx->used, p, take);
        ctx->used += take;
        p += take;
        n -= take;
        if (ctx->used < 64)
            return;
        sha256_blocks(ctx->state, ctx->buf, 1);
        ctx->used = 0;
    }
    if (n >= 64) {
        sha256_blocks(ctx->state, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n) {
        memcpy(ctx->buf, p, n);
        ctx->used = n;
    }
}

static void sha256_final(sha256_ctx *ctx, uint8_t out[32])
{
    uint64_t bits = ctx->total * 8;
    size_t used = ctx->used;
    ctx->buf[used++] = 0x80;
    if (used > 56) {
        memset(ctx->buf + used, 0, 64 - used);
        sha256_blocks(ctx->state, ctx->buf, 1);
        used = 0;
    }
    memset(ctx->buf + used, 0, 56 - used);
    store_be64(ctx->buf + 56, bits);
    sha256_blocks(ctx->state, ctx->buf, 1);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->state[i]);
}

/* ------------------------------------------------------------------ */
/* The sigil's key stream                                              */

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

    memcpy(mid, IV256, sizeof mid);
    if (whole)
        sha256_blocks(mid, nonce, whole / 64);
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
        sha256_blocks(state, tail, tail_blocks);
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
        sha256_blocks(state, tail, tail_blocks);
        xor_digest(out, in, state, n);
        out += n;
        in += n;
        length -= n;
    }
}

static void keystream_xor(uint8_t *out, const uint8_t *in, size_t length,
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

static PyObject *py_xor_obfuscate(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "xor_obfuscate() takes 2 arguments (%zd given)", nargs);
        return NULL;
    }
    return obfuscated(args[0], args[1], 0, 0);
}

static PyObject *py_xor_obfuscate_at(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
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

/* ------------------------------------------------------------------ */
/* The whole sigil: key stream and XChaCha20-Poly1305                  */

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

static PyObject *py_sodium_register(PyObject *module, PyObject *args)
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

/* Whether the registration the caller needs happened (an error if not). */
static int registered(int done, const char *call)
{
    if (!done)
        PyErr_Format(PyExc_RuntimeError, "%s() was not called", call);
    return done;
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
    keystream_xor(body, plaintext, size, nonce, SIGIL_NONCE);
    return aead_encrypt(body, NULL, body, (unsigned long long)size, NULL, 0, NULL, nonce, key);
}

/* out = the plaintext of nonce | ciphertext (size bytes) | tag; non-zero if it does not verify. */
static int open_in_place(uint8_t *out, const uint8_t *nonce, size_t size, const uint8_t *key)
{
    if (aead_decrypt(out, NULL, NULL, nonce + SIGIL_NONCE, (unsigned long long)size + SIGIL_TAG,
                     NULL, 0, nonce, key))
        return -1;
    keystream_xor(out, out, size, nonce, SIGIL_NONCE);
    return 0;
}

/* sigil_seal(prefix, nonce, key, plaintext): prefix | nonce | AEAD(plaintext XOR stream) */
static PyObject *py_sigil_seal(PyObject *module, PyObject *args)
{
    Py_buffer prefix, nonce, key, plaintext;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*y*y*y*:sigil_seal", &prefix, &nonce, &key, &plaintext))
        return NULL;
    if (!registered(aead_encrypt != NULL, "sodium_register") || !sigil_check(nonce.len, key.len))
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
static PyObject *py_sigil_open(PyObject *module, PyObject *args)
{
    Py_buffer data, key;
    Py_ssize_t offset;
    PyObject *result = NULL;
    if (!PyArg_ParseTuple(args, "y*ny*:sigil_open", &data, &offset, &key))
        return NULL;
    if (!registered(aead_encrypt != NULL, "sodium_register"))
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

/* ------------------------------------------------------------------ */
/* HMAC-SHA256                                                         */

/*
 * HMAC-SHA256 begins with one block of the key XOR ipad and one of the key
 * XOR opad.  A link signs every UEPS frame with its one secret, so the two
 * hash states after those blocks are kept per key in a small direct-mapped
 * table: its size is fixed, and a collision only costs computing them again.
 */
typedef struct {
    uint32_t inner[8];
    uint32_t outer[8];
} hmac_key_state;

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
        sha256_init(&k);
        sha256_update(&k, key, length);
        sha256_final(&k, pad);
    } else {
        memcpy(pad, key, length);
    }
    for (int i = 0; i < 64; i++)
        pad[i] ^= 0x36;
    memcpy(out->inner, IV256, sizeof IV256);
    sha256_blocks(out->inner, pad, 1);
    for (int i = 0; i < 64; i++)
        pad[i] ^= 0x36 ^ 0x5c;
    memcpy(out->outer, IV256, sizeof IV256);
    sha256_blocks(out->outer, pad, 1);
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
static void hmac_key(hmac_key_state *out, const uint8_t *key, size_t length)
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
static void hmac_begin(sha256_ctx *inner, const hmac_key_state *key)
{
    memcpy(inner->state, key->inner, sizeof inner->state);
    inner->total = 64;
    inner->used = 0;
}

static void hmac_end(sha256_ctx *inner, const hmac_key_state *key, uint8_t mac[32])
{
    sha256_ctx outer;
    sha256_final(inner, mac);
    memcpy(outer.state, key->outer, sizeof outer.state);
    outer.total = 64;
    outer.used = 0;
    sha256_update(&outer, mac, 32);
    sha256_final(&outer, mac);
}

static PyObject *py_hmac_sha256(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
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
    hmac_key(&state, key.buf, (size_t)key.len);
    PyBuffer_Release(&key);
    hmac_begin(&inner, &state);
    for (Py_ssize_t i = 1; i < nargs; i++) {
        if (PyObject_GetBuffer(args[i], &chunk, PyBUF_SIMPLE) < 0)
            return NULL;
        if (chunk.len >= RELEASE_GIL_BYTES) {
            Py_BEGIN_ALLOW_THREADS
            sha256_update(&inner, chunk.buf, (size_t)chunk.len);
            Py_END_ALLOW_THREADS
        } else {
            sha256_update(&inner, chunk.buf, (size_t)chunk.len);
        }
        PyBuffer_Release(&chunk);
    }
    hmac_end(&inner, &state, mac);
    return PyBytes_FromStringAndSize((const char *)mac, 32);
}

/* ------------------------------------------------------------------ */
/* UEPS frames                                                         */

/*
 * ueps_encode(packet, secret) is lethean.ueps.encode: a Packet of a Header
 * with exact ints, a bytes payload of at most 65535 bytes and a buffer
 * secret are framed here; anything else goes to the Python encode that
 * ueps_register_encode gave, which builds the frame or raises.
 */

#define UEPS_HEADER_BYTES 21
#define UEPS_PAYLOAD_AT (UEPS_HEADER_BYTES + 3 + 32 + 3)

static PyObject *slot_of(PyObject *cls, const char *name);

static PyObject *ueps_python_encode, *ueps_packet_class, *ueps_header_class;
/* Packet.header, Packet.payload, then the Header fields in wire order. */
static const char *const ueps_slot_names[7] = {
    "header", "payload", "version", "current_layer", "target_layer", "intent_id", "threat_score",
};
static PyObject *ueps_slots[7];

static PyObject *py_ueps_register_encode(PyObject *module, PyObject *encode)
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
    hmac_key(&state, key.buf, (size_t)key.len);
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
    hmac_begin(&inner, &state);
    sha256_update(&inner, out, UEPS_HEADER_BYTES);
    sha256_update(&inner, out + UEPS_PAYLOAD_AT, (size_t)size);
    hmac_end(&inner, &state, out + 24);
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

static PyObject *py_ueps_register_values(PyObject *module, PyObject *args)
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
    for (int i = 0; i < 7; i++) {
        Py_CLEAR(ueps_slots[i]);
        if ((ueps_slots[i] = slot_of(i < 2 ? packet : header, ueps_slot_names[i])) == NULL)
            return NULL;
        if (i >= 2 && ueps_header_names[i - 2] == NULL
            && (ueps_header_names[i - 2] = PyUnicode_InternFromString(ueps_slot_names[i])) == NULL)
            return NULL;
    }
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

static PyObject *py_ueps_header_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    if (!registered(ueps_header_python_new != NULL, "ueps_register_values"))
        return NULL;
    PyObject *header = ueps_default_header(args, nargs, kwnames);
    if (header != NULL)
        return header;
    return PyObject_Vectorcall(ueps_header_python_new, args, (size_t)nargs, kwnames);
}

static PyObject *py_ueps_packet_new(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                    PyObject *kwnames)
{
    if (!registered(ueps_packet_python_new != NULL, "ueps_register_values"))
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

static PyObject *py_ueps_encode(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                                PyObject *kwnames)
{
    if (!registered(ueps_python_encode != NULL && ueps_packet_class != NULL,
                    "ueps_register_encode and ueps_register_values"))
        return NULL;
    if (nargs == 2 && kwnames == NULL) {
        PyObject *frame = ueps_frame(args[0], args[1]);
        if (frame != NULL)
            return frame;
    }
    return PyObject_Vectorcall(ueps_python_encode, args, (size_t)nargs, kwnames);
}

/* ------------------------------------------------------------------ */
/* Go's JSON string literals                                           */

/*
 * Python's json escapes (", \, \b \f \n \r \t, other controls as \u00xx),
 * plus what Go adds: U+2028 and U+2029 always, <, > and & when ``html``;
 * each surrogate code point (not valid UTF-8) becomes U+FFFD.
 */

static const char hexdigits[] = "0123456789abcdef";

/* Extra output characters of each Latin-1 character: 0, 1 or 5. */
static unsigned char extra_plain[256], extra_html[256];

static void init_escape_tables(void)
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

#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define LETHEAN_SIMD_SCAN 1
#include <emmintrin.h>
#endif

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

static PyObject *py_go_string(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
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

/* ------------------------------------------------------------------ */
/* The SMSG message object: the common case                            */

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

static PyObject *py_smsg_body(PyObject *module, PyObject *arg)
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

/* ------------------------------------------------------------------ */
/* Levin portable storage: the common case                             */

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

static PyObject *slot_of(PyObject *cls, const char *name)
{
    PyObject *slot = PyObject_GetAttrString(cls, name);
    if (slot != NULL
        && (Py_TYPE(slot)->tp_descr_get == NULL || Py_TYPE(slot)->tp_descr_set == NULL)) {
        PyErr_Format(PyExc_TypeError, "%R.%s is not a slot", cls, name);
        Py_CLEAR(slot);
    }
    return slot;
}

static PyObject *py_levin_register(PyObject *module, PyObject *args)
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
        if ((lv_value[tag] = slot_of(cls, "value")) == NULL)
            return NULL;
    }
    if (!PyType_Check(section)) {
        PyErr_SetString(PyExc_TypeError, "Section must be a class");
        return NULL;
    }
    Py_INCREF(section);
    lv_class[12] = section;
    if ((lv_entries = slot_of(section, "_entries")) == NULL
        || (lv_hash = slot_of(section, "_hash")) == NULL)
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

static PyObject *py_levin_decode(PyObject *module, PyObject *args)
{
    Py_buffer data;
    Py_ssize_t offset;
    long max_depth;
    long long max_items;
    PyObject *section = NULL;
    int status;
    if (!PyArg_ParseTuple(args, "y*nlL:levin_decode", &data, &offset, &max_depth, &max_items))
        return NULL;
    if (!registered(lv_entries != NULL, "levin_register") || offset < 0 || offset > data.len) {
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

static PyObject *py_levin_encode(PyObject *module, PyObject *args)
{
    PyObject *section, *result = NULL;
    long max_depth;
    lv_writer w = {NULL, 0, 0};
    int status;
    if (!PyArg_ParseTuple(args, "Ol:levin_encode", &section, &max_depth)
        || !registered(lv_entries != NULL, "levin_register"))
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

/* ------------------------------------------------------------------ */
/* Backend choice (for the tests: both must give the same bytes)       */

static PyObject *backends(void)
{
#ifdef LETHEAN_HAVE_SHANI
    if (cpu_has_shani())
        return Py_BuildValue("(ss)", "portable", "sha-ni");
#endif
    return Py_BuildValue("(s)", "portable");
}

static PyObject *py_get_backend(PyObject *module, PyObject *unused)
{
    return PyUnicode_FromString(backend_name);
}

static PyObject *py_set_backend(PyObject *module, PyObject *name)
{
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (text == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "the backend is a str");
        return NULL;
    }
    if (strcmp(text, "portable") == 0) {
        sha256_blocks = blocks_portable;
        backend_name = "portable";
        Py_RETURN_NONE;
    }
#ifdef LETHEAN_HAVE_SHANI
    if (strcmp(text, "sha-ni") == 0 && cpu_has_shani()) {
        sha256_blocks = blocks_shani;
        backend_name = "sha-ni";
        Py_RETURN_NONE;
    }
#endif
    PyErr_Format(PyExc_ValueError, "SHA-256 backend %R is not available here", name);
    return NULL;
}

static PyMethodDef methods[] = {
    {"xor_obfuscate", (PyCFunction)(void (*)(void))py_xor_obfuscate, METH_FASTCALL,
     "xor_obfuscate(data, nonce)\n--\n\n"
     "``data`` XOR the SHA-256 key stream of ``nonce`` (the sigil pre-obfuscation)."},
    {"xor_obfuscate_at", (PyCFunction)(void (*)(void))py_xor_obfuscate_at, METH_FASTCALL,
     "xor_obfuscate_at(data, nonce, offset)\n--\n\n"
     "``data`` XOR the key stream of ``nonce`` from byte ``offset`` on."},
    {"sodium_register", py_sodium_register, METH_VARARGS,
     "sodium_register(encrypt_address, decrypt_address, error)\n--\n\n"
     "libsodium's XChaCha20-Poly1305 functions, and the error of a failed check."},
    {"sigil_seal", py_sigil_seal, METH_VARARGS,
     "sigil_seal(prefix, nonce, key, plaintext)\n--\n\n"
     "``prefix | nonce | XChaCha20-Poly1305(plaintext XOR key stream)``."},
    {"sigil_open", py_sigil_open, METH_VARARGS,
     "sigil_open(data, offset, key)\n--\n\n"
     "The plaintext of the sigil payload ``data[offset:]``."},
    {"hmac_sha256", (PyCFunction)(void (*)(void))py_hmac_sha256, METH_FASTCALL,
     "hmac_sha256(key, *chunks)\n--\n\n"
     "HMAC-SHA256 under ``key`` of the chunks joined."},
    {"ueps_register_encode", py_ueps_register_encode, METH_O,
     "ueps_register_encode(encode)\n--\n\n"
     "The Python encode ueps_encode leaves the unusual to."},
    {"ueps_register_values", py_ueps_register_values, METH_VARARGS,
     "ueps_register_values(Packet, Header, packet_new, header_new, default_headers)\n--\n\n"
     "The classes, the Python constructors the compiled ones leave the unusual to, "
     "and the 256 shared headers."},
    {"ueps_header_new", (PyCFunction)(void (*)(void))py_ueps_header_new,
     METH_FASTCALL | METH_KEYWORDS,
     "ueps_header_new(cls, intent_id, *, version=9, current_layer=5, target_layer=5, "
     "threat_score=0)\n--\n\nHeader.__new__."},
    {"ueps_packet_new", (PyCFunction)(void (*)(void))py_ueps_packet_new,
     METH_FASTCALL | METH_KEYWORDS,
     "ueps_packet_new(cls, header, payload=b'')\n--\n\nPacket.__new__."},
    {"ueps_encode", (PyCFunction)(void (*)(void))py_ueps_encode, METH_FASTCALL | METH_KEYWORDS,
     "ueps_encode(packet, secret)\n--\n\n"
     "The signed UEPS frame of ``packet`` (lethean.ueps.encode)."},
    {"go_string", (PyCFunction)(void (*)(void))py_go_string, METH_FASTCALL,
     "go_string(value, html=True)\n--\n\n"
     "A JSON string literal for ``value`` as Go writes it."},
    {"smsg_body", py_smsg_body, METH_O,
     "smsg_body(plaintext)\n--\n\n"
     "``(body, timestamp)`` of a plain ASCII SMSG message object, or None."},
    {"levin_register", py_levin_register, METH_VARARGS,
     "levin_register(section_class, {tag: value_class})\n--\n\n"
     "The classes levin_decode makes and levin_encode reads."},
    {"levin_decode", py_levin_decode, METH_VARARGS,
     "levin_decode(data, offset, max_depth, max_items)\n--\n\n"
     "The root Section at ``offset``, or None when Python must decode it."},
    {"levin_encode", py_levin_encode, METH_VARARGS,
     "levin_encode(section, max_depth)\n--\n\n"
     "Header and section bytes, or None when Python must encode it."},
    {"get_backend", py_get_backend, METH_NOARGS,
     "get_backend()\n--\n\nThe SHA-256 implementation in use."},
    {"set_backend", py_set_backend, METH_O,
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
    init_escape_tables();
    if ((lv_empty_args = PyTuple_New(0)) == NULL) {
        Py_DECREF(module);
        return NULL;
    }
#ifdef LETHEAN_HAVE_SHANI
    if (cpu_has_shani()) {
        sha256_blocks = blocks_shani;
        backend_name = "sha-ni";
    }
#endif
    names = backends();
    if (names == NULL || PyModule_AddObject(module, "BACKENDS", names) < 0
        || PyModule_AddStringConstant(module, "SOURCE_SHA256", LETHEAN_SOURCE_SHA256) < 0) {
        Py_XDECREF(names);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
