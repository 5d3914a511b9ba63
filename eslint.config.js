// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The money path (src/modules/billing/pricing/) has no floating point: no `/` (bigint division lives in
 * one file, below), no `Math`, no `parseFloat`/`toFixed`/`toPrecision`, no decimal or exponent literals.
 * src/modules/billing/pricing/money-lint.test.ts proves the rule is active.
 */
const DIVISION = [
  { selector: "BinaryExpression[operator='/']", message: 'money path: no `/` (integer-division.ts)' },
  { selector: "AssignmentExpression[operator='/=']", message: 'money path: no `/=` (integer-division.ts)' },
];
const NO_FLOAT = [
  { selector: "Identifier[name='Math']", message: 'money path: no Math (floating point)' },
  { selector: "Identifier[name='parseFloat']", message: 'money path: no parseFloat' },
  { selector: "Identifier[name='toFixed']", message: 'money path: no toFixed' },
  { selector: "Identifier[name='toPrecision']", message: 'money path: no toPrecision' },
  {
    selector: String.raw`Literal[raw=/^\d[\d_]*\.|^\.\d|^\d[\d_]*[eE]/]`,
    message: 'money path: no decimal or exponent literals',
  },
];
const PRICING = 'src/modules/billing/pricing/**/*.ts';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      '.data/**',
      'dist/**',
      'bin/**',
      'scratch/**',
      'eslint.config.js',
      // The console's build output and generated API types (web/ is linted from its own tsconfig).
      'web/dist/**',
      'web/src/api/schema.d.ts',
      'test-output/**',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Interface implementations are async by contract even when a body has nothing to await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: [PRICING],
    ignores: ['src/modules/billing/pricing/**/*.test.ts'],
    rules: { 'no-restricted-syntax': ['error', ...DIVISION, ...NO_FLOAT] },
  },
  {
    files: ['src/modules/billing/pricing/integer-division.ts'],
    rules: { 'no-restricted-syntax': ['error', ...NO_FLOAT] },
  },
);
