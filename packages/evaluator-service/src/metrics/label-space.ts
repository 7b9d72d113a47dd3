// How a model's outputs meet an evaluation set's classes. Three cases from SELECT's protocol:
// - ImageNet val / -V2 / -Sketch: the 1000 outputs are the 1000 classes;
// - ImageNet-A / -R: only the 200 outputs of the subset compete (logits masked; timm's imagenet_a/r lists),
//   or the model already outputs exactly the 200;
// - ObjectNet: all 1000 outputs compete, 125 of them map onto 113 ObjectNet classes, and a top-1 outside the
//   mapping is wrong.
import { LabelSpaceError } from '../errors.js';

export class LabelSpace {
  /** Evaluation classes in position order (wnids, or ObjectNet class names). */
  readonly classes: readonly string[];
  /** outputToClass[o] = evaluation position of model output o, or -1 (masked or unmapped). */
  readonly outputToClass: Int32Array;
  /** Model outputs that take part in the softmax and the ranking. */
  readonly candidates: Int32Array;
  readonly #exp: Float64Array;

  constructor(classes: readonly string[], outputToClass: Int32Array, candidates: Int32Array) {
    this.classes = classes;
    this.outputToClass = outputToClass;
    this.candidates = candidates;
    this.#exp = new Float64Array(outputToClass.length);
    const reachable = new Set<number>();
    for (const o of candidates) if (outputToClass[o]! >= 0) reachable.add(outputToClass[o]!);
    const missing = classes.filter((_, position) => !reachable.has(position));
    if (missing.length > 0) {
      throw new LabelSpaceError(
        `label-space mismatch: the model cannot predict ${missing.length} of the evaluation set's ${classes.length} classes ` +
          `(${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''})`,
      );
    }
  }

  /** Number of model outputs this space expects. */
  get outputs(): number {
    return this.outputToClass.length;
  }

  get candidateCount(): number {
    return this.candidates.length;
  }

  /**
   * Outputs named by wnids (the 1000 ImageNet classes, a subset's 200, or a head's own class list) against an
   * evaluation set's wnids. `mask`: only outputs of evaluation classes compete (ImageNet-A/-R); otherwise
   * every output competes and a prediction outside the evaluation classes is wrong.
   */
  static fromWnids(evalClasses: readonly string[], outputClasses: readonly string[], mask: boolean): LabelSpace {
    const position = new Map(evalClasses.map((wnid, index) => [wnid, index]));
    const outputToClass = Int32Array.from(outputClasses, (wnid) => position.get(wnid) ?? -1);
    const candidates = mask
      ? Int32Array.from(outputToClass.keys()).filter((o) => outputToClass[o]! >= 0)
      : Int32Array.from(outputToClass.keys());
    return new LabelSpace(evalClasses, outputToClass, candidates);
  }

  /** A many-to-one mapping of outputs onto evaluation classes (ObjectNet); all outputs compete. */
  static fromMapping(evalClasses: readonly string[], outputsOfClass: ReadonlyMap<string, readonly number[]>, outputs: number): LabelSpace {
    const outputToClass = new Int32Array(outputs).fill(-1);
    evalClasses.forEach((name, position) => {
      for (const o of outputsOfClass.get(name) ?? []) {
        if (!Number.isInteger(o) || o < 0 || o >= outputs) {
          throw new LabelSpaceError(`the class mapping sends ${name} to output ${o}, outside the model's ${outputs} outputs`);
        }
        outputToClass[o] = position;
      }
    });
    return new LabelSpace(evalClasses, outputToClass, Int32Array.from(outputToClass.keys()));
  }

  /** Softmax over the candidate outputs, summed per evaluation class into `out` (length classes). */
  classProbabilities(logits: ArrayLike<number>, out: Float64Array): void {
    this.#checkLength(logits);
    let max = Number.NEGATIVE_INFINITY;
    for (const o of this.candidates) max = Math.max(max, logits[o]!);
    let sum = 0;
    for (const o of this.candidates) {
      const e = Math.exp(logits[o]! - max);
      this.#exp[o] = e;
      sum += e;
    }
    out.fill(0);
    for (const o of this.candidates) {
      const c = this.outputToClass[o]!;
      if (c >= 0) out[c]! += this.#exp[o]! / sum;
    }
  }

  /** The evaluation class of the best candidate output, -1 when that output maps to none (counts as wrong). */
  top1Class(logits: ArrayLike<number>): number {
    return this.outputToClass[this.#bestOutput(logits)]!;
  }

  /** The softmax probability of the best candidate output (the ECE confidence). */
  top1Confidence(logits: ArrayLike<number>): number {
    let max = Number.NEGATIVE_INFINITY;
    for (const o of this.candidates) max = Math.max(max, logits[o]!);
    let sum = 0;
    for (const o of this.candidates) sum += Math.exp(logits[o]! - max);
    return 1 / sum;
  }

  /** Whether one of the k best candidate outputs maps to `label` (timm's top-k over the masked logits). */
  topKContains(logits: ArrayLike<number>, label: number, k: number): boolean {
    // Count candidates that beat the best output of the label's class; ties count for the earlier output,
    // as a stable sort would place them.
    let best = -1;
    for (const o of this.candidates) {
      if (this.outputToClass[o] === label && (best < 0 || logits[o]! > logits[best]!)) best = o;
    }
    if (best < 0) return false;
    const value = logits[best]!;
    let ahead = 0;
    for (const o of this.candidates) {
      const v = logits[o]!;
      if (v > value || (v === value && o < best)) ahead++;
      if (ahead >= k) return false;
    }
    return true;
  }

  #bestOutput(logits: ArrayLike<number>): number {
    this.#checkLength(logits);
    let best = this.candidates[0]!;
    for (const o of this.candidates) if (logits[o]! > logits[best]!) best = o;
    return best;
  }

  #checkLength(logits: ArrayLike<number>): void {
    if (logits.length !== this.outputToClass.length) {
      throw new LabelSpaceError(`the model returned ${logits.length} outputs, the label space expects ${this.outputToClass.length}`);
    }
  }
}
