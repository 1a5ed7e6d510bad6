// Lint rules that keep the data flow one way (see CONTRIBUTING.md):
// no import cycles, no role importing another role, src/run and src/report never import src/cli.
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

const roles = readdirSync(new URL('./roles/', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

// Type-aware gates on the shipped code: a promise nobody awaits (a host's error lost, a run
// that ends before its writes), a switch that forgets a member of a union, a cast that hides
// nothing (the cast that hid the SSH pending-set leak was of that kind).
const typed = {
  files: ['src/**/*.ts', 'roles/**/*.ts', 'scripts/**/*.ts', 'bench/**/*.ts'],
  languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
  rules: {
    '@typescript-eslint/no-floating-promises': 'error',
    '@typescript-eslint/no-misused-promises': 'error',
    '@typescript-eslint/await-thenable': 'error',
    '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
    '@typescript-eslint/no-unnecessary-type-assertion': 'error',
  },
};

export default tseslint.config({ ignores: ['node_modules/**', 'tprun-render/**', 'dist/**'] }, js.configs.recommended, ...tseslint.configs.recommended, typed, {
  plugins: { import: importPlugin },
  languageOptions: {
    globals: {
      process: 'readonly',
      console: 'readonly',
      Buffer: 'readonly',
      URL: 'readonly',
      setTimeout: 'readonly',
      clearTimeout: 'readonly',
      performance: 'readonly',
      NodeJS: 'readonly',
    },
  },
  settings: {
    'import/resolver': { node: { extensions: ['.ts', '.js'] } },
    'import/parsers': { '@typescript-eslint/parser': ['.ts'] },
    'import/extensions': ['.ts', '.js'],
  },
  rules: {
    'import/no-cycle': ['error', { ignoreExternal: true }],
    'import/no-restricted-paths': [
      'error',
      {
        zones: [
          ...roles.map((r) => ({
            target: `./roles/${r}`,
            from: './roles',
            except: [`./${r}`],
            message: 'a role must not import another role: share through src/ instead',
          })),
          { target: './src/run', from: './src/cli', message: 'src/run must not depend on the command line' },
          { target: './src/report', from: './src/cli', message: 'src/report must not depend on the command line' },
          { target: './src', from: './roles', except: ['./registry.ts'], message: 'src/ reaches roles only through roles/registry.ts' },
          { target: './src/inventory', from: './src/plan', message: 'the inventory reads role settings through src/role/contract.ts, never the planner' },
          { target: './src/role', from: './src/plan', message: 'the role contract is read by the planner, not the other way round' },
        ],
      },
    ],
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    '@typescript-eslint/no-explicit-any': 'off',
    'no-control-regex': 'off',
  },
});
