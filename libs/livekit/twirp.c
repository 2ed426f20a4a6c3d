/* Twirp over libs/httpc: LiveKit's server API with JSON bodies. */
#include "livekit_priv.h"

#include "httpc/httpc.h"

#include <openssl/crypto.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_TTL_S      600
#define URL_MAX          1024
#define CONNECT_MAX_MS   5000L

struct livekit {
	char *http_url; /* no trailing slash */
	char *ws_url;
	char *api_key;
	char *api_secret;
	atomic_bool cancelled;
};

/* "<to><rest of url after from>" when url starts with `from`. */
static char *swap_scheme(const char *url, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), ul = strlen(url);
	if (strncmp(url, from, fl) != 0)
		return NULL;
	char *out = malloc(tl + ul - fl + 1);
	if (!out)
		return NULL;
	memcpy(out, to, tl);
	memcpy(out + tl, url + fl, ul - fl + 1);
	return out;
}

int livekit_client_new(struct livekit **lkp, const char *url, const char *api_key,
		       const char *api_secret)
{
	static const char *const map[][3] = {
		/* configured   http        ws */
		{ "http://", "http://", "ws://" },
		{ "https://", "https://", "wss://" },
		{ "ws://", "http://", "ws://" },
		{ "wss://", "https://", "wss://" },
	};
	struct livekit *lk = NULL;
	int err = 0;
	if (!lkp || !url || !api_key || !*api_key || !api_secret || !*api_secret ||
	    strlen(url) > URL_MAX)
		return EINVAL;
	lk = calloc(1, sizeof(*lk));
	if (!lk)
		return ENOMEM;
	for (size_t i = 0; i < CM_ARRAY_LEN(map) && !lk->http_url; i++) {
		if (strncmp(url, map[i][0], strlen(map[i][0])) != 0)
			continue;
		lk->http_url = swap_scheme(url, map[i][0], map[i][1]);
		lk->ws_url = swap_scheme(url, map[i][0], map[i][2]);
		if (!lk->http_url || !lk->ws_url) {
			err = ENOMEM;
			goto out;
		}
	}
	if (!lk->http_url || strlen(lk->http_url) <= strlen("https://")) {
		err = EINVAL;
		goto out;
	}
	for (size_t n = strlen(lk->http_url); n > 0 && lk->http_url[n - 1] == '/'; n--)
		lk->http_url[n - 1] = '\0';
	lk->api_key = strdup(api_key);
	lk->api_secret = strdup(api_secret);
	if (!lk->api_key || !lk->api_secret)
		err = ENOMEM;
out:
	if (err)
		lk = livekit_client_free(lk);
	*lkp = lk;
	return err;
}

struct livekit *livekit_client_free(struct livekit *lk)
{
	if (!lk)
		return NULL;
	free(lk->http_url);
	free(lk->ws_url);
	free(lk->api_key);
	if (lk->api_secret) {
		OPENSSL_cleanse(lk->api_secret, strlen(lk->api_secret));
		free(lk->api_secret);
	}
	free(lk);
	return NULL;
}

void livekit_client_cancel(struct livekit *lk)
{
	if (lk)
		atomic_store(&lk->cancelled, true);
}

static bool is_cancelled(void *arg)
{
	const struct livekit *lk = arg;
	return atomic_load(&lk->cancelled);
}

const char *livekit_client_ws_url(const struct livekit *lk)
{
	return lk->ws_url;
}

const char *livekit_client_api_key(const struct livekit *lk)
{
	return lk->api_key;
}

const char *livekit_client_api_secret(const struct livekit *lk)
{
	return lk->api_secret;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	snprintf(dst, cap, "%s", src ? src : "");
}

static void set_error(struct livekit_error *e, int http_status, const char *code, const char *msg)
{
	if (!e)
		return;
	memset(e, 0, sizeof(*e));
	e->http_status = http_status;
	copy_str(e->code, sizeof(e->code), code);
	copy_str(e->msg, sizeof(e->msg), msg);
}

int livekit_twirp_error_parse(struct livekit_error *errp, const char *body, size_t len)
{
	struct livekit_error tmp = { 0 };
	struct livekit_error *e = errp ? errp : &tmp;
	int http_status = e->http_status;
	set_error(e, http_status, "internal", "unparseable error reply");
	cJSON *j = body && len ? cJSON_ParseWithLength(body, len) : NULL;
	const cJSON *code = cJSON_GetObjectItemCaseSensitive(j, "code");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(j, "msg");
	const cJSON *meta = cJSON_GetObjectItemCaseSensitive(j, "meta");
	int err = 0;
	if (!cJSON_IsObject(j) || !cJSON_IsString(code) || !*code->valuestring) {
		err = EINVAL;
		goto out;
	}
	copy_str(e->code, sizeof(e->code), code->valuestring);
	copy_str(e->msg, sizeof(e->msg), cJSON_IsString(msg) ? msg->valuestring : "");
	if (cJSON_IsObject(meta)) {
		const cJSON *sc = cJSON_GetObjectItemCaseSensitive(meta, "sip_status_code");
		const cJSON *ss = cJSON_GetObjectItemCaseSensitive(meta, "sip_status");
		long v = 0;
		if (cJSON_IsString(sc)) {
			char *end = NULL;
			errno = 0;
			v = strtol(sc->valuestring, &end, 10);
			if (errno || end == sc->valuestring || *end)
				v = 0;
		} else if (cJSON_IsNumber(sc)) {
			v = sc->valuedouble >= 0 && sc->valuedouble < 1000 ? (long)sc->valuedouble
									   : 0;
		}
		e->sip_status_code = v >= 100 && v <= 699 ? (int)v : 0;
		if (cJSON_IsString(ss))
			copy_str(e->sip_status, sizeof(e->sip_status), ss->valuestring);
	}
out:
	cJSON_Delete(j);
	return err;
}

