#!/usr/bin/env python3
"""Builds the benchmark corpora and indicator list for bench/hunt.sh.

evtx:       COPIES copies of every .evtx file under SHARED/evtx (distinct files, same bytes).
cloudtrail: every CloudTrail record under SHARED/cloudtrail merged into {"Records": [...]} files
            of about 16 MB, repeated until the corpus reaches CLOUDTRAIL_MB.
indicators: 10,000 typed indicators, mostly random (no hits) plus values that occur in the
            corpus (source addresses, user agents, access key ids) so the sweep reports hits.
"""
import gzip, json, os, random, shutil, sys

shared, out, copies, cloudtrail_mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

evtx_out = os.path.join(out, "evtx")
if not os.path.isdir(evtx_out):
    sources = []
    for root, _, files in os.walk(os.path.join(shared, "evtx")):
        sources += [os.path.join(root, f) for f in files if f.endswith(".evtx")]
    sources.sort()
    for copy in range(copies):
        for index, source in enumerate(sources):
            target = os.path.join(evtx_out, f"copy{copy}", f"{index:04d}-{os.path.basename(source)}")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(source, target)

records = []
for root, _, files in os.walk(os.path.join(shared, "cloudtrail")):
    for name in sorted(files):
        path = os.path.join(root, name)
        opener = gzip.open if name.endswith(".gz") else open
        try:
            with opener(path, "rt") as handle:
                document = json.load(handle)
        except Exception:
            continue
        if isinstance(document, dict) and isinstance(document.get("Records"), list):
            records += [r for r in document["Records"] if isinstance(r, dict)]
        elif isinstance(document, dict) and "eventName" in document:
            records.append(document)

cloudtrail_out = os.path.join(out, "cloudtrail")
if not os.path.isdir(cloudtrail_out):
    os.makedirs(cloudtrail_out)
    written, part, batch, batch_bytes = 0, 0, [], 0
    while written < cloudtrail_mb * 1_000_000:
        for record in records:
            text = json.dumps(record)
            batch.append(text)
            batch_bytes += len(text) + 1
            if batch_bytes >= 16_000_000:
                with open(os.path.join(cloudtrail_out, f"part{part:03d}.json"), "w") as handle:
                    handle.write('{"Records":[' + ",".join(batch) + "]}")
                written += batch_bytes
                part, batch, batch_bytes = part + 1, [], 0
                if written >= cloudtrail_mb * 1_000_000:
                    break

rng = random.Random(7)
seen = {"ipv4": set(), "user-agent": set(), "aws-access-key": set()}
for record in records:
    if isinstance(record.get("sourceIPAddress"), str) and record["sourceIPAddress"].count(".") == 3:
        seen["ipv4"].add(record["sourceIPAddress"])
    if isinstance(record.get("userAgent"), str):
        seen["user-agent"].add(record["userAgent"])
    key = (record.get("userIdentity") or {}).get("accessKeyId")
    if isinstance(key, str) and key.startswith(("AKIA", "ASIA")):
        seen["aws-access-key"].add(key)
lines = []
for kind, values in seen.items():
    lines += [f"{kind}:{value}" for value in sorted(values)[:5]]
hexdigits = "0123456789abcdef"
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
while len(lines) < 10_000:
    choice = len(lines) % 8
    if choice == 0:
        lines.append("ipv4:" + ".".join(str(rng.randrange(1, 255)) for _ in range(4)))
    elif choice == 1:
        lines.append("domain:" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10)) + ".example")
    elif choice == 2:
        lines.append("sha256:" + "".join(rng.choice(hexdigits) for _ in range(64)))
    elif choice == 3:
        lines.append("md5:" + "".join(rng.choice(hexdigits) for _ in range(32)))
    elif choice == 4:
        lines.append("aws-access-key:AKIA" + "".join(rng.choice(alphabet) for _ in range(16)))
    elif choice == 5:
        lines.append("user-agent:scanner-" + "".join(rng.choice(hexdigits) for _ in range(12)) + "/1.0")
    elif choice == 6:
        lines.append("email:" + "".join(rng.choice("abcdefghij") for _ in range(8)) + "@bad.example")
    else:
        lines.append("url:https://" + "".join(rng.choice("abcdefghij") for _ in range(8)) + ".example/payload")
with open(os.path.join(out, "indicators.txt"), "w") as handle:
    handle.write("\n".join(lines) + "\n")
