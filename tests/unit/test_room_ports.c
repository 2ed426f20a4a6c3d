/* libs/room relay port allocator: range bounds, round robin, exhaustion,
 * release of foreign and repeated ports. */
#include "harness/test.h"
#include "room/room.h"

#include <errno.h>

static int test_bad_ranges(void)
{
	int err = 0;
	struct room_ports *p = NULL;
	TEST_EQ_INT(room_ports_new(&p, 0, 10), EINVAL);
	TEST_EQ_INT(room_ports_new(&p, 2000, 1999), EINVAL);
	TEST_ASSERT(p == NULL);
	TEST_EQ_INT(room_ports_new(&p, 65535, 65535), 0);
	uint16_t port = 0;
	TEST_EQ_INT(room_ports_take(p, &port), 0);
	TEST_EQ_INT(port, 65535);
	TEST_EQ_INT(room_ports_take(p, &port), ENOSPC);
out:
	room_ports_free(p);
	return err;
}

static int test_round_robin(void)
{
	int err = 0;
	struct room_ports *p = NULL;
	uint16_t a, b, c, d;
	TEST_EQ_INT(room_ports_new(&p, 40000, 40003), 0);
	TEST_EQ_INT(room_ports_take(p, &a), 0);
	TEST_EQ_INT(room_ports_take(p, &b), 0);
	TEST_EQ_INT(a, 40000);
	TEST_EQ_INT(b, 40001);
	/* a released port is the last to come back */
	room_ports_release(p, a);
	TEST_EQ_INT(room_ports_take(p, &c), 0);
	TEST_EQ_INT(c, 40002);
	TEST_EQ_INT(room_ports_take(p, &d), 0);
	TEST_EQ_INT(d, 40003);
	TEST_EQ_INT(room_ports_take(p, &d), 0);
	TEST_EQ_INT(d, 40000);
	TEST_EQ_INT(room_ports_in_use(p), 4);
	TEST_EQ_INT(room_ports_take(p, &d), ENOSPC);
out:
	room_ports_free(p);
	return err;
}

static int test_release_foreign(void)
{
	int err = 0;
	struct room_ports *p = NULL;
	uint16_t a;
	TEST_EQ_INT(room_ports_new(&p, 1024, 1025), 0);
	room_ports_release(p, 1024); /* never taken */
	room_ports_release(p, 80);   /* outside */
	TEST_EQ_INT(room_ports_in_use(p), 0);
	TEST_EQ_INT(room_ports_take(p, &a), 0);
	room_ports_release(p, a);
	room_ports_release(p, a); /* twice */
	TEST_EQ_INT(room_ports_in_use(p), 0);
	room_ports_release(NULL, a);
out:
	room_ports_free(p);
	return err;
}

static int test_whole_range(void)
{
	int err = 0;
	struct room_ports *p = NULL;
	static uint8_t seen[1000];
	uint16_t port;
	TEST_EQ_INT(room_ports_new(&p, 41000, 41999), 0);
	for (int i = 0; i < 1000; i++) {
		TEST_EQ_INT(room_ports_take(p, &port), 0);
		TEST_ASSERT(port >= 41000 && port <= 41999);
		TEST_EQ_INT(seen[port - 41000], 0);
		seen[port - 41000] = 1;
	}
	TEST_EQ_INT(room_ports_take(p, &port), ENOSPC);
	room_ports_release(p, 41500);
	TEST_EQ_INT(room_ports_take(p, &port), 0);
	TEST_EQ_INT(port, 41500);
out:
	room_ports_free(p);
	return err;
}

static const struct test tests[] = {
	{ "bad_ranges", test_bad_ranges },
	{ "round_robin", test_round_robin },
	{ "release_foreign", test_release_foreign },
	{ "whole_range", test_whole_range },
};

TEST_MAIN(tests)
