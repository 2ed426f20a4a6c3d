/* services/api-gateway/record_cache.c: bounds, LRU order, expiry, and the
 * write bracket that keeps a load racing a write from storing an old body.
 * test_persist checks it against the real persister. */
#include "../services/api-gateway/record_cache.h"
#include "harness/test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TTL_MS 3600000 /* an hour: nothing expires unless a test says so */

static void id_n(char id[ID_UUID_LEN + 1], unsigned n)
{
	snprintf(id, ID_UUID_LEN + 1, "00000000-0000-4000-8000-%012x", n);
}

/* Loads "body <n>" padded to len bytes for id as a reader would. */
static bool load(struct record_cache *c, const char *id, unsigned n, size_t len)
{
	struct record_cache_ticket t;
	struct record_body *b = NULL;
	char text[512];
	if (len >= sizeof(text))
		return false;
	memset(text, '.', len);
	text[len] = '\0';
	snprintf(text, len + 1 > 12 ? 12 : len + 1, "body %u", n);
	record_cache_ticket(c, id, &t);
	if (record_body_new(&b, text, len))
		return false;
	bool ok = record_cache_put(c, id, &t, b);
	record_body_unref(b);
	return ok;
}

static bool cached(struct record_cache *c, const char *id)
{
	struct record_body *b = record_cache_get(c, id);
	record_body_unref(b);
	return b != NULL;
}

static int test_hit_and_miss(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct record_body *b = NULL;
	char id[ID_UUID_LEN + 1], upper[ID_UUID_LEN + 1];
	struct record_cache_stats st;
	TEST_EQ_INT(record_cache_new(&c, 8, 4096, TTL_MS), 0);
	id_n(id, 0xabc);
	TEST_ASSERT(record_cache_get(c, id) == NULL);
	TEST_ASSERT(load(c, id, 1, 40));
	b = record_cache_get(c, id);
	TEST_ASSERT(b != NULL);
	TEST_EQ_INT(b->len, 40);
	TEST_ASSERT(strncmp(b->text, "body 1", 6) == 0);
	b = record_body_unref(b);
	/* ids are compared without case */
	for (size_t i = 0; i <= ID_UUID_LEN; i++)
		upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
	TEST_ASSERT(strcmp(upper, id) != 0);
	TEST_ASSERT(cached(c, upper));
	TEST_ASSERT(!cached(c, "not-a-uuid"));
	record_cache_stats(c, &st);
	TEST_EQ_INT(st.entries, 1);
	TEST_EQ_INT(st.bytes, 40);
	TEST_EQ_INT(st.hits, 2);
	TEST_EQ_INT(st.misses, 1); /* a malformed id is no lookup */
out:
	record_body_unref(b);
	record_cache_free(c);
	return err;
}

/* Never more than max_entries; the least recently used goes first. */
static int test_entry_bound_lru(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct record_cache_stats st;
	char id[ID_UUID_LEN + 1];
	TEST_EQ_INT(record_cache_new(&c, 4, 1 << 20, TTL_MS), 0);
	for (unsigned i = 0; i < 4; i++) {
		id_n(id, i);
		TEST_ASSERT(load(c, id, i, 32));
	}
	id_n(id, 0);
	TEST_ASSERT(cached(c, id)); /* 0 is now the most recent; 1 the least */
	for (unsigned i = 4; i < 100; i++) {
		id_n(id, i);
		TEST_ASSERT(load(c, id, i, 32));
		record_cache_stats(c, &st);
		TEST_ASSERT(st.entries <= 4);
		if (i == 4) {
			id_n(id, 1);
			TEST_ASSERT(!cached(c, id));
			id_n(id, 0);
			TEST_ASSERT(cached(c, id));
		}
	}
	record_cache_stats(c, &st);
	TEST_EQ_INT(st.entries, 4);
	TEST_EQ_INT(st.bytes, 4 * 32);
	TEST_EQ_INT(st.evicted, 96);
	for (unsigned i = 96; i < 100; i++) {
		id_n(id, i);
		TEST_ASSERT(cached(c, id));
	}
	/* storing an id again replaces it, never counts twice */
	TEST_ASSERT(load(c, id, 7, 64));
	record_cache_stats(c, &st);
	TEST_EQ_INT(st.entries, 4);
	TEST_EQ_INT(st.bytes, 3 * 32 + 64);
out:
	record_cache_free(c);
	return err;
}

