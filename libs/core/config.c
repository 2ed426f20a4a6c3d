/* Configuration from the environment through a declarative table. */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const struct cfg_var core_cfg_vars[] = {
	{ "NATS_URL", CFG_URL, "nats://127.0.0.1:4222", true, false, 0, 0, "nats|tls",
	  offsetof(struct core_cfg, nats_url), "NATS server URL(s), comma-separated" },
	{ "LOG_LEVEL", CFG_ENUM, "info", true, false, 0, 0, "debug|info|warn|error",
	  offsetof(struct core_cfg, log_level), "minimum level logged" },
	{ "LOG_FORMAT", CFG_ENUM, "json", true, false, 0, 0, "json|kv",
	  offsetof(struct core_cfg, log_format), "JSON lines or key=value" },
	{ "HEALTH_ADDR", CFG_ADDR, NULL, true, false, 0, 0, NULL,
	  offsetof(struct core_cfg, health_addr), "/healthz /readyz /metrics listener" },
	{ "INSTANCE", CFG_STR, NULL, false, false, 0, 0, NULL, offsetof(struct core_cfg, instance),
	  "instance name in event sources (default: hostname-pid)" },
	{ "NATS_CREDS", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_creds), "NATS credentials file (user JWT + nkey seed)" },
	{ "NATS_NKEY", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_nkey),
	  "NATS user public nkey (U...); with NATS_NKEY_SEED" },
	{ "NATS_NKEY_SEED", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_nkey_seed), "file holding that nkey's seed (SU...)" },
	{ "NATS_USER", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_user), "NATS user name; with NATS_PASSWORD" },
	{ "NATS_PASSWORD", CFG_STR, NULL, false, true, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_password), "NATS password" },
	{ "NATS_TLS_CA", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_tls_ca), "PEM CA file; set: TLS to NATS is required" },
	{ "NATS_TLS_CERT", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_tls_cert),
	  "PEM client certificate for NATS (with NATS_TLS_KEY)" },
	{ "NATS_TLS_KEY", CFG_STR, NULL, false, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_tls_key), "PEM private key file of NATS_TLS_CERT" },
	{ "NATS_INBOX_PREFIX", CFG_STR, "_INBOX", true, false, 0, 0, NULL,
	  offsetof(struct core_cfg, nats_inbox_prefix),
	  "subject prefix of this service's reply inboxes" },
	{ "HTTP_MAX_CONNECTIONS", CFG_INT, "256", true, false, 1, 65536, NULL,
	  offsetof(struct core_cfg, http_max_connections),
	  "HTTP connections open at once per listener" },
	{ "HTTP_MAX_PER_CLIENT", CFG_INT, "32", true, false, 1, 65536, NULL,
	  offsetof(struct core_cfg, http_max_per_client),
	  "HTTP connections open at once from one address" },
	{ "HTTP_REQUEST_TIMEOUT_S", CFG_INT, "30", true, false, 1, 3600, NULL,
	  offsetof(struct core_cfg, http_request_timeout_s),
	  "a request must arrive whole within this" },
	{ 0 }
};

const char *cfg_url_redact(char *out, size_t outlen, const char *url)
{
	size_t o = 0;
	if (!out || !outlen)
		return out;
	out[0] = '\0';
	if (!url)
		return out;
	const char *p = url;
	while (*p && o + 1 < outlen) {
		size_t n = strcspn(p, ",");
		const char *sep = memmem(p, n, "://", 3);
		const char *host = sep ? sep + 3 : p;
		/* userinfo ends at the last '@' before the path of this URL */
		size_t auth_len = strcspn(host, "/?#,");
		const char *at = NULL;
		for (const char *q = host; q < host + auth_len; q++)
			if (*q == '@')
				at = q;
		int w;
		if (at)
			w = snprintf(out + o, outlen - o, "%.*s<redacted>%.*s", (int)(host - p), p,
				     (int)(p + n - at), at);
		else
			w = snprintf(out + o, outlen - o, "%.*s", (int)n, p);
		if (w < 0 || (size_t)w >= outlen - o)
			return out;
		o += (size_t)w;
		p += n;
		if (*p == ',') {
			if (o + 1 < outlen) {
				out[o++] = ',';
				out[o] = '\0';
			}
			p++;
		}
	}
	return out;
}

static int check_file(const char *name, const char *path, char *err, size_t errlen)
{
	if (path && access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s: \"%s\" is not a readable file (%s)", name, path,
			 strerror(errno));
		return EINVAL;
	}
	return 0;
}

/* The NATS identity variables go together: one way to authenticate at most,
 * each pair complete, every named file readable. */
