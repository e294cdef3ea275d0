#!/usr/bin/env bash
# Regenerate a shipped world: collect -> codec -> teacher [-> grow] -> distil -> refine -> heads -> package -> eval -> card.
#
#   scripts/train_world.sh carracing            # the default world
#   scripts/train_world.sh doom                 # the game world
#   FRAMES=20000 TEACHER_STEPS=500 scripts/train_world.sh toy   # a quick smoke run
#
# Every stage writes atomically and resumes: re-running the same command after a kill (or a session ending)
# continues where it stopped and skips finished stages. Budgets are environment variables, so a GPU machine
# can use a bigger recipe than a CPU one (the model card records what was used):
#   FRAMES (100000)  WORKERS (2)  CODEC_STEPS (3000)  TEACHER_STEPS (the config's)  DISTILL_STEPS (2000)
#   REFINE_STEPS (2000; 0 ships the student without a refiner)  HEADS_STEPS (2000; 0 keeps the heads trained
#   beside the dynamics)  THREADS (2)  DEVICE (auto)  RUNS (runs/<world>)
#   EXTRA (more key=value overrides for `worldsim train`)
#   GROW_CONFIG (configs/grow/<world>.yaml if present: the teacher is trained on before distilling, grown deeper
#   where the file says so;
#   see docs/model.md, "Growing a trained world deeper")
#   SAMPLING (configs/ship/<world>.yaml if present: the sampling defaults shipped in the world file, e.g. action
#   guidance and pixel hold; the student evaluations run the packaged file, so they measure what ships)
set -euo pipefail

WORLD=${1:?usage: scripts/train_world.sh WORLD}
FRAMES=${FRAMES:-100000}
WORKERS=${WORKERS:-2}
CODEC_STEPS=${CODEC_STEPS:-3000}
DISTILL_STEPS=${DISTILL_STEPS:-2000}
REFINE_STEPS=${REFINE_STEPS:-2000}
HEADS_STEPS=${HEADS_STEPS:-2000}
THREADS=${THREADS:-2}
DEVICE=${DEVICE:-auto}
RUNS=${RUNS:-runs/$WORLD}
DATA=${DATA:-data/$WORLD}
CONFIG=${CONFIG:-configs/$WORLD.yaml}
# Optional per-world recipes for the codec and the refiner (e.g. a loss weight on an instrument strip).
CODEC_CONFIG=${CODEC_CONFIG:-configs/codec/$WORLD.yaml}
REFINE_CONFIG=${REFINE_CONFIG:-configs/refine/$WORLD.yaml}
EXTRA=${EXTRA:-}
SAMPLING=${SAMPLING:-configs/ship/$WORLD.yaml}
GROW_CONFIG=${GROW_CONFIG:-configs/grow/$WORLD.yaml}

stage() { printf '\n== %s: %s ==\n' "$WORLD" "$1"; }

stage "collect $FRAMES frames"
worldsim collect "$WORLD" --frames "$FRAMES" --workers "$WORKERS" --out "$DATA" --seed 0
worldsim data validate "$DATA"

stage "codec ($CODEC_STEPS steps)"
if [[ ! -f $RUNS/codec/codec_eval.json ]] || ! grep -q "\"step\": $CODEC_STEPS," "$RUNS/codec/codec_eval.json"; then
  codec_args=()
  [[ -f $CODEC_CONFIG ]] && codec_args=(--config "$CODEC_CONFIG")
  worldsim train-codec "$DATA" --out "$RUNS/codec" --steps "$CODEC_STEPS" --threads "$THREADS" --device "$DEVICE" \
    "${codec_args[@]}"
fi

stage "teacher"
teacher_args=(--config "$CONFIG" --codec "$RUNS/codec/codec.safetensors" --out "$RUNS/teacher" --device "$DEVICE")
[[ -n ${TEACHER_STEPS:-} ]] && teacher_args+=(--steps "$TEACHER_STEPS")
# shellcheck disable=SC2086  # EXTRA is a list of key=value overrides
worldsim train "$DATA" "${teacher_args[@]}" threads="$THREADS" $EXTRA

TEACHER=$RUNS/teacher/world.safetensors
if [[ -f $GROW_CONFIG ]]; then
  stage "grow the teacher ($GROW_CONFIG)"
  worldsim train "$DATA" --config "$GROW_CONFIG" --out "$RUNS/grown" --device "$DEVICE" init_from="$TEACHER" \
    threads="$THREADS"
  TEACHER=$RUNS/grown/world.safetensors
fi

stage "distil ($DISTILL_STEPS steps)"
worldsim distill "$TEACHER" --data "$DATA" --out "$RUNS/student" --steps "$DISTILL_STEPS" \
  --device "$DEVICE" threads="$THREADS"

SHIP=$RUNS/student/world.safetensors
if (( REFINE_STEPS > 0 )); then
  stage "refine ($REFINE_STEPS steps)"
  refine_args=()
  [[ -f $REFINE_CONFIG ]] && refine_args=(--config "$REFINE_CONFIG")
  worldsim refine "$SHIP" --data "$DATA" --out "$RUNS/refined" --steps "$REFINE_STEPS" --device "$DEVICE" \
    "${refine_args[@]}" threads="$THREADS"
  SHIP=$RUNS/refined/world.safetensors
fi

if (( HEADS_STEPS > 0 )); then
  stage "heads ($HEADS_STEPS steps)"
  worldsim heads "$SHIP" --data "$DATA" --out "$RUNS/heads" --steps "$HEADS_STEPS" --device "$DEVICE" \
    threads="$THREADS"
  SHIP=$RUNS/heads/world.safetensors
fi

stage "package"
sampling_args=()
[[ -f $SAMPLING ]] && sampling_args=(--sampling "$SAMPLING")
python scripts/package_world.py "$SHIP" --data "$DATA" --name "$WORLD" "${sampling_args[@]}"
SHIPPED=$(python -c "from worldsim.assets import assets_dir; print(assets_dir() / '$WORLD' / 'world.safetensors')")

stage "eval"
# The first evaluation trains the inverse-dynamics classifier; the others reuse it, so their rows compare.
IDM=$RUNS/eval-student4/idm.safetensors
for steps in 4 2 1; do
  idm_args=()
  [[ -f $IDM ]] && idm_args=(--idm "$IDM")
  worldsim eval "$SHIPPED" --data "$DATA" --out "$RUNS/eval-student$steps" --steps "$steps" --device "$DEVICE" \
    "${idm_args[@]}"
done
worldsim eval "$TEACHER" --data "$DATA" --out "$RUNS/eval-teacher" --device "$DEVICE" --idm "$IDM"

stage "model card"
python scripts/model_card.py "$WORLD" --runs "$RUNS" --data "$DATA" --teacher "$TEACHER" --student "$SHIP"
