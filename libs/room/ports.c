/* Relay port allocator: a bitmap over [min, max] and a round-robin cursor. */
#include "room/room.h"

#include <errno.h>
#include <stdlib.h>

struct room_ports {
	uint16_t min, max;
	size_t n;               /* ports in the range */
	size_t cursor;          /* index tried next */
	size_t in_use;
	uint8_t *taken;         /* n bits */
};

int room_ports_new(struct room_ports **pp, uint16_t min, uint16_t max)
{
	if (!pp || min == 0 || min > max)
		return EINVAL;
	struct room_ports *p = calloc(1, sizeof(*p));
	if (!p)
		return ENOMEM;
	p->min = min;
	p->max = max;
	p->n = (size_t)max - min + 1;
	p->taken = calloc((p->n + 7) / 8, 1);
	if (!p->taken) {
		free(p);
		return ENOMEM;
	}
	*pp = p;
	return 0;
}

struct room_ports *room_ports_free(struct room_ports *p)
{
	if (p) {
		free(p->taken);
		free(p);
	}
	return NULL;
}

static bool is_taken(const struct room_ports *p, size_t i)
{
	return p->taken[i / 8] & (1u << (i % 8));
}

int room_ports_take(struct room_ports *p, uint16_t *portp)
{
	if (p->in_use == p->n)
		return ENOSPC;
	for (size_t k = 0; k < p->n; k++) {
		size_t i = (p->cursor + k) % p->n;
		if (is_taken(p, i))
			continue;
		p->taken[i / 8] |= (uint8_t)(1u << (i % 8));
		p->in_use++;
		p->cursor = (i + 1) % p->n;
		*portp = (uint16_t)(p->min + i);
		return 0;
	}
	return ENOSPC;
}

void room_ports_release(struct room_ports *p, uint16_t port)
{
	if (!p || port < p->min || port > p->max)
		return;
	size_t i = (size_t)port - p->min;
	if (!is_taken(p, i))
		return;
	p->taken[i / 8] &= (uint8_t)~(1u << (i % 8));
	p->in_use--;
}

size_t room_ports_in_use(const struct room_ports *p)
{
	return p->in_use;
}
