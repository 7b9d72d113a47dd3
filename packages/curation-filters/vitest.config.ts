import { packageConfig } from '../../vitest.shared.js';

// OnnxSimilarityKernel's per-cluster scan runs on @select/vector-index's native addon; build it first when it is missing or stale.
export default packageConfig({ globalSetup: ['../vector-index/scripts/build-native.mjs'] });
