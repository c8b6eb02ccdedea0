import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRedis, RedisClient } from '../../common';
import { ActivityComponent, ActivityKeys } from '../../apps/worker/components/activity';
import { opsJson, runOps } from '../harness/ops';
import { uniqueNamespace, useTestRedis } from '../harness/redis';

// Drives `ops config get|set activity` as an operator would: stdin and files, a round trip, and every way a
// change can be refused (bad JSON, the schema, another id, a bucket count that cannot change) with nothing stored.
describe('ops config: activity definitions', () => {
  const env = useTestRedis();
  const ns = uniqueNamespace('opscfg');
  const target = () => ({ url: env.url, ns, partitions: 8 });
  const dir = mkdtempSync(join(tmpdir(), 'ops-config-'));
  let redis: RedisClient;
  let activity: ActivityComponent;

  beforeAll(() => {
    redis = createRedis({ url: env.url, tls: false }, 'ops-config');
    activity = new ActivityComponent(redis, new ActivityKeys(ns));
  });
  afterAll(() => {
    redis?.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  it('set from stdin, get, edit, set from a file: the component reads each version; refusals store nothing and say why', async () => {
    const initial = { timeZone: 'Asia/Shanghai', budget: { total: 100 }, prize: { kind: 'points', amount: 10 } };
    expect(await runOps(target(), ['config', 'set', 'activity', 'summer', '-'], { stdin: JSON.stringify(initial) })).toMatchObject({ code: 0, stdout: 'activity summer stored (version 1)\n' });

    const got = await runOps(target(), ['config', 'get', 'activity', 'summer']);
    expect(got.code).toBe(0);
    const definition = JSON.parse(got.stdout);
    // The stored definition, defaults filled in by the schema, is what `get` prints: edit it and set it back.
    expect(definition).toEqual({ ...initial, id: 'summer', status: 'ACTIVE', audience: {}, inviteeAudience: {}, risk: { selfReferral: 'reject', sameDevice: 'reject', sameIp: 'reject' }, caps: {}, budgetBuckets: 1 });
    const edited = join(dir, 'summer.json');
    writeFileSync(edited, JSON.stringify({ ...definition, budget: { total: 250 }, caps: { perDay: 2 } }, null, 2));
    expect(await runOps(target(), ['config', 'set', 'activity', 'summer', edited])).toMatchObject({ code: 0, stdout: 'activity summer stored (version 2)\n' });
    expect(await opsJson(target(), ['config', 'get', 'activity', 'summer'])).toMatchObject({ kind: 'activity', id: 'summer', version: '2', value: { budget: { total: 250 }, caps: { perDay: 2 } } });
    expect((await activity.load('summer'))?.activity).toMatchObject({ budget: { total: 250 }, caps: { perDay: 2 } });

    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "timeZone": "Asia/Shanghai", "budget": { "total": 100 }, }');
    const notJson = await runOps(target(), ['config', 'set', 'activity', 'summer', bad]);
    expect(notJson.code).toBe(2);
    expect(notJson.stderr).toMatch(new RegExp(`${bad.replace(/[.\\/]/g, '\\$&')} is not valid JSON: .+`));

    const invalid = await runOps(target(), ['config', 'set', 'activity', 'summer', '-'], { stdin: JSON.stringify({ ...definition, timeZone: 'Mars/Olympus', budget: { total: 0 } }) });
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toMatch(/invalid activity definition: timeZone: must be an IANA time zone, e\.g\. Asia\/Shanghai; budget\.total: /);

    const otherId = await runOps(target(), ['config', 'set', 'activity', 'summer', '-'], { stdin: JSON.stringify({ ...definition, id: 'winter' }) });
    expect(otherId).toMatchObject({ code: 2, stderr: expect.stringMatching(/the definition's id "winter" is not "summer"/) });
    const buckets = await runOps(target(), ['config', 'set', 'activity', 'summer', '-'], { stdin: JSON.stringify({ ...definition, budgetBuckets: 4 }) });
    expect(buckets).toMatchObject({ code: 2, stderr: expect.stringMatching(/has 1 budget buckets; the count cannot change/) });
    expect(await runOps(target(), ['config', 'set', 'activity', 'summer', join(dir, 'missing.json')])).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot read .*missing\.json/) });
    // None of the refused changes was stored.
    expect(await opsJson(target(), ['config', 'get', 'activity', 'summer'])).toMatchObject({ version: '2', value: { timeZone: 'Asia/Shanghai', budget: { total: 250 } } });

    expect(await runOps(target(), ['config', 'get', 'activity', 'autumn'])).toMatchObject({ code: 2, stderr: 'no activity "autumn" is configured\n' });
    expect(await runOps(target(), ['config', 'get', 'coupon', 'summer'])).toMatchObject({ code: 2, stderr: 'no configuration kind "coupon"; known: activity, task, flow\n' });
    expect(await runOps(target(), ['config', 'get', 'task', 'summer'])).toMatchObject({ code: 2, stderr: 'no task "summer" is configured\n' });
    expect(await runOps(target(), ['config', 'list', 'activity'])).toMatchObject({ code: 0, stdout: 'summer\n' });
  });
});
