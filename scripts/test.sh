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

# Two runs, one result file: what needs neither root nor the lab on both cores, then the root
# tests one at a time (each lab test boots the one lab this machine can hold).
step "jest: unit tests (2 workers)"
rm -f test-results.json .test-results-unit.json .test-results-root.json
unit=0
npx --no-install jest --ci --maxWorkers=2 --testPathIgnorePatterns '\.root\.test\.ts$' --json --outputFile=.test-results-unit.json "$@" || unit=$?
step "jest: root and lab tests (one at a time)"
root=0
npx --no-install jest --ci --runInBand --testPathPatterns '\.root\.test\.ts$' --json --outputFile=.test-results-root.json "$@" || root=$?
# One summary for .ci/run: the two runs' counts added, their suites listed together.
node -e '
const fs = require("fs");
// A run that wrote no results (it crashed) counts as a failed suite.
const runs = [".test-results-unit.json", ".test-results-root.json"].map((f) =>
  fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, "utf8")) : { numRuntimeErrorTestSuites: 1, success: false, testResults: [] });
const sum = (k) => runs.reduce((a, r) => a + (r[k] || 0), 0);
const keys = ["numTotalTests", "numPassedTests", "numFailedTests", "numPendingTests", "numTotalTestSuites", "numPassedTestSuites", "numFailedTestSuites", "numRuntimeErrorTestSuites"];
const merged = { ...Object.fromEntries(keys.map((k) => [k, sum(k)])), success: runs.length === 2 && runs.every((r) => r.success), testResults: runs.flatMap((r) => r.testResults) };
fs.writeFileSync("test-results.json", JSON.stringify(merged));
'
rm -f .test-results-unit.json .test-results-root.json
[ "$unit" = 0 ] && [ "$root" = 0 ]
