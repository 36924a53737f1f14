#!/usr/bin/env bash
# Installs, with apt-get, whatever Debian 12 packages Vigil needs and the machine lacks.
# Sourced by scripts/run and scripts/test; safe to run again (installs nothing twice).
#   vigil_install_deps build   what building and running needs
#   vigil_install_deps test    plus what the test suite drives (promtool, clang, ...)
set -euo pipefail

vigil_install_deps() {
  local mode="${1:-build}"
  local packages=(cmake ninja-build g++ pkg-config libboost-dev libboost-program-options-dev
                  libboost-filesystem-dev libspdlog-dev libfmt-dev nlohmann-json3-dev catch2
                  liblua5.4-dev zlib1g-dev libcurl4-openssl-dev libpq-dev libsqlite3-dev libssl-dev)
  if [[ "$mode" == test ]]; then
    # promtool (package prometheus) checks our exposition; clang builds plugins with another
    # compiler; binutils gives nm for the SDK install test.
    # PostgreSQL, Redis and the monitoring-plugins are the real things the health checks are
    # tested against; each test starts its own server in a temporary directory. The notifiers
    # are tested against a real SMTP server (aiosmtpd) and a real Alertmanager.
    packages+=(prometheus clang binutils openssl postgresql redis-server monitoring-plugins-basic
               python3-aiosmtpd prometheus-alertmanager)
  fi
  local missing=()
  for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  echo "Installing missing packages: ${missing[*]}"
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
      echo "error: need root (or sudo) to apt-get install: ${missing[*]}" >&2
      return 1
    fi
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
