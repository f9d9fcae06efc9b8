/** Grouped layers run one op per group: split along the last axis, apply, concatenate. */
import * as tf from '@tensorflow/tfjs';

export const perGroup = <T extends tf.Tensor>(t: T, groups: number): T[] => (groups === 1 ? [t] : (tf.split(t, groups, t.rank - 1) as T[]));

export const concatGroups = <T extends tf.Tensor>(ts: T[]): T => (ts.length === 1 ? ts[0]! : (tf.concat(ts, ts[0]!.rank - 1) as T));
