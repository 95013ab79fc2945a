#!/usr/bin/env node
// The API report: every name the package exports (`nestjs-orchestrator` and
// `nestjs-orchestrator/redis`), its kind and its declaration as a user's compiler sees it.
//
//   npm run api:report   writes api/nestjs-orchestrator.api.md
//   npm run api:check    fails when that file is out of date
//
// The declarations are emitted in memory with tsconfig.build.json's options, `stripInternal`
// included, so the report shows exactly the published .d.ts surface without needing a build.
// A change to the public surface therefore shows up as a diff of the report in review.
// Options: --check, --report <file> (default api/nestjs-orchestrator.api.md).
import fs from 'node:fs';
import path from 'node:path';
import * as prettier from 'prettier';
import ts from 'typescript';

const ENTRY_POINTS = [
  { specifier: 'nestjs-orchestrator', source: 'lib/index.ts' },
  { specifier: 'nestjs-orchestrator/redis', source: 'lib/redis/index.ts' },
];
const DEFAULT_REPORT = 'api/nestjs-orchestrator.api.md';

function fail(message) {
  console.error(message);
  process.exit(1);
}

function diagnosticsText(diagnostics) {
  return ts.formatDiagnostics(diagnostics, {
    getCanonicalFileName: (f) => f,
    getCurrentDirectory: () => process.cwd(),
    getNewLine: () => '\n',
  });
}

/** The build's compiler options, declarations only. */
function buildOptions() {
  const configFile = path.resolve('tsconfig.build.json');
  const { config, error } = ts.readConfigFile(configFile, ts.sys.readFile);
  if (error !== undefined) fail(diagnosticsText([error]));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, path.dirname(configFile));
  const options = {
    ...parsed.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    inlineSources: false,
  };
  return { options, rootNames: parsed.fileNames };
}

/** Emits the library's .d.ts files into memory: absolute path -> text. */
function emitDeclarations() {
  const { options, rootNames } = buildOptions();
  const program = ts.createProgram({ rootNames, options });
  const declarations = new Map();
  const emitted = program.emit(undefined, (file, text) =>
    declarations.set(path.resolve(file), text),
  );
  // Type errors are the typecheck step's business; only what stops declaration emit counts here.
  const errors = [...program.getOptionsDiagnostics(), ...emitted.diagnostics].filter(
    (d) => d.category === ts.DiagnosticCategory.Error,
  );
  if (errors.length > 0)
    fail(`api-report: the library does not compile:\n${diagnosticsText(errors)}`);
  return { declarations, options };
}

/** A program over the emitted declarations, the rest (node_modules) read from disk. */
function declarationProgram(declarations, options) {
  const host = ts.createCompilerHost({ ...options, noEmit: true });
  const { getSourceFile, fileExists, readFile, directoryExists } = host;
  const directories = new Set([...declarations.keys()].flatMap(ancestorsOf));
  // The declarations' folders (dist/...) exist only in memory; module resolution asks for them.
  host.directoryExists = (dir) =>
    directories.has(path.resolve(dir)) || directoryExists.call(host, dir);
  host.fileExists = (file) => declarations.has(path.resolve(file)) || fileExists.call(host, file);
  host.readFile = (file) => declarations.get(path.resolve(file)) ?? readFile.call(host, file);
  host.getSourceFile = (file, languageVersion, ...rest) => {
    const text = declarations.get(path.resolve(file));
    if (text === undefined) return getSourceFile.call(host, file, languageVersion, ...rest);
    return ts.createSourceFile(file, text, languageVersion, true);
  };
  const rootNames = ENTRY_POINTS.map(({ source }) => declarationFileOf(source, options));
  // skipLibCheck off: a user who checks libraries checks these declarations.
  const checked = { ...options, noEmit: true, skipLibCheck: false };
  return ts.createProgram({ rootNames, options: checked, host });
}

function ancestorsOf(file) {
  const folders = [];
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    folders.push(dir);
  }
  return folders;
}

function declarationFileOf(source, options) {
  const relative = path.relative(options.rootDir, path.resolve(source));
  return path.resolve(options.outDir, relative.replace(/\.ts$/, '.d.ts'));
}

