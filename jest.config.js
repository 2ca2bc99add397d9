/** Jest for the whole repository: infrastructure (test/), the sample app (app/test/) and tools. */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/app/test', '<rootDir>/tools', '<rootDir>/bench'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  modulePathIgnorePatterns: ['<rootDir>/cdk.out', '<rootDir>/app/dist'],
  // Two cores on CI: two workers; CDK synth and the database tests are CPU-bound.
  maxWorkers: 2,
  testTimeout: 60000,
};
