#!/bin/bash
# integer SEW ADD (a = 1, --branch-scaling none) with the sew_add init, the protocol at every depth
cd /work/main
while pgrep -f "route4/long_d100.jsonl" > /dev/null; do sleep 5; done
run() { name=$1; D=$2; shift 2; start=$(date +%s.%N)
  out=$(nice -n 10 timeout 1800 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 1 --width 100 --steps 8 --threads 1 --quiet --depth $D --log-path figures/out/full/route4_residual/${name}_d$D.jsonl "$@" 2>&1 | tail -1)
  end=$(date +%s.%N); echo "$name d$D $(echo "$end - $start" | bc) s $out  flags: $*" >> figures/out/full/route4_residual/protocol.txt; }
for D in 10 20 50 100; do run sew_add_none $D --architecture sew_add --init sew_add --branch-scaling none; done
