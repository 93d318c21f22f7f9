/*
 * What the files of _lethean_speedups share: one extension module built
 * from several sources (setup.py lists them).  Each file holds one concept
 * and keeps everything static but what another file calls; those names
 * start with lethean_ and are hidden from outside the module.
 */

#ifndef LETHEAN_SPEEDUPS_H
#define LETHEAN_SPEEDUPS_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <limits.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__) && (defined(__GNUC__) || defined(__clang__))
#define LETHEAN_SIMD_SCAN 1
#include <emmintrin.h>
#endif

#if defined(__GNUC__) || defined(__clang__)
#define LETHEAN_PRIVATE __attribute__((visibility("hidden")))
#else
#define LETHEAN_PRIVATE
#endif

/* Inputs at least this long are hashed with the GIL released. */
#define RELEASE_GIL_BYTES (64 * 1024)

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

/* SHA-256 and the choice of its backend (sha256.c) */

typedef void (*blocks_fn)(uint32_t state[8], const uint8_t *data, size_t nblocks);

typedef struct {
    uint32_t state[8];
    uint64_t total;
    uint8_t buf[64];
    size_t used;
} sha256_ctx;

LETHEAN_PRIVATE extern const uint32_t lethean_sha256_iv[8];
LETHEAN_PRIVATE extern blocks_fn lethean_sha256_blocks;
LETHEAN_PRIVATE void lethean_sha256_init(sha256_ctx *ctx);
LETHEAN_PRIVATE void lethean_sha256_update(sha256_ctx *ctx, const uint8_t *p, size_t n);
LETHEAN_PRIVATE void lethean_sha256_final(sha256_ctx *ctx, uint8_t out[32]);
LETHEAN_PRIVATE void lethean_sha256_use_fastest(void);
LETHEAN_PRIVATE PyObject *lethean_sha256_backends(void);
LETHEAN_PRIVATE PyObject *lethean_get_backend(PyObject *module, PyObject *unused);
LETHEAN_PRIVATE PyObject *lethean_set_backend(PyObject *module, PyObject *name);

/* The sigil's key stream (keystream.c) */

LETHEAN_PRIVATE void lethean_keystream_xor(uint8_t *out, const uint8_t *in, size_t length,
                                           const uint8_t *nonce, size_t nonce_length);
LETHEAN_PRIVATE PyObject *lethean_xor_obfuscate(PyObject *module, PyObject *const *args,
                                                Py_ssize_t nargs);
LETHEAN_PRIVATE PyObject *lethean_xor_obfuscate_at(PyObject *module, PyObject *const *args,
                                                   Py_ssize_t nargs);

/* The whole sigil (sigil.c) */

LETHEAN_PRIVATE PyObject *lethean_sodium_register(PyObject *module, PyObject *args);
LETHEAN_PRIVATE PyObject *lethean_sigil_seal(PyObject *module, PyObject *args);
LETHEAN_PRIVATE PyObject *lethean_sigil_open(PyObject *module, PyObject *args);

/* HMAC-SHA256 and its key table (hmac.c) */

typedef struct {
    uint32_t inner[8];
    uint32_t outer[8];
} hmac_key_state;

LETHEAN_PRIVATE void lethean_hmac_key(hmac_key_state *out, const uint8_t *key, size_t length);
LETHEAN_PRIVATE void lethean_hmac_begin(sha256_ctx *inner, const hmac_key_state *key);
LETHEAN_PRIVATE void lethean_hmac_end(sha256_ctx *inner, const hmac_key_state *key,
                                      uint8_t mac[32]);
LETHEAN_PRIVATE PyObject *lethean_hmac_sha256(PyObject *module, PyObject *const *args,
                                              Py_ssize_t nargs);

/* UEPS frames, Header and Packet (ueps.c) */

LETHEAN_PRIVATE PyObject *lethean_ueps_register_encode(PyObject *module, PyObject *encode);
LETHEAN_PRIVATE PyObject *lethean_ueps_register_values(PyObject *module, PyObject *args);
LETHEAN_PRIVATE PyObject *lethean_ueps_header_new(PyObject *module, PyObject *const *args,
                                                  Py_ssize_t nargs, PyObject *kwnames);
LETHEAN_PRIVATE PyObject *lethean_ueps_packet_new(PyObject *module, PyObject *const *args,
                                                  Py_ssize_t nargs, PyObject *kwnames);
LETHEAN_PRIVATE PyObject *lethean_ueps_encode(PyObject *module, PyObject *const *args,
                                              Py_ssize_t nargs, PyObject *kwnames);

/* Go's JSON string literals (gojson.c) */

LETHEAN_PRIVATE void lethean_init_escape_tables(void);
LETHEAN_PRIVATE PyObject *lethean_go_string(PyObject *module, PyObject *const *args,
                                            Py_ssize_t nargs);

/* The SMSG message object (smsg.c) */

LETHEAN_PRIVATE PyObject *lethean_smsg_body(PyObject *module, PyObject *arg);

/* Levin portable storage (levin.c) */

LETHEAN_PRIVATE int lethean_levin_init(void);
LETHEAN_PRIVATE PyObject *lethean_levin_register(PyObject *module, PyObject *args);
LETHEAN_PRIVATE PyObject *lethean_levin_decode(PyObject *module, PyObject *args);
LETHEAN_PRIVATE PyObject *lethean_levin_encode(PyObject *module, PyObject *args);

/* What Python registers with the module (_lethean_speedups.c) */

LETHEAN_PRIVATE int lethean_registered(int done, const char *call);
LETHEAN_PRIVATE PyObject *lethean_slot_of(PyObject *cls, const char *name);

#endif
