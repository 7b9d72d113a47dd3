#!/usr/bin/env node
// Scaffolds packages/<name> with the repository's conventions:
//   node scripts/new-package.mjs <name> <type:lib|service|contract|app> "<description>" [dep ...]
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const [name, type, description, ...deps] = process.argv.slice(2);
if (!name || !type || !description) {
  console.error('usage: new-package.mjs <name> <lib|service|contract|app> "<description>" [@select/dep ...]');
  process.exit(2);
}
const dir = join('packages', name);
if (existsSync(dir)) {
  console.error(`${dir} exists`);
  process.exit(1);
}
mkdirSync(join(dir, 'src'), { recursive: true });
const workspaceDeps = deps.filter((d) => d.startsWith('@select/'));
const pkg = {
  name: `@select/${name}`,
  version: '0.1.0',
  private: true,
  description,
  type: 'module',
  exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
  ...(type === 'service' || type === 'app' ? { bin: undefined } : {}),
  scripts: {
    build: 'tsc -b tsconfig.lib.json',
    typecheck: 'tsc -p tsconfig.json --noEmit',
    lint: 'eslint src',
    test: 'vitest run',
  },
  dependencies: Object.fromEntries(workspaceDeps.map((d) => [d, '*'])),
  nx: { tags: [`type:${type}`] },
};
writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
const refs = workspaceDeps.map((d) => ({ path: `../${d.slice('@select/'.length)}/tsconfig.lib.json` }));
writeFileSync(
  join(dir, 'tsconfig.lib.json'),
  JSON.stringify(
    {
      extends: '../../tsconfig.base.json',
      compilerOptions: { composite: true, rootDir: 'src', outDir: 'dist', tsBuildInfoFile: 'dist/tsconfig.lib.tsbuildinfo' },
      include: ['src/**/*.ts', 'src/**/*.json'],
      exclude: ['src/**/*.spec.ts', 'src/**/*.test-util.ts'],
      references: refs,
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(
  join(dir, 'tsconfig.json'),
  JSON.stringify(
    {
      extends: '../../tsconfig.base.json',
      compilerOptions: { noEmit: true, paths: { '@select/*': ['../*/src/index.ts'] } },
      include: ['src/**/*.ts', 'test/**/*.ts', 'vitest.config.ts'],
    },
    null,
    2,
  ) + '\n',
);
writeFileSync(
  join(dir, 'vitest.config.ts'),
  `import { packageConfig } from '../../vitest.shared.js';\n\nexport default packageConfig();\n`,
);
writeFileSync(join(dir, 'src', 'index.ts'), `// Public entry of @select/${name}: ${description}\nexport {};\n`);
writeFileSync(join(dir, 'README.md'), `# @select/${name}\n\n${description}\n`);
console.log(`created ${dir}`);
