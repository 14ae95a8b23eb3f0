// Silent authentication as a web or React Native app does it, through the TypeScript client: /request
// answers a check_url, the phone opens it (over mobile data in real life; the sandbox serves it itself),
// takes the code from the answer, and sends it to /check as usual. Against the two Verify v2 sandboxes
// that e2e/run.sh starts: one whose check_url answers the code as JSON, and one with a redirect URL,
// whose check_url redirects to the app's page with the code in the URL's fragment.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';

import { createClient } from '../generated/client/client/index.js';
import { checkVerification, requestVerification } from '../generated/client/sdk.gen.js';
import type { ErrorBody, VerificationStarted } from '../generated/client/types.gen.js';
import { publishedKeys, verifyToken } from './backend.js';
import { env, runningServer, type RunningServer } from './server.js';

const silent = runningServer('VERIFY_PROXY_SILENT');
const redirecting = runningServer('VERIFY_PROXY_SILENT_REDIRECTING');

/** The check_url of a start: an absolute http URL on the server, which the phone can reach as the app did. */
function checkUrlOn(server: RunningServer, started: VerificationStarted): string {
  const checkUrl = started.check_url;
  assert.ok(checkUrl, `a silent start must answer check_url: ${JSON.stringify(started)}`);
  const url = new URL(checkUrl);
  assert.equal(url.protocol, 'http:', `check_url ${checkUrl} is not an http URL`);
  assert.equal(url.host, new URL(server.url).host, `check_url ${checkUrl} is not on ${server.url}`);
  return checkUrl;
}

/** The code from check_url verifies the number through /check, with a token a backend accepts. */
async function checkVerifies(server: RunningServer, requestId: string, code: string, number: string): Promise<void> {
  const client = createClient({ baseUrl: server.url });
  const verified = await checkVerification({ client, body: { request_id: requestId, code } });
  assert.equal(verified.response.status, 200, JSON.stringify(verified.error));
  assert.equal(verified.data?.status, '0');
  assert.equal(verified.data?.request_id, requestId);
  const token = verified.data?.verification_token;
  assert.ok(token, 'a right code must answer verification_token');
  await verifyToken(token, publishedKeys(server.url), number, requestId);
}

describe('silent authentication', () => {
  it('answers the code as JSON at check_url, and that code verifies the number with a token', async () => {
    const number = '+14155550113';
    const client = createClient({ baseUrl: silent.url });
    const started = await requestVerification({ client, body: { number: '+1 415 555 0113' } });
    assert.equal(started.response.status, 200, JSON.stringify(started.error));
    assert.ok(started.data);
    assert.equal(started.data.status, '0');
    const requestId = started.data.request_id;
    const checkUrl = checkUrlOn(silent, started.data);

    // As the phone opens it: redirects followed (there are none in the sandbox).
    const answer = await fetch(checkUrl);
    assert.equal(answer.status, 200, await answer.clone().text());
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    assert.match(answer.headers.get('content-type') ?? '', /^application\/json/);
    const body = (await answer.json()) as Record<string, unknown>;
    assert.deepEqual(Object.keys(body).sort(), ['code', 'request_id'], JSON.stringify(body));
    assert.equal(body.request_id, requestId);
    assert.equal(typeof body.code, 'string');

    await checkVerifies(silent, requestId, body.code as string, number);

    // The check_url of a verification that does not exist leads nowhere: 404 with the contract's ErrorBody.
    const unknown = await fetch(checkUrl.replace(requestId, randomUUID()));
    assert.equal(unknown.status, 404);
    const error = (await unknown.json()) as ErrorBody;
    assert.equal(error.error, 'not_found');
  });

  it("redirects from check_url to the app's page with the request_id and code in the fragment", async () => {
    const number = '+14155550114';
    const client = createClient({ baseUrl: redirecting.url });
    const started = await requestVerification({ client, body: { number: '14155550114' } });
    assert.ok(started.data, JSON.stringify(started.error));
    const requestId = started.data.request_id;

    // Not followed: the app's page is served by no one here, and the fragment is what the page reads.
    const answer = await fetch(checkUrlOn(redirecting, started.data), { redirect: 'manual' });
    assert.equal(answer.status, 302, await answer.clone().text());
    assert.equal(answer.headers.get('cache-control'), 'no-store');
    const location = answer.headers.get('location');
    assert.ok(location, 'a redirect without Location');
    const [page, fragment] = location.split('#') as [string, string | undefined];
    assert.equal(page, env('VERIFY_PROXY_SILENT_APP_PAGE'));
    assert.ok(fragment, `no fragment in ${location}`);
    const params = new URLSearchParams(fragment);
    assert.deepEqual([...params.keys()].sort(), ['code', 'request_id'], location);
    assert.equal(params.get('request_id'), requestId);
    const code = params.get('code');
    assert.ok(code, `no code in ${location}`);

    await checkVerifies(redirecting, requestId, code, number);
  });

  it('is not offered by the Verify v1 sandbox: its start has no check_url', async () => {
    const client = createClient({ baseUrl: runningServer().url });
    const started = await requestVerification({ client, body: { number: '+1 415 555 0109' } });
    assert.equal(started.response.status, 200, JSON.stringify(started.error));
    assert.ok(started.data);
    assert.equal(started.data.status, '0');
    assert.equal(started.data.check_url, undefined);
    assert.ok(!('check_url' in started.data), JSON.stringify(started.data));
  });
});