const KINDS = new Map([
  [ts.SyntaxKind.ClassDeclaration, 'class'],
  [ts.SyntaxKind.InterfaceDeclaration, 'interface'],
  [ts.SyntaxKind.TypeAliasDeclaration, 'type'],
  [ts.SyntaxKind.FunctionDeclaration, 'function'],
  [ts.SyntaxKind.EnumDeclaration, 'enum'],
  [ts.SyntaxKind.ModuleDeclaration, 'namespace'],
]);

function kindOf(declaration) {
  if (ts.isVariableDeclaration(declaration)) {
    return declaration.parent.flags & ts.NodeFlags.Const ? 'const' : 'let';
  }
  const kind = KINDS.get(declaration.kind) ?? ts.SyntaxKind[declaration.kind];
  return kind === 'class' && ts.getCombinedModifierFlags(declaration) & ts.ModifierFlags.Abstract
    ? 'abstract class'
    : kind;
}

const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });

function printDeclaration(declaration) {
  const source = declaration.getSourceFile();
  if (ts.isVariableDeclaration(declaration)) {
    const keyword = declaration.parent.flags & ts.NodeFlags.Const ? 'const' : 'let';
    return `export declare ${keyword} ${printer.printNode(ts.EmitHint.Unspecified, declaration, source)};`;
  }
  return printer.printNode(ts.EmitHint.Unspecified, withoutPrivateMembers(declaration), source);
}

/** A class without its private members: the .d.ts lists their names, but users cannot touch them. */
function withoutPrivateMembers(declaration) {
  if (!ts.isClassDeclaration(declaration)) return declaration;
  const isPrivate = (member) =>
    (member.name !== undefined && ts.isPrivateIdentifier(member.name)) ||
    (ts.getCombinedModifierFlags(member) & ts.ModifierFlags.Private) !== 0;
  return ts.factory.updateClassDeclaration(
    declaration,
    declaration.modifiers,
    declaration.name,
    declaration.typeParameters,
    declaration.heritageClauses,
    declaration.members.filter((member) => !isPrivate(member)),
  );
}

