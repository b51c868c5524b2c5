#!/usr/bin/env bash
# Debian's Chromium and the CJK fonts, for the browser tests (tests/e2e/browser): Playwright drives
# /usr/bin/chromium (its own browser download does not work everywhere), and without CJK fonts Chinese
# renders as boxes. Installed with apt-get when missing; nothing to do (and nothing printed) when present.
# Not root and no sudo: prints the command to run and carries on; the browser tests then fail under CI=true
# with the same advice (on a developer's machine they are skipped).
set -euo pipefail
packages=(chromium fonts-noto-cjk)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

missing=()
[ -x /usr/bin/chromium ] && installed chromium || missing+=(chromium)
installed fonts-noto-cjk || missing+=(fonts-noto-cjk)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "[gridtalk] browser tests need Chromium at /usr/bin/chromium and CJK fonts (${missing[*]} missing);"
  echo "[gridtalk] no apt-get here: install them with this system's package manager"
  exit 0
fi

advice="sudo apt-get update && sudo apt-get install -y --no-install-recommends ${packages[*]}"
if [ "$(id -u)" -eq 0 ]; then
  as_root=()
  advice=${advice//sudo /}
elif command -v sudo >/dev/null 2>&1 && { sudo -n true 2>/dev/null || [ -t 0 ]; }; then
  as_root=(sudo)
else
  echo "[gridtalk] browser tests need ${missing[*]}; not root and no sudo, so run this yourself:"
  echo "    $advice"
  exit 0
fi

echo "[gridtalk] installing ${missing[*]} with apt-get (browser tests; about a minute)"
export DEBIAN_FRONTEND=noninteractive
apt_install() {
  "${as_root[@]}" apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
}
# An old or missing package list cannot find chromium: refresh it, once, only when that happens.
if ! apt_install 2>/dev/null; then
  "${as_root[@]}" apt-get update -qq >/dev/null
  if ! apt_install; then
    echo "[gridtalk] apt-get could not install ${missing[*]}; run this yourself:"
    echo "    $advice"
    exit 0
  fi
fi
echo "[gridtalk] $(/usr/bin/chromium --version 2>/dev/null || echo chromium) and fonts-noto-cjk installed"
