import type { ConfigReader, ConfigView } from '../../../../common/config-center/types';
import type { RewardFlow } from '../../../../actors/task/task.definition';
import { REWARD_FLOW_KIND } from './task.config';

/** One version of a reward flow. */
export interface FlowVersion {
  version: number;
  value: RewardFlow;
}

/**
 * Where the reward component finds flows: the process's cached current version (synchronous: no round trip
 * on the hot path) and, for a reward pinned to an older version, that version from the history.
 */
export interface FlowSource {
  /** The current version in the process's configuration cache, or undefined when the flow is not configured. */
  current(flowId: string): FlowVersion | undefined;
  /** A given version (from the history), or null when it was never stored or has aged out. */
  at(flowId: string, version: number): Promise<FlowVersion | null>;
}

/** A FlowSource over the configuration center: the cached view for `current`, the reader's history for `at`. */
export function flowSourceFrom(view: ConfigView, reader: ConfigReader): FlowSource {
  return {
    current(flowId) {
      const item = view.get<RewardFlow>(REWARD_FLOW_KIND, flowId);
      return item ? { version: item.version, value: item.value } : undefined;
    },
    async at(flowId, version) {
      const item = await reader.at<RewardFlow>(REWARD_FLOW_KIND, flowId, version);
      return item ? { version: item.version, value: item.value } : null;
    },
  };
}
