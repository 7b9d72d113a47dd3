// Every step the curator offers, in ListStrategies order. Strategies 4-7 and filters 8-11 live in
// src/image/ and are added here as one spread of the list src/image/index.ts exports.
import { StepRegistry } from './chain/registry.js';
import type { StepDefinition } from './chain/step.js';
import { imageStepDefinitions } from './image/index.js';
import { schemaMappingDefinition } from './strategies/schema-mapping.js';
import { substringMatchDefinition } from './strategies/substring-match.js';
import { textSimilarityDefinition } from './strategies/text-similarity.js';

export const STEP_DEFINITIONS: readonly StepDefinition[] = [schemaMappingDefinition, substringMatchDefinition, textSimilarityDefinition, ...imageStepDefinitions];

/** A registry holding every step above. */
export function createStepRegistry(definitions: readonly StepDefinition[] = STEP_DEFINITIONS): StepRegistry {
  const registry = new StepRegistry();
  for (const definition of definitions) registry.register(definition);
  return registry;
}
