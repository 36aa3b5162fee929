// SPDX-License-Identifier: MIT
/*
 * ChaCha20-Poly1305 (RFC 8439) on the OpenSSL that Node itself links, a whole batch of
 * WireGuard transport messages per call: the per-packet loop runs here, every per-batch decision
 * (peer, keypair, nonce, replay window) stays in TypeScript (src/aead-batch.ts).
 *
 * Node exports its OpenSSL's EVP_* symbols, and node-gyp puts its headers (include/node/openssl)
 * on the include path. The functions are still looked up at run time with dlsym() rather than
 * linked: a Node built against a shared libcrypto, or one that hides the symbols, then leaves
 * `AEAD` false and the addon loads anyway (TUN and UDP keep working; the TypeScript side falls
 * back to node:crypto). The headers give the types and control codes only.
 *
 * One cipher context per environment (the main thread and each worker thread have their own),
 * created on first use, freed with the environment. On OpenSSL 3 the cipher is fetched once
 * (EVP_CIPHER_fetch) so that no per-packet implicit fetch takes the provider store's lock.
 *
 * A transport message (whitepaper §5.4.6) at `off`: 16-byte header (type, receiver, 64-bit
 * little-endian counter at off + 8), then the body, then the 16-byte tag; the nonce is 4 zero
 * bytes and the 8 counter bytes. Seal encrypts the (already padded) body in place and writes
 * the tag; open checks the tag and decrypts in place.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "wgcore.h"

#define TAG_SIZE 16
#define HEADER_SIZE 16

static struct {
  int ready; /* 1 = resolved, -1 = missing */
  EVP_CIPHER_CTX *(*ctx_new)(void);
  void (*ctx_free)(EVP_CIPHER_CTX *);
  int (*init)(EVP_CIPHER_CTX *, const EVP_CIPHER *, ENGINE *, const unsigned char *,
              const unsigned char *, int);
  int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *, int);
  int (*final)(EVP_CIPHER_CTX *, unsigned char *, int *);
  int (*ctrl)(EVP_CIPHER_CTX *, int, int, void *);
  const EVP_CIPHER *(*legacy)(void);
  EVP_CIPHER *(*fetch)(void *, const char *, const char *);
} ossl;

static const EVP_CIPHER *the_cipher;

static void resolve_once(void) {
  ossl.ctx_new = (EVP_CIPHER_CTX * (*)(void)) dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_new");
  ossl.ctx_free = (void (*)(EVP_CIPHER_CTX *))dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_free");
  *(void **)&ossl.init = dlsym(RTLD_DEFAULT, "EVP_CipherInit_ex");
  *(void **)&ossl.update = dlsym(RTLD_DEFAULT, "EVP_CipherUpdate");
  *(void **)&ossl.final = dlsym(RTLD_DEFAULT, "EVP_CipherFinal_ex");
  *(void **)&ossl.ctrl = dlsym(RTLD_DEFAULT, "EVP_CIPHER_CTX_ctrl");
  *(void **)&ossl.legacy = dlsym(RTLD_DEFAULT, "EVP_chacha20_poly1305");
  *(void **)&ossl.fetch = dlsym(RTLD_DEFAULT, "EVP_CIPHER_fetch"); /* OpenSSL 3 only */
  int ok = ossl.ctx_new && ossl.ctx_free && ossl.init && ossl.update && ossl.final && ossl.ctrl &&
           ossl.legacy;
  ossl.ready = ok ? 1 : -1;
  if (!ok) return;
  /* The fetched cipher on OpenSSL 3 (kept for the process's life, shared by every thread), else
   * the legacy static one. */
  const EVP_CIPHER *f = ossl.fetch ? ossl.fetch(NULL, "ChaCha20-Poly1305", NULL) : NULL;
  the_cipher = f != NULL ? f : ossl.legacy();
}

static int resolve(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, resolve_once);
  return ossl.ready > 0;
}

