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

/* The columns trunks_dial_from_row() reads, of `trunks t` (for a query
 * that selects other tables beside it; all named trunk_*). */
#define TRUNKS_DIAL_COLS                                                                   \
	" t.id AS trunk_id, t.provider AS trunk_provider, t.config::text AS trunk_config," \
	" t.secrets::text AS trunk_secrets,"                                               \
	" (SELECT coalesce(json_agg(p.number ORDER BY p.position), '[]'::json)"            \
	"  FROM phone_numbers p WHERE p.trunk_id = t.id)::text AS trunk_numbers"
/* The trunk of a row selected with TRUNKS_DIAL_COLS (active rows only) for
 * placing a call, its password opened — for the dial job only, never for a
 * reply or a log line:
 *   {"trunk_id","provider","config":{…},"secrets":{…},"numbers":["+…",…]}
 * ENOENT when its columns are null (an outer join that matched none);
 * EBADMSG when the stored password does not open with the keys (logged).
 * Caller frees *tp with trunks_wipe(). */
int trunks_dial_from_row(cJSON **tp, const struct db_result *res, int row,
			 const struct secret_keys *keys) CM_MUST_USE;
/* Zeroes the clear password of a trunks_dial_from_row() object and frees it.
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
