/*
 * test_keys.c - the key providers' caches: a header unwrapped again costs
 * no KMS call and no scrypt run, a header changed in any byte is never
 * answered from the cache, evicted keys go to the zeroing free, a chain
 * written with ocb_keyprov_wrap_like() shares one salt, and all of it
 * holds under threads.
 *
 * KMS is faked by wrapping ocb_kms_generate/ocb_kms_decrypt at link time
 * (tests/meson.build): the fake seals the data key under a test key with
 * the encryption context as aad, so a changed blob or context fails as
 * at KMS, and every Decrypt is counted.  ocb_crypto_key_free is wrapped
 * too, to see which keys reach it.
 */
#include "keycache.h"
#include "keys.h"
#include "kms.h"
#include "t.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

int __wrap_ocb_kms_generate(const struct ocb_kms *k,
			    const struct ocb_kms_ctx *ctx, uint8_t dk[32],
			    uint8_t *blob, size_t *bloblen);
int __wrap_ocb_kms_decrypt(const struct ocb_kms *k,
			   const struct ocb_kms_ctx *ctx, const uint8_t *blob,
			   size_t bloblen, uint8_t dk[32]);
void __real_ocb_crypto_key_free(uint8_t *key);
void __wrap_ocb_crypto_key_free(uint8_t *key);

/* ---- the fake KMS ---- */

static uint8_t kms_master[32];
static unsigned kms_decrypts;	/* atomic */

#define FAKE_BLOB (OCB_NONCE_LEN + 32 + OCB_TAG_LEN)

/* the context as aad: its values, each ended by a NUL */
static size_t ctx_aad(const struct ocb_kms_ctx *ctx, char *buf, size_t cap)
{
	size_t i, n = 0, l;

	for (i = 0; i < ctx->n; i++) {
		l = strlen(ctx->values[i]) + 1;
		if (n + l > cap)
			abort();
		memcpy(buf + n, ctx->values[i], l);
		n += l;
	}
	return n;
}

int __wrap_ocb_kms_generate(const struct ocb_kms *k,
			    const struct ocb_kms_ctx *ctx, uint8_t dk[32],
			    uint8_t *blob, size_t *bloblen)
{
	char aad[1024];
	size_t n = ctx_aad(ctx, aad, sizeof(aad));

	(void)k;
	if (ocb_crypto_random(dk, 32) < 0 ||
	    ocb_crypto_random(blob, OCB_NONCE_LEN) < 0 ||
	    ocb_crypto_seal(kms_master, blob, aad, n, dk, 32,
			    blob + OCB_NONCE_LEN) < 0)
		return -EIO;
	*bloblen = FAKE_BLOB;
	return 0;
}

int __wrap_ocb_kms_decrypt(const struct ocb_kms *k,
			   const struct ocb_kms_ctx *ctx, const uint8_t *blob,
			   size_t bloblen, uint8_t dk[32])
{
	char aad[1024];
	size_t n = ctx_aad(ctx, aad, sizeof(aad));

	(void)k;
	__atomic_fetch_add(&kms_decrypts, 1, __ATOMIC_RELAXED);
	if (bloblen != FAKE_BLOB ||
	    ocb_crypto_open(kms_master, blob, aad, n, blob + OCB_NONCE_LEN, 32,
			    dk) < 0)
		return -ENOKEY;	/* KMS: InvalidCiphertextException */
	return 0;
}

static unsigned decrypts(void)
{
	return __atomic_load_n(&kms_decrypts, __ATOMIC_RELAXED);
}

/* ---- which keys reach the zeroing free ---- */

#define WATCHED 8
static uint8_t watched[WATCHED][32];	/* set only while single-threaded */
static int nwatched, freed[WATCHED];

void __wrap_ocb_crypto_key_free(uint8_t *key)
{
	int i;

	for (i = 0; key && i < nwatched; i++)
		if (memcmp(key, watched[i], 32) == 0)
			freed[i]++;
	__real_ocb_crypto_key_free(key);
}

static void fill(uint8_t *p, size_t n, uint8_t v)
{
	memset(p, v, n);
	p[n - 1] ^= 0x5a;
}

