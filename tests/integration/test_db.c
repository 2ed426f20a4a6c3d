/* libs/db against a throw-away PostgreSQL cluster (scripts/pg.sh). */
#include "db/db.h"
#include "harness/test.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* Starts a cluster and connects to it; each test gets its own. */
static int setup(struct test_pg *pg, struct db **dbp)
{
	int err = test_pg_start(pg);
	if (err)
		return err;
	return db_connect(dbp, pg->url);
}

static void teardown(struct test_pg *pg, struct db *db)
{
	db_close(db);
	test_pg_destroy(pg);
}

static int write_file(const char *dir, const char *name, const char *text)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (!f)
		return errno;
	fputs(text, f);
	return fclose(f) == 0 ? 0 : EIO;
}

/* One string per query result: rows joined by '\n', columns by '|'. */
static char *snapshot(struct db *db, const char *sql)
{
	struct db_result *res = NULL;
	char *out = NULL;
	size_t cap = 8192, pos = 0;
	if (db_exec(db, &res, sql, 0, NULL) != 0)
		return NULL;
	out = calloc(1, cap);
	for (int r = 0; out && r < db_result_rows(res); r++) {
		for (int c = 0; c < db_result_cols(res) && pos < cap - 1; c++) {
			const char *v = db_result_get(res, r, c);
			pos += (size_t)snprintf(out + pos, cap - pos, "%s|", v ? v : "NULL");
		}
		if (pos < cap - 1)
			out[pos++] = '\n';
	}
	db_result_free(res);
	return out;
}

static int test_connect_and_ping(void)
{
	int err = 0;
	struct test_pg pg;
	struct db *db = NULL, *nodb = NULL;
	char url[128];
	TEST_EQ_INT(setup(&pg, &db), 0);
	TEST_EQ_INT(db_ping(db), 0);
	/* Nothing listens there: refused, and *dbp untouched. */
	snprintf(url, sizeof(url), "postgresql://callmesh@127.0.0.1:%d/callmesh?connect_timeout=2",
		 test_free_port());
	TEST_EQ_INT(db_connect(&nodb, url), ECONNREFUSED);
	TEST_ASSERT(nodb == NULL);
	TEST_ASSERT(db_close(NULL) == NULL);
	TEST_ASSERT(db_result_free(NULL) == NULL);
out:
	teardown(&pg, db);
	return err;
}

static int test_params_nulls_quotes(void)
{
	int err = 0;
	struct test_pg pg;
	struct db *db = NULL;
	struct db_result *res = NULL;
	const char *evil = "O'Brien\"; DROP TABLE people; --";
	TEST_EQ_INT(setup(&pg, &db), 0);
	TEST_EQ_INT(db_exec(db, NULL,
			    "CREATE TABLE people (id integer PRIMARY KEY, name text NOT NULL,"
			    " note text, meta jsonb)", 0, NULL), 0);
	const char *row1[] = { "1", evil, NULL, "{\"k\": \"v'\"}" };
	TEST_EQ_INT(db_exec(db, &res,
			    "INSERT INTO people (id, name, note, meta) VALUES ($1::integer, $2, "
			    "$3, $4::jsonb)",
			    4, row1),
		    0);
	TEST_EQ_INT(db_result_affected(res), 1);
	res = db_result_free(res);
	const char *row2[] = { "2", "plain", "a\nb\\c", NULL };
	TEST_EQ_INT(db_exec(db, NULL,
			    "INSERT INTO people (id, name, note, meta) VALUES ($1::integer, $2, "
			    "$3, $4::jsonb)",
			    4, row2),
		    0);

	const char *sel[] = { evil };
	TEST_EQ_INT(db_exec(db, &res,
			    "SELECT id, name, note, meta->>'k' AS k FROM people WHERE name = $1", 1,
			    sel),
		    0);
	TEST_EQ_INT(db_result_rows(res), 1);
	TEST_EQ_STR(db_result_get(res, 0, 0), "1");
	TEST_EQ_STR(db_result_by_name(res, 0, "name"), evil);
	TEST_ASSERT(db_result_by_name(res, 0, "note") == NULL); /* SQL NULL */
	TEST_EQ_STR(db_result_by_name(res, 0, "k"), "v'");
	TEST_ASSERT(db_result_by_name(res, 0, "missing") == NULL);
	TEST_ASSERT(db_result_get(res, 1, 0) == NULL);
	TEST_ASSERT(db_result_get(res, 0, 9) == NULL);
	res = db_result_free(res);

	/* A NULL parameter is SQL NULL, not the string "NULL". */
	const char *nul[] = { NULL };
	TEST_EQ_INT(db_exec(db, &res,
			    "SELECT count(*) FROM people WHERE note IS NOT DISTINCT FROM $1", 1,
			    nul),
		    0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "1");
	res = db_result_free(res);
	TEST_EQ_INT(db_exec(db, &res, "SELECT note FROM people WHERE id = 2", 0, NULL), 0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "a\nb\\c");
	res = db_result_free(res);
	TEST_EQ_INT(db_exec(db, &res, "UPDATE people SET note = 'x'", 0, NULL), 0);
	TEST_EQ_INT(db_result_affected(res), 2);
	res = db_result_free(res);
	/* The table survived the name above. */
	TEST_EQ_INT(db_exec(db, &res, "SELECT count(*) FROM people", 0, NULL), 0);
	TEST_EQ_STR(db_result_get(res, 0, 0), "2");
out:
	db_result_free(res);
	teardown(&pg, db);
	return err;
}

