#!/usr/bin/env bash
# Builds the web console (console/ → console/dist, served by campaign-svc at /console):
# `npm ci` when console/node_modules is missing or package-lock.json changed since the last
# install, then `npm run build` (which prints the gzipped size of the initial JavaScript) when
# the sources changed since the last build.
# With --browser it also makes sure Debian's Chromium (/usr/bin/chromium) and a Chinese font are
# installed, which the browser tests drive through playwright-core; npm never downloads a browser.
# Sourced or run from anywhere; needs Node.js 20+ and npm.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# A CJK font too: without one the Chinese pages render as empty boxes in the screenshots.
if [ "${1:-}" = "--browser" ] && { [ ! -x /usr/bin/chromium ] || ! fc-list :lang=zh 2>/dev/null | grep -q .; }; then
  echo "installing Debian's chromium and a Chinese font for the browser tests" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi

command -v npm >/dev/null || { echo "npm is needed to build the console (Node.js 20+)" >&2; exit 1; }
cd "$root/console"
stamp=node_modules/.package-lock.sha256
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
fi
# Build only when the sources changed since the last build (or dist/ is gone): run-local.sh and
# tests that start it call this while other tests serve console/dist, which a rebuild would
# empty for a moment.
built=node_modules/.console-build.sha256
sources="$(find src index.html openapi.json package.json package-lock.json vite.config.ts \
  tsconfig.json scripts -type f ! -name schema.d.ts | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1)"
if [ -f dist/index.html ] && [ -f "$built" ] && [ "$(cat "$built")" = "$sources" ]; then
  echo "console: dist/ is up to date"
  exit 0
fi
npm run build
echo "$sources" >"$built"
