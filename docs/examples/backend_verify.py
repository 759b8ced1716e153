#!/usr/bin/env python3
"""Check what rollcall devices publish, as a backend does (docs/mqtt.md, "Signatures" and "Audit").

    backend_verify.py --host HOST --port PORT --prefix rollcall/v1/SITE \\
                      --device ID=SIGNING_KEY [--device ...] [--for SECONDS]

Each --device registers one device's signing key (base64; the `keys.signing` of its status, read
once at install and kept by the backend: a status can be published by anyone with broker
credentials, so it is not where a backend learns keys). The script subscribes to every device's
attendance, alerts, audit records and status, and prints one JSON line per finding:

- every message must carry its device's valid signature (`bad_signature`, `unknown_device`);
- audit records must chain: each record's hash as docs/schema/audit.json defines it, and its
  prev_hash the hash of the record before (`bad_hash`, `broken_link`);
- each status carries the device's audit head: records the backend never received below it are a
  `gap`, and a head below records already received means the device's trail was cut short
  (`truncated`), as does a head whose hash differs from the record received (`forked`).

It runs for --for seconds (default until interrupted), then prints a summary per device and exits
with status 1 if anything was flagged. Needs the `paho-mqtt` and `cryptography` packages.
"""
import argparse
import base64
import hashlib
import json
import signal
import sys
import threading
from datetime import datetime

import paho.mqtt.client as mqtt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

MEMBER = b',"signature":"'
SIGNATURE_B64 = 88
GENESIS = "0" * 64


def signed_payload(key, topic, message):
    """The payload as the device signed it, or None: the message must end with its signature
    member, which is cut out (keeping the closing brace) before topic NUL payload is verified."""
    tail = len(MEMBER) + SIGNATURE_B64 + 2
    if len(message) < tail or not message.endswith(b'"}'):
        return None
    body, member = message[:-tail], message[-tail:]
    if not member.startswith(MEMBER):
        return None
    payload = body + b"}"
    try:
        signature = base64.b64decode(member[len(MEMBER):-2], validate=True)
        key.verify(signature, topic.encode() + b"\0" + payload)
    except (InvalidSignature, ValueError):
        return None
    return payload


def record_hash(r):
    """SHA-256 over seq, event_id, at (RFC 3339 with the offset written +00:00), device, action,
    subject, detail and prev_hash, each as UTF-8 preceded by its length as a little-endian u64."""
    at = datetime.fromisoformat(r["at"].replace("Z", "+00:00")).isoformat()
    h = hashlib.sha256()
    for field in [str(r["seq"]), r["event_id"], at, r["device"], r["action"], r["subject"],
                  r["detail"], r["prev_hash"]]:
        data = field.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


class Backend:
    def __init__(self, keys):
        self.keys = keys
        self.records = {d: {} for d in keys}
        self.heads = {}
        self.flags = []
        self.counts = {}
        self.lock = threading.Lock()

    def flag(self, kind, device, **detail):
        finding = {"flag": kind, "device": device, **detail}
        if finding in self.flags:
            return  # a status repeats its head: one finding is enough
        self.flags.append(finding)
        print(json.dumps(finding), flush=True)

    def take(self, topic, message):
        device, kind = topic.split("/")[-2:]
        with self.lock:
            if device not in self.keys:
                return self.flag("unknown_device", device, topic=topic)
            payload = signed_payload(self.keys[device], topic, message)
            if payload is None:
                try:
                    body = json.loads(message)
                except ValueError:
                    body = None
                body = body if isinstance(body, dict) else {}
                if kind == "status" and body.get("state") == "offline" and set(body) <= {"state", "device"}:
                    return  # the broker's last will: fixed and unsigned, presence only
                return self.flag("bad_signature", device, topic=topic, event_id=body.get("event_id"))
            self.counts[(device, kind)] = self.counts.get((device, kind), 0) + 1
            body = json.loads(payload)
            if kind == "audit":
                self.audit_record(device, body)
            elif kind == "status" and body.get("audit"):
                self.head(device, body["audit"])

    def audit_record(self, device, r):
        if record_hash(r) != r["hash"]:
            return self.flag("bad_hash", device, seq=r["seq"])
        records = self.records[device]
        records[r["seq"]] = r
        before = records.get(r["seq"] - 1)
        want = GENESIS if r["seq"] == 1 else (before or {}).get("hash")
        if want is not None and r["prev_hash"] != want:
            self.flag("broken_link", device, seq=r["seq"])
        after = records.get(r["seq"] + 1)
        if after is not None and after["prev_hash"] != r["hash"]:
            self.flag("broken_link", device, seq=r["seq"] + 1)
        self.check_head(device)

    def head(self, device, head):
        self.heads[device] = head
        self.check_head(device)

    def check_head(self, device):
        head, records = self.heads.get(device), self.records[device]
        if not head or not records:
            return
        newest = max(records)
        if head["seq"] < newest:
            self.flag("truncated", device, head=head["seq"], received=newest)
        elif head["seq"] in records and records[head["seq"]]["hash"] != head["hash"]:
            self.flag("forked", device, seq=head["seq"])

    def summary(self):
        for device in self.keys:
            records, head = self.records[device], self.heads.get(device)
            top = max([head["seq"] if head else 0] + list(records))
            missing = [s for s in range(1, top + 1) if s not in records]
            if missing:
                self.flag("gap", device, missing=missing[:20], count=len(missing))
            counts = {k: n for (d, k), n in self.counts.items() if d == device}
            print(json.dumps({"device": device, "verified": counts, "audit_records": len(records),
                              "head": head}), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--device", action="append", required=True, metavar="ID=SIGNING_KEY")
    parser.add_argument("--for", dest="seconds", type=float)
    parser.add_argument("--client-id", default="rollcall-backend-verify")
    args = parser.parse_args()
    keys = {}
    for entry in args.device:
        device, _, key = entry.partition("=")
        keys[device] = Ed25519PublicKey.from_public_bytes(base64.b64decode(key))
    backend = Backend(keys)
    done = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: done.set())
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def on_connect(client, userdata, flags, reason, properties):
        for kind in ("attendance", "alert", "audit", "status"):
            client.subscribe(f"{args.prefix}/+/{kind}", qos=1)
        print(json.dumps({"connected": str(reason)}), flush=True)

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=args.client_id,
                         clean_session=False)
    client.on_connect = on_connect
    client.on_message = lambda c, u, m: backend.take(m.topic, m.payload)
    client.connect(args.host, args.port)
    client.loop_start()
    done.wait(args.seconds)
    client.loop_stop()
    client.disconnect()
    backend.summary()
    sys.exit(1 if backend.flags else 0)


if __name__ == "__main__":
    main()
