/*
 * kms.c - AWS KMS GenerateDataKey / Decrypt (JSON 1.1 protocol).
 */
#include "kms.h"
#include "buf.h"
#include "creds.h"
#include "log.h"
#include "retry.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define KMS_BODY_MAX (64 * 1024)
/* the backoff of retries: full jitter under 250 ms doubled each time,
 * at most 5 s, as the store's retries */
#define KMS_BASE_MS 250
#define KMS_CAP_MS 5000
#define KMS_CONNECT_MS 5000L

/* a connection that broke or went silent: worth another attempt */
static bool transport(CURLcode cc)
{
	return cc == CURLE_RECV_ERROR || cc == CURLE_SEND_ERROR ||
	       cc == CURLE_GOT_NOTHING || cc == CURLE_PARTIAL_FILE;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	return ocb_buf_append(arg, p, size * n) < 0 ? 0 : size * n;
}

/*
 * KMS's answer to a failed call, named (the exception and its message,
 * with the key) at error level unless it is transient: -EKEYREVOKED for a
 * key that is missing, disabled or pending deletion (exit code 9, not the
 * store's "not found"), -EPERM when the policy refuses the call
 * (AccessDeniedException), -EACCES for refused credentials, -ENOKEY
 * for a blob of another key or context, -EAGAIN for throttling and 5xx
 * (written into why, for kms_call() to name when it gives up).
 */
static int map_error(const struct ocb_kms *k, const char *target,
		     long status, const cJSON *resp, char *why, size_t whysz)
{
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(resp, "__type");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(resp, "message");
	const char *type = cJSON_IsString(t) && t->valuestring ?
		t->valuestring : "";
	const char *hash = strrchr(type, '#');
	char ty[80], msg[300], key[300];
	int r;

	if (!cJSON_IsString(m))
		m = cJSON_GetObjectItemCaseSensitive(resp, "Message");
	if (hash)
		type = hash + 1;
	if (!strcmp(type, "InvalidCiphertextException") ||
	    !strcmp(type, "IncorrectKeyException"))
		r = -ENOKEY;
	else if (!strcmp(type, "NotFoundException") ||
		 !strcmp(type, "DisabledException") ||
		 !strcmp(type, "KMSInvalidStateException") ||
		 !strcmp(type, "KeyUnavailableException"))
		r = -EKEYREVOKED;
	else if (!strcmp(type, "ThrottlingException") ||
		 !strcmp(type, "KMSInternalException") || status >= 500)
		r = -EAGAIN;
	else if (!strcmp(type, "AccessDeniedException"))
		r = -EPERM;
	else if (!strcmp(type, "InvalidSignatureException") ||
		 !strcmp(type, "UnrecognizedClientException") ||
		 status == 401 || status == 403)
		r = -EACCES;
	else
		r = -EINVAL;
	snprintf(why, whysz, "KMS %s with key %s: %s%s%s (HTTP %ld)", target,
		 ocb_log_escape(key, sizeof(key), k->key_id),
		 type[0] ? ocb_log_escape(ty, sizeof(ty), type) : "error",
		 cJSON_IsString(m) && m->valuestring ? ": " : "",
		 cJSON_IsString(m) && m->valuestring ?
		 ocb_log_escape(msg, sizeof(msg), m->valuestring) : "", status);
	if (r != -EAGAIN)
		ocb_err("%s", why);
	/* the policy refused the call itself (not the signature): the old
	 * tool's role allows KMS only with kms:ViaService = S3 */
	if (r == -EPERM)
		ocb_err("kms:%s is denied to these credentials: key provider "
			"kms calls KMS itself, which a policy allowing KMS only "
			"through S3 (kms:ViaService, as the old tool's) does not "
			"cover. Fix: add to the role %s", target,
			OCB_KMS_POLICY_FIX);
	return r;
}

/*
 * One attempt of a KMS call, ending within timeout_ms; a transient
 * failure is described in why (nothing logged), any other is named.
 */
