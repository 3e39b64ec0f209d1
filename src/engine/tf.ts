/**
 * The one place that imports tfjs (architecture.md §5): the union package registers every
 * gradient; the wasm backend registers itself on import. Everything else imports `tf` from here.
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';

tf.env().set('PROD', true);

export { tf };
export type { Tensor, Tensor1D, Tensor2D, Tensor3D, Tensor4D, Variable, Rank } from '@tensorflow/tfjs';
