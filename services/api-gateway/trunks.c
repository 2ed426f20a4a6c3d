/* /trunks. A trunk row holds the non-secret SIP settings (config) and the
 * write-only ones (secrets); its caller numbers live in phone_numbers, one
 * owner per number (a number held by another trunk is a 409). DELETE is
 * soft and releases the numbers. */
#include "trunks.h"

#include "api_priv.h"
#include "command/command.h"
#include "page.h"
#include "secret/secret.h"
#include "sip/sip.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NUMBERS_MAX 100

const struct cmd_rule trunks_exotel_rules[] = {
	{ "sip_host", CMD_HOST, true, 0, 0, false, NULL, NULL },
	{ "sip_port", CMD_INT, false, 1, 65535, false, NULL, NULL },
	{ "transport", CMD_ENUM, false, 0, 0, false, "tcp|tls|udp", NULL },
	{ "sip_domain", CMD_HOST, false, 0, 0, false, NULL, NULL },
	{ "username", CMD_STR, true, 1, 128, false, NULL, NULL },
	{ "password", CMD_STR, false, 1, SIP_CRED_PASSWORD_MAX, false, NULL,
	  NULL }, /* required on create */
	{ "numbers", CMD_E164_LIST, true, 1, NUMBERS_MAX, false, NULL, NULL },
	{ 0 },
};

const struct cmd_rule trunks_twilio_rules[] = {
	{ "livekit_sip_trunk_id", CMD_STR, false, 1, 128, false, NULL, NULL },
	{ "address", CMD_HOST, false, 0, 0, false, NULL, NULL },
	{ "username", CMD_STR, false, 1, 128, false, NULL, NULL },
	{ "password", CMD_STR, false, 1, SIP_CRED_PASSWORD_MAX, false, NULL, NULL },
	{ "krisp_enabled", CMD_BOOL, false, 0, 0, false, NULL, NULL },
	{ "numbers", CMD_E164_LIST, true, 1, NUMBERS_MAX, false, NULL, NULL },
	{ 0 },
};

const struct cmd_rule trunks_rules[] = {
	{ "trunk_name", CMD_STR, true, 1, 200, false, NULL, NULL },
	{ "trunk_type", CMD_ENUM, true, 0, 0, false, "twilio|exotel", NULL },
	{ "trunk_config", CMD_OBJ, true, 0, CMD_KEYS_MAX, false, NULL, NULL },
	{ 0 },
};

#define TRUNK_COLS                                                                            \
	" t.id AS trunk_id, t.name, t.provider, t.config::text AS config,"                    \
	" (SELECT coalesce(json_agg(p.number ORDER BY p.position), '[]'::json)"               \
	"  FROM phone_numbers p WHERE p.trunk_id = t.id)::text AS numbers,"                    \
	" (t.secrets ? 'password') AS password_set, t.active,"                               \
	" " ROW_SQL_TS("t.created_at") " AS created_at, " ROW_SQL_TS("t.updated_at")         \
	" AS updated_at, " ROW_SQL_US("t.created_at") " AS created_us"

/* The API's view: secrets are never part of it. */
static int row_json(cJSON **objp, const struct db_result *res, int row)
{
	cJSON *o = cJSON_CreateObject();
	cJSON *config = row_json_column(db_result_by_name(res, row, "config"));
	cJSON *numbers = row_json_column(db_result_by_name(res, row, "numbers"));
	bool ok = o && config && numbers && cJSON_IsObject(config);
	ok = ok && row_add_str(o, "trunk_id", db_result_by_name(res, row, "trunk_id")) &&
	     row_add_str(o, "trunk_name", db_result_by_name(res, row, "name")) &&
	     row_add_str(o, "trunk_type", db_result_by_name(res, row, "provider"));
	if (ok) {
		cJSON_DeleteItemFromObjectCaseSensitive(
			config, "password"); /* never stored there; belt and braces */
		ok = cJSON_AddItemToObject(config, "numbers", numbers);
		numbers = ok ? NULL : numbers;
		ok = ok && cJSON_AddItemToObject(o, "trunk_config", config);
		config = ok ? NULL : config;
	}
	ok = ok &&
	     row_add_bool(o, "trunk_password_set", db_result_by_name(res, row, "password_set")) &&
	     row_add_bool(o, "active", db_result_by_name(res, row, "active")) &&
	     row_add_str(o, "created_at", db_result_by_name(res, row, "created_at")) &&
	     row_add_str(o, "updated_at", db_result_by_name(res, row, "updated_at"));
	cJSON_Delete(config);
	cJSON_Delete(numbers);
	if (!ok) {
		cJSON_Delete(o);
		return ENOMEM;
	}
	*objp = o;
	return 0;
}

