#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the npm packages and the cached
# Debian 13 root when missing, type-checks, lints, then runs jest (results in test-results.json).
# Needs root (network namespaces, chroot). Extra arguments go to jest.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help)
  echo "usage: npm test [-- JEST_ARGS...]   the whole suite (needs root); npm run test:unit for what needs neither root nor the lab"
  exit 0;;
esac
step() { printf '\n== %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "the test suite needs root (network namespaces and the Debian 13 root)"; exit 1; }

# `npm install` from the committed lockfile (npm ci rejects it: the registry here omits
# other platforms' optional binaries). The stamp skips the install when nothing changed.
stamp=node_modules/.ncha-lock.sha256
if [ ! -f "$stamp" ] || [ "$(sha256sum package-lock.json)" != "$(cat "$stamp")" ]; then
  step "npm install (from package-lock.json)"
  npm install --no-audit --no-fund
  sha256sum package-lock.json >"$stamp"
fi

# The lab reaches its hosts over SSH, as pulumi up reaches the VMs.
if ! command -v ssh >/dev/null || ! command -v ssh-keygen >/dev/null; then
  step "openssh-client (the lab's SSH client)"
  apt-get update -qq && apt-get install -y -qq openssh-client
fi

step "Debian 13 root (built once, about a minute, then cached)"
npx --no-install tsx -e 'console.error(require("./debian/root").ensureRoot())'

step "tsc --noEmit"
npx --no-install tsc --noEmit -p .

step "lint (eslint, prettier --check)"
npm run -s lint

step "jest"
# One at a time: the lab tests each boot the one lab this machine can hold.
npx --no-install jest --ci --runInBand --json --outputFile=test-results.json "$@"
