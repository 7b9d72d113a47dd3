import type { SessionSettings } from './session-options.js';
import type { ModelSignature, TensorData } from './tensor.js';

export interface WorkerInit {
  models: Record<string, string>;
  settings: SessionSettings;
}

export type ToWorker =
  | { type: 'run'; id: number; model: string; feeds: Record<string, TensorData>; outputs: string[] }
  | { type: 'close' };

export type FromWorker =
  | { type: 'ready'; signatures: Record<string, ModelSignature> }
  | { type: 'load-failed'; model: string; path: string; message: string }
  | { type: 'result'; id: number; outputs: Record<string, TensorData> }
  | { type: 'failed'; id: number; message: string }
  | { type: 'closed' };
