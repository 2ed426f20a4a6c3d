/* {{placeholders}} in an assistant's prompt and start instruction, filled
 * from a call's metadata.
 *
 * A placeholder is "{{" name "}}" with optional spaces inside the braces;
 * name is 1..64 of [A-Za-z0-9_.-]. It becomes metadata[name]: a string as
 * is, a number in its shortest decimal form, true/false. A placeholder with
 * no such key (or a null, object or array value) becomes the empty string,
 * so the agent never reads braces aloud. Anything else, including a "{{"
 * that does not form a placeholder, is copied unchanged. */
#ifndef CALLMESH_GATEWAY_TEMPLATE_H
#define CALLMESH_GATEWAY_TEMPLATE_H

#include "core/core.h"

#include <cjson/cJSON.h>

#define TEMPLATE_OUT_MAX (256 * 1024) /* longest filled text */

/* *outp = tmpl with placeholders filled; caller frees. metadata may be
 * NULL (every placeholder empties). E2BIG past TEMPLATE_OUT_MAX, ENOMEM. */
int template_fill(char **outp, const char *tmpl, const cJSON *metadata) CM_MUST_USE;

#endif
