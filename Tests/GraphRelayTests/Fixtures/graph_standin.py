#!/usr/bin/env python3
"""An independent Microsoft Graph stand-in for graph-relay's end-to-end tests.

Written only from Microsoft's documentation of sendMail, tokens and Graph's limits and errors,
not from graph-relay's own emulator,
so that the relay is checked against a second reading of the documentation. Python 3 standard
library only, plus the `openssl` command for verifying client-assertion signatures.

Endpoints (HTTPS, HTTP/1.1 keep-alive):
  POST /{tenant}/oauth2/v2.0/token      OAuth 2.0 client credentials: client_secret, or a
                                        client_assertion JWT (PS256/RS256, x5t#S256 of the
                                        registered certificate, aud/iss/sub/jti/nbf/exp checked,
                                        signature verified with `openssl dgst`).
  POST /v1.0/users/{id}/sendMail         Bearer token, Content-Type text/plain, strict base64
                                        (76-column wrapping allowed), 4 MB request limit, at least
                                        one To/Cc/Bcc recipient. 202 Accepted, empty body.

Each accepted message is written to OUTDIR/NNNN.eml (the decoded MIME bytes) with
OUTDIR/NNNN.json beside it: mailbox, parsed To/Cc/Bcc/From (Python's email package), request ids.
Token requests are counted in OUTDIR/tokens.json. The chosen port is printed as `PORT <n>`.
"""

import argparse
import base64
import binascii
import email.parser
import email.policy
import email.utils
import hashlib
import http.server
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

MAX_REQUEST_BYTES = 4 * 1024 * 1024  # "The maximum request length supported is 4MB."
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLOCK_SKEW = 300


