import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ErrorCode, PropelError } from '../../common';
import * as ops from '../../common/ops';
import type { DeadSource } from '../../common/ops';
import { age, formatAudit, formatDeadList, formatDrain, formatInspection, formatManualPage, formatMembers, formatOpsTurn, formatReplay, formatStatus, parseDuration, ranges } from './format';
import { progressBar } from './progress';
import { Session } from './session';

/** Exit codes, documented in the help text. */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3, timeout: 4 } as const;

const EXIT_HELP = `
Exit codes:
  0  done
  1  failed: Redis unreachable, or an unexpected error
  2  usage error, invalid input, or no such actor, item or worker
  3  refused: the actor rejected the request, or part of a bulk operation was not done
  4  timed out waiting (drain, an actor's answer)

Environment: the workers' PROPEL_* settings (PROPEL_REDIS_URL, PROPEL_NAMESPACE, PROPEL_PARTITIONS, ...) and
PROPEL_OPERATOR (who is acting; default the login name). Human output by default, --json for scripts;
progress bars go to stderr when it is a terminal.`;

/** Where a command writes; tests and the entry point pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  /** The whole of stdin (for `config set <kind> <id> -`). */
  stdin(): string;
  /** Whether stderr is a terminal (progress bars). */
  tty: boolean;
}

interface Globals {
  json?: boolean;
  progress: boolean;
  operator?: string;
}

/** Error codes that mean the request itself was wrong (exit 2). */
const USAGE_CODES = new Set<string>([ops.OPS_ERRORS.notFound, ops.OPS_ERRORS.invalidInput, ops.OPS_ERRORS.unknownKind, ErrorCode.InvalidId, ErrorCode.InvalidConfig, 'INVALID_ACTIVITY', 'ACTIVITY_NOT_FOUND']);

/** The exit code for an error a command threw. */
export function exitCodeOf(err: unknown): number {
  const code = err instanceof PropelError ? String(err.code) : undefined;
  if (code && USAGE_CODES.has(code)) return EXIT.usage;
  if (code === ErrorCode.CallTimeout) return EXIT.timeout;
  // The actor could not take the message at all (it does not know it, or the type is not hosted).
  if (code === ErrorCode.InvalidMessage || code === ErrorCode.NoHandler || code === ErrorCode.UnknownActor) return EXIT.refused;
  return EXIT.failed;
}

