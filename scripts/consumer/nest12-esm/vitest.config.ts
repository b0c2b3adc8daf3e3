import swc from 'unplugin-swc';
import { defineConfig } from 'vitest/config';

// Vite's own TypeScript transform drops decorator metadata, which Nest's injection needs; SWC keeps it.
export default defineConfig({
  test: { include: ['test/vitest/**/*.e2e-spec.ts'] },
  plugins: [swc.vite({ module: { type: 'es6' } })],
});
