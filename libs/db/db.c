/* One libpq connection: parameterised statements, SQLSTATE → errno, one
 * careful reconnect, transactions. Migrations live in migrate.c. */
#include "db/db_priv.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* libpq prints NOTICEs (e.g. "relation already exists, skipping") on stderr
 * by default, which would break our one-JSON-line-per-event log. */
static void notice_to_log(void *arg, const char *message)
{
	(void)arg;
	size_t n = strlen(message);
	if (n > 0 && message[n - 1] == '\n')
		n--;
	log_debug("db_notice", "%.*s", (int)n, message);
}

int db_connect(struct db **dbp, const char *url)
{
	int err = 0;
	struct db *db = NULL;

	if (!dbp || !url)
		return EINVAL;
	db = calloc(1, sizeof(*db));
	if (!db) {
		err = ENOMEM;
		goto out;
	}
	db->conn = PQconnectdb(url);
	if (!db->conn) {
		err = ENOMEM;
		goto out;
	}
	if (PQstatus(db->conn) != CONNECTION_OK) {
		/* PQerrorMessage names host and port but never the password. */
		log_error("db_connect_failed", "%s", PQerrorMessage(db->conn));
		err = ECONNREFUSED;
		goto out;
	}
	PQsetNoticeProcessor(db->conn, notice_to_log, NULL);
	*dbp = db;
	db = NULL;
out:
	db_close(db);
	return err;
}

/* The server forgot every prepared statement with its session. */
static void stmts_forget(struct db *db)
{
	for (int i = 0; i < db->nstmts; i++)
		free(db->stmts[i].sql);
	db->nstmts = 0;
}

struct db *db_close(struct db *db)
{
	if (!db)
		return NULL;
	PQfinish(db->conn);
	stmts_forget(db);
	free(db);
	return NULL;
}

void db_set_prepared(struct db *db, bool on)
{
	if (db)
		db->prepared = on;
}

static unsigned long sql_hash(const char *sql)
{
	unsigned long h = 5381;
	for (const unsigned char *p = (const unsigned char *)sql; *p; p++)
		h = h * 33 + *p;
	return h;
}

/* The name of sql's prepared statement in name (16), preparing it on first
 * use; false when it is to be sent unprepared (cache full, out of memory,
 * or the server refused to prepare it: the unprepared send reports why). */
static bool stmt_name(struct db *db, char name[16], const char *sql, int nparams)
{
	unsigned long h = sql_hash(sql);
	int i = 0;
	for (; i < db->nstmts; i++)
		if (db->stmts[i].hash == h && strcmp(db->stmts[i].sql, sql) == 0)
			break;
	snprintf(name, 16, "cm_%d", i);
	if (i < db->nstmts)
		return true;
	if (db->nstmts == DB_STMT_MAX)
		return false;
	char *copy = strdup(sql);
	if (!copy)
		return false;
	PGresult *r = PQprepare(db->conn, name, sql, nparams, NULL);
	bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		free(copy);
		return false;
	}
	db->stmts[db->nstmts++] = (struct db_stmt){ .hash = h, .sql = copy };
	return true;
}

int db_errno_from_sqlstate(const char *state)
{
	if (!state || strlen(state) != 5)
		return EIO;
	if (strcmp(state, "23505") == 0)
		return EEXIST;
	if (strcmp(state, "23503") == 0)
		return ENOENT;
	if (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)
		return EINVAL;
	if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0)
		return EAGAIN;
	if (strcmp(state, "57014") == 0)
		return ETIMEDOUT;
	return EIO;
}

/* Logs a failed result once and turns it into an errno value. */
/* The first line of a libpq message, into db->last_error. */
static void keep_error(struct db *db, const char *msg)
{
	size_t n = strcspn(msg ? msg : "", "\n");
	snprintf(db->last_error, sizeof(db->last_error), "%.*s", (int)n, msg ? msg : "");
}

