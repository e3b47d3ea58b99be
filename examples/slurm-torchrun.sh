#!/bin/bash
# gankit on several GPU nodes with Slurm: srun starts one torchrun per node, and each torchrun
# starts one gankit process per GPU (cuda:LOCAL_RANK). Submit with: sbatch examples/slurm-torchrun.sh
# Resume after a crash or a time limit with the same script and RESUME=runs/<name>, on any number
# of nodes: the global batch and the data order do not depend on the number of processes.
#SBATCH --job-name=gankit
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=32
#SBATCH --time=12:00:00
#SBATCH --output=%x-%j.out

set -euo pipefail

GPUS_PER_NODE=${GPUS_PER_NODE:-8}              # as --gpus-per-node above
RUN=${RUN:-runs/dcgan-$SLURM_JOB_ID}
HEAD_NODE=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
export OMP_NUM_THREADS=$((SLURM_CPUS_PER_TASK / GPUS_PER_NODE))

if [[ -n "${RESUME:-}" ]]; then
    WHAT=(dcgan --resume "$RESUME")
else
    WHAT=(dcgan --batch-size 1024 --steps 20000 --out "$RUN")  # the global batch: 32 GPUs x 32
fi

# The c10d rendezvous on the first node; every process reaches it through the job's network.
srun torchrun \
    --nnodes "$SLURM_NNODES" \
    --nproc_per_node "$GPUS_PER_NODE" \
    --rdzv-id "$SLURM_JOB_ID" \
    --rdzv-backend c10d \
    --rdzv-endpoint "$HEAD_NODE:29500" \
    -m gankit train "${WHAT[@]}" --set train.dist_timeout=900
