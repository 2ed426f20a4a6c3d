/* The call ids this process has taken (the puller thread only): two generations of open-addressing
 * sets of UUIDs (a used flag and the 16 bytes). A generation holds TAKEN_REMEMBERED ids at most
 * (half its slots, so probes stay short); when the current one is full the
 * older one is dropped and reused. Lookups check both, so at least the last
 * TAKEN_REMEMBERED ids are always remembered. */
#include "taken.h"

#include "core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS (2 * TAKEN_REMEMBERED) /* a power of two */
#define KEY_LEN 17

struct taken_ids {
	uint8_t keys[2][SLOTS][KEY_LEN]; /* [0] = 1 when used, then the UUID */
	int fill;                   /* ids in the current generation */
	int cur;
};

int taken_new(struct taken_ids **tp)
{
	*tp = calloc(1, sizeof(**tp));
	return *tp ? 0 : ENOMEM;
}

struct taken_ids *taken_free(struct taken_ids *t)
{
	free(t);
	return NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : 0;
}

static void key_of(uint8_t key[KEY_LEN], const char *uuid)
{
	int k = 1;
	key[0] = 1;
	for (const char *p = uuid; *p && p[1] && k < KEY_LEN; p++) {
		if (*p == '-')
			continue;
		key[k++] = (uint8_t)(hexval(p[0]) << 4 | hexval(p[1]));
		p++;
	}
	while (k < KEY_LEN)
		key[k++] = 0;
}

static uint32_t hash_of(const uint8_t key[KEY_LEN])
{
	uint32_t h = 2166136261u;
	for (int i = 1; i < KEY_LEN; i++)
		h = (h ^ key[i]) * 16777619u;
	return h;
}

static bool gen_has(const uint8_t (*gen)[KEY_LEN], const uint8_t key[KEY_LEN])
{
	for (uint32_t i = hash_of(key), n = 0; n < SLOTS; i++, n++) {
		const uint8_t *slot = gen[i & (SLOTS - 1)];
		if (!slot[0])
			return false;
		if (memcmp(slot, key, KEY_LEN) == 0)
			return true;
	}
	return false;
}

bool taken_has(const struct taken_ids *t, const char *call_id)
{
	uint8_t key[KEY_LEN];
	key_of(key, call_id);
	return gen_has((const uint8_t(*)[KEY_LEN])t->keys[0], key) ||
	       gen_has((const uint8_t(*)[KEY_LEN])t->keys[1], key);
}

void taken_add(struct taken_ids *t, const char *call_id)
{
	uint8_t key[KEY_LEN];
	key_of(key, call_id);
	if (t->fill >= TAKEN_REMEMBERED) {
		t->cur ^= 1;
		memset(t->keys[t->cur], 0, sizeof(t->keys[t->cur]));
		t->fill = 0;
	}
	uint8_t (*gen)[KEY_LEN] = t->keys[t->cur];
	for (uint32_t i = hash_of(key), n = 0; n < SLOTS; i++, n++) {
		uint8_t *slot = gen[i & (SLOTS - 1)];
		if (!slot[0]) {
			memcpy(slot, key, KEY_LEN);
			t->fill++;
			return;
		}
		if (memcmp(slot, key, KEY_LEN) == 0)
			return;
	}
}
