/**
 * Reading a run's `metrics.jsonl`: one JSON object a line, step lines (one per logged window of steps)
 * and eval lines, told apart by `kind` and by `run` (split, baseline, half, ...). Older run directories
 * wrote step lines without `kind` and without the time breakdown; those are still step lines. A line that
 * is not JSON, or lacks the numbers a chart needs, is counted as malformed and skipped; unknown kinds
 * and fields are ignored.
 */

export interface StepLine {
  run: string;
  step: number;
  loss: number;
  accuracy: number;
  images_per_sec: number;
  /** The time breakdown (mean ms per step over the window), when the line has it. */
  breakdown?: { step_ms: number; busy_ms: number[]; exchange_ms: number; waiting_ms: number[] };
}

export interface EvalLine {
  run: string;
  step: number;
  loss: number;
  top1_error: number;
  top5_error: number;
  crops: number;
}

export interface Metrics {
  steps: StepLine[];
  evals: EvalLine[];
  /** Lines that were not JSON objects or lacked the fields their kind needs. */
  malformed: number;
  /** Well-formed lines of a kind the report does not draw. */
  ignored: number;
}

type Obj = Record<string, unknown>;

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNums = (v: unknown): v is number[] => Array.isArray(v) && v.length > 0 && v.every(isNum);
const hasNums = (o: Obj, keys: readonly string[]): boolean => keys.every((k) => isNum(o[k]));

function stepLine(o: Obj): StepLine | undefined {
  if (typeof o.run !== 'string' || !hasNums(o, ['step', 'loss', 'accuracy', 'images_per_sec'])) return undefined;
  const line: StepLine = { run: o.run, step: o.step as number, loss: o.loss as number, accuracy: o.accuracy as number, images_per_sec: o.images_per_sec as number };
  const { step_ms, busy_ms, exchange_ms, waiting_ms } = o;
  if (isNum(step_ms) && isNums(busy_ms) && isNum(exchange_ms) && isNums(waiting_ms) && busy_ms.length === waiting_ms.length) {
    line.breakdown = { step_ms, busy_ms, exchange_ms, waiting_ms };
  }
  return line;
}

function evalLine(o: Obj): EvalLine | undefined {
  if (typeof o.run !== 'string' || !hasNums(o, ['step', 'loss', 'top1_error', 'top5_error'])) return undefined;
  return {
    run: o.run,
    step: o.step as number,
    loss: o.loss as number,
    top1_error: o.top1_error as number,
    top5_error: o.top5_error as number,
    crops: isNum(o.crops) ? o.crops : 1,
  };
}

export function parseMetrics(text: string): Metrics {
  const m: Metrics = { steps: [], evals: [], malformed: 0, ignored: 0 };
  for (const raw of text.split('\n')) {
    if (raw.trim() === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(raw);
    } catch {
      m.malformed++; // e.g. the last line of a run killed mid-write
      continue;
    }
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      m.malformed++;
      continue;
    }
    const kind = (o as Obj).kind ?? 'step';
    if (kind === 'step' || kind === 'eval') {
      const line = kind === 'step' ? stepLine(o as Obj) : evalLine(o as Obj);
      if (!line) m.malformed++;
      else if (kind === 'step') m.steps.push(line as StepLine);
      else m.evals.push(line as EvalLine);
    } else {
      m.ignored++;
    }
  }
  return m;
}

/** Run names in the order first seen, split and baseline first. */
export function runsOf(m: Metrics): string[] {
  const seen = [...new Set([...m.steps, ...m.evals].map((l) => l.run))];
  const rank = (r: string): number => (r === 'split' ? 0 : r === 'baseline' ? 1 : 2);
  return seen.sort((a, b) => rank(a) - rank(b));
}

export interface Breakdown {
  run: string;
  tower: number;
  /** Mean ms per step, weighted by the steps each logged window covers. */
  compute: number;
  exchange: number;
  waiting: number;
  /** How many steps the means cover. */
  steps: number;
}

/** Per run and tower, the mean per-step time split into compute (busy), exchange and waiting. */
export function breakdownOf(m: Metrics): Breakdown[] {
  const out: Breakdown[] = [];
  for (const run of runsOf(m)) {
    const lines = m.steps.filter((l) => l.run === run).sort((a, b) => a.step - b.step);
    const sums = new Map<number, Breakdown>();
    let prev = 0;
    for (const l of lines) {
      const weight = Math.max(1, l.step - prev); // a window covers the steps since the last logged one
      prev = l.step;
      if (!l.breakdown) continue;
      l.breakdown.busy_ms.forEach((busy, tower) => {
        const s = sums.get(tower) ?? { run, tower, compute: 0, exchange: 0, waiting: 0, steps: 0 };
        s.compute += busy * weight;
        s.exchange += l.breakdown!.exchange_ms * weight;
        s.waiting += l.breakdown!.waiting_ms[tower]! * weight;
        s.steps += weight;
        sums.set(tower, s);
      });
    }
    for (const s of [...sums.values()].sort((a, b) => a.tower - b.tower)) {
      out.push({ ...s, compute: s.compute / s.steps, exchange: s.exchange / s.steps, waiting: s.waiting / s.steps });
    }
  }
  return out;
}
