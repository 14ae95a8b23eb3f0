// The whole verification flow through the TypeScript client that @hey-api/openapi-ts generates from
// openapi.yaml, against the running server (sandbox backend).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createClient } from '../generated/client/client/index.js';
import { cancelVerification, checkVerification, requestVerification } from '../generated/client/sdk.gen.js';
import type { CancelResult, ErrorBody } from '../generated/client/types.gen.js';
import { codeFromLog, runningServer } from './server.js';

const server = runningServer();
const client = createClient({ baseUrl: server.url });

function wrongCode(code: string): string {
  return [...code].map((d) => (d === '9' ? '0' : String(Number(d) + 1))).join('');
}

describe('the generated TypeScript client', () => {
  it('refuses a wrong code with the ErrorBody, then verifies the right one', async () => {
    const started = await requestVerification({ client, body: { number: '+1 415 555 0103' } });
    assert.equal(started.response.status, 200, JSON.stringify(started.error));
    assert.ok(started.data);
    const requestId = started.data.request_id;
    assert.equal(started.data.status, '0');
    const code = await codeFromLog(server.logFile, requestId);

    const wrong = await checkVerification({ client, body: { request_id: requestId, code: wrongCode(code) } });
    assert.equal(wrong.response.status, 400);
    assert.equal(wrong.data, undefined);
    const error: ErrorBody | undefined = wrong.error;
    assert.ok(error);
    assert.equal(error.error, 'code_mismatch');
    assert.ok(error.error_text.length > 0, 'error_text must say what went wrong');
    assert.equal(error.status, '16');
    assert.equal(error.request_id, requestId);

    const verified = await checkVerification({ client, body: { request_id: requestId, code } });
    assert.equal(verified.response.status, 200, JSON.stringify(verified.error));
    assert.equal(verified.data?.request_id, requestId);
    assert.equal(verified.data?.status, '0');
  });

  it('cancels a fresh verification, and only once', async () => {
    const started = await requestVerification({ client, body: { number: '14155550104' } });
    assert.ok(started.data, JSON.stringify(started.error));

    const cancelled = await cancelVerification({ client, body: { request_id: started.data.request_id } });
    assert.equal(cancelled.response.status, 200, JSON.stringify(cancelled.error));
    const command: CancelResult['command'] | undefined = cancelled.data?.command;
    assert.equal(command, 'cancel');

    const again = await cancelVerification({ client, body: { request_id: started.data.request_id } });
    assert.equal(again.response.status, 400);
    assert.equal(again.error?.error, 'not_found');
  });

  it('refuses an invalid number before anything is sent', async () => {
    const refused = await requestVerification({ client, body: { number: '12' } });
    assert.equal(refused.response.status, 400);
    assert.equal(refused.error?.error, 'invalid_number');
    assert.equal(refused.error?.request_id, undefined);
  });
});
