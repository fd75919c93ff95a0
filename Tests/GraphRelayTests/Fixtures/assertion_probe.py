#!/usr/bin/env python3
"""Asks the Graph stand-in for a token with a hand-made client assertion, to show that the
stand-in's JWT check is real: `signed` signs it with the key (openssl, RSASSA-PSS, SHA-256,
32-byte salt), `forged` sends random signature bytes. Prints the HTTP status and the body.

usage: assertion_probe.py TOKEN-URL CA-FILE CERTIFICATE KEY CLIENT-ID signed|forged
"""

import base64
import hashlib
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def main():
    url, ca, certificate, key, client_id, mode = sys.argv[1:7]
    with open(certificate, encoding="ascii") as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    header = {"alg": "PS256", "typ": "JWT", "x5t#S256": b64url(hashlib.sha256(der).digest())}
    now = int(time.time())
    claims = {"aud": url, "iss": client_id, "sub": client_id, "jti": str(uuid.uuid4()),
              "nbf": now, "iat": now, "exp": now + 300}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    if mode == "signed":
        with tempfile.NamedTemporaryFile() as data:
            data.write(signing_input.encode("ascii"))
            data.flush()
            signature = subprocess.run(
                ["openssl", "dgst", "-sha256", "-sign", key, "-sigopt", "rsa_padding_mode:pss",
                 "-sigopt", "rsa_pss_saltlen:32", "-sigopt", "rsa_mgf1_md:sha256", data.name],
                capture_output=True, check=True).stdout
    else:
        signature = os.urandom(256)
    form = urllib.parse.urlencode({
        "client_id": client_id, "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": signing_input + "." + b64url(signature),
    }).encode("ascii")
    context = ssl.create_default_context(cafile=ca)
    request = urllib.request.Request(url, data=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=20) as response:
            print(response.status, response.read().decode())
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode())


if __name__ == "__main__":
    main()