/* ---- keycache ---- */

static void test_cache_lru_and_eviction(void)
{
	struct ocb_keycache *c = NULL;
	struct ocb_keycache_stats st;
	uint8_t id[5][32], out[32], other[32];
	int i;

	CHECK_INT(ocb_keycache_new(0, &c), -EINVAL);
	CHECK_INT(ocb_keycache_new(3, &c), 0);
	nwatched = 5;
	memset(freed, 0, sizeof(freed));
	for (i = 0; i < 5; i++) {
		fill(id[i], 32, (uint8_t)(0x10 + i));
		fill(watched[i], 32, (uint8_t)(0xa0 + i));
	}
	for (i = 0; i < 3; i++)
		ocb_keycache_put(c, id[i], watched[i]);
	memset(out, 0, 32);
	CHECK_INT(ocb_keycache_get(c, id[1], out), 1);
	CHECK(memcmp(out, watched[1], 32) == 0);
	/* an id one bit away is another id */
	memcpy(other, id[1], 32);
	other[31] ^= 1;
	CHECK_INT(ocb_keycache_get(c, other, out), 0);
	CHECK(memcmp(out, watched[1], 32) == 0);	/* untouched on a miss */
	/* id 0 is now the least recently used (1 was just read): id 3
	 * evicts it, and its key goes to the zeroing free at once */
	CHECK_INT(ocb_keycache_get(c, id[2], out), 1);
	ocb_keycache_put(c, id[3], watched[3]);
	CHECK_INT(freed[0], 1);
	CHECK_INT(freed[1] + freed[2] + freed[3], 0);
	CHECK_INT(ocb_keycache_get(c, id[0], out), 0);
	CHECK_INT(ocb_keycache_get(c, id[1], out), 1);
	CHECK_INT(ocb_keycache_get(c, id[2], out), 1);
	CHECK_INT(ocb_keycache_get(c, id[3], out), 1);
	CHECK(memcmp(out, watched[3], 32) == 0);
	/* putting an id again replaces its key, evicts nothing */
	ocb_keycache_put(c, id[3], watched[4]);
	CHECK_INT(ocb_keycache_get(c, id[3], out), 1);
	CHECK(memcmp(out, watched[4], 32) == 0);
	ocb_keycache_stats(c, &st);
	CHECK_INT(st.evictions, 1);
	CHECK_INT(st.entries, 3);
	CHECK_INT(st.hits, 6);
	CHECK_INT(st.misses, 2);
	/* freeing the cache zeroes every key it holds */
	ocb_keycache_free(c);
	CHECK_INT(freed[1], 1);
	CHECK_INT(freed[2], 1);
	CHECK_INT(freed[4], 1);
	CHECK_INT(freed[3], 0);	/* overwritten in place by key 4 */
	nwatched = 0;
	ocb_keycache_free(NULL);
}

/* ---- threads on one cache ---- */

#define T_IDS 32

struct hammer {
	struct ocb_keycache *c;
	unsigned seed;
	int wrong;
};

static void id_key(int i, uint8_t id[32], uint8_t key[32])
{
	fill(id, 32, (uint8_t)i);
	ocb_crypto_sha256(id, 32, key);
}

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;
	uint8_t id[32], key[32], out[32];
	int n;

	for (n = 0; n < 20000; n++) {
		int i = (int)(rand_r(&h->seed) % T_IDS);

		id_key(i, id, key);
		if (ocb_keycache_get(h->c, id, out)) {
			if (memcmp(out, key, 32) != 0)
				h->wrong++;
		} else {
			ocb_keycache_put(h->c, id, key);
		}
	}
	return NULL;
}