/* Never more than max_bytes of bodies; a body over max_bytes/16 is not kept. */
static int test_byte_bound(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct record_cache_stats st;
	char id[ID_UUID_LEN + 1];
	TEST_EQ_INT(record_cache_new(&c, 1000, 1600, TTL_MS), 0);
	for (unsigned i = 0; i < 50; i++) {
		id_n(id, i);
		TEST_ASSERT(load(c, id, i, 60 + i % 40));
		record_cache_stats(c, &st);
		TEST_ASSERT(st.bytes <= 1600);
	}
	record_cache_stats(c, &st);
	TEST_ASSERT(st.entries >= 16 && st.entries < 50);
	id_n(id, 999);
	TEST_ASSERT(!load(c, id, 999, 101));
	TEST_ASSERT(!cached(c, id));
	TEST_ASSERT(load(c, id, 999, 100));
out:
	record_cache_free(c);
	return err;
}

/* A body held by a reader outlives its eviction and the cache itself. */
static int test_reader_keeps_body(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct record_body *b = NULL;
	char id[ID_UUID_LEN + 1], other[ID_UUID_LEN + 1];
	TEST_EQ_INT(record_cache_new(&c, 1, 1 << 20, TTL_MS), 0);
	id_n(id, 1);
	id_n(other, 2);
	TEST_ASSERT(load(c, id, 1, 20));
	b = record_cache_get(c, id);
	TEST_ASSERT(b != NULL);
	TEST_ASSERT(load(c, other, 2, 20)); /* evicts id */
	TEST_ASSERT(!cached(c, id));
	c = record_cache_free(c);
	TEST_ASSERT(strncmp(b->text, "body 1", 6) == 0);
out:
	record_body_unref(b);
	record_cache_free(c);
	return err;
}

static int test_expiry(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct record_body *b = NULL;
	struct record_cache_ticket t;
	char id[ID_UUID_LEN + 1];
	TEST_EQ_INT(record_cache_new(&c, 8, 4096, 1000), 0);
	id_n(id, 5);
	TEST_EQ_INT(record_body_new(&b, "x", 1), 0);
	record_cache_ticket(c, id, &t);
	TEST_ASSERT(record_cache_put(c, id, &t, b));
	TEST_ASSERT(cached(c, id));
	t.at_ms -= 1000; /* the load began a TTL ago: stale on arrival */
	TEST_ASSERT(record_cache_put(c, id, &t, b));
	TEST_ASSERT(!cached(c, id));
	struct record_cache_stats st;
	record_cache_stats(c, &st);
	TEST_EQ_INT(st.entries, 0);
out:
	record_body_unref(b);
	record_cache_free(c);
	return err;
}

/* The bracket: nothing is served or stored from write_begin to write_end,
 * and a ticket taken before either cannot store afterwards. */