function int(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function duration(name: string) {
  return (value: string): number => {
    try {
      return parseDuration(value);
    } catch (err) {
      throw new InvalidArgumentError((err as Error).message);
    }
  };
}

/** Runs one ops command line; resolves with the process exit code. */
export async function runCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  let session: Session | undefined;
  const open = () => (session ??= new Session(env));
  let code: number = EXIT.ok;
  const program = new Command('ops');
  program
    .description('Operator commands over Propel’s Redis: status, actors and their audit, manual intervention, dead letters, configuration, drains.')
    .option('--json', 'machine-readable output (one JSON document on stdout)')
    .option('--no-progress', 'no progress bars')
    .option('--operator <name>', 'who is acting (default: $PROPEL_OPERATOR or the login name)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, '')), writeErr: (s) => io.err(s.replace(/\n$/, '')) })
    .showHelpAfterError('(ops --help for usage)')
    .addHelpText('after', EXIT_HELP);

  const globals = (cmd: Command) => cmd.optsWithGlobals<Globals>();
  const print = (cmd: Command, json: unknown, human: () => string) => io.out(globals(cmd).json ? JSON.stringify(json) : human());
  const bar = (cmd: Command, label: string, minTotal = 1) => progressBar(label, io.tty && globals(cmd).progress !== false, minTotal);
  /** Wraps an action: its return value is the exit code. */
  const act =
    <A extends unknown[]>(fn: (...args: A) => Promise<number>) =>
    async (...args: A) => {
      code = await fn(...args);
    };

  program
    .command('status')
    .description('workers, partitions and their owners, lag, pending, due and overdue actors, dead letters, manual intervention')
    .option('--all-partitions', 'list every partition (by default only busy ones when there are more than 32)')
    .addOption(new Option('--overdue-after <duration>', 'an actor due longer than this is overdue').default(1000, '1s').argParser(duration('--overdue-after')))
    .action(
      act(async (opts: { allPartitions?: boolean; overdueAfter: number }, cmd: Command) => {
        const progress = bar(cmd, 'partitions', 33);
        const s = await ops.status(open().ctx(), { overdueAfterMs: opts.overdueAfter, onProgress: progress.update }).finally(() => progress.stop());
        print(cmd, s, () => formatStatus(s, opts));
        return EXIT.ok;
      }),
    );

  program
    .command('inspect <type> <id>')
    .description("an actor: record, history, its audit timeline and, unless it succeeded, why it is where it is")
    .addOption(new Option('--audit <n>', 'audit records to show').default(100).argParser(int('--audit', 0, 10_000)))
    .action(
      act(async (type: string, id: string, opts: { audit: number }, cmd: Command) => {
        const s = open();
        const i = await ops.inspect(s.ctx(), { type, id }, { auditLimit: opts.audit });
        if (!i.record) {
          io.err(`no actor ${type}/${id} (partition ${i.partition}, namespace ${s.keys.ns})`);
          return EXIT.usage;
        }
        const { record, ...rest } = i;
        print(cmd, { actor: i.actor, partition: i.partition, ...record, history: rest.history, audit: rest.audit, dueAt: rest.dueAt, manualSince: rest.manualSince, leaseHeld: rest.leaseHeld, why: rest.why }, () => formatInspection(i));
        return EXIT.ok;
      }),
    );

  program
    .command('audit <type> <id>')
    .description("an actor's audit trail: its timeline, oldest first, and unless it was rewarded the chain of reasons why not")
    .addOption(new Option('--limit <n>', 'the newest records of the timeline').default(100).argParser(int('--limit', 1, 1000)))
    .action(
      act(async (type: string, id: string, opts: { limit: number }, cmd: Command) => {
        const a = await ops.auditOf(open().ctx(), { type, id }, { limit: opts.limit });
        print(cmd, a, () => formatAudit(a));
        return EXIT.ok;
      }),
    );

  program
    .command('members')
    .description('live workers, their heartbeats, drain flags and the partitions each holds')
    .action(
      act(async (_opts: unknown, cmd: Command) => {
        const m = await ops.members(open().ctx());
        const json = { members: m.members.map(({ id, ...rest }) => ({ member: id, ...rest })), unowned: m.unowned, staleDrains: m.staleDrains };
        print(cmd, json, () => formatMembers(m.members, m.unowned));
        return EXIT.ok;
      }),
    );

  const manual = program.command('manual').description('actors waiting in MANUAL_INTERVENTION: list, retry, terminate');
  manual
    .command('list')
    .description('actors in manual intervention, oldest first, with their reason')
    .addOption(new Option('--limit <n>', 'at most this many').default(50).argParser(int('--limit', 1, 10_000)))
    .option('--cursor <cursor>', 'the next page (printed at the end of the previous one)')
    .action(
      act(async (opts: { limit: number; cursor?: string }, cmd: Command) => {
        const progress = bar(cmd, 'partitions', 33);
        const page = await ops.listManual(open().ctx(), { limit: opts.limit, ...(opts.cursor ? { cursor: opts.cursor } : {}), onProgress: progress.update }).finally(() => progress.stop());
        print(cmd, page, () => formatManualPage(page, Date.now()));
        return EXIT.ok;
      }),
    );

  const retry = async (type: string | undefined, id: string | undefined, opts: { all?: boolean; type?: string }, cmd: Command): Promise<number> => {
    const s = open();
    const operator = s.operator(globals(cmd).operator);
    if (opts.all) {
      if (type || id) throw new ops.OpsError(ops.OPS_ERRORS.invalidInput, 'retry --all takes no actor (use --type to narrow it)');
      const items = await ops.allManual(s.ctx(), opts.type ? { type: opts.type } : {});
      const progress = bar(cmd, 'retrying');
      const results = await ops.retryManualMany(s.ctx(true), items.map((i) => i.ref), operator, { onProgress: progress.update }).finally(() => progress.stop());
      const notDone = results.filter((r) => 'error' in r || r.result.rejected);
      if (globals(cmd).json) io.out(JSON.stringify(results));
      else {
        for (const r of notDone) io.err('error' in r ? `${r.actor} not retried: ${r.error.code}: ${r.error.message}` : `${r.actor} not retried: ${r.result.rejected!.code}: ${r.result.rejected!.reason}`);
        io.out(`retried ${results.length - notDone.length} of ${results.length} actors in manual intervention (by ${operator})`);
      }
      return notDone.length ? EXIT.refused : EXIT.ok;
    }
    if (!type || !id) throw new ops.OpsError(ops.OPS_ERRORS.invalidInput, 'retry needs <type> <id>, or --all');
    const r = await ops.retryManual(s.ctx(true), { type, id }, operator);
    if (globals(cmd).json) io.out(JSON.stringify(r));
    else if (r.rejected) io.err(`${r.actor} not retried: ${r.rejected.code}: ${r.rejected.reason}`);
    else io.out(formatOpsTurn('retried', r, operator));
    return r.rejected ? EXIT.refused : EXIT.ok;
  };
  manual
    .command('retry [type] [id]')
    .description('re-drive an actor in manual intervention (RetryFromOps; each grant still happens at most once), or --all of them')
    .option('--all', 'every actor in manual intervention')
    .option('--type <type>', 'with --all: only actors of this type')
    .action(act(retry));
  manual
    .command('terminate <type> <id>')
    .description('give up on an actor in manual intervention (TerminateFromOps: a referral ends TERMINATED, no grant)')
    .option('--reason <text>', 'why, kept in the actor state and history')
    .action(
      act(async (type: string, id: string, opts: { reason?: string }, cmd: Command) => {
        const s = open();
        const operator = s.operator(globals(cmd).operator);
        const r = await ops.terminateManual(s.ctx(true), { type, id }, operator, opts.reason);
        if (globals(cmd).json) io.out(JSON.stringify(r));
        else if (r.rejected) io.err(`${r.actor} not terminated: ${r.rejected.code}: ${r.rejected.reason}`);
        else io.out(formatOpsTurn('terminated', r, operator));
        return r.rejected ? EXIT.refused : EXIT.ok;
      }),
    );
  program
    .command('retry <type> <id>')
    .description('the same as `manual retry <type> <id>`')
    .action(act((type: string, id: string, _opts: unknown, cmd: Command) => retry(type, id, {}, cmd)));

  const dead = program.command('dead').description('dead letters of the partitions, the ingest stream and the notifier: list, replay, purge');
  const source = (text: string, allowAll: boolean): DeadSource | 'all' => (allowAll && text === 'all' ? 'all' : ops.parseDeadSource(text, open().partitions));
  dead
    .command('list')
    .description('dead letters, newest first, decoded (code, reason, deliveries, the original message)')
    .option('--source <source>', "a partition number, 'ingest', 'notifications' or 'all'", 'all')
    .addOption(new Option('--limit <n>', 'at most this many').default(50).argParser(int('--limit', 1, 10_000)))
    .option('--code <code>', 'only this code (or cause)')
    .option('--before <id>', 'older than this dead letter (paging; one source)')
    .option('--full', 'every field, the whole envelope and the original bytes')
    .action(
      act(async (opts: { source: string; limit: number; code?: string; before?: string; full?: boolean }, cmd: Command) => {
        const progress = bar(cmd, 'sources', 34);
        const list = await ops
          .listDead(open().ctx(), { source: source(opts.source, true), limit: opts.limit, ...(opts.code ? { code: opts.code } : {}), ...(opts.before ? { before: opts.before } : {}), onProgress: progress.update })
          .finally(() => progress.stop());
        print(cmd, list, () => formatDeadList(list, opts));
        return EXIT.ok;
      }),
    );
  dead
    .command('replay <source> [ids...]')
    .description('put dead letters back on the stream they came from (each at most once), after fixing the cause')
    .option('--all', 'every dead letter of the source (or of every source with source "all")')
    .option('--code <code>', 'with --all: only this code (or cause)')
    .action(
      act(async (src: string, ids: string[], opts: { all?: boolean; code?: string }, cmd: Command) => {
        if (Boolean(opts.all) === ids.length > 0) throw new ops.OpsError(ops.OPS_ERRORS.invalidInput, 'replay takes dead-letter ids, or --all');
        const ctx = open().ctx();
        const sources = source(src, opts.all === true) === 'all' ? ops.deadSources(ctx.partitions) : [source(src, false) as DeadSource];
        const work: Array<{ source: DeadSource; ids: string[] }> = [];
        for (const s of sources) {
          const chosen = opts.all ? await ops.deadLetterIds(ctx, s, opts.code ? { code: opts.code } : {}) : ids;
          if (chosen.length) work.push({ source: s, ids: chosen });
        }
        const total = work.reduce((n, w) => n + w.ids.length, 0);
        const progress = bar(cmd, 'replaying');
        const results: Array<ops.ReplayResult & { source: DeadSource }> = [];
        try {
          for (const w of work) {
            const before = results.length;
            const r = await ops.replayDead(ctx, w.source, w.ids, (done) => progress.update(before + done, total));
            results.push(...r.map((x) => ({ ...x, source: w.source })));
          }
        } finally {
          progress.stop();
        }
        print(cmd, results, () => (results.length ? formatReplay(results) : 'no dead letters to replay'));
        return results.every((r) => r.outcome === 'replayed') ? EXIT.ok : EXIT.refused;
      }),
    );
  dead
    .command('purge <source> [ids...]')
    .description('delete dead letters for good: by id, --older-than a duration, or --all (source may be "all" for the last two)')
    .addOption(new Option('--older-than <duration>', 'dead-lettered longer ago than this, e.g. 7d').argParser(duration('--older-than')))
    .option('--all', 'every dead letter of the source')
    .action(
      act(async (src: string, ids: string[], opts: { olderThan?: number; all?: boolean }, cmd: Command) => {
        const progress = bar(cmd, 'purging', 2);
        const r = await ops
          .purgeDead(open().ctx(), source(src, ids.length === 0), {
            ...(ids.length ? { ids } : {}),
            ...(opts.olderThan !== undefined ? { olderThanMs: opts.olderThan } : {}),
            ...(opts.all ? { all: true } : {}),
            onProgress: progress.update,
          })
          .finally(() => progress.stop());
        print(cmd, r, () => `purged ${r.deleted} dead letter${r.deleted === 1 ? '' : 's'}`);
        return EXIT.ok;
      }),
    );

  const config = program.command('config').description('configuration kept in Redis (kinds: activity, task, flow): list, get, set');
  config
    .command('list <kind>')
    .description('ids of every item of a kind')
    .action(
      act(async (kind: string, _opts: unknown, cmd: Command) => {
        const ids = await ops.listConfig(open().registry(), kind);
        print(cmd, ids, () => (ids.length ? ids.join('\n') : `no ${kind} is configured`));
        return EXIT.ok;
      }),
    );
  config
    .command('get <kind> <id>')
    .description('one item as JSON (edit it and give it back to `config set`); --json adds its kind, id and version')
    .action(
      act(async (kind: string, id: string, _opts: unknown, cmd: Command) => {
        const entry = await ops.getConfig(open().registry(), kind, id);
        print(cmd, entry, () => JSON.stringify(entry.value, null, 2));
        return EXIT.ok;
      }),
    );
  config
    .command('set <kind> <id> <file>')
    .description('store an item from a JSON file ("-" reads stdin), validated by its kind’s schema')
    .action(
      act(async (kind: string, id: string, file: string, _opts: unknown, cmd: Command) => {
        let text: string;
        try {
          text = file === '-' ? io.stdin() : readFileSync(file, 'utf8');
        } catch (err) {
          throw new ops.OpsError(ops.OPS_ERRORS.invalidInput, `cannot read ${file}: ${(err as Error).message}`);
        }
        const value = ops.parseConfigJson(text, file === '-' ? 'stdin' : file);
        const entry = await ops.setConfig(open().registry(), kind, id, value);
        print(cmd, entry, () => `${kind} ${entry.id} stored (version ${entry.version})`);
        return EXIT.ok;
      }),
    );

  program
    .command('drain <workerId>')
    .description('before a deploy: the worker hands its partitions to the others (gracefully) and takes none until undrain')
    .option('--no-wait', 'return once the flag is set, without waiting for the hand-over')
    .addOption(new Option('--timeout <duration>', 'how long to wait for the hand-over').default(120_000, '120s').argParser(duration('--timeout')))
    .option('--force', 'set the flag even if the worker is not live or no other worker would take its partitions')
    .action(
      act(async (workerId: string, opts: { wait: boolean; timeout: number; force?: boolean }, cmd: Command) => {
        const s = open();
        const ctx = s.ctx();
        const r = await ops.drain(ctx, workerId, s.operator(globals(cmd).operator), { force: opts.force === true });
        if (!opts.wait || !r.live) {
          print(cmd, r, () => formatDrain(r));
          return EXIT.ok;
        }
        if (!globals(cmd).json) io.out(formatDrain(r));
        const deadline = Date.now() + opts.timeout;
        const progress = bar(cmd, 'handing over');
        const start = r.holding.length;
        let held = r.holding;
        try {
          while (held.length > 0 && Date.now() < deadline) {
            progress.update(Math.max(0, start - held.length), Math.max(start, held.length));
            await new Promise((resolve) => setTimeout(resolve, 200));
            held = await ops.heldBy(ctx, workerId);
          }
        } finally {
          progress.stop();
        }
        if (held.length > 0) {
          io.err(`${workerId} still holds ${held.length} partitions (${ranges(held)}) after ${age(opts.timeout)}; the flag stays set`);
          if (globals(cmd).json) io.out(JSON.stringify({ ...r, holding: held, drained: false }));
          return EXIT.timeout;
        }
        print(cmd, { ...r, holding: [], drained: true }, () => `${workerId} holds no partitions now: safe to stop (undrain ${workerId} to take it back into service)`);
        return EXIT.ok;
      }),
    );
  program
    .command('undrain <workerId>')
    .description('clear a drain flag: the worker takes its share of partitions again')
    .action(
      act(async (workerId: string, _opts: unknown, cmd: Command) => {
        const r = await ops.undrain(open().ctx(), workerId);
        print(cmd, r, () => (r.wasDraining ? `drain flag cleared on ${workerId}: it takes partitions again` : `${workerId} was not draining`));
        return EXIT.ok;
      }),
    );

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed the problem (and the usage hint) already.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    io.err((err as Error).message ?? String(err));
    return exitCodeOf(err);
  } finally {
    await session?.close();
  }
}
