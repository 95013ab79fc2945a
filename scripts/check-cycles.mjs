#!/usr/bin/env node
// `npm run check:cycles`: fails when the library's imports form a cycle, between two files or
// between two folders.
//
// Type-only imports count. They vanish from the emitted JavaScript, so they never break module
// loading, but two files that name each other's types cannot be understood, or moved, one
// without the other: the cycle is in the design either way. Folders count too: `a/` importing
// `b/` while `b/` imports `a/` is a cycle even when no single file closes it.
//
// Imports are resolved by the TypeScript compiler with the project's own options, so nodenext
// specifiers (`./x.js` for `x.ts`) resolve as they do for tsc. Usage:
//   node scripts/check-cycles.mjs [root (default: lib)]
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/** An import of `to` by `from`; `typeOnly` when the emitted JavaScript drops it. */
function importsOf(file, compilerOptions, root) {
  const source = ts.createSourceFile(file, fs.readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const found = [];
  const add = (specifier, typeOnly) => {
    const resolved = ts.resolveModuleName(specifier, file, compilerOptions, ts.sys).resolvedModule;
    if (resolved === undefined || resolved.isExternalLibraryImport) return;
    const to = path.relative(process.cwd(), resolved.resolvedFileName);
    if (isLibraryFile(to, root)) found.push({ to, typeOnly });
  };
  const visit = (node) => {
    const specifier = moduleSpecifierOf(node);
    if (specifier !== undefined) add(specifier, isTypeOnly(node));
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

function moduleSpecifierOf(node) {
  if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) {
    return node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)
      ? node.moduleSpecifier.text
      : undefined;
  }
  if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
    const expression = node.moduleReference.expression;
    return ts.isStringLiteral(expression) ? expression.text : undefined;
  }
  if (ts.isImportTypeNode(node)) {
    const argument = node.argument;
    return ts.isLiteralTypeNode(argument) && ts.isStringLiteral(argument.literal)
      ? argument.literal.text
      : undefined;
  }
  const isDynamicImport =
    ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword;
  if (isDynamicImport && node.arguments.length > 0 && ts.isStringLiteral(node.arguments[0])) {
    return node.arguments[0].text;
  }
  return undefined;
}

function isTypeOnly(node) {
  if (ts.isImportTypeNode(node)) return true;
  if (ts.isImportEqualsDeclaration(node)) return node.isTypeOnly;
  if (ts.isImportDeclaration(node)) {
    const clause = node.importClause;
    if (clause === undefined) return false; // `import './x.js'` runs the module
    if (clause.isTypeOnly) return true;
    const bindings = clause.namedBindings;
    return (
      clause.name === undefined &&
      bindings !== undefined &&
      ts.isNamedImports(bindings) &&
      bindings.elements.length > 0 &&
      bindings.elements.every((element) => element.isTypeOnly)
    );
  }
  if (ts.isExportDeclaration(node)) {
    if (node.isTypeOnly) return true;
    const clause = node.exportClause;
    return (
      clause !== undefined &&
      ts.isNamedExports(clause) &&
      clause.elements.length > 0 &&
      clause.elements.every((element) => element.isTypeOnly)
    );
  }
  return false;
}

function isLibraryFile(file, root) {
  const inside = !path.relative(root, file).startsWith('..');
  return inside && file.endsWith('.ts') && !file.endsWith('.d.ts') && !file.endsWith('.spec.ts');
}

function libraryFiles(dir, root) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) return libraryFiles(file, root);
      return isLibraryFile(file, root) ? [file] : [];
    })
    .sort();
}

function compilerOptionsOf(configFile) {
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile);
  if (error !== undefined)
    throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  return ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(configFile)).options;
}

/** Every edge `from -> to` with the file imports that make it, keyed by node. */
function buildGraphs(root) {
  const options = compilerOptionsOf(path.resolve('tsconfig.json'));
  const files = new Map();
  const folders = new Map();
  const link = (graph, from, to, evidence) => {
    if (!graph.has(from)) graph.set(from, new Map());
    const edges = graph.get(from);
    if (!edges.has(to)) edges.set(to, []);
    edges.get(to).push(evidence);
  };
  for (const from of libraryFiles(root, root)) {
    if (!files.has(from)) files.set(from, new Map());
    for (const { to, typeOnly } of importsOf(from, options, root)) {
      const evidence = `${from} imports ${to}${typeOnly ? ' (type-only)' : ''}`;
      link(files, from, to, evidence);
      const [fromFolder, toFolder] = [path.dirname(from), path.dirname(to)];
      if (fromFolder !== toFolder) link(folders, fromFolder, toFolder, evidence);
    }
  }
  return { files, folders };
}

/** Tarjan's strongly connected components with more than one node, each sorted. */
function cyclicGroups(graph) {
  const index = new Map();
  const low = new Map();
  const stack = [];
  const onStack = new Set();
  const groups = [];
  const connect = (node) => {
    index.set(node, index.size);
    low.set(node, index.get(node));
    stack.push(node);
    onStack.add(node);
    for (const next of [...(graph.get(node)?.keys() ?? [])].sort()) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node), low.get(next)));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node), index.get(next)));
      }
    }
    if (low.get(node) !== index.get(node)) return;
    const group = [];
    let member;
    do {
      member = stack.pop();
      onStack.delete(member);
      group.push(member);
    } while (member !== node);
    if (group.length > 1) groups.push(group.sort());
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return groups.sort((a, b) => a[0].localeCompare(b[0]));
}

/** Every edge inside one cyclic group, with the imports behind it. */
function describeGroup(graph, group) {
  const members = new Set(group);
  const lines = [];
  for (const from of group) {
    for (const [to, evidence] of [...graph.get(from)].sort(([a], [b]) => a.localeCompare(b))) {
      if (!members.has(to)) continue;
      lines.push(`    ${from} -> ${to}`);
      for (const line of evidence)
        if (line !== `${from} imports ${to}`) lines.push(`      ${line}`);
    }
  }
  return lines;
}

function report(kind, graph) {
  const groups = cyclicGroups(graph);
  groups.forEach((group, i) => {
    console.error(`${kind} cycle ${i + 1} of ${groups.length}: ${group.join(', ')}`);
    for (const line of describeGroup(graph, group)) console.error(line);
  });
  return groups.length;
}

const root = path.normalize(process.argv[2] ?? 'lib');
const { files, folders } = buildGraphs(root);
const cycles = report('file', files) + report('folder', folders);
if (cycles > 0) {
  console.error(
    `check:cycles: ${cycles} import cycle(s) in ${root}/. Break each one, e.g. by moving the` +
      ' shared declarations into a file (or folder) that both sides import.',
  );
  process.exit(1);
}
console.log(
  `check:cycles: no import cycle between the ${files.size} files of ${root}/ or their folders`,
);
