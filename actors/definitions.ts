import type { ActorDefinition } from '../common/actor';
import { counterActor } from './counter/counter.actor';
import { referralActor } from './referral/referral.actor';
import { taskActor } from './task/task.actor';

/**
 * Every actor definition of the project, for the apps that read actors without hosting them (the ops CLI, the
 * gateway's ops API): `ops audit` finds an actor's definition here to explain its state. A new actor type is
 * added here as well as to the workers that host it.
 */
export const ACTOR_DEFINITIONS: ReadonlyArray<ActorDefinition<any, any>> = [counterActor, referralActor, taskActor];