static int trunk_select(struct db *db, cJSON **objp, const char *id)
{
	struct db_result *res = NULL;
	const char *params[] = { id };
	int err = db_exec(db, &res,
			  "SELECT" TRUNK_COLS " FROM trunks t WHERE t.id = $1 AND t.active", 1,
			  params);
	if (!err && db_result_rows(res) == 0)
		err = ENOENT;
	if (!err)
		err = row_json(objp, res, 0);
	db_result_free(res);
	return err;
}

void trunks_aad(char out[TRUNKS_AAD_LEN], const char *trunk_id)
{
	snprintf(out, TRUNKS_AAD_LEN, "trunk:%s", trunk_id);
}

static const char *open_why(int err)
{
	return err == ENOKEY	? "sealed under a key this process does not hold"
	       : err == EBADMSG ? "it does not authenticate: tampered, or moved from another row"
				: cm_strerror(err);
}

/* The clear password of a stored secrets object (NULL when it has none). */
static int password_open(char **pwp, const struct secret_keys *keys, const char *trunk_id,
			 const char *stored)
{
	char aad[TRUNKS_AAD_LEN];
	*pwp = NULL;
	if (!stored)
		return 0;
	trunks_aad(aad, trunk_id);
	int err = secret_open(pwp, NULL, keys, aad, stored);
	if (err)
		log_error("trunk_secret_unreadable",
			  "trunk %s: its password does not open with SECRETS_KEY or "
			  "SECRETS_KEY_PREVIOUS"
			  " (%s); set it again with PATCH /trunks/%s",
			  trunk_id, open_why(err), trunk_id);
	return err;
}

int trunks_dial_from_row(cJSON **tp, const struct db_result *res, int row,
			 const struct secret_keys *keys)
{
	const char *id = db_result_by_name(res, row, "trunk_id");
	if (!id)
		return ENOENT; /* a LEFT JOIN that found none */
	cJSON *t = cJSON_CreateObject();
	static const char *const cols[] = { "trunk_config", "trunk_secrets", "trunk_numbers" };
	static const char *const names[] = { "config", "secrets", "numbers" };
	bool ok = t && row_add_str(t, "trunk_id", id) &&
		  row_add_str(t, "provider", db_result_by_name(res, row, "trunk_provider"));
	for (size_t i = 0; ok && i < CM_ARRAY_LEN(cols); i++) {
		cJSON *v = row_json_column(db_result_by_name(res, row, cols[i]));
		ok = v && cJSON_AddItemToObject(t, names[i], v);
		if (!ok)
			cJSON_Delete(v);
	}
	int err = ok ? 0 : ENOMEM;
	cJSON *secrets = cJSON_GetObjectItemCaseSensitive(t, "secrets");
	const char *sealed =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(secrets, "password"));
	char *pw = NULL;
	if (!err && password_open(&pw, keys, id, sealed))
		err = EBADMSG;
	if (!err && pw) {
		cJSON *clear = cJSON_CreateString(pw);
		pw = secret_wipe_free(pw);
		if (!clear || !cJSON_ReplaceItemInObjectCaseSensitive(secrets, "password", clear)) {
			cJSON_Delete(clear);
			err = ENOMEM;
		}
	}
	if (err) {
		trunks_wipe(t);
		return err;
	}
	*tp = t;
	return 0;
}

void trunks_wipe(cJSON *t)
{
	cJSON *secrets = cJSON_GetObjectItemCaseSensitive(t, "secrets");
	char *pw = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(secrets, "password"));
	if (pw)
		memset(pw, 0, strlen(pw));
	cJSON_Delete(t);
}

