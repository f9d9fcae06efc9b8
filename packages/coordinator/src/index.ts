export { concatLastAxis, sliceLastAxis, sumShard } from './exchange.js';
export { type MainOptions, type MainResult, resolveConfig, runMain } from './main.js';
export { Session, type SessionOptions } from './session.js';
export { formatSummary, summarize, type Summary } from './summary.js';
export { type EvalMetrics, orderOf, type RunResult, type StepMetrics, stepsFor, train } from './train.js';
export { averageViews, type EvalResult, evaluate, rankOf, softmaxRows } from './evaluate.js';
export { Schedule, type ScheduleState } from './schedule.js';
export * from './data/index.js';
export { type Checkpoint, readCheckpoint, writeCheckpoint } from './checkpoint.js';