/* Per environment: the context, initialised for ChaCha20-Poly1305 with a 12-byte nonce. */
typedef struct {
  EVP_CIPHER_CTX *ctx;
} aead_env;

static void free_env(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  aead_env *a = data;
  if (a->ctx != NULL) ossl.ctx_free(a->ctx);
  free(a);
}

static EVP_CIPHER_CTX *env_ctx(napi_env env) {
  aead_env *a = NULL;
  if (!resolve()) return NULL;
  if (napi_get_instance_data(env, (void **)&a) == napi_ok && a != NULL) return a->ctx;
  a = calloc(1, sizeof *a);
  if (a == NULL) return NULL;
  a->ctx = ossl.ctx_new();
  if (a->ctx == NULL || ossl.init(a->ctx, the_cipher, NULL, NULL, NULL, 1) != 1 ||
      napi_set_instance_data(env, a, free_env, NULL) != napi_ok) {
    if (a->ctx != NULL) ossl.ctx_free(a->ctx);
    free(a);
    return NULL;
  }
  return a->ctx;
}

/* Seals `n` bytes of `in` to `out` (may equal `in`) and writes the tag at `tag`. */
static int seal(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *nonce, const uint8_t *ad,
                size_t adlen, const uint8_t *in, uint8_t *out, size_t n, uint8_t *tag) {
  int len = 0;
  if (ossl.init(ctx, NULL, NULL, key, nonce, 1) != 1) return 0;
  if (adlen > 0 && ossl.update(ctx, NULL, &len, ad, (int)adlen) != 1) return 0;
  if (n > 0 && ossl.update(ctx, out, &len, in, (int)n) != 1) return 0;
  if (ossl.final(ctx, out + n, &len) != 1) return 0;
  return ossl.ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TAG_SIZE, tag) == 1;
}

/* Opens `n` bytes of `in` (tag at `tag`) into `out` (may equal `in`); 0 when it does not verify. */
static int open_(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *nonce, const uint8_t *ad,
                 size_t adlen, const uint8_t *in, uint8_t *out, size_t n, const uint8_t *tag) {
  int len = 0;
  uint8_t t[TAG_SIZE];
  memcpy(t, tag, TAG_SIZE); /* the tag may be overwritten when decrypting in place */
  if (ossl.init(ctx, NULL, NULL, key, nonce, 0) != 1) return 0;
  if (ossl.ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TAG_SIZE, t) != 1) return 0;
  if (adlen > 0 && ossl.update(ctx, NULL, &len, ad, (int)adlen) != 1) return 0;
  if (n > 0 && ossl.update(ctx, out, &len, in, (int)n) != 1) return 0;
  return ossl.final(ctx, out + n, &len) == 1;
}

/* aeadBatch(op, slab, offsets, lengths, count, keys, keyOf, status) -> packets that succeeded.
 * op 1 seals, 2 opens the transport message of each slot i < count with lengths[i] >= 32 under
 * key keyOf[i] (32 bytes at keys + 32 * keyOf[i]); status[i] = 0 ok, 1 the tag did not verify,
 * 2 error (out of bounds, OpenSSL failure). Slots of length 0 are skipped and keep their status. */
