#!/usr/bin/env bash
# Consumer checks: the package as a user gets it. Packs the tarball (npm pack builds it), checks
# its contents, copies each app below into a temporary directory, installs its dependencies and
# the tarball there (no lockfile: what a new user gets today), type-checks it with
# skipLibCheck: false and runs its e2e tests, which start the app over HTTP against a TestIssuer.
#
#   nest12-esm   NestJS 12, "type": "module", moduleResolution nodenext: Jest (ESM mode) and Vitest
#   nest11-cjs   NestJS 11, CommonJS, moduleResolution node (and nodenext): Jest, also on the
#                lowest Node of `engines`
#                and again installed with the lowest version each required peer range allows
#                (`npm install` must resolve them: @nestjs/passport 11.0.0 did not), and without
#                the optional peers: its realtime files are deleted and @nestjs/websockets,
#                @nestjs/microservices and @nestjs/platform-socket.io left out, so the HTTP tests
#                prove that an app without them starts and serves
#
# Every app except that one also has a socket.io gateway and a TCP message handler (the README's
# WebSockets and Microservices sections), tested with socket.io-client and a ClientProxy: a
# refusal must reach the client as the library's body, which only happens when the library
# threw the app's own WsException/RpcException class (loaded lazily from the CJS and ESM builds).
# nest12-esm and nest11-cjs also run two instances in fleet mode on a real redis-server (the
# README's Fleet mode; ioredis loaded lazily from the ESM and CJS builds).
#   nest12-cjs   NestJS 12, CommonJS (nest11-cjs's sources): Node's test runner, because Jest's
#                CommonJS runtime cannot load NestJS 12. It needs require() of ES modules, so it
#                also runs on the low ends of `engines` (CONSUMER_LOW_END_NODES), with Node
#                binaries from the npm registry's node-<platform>-<arch> packages.
#
# Each test run writes a Jest-style JSON report to $REPORTS (default reports/), consumer-*.json;
# consumer-steps.json counts the other steps that failed (install, type check, missing report).
# Exits non-zero when anything failed.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/scripts/consumer"
reports="${REPORTS:-$root/reports}"
low_ends="${CONSUMER_LOW_END_NODES-20.19.0 22.12.0}"
node_cache="${CONSUMER_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nestjs-jwks-auth/node}"
mkdir -p "$reports"
reports="$(cd "$reports" && pwd)"
rm -f "$reports"/consumer-*.json
work="$(mktemp -d "${TMPDIR:-/tmp}/jwks-consumer.XXXXXX")"
trap 'rm -rf "$work"' EXIT
status=0
started=$SECONDS

steps_failed=0
# fail WHAT: a step that is not a test run failed (pack, install, type check, a missing report).
fail() { echo "consumer: FAILED: $*" >&2; status=1; steps_failed=$((steps_failed + 1)); }
# timed LABEL CMD...: runs a step, prints how long it took, records a failure.
timed() {
  local label=$1 t0=$SECONDS
  shift
  "$@" || fail "$label"
  echo "consumer: $label took $((SECONDS - t0)) s"
}
# timed_tests LABEL CMD...: as timed, for a test run, whose report counts its failures.
timed_tests() {
  local label=$1 t0=$SECONDS
  shift
  "$@" || { echo "consumer: FAILED: $label" >&2; status=1; }
  echo "consumer: $label took $((SECONDS - t0)) s"
}
npm_quiet() { npm --no-audit --no-fund --loglevel=error "$@"; }
expected=()
# report NAME: sets $out to the file a test run writes to $reports, and remembers it, so a run
# that wrote none counts as failed.
report() { expected+=("$1"); out="$reports/$1"; }

echo "::: consumer: pack"
timed "npm pack" bash -c "cd '$root' && npm pack --silent --pack-destination '$work' >'$work/pack.out'"
tarball="$work/$(tail -n 1 "$work/pack.out")"
[ -f "$tarball" ] || { fail "no tarball"; exit 1; }
mkdir "$work/unpacked" && tar -xzf "$tarball" -C "$work/unpacked"
node "$here/check-tarball.cjs" "$work/unpacked/package" || fail "tarball contents"

# Installs run side by side (network and disk); the tests after them run one at a time.
echo "::: consumer: install the apps and the low-end Node binaries"
t0=$SECONDS
cp -r "$here/nest12-esm" "$here/nest11-cjs" "$here/nest12-cjs" "$work/"
cp -r "$here/nest11-cjs/src" "$work/nest12-cjs/src"
cp -r "$here/nest11-cjs" "$work/nest11-cjs-lowest-peers"
# Without the optional peers: no realtime sources, no transport packages.
optional_peers=(@nestjs/websockets @nestjs/microservices @nestjs/platform-socket.io @nestjs/graphql ioredis)
rm "$work/nest11-cjs-lowest-peers/src/realtime.module.ts" "$work/nest11-cjs-lowest-peers/src/chat.gateway.ts" \
  "$work/nest11-cjs-lowest-peers/src/orders.messages.ts" "$work/nest11-cjs-lowest-peers/test/realtime.e2e-spec.ts" \
  "$work/nest11-cjs-lowest-peers/test/fleet.e2e-spec.ts"