static int check_nats_auth(const struct core_cfg *c, char *err, size_t errlen)
{
	int ways = !!c->nats_creds + !!(c->nats_nkey || c->nats_nkey_seed) +
		   !!(c->nats_user || c->nats_password);
	if (ways > 1) {
		snprintf(err, errlen,
			 "NATS_CREDS, NATS_NKEY/NATS_NKEY_SEED and NATS_USER/NATS_PASSWORD: "
			 "set one of them, not several");
		return EINVAL;
	}
	if (c->nats_nkey_seed && c->nats_nkey_seed[0] == 'S' && !strchr(c->nats_nkey_seed, '/')) {
		snprintf(err, errlen,
			 "NATS_NKEY_SEED: must name the file holding the seed, not the seed");
		return EINVAL;
	}
	if (!c->nats_user != !c->nats_password) {
		snprintf(err, errlen, "%s: is required with %s",
			 c->nats_user ? "NATS_PASSWORD" : "NATS_USER",
			 c->nats_user ? "NATS_USER" : "NATS_PASSWORD");
		return EINVAL;
	}
	if (!c->nats_nkey != !c->nats_nkey_seed) {
		snprintf(err, errlen, "%s: is required with %s",
			 c->nats_nkey ? "NATS_NKEY_SEED" : "NATS_NKEY",
			 c->nats_nkey ? "NATS_NKEY" : "NATS_NKEY_SEED");
		return EINVAL;
	}
	if (c->nats_nkey && (c->nats_nkey[0] != 'U' || strlen(c->nats_nkey) != 56)) {
		snprintf(err, errlen,
			 "NATS_NKEY: \"%s\" is not a user public nkey (56 characters, U...)",
			 c->nats_nkey);
		return EINVAL;
	}
	if (!c->nats_tls_cert != !c->nats_tls_key) {
		snprintf(err, errlen, "%s: is required with %s",
			 c->nats_tls_cert ? "NATS_TLS_KEY" : "NATS_TLS_CERT",
			 c->nats_tls_cert ? "NATS_TLS_CERT" : "NATS_TLS_KEY");
		return EINVAL;
	}
	if (c->nats_inbox_prefix &&
	    (strpbrk(c->nats_inbox_prefix, " \t\r\n*>") ||
	     c->nats_inbox_prefix[strlen(c->nats_inbox_prefix) - 1] == '.')) {
		snprintf(err, errlen,
			 "NATS_INBOX_PREFIX: \"%s\" is not a subject without wildcards",
			 c->nats_inbox_prefix);
		return EINVAL;
	}
	int e = check_file("NATS_CREDS", c->nats_creds, err, errlen);
	if (!e) e = check_file("NATS_NKEY_SEED", c->nats_nkey_seed, err, errlen);
	if (!e) e = check_file("NATS_TLS_CA", c->nats_tls_ca, err, errlen);
	if (!e) e = check_file("NATS_TLS_CERT", c->nats_tls_cert, err, errlen);
	if (!e) e = check_file("NATS_TLS_KEY", c->nats_tls_key, err, errlen);
	return e;
}

static bool in_choices(const char *choices, const char *s, size_t len)
{
	const char *p = choices;
	while (p && *p) {
		const char *bar = strchr(p, '|');
		size_t n = bar ? (size_t)(bar - p) : strlen(p);
		if (n == len && strncmp(p, s, n) == 0)
			return true;
		p = bar ? bar + 1 : NULL;
	}
	return false;
}

static int parse_long(long *vp, const char *s)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end != '\0')
		return EINVAL;
	*vp = v;
	return 0;
}

