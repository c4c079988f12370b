import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Oracle round trips spawn thin-provisioning-tools many times.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