static int test_write_bracket(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct record_body *b = NULL;
	struct record_cache_ticket before, during, after;
	char id[ID_UUID_LEN + 1], other[ID_UUID_LEN + 1];
	TEST_EQ_INT(record_cache_new(&c, 64, 1 << 20, TTL_MS), 0);
	id_n(id, 0x10);
	id_n(other, 0x11);
	TEST_EQ_INT(record_body_new(&b, "old", 3), 0);
	TEST_ASSERT(load(c, id, 1, 20));
	TEST_ASSERT(load(c, other, 2, 20));

	record_cache_ticket(c, id, &before); /* a reader starts loading */
	record_cache_write_begin(c, id);
	TEST_ASSERT(!cached(c, id));        /* dropped at begin */
	TEST_ASSERT(cached(c, other));      /* others untouched */
	TEST_ASSERT(!record_cache_put(c, id, &before, b));
	record_cache_ticket(c, id, &during);
	TEST_EQ_INT(during.gen, 0);
	TEST_ASSERT(!record_cache_put(c, id, &during, b));
	record_cache_write_end(c, id);      /* committed */
	TEST_ASSERT(!record_cache_put(c, id, &before, b)); /* read before the commit */
	TEST_ASSERT(!record_cache_put(c, id, &during, b));
	TEST_ASSERT(!cached(c, id));
	record_cache_ticket(c, id, &after);
	TEST_ASSERT(record_cache_put(c, id, &after, b));
	TEST_ASSERT(cached(c, id));

	/* two writers at once: stores resume only when both ended */
	record_cache_write_begin(c, id);
	record_cache_write_begin(c, id);
	record_cache_write_end(c, id);
	record_cache_ticket(c, id, &during);
	TEST_ASSERT(!record_cache_put(c, id, &during, b));
	record_cache_write_end(c, id);
	record_cache_ticket(c, id, &after);
	TEST_ASSERT(record_cache_put(c, id, &after, b));

	/* no cache: every call is a harmless no-op */
	record_cache_write_begin(NULL, id);
	record_cache_write_end(NULL, id);
	record_cache_ticket(NULL, id, &after);
	TEST_ASSERT(!record_cache_put(NULL, id, &after, b));
	TEST_ASSERT(record_cache_get(NULL, id) == NULL);
out:
	record_body_unref(b);
	record_cache_free(c);
	return err;
}

/* API threads and a persister at once (run under the sanitizers): the
 * bounds hold and every body served is whole. */
struct hammer {
	struct record_cache *c;
	unsigned seed;
	bool writer;
	int bad;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	char id[ID_UUID_LEN + 1];
	for (int i = 0; i < 20000; i++) {
		unsigned n = (unsigned)rand_r(&h->seed) % 64;
		id_n(id, n);
		if (h->writer) {
			record_cache_write_begin(h->c, id);
			record_cache_write_end(h->c, id);
			continue;
		}
		struct record_body *b = record_cache_get(h->c, id);
		if (b && (b->len != 48 || b->text[b->len] != '\0'))
			h->bad++;
		record_body_unref(b);
		if (!b)
			(void)load(h->c, id, n, 48);
	}
	return NULL;
}

static int test_threads(void)
{
	int err = 0;
	struct record_cache *c = NULL;
	struct hammer h[4];
	pthread_t th[4];
	struct record_cache_stats st;
	TEST_EQ_INT(record_cache_new(&c, 16, 1 << 20, TTL_MS), 0);
	for (int i = 0; i < 4; i++) {
		h[i] = (struct hammer){ .c = c, .seed = (unsigned)i + 1, .writer = i == 3 };
		TEST_EQ_INT(pthread_create(&th[i], NULL, hammer_main, &h[i]), 0);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 4; i++)
		TEST_EQ_INT(h[i].bad, 0);
	record_cache_stats(c, &st);
	TEST_ASSERT(st.entries <= 16);
	TEST_EQ_INT(st.bytes, st.entries * 48);
	TEST_ASSERT(st.hits > 0 && st.stored > 0);
out:
	record_cache_free(c);
	return err;
}

static const struct test tests[] = {
	{ "hit_and_miss", test_hit_and_miss },
	{ "entry_bound_lru", test_entry_bound_lru },
	{ "byte_bound", test_byte_bound },
	{ "reader_keeps_body", test_reader_keeps_body },
	{ "expiry", test_expiry },
	{ "write_bracket", test_write_bracket },
	{ "threads", test_threads },
};

TEST_MAIN(tests)