static void test_cache_threads(void)
{
	struct hammer h[6];
	pthread_t th[6];
	struct ocb_keycache *c = NULL;
	struct ocb_keycache_stats st;
	int i;

	CHECK_INT(ocb_keycache_new(8, &c), 0);
	for (i = 0; i < 6; i++) {
		h[i] = (struct hammer){ c, (unsigned)i * 7919u + 1, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(h[i].wrong, 0);
	}
	ocb_keycache_stats(c, &st);
	CHECK_INT(st.hits + st.misses, 6 * 20000);
	CHECK_INT(st.entries, 8);
	CHECK(st.evictions > 0);
	ocb_keycache_free(c);
}

/* ---- KMS: one Decrypt per header ---- */

static const uint8_t id1[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
				 13, 14, 15, 16 };
static const uint8_t id2[16] = { 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
				 5, 4, 3, 2, 1 };

static struct ocb_keyprov *kms_prov(void)
{
	struct ocb_keyprov *kp = NULL;

	CHECK_INT(ocb_keyprov_kms_new(&(struct ocb_kms) {
					.endpoint = "https://kms.invalid",
					.region = "eu-west-1",
					.key_id = "alias/test" }, NULL, &kp), 0);
	return kp;
}

/* unwrap (name may be NULL) and compare with want: the result */
static int unwrap_is(struct ocb_keyprov *kp, const uint8_t id[16],
		     const char *name, const struct ocb_key_block *blk,
		     const uint8_t *want)
{
	uint8_t *dk = NULL;
	int r = ocb_keyprov_unwrap_named(kp, id, name, blk, &dk);

	if (r == 0 && want && memcmp(dk, want, 32) != 0)
		r = -EUCLEAN;	/* a key, but the wrong one */
	ocb_crypto_key_free(dk);
	return r;
}

static void test_kms_cache(void)
{
	struct ocb_keyprov *kp = kms_prov();
	struct ocb_key_ctx ctx = { "b1", "inst" };
	struct ocb_key_block blk, bad;
	struct ocb_keyprov_stats st;
	uint8_t *dk = NULL;
	unsigned d0 = decrypts();
	int i;

	if (!kp)
		return;
	CHECK_INT(ocb_keyprov_wrap(kp, id1, &ctx, &dk, &blk), 0);
	CHECK_INT(unwrap_is(kp, id1, "b1", &blk, dk), 0);
	CHECK_INT(decrypts() - d0, 1);
	/* again, by name or not: the cache answers, KMS is not asked */
	CHECK_INT(unwrap_is(kp, id1, "b1", &blk, dk), 0);
	CHECK_INT(unwrap_is(kp, id1, NULL, &blk, dk), 0);
	CHECK_INT(decrypts() - d0, 1);
	/* the same id with KMS's blob changed: KMS is asked, and refuses */
	bad = blk;
	bad.wrapped[bad.wrapped_len - 1] ^= 1;
	CHECK_INT(unwrap_is(kp, id1, "b1", &bad, NULL), -ENOKEY);
	CHECK_INT(decrypts() - d0, 2);
	/* ... with the recorded instance changed (the context) */
	bad = blk;
	bad.wrapped[1 + 2 + 1] ^= 1;	/* "inst" -> "hnst" */
	CHECK_INT(unwrap_is(kp, id1, "b1", &bad, NULL), -ENOKEY);
	CHECK_INT(decrypts() - d0, 3);
	/* ... and twice: a failure is not cached */
	CHECK_INT(unwrap_is(kp, id1, "b1", &bad, NULL), -ENOKEY);
	CHECK_INT(decrypts() - d0, 4);
	/* the genuine block moved to another id */
	CHECK_INT(unwrap_is(kp, id2, "b1", &blk, NULL), -ENOKEY);
	CHECK_INT(decrypts() - d0, 5);
	/* the genuine block under another name: refused before the cache */
	CHECK_INT(unwrap_is(kp, id1, "b2", &blk, NULL), -EBADMSG);
	CHECK_INT(decrypts() - d0, 5);
	/* a byte past wrapped_len is not part of the key block */
	bad = blk;
	bad.wrapped[OCB_WRAPPED_MAX - 1] ^= 1;
	CHECK_INT(unwrap_is(kp, id1, "b1", &bad, dk), 0);
	CHECK_INT(decrypts() - d0, 5);
	ocb_keyprov_stats(kp, &st);
	CHECK_INT(st.unwraps, 5);
	CHECK_INT(st.dkey_hits, 3);
	CHECK_INT(st.dkeys_cached, 1);
	CHECK_INT(st.kdf_runs, 0);

	/* 256 other headers later, the first one was evicted: KMS again */
	for (i = 0; i < 256; i++) {
		uint8_t id[16], *k = NULL;
		struct ocb_key_block b;

		memset(id, 0, 16);
		id[0] = 0xee;
		id[1] = (uint8_t)i;
		CHECK_INT(ocb_keyprov_wrap(kp, id, &ctx, &k, &b), 0);
		CHECK_INT(unwrap_is(kp, id, "b1", &b, k), 0);
		ocb_crypto_key_free(k);
	}
	ocb_keyprov_stats(kp, &st);
	CHECK_INT(st.dkeys_cached, 256);
	CHECK_INT(st.dkey_evictions, 1);
	d0 = decrypts();
	CHECK_INT(unwrap_is(kp, id1, "b1", &blk, dk), 0);
	CHECK_INT(decrypts() - d0, 1);
	ocb_crypto_key_free(dk);
	ocb_keyprov_free(kp);
}

/* ---- KMS under threads ---- */

#define T_HDRS 8

struct kms_job {
	struct ocb_keyprov *kp;
	const struct ocb_key_block *blk;
	uint8_t (*dk)[32];
	int start, wrong;
};

static void *kms_job_run(void *arg)
{
	struct kms_job *j = arg;
	int n, i;

	for (n = 0; n < 50; n++)
		for (i = 0; i < T_HDRS; i++) {
			int h = (i + j->start) % T_HDRS;
			uint8_t id[16] = { 0x77, (uint8_t)h };

			if (unwrap_is(j->kp, id, "b1", &j->blk[h], j->dk[h]))
				j->wrong++;
		}
	return NULL;
}

static void test_kms_threads(void)
{
	struct ocb_keyprov *kp = kms_prov();
	struct ocb_key_ctx ctx = { "b1", "inst" };
	struct ocb_key_block blk[T_HDRS];
	uint8_t dk[T_HDRS][32];
	struct kms_job j[6];
	pthread_t th[6];
	unsigned d0;
	int i;

	if (!kp)
		return;
	for (i = 0; i < T_HDRS; i++) {
		uint8_t id[16] = { 0x77, (uint8_t)i }, *k = NULL;

		CHECK_INT(ocb_keyprov_wrap(kp, id, &ctx, &k, &blk[i]), 0);
		if (k)
			memcpy(dk[i], k, 32);
		ocb_crypto_key_free(k);
	}
	d0 = decrypts();
	for (i = 0; i < 6; i++) {
		j[i] = (struct kms_job){ kp, blk, dk, i, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, kms_job_run, &j[i]), 0);
	}
	for (i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(j[i].wrong, 0);
	}
	/* each header at least once, at most once per thread (threads that
	 * miss at the same moment both ask), never once per unwrap */
	CHECK(decrypts() - d0 >= T_HDRS);
	CHECK(decrypts() - d0 <= 6 * T_HDRS);
	ocb_keyprov_free(kp);
}