static int load_one(void *out, const struct cfg_var *v, char *err, size_t errlen)
{
	const char *s = getenv(v->name);
	if (!s || !*s)
		s = v->def;
	if (!s || !*s) {
		if (v->required) {
			snprintf(err, errlen, "%s: is required and not set", v->name);
			return EINVAL;
		}
		s = NULL;
	}
	char *field = (char *)out + v->offset;

	switch (v->type) {
	case CFG_STR:
		*(const char **)field = s;
		return 0;
	case CFG_ENUM:
		if (s && !in_choices(v->choices, s, strlen(s))) {
			snprintf(err, errlen, "%s: \"%s\" is not one of %s", v->name, s,
				 v->choices);
			return EINVAL;
		}
		*(const char **)field = s;
		return 0;
	case CFG_ADDR: {
		struct hostport hp;
		if (s && addr_parse(&hp, s, 0)) {
			snprintf(err, errlen, "%s: \"%s\" is not host:port (port 1..65535)",
				 v->name, s);
			return EINVAL;
		}
		*(const char **)field = s;
		return 0;
	}
	case CFG_URL:
		if (s) {
			const char *sep = strstr(s, "://");
			if (!sep || (v->choices && !in_choices(v->choices, s, (size_t)(sep - s))) ||
			    !sep[3]) {
				char shown[256];
				snprintf(err, errlen, "%s: \"%s\" is not a URL with scheme %s",
					 v->name,
					 v->secret ? "<redacted>"
						   : cfg_url_redact(shown, sizeof(shown), s),
					 v->choices ? v->choices : "any");
				return EINVAL;
			}
		}
		*(const char **)field = s;
		return 0;
	case CFG_INT: {
		long val = 0;
		if (s && (parse_long(&val, s) || val < v->min || val > v->max)) {
			snprintf(err, errlen, "%s: \"%s\" is not an integer in %ld..%ld", v->name,
				 s, v->min, v->max);
			return EINVAL;
		}
		*(long *)field = val;
		return 0;
	}
	case CFG_BOOL: {
		bool b = false;
		if (s) {
			if (!strcmp(s, "true") || !strcmp(s, "1") || !strcmp(s, "yes"))
				b = true;
			else if (strcmp(s, "false") && strcmp(s, "0") && strcmp(s, "no")) {
				snprintf(err, errlen, "%s: \"%s\" is not a boolean (true/false)",
					 v->name, s);
				return EINVAL;
			}
		}
		*(bool *)field = b;
		return 0;
	}
	}
	snprintf(err, errlen, "%s: unknown type", v->name);
	return EINVAL;
}

int cfg_load(void *out, const struct cfg_var *table, char *err, size_t errlen)
{
	for (const struct cfg_var *v = table; v && v->name; v++) {
		int e = load_one(out, v, err, errlen);
		if (e)
			return e;
	}
	return 0;
}

void cfg_log(const void *cfg, const struct cfg_var *table)
{
	for (const struct cfg_var *v = table; v && v->name; v++) {
		const char *field = (const char *)cfg + v->offset;
		switch (v->type) {
		case CFG_INT:
			log_info("config", "%s=%ld", v->name, *(const long *)field);
			break;
		case CFG_BOOL:
			log_info("config", "%s=%s", v->name,
				 *(const bool *)field ? "true" : "false");
			break;
		case CFG_URL: {
			/* credentials inside a URL are redacted even when the URL is not */
			const char *s = *(const char *const *)field;
			char shown[1024];
			log_info("config", "%s=%s", v->name,
				 !s	     ? ""
				 : v->secret ? "<redacted>"
					     : cfg_url_redact(shown, sizeof(shown), s));
			break;
		}
		default: {
			const char *s = *(const char *const *)field;
			log_info("config", "%s=%s", v->name,
				 !s	     ? ""
				 : v->secret ? "<redacted>"
					     : s);
		}
		}
	}
}

int core_init(const char *service, void *cfg, const struct cfg_var *svc_vars,
	      const char *default_health_addr)
{
	char err[512];
	struct core_cfg *core = cfg;

	if (!getenv("HEALTH_ADDR") || !*getenv("HEALTH_ADDR"))
		setenv("HEALTH_ADDR", default_health_addr, 1);
	int e = cfg_load(cfg, core_cfg_vars, err, sizeof(err));
	if (!e)
		e = check_nats_auth(core, err, sizeof(err));
	if (!e)
		e = cfg_load(cfg, svc_vars, err, sizeof(err));
	if (e) {
		fprintf(stderr, "%s: config: %s\n", service, err);
		return e;
	}
	enum log_level level = LOG_INFO;
	if (log_level_parse(&level, core->log_level))
		return EINVAL;
	log_setup(service, level, strcmp(core->log_format, "json") == 0);
	return 0;
}

void cfg_help(FILE *f, const struct cfg_var *table, const char *health_default)
{
	static const char *const types[] = { "string", "integer",   "boolean",
					     "one of", "host:port", "URL" };
	for (const struct cfg_var *v = table; v && v->name; v++) {
		char kind[96];
		const char *def = v->def;
		if (!def && strcmp(v->name, "HEALTH_ADDR") == 0)
			def = health_default;
		if (v->type == CFG_INT)
			snprintf(kind, sizeof(kind), "integer %ld..%ld", v->min, v->max);
		else if (v->type == CFG_ENUM || v->type == CFG_URL)
			snprintf(kind, sizeof(kind), "%s %s", types[v->type],
				 v->choices ? v->choices : "");
		else
			snprintf(kind, sizeof(kind), "%s", types[v->type]);
		fprintf(f, "  %-26s %-24s default %s%s%s\n      %s\n", v->name, kind,
			def && *def ? def : "(unset)", v->required ? ", required" : "",
			v->secret ? ", secret" : "", v->help ? v->help : "");
	}
}
