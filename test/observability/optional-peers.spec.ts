import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * `@opentelemetry/api` and `@nestjs/terminus` are optional peers: only their subpaths may load
 * them. Walks the static imports (type-only ones left out) from each entry point.
 */

const LIB = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'lib');
const IMPORT = /^\s*(?:import|export)\s+(?!type\s)(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

/** Every package a module and the modules it imports (transitively) load at run time. */
function packagesLoadedBy(entry: string): Set<string> {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const [, specifier] of source.matchAll(IMPORT)) {
      if (specifier.startsWith('.'))
        visit(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
      else packages.add(specifier);
    }
  };
  visit(join(LIB, entry));
  return packages;
}

const OPTIONAL = /^@opentelemetry\/|^@nestjs\/terminus/;

describe('optional peers', () => {
  it.each(['index.ts', 'redis/index.ts'])(
    '%s loads neither OpenTelemetry nor terminus',
    (entry) => {
      const loaded = [...packagesLoadedBy(entry)];
      expect(loaded).toContain('@nestjs/common'); // the walk does reach the library's imports
      expect(loaded.filter((name) => OPTIONAL.test(name))).toEqual([]);
    },
  );

  it('the otel and terminus subpaths load their peer', () => {
    expect([...packagesLoadedBy('otel/index.ts')]).toContain('@opentelemetry/api');
    expect([...packagesLoadedBy('terminus/index.ts')]).toContain('@nestjs/terminus');
  });
});
