#!/usr/bin/env node
/**
 * Last step of `npm run build`. tsc writes the same sources twice, as CommonJS (dist/cjs) and as
 * ES modules (dist/esm); Node decides which one a `.js` file is from the nearest package.json, so
 * each half gets one saying so. Then both halves are loaded the way Node will load them for a
 * user: an extensionless relative import (fine for tsc, fatal for Node's ESM resolver) or a named
 * import a CommonJS dependency does not expose fails the build here, not in someone's app.
 */
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const dist = path.join(__dirname, '..', 'dist');
fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
fs.writeFileSync(path.join(dist, 'esm', 'package.json'), `${JSON.stringify({ type: 'module' })}\n`);

async function main() {
  for (const entry of ['index.js', 'testing/index.js']) {
    const cjs = require(path.join(dist, 'cjs', entry));
    const esm = await import(pathToFileURL(path.join(dist, 'esm', entry)).href);
    const names = (m) => Object.keys(m).filter((k) => k !== 'default' && k !== '__esModule').sort().join(',');
    if (names(cjs) !== names(esm)) {
      throw new Error(`${entry}: the CommonJS and ESM builds export different names:\n  cjs: ${names(cjs)}\n  esm: ${names(esm)}`);
    }
  }
  console.log('finish-build: dist/cjs and dist/esm load and export the same names');
}

main().catch((err) => {
  console.error(`finish-build: ${err.stack ?? err}`);
  process.exit(1);
});
