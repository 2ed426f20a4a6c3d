/* /assistants: the AI assistant a call runs — prompt, mode, interaction
 * settings and STT/LLM/TTS providers. DELETE is soft (active = false) so
 * calls that used an assistant keep pointing at it. */
#include "assistants.h"

#include "egress/egress.h"

#include "api_priv.h"
#include "page.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PROVIDERS "local|openai"

static const struct cmd_rule interaction_fields[] = {
	{ "speaks_first", CMD_BOOL, false, 0, 0, false, NULL, NULL },
	{ "silence_timeout_s", CMD_INT, false, 1, 600, false, NULL, NULL },
	{ "max_reprompts", CMD_INT, false, 0, 10, false, NULL, NULL },
	{ "fillers_enabled", CMD_BOOL, false, 0, 0, false, NULL, NULL },
	{ "filler_delay_ms", CMD_INT, false, 0, 10000, false, NULL, NULL },
	{ "answer_timeout_s", CMD_INT, false, 1, 600, false, NULL, NULL },
	{ "max_duration_s", CMD_INT, false, 10, 86400, false, NULL, NULL },
	{ "reprompt_message", CMD_STR, false, 0, 1000, false, NULL, NULL },
	{ "goodbye_message", CMD_STR, false, 0, 1000, false, NULL, NULL },
	{ 0 },
};

static const struct cmd_rule stt_fields[] = {
	{ "provider", CMD_ENUM, true, 0, 0, false, PROVIDERS, NULL },
	{ "model", CMD_STR, false, 1, 100, false, NULL, NULL },
	{ "language", CMD_STR, false, 2, 16, false, NULL, NULL },
	{ "base_url", CMD_URL, false, 0, 2048, false, NULL, NULL },
	{ 0 },
};

static const struct cmd_rule script_fields[] = {
	{ "match", CMD_STR, true, 1, 500, false, NULL, NULL },
	{ "reply", CMD_STR, true, 1, 4000, false, NULL, NULL },
	{ 0 },
};

static const struct cmd_rule llm_fields[] = {
	{ "provider", CMD_ENUM, true, 0, 0, false, PROVIDERS, NULL },
	{ "model", CMD_STR, false, 1, 100, false, NULL, NULL },
	{ "temperature", CMD_NUM, false, 0, 2, false, NULL, NULL },
	{ "max_tokens", CMD_INT, false, 1, 32768, false, NULL, NULL },
	{ "script", CMD_OBJ_LIST, false, 0, 200, false, NULL, script_fields },
	{ "base_url", CMD_URL, false, 0, 2048, false, NULL, NULL },
	{ 0 },
};

static const struct cmd_rule tts_fields[] = {
	{ "provider", CMD_ENUM, true, 0, 0, false, PROVIDERS, NULL },
	{ "model", CMD_STR, false, 1, 100, false, NULL, NULL },
	{ "voice", CMD_STR, false, 1, 100, false, NULL, NULL },
	{ "speed", CMD_NUM, false, 0, 4, false, NULL, NULL },
	{ "language", CMD_STR, false, 2, 16, false, NULL, NULL },
	{ "base_url", CMD_URL, false, 0, 2048, false, NULL, NULL },
	{ 0 },
};

const struct cmd_rule assistants_rules[] = {
	{ "assistant_name", CMD_STR, true, 1, 200, false, NULL, NULL },
	{ "assistant_prompt", CMD_STR, true, 1, 32768, false, NULL, NULL },
	{ "assistant_mode", CMD_ENUM, false, 0, 0, false, "pipeline|realtime", NULL },
	{ "assistant_start_instruction", CMD_STR, false, 0, 4096, false, NULL, NULL },
	{ "assistant_interaction_config", CMD_OBJ, false, 0, 0, false, NULL, interaction_fields },
	{ "assistant_stt_config", CMD_OBJ, false, 0, 0, false, NULL, stt_fields },
	{ "assistant_llm_config", CMD_OBJ, false, 0, 0, false, NULL, llm_fields },
	{ "assistant_tts_config", CMD_OBJ, false, 0, 0, false, NULL, tts_fields },
	{ "assistant_end_call_url", CMD_URL, false, 0, 2048, true, NULL, NULL },
	{ 0 },
};

/* The URLs the services will be sent to (the end-of-call webhook, provider
 * base URLs) must not name a refused address (libs/egress); a name is
 * checked again, resolved, when it is connected to. */
static int urls_check(const cJSON *body, bool allow_private, struct cmd_field_error *e)
{
	static const char *const paths[][2] = {
		{ NULL, "assistant_end_call_url" },
		{ "assistant_stt_config", "base_url" },
		{ "assistant_llm_config", "base_url" },
		{ "assistant_tts_config", "base_url" },
	};
	for (size_t i = 0; i < CM_ARRAY_LEN(paths); i++) {
		const cJSON *o = paths[i][0] ? cJSON_GetObjectItemCaseSensitive(body, paths[i][0])
					     : body;
		const char *url =
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, paths[i][1]));
		char why[200], field[96];
		if (url && egress_url_check(url, allow_private, why, sizeof(why))) {
			snprintf(field, sizeof(field), "%s%s%s", paths[i][0] ? paths[i][0] : "",
				 paths[i][0] ? "." : "", paths[i][1]);
			return cmd_field_error_set(e, "invalid_field", field, "%s: %s.", field,
						   why);
		}
	}
	return 0;
}

