/* A fixed set of connections lent to threads one at a time: a stack of free
 * slots under a mutex, a condition variable for borrowers that wait. */
#include "db/db_priv.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_SIZE_MAX 256

struct db_pool {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *url;
	int size;
	int nfree;
	struct db **free; /* nfree entries: connected or NULL (connect on use) */
	int lent;
	bool prepared; /* db_set_prepared on every connection */
};

int db_pool_new(struct db_pool **poolp, const char *url, int size, bool prepared)
{
	int err = 0;
	struct db_pool *p = NULL;
	pthread_condattr_t ca;
	bool ca_init = false;

	if (!poolp || !url || size < 1 || size > POOL_SIZE_MAX)
		return EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ENOMEM;
	p->url = strdup(url);
	p->free = calloc((size_t)size, sizeof(*p->free));
	if (!p->url || !p->free) {
		err = ENOMEM;
		goto out;
	}
	if (pthread_condattr_init(&ca) != 0) {
		err = ENOMEM;
		goto out;
	}
	ca_init = true;
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		err = ENOMEM;
		goto out;
	}
	if (pthread_cond_init(&p->cv, &ca) != 0) {
		pthread_mutex_destroy(&p->mu);
		err = ENOMEM;
		goto out;
	}
	p->size = size;
	p->prepared = prepared;
	p->nfree = size; /* every slot free, none connected yet */
	*poolp = p;
	p = NULL;
out:
	if (ca_init)
		pthread_condattr_destroy(&ca);
	if (p) {
		free(p->url);
		free(p->free);
		free(p);
	}
	return err;
}

struct db *db_pool_get(struct db_pool *pool, int timeout_ms)
{
	struct timespec deadline;
	struct db *db = NULL;
	int rc = 0;

	if (!pool || timeout_ms < 0) {
		errno = EINVAL;
		return NULL;
	}
	time_deadline(&deadline, CLOCK_MONOTONIC, timeout_ms);
	pthread_mutex_lock(&pool->mu);
	while (pool->nfree == 0 && rc == 0)
		rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &deadline);
	if (pool->nfree == 0) {
		pthread_mutex_unlock(&pool->mu);
		errno = ETIMEDOUT;
		return NULL;
	}
	db = pool->free[--pool->nfree];
	pool->lent++;
	pthread_mutex_unlock(&pool->mu);

	if (db)
		return db;
	/* An empty slot: connect outside the lock so others are not held up. */
	int err = db_connect(&db, pool->url);
	if (err) {
		pthread_mutex_lock(&pool->mu);
		pool->free[pool->nfree++] = NULL;
		pool->lent--;
		pthread_cond_signal(&pool->cv);
		pthread_mutex_unlock(&pool->mu);
		errno = err == ENOMEM ? ENOMEM : ECONNREFUSED;
		return NULL;
	}
	db_set_prepared(db, pool->prepared);
	return db;
}

void db_pool_put(struct db_pool *pool, struct db *db)
{
	if (!pool || !db)
		return;
	if (db->in_txn || PQtransactionStatus(db->conn) != PQTRANS_IDLE)
		db_rollback(db);
	pthread_mutex_lock(&pool->mu);
	if (pool->nfree < pool->size) {
		pool->free[pool->nfree++] = db;
		db = NULL;
	}
	pool->lent--;
	pthread_cond_signal(&pool->cv);
	pthread_mutex_unlock(&pool->mu);
	db_close(db); /* only when more came back than were lent: a caller bug */
}

struct db_pool *db_pool_free(struct db_pool *pool)
{
	if (!pool)
		return NULL;
	if (pool->lent)
		log_error("db_pool_leak", "%d connection(s) still lent at free", pool->lent);
	for (int i = 0; i < pool->nfree; i++)
		db_close(pool->free[i]);
	pthread_cond_destroy(&pool->cv);
	pthread_mutex_destroy(&pool->mu);
	free(pool->url);
	free(pool->free);
	free(pool);
	return NULL;
}
