import type { ConfigKindSpec } from '../../../../common/config-center/types';
import { rewardFlowSchema, taskDefinitionSchema } from '../../../../actors/task/task.definition';

/** The configuration kind task definitions are stored under in the configuration center. */
export const TASK_DEFINITION_KIND = 'task';

/** The configuration kind reward flows are stored under in the configuration center. */
export const REWARD_FLOW_KIND = 'flow';

/**
 * The task center's configuration kinds, one list for every process that reads or writes them (worker, gateway,
 * ops CLI): task definitions and reward flows, each validated by its schema on write.
 */
export const TASK_CONFIG_KINDS: readonly ConfigKindSpec[] = [
  { kind: TASK_DEFINITION_KIND, description: 'task definitions: type, events counted, stages and their reward flows (actors/task/task.definition.ts)', schema: taskDefinitionSchema, idField: 'id' },
  { kind: REWARD_FLOW_KIND, description: 'reward flows: the steps a stage reward runs (points, growth, coupon, notify, webhook)', schema: rewardFlowSchema, idField: 'id' },
];
