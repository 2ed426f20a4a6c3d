/* libs/room WAV writer: the header bytes, sizes patched at close, sample
 * byte order, bad arguments, and an unwritable path. */
#include "core/core.h"
#include "harness/test.h"
#include "room/room.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int test_header(void)
{
	int err = 0;
	uint8_t h[ROOM_WAV_HEADER_LEN];
	room_wav_header(h, 16000, 2, 64000);
	TEST_ASSERT(memcmp(h, "RIFF", 4) == 0);
	TEST_EQ_INT(le32(h + 4), 36 + 64000);
	TEST_ASSERT(memcmp(h + 8, "WAVEfmt ", 8) == 0);
	TEST_EQ_INT(le32(h + 16), 16);
	TEST_EQ_INT(h[20] | h[21] << 8, 1);
	TEST_EQ_INT(h[22] | h[23] << 8, 2);
	TEST_EQ_INT(le32(h + 24), 16000);
	TEST_EQ_INT(le32(h + 28), 64000);
	TEST_EQ_INT(h[32] | h[33] << 8, 4);
	TEST_EQ_INT(h[34] | h[35] << 8, 16);
	TEST_ASSERT(memcmp(h + 36, "data", 4) == 0);
	TEST_EQ_INT(le32(h + 40), 64000);
	/* the RIFF size saturates instead of wrapping */
	room_wav_header(h, 8000, 1, 0xfffffff0u);
	TEST_EQ_INT(le32(h + 4), 0xffffffffu);
out:
	return err;
}

static int test_write_close(void)
{
	int err = 0;
	char *dir = test_tmpdir("room-wav"), path[512];
	struct room_wav *w = NULL;
	uint8_t buf[ROOM_WAV_HEADER_LEN + 64];
	int16_t s[6] = { 1, -1, 0x1234, -32768, 32767, 0 };
	FILE *f = NULL;
	TEST_ASSERT(dir);
	snprintf(path, sizeof(path), "%s/a.wav", dir);
	TEST_EQ_INT(room_wav_open(&w, path, 16000, 2), 0);
	{
		/* a call's audio is for the service's user alone, whatever the umask */
		struct stat st;
		TEST_EQ_INT(stat(path, &st), 0);
		TEST_EQ_INT((int)(st.st_mode & 0777), 0600);
	}
	TEST_EQ_INT(room_wav_write(w, s, 3), 0);
	TEST_EQ_INT(room_wav_write(w, s, 0), 0);
	TEST_EQ_INT(room_wav_frames(w), 3);
	TEST_EQ_INT(room_wav_close(w), 0);
	w = NULL;
	f = fopen(path, "rb");
	TEST_ASSERT(f);
	TEST_EQ_INT(fread(buf, 1, sizeof(buf), f), ROOM_WAV_HEADER_LEN + 12);
	TEST_EQ_INT(le32(buf + 4), 36 + 12);
	TEST_EQ_INT(le32(buf + 40), 12);
	static const uint8_t want[12] = { 1, 0, 0xff, 0xff, 0x34, 0x12, 0, 0x80, 0xff, 0x7f, 0, 0 };
	TEST_ASSERT(memcmp(buf + ROOM_WAV_HEADER_LEN, want, sizeof(want)) == 0);
	/* an empty recording is a valid, empty WAV */
	fclose(f);
	f = NULL;
	TEST_EQ_INT(room_wav_open(&w, path, 48000, 1), 0);
	TEST_EQ_INT(room_wav_close(w), 0);
	w = NULL;
	f = fopen(path, "rb");
	TEST_ASSERT(f);
	TEST_EQ_INT(fread(buf, 1, sizeof(buf), f), ROOM_WAV_HEADER_LEN);
	TEST_EQ_INT(le32(buf + 4), 36);
	TEST_EQ_INT(le32(buf + 40), 0);
out:
	if (f)
		fclose(f);
	if (room_wav_close(w))
		err = 1;
	if (dir)
		test_rmtree(dir);
	free(dir);
	return err;
}

static int test_errors(void)
{
	int err = 0;
	struct room_wav *w = NULL;
	TEST_EQ_INT(room_wav_open(&w, "/nonexistent-dir/x.wav", 16000, 1), ENOENT);
	TEST_EQ_INT(room_wav_open(&w, "/tmp/x.wav", 100, 1), EINVAL);
	TEST_EQ_INT(room_wav_open(&w, "/tmp/x.wav", 16000, 0), EINVAL);
	TEST_EQ_INT(room_wav_open(&w, NULL, 16000, 1), EINVAL);
	TEST_ASSERT(w == NULL);
	TEST_EQ_INT(room_wav_close(NULL), 0);
out:
	return err;
}

static const struct test tests[] = {
	{ "header", test_header },
	{ "write_close", test_write_close },
	{ "errors", test_errors },
};

TEST_MAIN(tests)
