// Lint: typescript-eslint's strict type-checked rules over everything tsc checks. Formatting is
// Prettier's job, not the linter's.
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: [
      'dist/',
      'node_modules/',
      'bench/node-red/',
      'bench/results/',
      'hub/web/',
      'tests/artifacts/',
      'dashboards/out/',
    ],
  },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['eslint.config.js', 'bench/bare-aedes.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers and booleans read well in messages; objects and undefined do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => void f()` and `(x) => list.push(x)` are the shortest honest callbacks.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // With noUncheckedIndexedAccess every checked index needs it; tsc already refuses the unchecked ones.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // An async method that implements a promise-returning interface turns its throws into rejections.
      '@typescript-eslint/require-await': 'off',
      // `{ secret: _secret, ...rest }` is how a field is left out of a copy.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // A callback made before a part exists may name the part it is given to later.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  {
    // A cleanup hook guards against a setup that failed half way: the types say what the setup
    // promised, not what it got to.
    files: ['tests/**'],
    rules: { '@typescript-eslint/no-unnecessary-condition': 'off' },
  },
  {
    // Grafana's v2 dashboard schema needs Grafana 12 with a feature flag; sites run v1 dashboards.
    files: ['dashboards/**'],
    rules: { '@typescript-eslint/no-deprecated': 'off' },
  },
);
