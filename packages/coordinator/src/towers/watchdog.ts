/** Heartbeats: how often towers beat, and the timer that declares a silent tower hung. */

/** Before its first heartbeat a tower may take this long to start (a process, its backend, its kernels). */
export const STARTUP_GRACE_MS = 30_000;
export const HEARTBEAT_TIMEOUT_MS = 10_000;
/** Towers beat, and the watchdog looks, five times per timeout (at most once a second). */
export const beatEvery = (timeoutMs: number): number => Math.max(50, Math.min(1000, Math.floor(timeoutMs / 5)));

/**
 * Call `onSilent` for each tower whose heartbeats (`beats()`, the last one's time per tower, 0 before the
 * first) stop for `timeoutMs` (before its first, `timeoutMs` or `graceMs`, whichever is longer). Checked on a
 * timer; if the timer itself fired late (this process was busy and beats may still be queued in the socket),
 * judge on the next tick.
 */
export function watchHeartbeats(beats: () => readonly number[], timeoutMs: number, graceMs: number, onSilent: (tower: number, why: string) => void): NodeJS.Timeout {
  const every = beatEvery(timeoutMs);
  const started = performance.now();
  let last = started;
  const timer = setInterval(() => {
    const now = performance.now();
    const late = now - last > 2 * every;
    last = now;
    if (late) return;
    beats().forEach((beat, t) => {
      // a beat from before this session (a tower that joined an earlier one) counts from the start
      const silent = now - Math.max(beat, started);
      if (silent > (beat ? timeoutMs : Math.max(timeoutMs, graceMs))) onSilent(t, `sent no heartbeat for ${(silent / 1000).toFixed(1)} s: stopped or hung`);
    });
  }, every);
  timer.unref();
  return timer;
}
