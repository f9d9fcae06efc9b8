/** Stored records and how a batch is rendered from them: shared by the coordinator and the towers. */
export { type ViewMode, renderBatch, viewsPer } from './batch.js';
export { type BatchSource, Loader, type LoaderInit, Prefetch, type StoreRef } from './loader.js';
export { RecordReader } from './records.js';
export { BadInputs, type BadInput, bytesPer, memoryStore, type Source, type Store, type StoreDType } from './store.js';
export { centreView, type Eigen, lightingShift, render, tenViews, trainView, type TransformSpec, type View } from './transform.js';
