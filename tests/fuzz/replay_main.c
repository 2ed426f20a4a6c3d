/* Replays a fuzz corpus without libFuzzer: calls LLVMFuzzerTestOneInput on
 * every regular file of the directory given as argument and prints
 * "N passed, 0 failed". A crash (or a sanitizer report) fails the run. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define REPLAY_FILE_MAX (4u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int read_file(const char *path, uint8_t **bufp, size_t *lenp)
{
	int err = 0;
	uint8_t *buf = NULL;
	FILE *f = fopen(path, "rb");
	if (!f)
		return errno;
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0 ||
	    (uint64_t)st.st_size > REPLAY_FILE_MAX) {
		err = EFBIG;
		goto out;
	}
	/* an exact-size heap copy, so ASan sees reads past the end */
	size_t len = (size_t)st.st_size;
	buf = malloc(len ? len : 1);
	if (!buf) {
		err = ENOMEM;
		goto out;
	}
	if (len && fread(buf, 1, len, f) != len) {
		err = EIO;
		goto out;
	}
	*bufp = buf;
	*lenp = len;
	buf = NULL;
out:
	free(buf);
	fclose(f);
	return err;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	DIR *dir = opendir(argv[1]);
	if (!dir) {
		fprintf(stderr, "%s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	for (struct dirent *de; (de = readdir(dir)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			char **grown = realloc(names, cap * sizeof(*names));
			if (!grown) {
				rc = 1;
				goto out;
			}
			names = grown;
		}
		names[n] = strdup(de->d_name);
		if (!names[n]) {
			rc = 1;
			goto out;
		}
		n++;
	}
	if (n)
		qsort(names, n, sizeof(*names), by_name);

	size_t replayed = 0;
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct stat st;
		if (snprintf(path, sizeof(path), "%s/%s", argv[1], names[i]) >= (int)sizeof(path) ||
		    stat(path, &st) != 0 || !S_ISREG(st.st_mode))
			continue;
		uint8_t *buf = NULL;
		size_t len = 0;
		int err = read_file(path, &buf, &len);
		if (err) {
			fprintf(stderr, "%s: %s\n", path, strerror(err));
			rc = 1;
			goto out;
		}
		LLVMFuzzerTestOneInput(buf, len);
		free(buf);
		printf("ok   %s (%zu bytes)\n", names[i], len);
		replayed++;
	}
	if (replayed == 0) {
		fprintf(stderr, "%s: empty corpus\n", argv[1]);
		printf("0 passed, 1 failed\n");
		rc = 1;
		goto out;
	}
	printf("%zu passed, 0 failed\n", replayed);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return rc;
}
