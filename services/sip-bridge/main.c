/* sip-bridge: Exotel legs over SIP (sofia-sip), RTP relayed to the room.
 * main: the configuration, the service (HTTP, bus) and the bridge's
 * lifetime, on the process's main thread; bridge.h maps the rest. */
#include "bridge.h"
#include "lkrtc/lkrtc.h"
#include "room/room.h"
#include "secret/secret.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static const struct cfg_var bridge_cfg_vars[] = {
	{ "SIP_BIND", CFG_ADDR, "127.0.0.1:5060", true, false, 0, 0, NULL,
	  offsetof(struct bridge_cfg, sip_bind), "SIP listen address (TCP and UDP)" },
	{ "SIP_ADVERTISE", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct bridge_cfg, sip_advertise),
	  "IPv4 address carriers are given for SIP (Via, Contact) and RTP (SDP c=), "
	  "when it is not SIP_BIND's host (NAT, containers); unset = SIP_BIND's host" },
	{ "RTP_PORT_MIN", CFG_INT, "30000", true, false, 1024, 65535, NULL,
	  offsetof(struct bridge_cfg, rtp_port_min), "first RTP port towards the carrier" },
	{ "RTP_PORT_MAX", CFG_INT, "30999", true, false, 1024, 65535, NULL,
	  offsetof(struct bridge_cfg, rtp_port_max), "last RTP port towards the carrier" },
	{ "MAX_CALLS", CFG_INT, "100", true, false, 1, 10000, NULL,
	  offsetof(struct bridge_cfg, max_calls), "dial jobs taken at once" },
	{ "RING_TIMEOUT_S", CFG_INT, "60", true, false, 5, 600, NULL,
	  offsetof(struct bridge_cfg, ring_timeout_s), "give up (CANCEL) without a final answer" },
	{ "MEDIA_TIMEOUT_S", CFG_INT, "30", true, false, 1, 3600, NULL,
	  offsetof(struct bridge_cfg, media_timeout_s),
	  "end a call with no RTP for this long (paused on hold)" },
	{ "MEDIA_THREADS", CFG_INT, "0", true, false, 0, 64, NULL,
	  offsetof(struct bridge_cfg, media_threads), "threads relaying media; 0 = one per CPU" },
	{ "SIP_TLS_BIND", CFG_ADDR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct bridge_cfg, sip_tls_bind),
	  "SIP over TLS listen address; unset = no TLS (trunks with transport tls fail)" },
	{ "SIP_TLS_CERT_DIR", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct bridge_cfg, sip_tls_cert_dir),
	  "directory with agent.pem (our key and certificate) and cafile.pem (trusted carrier "
	  "CAs)" },
	{ "SIP_TLS_VERIFY", CFG_BOOL, "true", false, false, 0, 0, NULL,
	  offsetof(struct bridge_cfg, sip_tls_verify),
	  "verify the carrier's certificate against cafile.pem" },
	{ "SESSION_MIN_SE_S", CFG_INT, "90", true, false, 1, 86400, NULL,
	  offsetof(struct bridge_cfg, session_min_se_s),
	  "shortest session-timer interval (RFC 4028 Min-SE) accepted from a carrier" },
	ROOM_CFG_VARS(struct bridge_cfg, ""),
	{ "SECRETS_KEY", CFG_STR, NULL, true, true, 0, 0, NULL,
	  offsetof(struct bridge_cfg, secrets_key),
	  "opens the trunk passwords sealed in dial jobs: base64 of 32 random bytes, the same as "
	  "api-gateway's" },
	{ "SECRETS_KEY_PREVIOUS", CFG_STR, "", false, true, 0, 0, NULL,
	  offsetof(struct bridge_cfg, secrets_key_previous),
	  "the key before a rotation (jobs sealed under it still open)" },
	{ 0 }
};

static int bridge_cfg_check(void *arg, char *err, size_t errlen)
{
	struct bridge_cfg *cfg = arg;
	/* Two ports per call (RTP + RTCP). */
	if (cfg->rtp_port_max - cfg->rtp_port_min + 1 < 2 * cfg->max_calls) {
		snprintf(err, errlen,
			 "RTP_PORT_MAX: range %ld..%ld holds fewer than 2 x MAX_CALLS (%ld) ports",
			 cfg->rtp_port_min, cfg->rtp_port_max, cfg->max_calls);
		return EINVAL;
	}
	struct secret_keys *keys = NULL;
	int e = secret_keys_load(&keys, cfg->secrets_key, cfg->secrets_key_previous, err, errlen);
	secret_keys_free(keys);
	if (e)
		return e;
	if (cfg->sip_tls_bind && !cfg->sip_tls_cert_dir) {
		snprintf(err, errlen, "SIP_TLS_CERT_DIR: required with SIP_TLS_BIND");
		return EINVAL;
	}
	struct hostport hp;
	if (addr_parse(&hp, cfg->sip_bind, 0)) {
		snprintf(err, errlen, "SIP_BIND: \"%s\" is not host:port", cfg->sip_bind);
		return EINVAL;
	}
	struct in_addr a;
	if (cfg->sip_advertise && inet_pton(AF_INET, cfg->sip_advertise, &a) != 1) {
		snprintf(err, errlen, "SIP_ADVERTISE: \"%s\" is not an IPv4 address",
			 cfg->sip_advertise);
		return EINVAL;
	}
	if (cfg->sip_advertise && a.s_addr == htonl(INADDR_ANY)) {
		snprintf(err, errlen,
			 "SIP_ADVERTISE: 0.0.0.0 cannot be reached; give the address carriers "
			 "reach");
		return EINVAL;
	}
	return room_cfg_resolve(&cfg->room_backend, cfg->livekit_url, cfg->livekit_api_key,
				cfg->livekit_api_secret, err, errlen);
}

static const struct service_def bridge_def = {
	"sip-bridge", bridge_cfg_vars, "127.0.0.1:9103", bridge_cfg_check
};

int main(int argc, char **argv)
{
	service_args(&bridge_def, argc, argv);
	struct bridge_cfg cfg = { 0 };
	struct service *svc = NULL;
	struct bridge *br = NULL;
	if (service_new(&svc, &bridge_def, &cfg))
		return 1;
	int err = bridge_new(&br, &cfg, svc);
	if (!err)
		err = bridge_start(br);
	if (err) {
		log_error("bridge_start_failed", "%s", cm_strerror(err));
		if (br)
			bridge_stop(br);
		service_free(svc);
		bridge_free(br);
		return 1;
	}
	service_wait(svc, NULL, NULL);
	bridge_stop(br);
	/* the service's ready check reads the bridge until the service is gone */
	service_free(svc);
	br = bridge_free(br);
	lkrtc_shutdown();
	return 0;
}
