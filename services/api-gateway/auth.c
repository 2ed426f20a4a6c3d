/* Bearer API keys from API_KEYS (comma-separated), compared in constant time. */
#include "auth.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_KEYS_MAX 32
#define AUTH_KEY_LEN_MAX 256

struct auth {
	int n;
	char *keys[AUTH_KEYS_MAX];
	size_t lens[AUTH_KEYS_MAX];
};

int auth_new(struct auth **authp, const char *keys_csv, char *err, size_t errlen)
{
	struct auth *a = calloc(1, sizeof(*a));
	int rc = 0;
	if (!a)
		return ENOMEM;
	const char *p = keys_csv;
	while (p && *p) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		while (n && (*p == ' ')) {
			p++;
			n--;
		}
		while (n && p[n - 1] == ' ')
			n--;
		if (n) {
			if (a->n == AUTH_KEYS_MAX || n > AUTH_KEY_LEN_MAX || n < 8) {
				snprintf(err, errlen, "API_KEYS: %s",
					 a->n == AUTH_KEYS_MAX ? "more than 32 keys"
					 : n < 8 ? "each key needs at least 8 characters"
						 : "a key is longer than 256 characters");
				rc = EINVAL;
				goto out;
			}
			a->keys[a->n] = strndup(p, n);
			if (!a->keys[a->n]) {
				rc = ENOMEM;
				goto out;
			}
			a->lens[a->n++] = n;
		}
		p = comma ? comma + 1 : NULL;
	}
	if (a->n == 0) {
		snprintf(err, errlen, "API_KEYS: no key given");
		rc = EINVAL;
	}
out:
	if (rc)
		a = auth_free(a);
	*authp = a;
	return rc;
}

struct auth *auth_free(struct auth *a)
{
	if (!a)
		return NULL;
	for (int i = 0; i < a->n; i++) {
		OPENSSL_cleanse(a->keys[i], a->lens[i]);
		free(a->keys[i]);
	}
	free(a);
	return NULL;
}

bool auth_check(const struct auth *a, const char *bearer)
{
	if (!a || !bearer)
		return false;
	size_t n = strnlen(bearer, AUTH_KEY_LEN_MAX + 1);
	bool ok = false;
	for (int i = 0; i < a->n; i++)
		ok |= n == a->lens[i] && CRYPTO_memcmp(bearer, a->keys[i], n) == 0;
	return ok;
}
