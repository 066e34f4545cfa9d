#!/usr/bin/env bash
# Benchmark of `cordon hunt` (issue 7): Sigma rules over an EVTX corpus, and an indicator sweep
# over CloudTrail JSON. Reports MB/s, events/s, peak memory and detections as measured; nothing
# here is asserted, and tests never time anything.
#
#   bench/hunt.sh                 # build release, build corpora, run both benchmarks
#   HUNT_BENCH_COPIES=6 HUNT_BENCH_RUNS=3 bench/hunt.sh
#
# Environment:
#   CORDON_SHARED_DATA  shared data folder (default: ../shared/data beside the repository)
#   HUNT_BENCH_DIR      where corpora are built (default: target-hunt/bench, gitignored)
#   HUNT_BENCH_COPIES   copies of the EVTX sample set (default 6, about 625 MB)
#   HUNT_BENCH_CLOUDTRAIL_MB  size of the CloudTrail corpus (default 400)
#   HUNT_BENCH_RUNS     runs of each benchmark; the median is reported (default 3)
#   CORDON_BIN          use this binary instead of building one
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
shared=${CORDON_SHARED_DATA:-$root/../shared/data}
work=${HUNT_BENCH_DIR:-$root/target-hunt/bench}
copies=${HUNT_BENCH_COPIES:-6}
cloudtrail_mb=${HUNT_BENCH_CLOUDTRAIL_MB:-400}
runs=${HUNT_BENCH_RUNS:-3}

if [ ! -d "$shared/evtx" ] || [ ! -d "$shared/sigma" ]; then
    echo "shared data not found at $shared (set CORDON_SHARED_DATA)" >&2
    exit 2
fi
if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time for peak memory" >&2
    apt-get install -y time >/dev/null
fi

if [ -z "${CORDON_BIN:-}" ]; then
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target-hunt}
    cargo build --release -p cordon --manifest-path "$root/Cargo.toml" >&2
    CORDON_BIN=$CARGO_TARGET_DIR/release/cordon
fi

mkdir -p "$work"
python3 "$root/bench/hunt_corpus.py" "$shared" "$work" "$copies" "$cloudtrail_mb"
corpus_bytes=$(du -sb "$work/evtx" | cut -f1)
echo "evtx corpus: $((corpus_bytes / 1000000)) MB in $(find "$work/evtx" -name '*.evtx' | wc -l) files ($copies copies of the sample set)"
echo "cloudtrail corpus: $(($(du -sb "$work/cloudtrail" | cut -f1) / 1000000)) MB; indicators: $(wc -l <"$work/indicators.txt")"
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine lowers MB/s; MB per CPU second is steadier)"

rule_args=()
for folder in "$shared"/sigma/rules*; do
    rule_args+=(--rules "$folder")
done

# Runs one hunt, printing "seconds MB/s events/s detections peak_MiB".
measure() {
    local log
    log=$(mktemp)
    set +e
    /usr/bin/time -v "$CORDON_BIN" hunt --no-progress --format jsonl --output /dev/null "$@" 2>"$log"
    local status=$?
    set -e
    if [ "$status" -gt 1 ]; then
        cat "$log" >&2
        rm -f "$log"
        return 1
    fi
    python3 - "$log" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
hunted = re.search(r"in ([0-9.]+)s \(([0-9.]+) MB/s, ([0-9]+) events/s\): ([0-9]+) detections", text)
peak = re.search(r"Maximum resident set size \(kbytes\): ([0-9]+)", text)
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([0-9.]+)", text)
hours, minutes, seconds = (float(x) if x else 0.0 for x in wall.groups())
loaded = re.search(r"rules: ([0-9]+) loaded, ([0-9]+) correlation, ([0-9]+) skipped", text)
cpu = float(re.search(r"User time \(seconds\): ([0-9.]+)", text).group(1)) + float(re.search(r"System time \(seconds\): ([0-9.]+)", text).group(1))
megabytes = float(hunted.group(1)) * float(hunted.group(2))
print(hunted.group(1), hunted.group(2), hunted.group(3), hunted.group(4), int(peak.group(1)) // 1024,
      round(hours * 3600 + minutes * 60 + seconds, 2), loaded.group(1) if loaded else "-", loaded.group(3) if loaded else "-",
      round(cpu, 2), round(megabytes / cpu, 1))
EOF
    rm -f "$log"
}

median_report() {
    local name=$1
    shift
    local results=()
    for _ in $(seq "$runs"); do
        results+=("$(measure "$@")")
    done
    printf '%s\n' "${results[@]}" | sort -n -k1 | awk -v name="$name" -v count="$runs" '
        NR == int((count + 1) / 2) {
            printf "%s: hunt %.2f s (process %.2f s wall, %.2f CPU s), %.1f MB/s, %d events/s, %d detections, peak %d MiB, %.1f MB per CPU second", name, $1, $6, $9, $2, $3, $4, $5, $10
            if ($7 != "-") printf ", rules loaded %d skipped %d", $7, $8
            printf " (median of %d)\n", count
        }'
}

median_report "sigma over evtx" "${rule_args[@]}" "$work/evtx"
median_report "indicator sweep over cloudtrail" --indicators "$work/indicators.txt" "$work/cloudtrail"
# The same sweep with 100 of the indicators replaced by IPv4 networks.
head -n 9900 "$work/indicators.txt" >"$work/indicators-cidr.txt"
python3 -c 'import random; r = random.Random(3); print("\n".join("cidr:%d.%d.0.0/16" % (r.randrange(11, 250), r.randrange(0, 255)) for _ in range(100)))' >>"$work/indicators-cidr.txt"
median_report "indicator sweep with 100 networks" --indicators "$work/indicators-cidr.txt" "$work/cloudtrail"