int trunks_seal_stored(struct db *db, const struct secret_keys *keys, int *sealedp)
{
	struct db_result *res = NULL;
	int err = db_exec(db, &res,
			  "SELECT id, secrets->>'password' FROM trunks WHERE secrets ? 'password'",
			  0, NULL);
	*sealedp = 0;
	for (int i = 0; !err && i < db_result_rows(res); i++) {
		const char *id = db_result_get(res, i, 0), *stored = db_result_get(res, i, 1);
		char aad[TRUNKS_AAD_LEN], *clear = NULL, *sealed = NULL;
		bool stale = false;
		if (!stored || secret_is_current(keys, stored))
			continue;
		trunks_aad(aad, id);
		if (secret_is_sealed(stored)) {
			int e = secret_open(&clear, &stale, keys, aad, stored);
			if (e) {
				/* left as it is: a call on it fails naming the trunk */
				log_error(
					"trunk_secret_unreadable",
					"trunk %s: its password does not open with SECRETS_KEY or "
					"SECRETS_KEY_PREVIOUS (%s); set it again with PATCH "
					"/trunks/%s",
					id, open_why(e), id);
				continue;
			}
		} else {
			clear = strdup(stored);
			if (!clear)
				err = ENOMEM;
		}
		if (!err)
			err = secret_seal(&sealed, keys, aad, clear, strlen(clear));
		if (!err) {
			/* only if nobody wrote the row meanwhile */
			const char *params[] = { id, sealed, stored };
			err = db_exec(db, NULL,
				      "UPDATE trunks SET secrets = jsonb_set(secrets, "
				      "'{password}', to_jsonb($2::text))"
				      " WHERE id = $1 AND secrets->>'password' = $3",
				      3, params);
		}
		if (!err)
			(*sealedp)++;
		secret_wipe_free(clear);
		free(sealed);
	}
	db_result_free(res);
	return err;
}

/* Provider rules a table cannot say. `have_password`: the stored trunk
 * already has one (PATCH without a new password keeps it). */
static int config_check(const cJSON *config, const char *type, bool have_password,
			struct cmd_field_error *e)
{
	bool exotel = strcmp(type, "exotel") == 0;
	if (cmd_check_object(config, exotel ? trunks_exotel_rules : trunks_twilio_rules, false,
			     "trunk_config", e))
		return EINVAL;
	static const struct {
		const char *name;
		enum sip_cred_field f;
	} creds[] = { { "username", SIP_CRED_USERNAME }, { "password", SIP_CRED_PASSWORD },
		      { "sip_host", SIP_CRED_HOST }, { "sip_domain", SIP_CRED_HOST },
		      { "address", SIP_CRED_HOST } };
	for (size_t i = 0; i < CM_ARRAY_LEN(creds); i++) {
		const char *v = cJSON_GetStringValue(
			cJSON_GetObjectItemCaseSensitive(config, creds[i].name));
		char why[96], field[48];
		if (v && sip_credentials_check(creds[i].f, v, strlen(v), why, sizeof(why))) {
			snprintf(field, sizeof(field), "trunk_config.%s", creds[i].name);
			return cmd_field_error_set(e, "invalid_field", field, "%s: %s.", field,
						   why);
		}
	}
	bool has_pw = cJSON_GetObjectItemCaseSensitive(config, "password") != NULL;
	if (exotel) {
		if (!has_pw && !have_password)
			return cmd_field_error_set(
				e, "missing_field", "trunk_config.password",
				"trunk_config.password is required with trunk_config.username.");
		return 0;
	}
	bool lk = cJSON_GetObjectItemCaseSensitive(config, "livekit_sip_trunk_id") != NULL;
	bool addr = cJSON_GetObjectItemCaseSensitive(config, "address") != NULL;
	if (lk == addr)
		return cmd_field_error_set(
			e, lk ? "invalid_field" : "missing_field",
			"trunk_config.livekit_sip_trunk_id",
			"trunk_config needs either livekit_sip_trunk_id or address, not both.");
	if (lk && (has_pw || cJSON_GetObjectItemCaseSensitive(config, "username")))
		return cmd_field_error_set(e, "invalid_field", "trunk_config.username",
				"trunk_config.username and password go with address, not with "
				"livekit_sip_trunk_id.");
	return 0;
}

