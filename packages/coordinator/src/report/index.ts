export { type Breakdown, breakdownOf, type EvalLine, type Metrics, parseMetrics, type StepLine } from './metrics.js';
export { ReportError, writeReport } from './write.js';
