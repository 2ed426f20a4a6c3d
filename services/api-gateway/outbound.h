/* POST /call/outbound: validate, record the call as queued, create the
 * room, dispatch the agent, enqueue the dial job on DIALS → 202. */
#ifndef CALLMESH_GATEWAY_OUTBOUND_H
#define CALLMESH_GATEWAY_OUTBOUND_H

#include "httpd/httpd.h"
#include "command/fields.h"

void outbound_call(struct httpd_req *req, void *arg);

/* The request body's fields (libs/command/fields.h; also read by tests/fuzz). */
extern const struct cmd_rule outbound_rules[];

#endif
