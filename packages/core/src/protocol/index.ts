export * from './codec.js';
export * from './types.js';
