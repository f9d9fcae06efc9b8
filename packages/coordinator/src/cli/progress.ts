/**
 * What a person at a terminal sees while a run trains: one live progress bar (cli-progress) for the
 * current epoch with the step, loss, accuracy, images/s and ETA; each finished epoch stays as one line;
 * log lines are printed above the bar. Off the terminal (or with --json / --quiet) there are no bars: the
 * JSON log lines say it all.
 */
import { Writable } from 'node:stream';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { Tick } from '../run/train.js';

export class Progress {
  private readonly bars = new MultiBar({
    format: '{run} epoch {epoch}/{epochs} |{bar}| {value}/{total} steps  loss {loss}  acc {acc}  {ips} img/s  ETA {eta_formatted}',
    barsize: 24,
    hideCursor: true,
    clearOnComplete: false,
    stopOnComplete: false,
    etaBuffer: 50,
    stream: process.stderr,
  });
  private bar: SingleBar | undefined;
  private key = '';
  /** When the bar's first step of this process finished, and how many of the epoch's steps were done then. */
  private t0 = 0;
  private s0 = 0;
  private last = '';
  private readonly restore = (): void => this.stop();

  /** A stream for the logger: each line is printed above the bar (straight to stderr when there is none). */
  readonly lines = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      if (this.bar) {
        this.bars.log(chunk.toString());
        this.bars.update(); // draw now: MultiBar prints logged lines only when it redraws
      } else process.stderr.write(chunk);
      done();
    },
  });

  constructor(private readonly batch: number) {
    process.once('exit', this.restore); // the cursor comes back even on Ctrl-C
  }

  tick(t: Tick): void {
    const key = `${t.run}:${t.epoch}`;
    if (key !== this.key) {
      this.finish();
      this.key = key;
      this.t0 = performance.now();
      this.s0 = t.inEpoch; // a resumed run starts mid-epoch
      this.bar = this.bars.create(t.perEpoch, t.inEpoch - 1, { run: t.run.padEnd(8), epoch: t.epoch, epochs: t.epochs, loss: '-', acc: '-', ips: '-' });
    }
    const seconds = (performance.now() - this.t0) / 1000;
    const ips = t.inEpoch > this.s0 ? (((t.inEpoch - this.s0) * this.batch) / seconds).toFixed(1) : '-';
    const fields = { loss: t.loss.toFixed(4), acc: `${(t.accuracy * 100).toFixed(1)}%`, ips };
    this.last = `${t.run.padEnd(8)} epoch ${t.epoch}/${t.epochs}  ${t.inEpoch}/${t.perEpoch} steps  loss ${fields.loss}  acc ${fields.acc}  ${ips} img/s`;
    this.bar!.update(t.inEpoch, fields);
  }

  /** Replace the live bar by one line saying how its epoch ended. */
  private finish(): void {
    if (!this.bar) return;
    this.bars.log(`${this.last}\n`);
    this.bars.remove(this.bar);
    this.bars.update();
    this.bar = undefined;
  }

  stop(): void {
    this.finish();
    this.bars.stop();
    process.off('exit', this.restore);
  }
}