static int test_error_mapping(void)
{
	int err = 0;
	struct test_pg pg;
	struct db *db = NULL;
	struct db_result *res = NULL;
	TEST_EQ_INT(setup(&pg, &db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "CREATE TABLE parent (id integer PRIMARY KEY)", 0, NULL), 0);
	TEST_EQ_INT(db_exec(db, NULL,
			    "CREATE TABLE child (id integer PRIMARY KEY, parent_id integer NOT NULL"
			    " REFERENCES parent(id), n integer CHECK (n > 0))", 0, NULL), 0);
	const char *one[] = { "1" };
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO parent (id) VALUES ($1::integer)", 1, one), 0);
	TEST_EQ_INT(db_exec(db, &res, "INSERT INTO parent (id) VALUES ($1::integer)", 1, one),
		    EEXIST);
	TEST_ASSERT(res == NULL);
	const char *orphan[] = { "1", "99", "5" };
	TEST_EQ_INT(db_exec(db, NULL,
			    "INSERT INTO child VALUES ($1::integer, $2::integer, $3::integer)", 3,
			    orphan),
		    ENOENT);
	const char *check[] = { "1", "1", "-5" };
	TEST_EQ_INT(db_exec(db, NULL,
			    "INSERT INTO child VALUES ($1::integer, $2::integer, $3::integer)", 3,
			    check),
		    EINVAL);
	const char *notnull[] = { "1", NULL, "5" };
	TEST_EQ_INT(db_exec(db, NULL,
			    "INSERT INTO child VALUES ($1::integer, $2::integer, $3::integer)", 3,
			    notnull),
		    EINVAL);
	const char *notint[] = { "seven" };
	TEST_EQ_INT(db_exec(db, NULL, "SELECT $1::integer", 1, notint), EINVAL);
	TEST_EQ_INT(db_exec(db, NULL, "SELEC 1", 0, NULL), EIO);
	TEST_EQ_INT(db_exec(db, NULL, "SELECT 1", -1, NULL), EINVAL);
	/* The connection is fine after all that. */
	TEST_EQ_INT(db_ping(db), 0);
out:
	db_result_free(res);
	teardown(&pg, db);
	return err;
}

static int count_rows(struct db *db, const char *sql, int *np)
{
	struct db_result *res = NULL;
	int err = db_exec(db, &res, sql, 0, NULL);
	if (!err) {
		const char *v = db_result_get(res, 0, 0);
		*np = v ? (int)strtol(v, NULL, 10) : -1;
	}
	db_result_free(res);
	return err;
}

static int test_transactions(void)
{
	int err = 0, n = -1;
	struct test_pg pg;
	struct db *db = NULL;
	TEST_EQ_INT(setup(&pg, &db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "CREATE TABLE t (id integer PRIMARY KEY)", 0, NULL), 0);
	TEST_EQ_INT(db_begin(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), 0);
	TEST_EQ_INT(db_rollback(db), 0);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 0);
	TEST_EQ_INT(db_rollback(db), 0); /* nothing open: a no-op */

	TEST_EQ_INT(db_begin(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), 0);
	TEST_EQ_INT(db_commit(db), 0);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 1);

	/* A failed statement dooms the transaction; COMMIT says so. */
	TEST_EQ_INT(db_begin(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (2)", 0, NULL), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), EEXIST);
	TEST_EQ_INT(db_commit(db), EIO);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 1);
out:
	teardown(&pg, db);
	return err;
}