static int kms_try(const struct ocb_kms *k, const char *target, cJSON *req,
		   cJSON **out, long timeout_ms, char *why, size_t whysz)
{
	struct ocb_creds_value cv;
	struct curl_slist *h = NULL;
	struct ocb_buf body;
	char url[512], sig[128], line[4200], *json = NULL;
	long status = 0;
	CURLcode cc;
	CURL *c;
	int r;

	r = ocb_creds_get(k->creds, &cv);
	if (r < 0)
		return r;
	ocb_buf_init(&body, KMS_BODY_MAX);
	c = curl_easy_init();
	json = cJSON_PrintUnformatted(req);
	if (!c || !json) {
		r = -ENOMEM;
		goto out;
	}
	if (k->endpoint)
		snprintf(url, sizeof(url), "%s/", k->endpoint);
	else
		snprintf(url, sizeof(url), "https://kms.%s.amazonaws.com/", k->region);
	snprintf(sig, sizeof(sig), "aws:amz:%s:kms", k->region);
	h = curl_slist_append(h, "Content-Type: application/x-amz-json-1.1");
	snprintf(line, sizeof(line), "X-Amz-Target: TrentService.%s", target);
	h = curl_slist_append(h, line);
	if (cv.session_token[0]) {
		snprintf(line, sizeof(line), "x-amz-security-token: %s",
			 cv.session_token);
		h = curl_slist_append(h, line);
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_AWS_SIGV4, sig);
	curl_easy_setopt(c, CURLOPT_USERNAME, cv.access_key);
	curl_easy_setopt(c, CURLOPT_PASSWORD, cv.secret_key);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	/* curl signs the hash of these POST fields itself */
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	/* bucket access logs and the provider's support see who asked */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "ocb/" OCB_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
			 timeout_ms < KMS_CONNECT_MS ? timeout_ms : KMS_CONNECT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
	if (k->insecure_tls) {
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	cc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (cc != CURLE_OK) {
		snprintf(why, whysz, "KMS %s: %s", target,
			 curl_easy_strerror(cc));
		r = cc == CURLE_OPERATION_TIMEDOUT ? -ETIMEDOUT :
			cc == CURLE_COULDNT_CONNECT ? -ECONNREFUSED :
			transport(cc) ? -ECONNRESET : -EIO;
		if (r == -EIO)
			ocb_err("%s", why);
		goto out;
	}
	*out = cJSON_ParseWithLength(body.data ? body.data : "", body.len);
	if (!*out) {
		r = status == 200 ? -EPROTO :
			map_error(k, target, status, NULL, why, whysz);
		goto out;
	}
	if (status != 200) {
		r = map_error(k, target, status, *out, why, whysz);
		cJSON_Delete(*out);
		*out = NULL;
		goto out;
	}
	r = 0;
out:
	ocb_creds_value_clear(&cv);
	curl_slist_free_all(h);
	if (c)
		curl_easy_cleanup(c);
	free(json);
	ocb_buf_release_secret(&body);
	return r;
}

/*
 * One KMS call, target "GenerateDataKey" or "Decrypt", with its retries:
 * the store's policy by time (retry.h), so that one setting bounds every
 * wait of a command.  An attempt starts only if its backoff ends before
 * the deadline, and its own timeout ends there too.
 */
static int kms_call(const struct ocb_kms *k, const char *target, cJSON *req,
		    cJSON **out)
{
	struct ocb_retry_opts o = { .base_ms = KMS_BASE_MS,
		.cap_ms = KMS_CAP_MS, .deadline_ms = k->deadline_ms,
		.refused_ms = k->refused_ms };
	long timeout = k->timeout_ms ? k->timeout_ms : 30000, delay;
	struct ocb_retry t;
	char why[512] = "";
	uint64_t end, now;
	int r;

	ocb_retry_start(&t, &o);
	for (;;) {
		end = ocb_retry_end_ms(&t);
		now = ocb_retry_now_ms();
		r = kms_try(k, target, req, out,
			    end > now && (long)(end - now) < timeout ?
			    (long)(end - now) : timeout, why, sizeof(why));
		if (r == 0)
			return 0;
		delay = ocb_retry_failed(&t, r);
		if (delay < 0)
			break;
		ocb_info("%s; attempt %d failed, retrying", why, t.n);
		ocb_retry_sleep_ms((unsigned)delay);
	}
	if (ocb_retry_is_transient(r))
		ocb_err("%s; gave up after %d attempts in %.1f s (%s %u s)",
			why, t.n,
			(double)(ocb_retry_now_ms() - t.start) / 1000,
			ocb_retry_refused_bound(&t) ? "s3.refusedDeadline" :
			"s3.retryDeadline",
			(unsigned)((ocb_retry_end_ms(&t) - t.start) / 1000));
	return r;
}

static cJSON *request(const struct ocb_kms_ctx *ctx)
{
	cJSON *req = cJSON_CreateObject(), *ec;
	size_t i;

	ec = cJSON_AddObjectToObject(req, "EncryptionContext");
	for (i = 0; ec && i < ctx->n; i++)
		cJSON_AddStringToObject(ec, ctx->names[i], ctx->values[i]);
	return req;
}

/* base64 field of resp into out (at most max bytes): length or -EPROTO */
static int b64_field(const cJSON *resp, const char *name, uint8_t *out,
		     size_t max)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(resp, name);
	size_t len, pad = 0;
	uint8_t *tmp;
	int n;

	if (!cJSON_IsString(v))
		return -EPROTO;
	len = strlen(v->valuestring);
	if (len == 0 || len % 4 || len / 4 * 3 > max + 2)
		return -EPROTO;
	tmp = malloc(len / 4 * 3 + 1);
	if (!tmp)
		return -ENOMEM;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)v->valuestring, (int)len);
	if (v->valuestring[len - 1] == '=')
		pad++;
	if (v->valuestring[len - 2] == '=')
		pad++;
	if (n < 0 || (size_t)n - pad > max) {
		OPENSSL_cleanse(tmp, len / 4 * 3 + 1);
		free(tmp);
		return -EPROTO;
	}
	memcpy(out, tmp, (size_t)n - pad);
	OPENSSL_cleanse(tmp, len / 4 * 3 + 1);
	free(tmp);
	return n - (int)pad;
}