/* column → API name, and how to render it */
static const struct {
	const char *col, *name;
	char kind; /* s string, j json, b bool */
} assistant_out[] = {
	{ "assistant_id", "assistant_id", 's' },
	{ "name", "assistant_name", 's' },
	{ "prompt", "assistant_prompt", 's' },
	{ "mode", "assistant_mode", 's' },
	{ "start_instruction", "assistant_start_instruction", 's' },
	{ "interaction_config", "assistant_interaction_config", 'j' },
	{ "stt_config", "assistant_stt_config", 'j' },
	{ "llm_config", "assistant_llm_config", 'j' },
	{ "tts_config", "assistant_tts_config", 'j' },
	{ "end_call_url", "assistant_end_call_url", 's' },
	{ "active", "active", 'b' },
	{ "created_at", "created_at", 's' },
	{ "updated_at", "updated_at", 's' },
};

static int row_json(cJSON **objp, const struct db_result *res, int row)
{
	if (!db_result_by_name(res, row, "assistant_id"))
		return ENOENT; /* a LEFT JOIN that found none */
	cJSON *o = cJSON_CreateObject();
	bool ok = o != NULL;
	for (size_t i = 0; ok && i < CM_ARRAY_LEN(assistant_out); i++) {
		const char *v = db_result_by_name(res, row, assistant_out[i].col);
		if (assistant_out[i].kind == 's') {
			ok = row_add_str(o, assistant_out[i].name, v);
		} else if (assistant_out[i].kind == 'b') {
			ok = row_add_bool(o, assistant_out[i].name, v);
		} else {
			cJSON *j = row_json_column(v);
			ok = j && cJSON_AddItemToObject(o, assistant_out[i].name, j);
			if (!ok)
				cJSON_Delete(j);
		}
	}
	if (!ok) {
		cJSON_Delete(o);
		return ENOMEM;
	}
	*objp = o;
	return 0;
}

int assistants_from_row(cJSON **ap, const struct db_result *res, int row)
{
	return row_json(ap, res, row);
}

int assistants_load(struct db *db, cJSON **ap, const char *id)
{
	struct db_result *res = NULL;
	const char *params[] = { id };
	int err = db_exec(db, &res,
			  "SELECT" ASSISTANTS_SELECT_COLS
			  " FROM assistants a WHERE a.id = $1 AND a.active",
			  1, params);
	if (!err && db_result_rows(res) == 0)
		err = ENOENT;
	if (!err)
		err = row_json(ap, res, 0);
	db_result_free(res);
	return err;
}

/* A config object of the body as jsonb text, or `def` when absent. Caller
 * frees unless it is def. */
static char *config_text(const cJSON *body, const char *name, const char *def, bool *allocp)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
	*allocp = false;
	if (!v)
		return (char *)def;
	*allocp = true;
	return cJSON_PrintUnformatted(v);
}

static const char *str_or(const cJSON *body, const char *name, const char *def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, name);
	return cJSON_IsString(v) ? v->valuestring : def;
}

/* The six text fields and four configs of a body; NULL where absent and
 * def is NULL (PATCH keeps the column). */
struct assistant_params {
	const char *p[12];
	char *owned[4];
};

static const char *const config_names[4] = {
	"assistant_interaction_config", "assistant_stt_config", "assistant_llm_config",
	"assistant_tts_config",
};

static int params_build(struct assistant_params *ap, const char *id, const cJSON *body,
			bool create)
{
	static const char local[] = "{\"provider\":\"local\"}";
	const char *defs[4] = { "{}", local, local, local };
	memset(ap, 0, sizeof(*ap));
	ap->p[0] = id;
	ap->p[1] = str_or(body, "assistant_name", NULL);
	ap->p[2] = str_or(body, "assistant_prompt", create ? "" : NULL);
	ap->p[3] = str_or(body, "assistant_mode", create ? "pipeline" : NULL);
	ap->p[4] = str_or(body, "assistant_start_instruction", create ? "" : NULL);
	for (int i = 0; i < 4; i++) {
		bool alloc = false;
		char *t = config_text(body, config_names[i], create ? defs[i] : NULL, &alloc);
		if (alloc) {
			if (!t)
				return ENOMEM;
			ap->owned[i] = t;
		}
		ap->p[5 + i] = t;
	}
	const cJSON *url = cJSON_GetObjectItemCaseSensitive(body, "assistant_end_call_url");
	ap->p[9] = cJSON_IsString(url) ? url->valuestring : NULL;
	ap->p[10] = url ? "true" : "false"; /* PATCH: present (even null) = set it */
	return 0;
}

static void params_free(struct assistant_params *ap)
{
	for (int i = 0; i < 4; i++)
		free(ap->owned[i]);
}

