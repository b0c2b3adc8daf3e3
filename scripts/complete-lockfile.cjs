#!/usr/bin/env node
/**
 * The registry mirror this project is developed against serves native bindings for linux-x64-gnu
 * only, so `npm install` leaves every other platform's optional binding (oxlint's, jest's
 * unrs-resolver's) out of package-lock.json, and `npm ci` then refuses the lockfile as out of
 * sync. This adds those entries back with their os/cpu/libc constraints, so `npm ci` works here and
 * on every platform (each skips the bindings that are not for it). Run after `npm install`.
 */
const fs = require('node:fs');
const path = require('node:path');
const lockPath = path.join(__dirname, '..', 'package-lock.json');
const lock = JSON.parse(fs.readFileSync(lockPath, 'utf8'));
const packages = lock.packages;

function platformOf(name) {
  const m = /binding-([a-z0-9]+)-([a-z0-9]+)(?:-([a-z]+))?$/.exec(name);
  if (!m) return null;
  const [, os, cpu, abi] = m;
  const entry = { os: [os], cpu: [cpu] };
  if (abi === 'musl' || abi === 'musleabihf') entry.libc = ['musl'];
  if (abi === 'gnu' || abi === 'gnueabihf') entry.libc = ['glibc'];
  return entry;
}

let added = 0;
for (const [location, pkg] of Object.entries(packages)) {
  for (const [dep, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    const nested = `${location}/node_modules/${dep}`;
    if (packages[key] || packages[nested]) continue;
    const platform = platformOf(dep);
    if (!platform) continue;
    packages[key] = { version, dev: pkg.dev || undefined, optional: true, ...platform };
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
fs.writeFileSync(lockPath, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`complete-lockfile: added ${added} platform binding entries`);