class Tenant:
    def __init__(self, args):
        self.tenant = args.tenant
        self.client_id = args.client_id
        self.secret = args.client_secret
        self.scope = args.scope
        self.certificate_pem = None
        self.public_key_file = None
        self.thumbprint_s256 = None
        self.thumbprint_s1 = None
        if args.client_certificate:
            with open(args.client_certificate, "r", encoding="ascii") as f:
                self.certificate_pem = f.read()
            der = ssl.PEM_cert_to_DER_cert(self.certificate_pem)
            self.thumbprint_s256 = b64url(hashlib.sha256(der).digest())
            self.thumbprint_s1 = b64url(hashlib.sha1(der).digest())
            out = subprocess.run(["openssl", "x509", "-pubkey", "-noout", "-in", args.client_certificate],
                                 capture_output=True, check=True)
            fd, self.public_key_file = tempfile.mkstemp(prefix="standin-pub-", suffix=".pem", dir=args.outdir)
            with os.fdopen(fd, "wb") as f:
                f.write(out.stdout)
        self.lock = threading.Lock()
        self.tokens = {}          # access token -> expiry (epoch seconds)
        self.seen_jti = set()
        self.token_requests = 0
        self.tokens_issued = 0
        self.message_count = 0
        self.outdir = args.outdir


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GraphStandIn/1.0"
    tenant = None  # set by main

    # -- plumbing -----------------------------------------------------------------------------

    def log_message(self, fmt, *args):
        sys.stderr.write("standin: " + (fmt % args) + "\n")

    def send_json(self, status, body, extra=None):
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def graph_error(self, status, code, message, request_id):
        body = {"error": {"code": code, "message": message, "innerError": {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()), "request-id": request_id,
            "client-request-id": self.headers.get("client-request-id", "")}}}
        self.send_json(status, body, {"request-id": request_id})

    def oauth_error(self, status, error, code, description):
        trace = str(uuid.uuid4())
        self.send_json(status, {
            "error": error, "error_description": "AADSTS%d: %s Trace ID: %s" % (code, description, trace),
            "error_codes": [code], "trace_id": trace, "correlation_id": str(uuid.uuid4()),
        })

    def read_body(self, limit):
        """Reads the request body (Content-Length only). Returns (bytes or None if too large, length)."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise ValueError("chunked request bodies are not expected from graph-relay")
        length = int(self.headers.get("Content-Length", "0"))
        if length > limit:
            # Read and discard, so that the connection stays in sync, then refuse.
            remaining = length
            while remaining > 0:
                chunk = self.rfile.read(min(remaining, 65536))
                if not chunk:
                    break
                remaining -= len(chunk)
            return None, length
        return self.rfile.read(length), length

    def do_GET(self):
        self.graph_error(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.",
                         str(uuid.uuid4()))

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        token_match = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        send_match = re.fullmatch(r"/v1\.0/users/([^/]+)/sendMail", path)
        if token_match:
            self.token(urllib.parse.unquote(token_match.group(1)), path)
        elif send_match:
            self.send_mail(urllib.parse.unquote(send_match.group(1)))
        else:
            body, _ = self.read_body(MAX_REQUEST_BYTES)
            self.graph_error(404, "Request_UnsupportedQuery", "Unsupported segment in " + path, str(uuid.uuid4()))

    # -- token endpoint -----------------------------------------------------------------------

    def token(self, tenant_name, path):
        t = self.tenant
        with t.lock:
            t.token_requests += 1
            self.write_counters()
        body, _ = self.read_body(65536)
        if body is None:
            return self.oauth_error(400, "invalid_request", 900144, "The request body is too large.")
        if not self.headers.get("Content-Type", "").lower().startswith("application/x-www-form-urlencoded"):
            return self.oauth_error(400, "invalid_request", 900144, "The request body must be form encoded.")
        try:
            form = dict(urllib.parse.parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            return self.oauth_error(400, "invalid_request", 900144, "The request body is not valid form encoding.")
        if tenant_name.lower() != t.tenant.lower():
            return self.oauth_error(400, "invalid_request", 90002, "Tenant '%s' not found." % tenant_name)
        if form.get("grant_type") != "client_credentials":
            return self.oauth_error(400, "unsupported_grant_type", 70003, "grant_type must be client_credentials.")
        if form.get("client_id", "").lower() != t.client_id.lower():
            return self.oauth_error(400, "unauthorized_client", 700016,
                                    "Application with identifier '%s' was not found in the directory." % form.get("client_id"))
        if form.get("scope") != t.scope:
            return self.oauth_error(400, "invalid_scope", 70011, "The scope %s is not valid." % form.get("scope"))
        if "client_secret" in form:
            if t.secret is None or form["client_secret"] != t.secret:
                return self.oauth_error(401, "invalid_client", 7000215, "Invalid client secret provided.")
            return self.issue_token()
        if "client_assertion" in form:
            if form.get("client_assertion_type") != ASSERTION_TYPE:
                return self.oauth_error(400, "invalid_request", 700029, "client_assertion_type must be " + ASSERTION_TYPE)
            audience = "https://%s%s" % (self.headers.get("Host", ""), path)
            problem = self.check_assertion(form["client_assertion"], audience)
            if problem:
                code, text = problem
                return self.oauth_error(401, "invalid_client", code, text)
            return self.issue_token()
        return self.oauth_error(401, "invalid_client", 7000218,
                                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")

    def check_assertion(self, assertion, audience):
        """Returns None when the JWT is acceptable, else (AADSTS code, description)."""
        t = self.tenant
        if t.public_key_file is None:
            return (700027, "No certificate is registered for this application.")
        parts = assertion.split(".")
        if len(parts) != 3:
            return (50027, "The client assertion is not a JWT with three parts.")
        try:
            header = json.loads(b64url_decode(parts[0]))
            claims = json.loads(b64url_decode(parts[1]))
            signature = b64url_decode(parts[2])
        except (ValueError, binascii.Error, json.JSONDecodeError) as e:
            return (50027, "The client assertion is malformed: %s" % e)
        alg = header.get("alg")
        if alg not in ("PS256", "RS256"):
            return (5002738, "Unsupported signing algorithm %r." % alg)
        if header.get("typ", "JWT") != "JWT":
            return (50027, "typ must be JWT.")
        if "x5t#S256" in header:
            if header["x5t#S256"] != t.thumbprint_s256:
                return (700027, "x5t#S256 does not match a registered certificate.")
        elif "x5t" in header:
            if header["x5t"] != t.thumbprint_s1:
                return (700027, "x5t does not match a registered certificate.")
        else:
            return (700027, "The assertion names no certificate (x5t#S256 or x5t).")
        now = time.time()
        if claims.get("aud") != audience:
            return (700023, "Invalid audience %r, expected %r." % (claims.get("aud"), audience))
        if claims.get("iss") != t.client_id or claims.get("sub") != t.client_id:
            return (700021, "iss and sub must be the client id.")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return (700021, "jti is missing.")
        for name in ("exp", "nbf"):
            if not isinstance(claims.get(name), (int, float)):
                return (700021, "%s is missing." % name)
        if claims["exp"] < now - CLOCK_SKEW:
            return (700024, "The client assertion has expired.")
        if claims["nbf"] > now + CLOCK_SKEW:
            return (700024, "The client assertion is not yet valid.")
        if claims["exp"] - claims["nbf"] > 600:
            return (700024, "The client assertion lives longer than 10 minutes.")
        if "iat" in claims and not isinstance(claims["iat"], (int, float)):
            return (700021, "iat is not a number.")
        signing_input = (parts[0] + "." + parts[1]).encode("ascii")
        if not self.verify_signature(alg, signing_input, signature):
            return (700027, "The client assertion signature does not verify with the registered certificate.")
        with t.lock:
            if jti in t.seen_jti:
                return (700021, "The jti was used before.")
            t.seen_jti.add(jti)
        sys.stderr.write("standin: client assertion verified (alg %s, %s matches, signature checked by openssl)\n"
                         % (alg, "x5t#S256" if "x5t#S256" in header else "x5t"))
        return None

    def verify_signature(self, alg, data, signature):
        t = self.tenant
        with tempfile.TemporaryDirectory(dir=t.outdir) as d:
            data_file = os.path.join(d, "data")
            sig_file = os.path.join(d, "sig")
            with open(data_file, "wb") as f:
                f.write(data)
            with open(sig_file, "wb") as f:
                f.write(signature)
            command = ["openssl", "dgst", "-sha256", "-verify", t.public_key_file, "-signature", sig_file]
            if alg == "PS256":
                # RFC 7518 §3.5: RSASSA-PSS with SHA-256, MGF1 SHA-256, salt as long as the hash.
                command += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:32",
                            "-sigopt", "rsa_mgf1_md:sha256"]
            command.append(data_file)
            result = subprocess.run(command, capture_output=True)
            if result.returncode != 0:
                sys.stderr.write("standin: signature check failed: %s\n" % (result.stdout + result.stderr).decode(errors="replace"))
            return result.returncode == 0

    def issue_token(self):
        t = self.tenant
        value = b64url(os.urandom(32))
        with t.lock:
            t.tokens[value] = time.time() + 3599
            t.tokens_issued += 1
            self.write_counters()
        self.send_json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": value})

    def write_counters(self):
        t = self.tenant
        path = os.path.join(t.outdir, "tokens.json")
        with open(path + ".tmp", "w") as f:
            json.dump({"requests": t.token_requests, "issued": t.tokens_issued}, f)
        os.replace(path + ".tmp", path)

    # -- sendMail -----------------------------------------------------------------------------

    def send_mail(self, mailbox):
        t = self.tenant
        request_id = str(uuid.uuid4())
        authorization = self.headers.get("Authorization", "")
        body, length = self.read_body(MAX_REQUEST_BYTES)
        if not authorization.lower().startswith("bearer "):
            return self.graph_error(401, "InvalidAuthenticationToken", "Access token is empty.", request_id)
        token = authorization[7:].strip()
        with t.lock:
            expiry = t.tokens.get(token)
        if expiry is None or expiry < time.time():
            return self.graph_error(401, "InvalidAuthenticationToken", "Access token validation failure.", request_id)
        if body is None:
            return self.graph_error(413, "RequestEntityTooLarge", "The maximum request length supported is 4MB.", request_id)
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "text/plain":
            return self.graph_error(415, "UnsupportedMediaType", "Use text/plain for MIME content.", request_id)
        # Strict base64: the alphabet and correct padding only; line breaks (76-column wrapping, as
        # in Microsoft's example) are allowed between groups.
        compact = body.replace(b"\r\n", b"").replace(b"\n", b"")
        try:
            if not compact or len(compact) % 4 != 0:
                raise binascii.Error("length")
            mime = base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            return self.graph_error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.", request_id)
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(mime)

        def addresses(name):
            values = [str(v) for v in headers.get_all(name, [])]
            return [address for _, address in email.utils.getaddresses(values) if address]

        to, cc, bcc = addresses("To"), addresses("Cc"), addresses("Bcc")
        if not (to or cc or bcc):
            return self.graph_error(400, "ErrorInvalidRecipients",
                                    "At least one recipient is not valid., A message can't be sent because it contains no recipients.",
                                    request_id)
        with t.lock:
            t.message_count += 1
            number = t.message_count
        base = os.path.join(t.outdir, "%04d" % number)
        with open(base + ".eml", "wb") as f:
            f.write(mime)
        record = {
            "mailbox": mailbox, "to": to, "cc": cc, "bcc": bcc, "from": addresses("From"),
            "requestId": request_id, "clientRequestId": self.headers.get("client-request-id"),
            "requestBytes": length, "wrapped": b"\n" in body,
        }
        with open(base + ".json.tmp", "w") as f:
            json.dump(record, f)
        os.replace(base + ".json.tmp", base + ".json")
        self.send_response(202)
        self.send_header("request-id", request_id)
        if self.headers.get("return-client-request-id", "").lower() == "true" and self.headers.get("client-request-id"):
            self.send_header("client-request-id", self.headers["client-request-id"])
        self.send_header("Content-Length", "0")
        self.end_headers()


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, context):
        super().__init__(address, handler)
        self.context = context

    def get_request(self):
        sock, address = super().get_request()
        # The handshake runs in the request's thread (finish_request), never in the accept loop.
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def finish_request(self, request, client_address):
        request.settimeout(30)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            sys.stderr.write("standin: TLS handshake with %s failed: %s\n" % (client_address, e))
            return
        super().finish_request(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--certificate", required=True, help="server certificate (PEM)")
    parser.add_argument("--private-key", required=True, help="server key (PEM)")
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret")
    parser.add_argument("--client-certificate", help="certificate whose key signs client assertions")
    parser.add_argument("--scope", default="https://graph.microsoft.com/.default")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    os.makedirs(args.outdir, exist_ok=True)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(args.certificate, args.private_key)
    context.set_alpn_protocols(["http/1.1"])

    Handler.tenant = Tenant(args)
    server = Server(("127.0.0.1", args.port), Handler, context)
    sys.stdout.write("PORT %d\n" % server.server_address[1])  # one write: the test reads it whole
    sys.stdout.flush()
    server.serve_forever()


if __name__ == "__main__":
    main()
