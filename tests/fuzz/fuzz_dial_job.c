/* libFuzzer target for sip-bridge's dial.exotel job parser, dial_job_parse()
 * (services/sip-bridge/dial.c): a JSON job from JetStream. So that the
 * password rules are reached too, a trunk.password_sealed string that is not
 * an envelope yet is sealed here for "call:<call_id>" under the fuzzer's key
 * (as api-gateway does) before the job is parsed; envelopes ("cms1.…") go
 * through as they are. What parses must hold what dial.c promises. */
#include "secret/secret.h"
#include "sip-bridge/dial.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct secret_keys *keys(void)
{
	static struct secret_keys *k;
	char why[160];
	if (!k && secret_keys_load(&k, FUZZ_KEY, NULL, why, sizeof(why)) != 0)
		abort();
	return k;
}

/* The job re-printed with trunk.password_sealed sealed, or NULL to use the
 * input as it is. */
static char *sealed_copy(const char *p, size_t n)
{
	char *out = NULL, *env = NULL;
	cJSON *root = cJSON_ParseWithLength(p, n);
	cJSON *trunk = cJSON_GetObjectItemCaseSensitive(root, "trunk");
	cJSON *pw = cJSON_GetObjectItemCaseSensitive(trunk, "password_sealed");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(root, "call_id");
	if (!cJSON_IsString(pw) || secret_is_sealed(pw->valuestring) || !cJSON_IsString(id) ||
	    strlen(pw->valuestring) > SECRET_PLAIN_MAX)
		goto out;
	char aad[128];
	snprintf(aad, sizeof(aad), "call:%s", id->valuestring);
	if (secret_seal(&env, keys(), aad, pw->valuestring, strlen(pw->valuestring)) != 0)
		goto out;
	cJSON *item = cJSON_CreateString(env);
	if (!item || !cJSON_ReplaceItemInObjectCaseSensitive(trunk, "password_sealed", item)) {
		cJSON_Delete(item);
		goto out;
	}
	out = cJSON_PrintUnformatted(root);
out:
	free(env);
	cJSON_Delete(root);
	return out;
}

static bool e164(const char *s)
{
	size_t n = strnlen(s, 32);
	if (n < 3 || n > 16 || s[0] != '+')
		return false;
	for (size_t i = 1; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static bool terminated(const char *s, size_t cap)
{
	return strnlen(s, cap) < cap;
}

static void check_job(const struct dial_job *j, const char *callid)
{
	if (!terminated(j->call_id, sizeof(j->call_id)) || !id_is_uuid(j->call_id) ||
	    strcmp(j->call_id, callid) != 0)
		abort();
	if (!terminated(j->room, sizeof(j->room)) || !j->room[0])
		abort();
	for (const char *c = j->room; *c; c++)
		if (*c <= 0x20 || *c >= 0x7f)
			abort();
	if (!e164(j->to_number) || !e164(j->from_number))
		abort();
	if (j->ring_timeout_s < 0 || j->ring_timeout_s > 600 || j->max_duration_s < 1 ||
	    j->max_duration_s > 86400 || j->sip_port < 1 || j->sip_port > 65535)
		abort();
	if (strcmp(j->transport, "tcp") && strcmp(j->transport, "udp") &&
	    strcmp(j->transport, "tls"))
		abort();
	if (!terminated(j->sip_host, sizeof(j->sip_host)) || !j->sip_host[0] ||
	    !terminated(j->sip_domain, sizeof(j->sip_domain)) ||
	    !terminated(j->username, sizeof(j->username)) ||
	    !terminated(j->password, sizeof(j->password)))
		abort();
	char why[96];
	if ((j->username[0] && sip_credentials_check(SIP_CRED_USERNAME, j->username,
						     strlen(j->username), why, sizeof(why))) ||
	    (j->password[0] && sip_credentials_check(SIP_CRED_PASSWORD, j->password,
						     strlen(j->password), why, sizeof(why))))
		abort();
	if (j->naddrs != 0) /* the puller resolves, not the parser */
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so sanitizers see reads past the end */
	char *copy = malloc(size ? size : 1);
	struct dial_job *job = calloc(1, sizeof(*job));
	if (!copy || !job)
		goto out;
	memcpy(copy, data, size);
	char *sealed = sealed_copy(copy, size);
	const char *in = sealed ? sealed : copy;
	size_t len = sealed ? strlen(sealed) : size;
	char err[256], callid[ID_UUID_LEN + 1];
	memset(err, 0, sizeof(err));
	int rc = dial_job_parse(job, keys(), in, len, err, sizeof(err), callid);
	if (!terminated(callid, sizeof(callid)) || (callid[0] && !id_is_uuid(callid)))
		abort();
	if (rc == 0)
		check_job(job, callid);
	else if (!err[0] || !terminated(err, sizeof(err)))
		abort(); /* a refusal names its problem */
	free(sealed);
out:
	dial_job_free(job);
	free(copy);
	return 0;
}
