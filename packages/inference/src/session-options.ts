import type { ModelSignature, ValueInfo } from './tensor.js';

/** ONNX Runtime session settings, identical for every session a worker opens. */
export interface SessionSettings {
  intraOpThreads: number;
  interOpThreads: number;
  graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
  allowSpinning: boolean;
}

/**
 * The options `InferenceSession.create` takes for these settings: the sequential executor (one batch runs at a
 * time per session) and intra-op spinning as configured. Plain data, so that code outside the worker that opens
 * sessions needs no runtime import to describe them.
 */
export function ortSessionOptions(settings: SessionSettings) {
  return {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: settings.interOpThreads,
    graphOptimizationLevel: settings.graphOptimizationLevel,
    executionMode: 'sequential' as const,
    extra: { session: { intra_op: { allow_spinning: settings.allowSpinning ? '1' : '0' } } },
  };
}

/** onnxruntime-node's ValueMetadata, structurally: what `signatureOf` reads. */
export interface ValueMetadataLike {
  readonly name: string;
  readonly isTensor: boolean;
  readonly type?: string;
  readonly shape?: ReadonlyArray<number | string>;
}

/** Input and output names, element types and shapes (symbolic dims as names) of an open session. */
export function signatureOf(session: { inputMetadata: readonly ValueMetadataLike[]; outputMetadata: readonly ValueMetadataLike[] }): ModelSignature {
  const info = (m: ValueMetadataLike): ValueInfo =>
    m.isTensor ? { name: m.name, type: m.type ?? 'unknown', shape: [...(m.shape ?? [])] } : { name: m.name, type: 'non-tensor', shape: [] };
  return { inputs: session.inputMetadata.map(info), outputs: session.outputMetadata.map(info) };
}
