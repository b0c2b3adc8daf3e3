#!/usr/bin/env node
/**
 * Checks the built declarations (dist/cjs) the way a user meets them: they compile with
 * `skipLibCheck: false`, and every type that a public signature names is itself importable from
 * an entry point, or a user cannot write the type of a variable that holds the value
 * (api-extractor calls this a "forgotten export"). Walks the entry points' exports, follows every
 * type they reference into our own declaration files, and lists each one reachable but not exported.
 * Run after `npm run build`: `node scripts/check-public-types.cjs`.
 */
const path = require('node:path');
const ts = require('typescript');

const dist = path.join(__dirname, '..', 'dist', 'cjs');
const entries = [path.join(dist, 'index.d.ts'), path.join(dist, 'testing', 'index.d.ts')];
// skipLibCheck off, as in an app that checks its dependencies' types: the declarations must
// compile on their own (stripInternal can leave a reference to something it removed).
const program = ts.createProgram(entries, { strict: true, skipLibCheck: false, types: ['node'], module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext });
const checker = program.getTypeChecker();
const ours = (file) => path.resolve(file).startsWith(dist + path.sep);

// The package's public surface is the union of its entry points: a type that `FakeClock` (from
// `/testing`) names is fine if the main entry exports it.
const exported = new Set();
for (const entry of entries) {
  const moduleSymbol = checker.getSymbolAtLocation(program.getSourceFile(entry));
  for (const s of checker.getExportsOfModule(moduleSymbol)) exported.add(resolve(s));
}

const problems = new Set();
for (const d of ts.getPreEmitDiagnostics(program)) {
  if (d.file && !ours(d.file.fileName)) continue;
  const where = d.file ? `${path.relative(dist, d.file.fileName)}: ` : '';
  problems.add(`${where}TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
}
const seen = new Set();
const queue = [...exported];
while (queue.length > 0) {
  const symbol = queue.shift();
  if (seen.has(symbol)) continue;
  seen.add(symbol);
  for (const declaration of symbol.declarations ?? []) {
    if (!ours(declaration.getSourceFile().fileName)) continue;
    visit(declaration, (referenced, asBaseClass) => {
      const where = referenced.declarations?.[0]?.getSourceFile().fileName;
      if (where === undefined || !ours(where)) return;
      // Type parameters and members are part of their owner, not separate public types.
      if (referenced.flags & (ts.SymbolFlags.TypeParameter | ts.SymbolFlags.Property | ts.SymbolFlags.Method)) return;
      // A mixin's `declare const X_base` is a value nobody names; its type is still followed.
      const reportable = !(asBaseClass && referenced.flags & ts.SymbolFlags.Variable);
      if (reportable && !exported.has(referenced)) {
        problems.add(`${referenced.name} (${path.relative(dist, where)}) is named by ${symbol.name} but not exported`);
      }
      queue.push(referenced);
    });
  }
}

function resolve(symbol) {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

/** Calls `found` with every symbol that a declaration's types, heritage clauses and `typeof`s name. */
function visit(node, found) {
  const walk = (n) => {
    if (ts.isTypeReferenceNode(n) || ts.isExpressionWithTypeArguments(n) || ts.isTypeQueryNode(n)) {
      const name = ts.isTypeReferenceNode(n) ? n.typeName : ts.isTypeQueryNode(n) ? n.exprName : n.expression;
      const symbol = checker.getSymbolAtLocation(name);
      if (symbol) found(resolve(symbol), ts.isExpressionWithTypeArguments(n) && ts.isHeritageClause(n.parent));
    }
    if (ts.isImportTypeNode(n) && n.qualifier) {
      const symbol = checker.getSymbolAtLocation(n.qualifier);
      if (symbol) found(resolve(symbol));
    }
    ts.forEachChild(n, walk);
  };
  ts.forEachChild(node, walk);
}

if (problems.size > 0) {
  console.error(`check-public-types: ${problems.size} problem(s) in the shipped declarations:`);
  for (const p of problems) console.error(`  ${p}`);
  process.exit(1);
}
console.log('check-public-types: the declarations compile with skipLibCheck off and every type a public signature names is exported');
