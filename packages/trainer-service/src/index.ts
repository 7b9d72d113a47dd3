// Public entry of @select/trainer-service: the gRPC trainer (timm runs, linear probes, kNN banks) and its parts.
export { trainerConfigSchema, type TrainerConfig } from './config.js';
export { SERVICE_NAME, runMessage, startTrainerServer, type TrainerServer } from './server.js';
export { DEFAULT_RECIPE, RECIPES, namedRecipe, recipeYaml, resolveRecipe, type NamedRecipe, type Recipe } from './recipes.js';
export { buildKnnBank, seededRandom, type KnnBank } from './knn-bank.js';
export { metricEventId, type RunMetric, type RunReport } from './run-board.js';
