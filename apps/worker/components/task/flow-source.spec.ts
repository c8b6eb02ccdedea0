import type { ConfigItem, ConfigReader, ConfigView } from '../../../../common/config-center/types';
import type { RewardFlow } from '../../../../actors/task/task.definition';
import { flowSourceFrom } from './flow-source';
import { REWARD_FLOW_KIND } from './task.config';

const flow = (amount: number): RewardFlow => ({ id: 'f1', merchantId: 'm1', steps: [{ type: 'points', amount }] });
const item = (version: number, value: RewardFlow): ConfigItem<RewardFlow> => ({ kind: REWARD_FLOW_KIND, id: 'f1', version, value, updatedAt: 0 });

describe('flowSourceFrom', () => {
  const asked: Array<[string, string, number?]> = [];
  const view = {
    get: (kind: string, id: string) => (asked.push([kind, id]), id === 'f1' ? item(3, flow(30)) : undefined),
    list: () => [],
    onChange: () => () => undefined,
  } as unknown as ConfigView;
  const reader = {
    get: async () => null,
    at: async (kind: string, id: string, version: number) => (asked.push([kind, id, version]), id === 'f1' && version === 1 ? item(1, flow(10)) : null),
    list: async () => [],
  } as unknown as ConfigReader;
  const source = flowSourceFrom(view, reader);

  it('reads the current version from the cached view and past versions from the history, under the flow kind', async () => {
    expect(source.current('f1')).toEqual({ version: 3, value: flow(30) });
    expect(source.current('nope')).toBeUndefined();
    expect(await source.at('f1', 1)).toEqual({ version: 1, value: flow(10) });
    expect(await source.at('f1', 2)).toBeNull();
    expect(asked.every(([kind]) => kind === 'flow')).toBe(true);
  });
});
