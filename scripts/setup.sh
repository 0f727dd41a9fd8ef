#!/usr/bin/env bash
# Set up printfleet on Debian 12: system packages and a virtualenv with printfleet installed.
#
#   scripts/setup.sh          what running printfleet needs (redis-server, mosquitto, prusa-slicer)
#   scripts/setup.sh --test   also what the tests need (chromium, postgresql, a separate OctoPrint venv)
#
# Safe to run again: it installs only what is missing. Starts no service.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=run
case "${1:-}" in
  "") ;;
  --test) mode=test ;;
  *) echo "usage: scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

python=${PYTHON:-python3}
packages=(python3-venv python3-dev build-essential redis-server mosquitto prusa-slicer)
if [ "$mode" = test ]; then
  packages+=(mosquitto-clients postgresql chromium fonts-dejavu-core)
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  echo "setup: printfleet needs Python 3.11 or newer ($python is $("$python" -V 2>&1))" >&2
  exit 2
fi

if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
extra=""
if [ "$mode" = test ]; then extra="[test]"; fi
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e ".${extra}"

if [ "$mode" = test ]; then
  # OctoPrint 1.11 with its Virtual Printer, in its own venv (its pins must not touch printfleet's).
  if [ ! -x .venv-octoprint/bin/octoprint ]; then
    "$python" -m venv .venv-octoprint
    .venv-octoprint/bin/pip install -q --upgrade pip >/dev/null
    .venv-octoprint/bin/pip install -q "octoprint==1.11.8" "paho-mqtt>=2,<3"
  fi
fi
echo "setup: done ($mode). printfleet: .venv/bin/printfleet"
