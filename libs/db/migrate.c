/* Schema migrations: NNN_name.sql files applied once each, in order, each in
 * its own transaction, serialised across processes by an advisory lock. */
#include "db/db_priv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* "callmesh" as a big-endian int64: one lock id every service agrees on. */
#define MIGRATE_LOCK_KEY "7161124095443432296"
#define MIGRATE_FILES_MAX 1000
#define MIGRATE_FILE_MAX (4u << 20) /* a migration larger than this is a mistake */
#define MIGRATE_NAME_MAX 128

struct migration {
	int version;
	char file[MIGRATE_NAME_MAX];
};

/* NNN_name.sql: 1–9 digits, '_', [A-Za-z0-9_-]+, ".sql". */
static bool parse_name(const char *file, int *versionp)
{
	const char *p = file;
	long v = 0;
	int digits = 0;
	for (; *p >= '0' && *p <= '9'; p++, digits++) {
		if (digits == 9)
			return false;
		v = v * 10 + (*p - '0');
	}
	if (digits == 0 || *p != '_')
		return false;
	p++;
	size_t len = strlen(p);
	if (len <= 4 || strcmp(p + len - 4, ".sql") != 0)
		return false;
	for (size_t i = 0; i < len - 4; i++) {
		char c = p[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '-';
		if (!ok)
			return false;
	}
	*versionp = (int)v;
	return true;
}

static int by_version(const void *a, const void *b)
{
	const struct migration *x = a, *y = b;
	return (x->version > y->version) - (x->version < y->version);
}

/* Lists and validates the directory; *listp is the caller's (free). */
static int list_migrations(const char *dir, struct migration **listp, size_t *np)
{
	int err = 0;
	DIR *d = NULL;
	struct migration *list = NULL;
	size_t n = 0;

	d = opendir(dir);
	if (!d) {
		err = errno;
		log_error("db_migrate_dir", "%s: %s", dir, strerror(err));
		goto out;
	}
	list = calloc(MIGRATE_FILES_MAX, sizeof(*list));
	if (!list) {
		err = ENOMEM;
		goto out;
	}
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue; /* ".", "..", editor swap files, .gitkeep */
		int version = 0;
		if (strlen(de->d_name) >= MIGRATE_NAME_MAX || !parse_name(de->d_name, &version)) {
			log_error("db_migrate_bad_name", "%s/%s: not NNN_name.sql", dir,
				  de->d_name);
			err = EINVAL;
			goto out;
		}
		if (n == MIGRATE_FILES_MAX) {
			log_error("db_migrate_too_many", "%s: more than %d files", dir,
				  MIGRATE_FILES_MAX);
			err = E2BIG;
			goto out;
		}
		list[n].version = version;
		/* Length checked above; memcpy keeps -Wformat-truncation quiet at -O1. */
		memcpy(list[n].file, de->d_name, strlen(de->d_name) + 1);
		n++;
	}
	qsort(list, n, sizeof(*list), by_version);
	for (size_t i = 1; i < n; i++) {
		if (list[i].version == list[i - 1].version) {
			log_error("db_migrate_duplicate", "%s/%s and %s share version %d", dir,
				  list[i - 1].file, list[i].file, list[i].version);
			err = EINVAL;
			goto out;
		}
	}
	*listp = list;
	*np = n;
	list = NULL;
out:
	if (d)
		closedir(d);
	free(list);
	return err;
}

/* Reads a whole migration file, NUL-terminated; *textp is the caller's. */
static int read_file(const char *dir, const char *file, char **textp)
{
	int err = 0, fd = -1;
	char path[4096];
	char *text = NULL;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		err = errno;
		log_error("db_migrate_read", "%s: %s", path, strerror(err));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > MIGRATE_FILE_MAX) {
		log_error("db_migrate_read", "%s: not a regular file under %u bytes", path,
			  MIGRATE_FILE_MAX);
		err = EINVAL;
		goto out;
	}
	size_t size = (size_t)st.st_size, got = 0;
	text = malloc(size + 1);
	if (!text) {
		err = ENOMEM;
		goto out;
	}
	while (got < size) {
		ssize_t r = read(fd, text + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			err = r < 0 ? errno : EIO;
			log_error("db_migrate_read", "%s: short read", path);
			goto out;
		}
		got += (size_t)r;
	}
	text[size] = '\0';
	*textp = text;
	text = NULL;
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return err;
}

