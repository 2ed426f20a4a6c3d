/*
 * livekit — LiveKit's server API as callmesh uses it (DESIGN.md §3, issue #3):
 * access tokens (JWT HS256), webhook signature checks and the Twirp client
 * (JSON over HTTP, libs/httpc).
 *
 * Tokens: HS256 only; claims iss = API key, sub = identity, nbf, exp
 * (LiveKit refuses a token without it), iat, optional name and metadata,
 * `video` grants in LiveKit's camelCase names (roomJoin, room, canPublish,
 * canSubscribe, canPublishData, roomCreate, roomList, roomAdmin, roomRecord,
 * hidden) and `sip` grants (call, admin). Only true grants are written,
 * except canPublish/canSubscribe, which LiveKit treats as true when absent and
 * so are always written when the token joins a room.
 *
 * Webhooks: LiveKit POSTs with `Authorization: <raw JWT>` (HS256, iss = API
 * key) whose `sha256` claim is standard base64 of SHA-256 over the raw body.
 *
 * Twirp: POST <url>/twirp/<service>/<method>, JSON body, Bearer token minted
 * per call with the grants the method needs. A Twirp error (non-2xx with
 * {"code","msg","meta"}) is parsed into struct livekit_error.
 *
 * Threads: token and webhook functions are pure and thread-safe. A struct
 * livekit may be used from several threads at once (each call is its own
 * httpc_do() request; libs/httpc initialises libcurl once).
 *
 * Errors: 0 or an errno value — EINVAL (bad argument), ENOMEM, EACCES (a
 * webhook signature that does not verify), EIO (Twirp error or malformed
 * reply), ECONNREFUSED (the request certainly never reached the server:
 * connection refused or name not resolved), ETIMEDOUT.
 */
#ifndef CALLMESH_LIVEKIT_H
#define CALLMESH_LIVEKIT_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/core.h"

/* Grants of a token. `room` is borrowed; NULL or "" writes no room claim. */
struct livekit_grants {
	const char *room;
	bool room_join, room_create, room_list, room_admin, room_record;
	bool can_publish, can_subscribe, can_publish_data, hidden;
	bool sip_call, sip_admin;
};

#define LIVEKIT_TTL_MAX_S (24 * 3600)   /* longest token lifetime accepted */
#define LIVEKIT_IDENTITY_MAX 256        /* bytes of identity/name */
#define LIVEKIT_METADATA_MAX 16384      /* bytes of participant metadata */
#define LIVEKIT_RESPONSE_MAX (1 << 20)  /* largest Twirp reply accepted */

/* Mints a token: iss = api_key, sub = identity, nbf = now - 10 s (clock skew),
 * iat = now, exp = now + ttl_s (1..LIVEKIT_TTL_MAX_S), name and metadata
 * when non-NULL, and the grants. Borrows everything. Caller frees *jwtp with
 * free(). EINVAL for an empty key/secret/identity or a ttl out of range. */
int livekit_token_mint(char **jwtp, const char *api_key, const char *api_secret,
		       const char *identity, const char *name, const char *metadata,
		       const struct livekit_grants *grants, int ttl_s) CM_MUST_USE;

/* Verifies a token minted with api_secret (HS256, iss = api_key, exp in the
 * future and nbf in the past, each with 60 s leeway) and, when claimsp is
 * non-NULL, hands back its claims (caller cJSON_Delete). 0 or EACCES. */
int livekit_token_verify(cJSON **claimsp, const char *jwt, const char *api_key,
			 const char *api_secret) CM_MUST_USE;

/* Verifies a LiveKit webhook: `authorization` is the header value, the raw
 * JWT (a "Bearer " prefix is tolerated), HS256 with api_secret, iss = api_key,
 * not expired, and its "sha256" claim equals base64(SHA-256(body[0..len))).
 * Borrows everything. 0, or EACCES (EINVAL for NULL key/secret). */
