#!/usr/bin/env bash
# One GPU check, built to run on a GPU server that builds nothing: it takes a release binary
# built elsewhere and the CIFAR-10 archive, and prints one table. Every step has its own time
# limit (their sum stays under 9 minutes); a step that runs out says so in its row.
#
# usage: scripts/gpu-check.sh BINARY CIFAR_ARCHIVE_OR_DATA_DIR [OUT_DIR]
#   CIFAR_ARCHIVE_OR_DATA_DIR: the shared JPEG archive cifar10-jpeg.tar.gz, with its converter
#   cifar10_jpeg_to_bin.py beside it (as in ../shared/data), or a folder that holds
#   cifar-10-batches-bin/.
# Env: PYTHON (default python3), with torch, numpy and pillow for the converter and PyTorch rows;
#   GPU_CHECK_DEVICE (default cuda) and GPU_CHECK_EXTRA (extra flags for every cifar-tui
#   command, e.g. "--train-limit 256") to try the script itself on a machine without a GPU.
set -uo pipefail
bin=$(realpath "$1"); src=$(realpath "$2"); out=$(realpath -m "${3:-gpu-check-out}")
here=$(cd "$(dirname "$0")" && pwd)
py=${PYTHON:-python3}
mkdir -p "$out"

if [ -d "$src" ]; then
    data=$src
else
    data=$out/data
    conv=$(dirname "$src")/cifar10_jpeg_to_bin.py
    [ -d "$data/cifar-10-batches-bin" ] || "$py" "$conv" "$data" >"$out/convert.log" 2>&1 \
        || { echo "cannot convert $src with $conv (see $out/convert.log)"; exit 1; }
fi

# Times one command: seconds to its first epoch line, to the end, and its exit status.
# A fresh HOME and XDG folders give it a machine that has never run cifar-tui.
timed() { # name, limit_s, fresh(0|1), command...
    local name=$1 limit=$2 fresh=$3; shift 3
    "$py" - "$out/$name" "$limit" "$fresh" "$@" <<'PY'
import json, os, subprocess, sys, tempfile, time, threading
log, limit, fresh, cmd = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", sys.argv[4:]
env = dict(os.environ)
home = tempfile.mkdtemp(prefix="cifar-tui-fresh-") if fresh else os.environ.get("GPU_CHECK_HOME")
if home:
    env.update(HOME=home, XDG_CACHE_HOME=home + "/cache", XDG_DATA_HOME=home + "/share",
               XDG_CONFIG_HOME=home + "/config")
t0 = time.monotonic()
marks = {}
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                     cwd=home or None)
def watch(stream, name):
    with open(f"{log}.{name}", "w") as f:
        for line in stream:
            f.write(f"{time.monotonic() - t0:8.2f} {line}")
            if "training on" in line:
                marks.setdefault("first_progress", time.monotonic() - t0)
            # The warm-up phase: its start and end ("preparing GPU kernels k/n").
            if "preparing GPU kernels " in line:
                done, total = line.split("preparing GPU kernels ")[1].split()[0].split("/")
                marks.setdefault("warmup_start", time.monotonic() - t0)
                if done == total:
                    marks["warmup_end"] = time.monotonic() - t0
            if line.startswith("{") and '"epoch"' in line:
                marks.setdefault("first_epoch", time.monotonic() - t0)
threads = [threading.Thread(target=watch, args=(s, n)) for s, n in ((p.stdout, "out"), (p.stderr, "err"))]
for t in threads: t.start()
try:
    rc = p.wait(timeout=limit)
except subprocess.TimeoutExpired:
    p.kill(); rc = "timeout"
for t in threads: t.join()
marks.update(seconds=round(time.monotonic() - t0, 1), rc=rc)
print(json.dumps({k: (round(v, 1) if isinstance(v, float) else v) for k, v in marks.items()}))
PY
}

# shellcheck disable=SC2206
run=("$bin" --data "$data" --device "${GPU_CHECK_DEVICE:-cuda}" ${GPU_CHECK_EXTRA:-})
row() { printf '| %-44s | %-40s |\n' "$1" "$2"; }

