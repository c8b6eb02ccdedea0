import { ErrorCode, PropelError } from '../../common';
import { OPS_ERRORS, OpsError } from '../../common/ops';
import { EXIT, exitCodeOf, runCli } from './cli';

/** Runs the CLI without Redis: these command lines fail before any connection is opened. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  // An unreachable Redis: a test that connected by mistake fails instead of passing quietly.
  const env = { PROPEL_REDIS_URL: 'redis://127.0.0.1:1', PROPEL_PARTITIONS: '8' };
  const code = await runCli(argv, env, { out: (t) => out.push(t), err: (t) => err.push(t), stdin: () => '', tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

describe('ops CLI: usage and exit codes', () => {
  it('--help lists the commands and documents the exit codes (exit 0)', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(EXIT.ok);
    for (const c of ['status', 'inspect', 'audit', 'members', 'manual', 'retry', 'dead', 'config', 'drain', 'undrain']) expect(r.out).toMatch(new RegExp(`\\n  ${c}\\b`));
    expect(r.out).toMatch(/Exit codes:\n  0  done\n  1  failed.*\n  2  usage error.*\n  3  refused.*\n  4  timed out/);
  });

  it.each([
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['inspect', 'referral'], /missing required argument 'id'/],
    [['status', '--overdue-after', 'soon'], /is not a duration/],
    [['manual', 'list', '--limit', '0'], /--limit must be an integer from 1 to 10000/],
    [['audit', 'referral', 'x', '--limit', '0'], /--limit must be an integer from 1 to 1000\b/],
    [['audit', 'referral'], /missing required argument 'id'/],
    [['dead', 'list', '--source', 'p9'], /a partition from 0 to 7, 'ingest' or 'notifications'/],
    [['dead', 'replay', '3'], /replay takes dead-letter ids, or --all/],
    [['dead', 'purge', '3'], /purge needs exactly one of/],
    [['manual', 'retry'], /retry needs <type> <id>, or --all/],
  ])('%j is a usage error (exit 2) that says what is wrong', async (argv, message) => {
    const r = await cli(...argv);
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(message);
  });

  it('no command at all prints the usage (exit 2)', async () => {
    const r = await cli();
    expect(r.code).toBe(EXIT.usage);
    expect(r.err).toMatch(/Usage: ops/);
  });
});

describe('exitCodeOf', () => {
  it.each([
    [new OpsError(OPS_ERRORS.notFound, 'x'), EXIT.usage],
    [new OpsError(OPS_ERRORS.invalidInput, 'x'), EXIT.usage],
    [new PropelError('INVALID_ACTIVITY', 'x'), EXIT.usage],
    [new PropelError(ErrorCode.InvalidId, 'x'), EXIT.usage],
    [new PropelError(ErrorCode.CallTimeout, 'x'), EXIT.timeout],
    [new PropelError(ErrorCode.InvalidMessage, 'x'), EXIT.refused],
    [new Error('ECONNREFUSED'), EXIT.failed],
  ])('%s → %d', (err, code) => {
    expect(exitCodeOf(err)).toBe(code);
  });
});
