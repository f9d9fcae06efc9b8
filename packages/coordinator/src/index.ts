export { concatLastAxis, sliceLastAxis, sumShard } from './exchange.js';
export { type MainOptions, type MainResult, resolveConfig, runMain } from './main.js';
export { Session, type SessionOptions } from './session.js';
export { formatSummary, summarize, type Summary } from './summary.js';
export { evaluate, type RunResult, stepsFor, train } from './train.js';
export { loadDataset, assemble, type Dataset } from './data/index.js';
export { type Checkpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
