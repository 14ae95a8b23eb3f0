// Swagger UI at /docs in a real browser: Debian's chromium, driven by playwright-core (which never
// downloads a browser of its own). The page must render the four operations in the order of the flow,
// "Try it out" must reach this server, and the page must need nothing but this server: it works offline.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { runningServer } from './server.js';

const server = runningServer();
const origin = new URL(server.url).origin;
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

describe('Swagger UI at /docs', () => {
  let profile: string;
  let context: BrowserContext;
  let page: Page;
  const requested: string[] = [];
  const failed: string[] = [];

  before(async () => {
    // A fresh profile each run, so nothing cached from an earlier run can stand in for the server.
    profile = await mkdtemp(join(tmpdir(), 'verify-proxy-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    context.on('request', (r) => requested.push(r.url()));
    context.on('requestfailed', (r) => failed.push(`${r.url()}: ${r.failure()?.errorText}`));
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await context?.close();
    await rm(profile, { recursive: true, force: true });
  });

  it('renders the four operations', async () => {
    await page.goto(`${server.url}/docs`);
    const operations = page.locator('.opblock');
    await operations.first().waitFor({ timeout: 15_000 });
    const paths = await page.locator('.opblock .opblock-summary-path').allInnerTexts();
    assert.deepEqual(
      paths.map((p) => p.replace(/\u200b/g, '').trim()).sort(),
      ['/.well-known/jwks.json', '/cancel', '/check', '/request'],
    );
    for (const [tag, id] of [
      ['verification', 'requestVerification'],
      ['verification', 'checkVerification'],
      ['verification', 'cancelVerification'],
      ['tokens', 'getJSONWebKeySet'],
    ]) {
      assert.equal(await page.locator(`#operations-${tag}-${id}`).count(), 1, `operation ${id} is not shown`);
    }
  });

  it('lists the operations in the order of the flow: request, check, cancel', async () => {
    // Swagger UI keeps the served document's order of tags and paths; sorted, /cancel would lead.
    const shown = await page.locator('.opblock').evaluateAll((blocks) => blocks.map((b) => b.id));
    assert.deepEqual(shown, [
      'operations-verification-requestVerification',
      'operations-verification-checkVerification',
      'operations-verification-cancelVerification',
      'operations-tokens-getJSONWebKeySet',
    ]);
  });

  it('"Try it out" on /request with the example number starts a verification', async () => {
    const request = page.locator('#operations-verification-requestVerification');
    await request.locator('.opblock-summary').click();
    await request.getByRole('button', { name: 'Try it out' }).click();
    const body = request.locator('textarea.body-param__text');
    assert.match(await body.inputValue(), /"number":\s*"14155550100"/, 'the example number is not prefilled');

    const answered = page.waitForResponse((r) => r.url() === `${origin}/request` && r.request().method() === 'POST');
    await request.getByRole('button', { name: 'Execute' }).click();
    const response = await answered;
    assert.equal(response.status(), 200, await response.text());
    const started = (await response.json()) as { request_id?: unknown; status?: unknown };
    assert.match(String(started.request_id), /^[0-9a-f]{32}$/);
    assert.equal(started.status, '0');

    // What the person sees: the live response with its code and the request_id.
    const live = request.locator('.live-responses-table');
    await live.locator('.response-col_status', { hasText: '200' }).waitFor();
    assert.match(await live.innerText(), new RegExp(String(started.request_id)));

    // Swagger UI must not fill in an Idempotency-Key of its own: the same key on every try would make
    // the next person's try, with another number, a 422 for a day.
    assert.equal(response.request().headers()['idempotency-key'], undefined, 'Swagger UI sent an Idempotency-Key');

    // A second try with another number, as the next person at this server would: a new verification.
    await body.fill('{"number": "14155550199"}');
    const again = page.waitForResponse((r) => r.url() === `${origin}/request` && r.request().method() === 'POST');
    await request.getByRole('button', { name: 'Execute' }).click();
    const second = await again;
    assert.equal(second.status(), 200, await second.text());
    const secondStarted = (await second.json()) as { request_id?: unknown };
    assert.notEqual(secondStarted.request_id, started.request_id, 'the second try was answered with the first');

    const shots = process.env.E2E_ARTIFACTS ?? (await mkdtemp(join(tmpdir(), 'verify-proxy-docs-')));
    const shot = join(shots, 'swagger-ui-try-it-out.png');
    await page.screenshot({ path: shot, fullPage: true });
    console.log(`screenshot: ${shot}`);
  });

  it('asked nothing of any other origin', () => {
    assert.ok(requested.length > 0, 'no request was recorded at all');
    const elsewhere = requested.filter((url) => !url.startsWith('data:') && new URL(url).origin !== origin);
    assert.deepEqual(elsewhere, [], 'the page reached outside the server');
    assert.deepEqual(failed, [], 'requests failed');
  });
});
