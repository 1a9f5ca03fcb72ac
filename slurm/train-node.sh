#!/usr/bin/env bash
# slurm/train-node.sh - one training node's part of slurm/train.slurm, started by its srun with
# one task per training node. Runs the kind's entry module (R1LAB_MODULE, from `r1lab.slurm plan`)
# under `accelerate launch` with the recipe's accelerate config, or as one python process when the
# kind says so (R1LAB_LAUNCHER=python, with R1LAB_NODE_RANK/R1LAB_NUM_NODES); this node's machine rank is its position in
# R1LAB_TRAIN_NODES (rank 0 = MASTER_ADDR).
# Usage (from train.slurm): train-node.sh <recipe> [key=value ...]
# Environment from train.slurm: R1LAB_MODULE R1LAB_LAUNCHER ACCELERATE_CONFIG DISTRIBUTED_TYPE
#   PROCS_PER_NODE R1LAB_TRAIN_NODES MASTER_ADDR MASTER_PORT
set -euo pipefail

me=${SLURMD_NODENAME:-$(hostname -s)}
read -ra nodes <<<"$R1LAB_TRAIN_NODES"
rank=-1
for i in "${!nodes[@]}"; do
  [[ ${nodes[$i]} == "$me" ]] && rank=$i
done
if (( rank < 0 )); then
  echo "[r1lab] ERROR: node $me is not one of the training nodes ($R1LAB_TRAIN_NODES)" >&2
  exit 1
fi
n=${#nodes[@]}

args=(--config_file "$ACCELERATE_CONFIG")
if [[ $DISTRIBUTED_TYPE != NO ]]; then
  args+=(--num_machines "$n" --machine_rank "$rank" --num_processes "$((n * PROCS_PER_NODE))"
    --main_process_ip "$MASTER_ADDR" --main_process_port "$MASTER_PORT")
fi
if [[ ${R1LAB_LAUNCHER:-accelerate} == python ]]; then
  # one process per node; a kind that splits its work over nodes (generate) reads its share here
  export R1LAB_NODE_RANK=$rank R1LAB_NUM_NODES=$n
  echo "[r1lab] $me: node $rank of $n: python -m $R1LAB_MODULE $*"
  exec "${R1LAB_PYTHON:-python3}" -m "$R1LAB_MODULE" "$@"
fi
echo "[r1lab] $me: machine rank $rank of $n: accelerate launch ${args[*]} -m $R1LAB_MODULE $*"
exec accelerate launch "${args[@]}" -m "$R1LAB_MODULE" "$@"
