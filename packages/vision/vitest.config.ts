import { packageConfig } from '../../vitest.shared.js';

// The native-path tests need the preprocessing addon; globalSetup builds it when it is missing or older than its sources.
export default packageConfig({ globalSetup: ['./scripts/build-native.mjs'] });
