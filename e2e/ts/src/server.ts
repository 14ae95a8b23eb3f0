// The servers under test, started by e2e/run.sh (`make e2e`): their base URLs and the files their logs go to.
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

export interface RunningServer {
  url: string;
  logFile: string;
}

/**
 * The server whose URL and log e2e/run.sh exports as `${prefix}_URL` and `${prefix}_LOG`: by default the
 * Verify v1 sandbox that most tests drive; VERIFY_PROXY_SILENT and VERIFY_PROXY_SILENT_REDIRECTING are the
 * Verify v2 sandboxes that verify by silent authentication first.
 */
export function runningServer(prefix = 'VERIFY_PROXY'): RunningServer {
  return { url: env(`${prefix}_URL`), logFile: env(`${prefix}_LOG`) };
}

/** A variable e2e/run.sh sets. Missing, it fails the test with a message, never skips it: a skipped end-to-end test proves nothing. */
export function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests with \`make e2e\`, which starts the servers`);
  }
  return value;
}

/**
 * The code of verification requestId, from the sandbox's `sandbox verification code` log record, as a
 * developer finds it. The record is written before /request answers; the file is polled briefly in
 * case the write is still on its way.
 */
export async function codeFromLog(logFile: string, requestId: string, timeoutMs = 5000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const line of (await readFile(logFile, 'utf8')).split('\n')) {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch {
        continue;
      }
      if (isCodeRecord(record) && record.request_id === requestId) {
        return record.code;
      }
    }
    if (Date.now() > deadline) {
      throw new Error(`no code logged for ${requestId} in ${logFile}`);
    }
    await delay(50);
  }
}

interface CodeRecord {
  msg: 'sandbox verification code';
  request_id: string;
  code: string;
}

function isCodeRecord(r: unknown): r is CodeRecord {
  if (typeof r !== 'object' || r === null) return false;
  const o = r as Record<string, unknown>;
  return o.msg === 'sandbox verification code' && typeof o.request_id === 'string' && typeof o.code === 'string';
}
