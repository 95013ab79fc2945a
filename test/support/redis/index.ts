export * from './keys.js';
export * from './loop-stalls.js';
export * from './redis-cluster.js';
export * from './redis-server.js';
export * from './wait.js';