int db_result_error(struct db *db, const PGresult *r, const char *what)
{
	if (!r) {
		keep_error(db, PQerrorMessage(db->conn));
		log_error("db_error", "%s: %s", what, PQerrorMessage(db->conn));
		return PQstatus(db->conn) == CONNECTION_BAD ? EIO : ENOMEM;
	}
	const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
	const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
	const char *detail = PQresultErrorField(r, PG_DIAG_MESSAGE_DETAIL);
	if (!msg)
		msg = PQresultErrorMessage(r);
	keep_error(db, msg);
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		log_error("db_connection_lost", "%s: sqlstate=%s %s", what, state ? state : "-",
			  msg);
		return EIO;
	}
	int err = db_errno_from_sqlstate(state);
	if (PQresultStatus(r) == PGRES_EMPTY_QUERY)
		err = EINVAL;
	/* Constraint violations are the caller's data, not our fault: warn. */
	if (err == EIO)
		log_error("db_error", "%s: sqlstate=%s %s%s%s", what, state ? state : "-", msg,
			  detail ? " " : "", detail ? detail : "");
	else
		log_warn("db_error", "%s: sqlstate=%s %s%s%s", what, state ? state : "-", msg,
			 detail ? " " : "", detail ? detail : "");
	return err;
}

/* Sends one statement and collects its result. *sentp tells whether it
 * left this process at all: a statement that was never sent never ran. */
static PGresult *send_and_wait(struct db *db, const char *sql, int nparams,
			       const char *const *params, bool *sentp)
{
	PGconn *conn = db->conn;
	char name[16];
	if (db->prepared && nparams > 0 && stmt_name(db, name, sql, nparams))
		*sentp = PQsendQueryPrepared(conn, name, nparams, params, NULL, NULL, 0) == 1;
	else
		*sentp = PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0) == 1;
	if (!*sentp)
		return NULL;
	PGresult *keep = NULL, *r;
	while ((r = PQgetResult(conn)) != NULL) {
		/* The first error explains the failure; later ones are echoes. */
		if (keep && PQresultStatus(keep) == PGRES_FATAL_ERROR) {
			PQclear(r);
			continue;
		}
		PQclear(keep);
		keep = r;
	}
	return keep;
}

static bool is_commit(const char *sql)
{
	while (*sql == ' ' || *sql == '\t' || *sql == '\n' || *sql == '\r')
		sql++;
	return strncasecmp(sql, "commit", 6) == 0 || strncasecmp(sql, "end", 3) == 0;
}

/* Re-establishes a lost connection. Refused while a transaction was open:
 * its earlier statements are gone, and running the rest outside it would
 * commit half of it. The caller rolls back (which clears the flag). */
static int revive(struct db *db)
{
	if (PQstatus(db->conn) != CONNECTION_BAD)
		return 0;
	if (db->in_txn) {
		log_error("db_connection_lost", "connection lost inside a transaction");
		return EIO;
	}
	PQreset(db->conn);
	stmts_forget(db); /* a new session: nothing is prepared in it */
	if (PQstatus(db->conn) != CONNECTION_OK) {
		log_error("db_reconnect_failed", "%s", PQerrorMessage(db->conn));
		return EIO;
	}
	log_info("db_reconnected", "connection re-established");
	return 0;
}

/* After every statement, remember whether a transaction is open, so a
 * later connection loss knows whether retrying is safe. */
static void track_txn(struct db *db)
{
	PGTransactionStatusType ts = PQtransactionStatus(db->conn);
	db->in_txn = ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR;
}

int db_exec_raw(struct db *db, PGresult **resultp, const char *sql, int nparams,
		const char *const *params)
{
	int err = 0;
	PGresult *r = NULL;
	bool retry_allowed = !is_commit(sql);

	*resultp = NULL;
	db->last_error[0] = '\0';
	for (int attempt = 0; attempt < 2; attempt++) {
		err = revive(db);
		if (err)
			goto out;
		bool was_idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
		bool sent = false;
		r = send_and_wait(db, sql, nparams, params, &sent);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			track_txn(db);
			*resultp = r;
			r = NULL;
			err = 0;
			goto out;
		}
		if (PQstatus(db->conn) == CONNECTION_BAD && attempt == 0 && retry_allowed &&
		    was_idle) {
			/* Never sent, or the server said it was shutting this
			 * backend down (57P0x) — sent on a connection that was
			 * already dead, so nothing ran and one retry is safe. A
			 * bare EOF is ambiguous (it may have committed): no retry. */
			const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
			if (!sent || (state && strncmp(state, "57P", 3) == 0)) {
				log_warn("db_connection_lost", "retrying once after reconnect: %s",
					 r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
				PQclear(r);
				r = NULL;
				continue;
			}
		}
		err = db_result_error(db, r, "exec");
		if (PQstatus(db->conn) != CONNECTION_BAD)
			track_txn(db);
		goto out;
	}
out:
	PQclear(r);
	return err;
}

