import { Keys } from '../../../../common/keys';

/**
 * Every Redis key of the task center's worker-side components is built here. A user's subscription index and
 * reward balances share the user's hash tag `{<ns>:tu:<userId>}`, so one script grants a step and records its
 * idempotency mark atomically in one Redis Cluster slot; coupon stock lives in its template's own slot.
 */
export class TaskKeys {
  constructor(readonly ns: string) {}

  /** Hash tag of one user's task-center data. */
  userTag(userId: string): string {
    return `{${this.ns}:tu:${userId}}`;
  }
  /**
   * The user's subscription index: hash, field = task actor id, value = JSON `{ events: string[], until: number | null }`.
   * The receipt router reads it to find the tasks an event counts for.
   */
  subscriptions(userId: string): string {
    return `${this.userTag(userId)}:subs`;
  }
  /** Every task the user has (set of task actor ids), whatever their state: the gateway lists them. */
  userTasks(userId: string): string {
    return `${this.userTag(userId)}:tasks`;
  }
  /** The user's balances: hash with `points` and `growth`. */
  balances(userId: string): string {
    return `${this.userTag(userId)}:bal`;
  }
  /** The user's reward ledger: list of JSON entries (one per granted step), oldest first. */
  ledger(userId: string): string {
    return `${this.userTag(userId)}:ledger`;
  }
  /** The first result of one reward step (`<reward key>#<step index>`), with a TTL: a retry returns it. */
  stepResult(userId: string, stepKey: string): string {
    return `${this.userTag(userId)}:step:${stepKey}`;
  }
  /** The flow version a reward was first run with: retries run the same version even after the flow changes. */
  rewardPin(userId: string, rewardKey: string): string {
    return `${this.userTag(userId)}:pin:${rewardKey}`;
  }
  /** Hash tag of a coupon template: its issued counter, checked against the step's stock. */
  couponTag(merchantId: string, template: string): string {
    return `{${this.ns}:coupon:${merchantId}:${template}}`;
  }
  couponIssued(merchantId: string, template: string): string {
    return `${this.couponTag(merchantId, template)}:issued`;
  }
  /** A coupon step's reservation in the template's slot (the issued code): the counter counts each step once. */
  couponReservation(merchantId: string, template: string, stepKey: string): string {
    return `${this.couponTag(merchantId, template)}:resv:${stepKey}`;
  }
  /** A webhook step's short lock (token, PX): concurrent runs of one step POST once; the others wait for its result. */
  webhookLock(userId: string, stepKey: string): string {
    return `${this.userTag(userId)}:hook:${stepKey}`;
  }
  /** The notifications stream the notifier reads (`{<ns>:out:notifications}:stream`, from the runtime's Keys). */
  notifications(): string {
    return new Keys(this.ns).named('notifications');
  }
  /** A notify step's mark in the notifications stream's slot (the entry id): the step appends its entry once. */
  notificationMark(stepKey: string): string {
    return this.notifications().replace(/:stream$/, `:task:${stepKey}`);
  }
  /** Users enrolled in a task definition (set of task actor ids), so ending the definition reaches each task. */
  enrolled(taskDefId: string): string {
    return `{${this.ns}:td:${taskDefId}}:enrolled`;
  }
}
