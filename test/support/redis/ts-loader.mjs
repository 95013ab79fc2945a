// Lets a forked worker run the library's TypeScript sources directly: `node --import <this file>`.
// Jest transpiles with @swc/jest; this does the same for child processes, so fleet workers run
// exactly the code under test, with no build step and no stale dist/.
import { register } from 'node:module';

register('./ts-loader-hooks.mjs', import.meta.url);