/* ---- passphrase: scrypt once per salt; a chain shares one salt ---- */

struct pass_job {
	struct ocb_keyprov *kp;
	const struct ocb_key_block *a, *b;
	const uint8_t *dka, *dkb;
	int wrong;
};

static void *pass_job_run(void *arg)
{
	struct pass_job *j = arg;

	if (unwrap_is(j->kp, id1, NULL, j->a, j->dka) ||
	    unwrap_is(j->kp, id2, NULL, j->b, j->dkb))
		j->wrong++;
	return NULL;
}

static void test_passphrase(void)
{
	static const char pass[] = "correct horse battery staple";
	struct ocb_keyprov *w = NULL, *r = NULL, *x = NULL;
	struct ocb_key_block a, b, c, bad;
	struct ocb_keyprov_stats st;
	uint8_t *dka = NULL, *dkb = NULL, *dkc = NULL, *dkx = NULL;
	struct pass_job j[4];
	pthread_t th[4];
	int i;

	CHECK_INT(ocb_keyprov_passphrase_new(pass, strlen(pass), &w), 0);
	CHECK_INT(ocb_keyprov_passphrase_new(pass, strlen(pass), &r), 0);
	CHECK_INT(ocb_keyprov_passphrase_new("other", 5, &x), 0);
	if (!w || !r || !x)
		goto out;
	/* the writer: A full, B builds on A (same salt, no scrypt), C with
	 * no base (a fresh salt) */
	CHECK_INT(ocb_keyprov_wrap(w, id1, NULL, &dka, &a), 0);
	CHECK_INT(ocb_keyprov_wrap_like(w, id2, NULL, &a, &dkb, &b), 0);
	ocb_keyprov_stats(w, &st);
	CHECK_INT(st.kdf_runs, 1);
	CHECK(memcmp(a.salt, b.salt, 16) == 0);
	CHECK(memcmp(a.wrapped, b.wrapped, OCB_NONCE_LEN) != 0);
	CHECK(memcmp(dka, dkb, 32) != 0);
	CHECK_INT(ocb_keyprov_wrap_like(w, id1, NULL, NULL, &dkc, &c), 0);
	CHECK(memcmp(a.salt, c.salt, 16) != 0);
	ocb_keyprov_stats(w, &st);
	CHECK_INT(st.kdf_runs, 2);
	/* the writer reads what it wrote without scrypt */
	CHECK_INT(unwrap_is(w, id2, NULL, &b, dkb), 0);
	ocb_keyprov_stats(w, &st);
	CHECK_INT(st.kdf_runs, 2);

	/* a reader of the chain: four threads open A and B at once; one
	 * scrypt run in all (the others wait for it, then find it) */
	for (i = 0; i < 4; i++) {
		j[i] = (struct pass_job){ r, &a, &b, dka, dkb, 0 };
		CHECK_INT(pthread_create(&th[i], NULL, pass_job_run, &j[i]), 0);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK_INT(j[i].wrong, 0);
	}
	ocb_keyprov_stats(r, &st);
	CHECK_INT(st.kdf_runs, 1);
	CHECK_INT(st.keks_cached, 1);
	CHECK(st.unwraps >= 2 && st.unwraps <= 8);
	CHECK_INT(st.unwraps + st.dkey_hits, 8);

	/* B with a wrapped byte changed: the real unwrap runs and fails */
	bad = b;
	bad.wrapped[OCB_NONCE_LEN] ^= 1;
	CHECK_INT(unwrap_is(r, id2, NULL, &bad, NULL), -ENOKEY);
	/* A with its salt changed: scrypt runs for it, fails, is not kept */
	bad = a;
	bad.salt[0] ^= 1;
	CHECK_INT(unwrap_is(r, id1, NULL, &bad, NULL), -ENOKEY);
	ocb_keyprov_stats(r, &st);
	CHECK_INT(st.kdf_runs, 2);
	CHECK_INT(st.keks_cached, 1);
	/* hostile costs: refused before the cache and before scrypt */
	bad = a;
	bad.log2_n = 22;
	CHECK_INT(unwrap_is(r, id1, NULL, &bad, NULL), -EBADMSG);
	ocb_keyprov_stats(r, &st);
	CHECK_INT(st.kdf_runs, 2);

	/* another passphrase never reuses a salt it has not verified */
	CHECK_INT(ocb_keyprov_wrap_like(x, id2, NULL, &a, &dkx, &bad), 0);
	CHECK(memcmp(a.salt, bad.salt, 16) != 0);
out:
	ocb_crypto_key_free(dka);
	ocb_crypto_key_free(dkb);
	ocb_crypto_key_free(dkc);
	ocb_crypto_key_free(dkx);
	ocb_keyprov_free(w);
	ocb_keyprov_free(r);
	ocb_keyprov_free(x);
}

int main(void)
{
	if (ocb_crypto_random(kms_master, sizeof(kms_master)) < 0)
		return 1;
	test_cache_lru_and_eviction();
	test_cache_threads();
	test_kms_cache();
	test_kms_threads();
	test_passphrase();
	return T_DONE();
}
