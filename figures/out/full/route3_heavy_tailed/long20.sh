#!/bin/bash
cd /work/main
for spec in "stable_g30:--init stable --weight-gain 3.0" "micheli:--init micheli" "stable_r005:--init stable --weight-rate 0.05"; do
  name=${spec%%:*}; flags=${spec#*:}
  start=$(date +%s)
  nice -n 10 timeout 1500 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 5 --width 100 --steps 8 --threads 1 --quiet --depth 20 --log-path /work/sweeps/route3/${name}_d20_5ep.jsonl $flags > /work/sweeps/route3/${name}_d20_5ep.out 2>&1
  echo "$name depth 20 5 epochs rc $? wall $(( $(date +%s) - start )) s flags: $flags $(tail -1 /work/sweeps/route3/${name}_d20_5ep.out)" >> /work/sweeps/route3/summary_5ep.txt
done
