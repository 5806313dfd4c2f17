# shellcheck shell=bash
# Environment for every t2g command, test and script; source it after scripts/setup.sh.
#  - DDS stays on loopback: ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (Kilted ignores ROS_LOCALHOST_ONLY).
#  - Each run gets its own ROS_DOMAIN_ID unless the caller chose one, so parallel runs never cross-talk.
#  - The Fast DDS profile with a 32 MB shared-memory segment carries camera frames whole.
#  - AMENT_PREFIX_PATH lets ament_index_python find t2g_msgs and the ROS packages in the venv.
T2G_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export T2G_ROOT
export VIRTUAL_ENV="$T2G_ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
export AMENT_PREFIX_PATH="$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
export FASTDDS_DEFAULT_PROFILES_FILE="${FASTDDS_DEFAULT_PROFILES_FILE:-$T2G_ROOT/config/fastdds_large_images.xml}"
export PYTHONUNBUFFERED=1
