/**
 * What a person at a terminal sees while a run trains: a progress bar per epoch (cli-progress) with the
 * step, loss, accuracy, images/s and ETA, and the log lines printed above the bars instead of through
 * them. Off the terminal (or with --json / --quiet) there are no bars: the JSON log lines say it all.
 */
import { Writable } from 'node:stream';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { Tick } from './train.js';

export class Progress {
  private readonly bars = new MultiBar(
    {
      format: '{run} epoch {epoch}/{epochs} |{bar}| {value}/{total} steps  loss {loss}  acc {acc}  {ips} img/s  ETA {eta_formatted}',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: false,
      stopOnComplete: false,
      etaBuffer: 50,
      stream: process.stderr,
    },
    undefined,
  );
  private bar: SingleBar | undefined;
  private key = '';
  private started = 0;

  /** A stream for the logger: each line is printed above the bars. */
  readonly lines = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      this.bars.log(chunk.toString());
      done();
    },
  });

  constructor(private readonly batch: number) {}

  tick(t: Tick): void {
    const key = `${t.run}:${t.epoch}`;
    if (key !== this.key) {
      this.bar?.stop();
      this.key = key;
      this.started = performance.now();
      this.bar = this.bars.create(t.perEpoch, 0, { run: t.run.padEnd(8), epoch: t.epoch, epochs: t.epochs, loss: '-', acc: '-', ips: '-' });
    }
    // images/s from the epoch's first finished step on (the bar appears when that step is done)
    const seconds = (performance.now() - this.started) / 1000;
    const ips = t.inEpoch > 1 ? (((t.inEpoch - 1) * this.batch) / seconds).toFixed(1) : '-';
    this.bar!.update(t.inEpoch, { loss: t.loss.toFixed(4), acc: `${(t.accuracy * 100).toFixed(1)}%`, ips });
  }

  stop(): void {
    this.bar?.stop();
    this.bars.stop();
  }
}
