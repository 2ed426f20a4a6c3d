/* libFuzzer target for libs/event: decode arbitrary bytes; whatever decodes
 * must validate, re-encode and decode again to the same JSON. */
#include "event/event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct event *ev = NULL, *back = NULL;
	char *json = NULL, *again = NULL;
	char err[256];

	if (event_decode(&ev, (const char *)data, size, err, sizeof(err)) != 0)
		goto out;
	if (event_validate(ev, err, sizeof(err)) != 0)
		abort();
	if (event_encode(&json, ev) != 0)
		goto out; /* only ENOMEM */
	if (event_decode(&back, json, strlen(json), err, sizeof(err)) != 0)
		abort();
	if (event_encode(&again, back) != 0)
		goto out;
	if (strcmp(json, again) != 0)
		abort();
out:
	free(again);
	free(json);
	event_free(back);
	event_free(ev);
	return 0;
}
