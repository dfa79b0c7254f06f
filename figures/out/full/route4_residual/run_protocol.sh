#!/bin/bash
# route 4 protocol (h14_common.md): one run at a time, smallest depth first
cd /work/main
run() { # name depth flags...
  name=$1; D=$2; shift 2
  start=$(date +%s.%N)
  out=$(nice -n 10 timeout 1800 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 1 --width 100 --steps 8 --threads 1 --quiet --depth $D --log-path figures/out/full/route4_residual/${name}_d$D.jsonl "$@" 2>&1 | tail -1)
  end=$(date +%s.%N)
  echo "$name d$D $(echo "$end - $start" | bc) s $out  flags: $*" >> figures/out/full/route4_residual/protocol.txt
}
for D in 10 20 50 100; do run sew_add $D --architecture sew_add --init sew_add; done
for D in 10 20 50 100; do run micheli_sewsqrt $D --architecture sew_add --init micheli; done
for D in 10 20 50 100; do run plain_micheli $D --init micheli; done
