/** Stored records and how a batch is rendered from them: shared by the coordinator and the towers. */
export { renderBatch, type ViewMode, viewsPer } from './batch.js';
export { type BatchSource, Loader, type LoaderInit, Prefetch, type StoreRef } from './loader.js';
export { RecordReader } from './records.js';
export { type BadInput, BadInputs, bytesPer, memoryStore, type Source, type Store, type StoreDType } from './store.js';
export { centreView, type Eigen, lightingShift, render, type TransformSpec, tenViews, trainView, type View } from './transform.js';
