#!/usr/bin/env bash
# make train-demo-model: reproduce the embedded demo model (vjepa2/models/demo/) from nothing.
#
#   1. data        vjepa2-collect-sim: seeded play episodes in the reach box (stereo pair, 208 px per view)
#   2. encoder     vjepa2-pretrain --config vjepa2_training/config/demo_pretrain.yaml (V-JEPA 2 masked latents)
#   3. gate        benchmarks/oracle_gate.py: the encoder's goal-image energy must rank distance (stops here if not)
#   4. predictor   vjepa2-train-ac --config vjepa2_training/config/demo_ac.yaml (frozen encoder, AC post-training)
#   5. ranking     benchmarks/predictor_ranking.py: the predictor's energy of candidate actions vs the true outcome
#   6. export      python -m vjepa2_training.eval.export: encoder.* (EMA target encoder) + predictor.* -> MODEL_DIR
#
# Every stage resumes: the collector skips the episodes it wrote, both trainers continue from their latest.pt
# (a finished run returns at once), the benchmarks are skipped while their JSON is newer than the checkpoint
# they measured. Interrupt it at any point and run it again. Training uses a GPU when one is present
# (DEVICE=auto); the benchmarks run on the CPU.
#
# Settings (environment or make variables, e.g. `make train-demo-model PRETRAIN_STEPS=30000`):
#   RUN_DIR         runs/demo          where the data, the runs and the benchmark results go
#   EPISODES        840                play episodes (x 24 steps = 20160 transitions)
#   WORKERS         2                  simulator processes for the data
#   PRETRAIN_STEPS  300                encoder pretraining steps (the shipped encoder: 300; constant LR after warmup)
#   AC_STEPS        1500               AC predictor steps (the shipped predictor: 1500, the last 300 annealed)
#   DEVICE          auto               training device: auto (a GPU when present), cpu, cuda, cuda:N
#   THREADS         2                  torch threads of the trainers and the benchmarks
#   MODEL_DIR       vjepa2/models/demo where the exported model goes (what make demo loads)
#   FORCE_GATE      0                  1: go on to the predictor even when the oracle gate fails
#   COLLECT_ARGS, PRETRAIN_ARGS, GATE_ARGS, AC_ARGS, RANKING_ARGS   more arguments for that stage's command
#                   (e.g. GATE_ARGS="--goals 12", PRETRAIN_ARGS="--set run.batch_size=32")
set -euo pipefail

RUN_DIR=${RUN_DIR:-runs/demo}
EPISODES=${EPISODES:-840}
WORKERS=${WORKERS:-2}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-300}
AC_STEPS=${AC_STEPS:-1500}
DEVICE=${DEVICE:-auto}
THREADS=${THREADS:-2}
MODEL_DIR=${MODEL_DIR:-vjepa2/models/demo}
FORCE_GATE=${FORCE_GATE:-0}
read -ra COLLECT_EXTRA <<<"${COLLECT_ARGS:-}"
read -ra PRETRAIN_EXTRA <<<"${PRETRAIN_ARGS:-}"
read -ra GATE_EXTRA <<<"${GATE_ARGS:-}"
read -ra AC_EXTRA <<<"${AC_ARGS:-}"
read -ra RANKING_EXTRA <<<"${RANKING_ARGS:-}"

DATA="$RUN_DIR/sim_play"
PRETRAIN="$RUN_DIR/pretrain"
AC="$RUN_DIR/ac"
CONFIGS=vjepa2_training/config
STARTED=$SECONDS

stage() { printf '\n\033[1m[train-demo-model] %s\033[0m (%d s so far)\n' "$1" $((SECONDS - STARTED)); }
fail() { printf '[train-demo-model] %s\n' "$1" >&2; exit 1; }
# a trainer's exit status: 0 done, 3 stopped early (resume by running again), 2 bad config/data/checkpoint
train() {
    local status=0
    "$@" || status=$?
    [ "$status" -eq 0 ] && return 0
    [ "$status" -eq 3 ] && fail "$1 stopped before its last step; run make train-demo-model again to resume"
    fail "$1 failed (exit $status); see its message above"
}
# true when $1 exists and is newer than $2
fresh() { [ -f "$1" ] && [ "$1" -nt "$2" ]; }

