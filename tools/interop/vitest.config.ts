import { packageConfig } from '../../vitest.shared.js';

// The reflection interop test: services started as a user starts them, called by grpcurl and Python.
export default packageConfig({ include: ['*.spec.ts'], testTimeout: 120_000, hookTimeout: 120_000 });
