import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { buildNet, paramCount, totalParams } from './net.js';
import { planSplit } from './plan.js';

const configs = resolve(import.meta.dirname, '../../../configs');
const config = loadConfig(`${configs}/alexnet.yaml`);
const paper = buildNet(config.net);
const byName = (n: string) => paper.layers.find((l) => l.name === n)!;

describe('the paper net', () => {
  it("has the paper's shapes", () => {
    expect(byName('conv1').outShape).toEqual([55, 55, 96]);
    expect(byName('pool1').outShape).toEqual([27, 27, 96]);
    expect(byName('conv2').outShape).toEqual([27, 27, 256]);
    expect(byName('pool2').outShape).toEqual([13, 13, 256]);
    expect(byName('conv5').outShape).toEqual([13, 13, 256]);
    expect(byName('pool5').outShape).toEqual([6, 6, 256]);
    expect(byName('flatten').outShape).toEqual([9216]);
    expect(byName('fc8').outShape).toEqual([1000]);
  });
  it('has the grouped parameter counts (conv2 reads 48 maps per filter)', () => {
    expect(byName('conv2').paramShapes).toEqual([[5, 5, 48, 256], [256]]);
    expect(paramCount(byName('conv3'))).toBe(3 * 3 * 256 * 384 + 384);
    expect(paramCount(byName('fc6'))).toBe(9216 * 4096 + 4096);
    // 60,965,224: the well-known total of the two-column AlexNet (e.g. Caffe's bvlc_alexnet with groups).
    expect(totalParams(paper)).toBe(60_965_224);
  });
});

describe('the split plan', () => {
  const exchanges = (towers: number, net = paper) =>
    planSplit(net, towers)
      .layers.filter((p) => p.exchange)
      .map((p) => p.layer.name);
  const columnOnly = buildNet({ ...config.net, layers: config.net.layers.map((l) => (l.kind === 'dense' ? { ...l, split: 'column' as const } : l)) });
  it("derives the paper's exchange points for 2 towers (column-split dense layers, as the paper)", () => {
    expect(exchanges(2, columnOnly)).toEqual(['conv3', 'fc6', 'fc7', 'fc8']);
  });
  it('row-splits the dense layers that have fewer units than inputs, and reduces after them', () => {
    const plan = planSplit(paper, 2);
    expect(plan.layers.filter((p) => p.layer.spec.kind === 'dense').map((p) => `${p.layer.name}:${p.split}`)).toEqual(['fc6:row', 'fc7:column', 'fc8:row']);
    // fc6 reads its own shard of pool5 (no gather); relu6 sums the partials; fc7 gathers; fc8's partial logits are summed by the coordinator
    expect(exchanges(2)).toEqual(['conv3', 'relu6', 'fc7']);
    const fc6 = plan.layers.find((p) => p.layer.name === 'fc6')!;
    expect(fc6.towers[1]).toEqual({ out: { lo: 0, hi: 4096 }, in: { lo: 4608, hi: 9216 }, localGroups: 1 });
    expect(plan.layers.find((p) => p.layer.name === 'relu6')!.input).toBe('partial');
    expect(plan.layers[plan.layers.length - 1]!.output).toBe('partial');
  });
  it('refuses a row split where it cannot work, naming the field', () => {
    const bad = buildNet({
      ...config.net,
      layers: config.net.layers.map((l) => (l.name === 'conv1' ? l : l.kind === 'dense' ? { ...l, reads: 'own' as const, split: 'row' as const } : l)),
    });
    expect(() => planSplit(bad, 2)).toThrow(/net\.layers\[16\]\.split.*reads its own group only/s);
  });
  it('needs no exchange on one tower (the grouped net)', () => {
    expect(exchanges(1)).toEqual([]);
    expect(planSplit(paper, 1).segments).toHaveLength(1);
    expect(planSplit(paper, 1).layers.find((p) => p.layer.name === 'conv2')!.towers[0]!.localGroups).toBe(2);
  });
  it('adds the exchanges a split group needs on 4 towers', () => {
    expect(exchanges(4, columnOnly)).toEqual(['norm1', 'conv2', 'norm2', 'conv3', 'conv4', 'conv5', 'fc6', 'fc7', 'fc8']);
    const norm1 = planSplit(paper, 4).layers.find((p) => p.layer.name === 'norm1')!;
    // tower 1 keeps maps [24, 48) of group 0 and reads a halo of 2 maps below: [22, 48)
    expect(norm1.towers[1]).toEqual({ out: { lo: 24, hi: 48 }, in: { lo: 22, hi: 48 }, localGroups: 1 });
  });
  it('gives each tower half of every layer on 2 towers', () => {
    const conv2 = planSplit(paper, 2).layers.find((p) => p.layer.name === 'conv2')!;
    expect(conv2.towers.map((t) => [t.out, t.in])).toEqual([
      [
        { lo: 0, hi: 128 },
        { lo: 0, hi: 48 },
      ],
      [
        { lo: 128, hi: 256 },
        { lo: 48, hi: 96 },
      ],
    ]);
  });
});
