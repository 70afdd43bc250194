// Lint rules, including the layering of DESIGN §3: dependencies point downward only.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Components a folder under src/ must not import from (arrows point down). */
const forbidden = {
  common: [
    'rpc',
    'kv',
    'cluster',
    'mgmtd',
    'meta',
    'storage',
    'client',
    'fuse',
    'nfs',
    's3',
    'monitor',
    'admin',
    'bin',
  ],
  rpc: [
    'kv',
    'cluster',
    'mgmtd',
    'meta',
    'storage',
    'client',
    'fuse',
    'nfs',
    's3',
    'monitor',
    'admin',
    'bin',
  ],
  kv: [
    'rpc',
    'cluster',
    'mgmtd',
    'meta',
    'storage',
    'client',
    'fuse',
    'nfs',
    's3',
    'monitor',
    'admin',
    'bin',
  ],
  // The cluster link (mgmtd, routing, chunk I/O on chains): below every service and client.
  cluster: ['kv', 'mgmtd', 'meta', 'storage', 'client', 'fuse', 'nfs', 's3', 'monitor', 'admin', 'bin'],
  client: ['kv', 'mgmtd', 'meta', 'storage', 'fuse', 'nfs', 's3', 'monitor', 'admin', 'bin'],
  mgmtd: ['meta', 'storage', 'client', 'fuse', 'nfs', 's3', 'monitor', 'admin', 'bin'],
  meta: ['mgmtd', 'storage', 'client', 'fuse', 'nfs', 's3', 'monitor', 'admin', 'bin'],
  storage: ['mgmtd', 'meta', 'client', 'fuse', 'nfs', 's3', 'monitor', 'admin', 'bin'],
  fuse: ['mgmtd', 'meta', 'storage', 'nfs', 's3', 'monitor', 'admin', 'bin', 'kv'],
  nfs: ['mgmtd', 'meta', 'storage', 'fuse', 's3', 'monitor', 'admin', 'bin', 'kv'],
  s3: ['mgmtd', 'meta', 'storage', 'fuse', 'nfs', 'monitor', 'admin', 'bin', 'kv'],
  monitor: ['mgmtd', 'meta', 'storage', 'client', 'fuse', 'nfs', 's3', 'admin', 'bin'],
  admin: ['fuse', 'nfs', 's3', 'bin'],
};

const layering = Object.entries(forbidden).map(([component, banned]) => ({
  files: [`src/${component}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        // A service's protocol module (src/<service>/protocol/) is the one part others may use.
        patterns: banned.map((other) => ({
          regex: `^(\\.\\./)+${other}(/(?!protocol/)|$)`,
          message: `src/${component} must not depend on src/${other} (DESIGN §3 layering); only src/${other}/protocol/ is shared.`,
        })),
      },
    ],
  },
}));

/**
 * Code that decides (replication, recovery, cluster state, metadata, the client's retries) reads
 * time, arms timers and draws random numbers only through what it is given (common/clock.ts,
 * common/random.ts), so the simulation and the tests can drive it deterministically.
 */
const decidingCode = {
  files: [
    'src/storage/craq/**/*.ts',
    'src/storage/recovery/**/*.ts',
    'src/mgmtd/**/*.ts',
    'src/meta/**/*.ts',
    'src/client/**/*.ts',
    'src/cluster/**/*.ts',
  ],
  rules: {
    'no-restricted-properties': [
      'error',
      ...[
        ['Date', 'now'],
        ['Math', 'random'],
        ['performance', 'now'],
      ].map(([object, property]) => ({
        object,
        property,
        message: 'deciding code reads time and randomness through its injected Clock and Random',
      })),
    ],
    'no-restricted-globals': [
      'error',
      ...['setTimeout', 'setInterval'].map((name) => ({
        name,
        message: 'deciding code arms timers and reads time through its injected Clock',
      })),
    ],
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'native/**/build/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly' } },
  },
  ...layering,
  decidingCode,
);
