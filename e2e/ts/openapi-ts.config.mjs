// How @hey-api/openapi-ts generates the TypeScript client from the contract into generated/ (never
// committed): the fetch client, the types, and one SDK function per operationId.
import { defineConfig } from '@hey-api/openapi-ts';

export default defineConfig({
  input: '../../openapi.yaml',
  // Explicit .js extensions, so that node runs the compiled ES modules as they are.
  output: { path: 'generated/client', importFileExtension: '.js' },
  logs: { file: false },
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
});
