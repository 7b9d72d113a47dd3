// Lint rules for the whole workspace. Module boundaries are enforced with Nx tags:
//   type:contract  — protos and generated types; imports nothing of ours
//   type:lib       — shared libraries; may import contracts and other libs
//   type:service   — runnable gRPC services / consumers; import libs and contracts, never another service
//   type:app       — the CLI; may import everything except it never reaches into a package's src/
import nx from '@nx/eslint-plugin';
import tseslint from 'typescript-eslint';

const RESTRICTED = {
  onnxruntime: {
    name: 'onnxruntime-node',
    message: 'Only @select/inference imports onnxruntime-node: use its SessionPool, or startCustomWorker for a loop inside a worker.',
  },
  kafkajs: {
    name: 'kafkajs',
    message: 'Only @select/events imports kafkajs: use its producer, consumer, ensureTopics, describeTopics, readTopicOffsets or deleteTopicsWithPrefix.',
  },
};

export default [
  { ignores: ['**/dist/**', '**/node_modules/**', '**/src/generated/**', 'infra/.data/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': [
        'error',
        { selector: 'ExportAllDeclaration[exported=null]', message: 'Name what a module exports; no `export *`.' },
      ],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          banTransitiveDependencies: false,
          depConstraints: [
            { sourceTag: 'type:contract', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib', 'type:contract'] },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:lib', 'type:contract'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:contract', 'type:service'] },
          ],
        },
      ],
    },
  },
  // One ONNX boundary: only @select/inference imports onnxruntime-node (its worker threads); others get sessions
  // through its SessionPool or a custom worker loop (startCustomWorker). One Kafka boundary: only @select/events
  // imports kafkajs, tests included; topics are created, read (readTopicOffsets) and deleted through it.
  {
    files: ['**/*.ts'],
    ignores: ['packages/inference/**', 'packages/events/**', '**/*.spec.ts', '**/*.test-util.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [RESTRICTED.onnxruntime, RESTRICTED.kafkajs] }] },
  },
  {
    files: ['**/*.spec.ts', '**/*.test-util.ts'],
    ignores: ['packages/inference/**', 'packages/events/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [RESTRICTED.onnxruntime, RESTRICTED.kafkajs] }] },
  },
  {
    files: ['packages/inference/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [RESTRICTED.kafkajs] }] },
  },
];
