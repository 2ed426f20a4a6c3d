/* One line per event, JSON or key=value, written with a single write(2). */
#include "core.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *log_service = "callmesh";
static enum log_level log_min = LOG_INFO;
static bool log_json = true;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_setup(const char *service, enum log_level level, bool json)
{
	log_service = service;
	log_min = level;
	log_json = json;
}

int log_level_parse(enum log_level *levelp, const char *s)
{
	for (size_t i = 0; i < CM_ARRAY_LEN(level_names); i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*levelp = (enum log_level)i;
			return 0;
		}
	}
	return EINVAL;
}

const char *log_level_name(enum log_level level)
{
	return (unsigned)level < CM_ARRAY_LEN(level_names) ? level_names[level] : "?";
}

bool log_enabled(enum log_level level)
{
	return level >= log_min;
}

/* Appends `s` JSON-escaped (or kv-quoted) into buf at *posp, never past cap. */
static void put_escaped(char *buf, size_t cap, size_t *posp, const char *s)
{
	size_t pos = *posp;
	for (; *s && pos + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[pos++] = '\\';
			buf[pos++] = (char)c;
		} else if (c == '\n') {
			buf[pos++] = '\\';
			buf[pos++] = 'n';
		} else if (c < 0x20) {
			pos += (size_t)snprintf(buf + pos, cap - pos, "\\u%04x", c);
		} else {
			buf[pos++] = (char)c;
		}
	}
	*posp = pos;
}

static void put_raw(char *buf, size_t cap, size_t *posp, const char *s)
{
	size_t n = strlen(s);
	if (*posp + n >= cap)
		n = cap - *posp - 1;
	memcpy(buf + *posp, s, n);
	*posp += n;
}

void log_emit(enum log_level level, const char *event, const char *fmt, ...)
{
	if (!log_enabled(level))
		return;

	char msg[2048];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	char ts[TIME_ISO_LEN + 1];
	time_iso8601(ts, time_now_ms());

	char line[4096];
	size_t pos = 0;
	if (log_json) {
		pos = (size_t)snprintf(
			line, sizeof(line),
			"{\"ts\":\"%s\",\"level\":\"%s\",\"svc\":\"%s\",\"event\":\"", ts,
			log_level_name(level), log_service);
		put_escaped(line, sizeof(line) - 4, &pos, event);
		put_raw(line, sizeof(line) - 4, &pos, "\",\"msg\":\"");
		put_escaped(line, sizeof(line) - 4, &pos, msg);
		put_raw(line, sizeof(line), &pos, "\"}\n");
	} else {
		pos = (size_t)snprintf(line, sizeof(line), "ts=%s level=%s svc=%s event=",
				       ts, log_level_name(level), log_service);
		put_escaped(line, sizeof(line) - 4, &pos, event);
		put_raw(line, sizeof(line) - 4, &pos, " msg=\"");
		put_escaped(line, sizeof(line) - 4, &pos, msg);
		put_raw(line, sizeof(line), &pos, "\"\n");
	}
	ssize_t w = write(STDERR_FILENO, line, pos);
	(void)w;
}
