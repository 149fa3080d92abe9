#!/usr/bin/env bash
# The system tools the tests use that a Python virtual environment cannot hold: the deploy/ validators
# (docker-compose checks the compose file without an engine; systemd-analyze verifies the units).
# Installed from Debian's packages when missing; `make test` runs this before pytest.
set -euo pipefail

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "the tests need ${missing[*]} (Debian packages); install them with:" >&2
  echo "    sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "installing ${missing[*]} (Debian) for the deploy/ validation tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
