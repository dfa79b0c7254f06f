#!/bin/bash
# after the depth-100 protocol run: the paper's init in the sew_add architecture at depth 100 (control),
# then the long run (depth 100, all of MNIST, 10 epochs, checkpointed)
cd /work/main
while kill -0 7085 2>/dev/null; do sleep 5; done
run() { name=$1; D=$2; shift 2; start=$(date +%s.%N)
  out=$(nice -n 10 timeout 1800 python -m simulate.train --dataset mnist --train-size 10000 --test-size 2000 --epochs 1 --width 100 --steps 8 --threads 1 --quiet --depth $D --log-path figures/out/full/route4_residual/${name}_d$D.jsonl "$@" 2>&1 | tail -1)
  end=$(date +%s.%N); echo "$name d$D $(echo "$end - $start" | bc) s $out  flags: $*" >> figures/out/full/route4_residual/protocol.txt; }
run micheli_sewsqrt 100 --architecture sew_add --init micheli
start=$(date +%s)
nice -n 10 timeout 6000 python -m simulate.train --dataset mnist --epochs 10 --width 100 --steps 8 --threads 1 --quiet --depth 100 \
  --architecture sew_add --init sew_add --schedule-per epoch --t-max 10 \
  --log-path figures/out/full/route4_residual/long_d100.jsonl --checkpoint-path figures/out/full/route4_residual/long_d100.npz \
  --network-path figures/out/full/route4_residual/long_d100_net.npz > figures/out/full/route4_residual/long_d100.out 2>&1
echo "long run exit $? after $(( $(date +%s) - start )) s" >> figures/out/full/route4_residual/long_d100.out
