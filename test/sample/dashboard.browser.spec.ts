import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { createGateway, type Gateway } from '../../sample-app/index.js';

/**
 * The live dashboard in a real headless Chromium (Debian's `chromium`, driven by
 * playwright-core): it follows a provider outage and the recovery through its event stream.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = join(
  resolve(dirname(fileURLToPath(import.meta.url)), '../..'),
  'docs/images/dashboard.png',
);
const RECOVERY_MS = 300;
/**
 * How soon the page must show a transition. It is pushed as it happens (a quiet machine shows it
 * well within a second); the bound is loose so that a loaded CI machine (a browser, a gateway
 * and Jest's other workers on two cores) does not fail a correct page.
 */
const SHOWN_WITHIN_MS = 5_000;

let gateway: Gateway;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
  gateway = await createGateway({
    env: {
      LLM_BREAKER_THRESHOLD: '2',
      LLM_BREAKER_RECOVERY_MS: String(RECOVERY_MS),
      LLM_RETRY_MAX_ATTEMPTS: '2',
      LLM_RETRY_BASE_DELAY_MS: '5',
      FAKE_LLM_LATENCY_MS: '20',
    },
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 760 } });
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => consoleErrors.push(error.message));
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gateway?.close();
});

function chat(prompt: string): Promise<Response> {
  return fetch(`${gateway.url}/chat`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt }),
  });
}

function circuitIs(state: string, timeout = SHOWN_WITHIN_MS): Promise<unknown> {
  return page.waitForSelector(`[data-circuit="llm"][data-state="${state}"]`, { timeout });
}

describe('GET /dashboard in headless Chromium', () => {
  it('loads and shows the circuit closed, live', async () => {
    await page.goto(`${gateway.url}/dashboard`);
    await circuitIs('closed', 5_000);
    await page.waitForSelector('#connection.live', { timeout: 5_000 });
    expect(await page.textContent('[data-guard="llm"] .depth')).toBe('0 / 4');
  });

  it('turns the circuit open on a provider outage, and closed after recovery', async () => {
    await Promise.all(['hello', 'hi', 'hello', 'hey'].map((prompt) => chat(prompt)));
    gateway.fake!.configure({ outage: true });
    for (const prompt of ['outage 1', 'outage 2']) expect((await chat(prompt)).status).toBe(502);
    await circuitIs('open');
    expect(await page.textContent('#transitions')).toContain('llm: closed → open');

    gateway.fake!.configure({ outage: false });
    await new Promise((resolve) => setTimeout(resolve, RECOVERY_MS + 50));
    expect((await chat('after the outage')).status).toBe(200);
    await circuitIs('closed');
    expect(await page.textContent('#transitions')).toContain('llm: half-open → closed');
  });

  it('charts calls per second, and logs no console error', async () => {
    for (let round = 0; round < 12; round++) {
      await Promise.all(
        Array.from({ length: 2 + (round % 4) }, (_, i) => chat(`round ${round} prompt ${i}`)),
      );
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await page.waitForFunction(
      () => (document.getElementById('calls-line')?.getAttribute('points') ?? '').length > 0,
      undefined,
      { timeout: 5_000 },
    );
    await mkdir(dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect(consoleErrors).toEqual([]);
  });
});
