import { createRedis, defineActor, encodeEnvelope, ENVELOPE_FIELD, partitionOf, RedisClient, RedisStreamsClient, RedisStreamsServer, TerminalError } from '../../common';
import { counterActor } from '../../actors';
import { compileNotifierConfig, Notifier, NotifierKeys, type NotificationChannel } from '../../apps/notifier';
import { replayDead } from '../../common/ops';
import { opsJson, opsScope, runOps } from '../harness/ops';
import { useTestRedis } from '../harness/redis';
import { readRecord, startWorker, waitFor } from '../harness/workers';

/** An actor type the first worker does not host: its messages are dead-lettered with NO_HANDLER there. */
interface TallyState {
  status: 'active';
  total: number;
}
const tallyActor = defineActor<TallyState, { type: 'add'; n: number }>({
  type: 'tally',
  initial: () => ({ status: 'active', total: 0 }),
  decide: (state, m) => ({ state: { ...state, total: state.total + m.n }, why: `+${m.n}` }),
});

// Provokes dead letters in a partition (a message for an actor type no worker hosts, undecodable bytes) and in
// the notifier (a channel refusing), then lists, replays (once, however often asked) and purges them via the CLI.
describe('ops dead letters: list, replay, purge', () => {
  const env = useTestRedis();
  describe('one worker at a time, a notifier with a channel that can be down', () => deadLetters(env));
});