int db_exec(struct db *db, struct db_result **resp, const char *sql, int nparams,
	    const char *const *params)
{
	int err = 0;
	PGresult *r = NULL;
	struct db_result *res = NULL;

	if (resp)
		*resp = NULL;
	if (!db || !sql || nparams < 0 || (nparams > 0 && !params))
		return EINVAL;
	err = db_exec_raw(db, &r, sql, nparams, params);
	if (err)
		goto out;
	if (resp) {
		res = calloc(1, sizeof(*res));
		if (!res) {
			err = ENOMEM;
			goto out;
		}
		res->r = r;
		r = NULL;
		*resp = res;
	}
out:
	PQclear(r);
	return err;
}

const char *db_last_error(const struct db *db)
{
	return db ? db->last_error : "";
}

int db_ping(struct db *db)
{
	if (!db)
		return EINVAL;
	PGresult *r = NULL;
	int err = db_exec_raw(db, &r, "SELECT 1", 0, NULL);
	PQclear(r);
	if (err == EIO && PQstatus(db->conn) == CONNECTION_BAD && !db->in_txn) {
		/* The probe itself found the corpse (bare EOF, no retry in
		 * exec): reconnect now so the next statement finds it alive. */
		err = revive(db);
		if (!err) {
			err = db_exec_raw(db, &r, "SELECT 1", 0, NULL);
			PQclear(r);
		}
	}
	return err;
}

int db_begin(struct db *db)
{
	if (!db)
		return EINVAL;
	return db_exec(db, NULL, "BEGIN", 0, NULL);
}

int db_commit(struct db *db)
{
	int err = 0;
	PGresult *r = NULL;

	if (!db)
		return EINVAL;
	err = db_exec_raw(db, &r, "COMMIT", 0, NULL);
	if (err)
		goto out;
	/* COMMIT of an aborted transaction "succeeds" with the tag ROLLBACK. */
	if (strcmp(PQcmdStatus(r), "ROLLBACK") == 0) {
		log_warn("db_commit_rolled_back", "transaction had failed; rolled back");
		err = EIO;
	}
out:
	PQclear(r);
	if (db->conn && PQstatus(db->conn) == CONNECTION_BAD)
		db->in_txn = false; /* the server rolled it back when we vanished */
	return err;
}

int db_rollback(struct db *db)
{
	if (!db)
		return EINVAL;
	if (PQstatus(db->conn) == CONNECTION_BAD) {
		/* The transaction died with the connection: that is a rollback. */
		db->in_txn = false;
		return 0;
	}
	if (PQtransactionStatus(db->conn) == PQTRANS_IDLE) {
		db->in_txn = false;
		return 0;
	}
	PGresult *r = NULL;
	int err = db_exec_raw(db, &r, "ROLLBACK", 0, NULL);
	PQclear(r);
	if (PQstatus(db->conn) == CONNECTION_BAD)
		db->in_txn = false;
	return err;
}

int db_result_rows(const struct db_result *res)
{
	return res ? PQntuples(res->r) : 0;
}

int db_result_cols(const struct db_result *res)
{
	return res ? PQnfields(res->r) : 0;
}

int db_result_affected(const struct db_result *res)
{
	if (!res)
		return 0;
	const char *s = PQcmdTuples(res->r);
	int n = 0;
	/* PQcmdTuples is "" or a decimal count. */
	for (; *s >= '0' && *s <= '9' && n < 100000000; s++)
		n = n * 10 + (*s - '0');
	return n;
}

const char *db_result_get(const struct db_result *res, int row, int col)
{
	if (!res || row < 0 || col < 0 || row >= PQntuples(res->r) || col >= PQnfields(res->r))
		return NULL;
	if (PQgetisnull(res->r, row, col))
		return NULL;
	return PQgetvalue(res->r, row, col);
}

const char *db_result_by_name(const struct db_result *res, int row, const char *col)
{
	if (!res || !col)
		return NULL;
	return db_result_get(res, row, PQfnumber(res->r, col));
}

struct db_result *db_result_free(struct db_result *res)
{
	if (!res)
		return NULL;
	PQclear(res->r);
	free(res);
	return NULL;
}