/* Splits a checked config into the stored config (no numbers, no
 * password, defaults filled) and secrets. Both caller frees. */
static int config_split(char **configp, char **secretsp, const cJSON *config, const char *type,
			const struct secret_keys *keys, const char *id)
{
	int err = ENOMEM;
	char *ctext = NULL, *stext = NULL;
	cJSON *c = cJSON_Duplicate(config, true), *s = cJSON_CreateObject();
	if (!c || !s)
		goto out;
	cJSON_DeleteItemFromObjectCaseSensitive(c, "numbers");
	cJSON *pw = cJSON_DetachItemFromObjectCaseSensitive(c, "password");
	if (pw) {
		char aad[TRUNKS_AAD_LEN], *sealed = NULL;
		trunks_aad(aad, id);
		int e = secret_seal(&sealed, keys, aad, pw->valuestring, strlen(pw->valuestring));
		memset(pw->valuestring, 0, strlen(pw->valuestring));
		cJSON_Delete(pw);
		pw = e ? NULL : cJSON_CreateString(sealed);
		free(sealed);
		if (!pw || !cJSON_AddItemToObject(s, "password", pw)) {
			cJSON_Delete(pw);
			goto out;
		}
	}
	if (strcmp(type, "exotel") == 0) {
		const cJSON *host = cJSON_GetObjectItemCaseSensitive(c, "sip_host");
		if ((!cJSON_GetObjectItemCaseSensitive(c, "sip_port") &&
		     !cJSON_AddNumberToObject(c, "sip_port", 5060)) ||
		    (!cJSON_GetObjectItemCaseSensitive(c, "transport") &&
		     !cJSON_AddStringToObject(c, "transport", "tcp")) ||
		    (!cJSON_GetObjectItemCaseSensitive(c, "sip_domain") &&
		     !cJSON_AddStringToObject(c, "sip_domain", host->valuestring)))
			goto out;
	} else if (!cJSON_GetObjectItemCaseSensitive(c, "krisp_enabled") &&
		   !cJSON_AddFalseToObject(c, "krisp_enabled")) {
		goto out;
	}
	ctext = cJSON_PrintUnformatted(c);
	stext = pw ? cJSON_PrintUnformatted(s) : NULL;
	if (!ctext || (pw && !stext))
		goto out;
	*configp = ctext;
	*secretsp = stext;
	ctext = stext = NULL;
	err = 0;
out:
	free(ctext);
	if (stext) {
		memset(stext, 0, strlen(stext));
		free(stext);
	}
	cJSON_Delete(c);
	cJSON_Delete(s);
	return err;
}

static void secret_free(char *s)
{
	if (s) {
		memset(s, 0, strlen(s));
		free(s);
	}
}

/* Inserts the numbers for trunk `id` in order. EEXIST with *badp = the
 * index of a number another trunk holds. Inside the caller's transaction. */
static int numbers_insert(struct db *db, const char *id, const cJSON *numbers, int *badp)
{
	int i = 0;
	for (const cJSON *n = numbers ? numbers->child : NULL; n; n = n->next, i++) {
		char pos[16];
		snprintf(pos, sizeof(pos), "%d", i);
		const char *params[] = { n->valuestring, id, pos };
		int err = db_exec(db, NULL,
				  "INSERT INTO phone_numbers (number, trunk_id, position)"
				  " VALUES ($1, $2, $3::int)",
				  3, params);
		if (err) {
			*badp = i;
			return err;
		}
	}
	return 0;
}

static void reply_numbers_conflict(struct httpd_req *req, const cJSON *numbers, int bad)
{
	char field[64], msg[160];
	const cJSON *n = cJSON_GetArrayItem(numbers, bad);
	snprintf(field, sizeof(field), "trunk_config.numbers[%d]", bad);
	snprintf(msg, sizeof(msg),
		 "%s belongs to another trunk already; a number can be on one trunk only.",
		 cJSON_IsString(n) ? n->valuestring : "number");
	httpd_reply_error(req, 409, "number_taken", field, msg);
}

