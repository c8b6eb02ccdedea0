import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import type { Browser } from 'playwright-core';

/** Debian's Chromium (scripts/ensure-chromium.sh installs it); PROPEL_CHROMIUM_PATH points elsewhere. */
export const CHROMIUM_PATH = process.env.PROPEL_CHROMIUM_PATH || '/usr/bin/chromium';

/**
 * Flags for a headless Chromium on a machine with a closed network: without the background-networking ones
 * it keeps trying Google's hosts (update checks, sync, QUIC) and fills the log with refused connections.
 * Playwright adds --headless and --no-sandbox itself and gives every launch a fresh temporary profile
 * (its own --user-data-dir), so no state leaks between runs.
 */
export const CHROMIUM_FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Starts headless Chromium through playwright-core; never downloads a browser. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no Chromium at ${CHROMIUM_PATH}: run scripts/ensure-chromium.sh (as root it installs Debian's chromium package), or set PROPEL_CHROMIUM_PATH`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_FLAGS, timeout: 20_000 });
}
