"""A small AWS KMS test server for the tests: GenerateDataKey and Decrypt
over the JSON 1.1 protocol, on loopback.

With deny (a set of operations, e.g. {"GenerateDataKey", "Decrypt"}) it
answers those as AWS KMS does for a caller whose IAM policy allows KMS only
with the condition kms:ViaService = s3.<region>.amazonaws.com (the old
tool's policy) and calls KMS directly: HTTP 400 with __type
AccessDeniedException (AWS KMS API Reference, "Common Errors" and each
operation's Errors list) and the message form of IAM's implicit denial
("User: <arn> is not authorized to perform: <action> on resource: <arn>
because no identity-based policy allows the <action> action", IAM User
Guide, "Troubleshoot access denied error messages").

Every request's SigV4 signature is checked with botocore's implementation
(independent of ocb's, which is libcurl's), against the known secret;
requests that fail get 400 InvalidSignatureException as KMS answers.  Data
keys are kept in memory; Decrypt insists on the same encryption context.
"""
import base64
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

KEY_IDS = ("alias/ocb-test", "1234abcd-12ab-34cd-56ef-1234567890ab",
           # the old tool's alias (tests/data/old-tool)
           "alias/openclaw-aws-backup-i-0123456789abcdef0")
# a key that exists but is disabled: KMS answers DisabledException (the
# error list of GenerateDataKey in the AWS KMS API reference)
DISABLED = "alias/ocb-disabled"


class KmsServer:
    def __init__(self, access_key, secret_key, region="us-east-1"):
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.keys = {}                  # blob -> (plaintext, context, key id)
        self.verified = 0
        self.deny = set()               # operations denied by the policy
        self.denied = 0
        self.rejected = 0
        # transient failures for the next requests, in order: "drop" closes
        # the connection without an answer, "internal" answers 500
        # KMSInternalException, "throttle" 400 ThrottlingException (the
        # error lists of GenerateDataKey and Decrypt, AWS KMS API Reference)
        self.failures = []
        self.failed = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n) if n < 1 << 20 else b""
                with server.lock:
                    fail = server.failures.pop(0) if server.failures else None
                    server.failed += fail is not None
                if fail == "drop":
                    self.close_connection = True
                    return
                if fail:
                    status, out = {"internal": (500, {"__type": "KMSInternalException",
                                                      "message": "internal error"}),
                                   "throttle": (400, {"__type": "ThrottlingException",
                                                      "message": "Rate exceeded"})}[fail]
                else:
                    status, out = server.handle(self, body)
                data = json.dumps(out).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        class Server(ThreadingHTTPServer):
            request_queue_size = 128    # a loaded machine's bursts wait, never refused
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.died = None                # why the serving thread ended early
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            self.httpd.serve_forever()
        except BaseException as e:      # seen by close(), not lost in a thread
            self.died = e
            raise

    def close(self):
        # shutdown() waits for serve_forever() to acknowledge: only ask a
        # loop that still runs, or a test's teardown waits forever
        if self.thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(30)
        assert self.died is None, "the KMS stub stopped serving: %r" % (self.died,)

    def signature_ok(self, req, body):
        auth = req.headers.get("Authorization", "")
        if not auth.startswith("AWS4-HMAC-SHA256 "):
            return False
        parts = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
        cred = parts["Credential"].split("/")
        if cred[0] != self.access_key or cred[2] != self.region or cred[3] != "kms":
            return False
        signed = parts["SignedHeaders"].split(";")
        headers = {h: req.headers[h] for h in signed if h in req.headers}
        aws_req = AWSRequest(method="POST", url=self.endpoint + req.path, data=body,
                             headers=headers)
        aws_req.context["timestamp"] = req.headers["X-Amz-Date"]
        signer = SigV4Auth(Credentials(self.access_key, self.secret_key), "kms", self.region)
        canonical = signer.canonical_request(aws_req)
        expected = signer.signature(signer.string_to_sign(aws_req, canonical), aws_req)
        return expected == parts["Signature"]

    def handle(self, req, body):
        if not self.signature_ok(req, body):
            with self.lock:
                self.rejected += 1
            return 400, {"__type": "InvalidSignatureException", "message": "bad signature"}
        with self.lock:
            self.verified += 1
        target = req.headers.get("X-Amz-Target", "")
        try:
            q = json.loads(body)
        except ValueError:
            return 400, {"__type": "SerializationException"}
        ctx = q.get("EncryptionContext", {})
        op = target.split(".")[-1]
        if op in self.deny:
            with self.lock:
                self.denied += 1
            action = "kms:" + op
            return 400, {"__type": "AccessDeniedException",
                         "message": "User: arn:aws:sts::111122223333:assumed-role/"
                         "openclaw-backup-role/i-0123456789abcdef0 is not authorized "
                         "to perform: %s on resource: arn:aws:kms:%s:111122223333:key/"
                         "1234abcd-12ab-34cd-56ef-1234567890ab because no "
                         "identity-based policy allows the %s action"
                         % (action, self.region, action)}
        if target == "TrentService.GenerateDataKey":
            if q.get("KeyId") == DISABLED:
                return 400, {"__type": "DisabledException",
                             "message": "%s is disabled." % DISABLED}
            if q.get("KeyId") not in KEY_IDS:
                return 400, {"__type": "NotFoundException", "message": "no such key"}
            plain = os.urandom(32)
            blob = b"ocb-test-kms" + os.urandom(172)
            with self.lock:
                self.keys[blob] = (plain, ctx, q["KeyId"])
            return 200, {"CiphertextBlob": base64.b64encode(blob).decode(),
                         "Plaintext": base64.b64encode(plain).decode(),
                         "KeyId": q["KeyId"]}
        if target == "TrentService.Decrypt":
            blob = base64.b64decode(q.get("CiphertextBlob", ""))
            with self.lock:
                k = self.keys.get(blob)
            if not k or k[1] != ctx:
                return 400, {"__type": "InvalidCiphertextException"}
            if q.get("KeyId") != k[2]:      # as AWS: KeyId must name the blob's key
                return 400, {"__type": "IncorrectKeyException"}
            return 200, {"Plaintext": base64.b64encode(k[0]).decode(), "KeyId": k[2]}
        return 400, {"__type": "UnknownOperationException"}
