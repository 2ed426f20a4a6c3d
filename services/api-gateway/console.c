/* Static files of the console, straight from CONSOLE_DIR: no build step,
 * revalidated by ETag (the names carry no hashes, so nothing may be cached
 * blindly), the pinned vendor module cached for an hour. */
#include "console.h"

#include "core/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *ext, *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/x-icon" },
};

const char *console_content_type(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < CM_ARRAY_LEN(types); i++) {
		size_t e = strlen(types[i].ext);
		if (n > e && strcmp(name + n - e, types[i].ext) == 0)
			return types[i].type;
	}
	return NULL;
}

bool console_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n > CONSOLE_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9');
		if (i == 0 && !alnum)
			return false;
		if (!alnum && c != '.' && c != '_' && c != '-')
			return false;
	}
	return strstr(name, "..") == NULL;
}

void console_send_file(struct httpd_req *req, const char *path, const char *ctype,
		       const char *cache_control, const char *what)
{
	char etag[64], msg[160];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (fd >= 0)
			close(fd);
		snprintf(msg, sizeof(msg), "%s not found", what);
		httpd_reply_error(req, 404, "not_found", NULL, msg);
		return;
	}
	snprintf(etag, sizeof(etag), "\"%llx-%llx\"", (unsigned long long)st.st_size,
		 (unsigned long long)st.st_mtim.tv_sec * 1000000000ull +
			 (unsigned long long)st.st_mtim.tv_nsec);
	const struct httpd_header hdrs[] = {
		{ "Cache-Control", cache_control },
		{ "ETag", etag },
		{ "X-Content-Type-Options", "nosniff" },
		{ "Referrer-Policy", "no-referrer" },
	};
	const char *inm = httpd_req_header(req, "If-None-Match");
	if (inm && strstr(inm, etag)) {
		close(fd);
		httpd_reply_raw_hdrs(req, 304, ctype, "", 0, hdrs, CM_ARRAY_LEN(hdrs));
		return;
	}
	httpd_reply_fd(req, 200, ctype, fd, 0, (uint64_t)st.st_size, hdrs, CM_ARRAY_LEN(hdrs));
}

static void send_named(struct httpd_req *req, const char *dir, const char *name,
		       const char *cache_control)
{
	char path[4096];
	const char *ctype = console_name_ok(name) ? console_content_type(name) : NULL;
	if (!ctype) {
		httpd_reply_error(req, 404, "not_found", NULL, "no such console file");
		return;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		httpd_reply_error(req, 404, "not_found", NULL, "no such console file");
		return;
	}
	console_send_file(req, path, ctype, cache_control, "console file");
}

void console_index(struct httpd_req *req, const char *dir)
{
	char path[4096], what[160];
	snprintf(path, sizeof(path), "%s/index.html", dir);
	snprintf(what, sizeof(what), "console (%.100s/index.html; set CONSOLE_DIR)", dir);
	console_send_file(req, path, "text/html; charset=utf-8", "no-cache", what);
}

void console_file(struct httpd_req *req, const char *dir)
{
	send_named(req, dir, httpd_req_param(req, "file"), "no-cache");
}

void console_vendor(struct httpd_req *req, const char *dir)
{
	char path[4096];
	const char *name = httpd_req_param(req, "file");
	if (!name || strcmp(name, CONSOLE_VENDOR_LIVEKIT) != 0) {
		httpd_reply_error(req, 404, "not_found", NULL, "no such console file");
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, CONSOLE_LIVEKIT_PATH);
	console_send_file(req, path, "text/javascript; charset=utf-8", "public, max-age=3600",
			  "livekit-client (run make deps: npm ci in CONSOLE_DIR)");
}