static int lock_migrations(struct db *db)
{
	const char *params[] = { MIGRATE_LOCK_KEY };
	return db_exec(db, NULL, "SELECT pg_advisory_xact_lock($1::bigint)", 1, params);
}

/* Runs the file's statements inside the open transaction. The simple query
 * protocol (PQexec) is the only way to send a multi-statement script; the
 * text is a file shipped with the service, not anything a request supplied. */
static int run_script(struct db *db, const char *file, const char *sql)
{
	int err = 0;
	PGresult *r = PQexec(db->conn, sql);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY) {
		err = db_result_error(db, r, file);
		goto out;
	}
	if (PQtransactionStatus(db->conn) != PQTRANS_INTRANS) {
		/* The script ended our transaction itself: it would no longer be
		 * atomic with its schema_migrations row. */
		log_error("db_migrate_txn", "%s: must not contain BEGIN/COMMIT/ROLLBACK", file);
		err = EINVAL;
	}
out:
	PQclear(r);
	return err;
}

/* Applies one migration unless recorded; *appliedp set when it ran. */
static int apply_one(struct db *db, const char *dir, const struct migration *m, bool *appliedp)
{
	int err = 0;
	char *sql = NULL;
	struct db_result *res = NULL;
	char version[16];

	*appliedp = false;
	snprintf(version, sizeof(version), "%d", m->version);
	err = db_begin(db);
	if (err)
		goto out;
	err = lock_migrations(db);
	if (err)
		goto out;
	const char *check[] = { version };
	err = db_exec(db, &res, "SELECT name FROM schema_migrations WHERE version = $1::integer",
		      1, check);
	if (err)
		goto out;
	if (db_result_rows(res) > 0) {
		err = db_commit(db);
		goto out;
	}
	err = read_file(dir, m->file, &sql);
	if (err)
		goto out;
	err = run_script(db, m->file, sql);
	if (err)
		goto out;
	const char *record[] = { version, m->file };
	err = db_exec(db, NULL,
		      "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)", 2,
		      record);
	if (err)
		goto out;
	err = db_commit(db);
	if (err)
		goto out;
	*appliedp = true;
	log_info("db_migrated", "applied %s", m->file);
out:
	if (err) {
		log_error("db_migrate_failed", "%s/%s not applied (%s)", dir, m->file,
			  cm_strerror(err));
		db_rollback(db);
	}
	db_result_free(res);
	free(sql);
	return err;
}

int db_migrate(struct db *db, const char *dir, int *appliedp)
{
	int err = 0, applied = 0;
	struct migration *list = NULL;
	size_t n = 0;

	if (!db || !dir)
		return EINVAL;
	err = list_migrations(dir, &list, &n);
	if (err)
		goto out;
	/* Two processes racing on CREATE TABLE IF NOT EXISTS can still collide
	 * in the catalog; the lock makes the bookkeeping table creation serial. */
	err = db_begin(db);
	if (err)
		goto out;
	err = lock_migrations(db);
	if (!err)
		err = db_exec(db, NULL,
			      "CREATE TABLE IF NOT EXISTS schema_migrations ("
			      " version integer PRIMARY KEY,"
			      " name text NOT NULL,"
			      " applied_at timestamptz NOT NULL DEFAULT now())",
			      0, NULL);
	if (!err)
		err = db_commit(db);
	if (err) {
		db_rollback(db);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		bool ran = false;
		err = apply_one(db, dir, &list[i], &ran);
		if (err)
			goto out;
		applied += ran;
	}
out:
	if (appliedp)
		*appliedp = applied;
	free(list);
	return err;
}
