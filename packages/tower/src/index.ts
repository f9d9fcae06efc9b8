export { TowerModel } from './model.js';
export type { TensorOut } from './tensors.js';
export { Tower, type TowerOptions } from './tower.js';
