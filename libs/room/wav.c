/* WAV writer: RIFF/WAVE, one fmt chunk (PCM, 16 bits), one data chunk. */
#include "room/room.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WAV_BUF_FRAMES 1024
#define RIFF_MAX 0xffffffffu

struct room_wav {
	FILE *f;
	uint32_t rate;
	uint16_t channels;
	uint64_t data_bytes;
	int err;                /* first write error */
};

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

void room_wav_header(uint8_t out[ROOM_WAV_HEADER_LEN], uint32_t rate, uint16_t channels,
		     uint32_t data_bytes)
{
	uint16_t block = (uint16_t)(channels * 2);
	memcpy(out, "RIFF", 4);
	put_le32(out + 4, data_bytes > RIFF_MAX - 36 ? RIFF_MAX : 36 + data_bytes);
	memcpy(out + 8, "WAVE", 4);
	memcpy(out + 12, "fmt ", 4);
	put_le32(out + 16, 16);
	put_le16(out + 20, 1); /* PCM */
	put_le16(out + 22, channels);
	put_le32(out + 24, rate);
	put_le32(out + 28, rate * block);
	put_le16(out + 32, block);
	put_le16(out + 34, 16);
	memcpy(out + 36, "data", 4);
	put_le32(out + 40, data_bytes);
}

int room_wav_open(struct room_wav **wp, const char *path, uint32_t rate, uint16_t channels)
{
	uint8_t hdr[ROOM_WAV_HEADER_LEN];
	if (!wp || !path || rate < 8000 || rate > 192000 || channels < 1 || channels > 8)
		return EINVAL;
	struct room_wav *w = calloc(1, sizeof(*w));
	if (!w)
		return ENOMEM;
	/* a call's audio: for this service's user only, whatever the umask (the
	 * API serves it to holders of a key; other local users get nothing) */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0 && fchmod(fd, 0600) == 0)
		w->f = fdopen(fd, "wb");
	if (!w->f) {
		int err = errno ? errno : EIO;
		if (fd >= 0)
			close(fd);
		free(w);
		return err;
	}
	w->rate = rate;
	w->channels = channels;
	room_wav_header(hdr, rate, channels, 0);
	if (fwrite(hdr, 1, sizeof(hdr), w->f) != sizeof(hdr)) {
		int err = errno ? errno : EIO;
		fclose(w->f);
		free(w);
		return err;
	}
	*wp = w;
	return 0;
}

int room_wav_write(struct room_wav *w, const int16_t *samples, size_t frames)
{
	uint8_t buf[WAV_BUF_FRAMES * 2 * 8];
	size_t n = frames * w->channels;
	if (w->err)
		return w->err;
	if (w->data_bytes + (uint64_t)n * 2 > RIFF_MAX - 36)
		return EFBIG;
	for (size_t done = 0; done < n;) {
		size_t k = n - done;
		if (k > sizeof(buf) / 2)
			k = sizeof(buf) / 2;
		for (size_t i = 0; i < k; i++)
			put_le16(buf + 2 * i, (uint16_t)samples[done + i]);
		if (fwrite(buf, 2, k, w->f) != k) {
			w->err = errno ? errno : EIO;
			return w->err;
		}
		done += k;
	}
	w->data_bytes += (uint64_t)n * 2;
	return 0;
}

uint64_t room_wav_frames(const struct room_wav *w)
{
	return w->data_bytes / (2u * w->channels);
}

int room_wav_close(struct room_wav *w)
{
	uint8_t hdr[ROOM_WAV_HEADER_LEN];
	if (!w)
		return 0;
	int err = w->err;
	room_wav_header(hdr, w->rate, w->channels, (uint32_t)w->data_bytes);
	if (!err && (fflush(w->f) != 0 || fseek(w->f, 0, SEEK_SET) != 0 ||
		     fwrite(hdr, 1, sizeof(hdr), w->f) != sizeof(hdr)))
		err = errno ? errno : EIO;
	if (fclose(w->f) != 0 && !err)
		err = errno ? errno : EIO;
	free(w);
	return err;
}
