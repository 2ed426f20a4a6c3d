/* The assistant snapshot of a dispatch → struct assistant (assistant.h). */
#include "assistant.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 8192

static int dup_str(char **outp, const cJSON *obj, const char *name, const char *def,
		   char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	const char *v = def;
	if (it && !cJSON_IsNull(it)) {
		if (!cJSON_IsString(it) || strlen(it->valuestring) > TEXT_MAX) {
			snprintf(err, errlen, "%s: must be a string of at most %d bytes", name,
				 TEXT_MAX);
			return EINVAL;
		}
		v = it->valuestring;
	}
	*outp = v ? strdup(v) : NULL;
	return v && !*outp ? ENOMEM : 0;
}

static int get_bool(bool *outp, const cJSON *obj, const char *name, bool def, char *err,
		    size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	*outp = def;
	if (!it || cJSON_IsNull(it))
		return 0;
	if (!cJSON_IsBool(it)) {
		snprintf(err, errlen, "interaction_config.%s: must be a boolean", name);
		return EINVAL;
	}
	*outp = cJSON_IsTrue(it);
	return 0;
}

/* A number scaled by `scale` into [min, max]. */
static int get_num(int64_t *outp, const cJSON *obj, const char *name, double def, double scale,
		   int64_t min, int64_t max, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	double v = def;
	if (it && !cJSON_IsNull(it)) {
		if (!cJSON_IsNumber(it)) {
			snprintf(err, errlen, "interaction_config.%s: must be a number", name);
			return EINVAL;
		}
		v = it->valuedouble;
	}
	double s = v * scale;
	if (!isfinite(s) || s < (double)min || s > (double)max) {
		snprintf(err, errlen, "interaction_config.%s: out of range", name);
		return EINVAL;
	}
	*outp = (int64_t)llround(s);
	return 0;
}

static int get_int(int *outp, const cJSON *obj, const char *name, double def, double scale,
		   int min, int max, char *err, size_t errlen)
{
	int64_t v = 0;
	int e = get_num(&v, obj, name, def, scale, min, max, err, errlen);
	if (!e)
		*outp = (int)v;
	return e;
}

static int get_list(char **out, int *np, const cJSON *obj, const char *name,
		    const char *const *defs, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	*np = 0;
	if (!it || cJSON_IsNull(it)) {
		for (int i = 0; defs && defs[i] && i < ASSISTANT_LIST_MAX; i++) {
			if (!(out[i] = strdup(defs[i])))
				return ENOMEM;
			*np = i + 1;
		}
		return 0;
	}
	if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > ASSISTANT_LIST_MAX) {
		snprintf(err, errlen,
			 "interaction_config.%s: must be an array of at most %d strings", name,
			 ASSISTANT_LIST_MAX);
		return EINVAL;
	}
	const cJSON *s;
	cJSON_ArrayForEach(s, it) {
		if (!cJSON_IsString(s) || !s->valuestring[0] || strlen(s->valuestring) > 512) {
			snprintf(err, errlen,
				 "interaction_config.%s: entries must be short non-empty strings",
				 name);
			return EINVAL;
		}
		if (!(out[*np] = strdup(s->valuestring)))
			return ENOMEM;
		(*np)++;
	}
	return 0;
}

static int dup_obj(cJSON **outp, const cJSON *obj, const char *name, char *err, size_t errlen)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, name);
	if (!it || cJSON_IsNull(it)) {
		*outp = cJSON_CreateObject();
	} else if (!cJSON_IsObject(it)) {
		snprintf(err, errlen, "assistant.%s: must be an object", name);
		return EINVAL;
	} else {
		*outp = cJSON_Duplicate(it, true);
	}
	return *outp ? 0 : ENOMEM;
}

static const char *const default_fillers[] = { "One moment.", "Let me check.", "Just a second.",
					       NULL };

