import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { OUTPUT_PATH, renderApiTypes, SPEC_PATH } from '../../tools/openapi/generate.mjs';

// docs/openapi.json is itself checked against the server by `tandem contracts --check`
// (tests/test_contracts.py): together they fail whenever a REST type in the client is stale.
describe('api.gen.ts', () => {
  it('is what openapi-typescript makes of docs/openapi.json', async () => {
    const [spec, onDisk] = await Promise.all([readFile(SPEC_PATH, 'utf8'), readFile(OUTPUT_PATH, 'utf8')]);
    expect(onDisk, 'src/sdk/api.gen.ts is stale: run `npm run gen:api` (or `make contracts`)').toBe(await renderApiTypes(spec));
  }, 30_000);
});
