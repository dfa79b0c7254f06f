#!/bin/bash
# route 2 extra: deterministic paper's init reference and a smaller noise (tau 0.1), depths 10 and 20
cd /work/main
while pgrep -f "route2/run.sh" >/dev/null; do sleep 10; done
for spec in "paper_deterministic:" "paper_escape_tau0.1:--firing escape --escape-noise 0.1"; do
  name=${spec%%:*}; flags=${spec#*:}
  for D in 10 20; do
    start=$(date +%s)
    out=$(nice -n 10 timeout 1800 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 1 --width 100 --steps 8 --threads 1 --quiet --depth $D --log-path /work/sweeps/route2/${name}_d${D}.jsonl --init micheli $flags 2>&1)
    echo "$name d$D wall $(( $(date +%s) - start )) s: $out" >> /work/sweeps/route2/summary.txt
  done
done