static int backend_pid(struct db *db, char pid[16])
{
	struct db_result *res = NULL;
	int err = db_exec(db, &res, "SELECT pg_backend_pid()", 0, NULL);
	if (!err)
		snprintf(pid, 16, "%s", db_result_get(res, 0, 0));
	db_result_free(res);
	return err;
}

static int kill_backend(struct db *killer, const char *pid)
{
	const char *params[] = { pid };
	/* Waits (up to 5 s) until the backend is really gone. */
	return db_exec(killer, NULL, "SELECT pg_terminate_backend($1::integer, 5000)", 1, params);
}

static int test_reconnect(void)
{
	int err = 0, n = -1;
	struct test_pg pg;
	struct db *db = NULL, *admin = NULL;
	char pid[16];
	TEST_EQ_INT(setup(&pg, &db), 0);
	TEST_EQ_INT(db_connect(&admin, pg.url), 0);
	TEST_EQ_INT(db_exec(db, NULL, "CREATE TABLE t (id integer PRIMARY KEY)", 0, NULL), 0);

	/* Idle connection killed: the next statement reconnects and runs once. */
	TEST_EQ_INT(backend_pid(db, pid), 0);
	TEST_EQ_INT(kill_backend(admin, pid), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (1)", 0, NULL), 0);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 1);

	/* db_ping revives a dead connection too. */
	TEST_EQ_INT(backend_pid(db, pid), 0);
	TEST_EQ_INT(kill_backend(admin, pid), 0);
	TEST_EQ_INT(db_ping(db), 0);

	/* Inside a transaction there is no retry: the work so far is lost. */
	TEST_EQ_INT(backend_pid(db, pid), 0);
	TEST_EQ_INT(db_begin(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (2)", 0, NULL), 0);
	TEST_EQ_INT(kill_backend(admin, pid), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (3)", 0, NULL), EIO);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (4)", 0, NULL), EIO);
	TEST_EQ_INT(db_rollback(db), 0);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 1);

	/* COMMIT on a killed connection is never retried. */
	TEST_EQ_INT(backend_pid(db, pid), 0);
	TEST_EQ_INT(db_begin(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, "INSERT INTO t VALUES (5)", 0, NULL), 0);
	TEST_EQ_INT(kill_backend(admin, pid), 0);
	TEST_EQ_INT(db_commit(db), EIO);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 1);
out:
	db_close(admin);
	teardown(&pg, db);
	return err;
}

