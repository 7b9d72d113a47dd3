// Classifier metrics over one evaluation set: top-1/top-5 over all images (timm's `accuracy`, what SELECT
// reports), mean per-class accuracy, per-class accuracy and precision, negative log-likelihood and expected
// calibration error. Pure code: logits in, numbers out; the label-space mapping lives in label-space.ts.
import type { LabelSpace } from './label-space.js';

/** Equal-width confidence bins of the expected calibration error (Guo et al. 2017; torchmetrics' default). */
export const ECE_BINS = 15;

export interface ClassResult {
  /** Position in the evaluation label space (see LabelSpace.classes). */
  position: number;
  /** Images of this class in the evaluation set. */
  count: number;
  /** Of those, predicted correctly at top-1. */
  correct: number;
  /** Images (of any class) whose top-1 prediction was this class. */
  predicted: number;
  /** correct / count in percent; NaN when the class has no image. */
  accuracy: number;
  /** correct / predicted in percent; NaN when nothing was predicted as this class. */
  precision: number;
}

export interface ClassificationSummary {
  images: number;
  /** Percent of all images whose top-1 is right. */
  top1: number;
  /** Percent of all images whose label is among the top 5 (top min(5, candidates)). */
  top5: number;
  /** Mean over classes with at least one image of their accuracy, percent. */
  meanPerClassAccuracy: number;
  /** Mean negative log-likelihood of the true class (nats) under the softmax over the candidate logits. */
  nll: number;
  /** Expected calibration error in [0, 1]: sum over bins of |accuracy - confidence| weighted by the bin's share. */
  ece: number;
}

/** What one image contributes; kept per image for the stored predictions. */
export interface ImagePrediction {
  label: number;
  /** Evaluation-space positions of the top 5 predictions, best first. */
  top5: number[];
  /** Their probabilities. */
  top5Prob: number[];
  /** Probability given to the true class. */
  trueProb: number;
}

/** Serializable accumulator state, so a partial evaluation resumes from a checkpoint. */
export interface ClassificationState {
  images: number;
  top1: number;
  top5: number;
  nllSum: number;
  count: number[];
  correct: number[];
  predicted: number[];
  binCount: number[];
  binCorrect: number[];
  binConfidence: number[];
}

/**
 * Accumulates the metrics of one evaluation set, image by image. `add` takes the model's raw output row; the
 * label space decides which logits compete and how outputs map onto evaluation classes.
 */
export class ClassificationAccumulator {
  readonly #space: LabelSpace;
  readonly #state: ClassificationState;
  readonly #probs: Float64Array;

  constructor(space: LabelSpace, state?: ClassificationState) {
    this.#space = space;
    const classes = space.classes.length;
    this.#state = state
      ? structuredClone(state)
      : {
          images: 0,
          top1: 0,
          top5: 0,
          nllSum: 0,
          count: new Array<number>(classes).fill(0),
          correct: new Array<number>(classes).fill(0),
          predicted: new Array<number>(classes).fill(0),
          binCount: new Array<number>(ECE_BINS).fill(0),
          binCorrect: new Array<number>(ECE_BINS).fill(0),
          binConfidence: new Array<number>(ECE_BINS).fill(0),
        };
    if (this.#state.count.length !== classes) {
      throw new Error(`checkpointed metrics hold ${this.#state.count.length} classes, the label space ${classes}`);
    }
    this.#probs = new Float64Array(space.classes.length);
  }

  /** Adds one image: `logits` is the model's output row, `label` the image's evaluation-space position. */
  add(logits: ArrayLike<number>, label: number): ImagePrediction {
    const s = this.#state;
    if (!Number.isInteger(label) || label < 0 || label >= s.count.length) {
      throw new RangeError(`label ${label} is outside the evaluation label space of ${s.count.length} classes`);
    }
    const probs = this.#probs;
    this.#space.classProbabilities(logits, probs);
    // Top 5 by probability; ties go to the lower position (stable and deterministic).
    const k = Math.min(5, this.#space.candidateCount);
    const top: number[] = [];
    for (let c = 0; c < probs.length; c++) {
      const p = probs[c]!;
      if (top.length === k && p <= probs[top[k - 1]!]!) continue;
      let at = top.length;
      while (at > 0 && probs[top[at - 1]!]! < p) at--;
      top.splice(at, 0, c);
      if (top.length > k) top.pop();
    }
    // The winning output decides top-1; with a many-to-one mapping (ObjectNet) it is the best single output.
    const predicted = this.#space.top1Class(logits);
    const confidence = this.#space.top1Confidence(logits);
    const isCorrect = predicted === label;
    s.images++;
    s.count[label]!++;
    if (predicted >= 0) s.predicted[predicted]!++;
    if (isCorrect) {
      s.top1++;
      s.correct[label]!++;
    }
    if (this.#space.topKContains(logits, label, k)) s.top5++;
    const trueProb = probs[label]!;
    s.nllSum += -Math.log(Math.max(trueProb, Number.MIN_VALUE));
    const bin = Math.min(ECE_BINS - 1, Math.max(0, Math.ceil(confidence * ECE_BINS) - 1));
    s.binCount[bin]!++;
    s.binConfidence[bin]! += confidence;
    if (isCorrect) s.binCorrect[bin]!++;
    return { label, top5: top, top5Prob: top.map((c) => probs[c]!), trueProb };
  }

  get images(): number {
    return this.#state.images;
  }

  /** A copy of the state, for a checkpoint. */
  state(): ClassificationState {
    return structuredClone(this.#state);
  }

  summary(): ClassificationSummary {
    const s = this.#state;
    if (s.images === 0) throw new Error('no image was evaluated');
    let accSum = 0;
    let present = 0;
    for (let c = 0; c < s.count.length; c++) {
      if (s.count[c]! === 0) continue;
      accSum += s.correct[c]! / s.count[c]!;
      present++;
    }
    let ece = 0;
    for (let b = 0; b < ECE_BINS; b++) {
      const n = s.binCount[b]!;
      if (n === 0) continue;
      ece += (n / s.images) * Math.abs(s.binCorrect[b]! / n - s.binConfidence[b]! / n);
    }
    return {
      images: s.images,
      top1: (100 * s.top1) / s.images,
      top5: (100 * s.top5) / s.images,
      meanPerClassAccuracy: (100 * accSum) / present,
      nll: s.nllSum / s.images,
      ece,
    };
  }

  perClass(): ClassResult[] {
    const s = this.#state;
    return s.count.map((count, position) => ({
      position,
      count,
      correct: s.correct[position]!,
      predicted: s.predicted[position]!,
      accuracy: count === 0 ? Number.NaN : (100 * s.correct[position]!) / count,
      precision: s.predicted[position]! === 0 ? Number.NaN : (100 * s.correct[position]!) / s.predicted[position]!,
    }));
  }
}
