import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from './config.js';
import { ConfigError } from './errors.js';
import { buildNet } from './net.js';
import { planSplit } from './plan.js';

const net = (layers: unknown[], extra: object = {}) => ({ net: { input: { height: 8, width: 8, channels: 1 }, classes: 4, groups: 2, layers, ...extra } });
const refuse = (raw: unknown, towers = 2): ConfigError => {
  try {
    planSplit(buildNet(parseConfig(raw).net), towers);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('config was accepted');
};
const ok = [{ kind: 'conv', filters: 4, size: 3 }, { kind: 'flatten' }, { kind: 'dense', units: 4 }, { kind: 'softmax' }];

describe('config validation names the field and what is allowed', () => {
  it('accepts a good config and fills defaults', () => {
    const c = parseConfig(net(ok));
    expect(c.train.optimizer).toEqual({ kind: 'sgd', lr: 0.01, momentum: 0.9, weight_decay: 0.0005 });
    expect(() => planSplit(buildNet(c.net), 2)).not.toThrow();
  });
  it('negative filters', () => {
    const e = refuse(net([{ kind: 'conv', filters: -3, size: 3 }, ...ok.slice(1)]));
    expect(e.field).toBe('net.layers[0].filters');
    expect(e.message).toMatch(/>0/);
  });
  it('unknown layer kind', () => {
    const e = refuse(net([{ kind: 'banana' }, ...ok]));
    expect(e.field).toBe('net.layers[0].kind');
    expect(e.message).toMatch(/unknown layer kind "banana"; allowed: conv, relu, lrn, maxpool, flatten, dense, dropout, softmax/);
  });
  it('unknown key', () => {
    const e = refuse(net([{ kind: 'relu', filtres: 3 }, ...ok]));
    expect(e.message).toMatch(/filtres/);
  });
  it('filters not divisible by the tower count', () => {
    const e = refuse(net([{ kind: 'conv', filters: 6, size: 3 }, ...ok.slice(1)]), 4);
    expect(e.field).toBe('net.layers[0].filters');
    expect(e.message).toMatch(/not divisible by the tower count \(4\); allowed: multiples of 4/);
  });
  it('grouped layer whose channels do not divide into groups', () => {
    const e = refuse(net([{ kind: 'conv', filters: 4, size: 3 }, { kind: 'conv', filters: 5, size: 3, reads: 'own' }, ...ok.slice(1)]), 1);
    expect(e.field).toBe('net.layers[1].filters');
    expect(e.message).toMatch(/must be divisible by net.groups \(2\)/);
  });
  it('tower count that fits neither way with the groups', () => {
    const e = refuse(net([{ kind: 'conv', filters: 6, size: 3 }, { kind: 'conv', filters: 6, size: 3, reads: 'own' }, ...ok.slice(1)]), 3);
    expect(e.field).toBe('--gpus');
  });
  it('dense on maps without flatten', () => {
    const e = refuse(
      net([
        { kind: 'conv', filters: 4, size: 3 },
        { kind: 'dense', units: 4 },
      ]),
    );
    expect(e.message).toMatch(/add a flatten layer/);
  });
  it('a window larger than its input', () => {
    const e = refuse(net([{ kind: 'conv', filters: 4, size: 11 }, ...ok.slice(1)]));
    expect(e.field).toBe('net.layers[0].size');
  });
  it('logits that do not match the classes', () => {
    const e = refuse(net([{ kind: 'conv', filters: 4, size: 3 }, { kind: 'flatten' }, { kind: 'dense', units: 6 }]));
    expect(e.message).toMatch(/units = net.classes \(4\)/);
  });
  it('bad YAML and missing files', () => {
    expect(() => loadConfig('/nonexistent.yaml')).toThrow(/cannot read/);
  });
});
