/* Internals shared by db.c and migrate.c; not for other modules. */
#ifndef CALLMESH_DB_PRIV_H
#define CALLMESH_DB_PRIV_H

#include "db/db.h"

#include <libpq-fe.h>
#include <stdbool.h>

/* Statements prepared on this connection (db_set_prepared): the SQL text
 * (owned copy) of each, named "cm_<index>". Beyond DB_STMT_MAX a statement
 * is sent unprepared, so a caller with many distinct texts costs no memory. */
#define DB_STMT_MAX 64

struct db_stmt {
	unsigned long hash;
	char *sql;
};

struct db {
	PGconn *conn;
	bool in_txn;   /* a transaction was open after the last statement */
	bool prepared; /* parameterised statements are prepared once, then reused */
	int nstmts;
	struct db_stmt stmts[DB_STMT_MAX];
	char last_error[256]; /* the server's message for the last statement, "" = it ran */
};

struct db_result {
	PGresult *r;
};

/* db_exec without the wrapper: *resultp is the caller's PGresult on success. */
int db_exec_raw(struct db *db, PGresult **resultp, const char *sql, int nparams,
		const char *const *params);
/* Logs a failed result (r may be NULL) once; returns the errno value. */
int db_result_error(struct db *db, const PGresult *r, const char *what);
int db_errno_from_sqlstate(const char *state);

#endif
