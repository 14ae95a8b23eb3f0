// The server under test, started by e2e/run.sh (`make e2e`): its base URL and the file its log goes to.
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

export interface RunningServer {
  url: string;
  logFile: string;
}

/** Missing variables fail the test with a message, never skip it: a skipped end-to-end test proves nothing. */
export function runningServer(): RunningServer {
  const env = (name: string): string => {
    const value = process.env[name];
    if (!value) {
      throw new Error(`${name} is not set: run these tests with \`make e2e\`, which starts the server`);
    }
    return value;
  };
  return { url: env('VERIFY_PROXY_URL'), logFile: env('VERIFY_PROXY_LOG') };
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
