/* The REST API listener on API_ADDR (DESIGN §6). */
#ifndef CALLMESH_GATEWAY_API_H
#define CALLMESH_GATEWAY_API_H

#include "auth.h"
#include "service/service.h"

struct api;

/* Serves the API on `addr`. Borrows auth, svc and the readiness check, which
 * must outlive the API. */
int api_start(struct api **apip, const char *addr, const struct auth *auth,
	      service_ready_h *ready, void *ready_arg, struct service *svc) CM_MUST_USE;
struct api *api_stop(struct api *api);

#endif