int livekit_twirp(struct livekit *lk, cJSON **respp, const char *service, const char *method,
		  const cJSON *req, const struct livekit_grants *grants, long timeout_ms,
		  struct livekit_error *errp)
{
	struct httpc_resp r = { 0 };
	char *token = NULL, *json = NULL, *auth = NULL;
	char url[URL_MAX + 256], why[256];
	cJSON *resp = NULL;
	int err = 0;

	if (errp)
		memset(errp, 0, sizeof(*errp));
	if (!lk || !respp || !service || !method || !req || timeout_ms <= 0 ||
	    strlen(service) + strlen(method) > 200) {
		set_error(errp, 0, "invalid_argument", "bad arguments");
		return EINVAL;
	}
	if (atomic_load(&lk->cancelled)) {
		set_error(errp, 0, "canceled", "client shut down");
		return ECANCELED;
	}
	snprintf(url, sizeof(url), "%s/twirp/%s/%s", lk->http_url, service, method);
	err = livekit_token_mint(&token, lk->api_key, lk->api_secret, "callmesh", NULL, NULL,
				 grants, TOKEN_TTL_S);
	if (err)
		goto out;
	json = cJSON_PrintUnformatted(req);
	size_t auth_len = strlen(token) + 32;
	auth = malloc(auth_len);
	if (!json || !auth) {
		err = ENOMEM;
		goto out;
	}
	snprintf(auth, auth_len, "Authorization: Bearer %s", token);
	const char *const hdrs[] = { auth, "Content-Type: application/json", "Expect:", NULL };
	struct httpc_req hr = {
		.method = "POST",
		.url = url,
		.headers = hdrs,
		.body = json,
		.body_len = strlen(json),
		.timeout_ms = timeout_ms,
		.connect_timeout_ms = timeout_ms < CONNECT_MAX_MS ? timeout_ms : CONNECT_MAX_MS,
		.max_response = LIVEKIT_RESPONSE_MAX,
		.cancelled = is_cancelled,
		.cancel_arg = lk,
	};
	err = httpc_do(&r, &hr, why, sizeof(why));
	if (err) {
		bool too_big = err == EMSGSIZE;
		if (too_big)
			err = EIO;
		set_error(errp, 0,
			  err == ETIMEDOUT    ? "timeout"
			  : err == ECANCELED  ? "canceled"
			  : too_big           ? "malformed"
					      : "unavailable",
			  too_big ? "reply too large" : why);
		log_warn("livekit_twirp_transport", "%s/%s: %s", service, method,
			 too_big ? "reply too large" : why);
		goto out;
	}
	long status = r.status;
	if (status < 200 || status > 299) {
		if (errp) {
			errp->http_status = (int)status;
			if (livekit_twirp_error_parse(errp, r.body, r.len))
				snprintf(errp->msg, sizeof(errp->msg), "HTTP %ld", status);
		}
		log_warn("livekit_twirp_error", "%s/%s: HTTP %ld %s: %s", service, method, status,
			 errp ? errp->code : "", errp ? errp->msg : "");
		err = EIO;
		goto out;
	}
	resp = r.body ? cJSON_ParseWithLength(r.body, r.len) : NULL;
	if (!cJSON_IsObject(resp)) {
		set_error(errp, (int)status, "malformed", "reply is not a JSON object");
		log_warn("livekit_twirp_malformed", "%s/%s: reply is not a JSON object", service,
			 method);
		err = EIO;
		goto out;
	}
	*respp = resp;
	resp = NULL;
out:
	cJSON_Delete(resp);
	httpc_resp_fini(&r);
	free(json);
	free(auth);
	free(token);
	return err;
}

int livekit_sip_outbound_trunk_create(struct livekit *lk, char **trunk_idp, const char *name,
				      const char *address, const char *const *numbers,
				      const char *username, const char *password,
				      long timeout_ms, struct livekit_error *errp)
{
	const struct livekit_grants grants = { .sip_admin = true };
	cJSON *req = cJSON_CreateObject(), *resp = NULL;
	cJSON *trunk = cJSON_AddObjectToObject(req, "trunk");
	cJSON *nums = cJSON_AddArrayToObject(trunk, "numbers");
	int err = 0;
	if (!trunk_idp || !address || !*address || !numbers) {
		cJSON_Delete(req);
		return EINVAL;
	}
	if (!nums || !cJSON_AddStringToObject(trunk, "name", name ? name : "") ||
	    !cJSON_AddStringToObject(trunk, "address", address) ||
	    (username && !cJSON_AddStringToObject(trunk, "auth_username", username)) ||
	    (password && !cJSON_AddStringToObject(trunk, "auth_password", password))) {
		err = ENOMEM;
		goto out;
	}
	for (size_t i = 0; numbers[i] && i < 1000; i++) {
		cJSON *n = cJSON_CreateString(numbers[i]);
		if (!n || !cJSON_AddItemToArray(nums, n)) {
			cJSON_Delete(n);
			err = ENOMEM;
			goto out;
		}
	}
	err = livekit_twirp(lk, &resp, "livekit.SIP", "CreateSIPOutboundTrunk", req, &grants,
			    timeout_ms, errp);
	if (err)
		goto out;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(resp, "sip_trunk_id");
	if (!cJSON_IsString(id) || !*id->valuestring) {
		set_error(errp, 200, "malformed", "reply has no sip_trunk_id");
		err = EIO;
		goto out;
	}
	*trunk_idp = strdup(id->valuestring);
	if (!*trunk_idp)
		err = ENOMEM;
out:
	cJSON_Delete(req);
	cJSON_Delete(resp);
	return err;
}
