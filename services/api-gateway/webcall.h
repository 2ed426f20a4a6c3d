/* POST /web_call/get_token: a browser call — room, participant token and
 * agent → 200 {room_name, token, url, call_id}. */
#ifndef CALLMESH_GATEWAY_WEBCALL_H
#define CALLMESH_GATEWAY_WEBCALL_H

#include "httpd/httpd.h"

void webcall_get_token(struct httpd_req *req, void *arg);

#endif
