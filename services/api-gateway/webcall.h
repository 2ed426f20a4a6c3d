/* POST /web_call/get_token: a browser call — room, participant token and
 * agent → 200 {room_name, token, url, call_id}. */
#ifndef CALLMESH_GATEWAY_WEBCALL_H
#define CALLMESH_GATEWAY_WEBCALL_H

#include "httpd/httpd.h"
#include "command/fields.h"

void webcall_get_token(struct httpd_req *req, void *arg);

/* The request body's fields (libs/command/fields.h; also read by tests/fuzz). */
extern const struct cmd_rule webcall_rules[];

#endif