function deadLetters(env: ReturnType<typeof useTestRedis>): void {
  const { ns, runtime, partitions, keys, target } = opsScope(env, 'opsdead');
  let worker: RedisStreamsServer | undefined;
  let client: RedisStreamsClient;
  let notifierRedis: RedisClient | undefined;
  let notifier: Notifier | undefined;

  beforeAll(() => {
    client = new RedisStreamsClient({ redis: { url: env.url }, runtime: { namespace: ns, partitions } });
  });
  afterAll(async () => {
    await notifier?.stop();
    notifierRedis?.disconnect();
    await client?.close();
    await worker?.close();
  });

  const p = partitionOf({ type: 'tally', id: 't1' }, partitions);
  const tally = () => readRecord<TallyState>(env.redis, keys, p, 'tally', 't1');

  it('a message for an actor type nobody hosts is replayed, once, after a worker that hosts it starts', async () => {
    worker = await startWorker(env.url, { runtime: { ...runtime, workerId: 'dead-1' }, actors: [counterActor] });
    await client.tell(tallyActor, 't1', { type: 'add', n: 5 }, 'msg-add-5');
    await env.redis.xadd(keys.inbox(p), '*', ENVELOPE_FIELD, Buffer.from([0xc1, 0xff, 0x00, 0x13]));
    await waitFor(async () => (await env.redis.xlen(keys.dead(p))) === 2, 10_000, 'two dead letters');

    const listed = await runOps(target(), ['dead', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`p${p}\\s+\\d+-\\d+\\s+\\S+\\s+NO_HANDLER\\s+1\\s+no handler for pattern "actor:tally".*actor:tally tally/t1 \\{"id":"t1","message":\\{"type":"add","n":5\\}\\}`));
    expect(listed.stdout).toMatch(new RegExp(`p${p}\\s+\\d+-\\d+\\s+\\S+\\s+DECODE_FAILED\\s+1\\s+.*e=0xc1ff0013`));
    expect(listed.stdout).toMatch(new RegExp(`2 shown of 2 dead letters \\(p${p} 2\\)`));
    const noHandler = await opsJson(target(), ['dead', 'list', '--source', String(p), '--code', 'NO_HANDLER']);
    expect(noHandler.items).toHaveLength(1);
    const letter = noHandler.items[0];
    expect(letter).toMatchObject({ source: p, code: 'NO_HANDLER', deliveries: 1, consumer: 'dead-1', stream: keys.inbox(p), envelope: { id: 'msg-add-5', pattern: 'actor:tally', data: { id: 't1', message: { type: 'add', n: 5 } } } });

    // The cause is fixed: a worker that hosts tally takes over.
    await worker.close();
    worker = await startWorker(env.url, { runtime: { ...runtime, workerId: 'dead-2' }, actors: [counterActor, tallyActor] });
    const replayed = await runOps(target(), ['dead', 'replay', String(p), letter.id]);
    expect(replayed).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^${letter.id} replayed to \\{${ns}:${p}\\}:inbox as \\d+-\\d+\\nreplayed 1 of 1\\n$`)) });
    expect(await waitFor(async () => (await tally())?.state.total === 5 && tally(), 10_000, 'the replayed message applied')).toMatchObject({ version: 1 });

    // Replaying it again finds nothing (exit 3) and adds nothing.
    const again = await runOps(target(), ['dead', 'replay', String(p), letter.id]);
    expect(again).toMatchObject({ code: 3, stdout: expect.stringMatching(/not found \(already replayed or purged\)\nreplayed 0 of 1, 1 not found/) });
    const after = await client.ask(tallyActor, 't1', { type: 'add', n: 0 });
    expect(after).toMatchObject({ version: 2, state: { total: 5 } }); // everything before this ask was applied: nothing twice
    expect(await env.redis.xlen(keys.dead(p))).toBe(1);
  });

  it('two replays of one dead letter at the same moment put it back once', async () => {
    // A type still nobody hosts: the replayed entry is dead-lettered again, so each replay shows as a new dead letter.
    const ghost = 'actor:ghost';
    const gp = partitionOf({ type: 'ghost', id: 'g1' }, partitions);
    await client.append(ghost, { id: 'g1', message: { type: 'boo' } }, 'msg-ghost');
    const first = await waitFor(async () => (await opsJson(target(), ['dead', 'list', '--source', String(gp), '--code', 'NO_HANDLER'])).items[0], 10_000, 'the ghost dead letter');
    // Two operators: two connections (with the scripts registered), the same id at once.
    const [r1, r2] = [createRedis({ url: env.url, tls: false }, 'ops-a'), createRedis({ url: env.url, tls: false }, 'ops-b')];
    const [a, b] = await Promise.all([replayDead({ redis: r1, keys, partitions }, gp, [first.id]), replayDead({ redis: r2, keys, partitions }, gp, [first.id])]).finally(() => {
      r1.disconnect();
      r2.disconnect();
    });
    expect([a[0].outcome, b[0].outcome].sort()).toEqual(['missing', 'replayed']);
    const letters = await waitFor(async () => {
      const list = await opsJson(target(), ['dead', 'list', '--source', String(gp), '--code', 'NO_HANDLER']);
      return list.items.length > 0 && list.items[0].id !== first.id ? list.items : null;
    }, 10_000, 'the replayed ghost entry dead-lettered again');
    expect(letters).toHaveLength(1);
    expect(letters[0].envelope.id).toBe('msg-ghost');
  });

  it('purges by id, by age and all, from one source or every source', async () => {
    const before = await opsJson(target(), ['dead', 'list']);
    const total = before.totals.reduce((n: number, t: { count: number }) => n + t.count, 0);
    expect(total).toBe(2); // the undecodable entry and the ghost
    const undecodable = before.items.find((d: { code: string }) => d.code === 'DECODE_FAILED');
    expect(await runOps(target(), ['dead', 'purge', String(p), undecodable.id])).toMatchObject({ code: 0, stdout: 'purged 1 dead letter\n' });
    expect(await runOps(target(), ['dead', 'purge', 'all', '--older-than', '1h'])).toMatchObject({ code: 0, stdout: 'purged 0 dead letters\n' });
    await new Promise((r) => setTimeout(r, 1100));
    expect(await runOps(target(), ['dead', 'purge', 'all', '--older-than', '1s'])).toMatchObject({ code: 0, stdout: 'purged 1 dead letter\n' });
    expect(await runOps(target(), ['dead', 'list'])).toMatchObject({ code: 0, stdout: 'no dead letters\n' });
  });

  it("a notification dead-lettered by a channel that refused is listed with its channel and replayed once the channel is back", async () => {
    let down = true;
    const sent: string[] = [];
    const flaky: NotificationChannel = {
      name: 'log',
      async send(n) {
        if (down) throw new TerminalError('CHANNEL_REFUSED', 'the provider refused the message');
        sent.push(n.id);
      },
    };
    notifierRedis = createRedis({ url: env.url, tls: false }, 'ops-dead-notifier');
    notifier = new Notifier({ redis: notifierRedis, namespace: ns, config: compileNotifierConfig({ channels: ['log'] }), channels: [flaky] });
    await notifier.start();
    const nkeys = new NotifierKeys(ns);
    await env.redis.xadd(nkeys.stream(), '*', ENVELOPE_FIELD, encodeEnvelope({ id: 'env-1', pattern: 'notifications', data: { notificationId: 'app-1:rewarded:sharer', kind: 'REFERRAL_REWARDED', userId: 'amy' }, ts: Date.now() }));
    await waitFor(async () => (await env.redis.xlen(nkeys.dead())) === 1, 10_000, 'the notification dead-lettered');

    const list = await opsJson(target(), ['dead', 'list', '--source', 'notifications']);
    expect(list.items[0]).toMatchObject({ source: 'notifications', code: 'CHANNEL_REFUSED', channel: 'log', notificationId: 'app-1:rewarded:sharer', stream: nkeys.stream(), envelope: { data: { kind: 'REFERRAL_REWARDED' } } });
    const human = await runOps(target(), ['dead', 'list', '--source', 'notifications', '--full']);
    expect(human.stdout).toMatch(/notifications \d+-\d+ .*CHANNEL_REFUSED/);
    expect(human.stdout).toMatch(/channel log {2}notification app-1:rewarded:sharer/);

    down = false;
    expect(await runOps(target(), ['dead', 'replay', 'notifications', '--all'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/replayed 1 of 1/) });
    await waitFor(() => sent.length === 1, 10_000, 'the notification delivered');
    expect(sent).toEqual(['app-1:rewarded:sharer']);
    expect(await env.redis.xlen(nkeys.dead())).toBe(0);
    expect(await runOps(target(), ['dead', 'replay', 'notifications', '--all'])).toMatchObject({ code: 0, stdout: 'no dead letters to replay\n' });
  });
}
