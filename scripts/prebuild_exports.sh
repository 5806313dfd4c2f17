#!/usr/bin/env bash
# The onnxruntime exports of the shipped checkpoints, built once into the export cache, so the node
# (model.backend onnxruntime, the default), make demo and make bench start on a ready one.
#
#   bash scripts/prebuild_exports.sh [VENV [CHECKPOINT...]]   (scripts/setup.sh runs it)
#
# Cheap when nothing changed: a stamp holds a hash of the checkpoints, the pinned versions, the export
# format and the cache folder, then the export folders built; each must still hold a manifest.json.
# The full check (every file's SHA-256, stale or corrupt -> rebuilt with the reason) happens where an
# export is opened. T2G_SETUP_EXPORT=0 skips this (tests build exports of their own tiny models). A
# failure only warns: the node then builds its export on its first start, saying so.
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
STAMP="${T2G_EXPORT_STAMP:-$VENV/.t2g-export.stamp}"
if [ $# -gt 1 ]; then
  CHECKPOINTS=("${@:2}")
else
  CHECKPOINTS=("$ROOT/checkpoints/t2g_lite0_camvid.pt" "$ROOT/checkpoints/perframe_lite0_camvid.pt")
fi

say() { printf '[t2g setup] %s\n' "$*"; }

if [ "${T2G_SETUP_EXPORT:-1}" = "0" ]; then
  say "onnxruntime exports: skipped (T2G_SETUP_EXPORT=0); the node builds its own on first start"
  exit 0
fi
present=()
for checkpoint in "${CHECKPOINTS[@]}"; do
  [ -f "$checkpoint" ] && present+=("$checkpoint")
done
if [ ${#present[@]} -eq 0 ]; then
  say "onnxruntime exports: no checkpoint to export yet"
  exit 0
fi

want="$( (cat "${present[@]}" "$ROOT/requirements/lock.txt" "$ROOT/t2g_core/export/format.py" \
  "$ROOT/t2g_core/export/quantize.py" \
  && printf '%s\n' "${present[@]}" "${T2G_EXPORT_CACHE:-}" "${XDG_CACHE_HOME:-}" "$HOME") \
  | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "$want" ]; then
  complete=1
  while IFS= read -r folder; do
    [ -f "$folder/manifest.json" ] || complete=0
  done < <(tail -n +2 "$STAMP")
  if [ "$complete" = 1 ]; then
    say "onnxruntime exports up to date"
    exit 0
  fi
fi
rm -f "$STAMP"

# One line per checkpoint on stdout (its export folder); the progress lines go to stderr.
if folders="$("$VENV/bin/python" - "${present[@]}" <<'EOF'
import sys

from t2g_core.data.calibration import camvid_calibration_frames
from t2g_core.export import CalibrationUnavailable, cached_export


def log(line: str) -> None:
    print(f"[t2g setup] {line}", file=sys.stderr, flush=True)


for checkpoint in sys.argv[1:]:
    print(cached_export(checkpoint, log=log))
# The node's default precision is int8 (make demo runs both checkpoints so): their int8 exports
# are calibrated on CamVid train frames (../shared/data, or $T2G_DATA_ROOT); without them the node
# runs fp32.
for checkpoint in sys.argv[1:]:
    try:
        print(cached_export(checkpoint, log=log, precision="int8", calibration=camvid_calibration_frames))
    except CalibrationUnavailable as exc:
        log(f"int8 export not built: {exc}")
        break
EOF
)"; then
  printf '%s\n%s\n' "$want" "$folders" >"$STAMP"
  say "onnxruntime exports ready: $(echo "$folders" | tr '\n' ' ')"
else
  say "WARNING: building the onnxruntime exports failed (above); the node builds its export on its first start instead"
fi
exit 0
