/*
 * db — the one place callmesh talks to PostgreSQL (libpq).
 *
 * A struct db is one connection and belongs to one thread: libpq connections
 * are not safe to share, so a service that queries from several threads
 * opens one struct db per thread.
 *
 * Every statement goes through PQexecParams with text parameters; SQL is
 * never assembled from values. Errors come back as errno values:
 *   EEXIST  unique violation (23505)
 *   ENOENT  foreign key violation (23503): the referenced row is missing
 *   EINVAL  other data exceptions and integrity violations (22xxx, 23xxx),
 *           or bad arguments
 *   EAGAIN  serialization failure or deadlock (40001, 40P01): retry the txn
 *   ETIMEDOUT statement timeout / cancel (57014)
 *   EIO     connection lost or any other server error
 * The SQLSTATE and server message are logged once, where the error starts.
 */
#ifndef CALLMESH_DB_H
#define CALLMESH_DB_H

#include "core/core.h"

struct db;
struct db_result;

/* Opens a connection to `url` (libpq URI or key=value string; not kept).
 * On success *dbp is the caller's; close it with db_close(). */
int db_connect(struct db **dbp, const char *url) CM_MUST_USE;
/* Closes the connection. NULL-safe; returns NULL (db = db_close(db)). */
struct db *db_close(struct db *db);

/* Prepared statements on this connection (off after db_connect). When on,
 * each distinct SQL text run with parameters is prepared once (PQprepare,
 * one extra round trip the first time) and later runs only bind and
 * execute it: the server skips parsing and planning. The cache holds 64
 * texts and is emptied when the connection is re-established. Leave it off
 * behind a transaction-mode pooler (PgBouncer): a prepared statement lives
 * in one server session, which such a pooler does not keep for a client. */
void db_set_prepared(struct db *db, bool on);

/* 0 when the connection answers a trivial query. A lost connection is
 * re-established once (PQreset) before giving up with EIO. */
int db_ping(struct db *db) CM_MUST_USE;

/* Runs one statement with `nparams` text parameters ($1…; a NULL entry is
 * SQL NULL). When resp is not NULL and the statement succeeds, *resp is a
 * result the caller frees with db_result_free(); on error *resp is NULL.
 *
 * A connection already known to be dead is re-established before sending.
 * A statement sent on a connection that turns out to have died before it
 * ran (the send failed, or the server's reply is its 57P0x "terminating
 * connection" notice) is retried once after PQreset — only outside a
 * transaction and never for COMMIT. Inside a transaction, or when the
 * server may have executed the statement (bare EOF), it is EIO; after a
 * loss inside a transaction, statements fail with EIO until db_rollback(). */
int db_exec(struct db *db, struct db_result **resp, const char *sql, int nparams,
	    const char *const *params) CM_MUST_USE;

/* The server's message (its first line) for why the last statement on
 * this connection failed, e.g. "permission denied for table calls"; "" when
 * it ran or failed on our side. For reports to users: it names no
 * password and no parameter values (DETAIL is left out). */
const char *db_last_error(const struct db *db);

/* Transactions on this connection. db_commit() of a transaction that
 * already failed (the server answers ROLLBACK) returns EIO. db_rollback()
 * is a no-op when no transaction is open, so `out:` paths may call it
 * unconditionally; it is not CM_MUST_USE for that reason. */
int db_begin(struct db *db) CM_MUST_USE;
int db_commit(struct db *db) CM_MUST_USE;
int db_rollback(struct db *db);

/* Result accessors. Strings are borrowed from the result and live until
 * db_result_free(). A SQL NULL, an unknown column or a row/column out of
 * range reads as NULL. */
int db_result_rows(const struct db_result *res);
int db_result_cols(const struct db_result *res);
/* Rows touched by INSERT/UPDATE/DELETE (0 for other statements). */
int db_result_affected(const struct db_result *res);
const char *db_result_get(const struct db_result *res, int row, int col);
const char *db_result_by_name(const struct db_result *res, int row, const char *col);
/* NULL-safe; returns NULL. */
struct db_result *db_result_free(struct db_result *res);

/* Applies the migrations in `dir`: files named NNN_name.sql (digits, '_',
 * letters/digits/'_'/'-', ".sql"), in numeric order, each in its own
 * transaction together with its row in schema_migrations(version, name,
 * applied_at). Hidden files (leading '.') are ignored; any other name, or
 * two files with the same number, is EINVAL and logged naming the file.
 * Already-recorded versions are skipped, so running it again is a no-op.
 * Every step holds pg_advisory_xact_lock, so processes starting together
 * apply each file once. A migration file is trusted SQL shipped with the
 * service and may hold several statements, but no BEGIN/COMMIT of its own.
 * *appliedp (may be NULL) = number of files newly applied, also on error. */
int db_migrate(struct db *db, const char *dir, int *appliedp) CM_MUST_USE;

/* ---- pool: connections shared by a fixed set of threads ------------------
 * A mutex-guarded set of `size` connections for servers whose handlers run
 * on several threads (libmicrohttpd's pool): a handler borrows one with
 * db_pool_get(), uses it alone, and hands it back with db_pool_put().
 * Connections are opened lazily on first use and reopened after a failed
 * connect, so the pool can be created while PostgreSQL is still down. */
struct db_pool;

/* `url` is copied. `size` 1..256. Connects nothing yet. EINVAL, ENOMEM.
 * Its connections use prepared statements when `prepared` (db_set_prepared).
 * Caller frees with db_pool_free(). */
int db_pool_new(struct db_pool **poolp, const char *url, int size, bool prepared) CM_MUST_USE;
/* Borrows a connection, waiting at most timeout_ms (≥ 0) for one to be free
 * and connecting it when needed. NULL with errno = ETIMEDOUT (none free in
 * time), ECONNREFUSED (cannot connect) or EINVAL. The connection belongs to
 * the calling thread until db_pool_put(). */
struct db *db_pool_get(struct db_pool *pool, int timeout_ms);
/* Hands a connection back (NULL-safe). A transaction left open is rolled
 * back first, so the next borrower starts clean. */
void db_pool_put(struct db_pool *pool, struct db *db);
/* Closes every connection; all must have been put back. NULL-safe; NULL. */
struct db_pool *db_pool_free(struct db_pool *pool);

#endif
