/* GET /calls/{id}/recording: the call's recording file (its record's
 * recording_path) with HTTP range requests (RFC 9110 §14): 200 whole, 206
 * one range with Content-Range, 416 (Content-Range: bytes * / size) when
 * the range starts past the end. Only files inside RECORDINGS_DIR are served (symlinks
 * resolved first); anything else is 403. */
#ifndef CALLMESH_GATEWAY_RECORDING_H
#define CALLMESH_GATEWAY_RECORDING_H

#include "httpd/httpd.h"

#include <stdint.h>

/* Content-Type by extension (.wav, .ogg, .opus, .mp3, .m4a), else octet-stream. */
const char *recording_content_type(const char *path);

struct api;
void recording_get(struct httpd_req *req, void *arg);

#endif