int assistant_parse(struct assistant **ap, const cJSON *obj, char *err, size_t errlen)
{
	int e = 0;
	struct assistant *a = NULL;
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "assistant: required object");
		return EINVAL;
	}
	a = calloc(1, sizeof(*a));
	if (!a)
		return ENOMEM;
	if ((e = dup_str(&a->id, obj, "id", "", err, errlen)) ||
	    (e = dup_str(&a->name, obj, "name", "", err, errlen)) ||
	    (e = dup_str(&a->prompt, obj, "prompt", "", err, errlen)) ||
	    (e = dup_str(&a->start_instruction, obj, "start_instruction", "", err, errlen)))
		goto out;
	const cJSON *mode = cJSON_GetObjectItemCaseSensitive(obj, "mode");
	if (mode && !cJSON_IsNull(mode)) {
		if (!cJSON_IsString(mode) || (strcmp(mode->valuestring, "pipeline") != 0 &&
					      strcmp(mode->valuestring, "realtime") != 0)) {
			snprintf(err, errlen,
				 "assistant.mode: must be \"pipeline\" or \"realtime\"");
			e = EINVAL;
			goto out;
		}
		a->realtime = strcmp(mode->valuestring, "realtime") == 0;
	}
	const cJSON *ic = cJSON_GetObjectItemCaseSensitive(obj, "interaction_config");
	cJSON *empty = NULL;
	if (!ic || cJSON_IsNull(ic)) {
		ic = empty = cJSON_CreateObject();
		if (!empty) {
			e = ENOMEM;
			goto out;
		}
	} else if (!cJSON_IsObject(ic)) {
		snprintf(err, errlen, "assistant.interaction_config: must be an object");
		e = EINVAL;
		goto out;
	}
	const cJSON *sm = cJSON_GetObjectItemCaseSensitive(ic, "start_mode");
	if (sm && !cJSON_IsNull(sm)) {
		if (!cJSON_IsString(sm) || (strcmp(sm->valuestring, "literal") != 0 &&
					    strcmp(sm->valuestring, "generate") != 0)) {
			snprintf(err, errlen,
				 "interaction_config.start_mode: must be \"literal\" or "
				 "\"generate\"");
			e = EINVAL;
			goto ic_out;
		}
		a->start_generate = strcmp(sm->valuestring, "generate") == 0;
	}
	if ((e = get_bool(&a->speaks_first, ic, "speaks_first", true, err, errlen)) ||
	    (e = get_int(&a->silence_timeout_ms, ic, "silence_timeout_s", 10, 1000, 50, 3600000,
			 err, errlen)) ||
	    (e = get_int(&a->max_reprompts, ic, "max_reprompts", 2, 1, 0, 20, err, errlen)) ||
	    (e = dup_str(&a->reprompt_message, ic, "reprompt_message", "Are you still there?", err,
			 errlen)) ||
	    (e = dup_str(&a->goodbye_message, ic, "goodbye_message",
			 "I have not heard from you, so I will end the call now. Goodbye.", err,
			 errlen)) ||
	    (e = get_bool(&a->fillers_enabled, ic, "fillers_enabled", true, err, errlen)) ||
	    (e = get_int(&a->filler_after_ms, ic, "filler_after_ms", 1200, 1, 50, 60000, err,
			 errlen)) ||
	    (e = get_list(a->fillers, &a->nfillers, ic, "fillers", default_fillers, err, errlen)) ||
	    (e = get_int(&a->barge_in_min_ms, ic, "barge_in_min_ms", 400, 1, 20, 10000, err,
			 errlen)) ||
	    (e = get_int(&a->end_of_speech_ms, ic, "end_of_speech_ms", 600, 1, 100, 10000, err,
			 errlen)) ||
	    (e = get_int(&a->vad_threshold, ic, "vad_threshold", 500, 1, 1, 32767, err, errlen)) ||
	    (e = get_list(a->end_call_phrases, &a->nend_call_phrases, ic, "end_call_phrases", NULL,
			  err, errlen)) ||
	    (e = dup_str(&a->end_call_message, ic, "end_call_message",
			 "Thank you for calling. Goodbye.", err, errlen)) ||
	    (e = get_num(&a->max_duration_ms, ic, "max_duration_s", 3600, 1000, 100, 86400000, err,
			 errlen)) ||
	    (e = get_bool(&a->recording, ic, "recording", true, err, errlen)) ||
	    (e = get_int(&a->recording_wait_ms, ic, "recording_wait_ms", 1500, 1, 0, 30000, err,
			 errlen)))
		goto ic_out;
	if ((e = dup_obj(&a->stt_config, obj, "stt_config", err, errlen)) ||
	    (e = dup_obj(&a->llm_config, obj, "llm_config", err, errlen)) ||
	    (e = dup_obj(&a->tts_config, obj, "tts_config", err, errlen)))
		goto ic_out;
ic_out:
	cJSON_Delete(empty);
out:
	if (e) {
		assistant_free(a);
		return e;
	}
	*ap = a;
	return 0;
}

struct assistant *assistant_free(struct assistant *a)
{
	if (!a)
		return NULL;
	free(a->id);
	free(a->name);
	free(a->prompt);
	free(a->start_instruction);
	free(a->reprompt_message);
	free(a->goodbye_message);
	free(a->end_call_message);
	for (int i = 0; i < a->nfillers; i++)
		free(a->fillers[i]);
	for (int i = 0; i < a->nend_call_phrases; i++)
		free(a->end_call_phrases[i]);
	cJSON_Delete(a->stt_config);
	cJSON_Delete(a->llm_config);
	cJSON_Delete(a->tts_config);
	free(a);
	return NULL;
}

const char *assistant_provider(const cJSON *cfg)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(cfg, "provider");
	return cJSON_IsString(p) ? p->valuestring : "local";
}