static void reply_row(struct httpd_req *req, unsigned status, const char *msg,
		      const struct db_result *res)
{
	cJSON *o = NULL;
	if (row_json(&o, res, 0))
		httpd_reply_error(req, 503, "out_of_memory", NULL,
				  "The server is short of memory; retry in a moment.");
	else
		httpd_reply_ok(req, status, msg, o);
}

void assistants_create(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct cmd_field_error ve;
	struct assistant_params ap = { 0 };
	struct db_result *res = NULL;
	char id[ID_UUID_LEN + 1];

	const cJSON *body = api_body(req);
	if (!body)
		return;
	if (cmd_check_object(body, assistants_rules, false, NULL, &ve) ||
	    urls_check(body, api->allow_private, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	if (id_uuid4(id) || params_build(&ap, id, body, true)) {
		httpd_reply_error(req, 503, "out_of_memory", NULL,
				  "The server is short of memory; retry in a moment.");
		goto out;
	}
	struct db *db = api_db_get(api, req);
	if (!db)
		goto out;
	int err = db_exec(
		db, &res,
		"INSERT INTO assistants AS a (id, name, prompt, mode, start_instruction,"
		" interaction_config, stt_config, llm_config, tts_config, end_call_url)"
		" VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9::jsonb, $10)"
		" RETURNING" ASSISTANTS_SELECT_COLS,
		10, ap.p);
	api_db_put(api, db);
	if (err) {
		api_reply_db_error(req, err);
		goto out;
	}
	log_info("assistant_created", "assistant %s", id);
	reply_row(req, 201, "assistant created", res);
out:
	params_free(&ap);
	db_result_free(res);
}

void assistants_list(struct httpd_req *req, void *arg)
{
	api_reply_list(arg, req,
		       "SELECT" ASSISTANTS_SELECT_COLS
		       " FROM assistants a WHERE a.active" PAGE_SQL("a", "$1", "$2", "$3"),
		       "assistants", "assistant_id", row_json);
}

void assistants_get(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1];
	cJSON *o = NULL;

	if (!api_path_id(req, id, "assistant_id"))
		return;
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	int err = assistants_load(db, &o, id);
	api_db_put(api, db);
	if (err == ENOENT)
		httpd_reply_error(
			req, 404, "not_found", "assistant_id",
			"No assistant has this assistant_id; list them with GET /assistants.");
	else if (err)
		api_reply_db_error(req, err);
	else
		httpd_reply_ok(req, 200, "assistant", o);
}

void assistants_patch(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	struct cmd_field_error ve;
	struct assistant_params ap = { 0 };
	struct db_result *res = NULL;
	char id[ID_UUID_LEN + 1];

	if (!api_path_id(req, id, "assistant_id"))
		return;
	const cJSON *body = api_body(req);
	if (!body)
		return;
	if (cmd_check_object(body, assistants_rules, true, NULL, &ve) ||
	    urls_check(body, api->allow_private, &ve)) {
		api_reply_field_error(req, &ve);
		return;
	}
	if (params_build(&ap, id, body, false)) {
		httpd_reply_error(req, 503, "out_of_memory", NULL,
				  "The server is short of memory; retry in a moment.");
		goto out;
	}
	struct db *db = api_db_get(api, req);
	if (!db)
		goto out;
	int err = db_exec(
		db, &res,
		"UPDATE assistants a SET name = coalesce($2, a.name),"
		" prompt = coalesce($3, a.prompt), mode = coalesce($4, a.mode),"
		" start_instruction = coalesce($5, a.start_instruction),"
		" interaction_config = coalesce($6::jsonb, a.interaction_config),"
		" stt_config = coalesce($7::jsonb, a.stt_config),"
		" llm_config = coalesce($8::jsonb, a.llm_config),"
		" tts_config = coalesce($9::jsonb, a.tts_config),"
		" end_call_url = CASE WHEN $11::boolean THEN $10::text ELSE a.end_call_url END,"
		" updated_at = now()"
		" WHERE a.id = $1 AND a.active RETURNING" ASSISTANTS_SELECT_COLS,
		11, ap.p);
	api_db_put(api, db);
	if (err)
		api_reply_db_error(req, err);
	else if (db_result_rows(res) == 0)
		httpd_reply_error(
			req, 404, "not_found", "assistant_id",
			"No assistant has this assistant_id; list them with GET /assistants.");
	else
		reply_row(req, 200, "assistant updated", res);
out:
	params_free(&ap);
	db_result_free(res);
}

void assistants_delete(struct httpd_req *req, void *arg)
{
	struct api *api = arg;
	char id[ID_UUID_LEN + 1];
	struct db_result *res = NULL;

	if (!api_path_id(req, id, "assistant_id"))
		return;
	struct db *db = api_db_get(api, req);
	if (!db)
		return;
	const char *params[] = { id };
	int err = db_exec(db, &res,
			  "UPDATE assistants SET active = false, updated_at = now()"
			  " WHERE id = $1 AND active",
			  1, params);
	api_db_put(api, db);
	if (err)
		api_reply_db_error(req, err);
	else
		api_reply_deleted(req, db_result_affected(res), "assistant", "assistant_id", id);
	db_result_free(res);
}
