export { type TensorOut, TowerModel } from './model.js';
export { Tower, type TowerOptions } from './tower.js';
