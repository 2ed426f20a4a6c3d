/* GET /calls/{id} bodies in memory: a hash table with an LRU list, and
 * per-stripe write generations that keep a racing load from storing an old
 * body (see record_cache.h). */
#include "record_cache.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Write generations are kept per stripe of the id space, not per call, so
 * that a write to a call nobody has cached costs no allocation. Calls that
 * share a stripe only lose a store now and then. */
#define STRIPES 1024

struct entry {
	char id[ID_UUID_LEN + 1];
	struct record_body *body;
	int64_t expires_ms;
	struct entry *hnext;       /* bucket chain */
	struct entry *prev, *next; /* LRU list, most recent first */
};

struct stripe {
	uint64_t gen;     /* bumped by every write_begin and write_end */
	unsigned pending; /* writes begun and not ended */
};

struct record_cache {
	pthread_mutex_t mu;
	struct entry **buckets;
	size_t nbuckets; /* a power of two */
	struct entry *head, *tail;
	size_t entries, bytes;
	size_t max_entries, max_bytes, max_body;
	int ttl_ms;
	struct stripe stripes[STRIPES];
	uint64_t hits, misses, stored, refused, evicted;
};

int record_body_new(struct record_body **bp, const char *text, size_t len)
{
	struct record_body *b = malloc(sizeof(*b) + len + 1);
	if (!b)
		return ENOMEM;
	atomic_init(&b->refs, 1);
	b->len = len;
	if (len)
		memcpy(b->text, text, len);
	b->text[len] = '\0';
	*bp = b;
	return 0;
}

struct record_body *record_body_unref(struct record_body *b)
{
	if (b && atomic_fetch_sub(&b->refs, 1) == 1)
		free(b);
	return NULL;
}

