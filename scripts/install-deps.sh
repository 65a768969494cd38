#!/usr/bin/env bash
# Install the Debian packages the build and tests need, only when missing,
# so a fresh machine needs nothing done by hand.
set -euo pipefail
pkgs=(build-essential cmake ninja-build pkg-config git curl
      libcurl4-openssl-dev libcjson-dev libarchive-dev libmicrohttpd-dev zlib1g-dev
      abigail-tools python3-venv man-db)
pkgs+=("$@")
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
