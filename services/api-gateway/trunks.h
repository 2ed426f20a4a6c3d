/* /trunks: carrier trunks and their caller numbers (DESIGN §6). Secrets
 * (password) are write-only: stored apart in trunks.secrets, never returned
 * by the API and never logged. */
#ifndef CALLMESH_GATEWAY_TRUNKS_H
#define CALLMESH_GATEWAY_TRUNKS_H

#include "db/db.h"
#include "httpd/httpd.h"

#include <cjson/cJSON.h>

void trunks_create(struct httpd_req *req, void *arg);
void trunks_list(struct httpd_req *req, void *arg);
void trunks_get(struct httpd_req *req, void *arg);
void trunks_patch(struct httpd_req *req, void *arg);
void trunks_delete(struct httpd_req *req, void *arg);

/* The active trunk `id` for placing a call, secrets included — for the
 * dial job only, never for a reply or a log line:
 *   {"trunk_id","provider","config":{…},"secrets":{…},"numbers":["+…",…]}
 * ENOENT when absent or deleted. Caller frees *tp. */
int trunks_load_for_dial(struct db *db, cJSON **tp, const char *id) CM_MUST_USE;

#endif
