import { userInfo } from 'node:os';
import { assertValidId, compileConfig, createRedis, Keys, optionsFromEnv, RedisStreamsClient } from '../../common';
import type { PropelConfig, RedisClient } from '../../common';
import { ConfigRegistry, OpsContext } from '../../common/ops';
import { ACTOR_DEFINITIONS } from '../../actors/definitions';
import { ActivityComponent, activityConfigKind, ActivityKeys } from '../worker/components/activity';
import { TASK_CONFIG_KINDS } from '../worker/components/task';
import { ConfigStore, configCenterKind } from '../../common/config-center';

/**
 * The connections one ops command needs, opened on first use from the same PROPEL_* environment as the
 * workers (so it reads the same Redis, namespace and partition count) and closed when the command ends.
 */
export class Session {
  readonly config: PropelConfig;
  readonly keys: Keys;
  private redis?: RedisClient;
  private client?: RedisStreamsClient;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.config = compileConfig(optionsFromEnv(env));
    this.keys = new Keys(this.config.runtime.namespace);
  }

  get partitions(): number {
    return this.config.runtime.partitions;
  }

  /** The ops context; `withClient` adds a streams client for commands that message actors. */
  ctx(withClient = false): OpsContext {
    this.redis ??= createRedis(this.config.redis, 'propel-ops');
    if (withClient) this.client ??= new RedisStreamsClient({ redis: this.config.redis, runtime: { namespace: this.keys.ns, partitions: this.partitions } });
    return { redis: this.redis, keys: this.keys, partitions: this.partitions, definitions: ACTOR_DEFINITIONS, ...(this.client ? { client: this.client } : {}) };
  }

  /** The configuration kinds ops can get and set. */
  registry(): ConfigRegistry {
    const { redis } = this.ctx();
    // Activity definitions, and the configuration center's kinds (task definitions, reward flows).
    const center = new ConfigStore(redis, this.keys.ns, TASK_CONFIG_KINDS);
    return new ConfigRegistry([activityConfigKind(new ActivityComponent(redis, new ActivityKeys(this.keys.ns))), ...TASK_CONFIG_KINDS.map((spec) => configCenterKind(center, spec, { by: 'ops' }))]);
  }

  /** Who is acting: --operator, else PROPEL_OPERATOR, else the login name; recorded in the actors' history. */
  operator(given?: string): string {
    let name = given ?? this.env.PROPEL_OPERATOR;
    if (!name) {
      try {
        name = userInfo().username;
      } catch {
        name = 'ops'; // no passwd entry (some containers)
      }
    }
    return assertValidId(name, 'operator');
  }

  async close(): Promise<void> {
    await this.client?.close();
    this.redis?.disconnect();
  }
}