int livekit_webhook_verify(const char *authorization, const char *body, size_t len,
			   const char *api_key, const char *api_secret) CM_MUST_USE;

/* Signs a webhook body the way LiveKit does (for tests and tools): the
 * Authorization header value. Caller frees. */
int livekit_webhook_sign(char **authp, const char *body, size_t len, const char *api_key,
			 const char *api_secret) CM_MUST_USE;

struct livekit;

struct livekit_error {
	int http_status;          /* 0 when no HTTP reply came */
	char code[64];            /* Twirp code: "not_found", "malformed", … */
	char msg[256];
	int sip_status_code;      /* meta.sip_status_code, 0 if none */
	char sip_status[128];     /* meta.sip_status, "" if none */
};

/* A client for the server at `url` (http(s)://host[:port][/prefix]; ws:// and
 * wss:// are mapped to http:// and https://). Borrows the strings (copied).
 * Caller frees with livekit_client_free(). */
int livekit_client_new(struct livekit **lkp, const char *url, const char *api_key,
		       const char *api_secret) CM_MUST_USE;
/* NULL-safe; returns NULL. No livekit_twirp() on lk may be running. */
struct livekit *livekit_client_free(struct livekit *lk);
/* Aborts every livekit_twirp() on lk now in flight (they return ECANCELED:
 * the outcome is unknown) and makes later ones fail at once with ECANCELED.
 * For shutdown; thread-safe. */
void livekit_client_cancel(struct livekit *lk);
/* The URL participants connect to: the configured one with http(s) mapped
 * to ws(s). Borrowed from lk. */
const char *livekit_client_ws_url(const struct livekit *lk);
const char *livekit_client_api_key(const struct livekit *lk);
const char *livekit_client_api_secret(const struct livekit *lk);

/* POST /twirp/<service>/<method> with JSON body `req` (borrowed) and a Bearer
 * token carrying `grants` (identity "callmesh", ttl 10 min), waiting at most
 * timeout_ms for the whole exchange. On success *respp = the parsed reply
 * object (caller cJSON_Delete). On a Twirp error fills *errp (may be NULL)
 * and returns EIO; ECONNREFUSED when the request certainly never reached the
 * server; ETIMEDOUT; ECANCELED after livekit_client_cancel(); EIO for any other transport failure
 * (the request may
 * have reached the server). errp->http_status/code/msg are set on every
 * failure ("unavailable"/"timeout" with libcurl's message for transport
 * errors). */
int livekit_twirp(struct livekit *lk, cJSON **respp, const char *service, const char *method,
		  const cJSON *req, const struct livekit_grants *grants, long timeout_ms,
		  struct livekit_error *errp) CM_MUST_USE;

/* Parses a Twirp error body (`len` bytes, not NUL-terminated) into *errp
 * (code/msg/meta.sip_status_code/meta.sip_status); http_status is left to the
 * caller. Unparseable input gives code "internal" and the status text.
 * 0, or EINVAL when the body is not a Twirp error object (errp still filled). */
int livekit_twirp_error_parse(struct livekit_error *errp, const char *body, size_t len) CM_MUST_USE;

/* Standard base64 with padding, as protojson writes `bytes` fields (e.g.
 * SendData's data). Caller frees; NULL when out of memory. */
char *livekit_base64(const void *data, size_t len);

/* ---- helpers for callmesh's own calls ---------------------------------
 * Each builds the request from its arguments (borrowed) and calls
 * livekit_twirp() with the grant the method needs. */

/* SIP/CreateSIPOutboundTrunk {trunk:{name, address, numbers, auth_username,
 * auth_password}} with sip.admin; *trunk_idp = the reply's sip_trunk_id
 * (caller frees). `numbers` is a NULL-terminated array. */
int livekit_sip_outbound_trunk_create(struct livekit *lk, char **trunk_idp, const char *name,
				      const char *address, const char *const *numbers,
				      const char *username, const char *password,
				      long timeout_ms, struct livekit_error *errp) CM_MUST_USE;

#endif
