/* Calls as the API shows them: GET /calls/{id}, GET /calls, hangup. */
#ifndef CALLMESH_GATEWAY_CALLS_H
#define CALLMESH_GATEWAY_CALLS_H

#include "httpd/httpd.h"
#include "command/fields.h"

void calls_get(struct httpd_req *req, void *arg);
void calls_list(struct httpd_req *req, void *arg);
void calls_hangup(struct httpd_req *req, void *arg);

/* The request body's fields (libs/command/fields.h; also read by tests/fuzz). */
extern const struct cmd_rule calls_hangup_rules[];

#endif
