/* /trunks: carrier trunks and their caller numbers (DESIGN §6). Secrets
 * (password) are write-only: stored apart in trunks.secrets, never returned
 * by the API and never logged. */
#ifndef CALLMESH_GATEWAY_TRUNKS_H
#define CALLMESH_GATEWAY_TRUNKS_H

#include "db/db.h"
#include "httpd/httpd.h"

#include <cjson/cJSON.h>
#include "command/fields.h"

void trunks_create(struct httpd_req *req, void *arg);
void trunks_list(struct httpd_req *req, void *arg);
void trunks_get(struct httpd_req *req, void *arg);
void trunks_patch(struct httpd_req *req, void *arg);
void trunks_delete(struct httpd_req *req, void *arg);

struct secret_keys;

/* trunks.secrets.password is sealed (libs/secret) for "trunk:<id>". */
#define TRUNKS_AAD_LEN 48
void trunks_aad(char out[TRUNKS_AAD_LEN], const char *trunk_id);

/* The active trunk `id` for placing a call, its password opened — for the
 * dial job only, never for a reply or a log line:
 *   {"trunk_id","provider","config":{…},"secrets":{…},"numbers":["+…",…]}
 * ENOENT when absent or deleted; EBADMSG when the stored password does not
 * open with the keys (logged). Caller frees *tp with trunks_wipe(). */
int trunks_load_for_dial(struct db *db, const struct secret_keys *keys, cJSON **tp,
			 const char *id) CM_MUST_USE;
/* Zeroes the clear password of a trunks_load_for_dial() object and frees it.
 * NULL-safe. */
void trunks_wipe(cJSON *t);

/* Seals every stored password that is clear text (rows written before
 * secrets were sealed) or sealed under SECRETS_KEY_PREVIOUS, each with the
 * current key; a row written meanwhile is left to its writer. Idempotent:
 * run at every start. *sealedp = rows rewritten. */
int trunks_seal_stored(struct db *db, const struct secret_keys *keys, int *sealedp) CM_MUST_USE;

/* The request body's fields (libs/command/fields.h; also read by tests/fuzz). */
extern const struct cmd_rule trunks_exotel_rules[];
extern const struct cmd_rule trunks_twilio_rules[];
extern const struct cmd_rule trunks_rules[];

#endif