/* 70 distinct statement texts, fixed at compile time; text i answers $1 + i */
#define MANY_TEXT(n) "SELECT $1::integer + " #n
#define MANY_TEN(t)                                                                    \
	MANY_TEXT(t##0), MANY_TEXT(t##1), MANY_TEXT(t##2), MANY_TEXT(t##3), MANY_TEXT(t##4), \
		MANY_TEXT(t##5), MANY_TEXT(t##6), MANY_TEXT(t##7), MANY_TEXT(t##8), MANY_TEXT(t##9)
static const char *const many_texts[] = {
	MANY_TEXT(0), MANY_TEXT(1), MANY_TEXT(2), MANY_TEXT(3), MANY_TEXT(4),
	MANY_TEXT(5), MANY_TEXT(6), MANY_TEXT(7), MANY_TEXT(8), MANY_TEXT(9),
	MANY_TEN(1),  MANY_TEN(2),  MANY_TEN(3),  MANY_TEN(4),  MANY_TEN(5),
	MANY_TEN(6),
};
_Static_assert(CM_ARRAY_LEN(many_texts) == 70, "more texts than the 64 a connection keeps");

/* db_set_prepared: each parameterised text prepared once per session, the
 * same results and errors as unprepared, prepared again after a reconnect,
 * at most 64 texts kept; off, nothing is prepared. */
static int test_prepared(void)
{
	int err = 0, n = -1;
	struct test_pg pg;
	struct db *db = NULL, *admin = NULL;
	char pid[16], v[16];
	static const char insert[] = "INSERT INTO t (id, name) VALUES ($1::integer, $2)";
	static const char prepared[] = "SELECT count(*) FROM pg_prepared_statements";
	TEST_EQ_INT(setup(&pg, &db), 0);
	TEST_EQ_INT(db_connect(&admin, pg.url), 0);
	TEST_EQ_INT(db_exec(db, NULL, "CREATE TABLE t (id integer PRIMARY KEY, name text)", 0,
			    NULL), 0);
	db_set_prepared(db, true);
	for (int i = 1; i <= 3; i++) {
		snprintf(v, sizeof(v), "%d", i);
		TEST_EQ_INT(db_exec(db, NULL, insert, 2, (const char *[]){ v, "it's" }), 0);
	}
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t WHERE name = 'it''s'", &n), 0);
	TEST_EQ_INT(n, 3);
	TEST_EQ_INT(count_rows(db, prepared, &n), 0);
	TEST_EQ_INT(n, 1);
	TEST_EQ_INT(db_exec(db, NULL, insert, 2, (const char *[]){ "1", "again" }), EEXIST);
	/* a prepared statement outlives a rolled-back transaction */
	TEST_EQ_INT(db_begin(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, insert, 2, (const char *[]){ "10", "x" }), 0);
	TEST_EQ_INT(db_rollback(db), 0);
	TEST_EQ_INT(db_exec(db, NULL, insert, 2, (const char *[]){ "11", "y" }), 0);
	/* a new session after a reconnect: prepared again */
	TEST_EQ_INT(backend_pid(db, pid), 0);
	TEST_EQ_INT(kill_backend(admin, pid), 0);
	TEST_EQ_INT(db_exec(db, NULL, insert, 2, (const char *[]){ "12", "z" }), 0);
	TEST_EQ_INT(count_rows(db, prepared, &n), 0);
	TEST_EQ_INT(n, 1);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM t", &n), 0);
	TEST_EQ_INT(n, 5);
	/* 70 texts: every one runs, 64 are kept */
	for (size_t i = 0; i < CM_ARRAY_LEN(many_texts); i++) {
		struct db_result *res = NULL;
		TEST_EQ_INT(db_exec(db, &res, many_texts[i], 1, (const char *[]){ "1" }), 0);
		snprintf(v, sizeof(v), "%zu", i + 1);
		TEST_EQ_STR(db_result_get(res, 0, 0), v);
		db_result_free(res);
	}
	TEST_EQ_INT(count_rows(db, prepared, &n), 0);
	TEST_EQ_INT(n, 64);
	/* off: sent unprepared */
	db_set_prepared(admin, false);
	TEST_EQ_INT(db_exec(admin, NULL, insert, 2, (const char *[]){ "13", "w" }), 0);
	TEST_EQ_INT(count_rows(admin, prepared, &n), 0);
	TEST_EQ_INT(n, 0);
out:
	db_close(admin);
	teardown(&pg, db);
	return err;
}

static const char *const mig_files[][2] = {
	{ "001_people.sql", "-- first\nCREATE TABLE people (id integer PRIMARY KEY, name text);\n"
			    "INSERT INTO people VALUES (1, 'seed; with '';'' inside');\n" },
	{ "002_index.sql", "CREATE INDEX people_name ON people (name);" },
	{ "010_notes.sql",
	  "ALTER TABLE people ADD COLUMN note text;\nUPDATE people SET note = 'n';" },
};

static int write_migrations(const char *dir)
{
	for (size_t i = 0; i < CM_ARRAY_LEN(mig_files); i++) {
		int err = write_file(dir, mig_files[i][0], mig_files[i][1]);
		if (err)
			return err;
	}
	return 0;
}

#define SCHEMA_SQL                                                                          \
	"SELECT table_name, column_name, data_type FROM information_schema.columns"          \
	" WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"

static int test_migrate(void)
{
	int err = 0, applied = -1, n = -1;
	struct test_pg pg;
	struct db *db = NULL;
	struct db_result *res = NULL;
	char *dir = NULL, *before = NULL, *after = NULL, *recorded = NULL, *recorded2 = NULL;
	TEST_EQ_INT(setup(&pg, &db), 0);
	dir = test_tmpdir("mig");
	TEST_ASSERT(dir != NULL);
	TEST_EQ_INT(write_migrations(dir), 0);
	TEST_EQ_INT(write_file(dir, ".gitkeep", ""), 0); /* hidden files are ignored */

	TEST_EQ_INT(db_migrate(db, dir, &applied), 0);
	TEST_EQ_INT(applied, 3);
	TEST_EQ_INT(
		db_exec(db, &res,
			"SELECT version, name FROM schema_migrations ORDER BY applied_at, version",
			0, NULL),
		0);
	TEST_EQ_INT(db_result_rows(res), 3);
	TEST_EQ_STR(db_result_get(res, 0, 0), "1");
	TEST_EQ_STR(db_result_get(res, 1, 0), "2");
	TEST_EQ_STR(db_result_get(res, 2, 0), "10"); /* numeric, not lexical, order */
	TEST_EQ_STR(db_result_by_name(res, 2, "name"), "010_notes.sql");
	res = db_result_free(res);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM people WHERE note = 'n'", &n), 0);
	TEST_EQ_INT(n, 1);

	/* Again: nothing applied, nothing changed. */
	before = snapshot(db, SCHEMA_SQL);
	recorded = snapshot(
		db, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
	TEST_ASSERT(before && recorded);
	TEST_EQ_INT(db_migrate(db, dir, &applied), 0);
	TEST_EQ_INT(applied, 0);
	after = snapshot(db, SCHEMA_SQL);
	recorded2 = snapshot(
		db, "SELECT version, name, applied_at FROM schema_migrations ORDER BY version");
	TEST_EQ_STR(after, before);
	TEST_EQ_STR(recorded2, recorded);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM people", &n), 0);
	TEST_EQ_INT(n, 1);

	/* A new file later: only it runs. */
	TEST_EQ_INT(write_file(dir, "011_more.sql", "ALTER TABLE people ADD COLUMN age integer;"),
		    0);
	TEST_EQ_INT(db_migrate(db, dir, &applied), 0);
	TEST_EQ_INT(applied, 1);
out:
	db_result_free(res);
	free(before);
	free(after);
	free(recorded);
	free(recorded2);
	test_rmtree(dir);
	free(dir);
	teardown(&pg, db);
	return err;
}

static int test_migrate_bad_names(void)
{
	int err = 0, applied = -1, n = -1;
	struct test_pg pg;
	struct db *db = NULL;
	char *dir = NULL;
	const char *bad[] = { "people.sql", "001-people.sql", "001_people.txt", "001_.sql",
			      "001_pe ople.sql", "x001_people.sql" };
	TEST_EQ_INT(setup(&pg, &db), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(bad); i++) {
		dir = test_tmpdir("mig");
		TEST_ASSERT(dir != NULL);
		TEST_EQ_INT(write_migrations(dir), 0);
		TEST_EQ_INT(write_file(dir, bad[i], "SELECT 1;"), 0);
		TEST_EQ_INT(db_migrate(db, dir, &applied), EINVAL);
		/* Names are checked before anything runs. */
		TEST_EQ_INT(applied, 0);
		test_rmtree(dir);
		free(dir);
		dir = NULL;
	}
	/* Two files with one number. */
	dir = test_tmpdir("mig");
	TEST_ASSERT(dir != NULL);
	TEST_EQ_INT(write_migrations(dir), 0);
	TEST_EQ_INT(write_file(dir, "2_again.sql", "SELECT 1;"), 0);
	TEST_EQ_INT(db_migrate(db, dir, &applied), EINVAL);
	TEST_EQ_INT(applied, 0);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'people'", &n),
		    0);
	TEST_EQ_INT(n, 0);
	/* A missing directory. */
	TEST_EQ_INT(db_migrate(db, "/nonexistent/migrations", &applied), ENOENT);
out:
	test_rmtree(dir);
	free(dir);
	teardown(&pg, db);
	return err;
}

static int test_migrate_failure_rolls_back(void)
{
	int err = 0, applied = -1, n = -1;
	struct test_pg pg;
	struct db *db = NULL;
	char *dir = NULL;
	TEST_EQ_INT(setup(&pg, &db), 0);
	dir = test_tmpdir("mig");
	TEST_ASSERT(dir != NULL);
	TEST_EQ_INT(write_file(dir, "001_ok.sql", "CREATE TABLE ok (id integer);"), 0);
	TEST_EQ_INT(write_file(dir, "002_broken.sql",
			       "CREATE TABLE half (id integer);\nINSERT INTO nowhere VALUES (1);"),
		    0);
	TEST_EQ_INT(write_file(dir, "003_after.sql", "CREATE TABLE after (id integer);"), 0);
	TEST_EQ_INT(db_migrate(db, dir, &applied), EIO);
	TEST_EQ_INT(applied, 1);
	TEST_EQ_INT(
		count_rows(db,
			   "SELECT count(*) FROM pg_tables WHERE tablename IN ('half', 'after')",
			   &n),
		0);
	TEST_EQ_INT(n, 0);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM pg_tables WHERE tablename = 'ok'", &n), 0);
	TEST_EQ_INT(n, 1);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM schema_migrations", &n), 0);
	TEST_EQ_INT(n, 1);

	/* A script that commits on its own is refused and not recorded. */
	TEST_EQ_INT(write_file(dir, "002_broken.sql", "SELECT 1; COMMIT;"), 0);
	TEST_EQ_INT(db_migrate(db, dir, &applied), EINVAL);
	TEST_EQ_INT(count_rows(db, "SELECT count(*) FROM schema_migrations", &n), 0);
	TEST_EQ_INT(n, 1);

	/* Fixed: the rest applies. */
	TEST_EQ_INT(write_file(dir, "002_broken.sql", "CREATE TABLE half (id integer);"), 0);
	TEST_EQ_INT(db_migrate(db, dir, &applied), 0);
	TEST_EQ_INT(applied, 2);
out:
	test_rmtree(dir);
	free(dir);
	teardown(&pg, db);
	return err;
}

struct racer {
	const char *url;
	const char *dir;
	int err;
	int applied;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	struct db *db = NULL;
	r->err = db_connect(&db, r->url);
	if (!r->err)
		r->err = db_migrate(db, r->dir, &r->applied);
	db_close(db);
	return NULL;
}

static int test_migrate_concurrent(void)
{
	int err = 0, n = -1;
	struct test_pg pg;
	struct db *db = NULL;
	char *dir = NULL;
	struct racer racers[4];
	pthread_t th[4];
	size_t started = 0;
	TEST_EQ_INT(setup(&pg, &db), 0);
	dir = test_tmpdir("mig");
	TEST_ASSERT(dir != NULL);
	TEST_EQ_INT(write_migrations(dir), 0);
	for (size_t i = 0; i < CM_ARRAY_LEN(racers); i++) {
		racers[i] = (struct racer){ pg.url, dir, -1, 0 };
		TEST_EQ_INT(pthread_create(&th[i], NULL, race, &racers[i]), 0);
		started++;
	}
out:
	for (size_t i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (!err && started == CM_ARRAY_LEN(racers)) {
		int total = 0;
		for (size_t i = 0; i < started; i++) {
			if (racers[i].err != 0) {
				test_failed(__FILE__, __LINE__, "racer %zu: %d", i, racers[i].err);
				err = 1;
			}
			total += racers[i].applied;
		}
		if (total != (int)CM_ARRAY_LEN(mig_files)) {
			test_failed(__FILE__, __LINE__, "applied %d in total", total);
			err = 1;
		}
		if (count_rows(db, "SELECT count(*) FROM schema_migrations", &n) != 0 ||
		    n != (int)CM_ARRAY_LEN(mig_files)) {
			test_failed(__FILE__, __LINE__, "schema_migrations has %d rows", n);
			err = 1;
		}
	}
	test_rmtree(dir);
	free(dir);
	teardown(&pg, db);
	return err;
}

static const struct test tests[] = {
	{ "connect_and_ping", test_connect_and_ping },
	{ "params_nulls_quotes", test_params_nulls_quotes },
	{ "error_mapping", test_error_mapping },
	{ "transactions", test_transactions },
	{ "reconnect", test_reconnect },
	{ "prepared", test_prepared },
	{ "migrate", test_migrate },
	{ "migrate_bad_names", test_migrate_bad_names },
	{ "migrate_failure_rolls_back", test_migrate_failure_rolls_back },
	{ "migrate_concurrent", test_migrate_concurrent },
};

TEST_MAIN(tests)
