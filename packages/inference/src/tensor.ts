/** Element types the pool moves between threads. */
export type TensorType = 'float32' | 'int64' | 'int32';

export type TensorArray = Float32Array | BigInt64Array | Int32Array;

/** A dense tensor as plain data: what crosses the worker boundary (its buffer is transferred, not copied). */
export interface TensorData {
  type: TensorType;
  data: TensorArray;
  dims: readonly number[];
}

/** Shape and type of a model input or output as the ONNX graph declares it (symbolic dims as names). */
export interface ValueInfo {
  name: string;
  type: string;
  shape: ReadonlyArray<number | string>;
}

/** Inputs and outputs of one loaded model. */
export interface ModelSignature {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export function float32(data: Float32Array, dims: readonly number[]): TensorData {
  return { type: 'float32', data, dims };
}

export function int64(data: BigInt64Array, dims: readonly number[]): TensorData {
  return { type: 'int64', data, dims };
}
