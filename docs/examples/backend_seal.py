#!/usr/bin/env python3
"""Seal a roster for rollcall devices, as a backend does (docs/mqtt.md, "Roster").

    backend_seal.py SITE_KEY_FILE ROSTER_JSON VERSION RECOGNIZER SITE [DEVICE] > envelope.json

SITE_KEY_FILE holds the site key as 64 hex digits (`rollcall keygen --out site.key`).
ROSTER_JSON is {"people": [{"person_id": ..., "name": ..., "groups": [...],
"templates": [[float, ...], ...]}]}, each template a unit vector made by RECOGNIZER.
Without DEVICE the envelope is for every device of SITE (publish it on {prefix}/roster);
with DEVICE, for that device only (publish it on {prefix}/{DEVICE}/roster). Publish it retained,
with QoS 1. Needs the `cryptography` package.
"""
import base64
import json
import os
import struct
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def template_b64(values):
    """A template on the wire: base64 of its little-endian float32 values."""
    return base64.b64encode(struct.pack("<%df" % len(values), *values)).decode()


def seal(body, key, fmt, version, recognizer, site, device=None):
    """The envelope: the header in clear, bound to the sealed body as associated data."""
    # Any RFC 3339 time will do ("Z" or "+00:00"): the device binds the exact string sent.
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    aad = "\0".join([fmt, str(version), recognizer, site, device or "", created_at]).encode()
    nonce = os.urandom(12)
    ciphertext = AESGCM(key).encrypt(nonce, json.dumps(body).encode(), aad)
    envelope = {"format": fmt, "version": version, "site": site, "created_at": created_at,
                "nonce": base64.b64encode(nonce).decode(),
                "ciphertext": base64.b64encode(ciphertext).decode()}
    if recognizer:
        envelope["recognizer"] = recognizer
    if device:
        envelope["device"] = device
    return envelope


def main():
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__)
    key_file, roster_file, version, recognizer, site = sys.argv[1:6]
    device = sys.argv[6] if len(sys.argv) == 7 else None
    with open(key_file) as f:
        key = bytes.fromhex(f.read().strip())
    with open(roster_file) as f:
        roster = json.load(f)
    for person in roster["people"]:
        person["templates"] = [template_b64(t) for t in person["templates"]]
    envelope = seal(roster, key, "rollcall-roster/2", int(version), recognizer, site, device)
    json.dump(envelope, sys.stdout)


if __name__ == "__main__":
    main()
