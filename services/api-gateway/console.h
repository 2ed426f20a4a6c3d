/* The console (DESIGN §6): static files served from one folder, CONSOLE_DIR —
 * index.html at `/`, its modules and styles at /console/<name>, and the pinned
 * livekit-client ESM build at /console/vendor/livekit-client.esm.mjs. Public
 * (the page asks for the API key itself). Only plain file names of known
 * types are served: no subdirectories, no dot files, no traversal. */
#ifndef CALLMESH_GATEWAY_CONSOLE_H
#define CALLMESH_GATEWAY_CONSOLE_H

#include "httpd/httpd.h"

#include <stdbool.h>
#include <stdint.h>

#define CONSOLE_NAME_MAX 96
#define CONSOLE_VENDOR_LIVEKIT "livekit-client.esm.mjs"
#define CONSOLE_LIVEKIT_PATH "node_modules/livekit-client/dist/livekit-client.esm.mjs"

/* The Content-Type for a console file name, NULL when its kind is not
 * served. Pure. */
const char *console_content_type(const char *name);
/* True for a plain file name: [A-Za-z0-9] first, then [A-Za-z0-9._-],
 * no "..", at most CONSOLE_NAME_MAX bytes. Pure. */
bool console_name_ok(const char *name);

/* Handlers; arg = const char *console_dir. */
void console_index(struct httpd_req *req, const char *dir);
void console_file(struct httpd_req *req, const char *dir);
void console_vendor(struct httpd_req *req, const char *dir);

/* Opens `path` (a regular file, the last component not a symlink) and
 * replies with it: 304 when If-None-Match has its ETag, else 200 with
 * `cache_control`, ETag and nosniff. 404 naming `what` when missing. */
void console_send_file(struct httpd_req *req, const char *path, const char *ctype,
		       const char *cache_control, const char *what);

#endif
