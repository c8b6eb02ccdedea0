// The image's HEALTHCHECK. The worker serves no HTTP port, so "healthy" is what the other workers
// themselves go by: this container's worker has a live entry in Propel's membership registry in Redis,
// i.e. its heartbeats reach Redis (PROPEL_HEARTBEAT_MS) and it has not been counted as gone
// (PROPEL_MEMBER_TTL_MS). It asks through the ops CLI (`ops members --json`), with the worker's own
// PROPEL_* environment, so it checks the same Redis, namespace and credentials the worker uses.
//
// Which entry is ours: PROPEL_WORKER_ID when it is set, else the default id that
// common/runtime/membership.ts builds, `<hostname, sanitized, first 40 chars>-<pid>-<random>`.
'use strict';
const { execFileSync } = require('node:child_process');
const { hostname } = require('node:os');
const { join } = require('node:path');

const explicit = process.env.PROPEL_WORKER_ID;
const prefix = `${hostname().replace(/[^a-zA-Z0-9_.-]/g, '-').slice(0, 40)}-`;
const isOurs = (member) => (explicit ? member === explicit : member.startsWith(prefix));

try {
  const out = execFileSync(process.execPath, [join(__dirname, 'dist/apps/ops/main.js'), 'members', '--json'], {
    timeout: 8000,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const mine = JSON.parse(out).members.filter((m) => isOurs(m.member));
  if (mine.length === 0) {
    console.log(`unhealthy: no live member ${explicit ?? `${prefix}*`} in the membership registry`);
    process.exit(1);
  }
  console.log(mine.map((m) => `healthy: ${m.member} holds ${m.partitions.length} partitions`).join('\n'));
} catch (err) {
  // One line is enough in `docker inspect`: the first error the ops command printed, or why it was stopped.
  const firstError = String(err.stderr || '').split('\n').find((line) => /error/i.test(line));
  const timedOut = err.code === 'ETIMEDOUT' || err.signal === 'SIGTERM';
  console.log(`unhealthy: ${timedOut ? 'no answer from Redis within 8 s' : (firstError || err.message).trim()}`);
  process.exit(1);
}
