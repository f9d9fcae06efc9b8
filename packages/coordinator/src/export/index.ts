/** Export a trained run as a model users keep (TF.js LayersModel, safetensors) and predict with it. */
export { type ExportCommand, exportCommand, formatPredictions, type PredictCommand, predictCommand } from './commands.js';
export { EXPORT_FORMATS, type ExportFormat, type ExportOptions, exportModel } from './export.js';
export { blockDiagonal, channelMajorOrder, layersModel } from './layers_model.js';
export { LocalResponseNormalization, type LrnLayerArgs } from './lrn_layer.js';
export { type Prediction, predict } from './predict.js';
export { imageBatch, type Preprocess, preprocessOf, readPreprocess } from './preprocess.js';
export { LAYOUT as SAFETENSORS_LAYOUT, SAFETENSORS_FILE } from './safetensors.js';
export { loadLayersModelFrom, MODEL_FILE } from './tfjs_files.js';