static void reply_trunk(struct httpd_req *req, struct db *db, const char *id, unsigned status,
			const char *msg)
{
	cJSON *o = NULL;
	int err = trunk_select(db, &o, id);
	if (err == ENOENT)
		httpd_reply_error(req, 404, "not_found", "trunk_id",
				  "No trunk has this trunk_id; list them with GET /trunks.");
	else if (err)
		api_reply_db_error(req, err);
	else
		httpd_reply_ok(req, status, msg, o);
}

/* A Twilio trunk given by address/username/password is created in LiveKit
 * (SIP/CreateSIPOutboundTrunk, through twilio-dialer's sip.trunks.create,
 * which holds the LiveKit credentials) and the returned id is stored as
 * config.livekit_sip_trunk_id, inside the caller's transaction so that a
 * refusal leaves nothing behind. `stored_pw` is used when the request does
 * not repeat the password (PATCH). On failure it has replied and sets
 * *repliedp. */
static int provision_twilio(struct api *api, struct db *db, struct httpd_req *req, const char *id,
			    const char *name, const cJSON *cfg, const char *stored_pw,
			    bool *repliedp)
{
	const cJSON *addr = cJSON_GetObjectItemCaseSensitive(cfg, "address");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(cfg, "username");
	const cJSON *pw = cJSON_GetObjectItemCaseSensitive(cfg, "password");
	struct cmd_error ce;
	cJSON *req_json = NULL, *data = NULL;
	int err = ENOMEM;
	if (!cJSON_IsString(addr))
		return 0;
	req_json = cJSON_CreateObject();
	if (!req_json || !cJSON_AddNumberToObject(req_json, "v", 1) ||
	    !cJSON_AddStringToObject(req_json, "name", name ? name : id) ||
	    !cJSON_AddStringToObject(req_json, "address", addr->valuestring))
		goto out;
	cJSON *numbers = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(cfg, "numbers"), true);
	if (!numbers || !cJSON_AddItemToObject(req_json, "numbers", numbers))
		goto out;
	if (cJSON_IsString(user) &&
	    !cJSON_AddStringToObject(req_json, "username", user->valuestring))
		goto out;
	const char *password = cJSON_IsString(pw) ? pw->valuestring : stored_pw;
	if (password && !cJSON_AddStringToObject(req_json, "password", password))
		goto out;
	err = cmd_request(api->bus, &data, "sip.trunks.create", req_json, API_TRUNK_TIMEOUT_MS,
			  &ce);
	if (err) {
		char why[256], msg[320];
		if (err == EAGAIN) {
			httpd_reply_error(req, 503, "livekit_unavailable", "trunk_config.address",
					  "The LiveKit SIP trunk cannot be created: twilio-dialer "
					  "(with LiveKit) "
					  "did not answer; check that it runs with LIVEKIT_URL "
					  "set, then retry.");
		} else {
			snprintf(msg, sizeof(msg), "The LiveKit SIP trunk cannot be created: %s.",
				 api_clause(why, sizeof(why), ce.message));
			httpd_reply_error(req, 502, "trunk_provision_failed",
					  "trunk_config.address", msg);
		}
		*repliedp = true;
		goto out;
	}
	const char *lk_id =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(data, "sip_trunk_id"));
	if (!lk_id) {
		httpd_reply_error(req, 502, "trunk_provision_failed", "trunk_config.address",
				  "LiveKit created no SIP trunk (its reply had no sip_trunk_id); "
				  "retry, or check LiveKit's logs.");
		*repliedp = true;
		err = EIO;
		goto out;
	}
	const char *params[] = { id, lk_id };
	err = db_exec(db, NULL,
		      "UPDATE trunks SET config = config || "
		      "jsonb_build_object('livekit_sip_trunk_id', $2::text)"
		      " WHERE id = $1",
		      2, params);
	if (!err)
		log_info("trunk_provisioned", "trunk %s is LiveKit SIP trunk %s", id, lk_id);