/** One entry point's exports, sorted by name, each with its declarations' text. */
function exportsOf(program, entry) {
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(declarationFileOf(entry.source, program.getCompilerOptions()));
  const module = checker.getSymbolAtLocation(file);
  return checker
    .getExportsOfModule(module)
    .map((exported) => {
      const target =
        exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const declarations = target.declarations ?? [];
      // Worth saying only of a value (a class, a function...): users get its type, not the value.
      const typeOnly =
        (target.flags & ts.SymbolFlags.Value) !== 0 &&
        exported.declarations?.some((d) => ts.isTypeOnlyImportOrExportDeclaration(d));
      return {
        name: exported.name,
        original: target.name,
        kind: [...new Set(declarations.map(kindOf))].join(' + '),
        typeOnly: typeOnly === true,
        declarations,
        text: declarations.map(printDeclaration).join('\n'),
      };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Library types that exported declarations mention but neither entry point exports. */
function unexportedReferences(program, entries) {
  const checker = program.getTypeChecker();
  const exported = new Set(entries.flatMap((e) => e.exports.flatMap((x) => x.declarations)));
  const libraryRoot = path.resolve(program.getCompilerOptions().outDir);
  const found = new Map();
  const visit = (node, user) => {
    if (ts.isTypeReferenceNode(node) || ts.isExpressionWithTypeArguments(node)) {
      const name = ts.isTypeReferenceNode(node) ? node.typeName : node.expression;
      let symbol = checker.getSymbolAtLocation(name);
      if (symbol && symbol.flags & ts.SymbolFlags.Alias) symbol = checker.getAliasedSymbol(symbol);
      for (const declaration of symbol?.declarations ?? []) {
        const file = declaration.getSourceFile().fileName;
        const inLibrary = !path.relative(libraryRoot, path.resolve(file)).startsWith('..');
        if (!inLibrary || exported.has(declaration) || ts.isTypeParameterDeclaration(declaration))
          continue;
        const where = path.relative(libraryRoot, file).replace(/\.d\.ts$/, '.ts');
        const key = `${symbol.name} (lib/${where.split(path.sep).join('/')})`;
        if (!found.has(key)) found.set(key, new Set());
        found.get(key).add(user);
      }
    }
    ts.forEachChild(node, (child) => visit(child, user));
  };
  for (const entry of entries) {
    for (const x of entry.exports) for (const d of x.declarations) visit(d, x.name);
  }
  return [...found]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([key, users]) => ({ key, users: [...users].sort() }));
}

function render(entries, unexported) {
  const lines = [
    '# API report: nestjs-orchestrator',
    '',
    '<!-- Generated by `npm run api:report` (scripts/api-report.mjs); do not edit by hand. -->',
    '',
    'Every exported name with its kind and its published declaration (`stripInternal` applied).',
    '',
  ];
  for (const { specifier, exports } of entries) {
    lines.push(`## \`${specifier}\` (${exports.length} names)`, '');
    for (const x of exports) {
      const alias =
        x.original !== x.name && x.original !== 'default' ? `, alias of \`${x.original}\`` : '';
      lines.push(
        `### \`${x.name}\``,
        '',
        `${x.kind}${x.typeOnly ? ' (exported as a type only)' : ''}${alias}`,
        '',
      );
      lines.push('```ts', x.text, '```', '');
    }
  }
  lines.push('## Library types used by the surface but not exported', '');
  if (unexported.length === 0) lines.push('None.', '');
  for (const { key, users } of unexported) lines.push(`- ${key}: used by ${users.join(', ')}`);
  if (unexported.length > 0) lines.push('');
  return lines.join('\n');
}

/**
 * The published declarations must type-check on their own (a user with `skipLibCheck: false`
 * compiles them): an `@internal` declaration that another .d.ts still names breaks them.
 */
function checkDeclarations(program, declarations) {
  const errors = program
    .getSourceFiles()
    .filter((file) => declarations.has(path.resolve(file.fileName)))
    .flatMap((file) => program.getSemanticDiagnostics(file));
  if (errors.length > 0) {
    fail(`api-report: the emitted declarations do not compile:\n${diagnosticsText(errors)}`);
  }
}

function generate() {
  const { declarations, options } = emitDeclarations();
  const program = declarationProgram(declarations, options);
  checkDeclarations(program, declarations);
  const entries = ENTRY_POINTS.map((entry) => ({ ...entry, exports: exportsOf(program, entry) }));
  return { entries, text: render(entries, unexportedReferences(program, entries)) };
}

/** Where the committed report and the API part, for the CI log. */
function firstDifference(committed, generated) {
  const [a, b] = [committed.split('\n'), generated.split('\n')];
  let line = 0;
  while (line < a.length && a[line] === b[line]) line++;
  const show = (lines) => (line < lines.length ? JSON.stringify(lines[line]) : '(end of file)');
  return `First difference at line ${line + 1}: the report has ${show(a)}, the API gives ${show(b)}.`;
}

const args = process.argv.slice(2);
const reportArg = args.indexOf('--report');
const report = reportArg >= 0 ? args[reportArg + 1] : DEFAULT_REPORT;
const { entries, text: raw } = generate();
// Formatted as `npm run format` would, so that format:check and api:check agree on the file.
const text = await prettier.format(raw, {
  ...(await prettier.resolveConfig(path.resolve(DEFAULT_REPORT))),
  parser: 'markdown',
});
const counts = entries.map((e) => `${e.specifier}: ${e.exports.length}`).join(', ');
if (args.includes('--check')) {
  const current = fs.existsSync(report) ? fs.readFileSync(report, 'utf8') : undefined;
  if (current !== text) {
    fail(
      `api:check: ${report} is out of date with the exported API (${counts}).\n` +
        `${current === undefined ? 'It does not exist.' : firstDifference(current, text)}\n` +
        'Run `npm run api:report` and commit the updated report (review its diff: it is the API change).',
    );
  }
  console.log(`api:check: ${report} is up to date (${counts})`);
} else {
  fs.mkdirSync(path.dirname(report), { recursive: true });
  fs.writeFileSync(report, text);
  console.log(`api:report: wrote ${report} (${counts})`);
}