stage "1/6 data: $EPISODES play episodes -> $DATA"
vjepa2-collect-sim -o "$DATA" --episodes "$EPISODES" --workers "$WORKERS" "${COLLECT_EXTRA[@]}" \
    || fail "vjepa2-collect-sim reported failed episodes; run make train-demo-model again to retry them"

stage "2/6 encoder: $PRETRAIN_STEPS pretraining steps -> $PRETRAIN"
train vjepa2-pretrain --config "$CONFIGS/demo_pretrain.yaml" --set "data.roots=[$DATA]" \
    --set "run.run_dir=$PRETRAIN" --set "run.total_steps=$PRETRAIN_STEPS" --set "run.device=$DEVICE" \
    --set "run.threads=$THREADS" "${PRETRAIN_EXTRA[@]}"

stage "3/6 oracle gate of the encoder -> $RUN_DIR/oracle_gate.json"
if fresh "$RUN_DIR/oracle_gate.json" "$PRETRAIN/checkpoints/latest.pt"; then
    echo "[train-demo-model] up to date: $RUN_DIR/oracle_gate.json"
else
    python benchmarks/oracle_gate.py --encoder "ckpt:$PRETRAIN" --threads "$THREADS" \
        --json "$RUN_DIR/oracle_gate.json.tmp" --plot "$RUN_DIR/oracle_gate.png" "${GATE_EXTRA[@]}"
    mv "$RUN_DIR/oracle_gate.json.tmp" "$RUN_DIR/oracle_gate.json"
fi
gate=$(python -c "import json, sys; r = json.load(open(sys.argv[1]))['results']; print(*(v['gate'] for v in r.values()))" \
    "$RUN_DIR/oracle_gate.json")
if [ "$gate" != PASS ]; then
    [ "$FORCE_GATE" = 1 ] || fail "the oracle gate says $gate ($RUN_DIR/oracle_gate.json): change the encoder, camera, \
resolution or training, not the bar (vjepa2_training/README.md, 'Before training a predictor'); FORCE_GATE=1 goes on"
    echo "[train-demo-model] the oracle gate says $gate; going on (FORCE_GATE=1)"
fi

stage "4/6 AC predictor: $AC_STEPS steps on the frozen encoder -> $AC"
train vjepa2-train-ac --config "$CONFIGS/demo_ac.yaml" --set "data.roots=[$DATA]" --set "encoder.checkpoint=$PRETRAIN" \
    --set "run.run_dir=$AC" --set "run.total_steps=$AC_STEPS" --set "run.device=$DEVICE" --set "run.threads=$THREADS" \
    "${AC_EXTRA[@]}"

stage "5/6 predictor ranking -> $RUN_DIR/predictor_ranking.json"
if fresh "$RUN_DIR/predictor_ranking.json" "$AC/checkpoints/latest.pt"; then
    echo "[train-demo-model] up to date: $RUN_DIR/predictor_ranking.json"
else
    python benchmarks/predictor_ranking.py --ac-run "$AC" --threads "$THREADS" \
        --json "$RUN_DIR/predictor_ranking.json.tmp" "${RANKING_EXTRA[@]}"
    mv "$RUN_DIR/predictor_ranking.json.tmp" "$RUN_DIR/predictor_ranking.json"
fi

stage "6/6 export: encoder + predictor -> $MODEL_DIR"
python -m vjepa2_training.eval.export --ac-run "$AC" --out "$MODEL_DIR"

cat <<EOF

[train-demo-model] done in $((SECONDS - STARTED)) s. Where to look:
  $MODEL_DIR/encoder.{safetensors,json}, predictor.{safetensors,json}   the model (metadata: provenance)
  $RUN_DIR/oracle_gate.json, oracle_gate.png                          the encoder's gate numbers
  $RUN_DIR/predictor_ranking.json                                     the predictor's ranking Spearman
  $PRETRAIN/, $AC/                                                    training logs and checkpoints
Next: make demo (runs the closed loop with $MODEL_DIR), python benchmarks/reach.py, and fill in
$MODEL_DIR/MODEL_CARD.md with these numbers.
EOF