napi_value js_aead_batch(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8];
  uint32_t op, count, *offs, *lens, *key_of;
  uint8_t *slab, *keys, *status;
  size_t slab_len, noffs, nlens, nkeys, nkey_of, nstatus;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 8 || arg_u32(env, argv[0], "operation", &op) ||
      arg_bytes(env, argv[1], "slab", &slab, &slab_len) ||
      arg_u32s(env, argv[2], "offsets", &offs, &noffs) ||
      arg_u32s(env, argv[3], "lengths", &lens, &nlens) || arg_u32(env, argv[4], "count", &count) ||
      arg_bytes(env, argv[5], "keys", &keys, &nkeys) ||
      arg_u32s(env, argv[6], "key slots", &key_of, &nkey_of) ||
      arg_bytes(env, argv[7], "status", &status, &nstatus)) {
    return NULL;
  }
  if ((op != 1 && op != 2) || count > noffs || count > nlens || count > nkey_of ||
      count > nstatus) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid AEAD batch: operation or arrays");
    return NULL;
  }
  EVP_CIPHER_CTX *ctx = env_ctx(env);
  if (ctx == NULL) {
    throw_errno(env, ENOSYS, "EVP_CIPHER_CTX_new", "Cannot use OpenSSL's ChaCha20-Poly1305");
    return NULL;
  }
  uint8_t nonce[12] = {0};
  uint32_t ok = 0;
  for (uint32_t i = 0; i < count; i++) {
    size_t off = offs[i], len = lens[i];
    if (len == 0) continue;
    size_t k = key_of[i];
    if (len < HEADER_SIZE + TAG_SIZE || off > slab_len || len > slab_len - off ||
        (k + 1) * 32 > nkeys) {
      status[i] = 2;
      continue;
    }
    uint8_t *m = slab + off, *body = m + HEADER_SIZE;
    size_t n = len - HEADER_SIZE - TAG_SIZE;
    memcpy(nonce + 4, m + 8, 8);
    int r = op == 1 ? seal(ctx, keys + k * 32, nonce, NULL, 0, body, body, n, body + n)
                    : open_(ctx, keys + k * 32, nonce, NULL, 0, body, body, n, body + n);
    status[i] = r ? 0 : (op == 2 ? 1 : 2);
    ok += r ? 1 : 0;
  }
  return make_u32(env, ok);
}

/* aeadSeal(key, nonce, plaintext, ad | null, out): out = ciphertext ‖ tag; out may start at
 * the same byte as plaintext. */
static napi_value aead_one(napi_env env, napi_callback_info info, int sealing) {
  size_t argc = 5;
  napi_value argv[5];
  uint8_t *key, *nonce, *in, *ad = NULL, *out;
  size_t nkey, nnonce, nin, nad = 0, nout;
  napi_valuetype t = napi_null;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 5 || arg_bytes(env, argv[0], "key", &key, &nkey) ||
      arg_bytes(env, argv[1], "nonce", &nonce, &nnonce) ||
      arg_bytes(env, argv[2], sealing ? "plaintext" : "ciphertext", &in, &nin) ||
      napi_typeof(env, argv[3], &t) != napi_ok ||
      (t != napi_null && t != napi_undefined && arg_bytes(env, argv[3], "ad", &ad, &nad)) ||
      arg_bytes(env, argv[4], "output", &out, &nout)) {
    return NULL;
  }
  if (nkey != 32 || nnonce != 12 || nin > 0x7fffffff || nad > 0x7fffffff ||
      (sealing ? nout < nin + TAG_SIZE : (nin < TAG_SIZE || nout < nin - TAG_SIZE))) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "Invalid AEAD call: key, nonce or lengths");
    return NULL;
  }
  EVP_CIPHER_CTX *ctx = env_ctx(env);
  if (ctx == NULL) {
    throw_errno(env, ENOSYS, "EVP_CIPHER_CTX_new", "Cannot use OpenSSL's ChaCha20-Poly1305");
    return NULL;
  }
  int r;
  if (sealing) {
    r = seal(ctx, key, nonce, ad, nad, in, out, nin, out + nin);
  } else {
    size_t n = nin - TAG_SIZE;
    r = open_(ctx, key, nonce, ad, nad, in, out, n, in + n);
    if (!r) memset(out, 0, n);
  }
  napi_value b;
  napi_get_boolean(env, r != 0, &b);
  return b;
}

napi_value js_aead_seal(napi_env env, napi_callback_info info) { return aead_one(env, info, 1); }

napi_value js_aead_open(napi_env env, napi_callback_info info) { return aead_one(env, info, 0); }

int aead_available(void) { return resolve(); }
