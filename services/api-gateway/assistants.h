/* /assistants: create, list, get, update, soft delete (DESIGN §6). */
#ifndef CALLMESH_GATEWAY_ASSISTANTS_H
#define CALLMESH_GATEWAY_ASSISTANTS_H

#include "db/db.h"
#include "httpd/httpd.h"

#include <cjson/cJSON.h>
#include "command/fields.h"

void assistants_create(struct httpd_req *req, void *arg);
void assistants_list(struct httpd_req *req, void *arg);
void assistants_get(struct httpd_req *req, void *arg);
void assistants_patch(struct httpd_req *req, void *arg);
void assistants_delete(struct httpd_req *req, void *arg);

/* The active assistant `id` as the API shows it (assistant_id,
 * assistant_name, …). ENOENT when absent or deleted; db errors as they
 * come. Caller frees *ap. */
int assistants_load(struct db *db, cJSON **ap, const char *id) CM_MUST_USE;

/* The request body's fields (libs/command/fields.h; also read by tests/fuzz). */
extern const struct cmd_rule assistants_rules[];

#endif
