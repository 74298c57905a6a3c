// Lint: typescript-eslint's strict type-checked rules over everything tsc checks. Formatting is
// Prettier's job, not the linter's.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/node-red/', 'bench/results/', 'hub/web/', 'tests/artifacts/', 'dashboards/out/'] },
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Numbers and booleans read well in messages; objects and undefined do not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // `() => void f()` and `(x) => list.push(x)` are the shortest honest callbacks.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // With noUncheckedIndexedAccess every checked index needs it; tsc already refuses the unchecked ones.
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
