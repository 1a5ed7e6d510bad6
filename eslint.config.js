// Lint rules that keep the data flow one way (see CONTRIBUTING.md):
// no import cycles, no role importing another role, src/run and src/report never import src/cli.
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import importPlugin from 'eslint-plugin-import';

const roles = readdirSync(new URL('./roles/', import.meta.url), { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name);

export default tseslint.config({ ignores: ['node_modules/**', 'tprun-render/**', 'dist/**'] }, js.configs.recommended, ...tseslint.configs.recommended, {
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
        ],
      },
    ],
    '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    '@typescript-eslint/no-explicit-any': 'off',
    'no-control-regex': 'off',
  },
});
