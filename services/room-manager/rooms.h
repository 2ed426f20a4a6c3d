/* room-manager as a whole (rooms.c): the command and event subscriptions,
 * the worker threads that serve them, and the backend it picked. */
#ifndef ROOM_MANAGER_ROOMS_H
#define ROOM_MANAGER_ROOMS_H

#include "backend.h"
#include "service/service.h"

/* The service: serves the rooms.* and recordings.* commands and relays call
 * events into rooms. */
struct rooms;
int rooms_new(struct rooms **rp, const struct room_cfg *cfg, struct service *svc) CM_MUST_USE;
struct rooms *rooms_free(struct rooms *r);

#endif
