#!/usr/bin/env bash
# Install Debian's chromium and chromedriver for the dashboard's browser tests, where this user may install
# Debian packages (root, or sudo without a password). Exits 1 without installing anything otherwise; the browser
# tests then skip, saying why.
set -uo pipefail
command -v chromium >/dev/null && command -v chromedriver >/dev/null && exit 0
if [[ $(id -u) -eq 0 ]]; then
    as_root=()
elif sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
else
    echo "chromium is not installed and this user cannot install Debian packages" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "no apt-get: install chromium and chromedriver by hand" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
install=("${as_root[@]}" apt-get install -y -q --no-install-recommends chromium chromium-driver)
"${install[@]}" >/dev/null 2>&1 || { "${as_root[@]}" apt-get update -q >/dev/null 2>&1 && "${install[@]}" >/dev/null; }
