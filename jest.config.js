/** Jest for the whole repository: infrastructure (test/), the sample app (app/test/) and tools. */
const swc = { jsc: { target: 'es2022' }, module: { type: 'commonjs' } };

module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/app/test', '<rootDir>/tools', '<rootDir>/bench'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', swc],
    '^.+\\.(c|m)js$': ['@swc/jest', swc],
  },
  // Jest's module system is CommonJS. PGlite ships ESM that Node itself loads fine (its dynamic import() of Node
  // built-ins): compile it like our own code.
  transformIgnorePatterns: ['/node_modules/(?!@electric-sql/pglite/)'],
  modulePathIgnorePatterns: ['<rootDir>/cdk.out', '<rootDir>/app/dist'],
  // Two cores on CI, three workers: with two, the cores were busy about 65 % of the run (tests wait on servers,
  // child processes and timers); a third worker fills that (853 s -> 750 s for the whole suite, measured here).
  maxWorkers: 3,
  // One synth per stage and options for the whole run, shared by the test files' processes (synth-cache.ts).
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  testTimeout: 60000,
};
