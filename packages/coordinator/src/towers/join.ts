/**
 * Before the first step: towers on other hosts joining a listening coordinator, and what towers need to
 * render batches themselves.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AlexnetError, type Header, type Store } from '@alexnet/core';
import type { Logger } from 'pino';
import type { Data } from '../data/index.js';
import type { Listener } from './session.js';

/** Wait for `towers` towers to connect to the listening link (each says hello), up to the listener's wait. */
export async function joinTowers(listener: Listener, towers: number, log: Logger): Promise<Header<'hello'>[]> {
  const { link, waitMs } = listener;
  const joined = Array.from({ length: towers }, (): Header<'hello'> | undefined => undefined);
  log.info({ listen: link.endpoint, towers: towers }, `waiting for ${towers} towers to connect to ${link.endpoint}`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing = joined.flatMap((h, t) => (h ? [] : [t]));
      reject(
        new AlexnetError(
          'E_TOWERS',
          `waited ${waitMs / 1000} s for tower${missing.length > 1 ? 's' : ''} ${missing.join(', ')} to connect to ${link.endpoint}; start each with \`tower --connect tcp://THIS_HOST:PORT --index N --keys DIR\` (or wait longer: --tower-wait)`,
        ),
      );
    }, waitMs);
  });
  try {
    return await Promise.race([
      Promise.all(
        Array.from({ length: towers }, async (_, t) => {
          const h = (await link.hello(t)).header;
          joined[t] = h;
          log.info(
            { tower: t, host: h.host, pid: h.pid, gpu: h.gpu, device: h.device, peer: h.peer },
            `tower ${t} joined from ${h.host ?? '?'} (pid ${h.pid}${h.gpu !== undefined ? `, GPU ${h.gpu}` : ''})${h.device ? `: ${h.device}` : ''}; its peers reach it at ${h.peer ?? '?'}`,
          );
          return h;
        }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * What towers need to render batches themselves: the store's files (a store held in memory is written
 * to this session's directory once) and the transform, its mean and scale as tensors.
 */
export function renderData(data: Data, dir: string): { header: object; tensors: { data: Float32Array; shape: number[] }[] } {
  const file = (s: Store, name: string): { shape: readonly number[]; dtype: string; count: number; file: string } => {
    let path = s.file;
    if (!path) {
      path = join(dir, `${name}.records`);
      writeFileSync(path, new Uint8Array(s.memory!));
    }
    return { shape: s.shape, dtype: s.dtype, count: s.count, file: path };
  };
  const { mean, scale, ...spec } = data.spec;
  return {
    header: { train: file(data.source.train, 'train'), test: file(data.source.test, 'test'), spec },
    tensors: [
      { data: mean, shape: [mean.length] },
      { data: scale, shape: [scale.length] },
    ],
  };
}
