import { packageConfig } from '../../vitest.shared.js';

// The decode tests need the JPEG addon; globalSetup builds it when it is missing or older than its sources.
export default packageConfig({ globalSetup: ['./scripts/build-native.mjs'] });
