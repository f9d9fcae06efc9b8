import type { Config } from '@alexnet/core';
import { ConfigError } from '@alexnet/core';
import type { Dataset } from './dataset.js';
import { loadMnist } from './mnist.js';
import { loadSynthetic } from './synthetic.js';

export { assemble, type Dataset, type Split } from './dataset.js';

/** The data set a config names, checked against the net's input and classes. */
export function loadDataset(config: Config): Dataset {
  const { net, data } = config;
  const input: [number, number, number] = [net.input.height, net.input.width, net.input.channels];
  const ds = data.dataset === 'mnist' ? loadMnist(data.train, data.test) : loadSynthetic(input, net.classes, data.train, data.test);
  if (ds.shape.join('×') !== input.join('×')) {
    throw new ConfigError('net.input', `${ds.name} images are ${ds.shape.join('×')}, the net takes ${input.join('×')}`);
  }
  if (ds.classes !== net.classes) throw new ConfigError('net.classes', `${ds.name} has ${ds.classes} classes, the net ${net.classes}`);
  return ds;
}