echo "## cifar-tui GPU check, $(date -u +%FT%TZ), $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)"
cold=$(timed cold 180 1 "${run[@]}" run --headless --preset baseline --epochs 1)
export GPU_CHECK_HOME=$(mktemp -d)
# One untimed warm-up so that the warm rows run with this machine's caches filled.
timed warmup 240 0 "${run[@]}" run --headless --preset baseline --epochs 1 >/dev/null
warm=$(timed warm 90 0 "${run[@]}" run --headless --preset baseline --epochs 10)
for n in 1 4 8; do
    if "$bin" study --help 2>/dev/null | grep -q -- --parallel; then
        eval "study_$n=\$(timed study-p$n 150 0 \"\${run[@]}\" study --headless --parallel $n)"
    else
        eval "study_$n='{\"rc\": \"--parallel not built\"}'"
    fi
done
if "$bin" study --help 2>/dev/null | grep -q -- --seeds; then
    seeds=$(timed study-5seeds 240 0 "${run[@]}" study --headless --parallel 8 --seeds 5)
else
    seeds='{"rc": "--seeds not built"}'
fi
# Runs side by side must give their solo figures exactly: every epoch line of the study at
# parallel 4 and 8 (and seed 1 of the 5-seed study) against the study at parallel 1.
same_as_solo() { # the log of a parallel study
    "$py" - "$out/study-p1.out" "$1" <<'PY'
import json, sys
def epochs(path):
    got = {}
    try:
        for line in open(path):
            line = line.split(" ", 1)[-1].strip() if not line.startswith("{") else line
            line = line[line.find("{"):] if "{" in line else ""
            if '"epoch"' not in line:
                continue
            e = json.loads(line)
            got[(e["run"], e["seed"], e["epoch"])] = tuple(
                e[k] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"))
    except (OSError, ValueError) as why:
        print(f"unreadable: {why}")
        sys.exit(1)
    return got
solo, par = epochs(sys.argv[1]), epochs(sys.argv[2])
shared = sorted(set(solo) & set(par))
differ = [k for k in shared if solo[k] != par[k]]
if not shared:
    print("nothing to compare"); sys.exit(1)
if differ:
    r, s, e = differ[0]
    print(f"DIFFER in {len(differ)} of {len(shared)} epochs, first {r} seed {s} epoch {e}: "
          f"{solo[differ[0]]} vs {par[differ[0]]}")
    sys.exit(1)
print(f"same: {len(shared)} epochs equal")
PY
}
same_4=$(same_as_solo "$out/study-p4.out"); ok_4=$?
same_8=$(same_as_solo "$out/study-p8.out"); ok_8=$?
same_5=$(same_as_solo "$out/study-5seeds.out"); ok_5=$?
torch_study=$(timeout 150 "$py" "$here/torch_study_gpu.py" --data "$data" 2>"$out/torch-study.err" | tail -1)
torch_base=$(timeout 60 "$py" "$here/torch_study_gpu.py" --data "$data" --scenarios baseline 2>>"$out/torch-study.err" | head -1)

echo
row "what" "measured (seconds from start; rc = exit)"
row "---" "---"
row "cold: first progress, warm-up, first epoch (fresh HOME)" "$cold"
row "warm: baseline, 10 epochs" "$warm"
row "study, 8 scenarios x 10 epochs, parallel 1" "$study_1"
row "study, parallel 4" "$study_4"
row "study, parallel 8" "$study_8"
row "study, 8 scenarios x 5 seeds, parallel 8" "$seeds"
row "parallel 4 = solo (every epoch's figures)" "$same_4"
row "parallel 8 = solo" "$same_8"
row "8 x 5 seeds, seed 1 = solo" "$same_5"
row "PyTorch eager, data on GPU: baseline 10 ep" "${torch_base:-failed, see torch-study.err}"
row "PyTorch eager, data on GPU: the study" "${torch_study:-failed, see torch-study.err}"
echo
echo "Targets (issue 7): cold first epoch <= 15 s; warm seed run <= 10 s; study <= 60 s; 8 x 5"
echo "seeds <= 180 s; each >= 2x PyTorch eager with the data on the GPU run one after another."
echo "Logs per step (stdout/stderr with timestamps) in $out."
if [ $ok_4 -ne 0 ] || [ $ok_8 -ne 0 ] || [ $ok_5 -ne 0 ]; then
    echo "FAILED: runs side by side on the GPU gave other figures than alone (rows above)"
    exit 1
fi
