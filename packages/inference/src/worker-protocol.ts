import type { ModelSignature, TensorData } from './tensor.js';

/** ONNX Runtime session settings, identical for every session a worker opens. */
export interface SessionSettings {
  intraOpThreads: number;
  interOpThreads: number;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  allowSpinning: boolean;
}

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
