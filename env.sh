# Source me (bash): the venv, the built workspace, and safe DDS defaults.
#   source env.sh
_vjepa2_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")" && pwd)
export VJEPA2_ROOT=$_vjepa2_root
export VIRTUAL_ENV=${VJEPA2_VENV:-$_vjepa2_root/.venv}
case ":$PATH:" in *":$VIRTUAL_ENV/bin:"*) ;; *) export PATH=$VIRTUAL_ENV/bin:$PATH ;; esac
# The ROS 2 wheels live in the venv: it must be on the ament index before the workspace overlay.
case ":${AMENT_PREFIX_PATH:-}:" in *":$VIRTUAL_ENV:"*) ;; *) export AMENT_PREFIX_PATH=$VIRTUAL_ENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH} ;; esac
if [ -f "$_vjepa2_root/install/setup.bash" ]; then
  # shellcheck disable=SC1091
  source "$_vjepa2_root/install/setup.bash"
else
  echo "env.sh: the workspace is not built yet; run 'make setup'" >&2
fi
# This checkout's vjepa2_core wins over any other copy the interpreter may know (node executables are run by
# the interpreter colcon was run with, whose editable install may point at another checkout).
case ":${PYTHONPATH:-}:" in *":$_vjepa2_root/vjepa2_core:"*) ;; *) export PYTHONPATH=$_vjepa2_root/vjepa2_core${PYTHONPATH:+:$PYTHONPATH} ;; esac
# Command-line tools (vjepa2-launch, vjepa2-record, ...) live next to the node executables.
for _vjepa2_bin in "$_vjepa2_root"/install/*/lib/vjepa2*/; do
  if compgen -G "${_vjepa2_bin}vjepa2-*" >/dev/null; then
    case ":$PATH:" in *":${_vjepa2_bin%/}:"*) ;; *) PATH=${_vjepa2_bin%/}:$PATH ;; esac
  fi
done
export PATH
unset _vjepa2_bin
# DDS discovery stays on this host: Fast DDS otherwise multicasts out of every interface. A multi-machine
# robot set-up sets ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET explicitly.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export RMW_IMPLEMENTATION=${RMW_IMPLEMENTATION:-rmw_fastrtps_cpp}
# Offscreen rendering for the MuJoCo simulator (Mesa EGL works headless on CPU).
export MUJOCO_GL=${MUJOCO_GL:-egl}
unset _vjepa2_root
