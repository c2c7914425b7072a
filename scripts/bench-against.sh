#!/bin/bash
# Speed of two cifar-tui builds on the same machine in one run: `cifar-tui bench --no-reference`
# of each, alternated REPS times (so drift and load hit both alike), then the medians and the
# ratio new/old of the bare training step, the end-to-end epoch and the evaluation.
# usage: scripts/bench-against.sh OLD_BINARY NEW_BINARY DATA_DIR [REPS=3]
set -euo pipefail
old=$1 new=$2 data=$3 reps=${4:-3}
out=$(mktemp -d)
# A settings file both builds read (an older build refuses keys it does not know).
printf '[app]\ndevice = "cpu"\n' > "$out/config.toml"
for k in $(seq "$reps"); do
  for b in old new; do
    bin=${!b}
    "$bin" bench --config "$out/config.toml" --data "$data" --device cpu --no-reference \
      --reps 1 --json "$out/$b-$k.json" 2>&1 | grep 'rep 1/1' | sed "s/^/$b: /"
  done
done
python3 - "$out" "$reps" <<'PY'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
keys = ("bare_step", "epoch", "eval")
med = {}
for b in ("old", "new"):
    runs = [json.load(open(f"{out}/{b}-{k}.json"))["cifar_tui"]["median"] for k in range(1, reps + 1)]
    med[b] = {k: statistics.median(r[k] for r in runs) for k in keys}
    spread = ", ".join(f"{k} {min(r[k] for r in runs):.0f}-{max(r[k] for r in runs):.0f}" for k in keys)
    print(f"{b}: " + ", ".join(f"{k} {med[b][k]:.0f} img/s" for k in keys) + f" (range: {spread})")
print("new/old: " + ", ".join(f"{k} {med['new'][k] / med['old'][k]:.3f}x" for k in keys))
PY
