#!/usr/bin/env bash
# Idempotent set-up of the t2g workspace: .venv with the pinned dependencies, the t2g_msgs message
# package built into it with cmake, and t2g itself installed editable.
#
# A stamp file holds a hash of everything the set-up depends on; when it matches and the venv imports
# cleanly, the script exits in seconds. A failed step leaves no stamp, so the next run redoes the work
# instead of trusting a half-built venv.
#
# Last, scripts/prebuild_exports.sh builds the onnxruntime exports of the shipped checkpoints (the
# node's default backend) into the export cache: once (~10 s each), then a stamp check of a few ms.
# T2G_SETUP_EXPORT=0 skips it; a failure there only warns (the node then builds it on first start).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
STAMP="$VENV/.t2g-setup.sha256"
BUILD="$ROOT/.t2g_build"
PY="${T2G_PYTHON:-python3.11}"

say() { printf '[t2g setup] %s\n' "$*"; }
die() { printf '[t2g setup] ERROR: %s\n' "$*" >&2; exit 1; }
trap 'die "step failed (line $LINENO): the venv is not marked ready; rerun after fixing the cause"' ERR

# --- prerequisites: name exactly what to install
command -v "$PY" >/dev/null 2>&1 || PY=python3
command -v "$PY" >/dev/null 2>&1 || die "Python 3.11 not found. Install python3.11 with venv support (Debian: apt-get install python3.11 python3.11-venv python3.11-dev), or set T2G_PYTHON."
pyver="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
[ "$pyver" = "3.11" ] || die "Python 3.11 is required (the ROS 2 Kilted ros-* wheels are cp311); $PY is $pyver. Install python3.11 or set T2G_PYTHON=/path/to/python3.11."
"$PY" -c 'import venv, ensurepip' 2>/dev/null || die "$PY lacks venv/ensurepip. Install python3.11-venv."
"$PY" -c 'import sysconfig, os, sys; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h")))' \
  || die "Python headers not found (Python.h). Install python3.11-dev."
command -v cmake >/dev/null 2>&1 || die "cmake not found. Install cmake >= 3.16 (Debian: apt-get install cmake)."
command -v cc >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || die "No C compiler found. Install gcc (Debian: apt-get install build-essential)."
command -v c++ >/dev/null 2>&1 || command -v g++ >/dev/null 2>&1 || die "No C++ compiler found. Install g++ (Debian: apt-get install build-essential)."
command -v make >/dev/null 2>&1 || die "make not found. Install make (Debian: apt-get install build-essential)."

# --- skip everything when nothing changed
inputs_hash() {
  (cd "$ROOT" && cat requirements/lock.txt requirements/python.txt requirements/nodeps.txt scripts/setup.sh scripts/fix_wheel_cmake.py \
     setup.py setup.cfg package.xml t2g_msgs/CMakeLists.txt t2g_msgs/package.xml t2g_msgs/msg/*.msg \
     && "$PY" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1
}
want="$(inputs_hash)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && ROS_AUTOMATIC_DISCOVERY_RANGE=OFF "$VENV/bin/python" -c 'import t2g_core, t2g_ros, rclpy, t2g_msgs.msg' >/dev/null 2>&1; then
  say "up to date ($VENV)"
  bash "$ROOT/scripts/prebuild_exports.sh" "$VENV"
  exit 0
fi
rm -f "$STAMP"

# --- venv (recreated only if its interpreter is broken or of another version)
if [ -x "$VENV/bin/python" ] && [ "$("$VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "3.11" ]; then
  say "reusing $VENV"
else
  say "creating $VENV"
  rm -rf "$VENV"
  "$PY" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# pip prints a warning for each unreachable extra index configured on some machines; keep the log readable.
quiet_pip() { "${PIP[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

say "installing pinned dependencies (first run: ~1-2 min)"
quiet_pip install -q -r "$ROOT/requirements/lock.txt"
quiet_pip install -q --no-deps -r "$ROOT/requirements/nodeps.txt"

say "fixing the ROS wheels' exported CMake include paths"
"$VENV/bin/python" "$ROOT/scripts/fix_wheel_cmake.py" "$VENV"

say "building t2g_msgs into the venv"
rm -rf "$BUILD/t2g_msgs"; mkdir -p "$BUILD"
(
  export VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV"
  cmake -S "$ROOT/t2g_msgs" -B "$BUILD/t2g_msgs" -DCMAKE_INSTALL_PREFIX="$VENV" -DCMAKE_PREFIX_PATH="$VENV" \
    -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF >"$BUILD/t2g_msgs.log" 2>&1 \
    && cmake --build "$BUILD/t2g_msgs" -j"$(nproc)" >>"$BUILD/t2g_msgs.log" 2>&1 \
    && cmake --install "$BUILD/t2g_msgs" >>"$BUILD/t2g_msgs.log" 2>&1
) || { tail -n 30 "$BUILD/t2g_msgs.log" >&2; die "building t2g_msgs failed; full log: $BUILD/t2g_msgs.log"; }

say "installing t2g (editable)"
quiet_pip install -q --no-deps --no-build-isolation -e "$ROOT"

say "checking the installation"
ROS_AUTOMATIC_DISCOVERY_RANGE=OFF "$VENV/bin/python" -c 'import t2g_core, t2g_ros, rclpy, t2g_msgs.msg, torch, onnxruntime, rosbags, efficientnet_lite_pytorch'

echo "$want" >"$STAMP"
say "ready ($VENV)"
bash "$ROOT/scripts/prebuild_exports.sh" "$VENV"
