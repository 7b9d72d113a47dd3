// The image strategies (4-7) and filters (8-11) of the chain, for the curator's step registry.
import type { StepDefinition } from '../chain/step.js';
import { clipScoreDefinition } from './clip-score-step.js';
import { contaminationDefinition } from './contamination-step.js';
import { imageToImageDefinition } from './image-to-image.js';
import { quotaDefinition } from './quota-step.js';
import { sdImg2imgDefinition, sdTxt2imgDefinition } from './sd-generation.js';
import { semdedupDefinition } from './semdedup-step.js';
import { textToImageDefinition } from './text-to-image.js';

export { CONTAMINATION, requireContaminationGate } from './contamination-step.js';
export { SD_IMG2IMG, SD_TXT2IMG, generatedPool, generatedShift } from './sd-generation.js';
export { rasterOf } from './service-calls.js';
export { registerEvaluationSet, listEvaluationSets, readSetInfo, type EvaluationSetInfo, type RegisterEvaluationSetOptions } from './evaluation-sets.js';

/** Every image step definition, in registry order. */
export const imageStepDefinitions: readonly StepDefinition[] = [
  imageToImageDefinition,
  textToImageDefinition,
  sdTxt2imgDefinition,
  sdImg2imgDefinition,
  clipScoreDefinition,
  semdedupDefinition,
  contaminationDefinition,
  quotaDefinition,
];
