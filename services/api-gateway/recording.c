/* Serving a call's recording: the path comes from the call record and is
 * trusted only once it resolves inside RECORDINGS_DIR. */
#include "recording.h"

#include "api_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *recording_content_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} t[] = { { ".wav", "audio/wav" }, { ".ogg", "audio/ogg" }, { ".opus", "audio/ogg" },
		  { ".mp3", "audio/mpeg" }, { ".m4a", "audio/mp4" } };
	size_t n = strlen(path);
	for (size_t i = 0; i < CM_ARRAY_LEN(t); i++) {
		size_t e = strlen(t[i].ext);
		if (n > e && strcmp(path + n - e, t[i].ext) == 0)
			return t[i].type;
	}
	return "application/octet-stream";
}

/* The recording_path column of the call, or a reply. Caller frees. */
static char *load_path(struct api *api, struct httpd_req *req, const char *id)
{
	static const char sql[] = "SELECT recording_path FROM calls WHERE id = $1";
	struct db_result *res = NULL;
	char *path = NULL;
	struct db *db = api_db_get(api, req);
	if (!db)
		return NULL;
	const char *params[] = { id };
	int err = db_exec(db, &res, sql, 1, params);
	api_db_put(api, db);
	if (err) {
		api_reply_db_error(req, err);
	} else if (db_result_rows(res) == 0) {
		httpd_reply_error(req, 404, "not_found", "call_id", "no such call");
	} else {
		const char *p = db_result_get(res, 0, 0);
		if (!p || !*p)
			httpd_reply_error(req, 404, "no_recording", "call_id",
					  "this call has no recording (yet)");
		else if (!(path = strdup(p)))
			httpd_reply_error(req, 503, "out_of_memory", NULL, "server overloaded");
	}
	db_result_free(res);
	return path;
}

void recording_get(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1], dir[PATH_MAX], real[PATH_MAX], crange[96], etag[64];
	char *path = NULL;
	struct stat st;
	int fd = -1;

	if (!api_path_id(req, id, "call_id"))
		return;
	if (!(path = load_path(api, req, id)))
		return;
	if (!realpath(api->recordings_dir, dir)) {
		httpd_reply_error(req, 404, "no_recording", "call_id",
				  "recording not available here (RECORDINGS_DIR missing)");
		goto out;
	}
	if (!realpath(path, real)) {
		httpd_reply_error(req, 404, "no_recording", "call_id",
				  "the recording file is not on this host");
		goto out;
	}
	size_t dl = strlen(dir);
	if (strncmp(real, dir, dl) != 0 || real[dl] != '/') {
		log_warn("recording_outside_dir", "call_id=%s path=%s is outside RECORDINGS_DIR %s",
			 id, real, dir);
		httpd_reply_error(req, 403, "forbidden", "call_id",
				  "the recording is outside RECORDINGS_DIR");
		goto out;
	}
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		httpd_reply_error(req, 404, "no_recording", "call_id",
				  "the recording file is not on this host");
		goto out;
	}
	uint64_t size = (uint64_t)st.st_size, start = 0, len = size;
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)size,
		 (unsigned long long)st.st_mtim.tv_sec);
	const char *ctype = recording_content_type(real);
	enum httpd_range k =
		httpd_range_parse(httpd_req_header(req, "Range"), size, &start, &len);
	if (k == HTTPD_RANGE_UNSATISFIABLE) {
		snprintf(crange, sizeof(crange), "bytes */%llu", (unsigned long long)size);
		const struct httpd_header h416[] = { { "Content-Range", crange },
						     { "Accept-Ranges", "bytes" } };
		char *body = httpd_envelope_error("range_not_satisfiable", "Range",
						  "Range: starts past the end of the recording");
		httpd_reply_raw_hdrs(req, 416, "application/json", body ? body : "",
				     body ? strlen(body) : 0, h416, CM_ARRAY_LEN(h416));
		free(body);
		goto out;
	}
	snprintf(crange, sizeof(crange), "bytes %llu-%llu/%llu", (unsigned long long)start,
		 (unsigned long long)(start + len - 1), (unsigned long long)size);
	const struct httpd_header hdrs[] = {
		{ "Accept-Ranges", "bytes" },
		{ "Cache-Control", "private, no-cache" },
		{ "ETag", etag },
		{ "X-Content-Type-Options", "nosniff" },
		{ "Content-Range", crange },
	};
	size_t nh = CM_ARRAY_LEN(hdrs) - (k == HTTPD_RANGE_PARTIAL ? 0 : 1);
	httpd_reply_fd(req, k == HTTPD_RANGE_PARTIAL ? 206 : 200, ctype, fd, start, len, hdrs, nh);
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	free(path);
}
