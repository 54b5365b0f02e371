/*
 * readpath.c - the mount's read path without FUSE and without the network:
 * frame cache over an encrypted backup in a local-directory store, so what
 * is measured is read-ahead, decryption, decompression and copying.
 *
 *   readpath [BIG_MIB [CHUNK_KIB]]
 *
 * Backs up one file of BIG_MIB (default 512) of agent-like, partly
 * compressible bytes, then reads it: cold sequential in CHUNK_KIB reads
 * (default 1024, the size FUSE asks with read_ahead_kb=1024), warm
 * sequential, and 200 cold 4 KiB reads each in another frame (median and
 * 99th percentile latency).  "name value unit" lines on stdout, then the
 * cache's counters.  Build: ninja -C build bench/readpath (not built by
 * default; bench/meson.build).
 */
#include "buf.h"
#include "crypto.h"
#include "file_store.h"
#include "frame_cache.h"
#include "keys.h"
#include "log.h"
#include "ocb_archive.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int rm_fn(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* text-like and random stretches, so zstd works about as on real state */
static void fill(uint8_t *p, size_t n, uint64_t *seed)
{
	static const char words[] = "session tool_call assistant user memory "
		"workspace {\"role\":\"user\",\"content\":\"\"} 0123456789 ";
	size_t i;

	for (i = 0; i < n; i++) {
		*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (i / 4096) % 4 == 3 ? (uint8_t)(*seed >> 33) :
			(uint8_t)words[(*seed >> 40) % (sizeof(words) - 1)];
	}
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
	size_t chunk = (argc > 2 ? strtoul(argv[2], NULL, 10) : 1024) << 10;
	char src[] = "/var/tmp/ocb-rp-src-XXXXXX", store[] = "/var/tmp/ocb-rp-st-XXXXXX";
	char path[256], kpath[256];
	const char *sources[1];
	struct ocb_store *s = NULL;
	struct ocb_keyprov *kp = NULL;
	struct ocb_archive_write_opts o = { 0 };
	struct ocb_backup_result res;
	struct ocb_archive *a = NULL;
	struct ocb_frame_cache *fc = NULL;
	struct ocb_read_state rs = { 0 };
	struct ocb_buf stats;
	uint8_t *buf, key[32];
	uint64_t seed = 1, size = (uint64_t)mib << 20, off;
	uint32_t idx;
	double t, lat[200];
	int fd, i, rc = 1;

	ocb_log_set_level(OCB_LOG_ERR);
	if (!mkdtemp(src) || !mkdtemp(store) || !chunk)
		return 1;
	buf = malloc(chunk > (8u << 20) ? chunk : (8u << 20));
	snprintf(path, sizeof(path), "%s/big", src);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	for (off = 0; off < size; off += 8u << 20) {
		size_t n = size - off < (8u << 20) ? size - off : (8u << 20);

		fill(buf, n, &seed);
		if (write(fd, buf, n) != (ssize_t)n)
			goto out;
	}
	close(fd);
	snprintf(kpath, sizeof(kpath), "%s.key", store);
	fd = open(kpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ocb_crypto_random(key, sizeof(key));
	if (write(fd, key, sizeof(key)) != (ssize_t)sizeof(key))
		goto out;
	close(fd);
	if (ocb_keyprov_keyfile_new(kpath, &kp) < 0 ||
	    ocb_file_store_new(store, &s) < 0)
		goto out;
	sources[0] = src;
	o.sources = sources;
	o.nsources = 1;
	o.prefix = "bench/instance-rp";
	o.instance = "rp";
	o.kp = kp;
	t = now();
	if (ocb_archive_write(s, &o, &res) < 0)
		goto out;
	printf("backup %.1f MB/s %zu MiB in %.2f s, %llu bytes stored\n",
	       (double)size / 1e6 / (now() - t), mib, now() - t,
	       (unsigned long long)res.bytes_stored);
	if (ocb_archive_open(s, res.key, kp, &a) < 0)
		goto out;
	snprintf(path, sizeof(path), "%s/big", strrchr(src, '/') + 1);
	if (ocb_archive_resolve(a, path, &idx) < 0 ||
	    ocb_frame_cache_new(256u << 20, &fc) < 0)
		goto out;

	t = now();
	for (off = 0; off < size; off += chunk)
		if (ocb_frame_cache_pread(fc, a, 1, idx, buf, chunk, off, &rs) < 0)
			goto out;
	printf("seq_read_cold %.1f MB/s %zu KiB reads\n",
	       (double)size / 1e6 / (now() - t), chunk >> 10);
	t = now();
	for (off = 0; off < size; off += chunk)
		if (ocb_frame_cache_pread(fc, a, 1, idx, buf, chunk, off, &rs) < 0)
			goto out;
	printf("seq_read_warm %.1f MB/s %s\n", (double)size / 1e6 / (now() - t),
	       size <= (256u << 20) ? "from the RAM cache" :
	       "larger than the RAM cache");
	ocb_frame_cache_forget(fc, 1);
	for (i = 0; i < 200; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		off = (seed >> 11) % (size - 4096);
		t = now();
		if (ocb_frame_cache_pread(fc, a, 2, idx, buf, 4096, off, NULL) < 0)
			goto out;
		lat[i] = (now() - t) * 1e6;
		ocb_frame_cache_forget(fc, 2);	/* every read cold */
	}
	qsort(lat, 200, sizeof(lat[0]), dcmp);
	printf("small_read_cold_median %.0f us 4 KiB, decode of one frame\n",
	       lat[100]);
	printf("small_read_cold_p99 %.0f us\n", lat[198]);
	ocb_buf_init(&stats, 1 << 16);
	ocb_frame_cache_stats(fc, &stats);
	fputs(stats.data ? stats.data : "", stdout);
	ocb_buf_release(&stats);
	rc = 0;
out:
	if (rc)
		fprintf(stderr, "readpath: failed\n");
	ocb_frame_cache_free(fc);
	ocb_archive_free(a);
	ocb_store_free(s);
	ocb_keyprov_free(kp);
	free(buf);
	unlink(kpath);
	nftw(src, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
	nftw(store, rm_fn, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
