// The verification_token of a right code, verified as an app's own backend does it in node (see
// backend.ts): with jose and nothing but the server's published key set.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { errors, jwtVerify } from 'jose';

import { createClient } from '../generated/client/client/index.js';
import { checkVerification, getJsonWebKeySet, requestVerification } from '../generated/client/sdk.gen.js';
import { publishedKeys, verifyOptions, verifyToken } from './backend.js';
import { codeFromLog, runningServer } from './server.js';

const server = runningServer();
const client = createClient({ baseUrl: server.url });

// One key set for the module, as a backend keeps one.
const keys = publishedKeys(server.url);

describe('the verification_token', () => {
  it('proves the number to a backend that holds only the published keys', async () => {
    const number = '+14155550107'; // E.164, as the token names it, whatever the format the app sent
    const started = await requestVerification({ client, body: { number: '1.415.555.0107' } });
    assert.ok(started.data, JSON.stringify(started.error));
    const requestId = started.data.request_id;
    const code = await codeFromLog(server.logFile, requestId);
    const verified = await checkVerification({ client, body: { request_id: requestId, code } });
    assert.equal(verified.response.status, 200, JSON.stringify(verified.error));
    const token = verified.data?.verification_token;
    assert.ok(token, 'a right code must answer verification_token');

    await verifyToken(token, keys, number, requestId);

    // The same signature over another number must be refused for the signature itself.
    const [header, body, signature] = token.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, sub: '+14155550999', phone_number: '+14155550999' }));
    await assert.rejects(
      jwtVerify(`${header}.${forged.toString('base64url')}.${signature}`, keys, verifyOptions),
      errors.JWSSignatureVerificationFailed,
    );
  });

  it('is checked against a key set that backends may cache for five minutes', async () => {
    const set = await getJsonWebKeySet({ client });
    assert.equal(set.response.status, 200, JSON.stringify(set.error));
    assert.equal(set.response.headers.get('cache-control'), 'public, max-age=300');
    assert.ok(set.data?.keys.some((k) => k.kty === 'EC' && k.alg === 'ES256' && k.crv === 'P-256'));
  });
});
