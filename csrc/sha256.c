/* SHA-256: portable C, or the x86 SHA extensions when cpuid finds them. */

#include "speedups.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#define LETHEAN_HAVE_SHANI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

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

const uint32_t lethean_sha256_iv[8] = {
    0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

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

blocks_fn lethean_sha256_blocks = blocks_portable;
static const char *backend_name = "portable";

void lethean_sha256_init(sha256_ctx *ctx)
{
    memcpy(ctx->state, lethean_sha256_iv, sizeof lethean_sha256_iv);
    ctx->total = 0;
    ctx->used = 0;
}

void lethean_sha256_update(sha256_ctx *ctx, const uint8_t *p, size_t n)
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
        lethean_sha256_blocks(ctx->state, ctx->buf, 1);
        ctx->used = 0;
    }
    if (n >= 64) {
        lethean_sha256_blocks(ctx->state, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n) {
        memcpy(ctx->buf, p, n);
        ctx->used = n;
    }
}

void lethean_sha256_final(sha256_ctx *ctx, uint8_t out[32])
{
    uint64_t bits = ctx->total * 8;
    size_t used = ctx->used;
    ctx->buf[used++] = 0x80;
    if (used > 56) {
        memset(ctx->buf + used, 0, 64 - used);
        lethean_sha256_blocks(ctx->state, ctx->buf, 1);
        used = 0;
    }
    memset(ctx->buf + used, 0, 56 - used);
    store_be64(ctx->buf + 56, bits);
    lethean_sha256_blocks(ctx->state, ctx->buf, 1);
    for (int i = 0; i < 8; i++)
        store_be32(out + 4 * i, ctx->state[i]);
}


/* Backend choice (for the tests: both must give the same bytes) */

PyObject *lethean_sha256_backends(void)
{
#ifdef LETHEAN_HAVE_SHANI
    if (cpu_has_shani())
        return Py_BuildValue("(ss)", "portable", "sha-ni");
#endif
    return Py_BuildValue("(s)", "portable");
}

/* Start on the fastest backend this CPU has. */
void lethean_sha256_use_fastest(void)
{
#ifdef LETHEAN_HAVE_SHANI
    if (cpu_has_shani()) {
        lethean_sha256_blocks = blocks_shani;
        backend_name = "sha-ni";
    }
#endif
}

PyObject *lethean_get_backend(PyObject *module, PyObject *unused)
{
    return PyUnicode_FromString(backend_name);
}

PyObject *lethean_set_backend(PyObject *module, PyObject *name)
{
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (text == NULL) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "the backend is a str");
        return NULL;
    }
    if (strcmp(text, "portable") == 0) {
        lethean_sha256_blocks = blocks_portable;
        backend_name = "portable";
        Py_RETURN_NONE;
    }
#ifdef LETHEAN_HAVE_SHANI
    if (strcmp(text, "sha-ni") == 0 && cpu_has_shani()) {
        lethean_sha256_blocks = blocks_shani;
        backend_name = "sha-ni";
        Py_RETURN_NONE;
    }
#endif
    PyErr_Format(PyExc_ValueError, "SHA-256 backend %R is not available here", name);
    return NULL;
}
