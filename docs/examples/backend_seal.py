#!/usr/bin/env python3
"""Sign and seal a roster for rollcall devices, as a backend does (docs/mqtt.md, "Roster").

    backend_seal.py SIGNING_KEY_FILE ROSTER_JSON VERSION RECOGNIZER SITE --to SEALING_KEY
                    [--to SEALING_KEY ...] [--device DEVICE] > envelope.json

SIGNING_KEY_FILE holds the backend's Ed25519 seed as 64 hex digits (`rollcall keygen --signing
--out backend.key`); devices hold only its verifying key (`[mqtt] roster_verify_key`).
ROSTER_JSON is {"people": [{"person_id": ..., "name": ..., "groups": [...],
"templates": [[float, ...], ...]}]}, each template a unit vector made by RECOGNIZER.
Each --to is the sealing key of one device that may open it (its status shows it, under
"keys"): the content key is wrapped for each with HPKE (RFC 9180), and no other device can
open it. Without --device the envelope is for every device of SITE (publish it on
{prefix}/roster); with --device, for that device only (on {prefix}/{DEVICE}/roster). Publish it
retained, with QoS 1. Needs the `cryptography` and `pyhpke` packages.
"""
import argparse
import base64
import json
import os
import struct
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pyhpke import AEADId, CipherSuite, KDFId, KEMId

FORMAT = "rollcall-roster/3"
# DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM, base mode.
SUITE = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, AEADId.AES256_GCM)


def b64(data):
    return base64.b64encode(data).decode()


def template_b64(values):
    """A template on the wire: base64 of its little-endian float32 values."""
    return b64(struct.pack("<%df" % len(values), *values))


def signed_bytes(envelope):
    """What the backend signs: the header fields, each recipient's to, enc and key, then nonce and
    ciphertext, each exactly as sent, joined by NUL bytes."""
    fields = [envelope["format"], str(envelope["version"]), envelope.get("recognizer", ""),
              envelope["site"], envelope.get("device", ""), envelope["created_at"]]
    for r in envelope["recipients"]:
        fields += [r["to"], r["enc"], r["key"]]
    fields += [envelope["nonce"], envelope["ciphertext"]]
    return "\0".join(fields).encode()


def seal(body, signing_key, devices, fmt, version, recognizer, site, device=None):
    """The envelope: the header in clear, bound to the sealed body as associated data, its
    content key wrapped for each device, and the whole signed."""
    # Any RFC 3339 time will do ("Z" or "+00:00"): the device checks the exact string sent.
    created_at = datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    header = "\0".join([fmt, str(version), recognizer, site, device or "", created_at]).encode()
    content_key = os.urandom(32)
    recipients = []
    for sealing_key in devices:
        public = SUITE.kem.deserialize_public_key(base64.b64decode(sealing_key))
        enc, sender = SUITE.create_sender_context(public, info=fmt.encode())
        recipients.append({"to": sealing_key, "enc": b64(enc),
                           "key": b64(sender.seal(content_key, aad=header))})
    nonce = os.urandom(12)
    ciphertext = AESGCM(content_key).encrypt(nonce, json.dumps(body).encode(), header)
    envelope = {"format": fmt, "version": version, "site": site, "created_at": created_at,
                "nonce": b64(nonce), "ciphertext": b64(ciphertext), "recipients": recipients}
    if recognizer:
        envelope["recognizer"] = recognizer
    if device:
        envelope["device"] = device
    envelope["signature"] = b64(signing_key.sign(signed_bytes(envelope)))
    return envelope


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("signing_key_file")
    parser.add_argument("roster_json")
    parser.add_argument("version", type=int)
    parser.add_argument("recognizer")
    parser.add_argument("site")
    parser.add_argument("--to", action="append", required=True, metavar="SEALING_KEY")
    parser.add_argument("--device")
    args = parser.parse_args()
    with open(args.signing_key_file) as f:
        signing_key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(f.read().strip()))
    with open(args.roster_json) as f:
        roster = json.load(f)
    for person in roster["people"]:
        person["templates"] = [template_b64(t) for t in person["templates"]]
    envelope = seal(roster, signing_key, args.to, FORMAT, args.version, args.recognizer,
                    args.site, args.device)
    json.dump(envelope, sys.stdout)


if __name__ == "__main__":
    main()
