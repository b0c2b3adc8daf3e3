#!/usr/bin/env node
/**
 * Checks what `npm pack` put in the tarball, unpacked in DIR (`node check-tarball.cjs DIR`):
 * every `exports` target is there, each half of the dual build says which module system it is,
 * every source map points at a source that is shipped, and LICENSE and README are in.
 */
const fs = require('node:fs');
const path = require('node:path');

const dir = path.resolve(process.argv[2] ?? '');
const problems = [];
const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));

for (const file of ['LICENSE', 'README.md', 'dist/esm/package.json', 'dist/cjs/package.json']) {
  if (!fs.existsSync(path.join(dir, file))) problems.push(`${file} is missing`);
}
const typeOf = (half) => JSON.parse(fs.readFileSync(path.join(dir, 'dist', half, 'package.json'), 'utf8')).type;
if (fs.existsSync(path.join(dir, 'dist/esm/package.json')) && typeOf('esm') !== 'module') problems.push('dist/esm/package.json does not say "type": "module"');
if (fs.existsSync(path.join(dir, 'dist/cjs/package.json')) && typeOf('cjs') !== 'commonjs') problems.push('dist/cjs/package.json does not say "type": "commonjs"');

const targets = [];
const collect = (node) => (typeof node === 'string' ? targets.push(node) : Object.values(node).forEach(collect));
collect(pkg.exports);
targets.push(pkg.main, pkg.types, ...Object.values(pkg.typesVersions?.['*'] ?? {}).flat());
for (const target of targets) {
  if (!fs.existsSync(path.join(dir, target))) problems.push(`${target} (named in package.json) is missing`);
}

let maps = 0;
const walk = (d) => {
  for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
    const full = path.join(d, entry.name);
    if (entry.isDirectory()) walk(full);
    else if (entry.name.endsWith('.map')) {
      maps += 1;
      const map = JSON.parse(fs.readFileSync(full, 'utf8'));
      for (const source of map.sources) {
        const resolved = path.resolve(path.dirname(full), map.sourceRoot ?? '', source);
        if (!resolved.startsWith(dir + path.sep) || !fs.existsSync(resolved)) {
          problems.push(`${path.relative(dir, full)} points at ${source}, which is not in the package`);
        }
      }
    }
  }
};
walk(path.join(dir, 'dist'));

if (problems.length > 0) {
  console.error(`check-tarball: ${problems.length} problem(s):`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log(`check-tarball: exports resolve, both halves typed, ${maps} source maps point at shipped sources`);
