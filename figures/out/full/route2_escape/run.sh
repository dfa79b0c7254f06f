#!/bin/bash
# route 2 (escape noise) protocol runs, one at a time, smallest depth first
cd /work/main
for spec in "escape_critical:escape_critical" "micheli:paper_escape"; do
  init=${spec%%:*}; name=${spec##*:}
  for D in 10 20 50 100; do
    start=$(date +%s)
    out=$(nice -n 10 timeout 1800 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 1 --width 100 --steps 8 --threads 1 --quiet --depth $D --log-path /work/sweeps/route2/${name}_d${D}.jsonl --firing escape --escape-noise 0.5 --init $init 2>&1)
    echo "$name d$D wall $(( $(date +%s) - start )) s: $out" >> /work/sweeps/route2/summary.txt
  done
done