/* The lower-cased id in key; false when call_id is not UUID-sized. */
static bool key_of(char key[ID_UUID_LEN + 1], const char *call_id)
{
	size_t n = call_id ? strnlen(call_id, ID_UUID_LEN + 1) : 0;
	if (n != ID_UUID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		key[i] = (char)tolower((unsigned char)call_id[i]);
	key[n] = '\0';
	return true;
}


static struct stripe *stripe_of(struct record_cache *c, uint64_t h)
{
	return &c->stripes[(h >> 32) % STRIPES];
}

static struct entry **slot_of(struct record_cache *c, uint64_t h, const char *key)
{
	struct entry **pp = &c->buckets[h & (c->nbuckets - 1)];
	while (*pp && strcmp((*pp)->id, key) != 0)
		pp = &(*pp)->hnext;
	return pp;
}

static void lru_unlink(struct record_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push(struct record_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

/* Unlinks *pp (the bucket pointer to e) and frees e. mu held. */
static void drop(struct record_cache *c, struct entry **pp)
{
	struct entry *e = *pp;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->entries--;
	c->bytes -= e->body->len;
	record_body_unref(e->body);
	free(e);
}

static void drop_key(struct record_cache *c, uint64_t h, const char *key)
{
	struct entry **pp = slot_of(c, h, key);
	if (*pp)
		drop(c, pp);
}

static void evict_lru(struct record_cache *c)
{
	struct entry *e = c->tail;
	drop_key(c, id_hash(e->id), e->id);
	c->evicted++;
}

int record_cache_new(struct record_cache **cp, size_t max_entries, size_t max_bytes, int ttl_ms)
{
	if (!cp || max_entries < 1 || max_bytes < 1 || ttl_ms < 1 || max_entries > (SIZE_MAX / 4))
		return EINVAL;
	struct record_cache *c = calloc(1, sizeof(*c));
	if (!c)
		return ENOMEM;
	c->nbuckets = 16;
	while (c->nbuckets < max_entries * 2)
		c->nbuckets *= 2;
	c->buckets = calloc(c->nbuckets, sizeof(*c->buckets));
	if (!c->buckets) {
		free(c);
		return ENOMEM;
	}
	c->max_entries = max_entries;
	c->max_bytes = max_bytes;
	c->max_body = max_bytes / 16 ? max_bytes / 16 : max_bytes;
	c->ttl_ms = ttl_ms;
	for (size_t i = 0; i < STRIPES; i++)
		c->stripes[i].gen = 1;
	pthread_mutex_init(&c->mu, NULL);
	*cp = c;
	return 0;
}

struct record_cache *record_cache_free(struct record_cache *c)
{
	if (!c)
		return NULL;
	while (c->head)
		evict_lru(c);
	pthread_mutex_destroy(&c->mu);
	free(c->buckets);
	free(c);
	return NULL;
}

struct record_body *record_cache_get(struct record_cache *c, const char *call_id)
{
	char key[ID_UUID_LEN + 1];
	struct record_body *b = NULL;
	if (!c || !key_of(key, call_id))
		return NULL;
	uint64_t h = id_hash(key);
	int64_t now = time_mono_ms();
	pthread_mutex_lock(&c->mu);
	struct entry **pp = slot_of(c, h, key);
	if (*pp && now >= (*pp)->expires_ms) {
		drop(c, pp);
	} else if (*pp) {
		b = (*pp)->body;
		atomic_fetch_add(&b->refs, 1);
		lru_unlink(c, *pp);
		lru_push(c, *pp);
	}
	if (b)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->mu);
	return b;
}

void record_cache_ticket(struct record_cache *c, const char *call_id,
			 struct record_cache_ticket *t)
{
	char key[ID_UUID_LEN + 1];
	t->gen = 0;
	t->at_ms = time_mono_ms();
	if (!c || !key_of(key, call_id))
		return;
	struct stripe *s = stripe_of(c, id_hash(key));
	pthread_mutex_lock(&c->mu);
	if (!s->pending)
		t->gen = s->gen;
	pthread_mutex_unlock(&c->mu);
}

bool record_cache_put(struct record_cache *c, const char *call_id,
		      const struct record_cache_ticket *t, struct record_body *b)
{
	char key[ID_UUID_LEN + 1];
	if (!c || !b || !t || !key_of(key, call_id))
		return false;
	uint64_t h = id_hash(key);
	struct stripe *s = stripe_of(c, h);
	struct entry *e = NULL;
	bool ok = false;
	pthread_mutex_lock(&c->mu);
	if (!t->gen || s->pending || s->gen != t->gen || b->len > c->max_body)
		goto out;
	e = calloc(1, sizeof(*e));
	if (!e)
		goto out;
	drop_key(c, h, key);
	while (c->head && (c->entries >= c->max_entries || c->bytes + b->len > c->max_bytes))
		evict_lru(c);
	memcpy(e->id, key, sizeof(e->id));
	e->body = b;
	atomic_fetch_add(&b->refs, 1);
	e->expires_ms = t->at_ms + c->ttl_ms;
	struct entry **pp = slot_of(c, h, key);
	*pp = e;
	lru_push(c, e);
	c->entries++;
	c->bytes += b->len;
	ok = true;
out:
	if (ok)
		c->stored++;
	else
		c->refused++;
	pthread_mutex_unlock(&c->mu);
	return ok;
}

/* A write of the call begins (+1) or ends (-1): nothing of it is served or
 * stored meanwhile, and tickets taken before are stale. */
static void write_mark(struct record_cache *c, const char *call_id, int delta)
{
	char key[ID_UUID_LEN + 1];
	if (!c || !key_of(key, call_id))
		return;
	uint64_t h = id_hash(key);
	struct stripe *s = stripe_of(c, h);
	pthread_mutex_lock(&c->mu);
	if (delta > 0)
		s->pending++;
	else if (s->pending)
		s->pending--;
	s->gen++;
	drop_key(c, h,
		 key); /* at the end: none can have been stored since begin; cheap to be sure */
	pthread_mutex_unlock(&c->mu);
}

void record_cache_write_begin(struct record_cache *c, const char *call_id)
{
	write_mark(c, call_id, 1);
}

void record_cache_write_end(struct record_cache *c, const char *call_id)
{
	write_mark(c, call_id, -1);
}

void record_cache_stats(struct record_cache *c, struct record_cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	st->entries = c->entries;
	st->bytes = c->bytes;
	st->hits = c->hits;
	st->misses = c->misses;
	st->stored = c->stored;
	st->refused = c->refused;
	st->evicted = c->evicted;
	pthread_mutex_unlock(&c->mu);
}
