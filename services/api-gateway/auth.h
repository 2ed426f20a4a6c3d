/* API keys accepted as `Authorization: Bearer <key>`. */
#ifndef CALLMESH_GATEWAY_AUTH_H
#define CALLMESH_GATEWAY_AUTH_H

#include "core/core.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

struct auth;

/* Parses "k1,k2" (spaces trimmed, each ≥ 8 characters). EINVAL with a
 * message naming API_KEYS. Caller frees with auth_free(). */
int auth_new(struct auth **authp, const char *keys_csv, char *err, size_t errlen) CM_MUST_USE;
struct auth *auth_free(struct auth *a);
/* True when `bearer` (may be NULL) is one of the keys. */
bool auth_check(const struct auth *a, const char *bearer);

#endif
