/*
 * secret — sealing short secrets (trunk passwords) so that they exist in
 * clear text only inside the process that uses them. AES-256-GCM through
 * OpenSSL's libcrypto, a random 96-bit nonce per seal, and associated data
 * naming where the sealed text belongs ("trunk:<id>" for a database row,
 * "call:<id>" for a dial job): a sealed text moved to another row or job
 * does not open.
 *
 * Envelope (printable, no quotes, fits a JSON string):
 *     cms1.<kid>.<base64(nonce[12] || ciphertext || tag[16])>
 * `kid` is 8 hex digits naming the key (the first 4 bytes of
 * SHA-256("callmesh-secret-key-id" || key)), so that a text sealed under
 * the previous key is recognised and opened with it during a rotation.
 *
 * Keys: SECRETS_KEY (current, base64 of 32 bytes) seals and opens;
 * SECRETS_KEY_PREVIOUS (optional) only opens. Immutable once loaded;
 * safe to share between threads.
 */
#ifndef CALLMESH_SECRET_H
#define CALLMESH_SECRET_H

#include "core/core.h"

#include <stdbool.h>
#include <stddef.h>

#define SECRET_KEY_LEN 32
#define SECRET_PLAIN_MAX 4096
#define SECRET_PREFIX "cms1."

struct secret_keys;

/* Decodes `current` (required) and `previous` (NULL or "" = none), each
 * base64 of exactly 32 bytes. On a bad value writes "NAME: problem" naming
 * SECRETS_KEY or SECRETS_KEY_PREVIOUS into err and returns EINVAL. Caller
 * frees with secret_keys_free(). */
int secret_keys_load(struct secret_keys **keysp, const char *current, const char *previous,
		     char *err, size_t errlen) CM_MUST_USE;
/* Wipes and frees. NULL-safe; returns NULL. */
struct secret_keys *secret_keys_free(struct secret_keys *keys);

/* True when `s` has the envelope's prefix (it may still fail to open). */
bool secret_is_sealed(const char *s);
/* True when `s` is sealed under the current key (nothing to re-seal). */
bool secret_is_current(const struct secret_keys *keys, const char *s);

/* Seals plain[0..len) (len <= SECRET_PLAIN_MAX) for `aad`. *outp is the
 * NUL-terminated envelope; caller frees. ENOMEM, EINVAL, EIO. */
int secret_seal(char **outp, const struct secret_keys *keys, const char *aad, const char *plain,
		size_t len) CM_MUST_USE;
/* Opens an envelope sealed for `aad` under the current or the previous
 * key. *outp is the NUL-terminated clear text (caller wipes and frees, see
 * secret_wipe_free); *stalep (may be NULL) is set when it was sealed under
 * the previous key. EINVAL: not an envelope; ENOKEY: sealed under a key
 * this process does not hold; EBADMSG: does not authenticate (tampered,
 * or moved from another aad). */
int secret_open(char **outp, bool *stalep, const struct secret_keys *keys, const char *aad,
		const char *sealed) CM_MUST_USE;

/* Overwrites a NUL-terminated secret with zeros and frees it. NULL-safe;
 * returns NULL. */
char *secret_wipe_free(char *s);

#endif
