#!/bin/bash
# usage: run_protocol.sh NAME "flags" depths...
name=$1; flags=$2; shift 2
cd /work/main
for D in "$@"; do
  start=$(date +%s)
  nice -n 10 timeout 1800 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 1 --width 100 --steps 8 --threads 1 --quiet --depth $D --log-path /work/sweeps/route3/${name}_d${D}.jsonl $flags > /work/sweeps/route3/${name}_d${D}.out 2>&1
  rc=$?
  end=$(date +%s)
  echo "$name depth $D rc $rc wall $((end-start)) s flags: $flags $(tail -1 /work/sweeps/route3/${name}_d${D}.out)" >> /work/sweeps/route3/summary.txt
done