node -e '
  const fs = require("fs");
  const [file, ...names] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  for (const name of [...names, "socket.io-client"]) { delete pkg.dependencies[name]; delete pkg.devDependencies[name]; }
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");' "$work/nest11-cjs-lowest-peers/package.json" "${optional_peers[@]}"
# The first version of each required peer range: "^11.0.2 || ^12.0.0" gives @nestjs/passport@11.0.2.
mapfile -t lowest_peers < <(node -e '
  const { peerDependencies: peers, peerDependenciesMeta: meta = {} } = require(process.argv[1]);
  for (const [name, range] of Object.entries(peers)) {
    if (meta[name]?.optional) continue;
    console.log(name + "@" + range.split("||")[0].trim().replace(/^[\^~>=]+/, ""));
  }' "$root/package.json")
echo "consumer: lowest peers: ${lowest_peers[*]}"
pids=()
for app in nest12-esm nest11-cjs nest12-cjs nest11-cjs-lowest-peers; do
  extra=()
  [ "$app" = nest11-cjs-lowest-peers ] && extra=("${lowest_peers[@]}")
  (cd "$work/$app" && npm_quiet install "$tarball" "${extra[@]}" >"$work/$app.install.log" 2>&1) &
  pids+=("$!:install $app")
done
platform="$(node -p 'process.platform + "-" + process.arch')"
for v in $low_ends; do
  if [ ! -x "$node_cache/$v/node_modules/node-$platform/bin/node" ]; then
    (mkdir -p "$node_cache/$v" && cd "$node_cache/$v" && npm_quiet install --no-save --no-package-lock "node-$platform@$v" >"$work/node-$v.install.log" 2>&1) &
    pids+=("$!:install Node $v")
  fi
done
for entry in "${pids[@]}"; do
  wait "${entry%%:*}" || { fail "${entry#*:}"; cat "$work/"*.install.log >&2; }
done
echo "consumer: installs took $((SECONDS - t0)) s"

run_node_test() { # NODE APP REPORT
  (cd "$work/$2" && "$1" --test --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter="$here/count.reporter.mjs" --test-reporter-destination="$3" dist/test/app.e2e-spec.js)
}

echo "::: consumer: nest12-esm (NestJS $(cd "$work/nest12-esm" && node -p "require('@nestjs/core/package.json').version"), ESM)"
t0=$SECONDS
cd "$work/nest12-esm"
timed "nest12-esm typecheck" npx tsc -p tsconfig.json --noEmit
report consumer-nest12-esm-jest.json
timed_tests "nest12-esm jest" node --experimental-vm-modules node_modules/jest/bin/jest.js --json --outputFile="$out"
report consumer-nest12-esm-vitest.json
timed_tests "nest12-esm vitest" npx vitest run --reporter=default --reporter=json --outputFile.json="$out"
echo "consumer: nest12-esm took $((SECONDS - t0)) s after install"

echo "::: consumer: nest11-cjs (NestJS $(cd "$work/nest11-cjs" && node -p "require('@nestjs/core/package.json').version"), CommonJS)"
t0=$SECONDS
cd "$work/nest11-cjs"
timed "nest11-cjs typecheck (moduleResolution node)" npx tsc -p tsconfig.json --noEmit
timed "nest11-cjs typecheck (moduleResolution nodenext)" npx tsc -p tsconfig.json --noEmit --module nodenext --moduleResolution nodenext
report consumer-nest11-cjs-jest.json
timed_tests "nest11-cjs jest" npx jest --json --outputFile="$out"
lowest="${low_ends%% *}"
if [ -n "$lowest" ]; then
  report "consumer-nest11-cjs-jest-node$lowest.json"
  timed_tests "nest11-cjs jest on Node $lowest" "$node_cache/$lowest/node_modules/node-$platform/bin/node" node_modules/jest/bin/jest.js \
    --json --outputFile="$out"
fi
echo "consumer: nest11-cjs took $((SECONDS - t0)) s after install"

echo "::: consumer: nest11-cjs on the lowest peers, without the optional ones (NestJS $(cd "$work/nest11-cjs-lowest-peers" && node -p "require('@nestjs/core/package.json').version"), @nestjs/passport $(cd "$work/nest11-cjs-lowest-peers" && node -p "require('@nestjs/passport/package.json').version"))"
cd "$work/nest11-cjs-lowest-peers"
# The point of this run is that the optional peers are absent: fail if anything brought one in.
node -e '
  const present = process.argv.slice(1).filter((name) => require("fs").existsSync("node_modules/" + name + "/package.json"));
  if (present.length > 0) { console.error("installed although optional: " + present.join(" ")); process.exit(1); }' "${optional_peers[@]}" ||
  fail "nest11-cjs-lowest-peers has an optional peer installed"
report consumer-nest11-cjs-lowest-peers-jest.json
timed_tests "nest11-cjs-lowest-peers jest" npx jest --json --outputFile="$out"

echo "::: consumer: nest12-cjs (NestJS $(cd "$work/nest12-cjs" && node -p "require('@nestjs/core/package.json').version"), CommonJS, require(esm))"
t0=$SECONDS
cd "$work/nest12-cjs"
timed "nest12-cjs build (typecheck)" npx tsc -p tsconfig.json
report "consumer-nest12-cjs-node$(node -p 'process.versions.node').json"
timed_tests "nest12-cjs node:test on Node $(node --version)" run_node_test node nest12-cjs "$out"
for v in $low_ends; do
  report "consumer-nest12-cjs-node$v.json"
  timed_tests "nest12-cjs node:test on Node $v" run_node_test "$node_cache/$v/node_modules/node-$platform/bin/node" nest12-cjs "$out"
done
echo "consumer: nest12-cjs took $((SECONDS - t0)) s after install"

# Every run must have left a report that counted at least one passing test.
for name in "${expected[@]}"; do
  node -e 'const r = require(process.argv[1]); if (!(r.numPassedTests > 0)) process.exit(1);' "$reports/$name" 2>/dev/null ||
    fail "$name is missing or counted no passing test"
done
# The steps that are not test runs go into the total as failures only.
printf '{"numPassedTests":0,"numFailedTests":%d,"numRuntimeErrorTestSuites":0}\n' "$steps_failed" >"$reports/consumer-steps.json"
echo "consumer: all checks took $((SECONDS - started)) s"
exit $status