out:
	if (err == ENOMEM && !*repliedp) {
		httpd_reply_error(req, 503, "out_of_memory", NULL,
				  "The server is short of memory; retry in a moment.");
		*repliedp = true;
	}
	cJSON_Delete(req_json);
	cJSON_Delete(data);
	return err;
}

void trunks_create(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct cmd_field_error ve;
	char id[ID_UUID_LEN + 1], *config = NULL, *secrets = NULL;
	int bad = -1, err;
	bool replied = false;
	struct db *db = NULL;

	const cJSON *body = api_body(req);
	if (!body)
		return;
	if (cmd_check_object(body, trunks_rules, false, NULL, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	const char *type = cJSON_GetObjectItemCaseSensitive(body, "trunk_type")->valuestring;
	const char *name = cJSON_GetObjectItemCaseSensitive(body, "trunk_name")->valuestring;
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(body, "trunk_config");
	if (config_check(cfg, type, false, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	if (id_uuid4(id) || config_split(&config, &secrets, cfg, type, api->keys, id)) {
		httpd_reply_error(req, 503, "out_of_memory", NULL,
				  "The server is short of memory; retry in a moment.");
		goto out;
	}
	db = api_db_get(api, req);
	if (!db)
		goto out;
	const char *params[] = { id, name, type, config, secrets ? secrets : "{}" };
	err = db_begin(db);
	if (!err)
		err = db_exec(db, NULL,
			      "INSERT INTO trunks (id, name, provider, config, secrets)"
			      " VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)",
			      5, params);
	if (!err)
		err = numbers_insert(db, id, cJSON_GetObjectItemCaseSensitive(cfg, "numbers"),
				     &bad);
	if (!err && strcmp(type, "twilio") == 0)
		err = provision_twilio(api, db, req, id, name, cfg, NULL, &replied);
	if (!err)
		err = db_commit(db);
	if (err) {
		db_rollback(db);
		if (replied)
			goto out;
		if (err == EEXIST && bad >= 0)
			reply_numbers_conflict(
				req, cJSON_GetObjectItemCaseSensitive(cfg, "numbers"), bad);
		else
			api_reply_db_error(req, err);
		goto out;
	}
	log_info("trunk_created", "trunk %s (%s)", id, type);
	reply_trunk(req, db, id, 201, "trunk created");
out:
	api_db_put(api, db);
	free(config);
	secret_free(secrets);
}

void trunks_list(struct httpd_req *req, void *arg)
{
	api_reply_list(arg, req,
		       "SELECT" TRUNK_COLS
		       " FROM trunks t WHERE t.active" PAGE_SQL("t", "$1", "$2", "$3"),
		       "trunks", "trunk_id", row_json);
}

void trunks_get(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1];

	if (!api_path_id(req, id, "trunk_id"))
		return;
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	reply_trunk(req, db, id, 200, "trunk");
	api_db_put(api, db);
}

void trunks_patch(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct cmd_field_error ve;
	struct db_result *res = NULL;
	char id[ID_UUID_LEN + 1], *config = NULL, *secrets = NULL;
	int bad = -1, err;
	bool replied = false;
	struct db *db = NULL;

	if (!api_path_id(req, id, "trunk_id"))
		return;
	const cJSON *body = api_body(req);
	if (!body)
		return;
	if (cmd_check_object(body, trunks_rules, true, NULL, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	const cJSON *jname = cJSON_GetObjectItemCaseSensitive(body, "trunk_name");
	const cJSON *jtype = cJSON_GetObjectItemCaseSensitive(body, "trunk_type");
	const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(body, "trunk_config");
	if (jtype && !cfg) {
		httpd_reply_error(req, 400, "missing_field", "trunk_config",
				  "trunk_config is required when trunk_type changes.");
		return;
	}
	db = api_db_get(api, req);
	if (!db)
		return;
	const char *idp[] = { id };
	err = db_begin(db);
	if (!err)
		err = db_exec(db, &res,
			      "SELECT provider, (secrets ? 'password'), name, secrets->>'password' "
			      "FROM trunks"
			      " WHERE id = $1 AND active FOR UPDATE",
			      1, idp);
	if (err)
		goto db_failed;
	if (db_result_rows(res) == 0) {
		httpd_reply_error(req, 404, "not_found", "trunk_id",
				  "No trunk has this trunk_id; list them with GET /trunks.");
		goto out;
	}
	const char *old_type = db_result_get(res, 0, 0);
	const char *type = jtype ? jtype->valuestring : old_type;
	bool same_type = old_type && strcmp(type, old_type) == 0;
	bool had_pw = same_type && db_result_get(res, 0, 1) && db_result_get(res, 0, 1)[0] == 't';
	if (cfg) {
		if (config_check(cfg, type, had_pw, &ve)) {
			api_reply_field_error(req, &ve);
			goto out;
		}
		if (config_split(&config, &secrets, cfg, type, api->keys, id)) {
			httpd_reply_error(req, 503, "out_of_memory", NULL,
					  "The server is short of memory; retry in a moment.");
			goto out;
		}
	}
	/* a new config without a password keeps the stored one (same type),
	 * and a type change drops secrets the new config does not give */
	const char *params[] = { id, jname ? jname->valuestring : NULL, jtype ? type : NULL, config,
				 secrets, (cfg && !secrets && !had_pw) ? "true" : "false" };
	err = db_exec(
		db, NULL,
		"UPDATE trunks SET name = coalesce($2, name), provider = coalesce($3, provider),"
		" config = coalesce($4::jsonb, config),"
		" secrets = CASE WHEN $6::boolean THEN '{}'::jsonb"
		"           ELSE coalesce($5::jsonb, secrets) END,"
		" updated_at = now() WHERE id = $1",
		6, params);
	if (!err && cfg)
		err = db_exec(db, NULL, "DELETE FROM phone_numbers WHERE trunk_id = $1", 1, idp);
	if (!err && cfg)
		err = numbers_insert(db, id, cJSON_GetObjectItemCaseSensitive(cfg, "numbers"),
				     &bad);
	if (!err && cfg && strcmp(type, "twilio") == 0) {
		char *stored_pw = NULL;
		if (had_pw && password_open(&stored_pw, api->keys, id, db_result_get(res, 0, 3))) {
			httpd_reply_error(req, 500, "trunk_secret_unreadable",
					  "trunk_config.password",
					  "the stored password does not open with SECRETS_KEY or "
					  "SECRETS_KEY_PREVIOUS; give trunk_config.password again");
			replied = true;
			err = EBADMSG;
		} else {
			err = provision_twilio(api, db, req, id,
					       jname ? jname->valuestring
						     : db_result_get(res, 0, 2),
					       cfg, stored_pw, &replied);
		}
		secret_wipe_free(stored_pw);
	}
	if (!err)
		err = db_commit(db);
	if (err) {
		db_rollback(db);
		if (replied)
			goto out;
		if (err == EEXIST && bad >= 0) {
			reply_numbers_conflict(
				req, cJSON_GetObjectItemCaseSensitive(cfg, "numbers"), bad);
			goto out;
		}
		goto db_failed;
	}
	log_info("trunk_updated", "trunk %s", id);
	reply_trunk(req, db, id, 200, "trunk updated");
	goto out;
db_failed:
	db_rollback(db);
	api_reply_db_error(req, err);
out:
	db_rollback(db);
	api_db_put(api, db);
	db_result_free(res);
	free(config);
	secret_free(secrets);
}

void trunks_delete(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1];
	struct db_result *res = NULL;

	if (!api_path_id(req, id, "trunk_id"))
		return;
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	const char *params[] = { id };
	int err = db_begin(db);
	if (!err)
		err = db_exec(db, &res,
			      "UPDATE trunks SET active = false, updated_at = now()"
			      " WHERE id = $1 AND active",
			      1, params);
	if (!err && db_result_affected(res) > 0)
		err = db_exec(db, NULL, "DELETE FROM phone_numbers WHERE trunk_id = $1", 1, params);
	if (!err)
		err = db_commit(db);
	if (err) {
		db_rollback(db);
		api_reply_db_error(req, err);
	} else {
		api_reply_deleted(req, db_result_affected(res), "trunk", "trunk_id", id);
	}
	api_db_put(api, db);
	db_result_free(res);
}