int ocb_kms_generate(const struct ocb_kms *k, const struct ocb_kms_ctx *ctx,
		     uint8_t dk[32], uint8_t *blob, size_t *bloblen)
{
	cJSON *req = request(ctx), *resp = NULL;
	int r, n;

	cJSON_AddStringToObject(req, "KeyId", k->key_id ? k->key_id : "");
	cJSON_AddStringToObject(req, "KeySpec", "AES_256");
	r = kms_call(k, "GenerateDataKey", req, &resp);
	cJSON_Delete(req);
	if (r < 0)
		return r;
	n = b64_field(resp, "Plaintext", dk, 32);
	r = n == 32 ? 0 : -EPROTO;
	if (r == 0) {
		n = b64_field(resp, "CiphertextBlob", blob, OCB_KMS_BLOB_MAX);
		if (n <= 0)
			r = -EPROTO;
		else
			*bloblen = (size_t)n;
	}
	/* the response held the plaintext key */
	{
		cJSON *p = cJSON_GetObjectItemCaseSensitive(resp, "Plaintext");

		if (cJSON_IsString(p))
			OPENSSL_cleanse(p->valuestring, strlen(p->valuestring));
	}
	cJSON_Delete(resp);
	return r;
}

int ocb_kms_decrypt(const struct ocb_kms *k, const struct ocb_kms_ctx *ctx,
		    const uint8_t *blob, size_t bloblen, uint8_t dk[32])
{
	cJSON *req = request(ctx), *resp = NULL, *p;
	char *b64 = malloc(bloblen / 3 * 4 + 8);
	int r, n;

	if (!b64) {
		cJSON_Delete(req);
		return -ENOMEM;
	}
	EVP_EncodeBlock((unsigned char *)b64, blob, (int)bloblen);
	cJSON_AddStringToObject(req, "CiphertextBlob", b64);
	free(b64);
	/* with KeyId, KMS refuses a blob made under another key (a bucket
	 * writer's own key, whose Decrypt the caller may also be allowed) */
	if (k->key_id && *k->key_id)
		cJSON_AddStringToObject(req, "KeyId", k->key_id);
	r = kms_call(k, "Decrypt", req, &resp);
	cJSON_Delete(req);
	if (r < 0)
		return r;
	n = b64_field(resp, "Plaintext", dk, 32);
	r = n == 32 ? 0 : -EPROTO;
	p = cJSON_GetObjectItemCaseSensitive(resp, "Plaintext");
	if (cJSON_IsString(p))
		OPENSSL_cleanse(p->valuestring, strlen(p->valuestring));
	cJSON_Delete(resp);
	return r;
}
