/**
 * Every Redis key of the activity component is built here and nowhere else. An activity's definition, its
 * users' counters, ledgers, relations and idempotency records share the hash tag `{<ns>:act:<id>}`, so one
 * script decides an application atomically in one Redis Cluster slot. A hot budget split into N > 1 buckets
 * puts bucket i in a slot of its own, `{<ns>:act:<id>:b<i>}`; with one bucket the budget stays in the
 * activity's tag and the decision and the budget commit in the same script.
 */
export class ActivityKeys {
  constructor(readonly ns: string) {}

  /** Hash tag of an activity. */
  tag(activityId: string): string {
    return `{${this.ns}:act:${activityId}}`;
  }
  /** Definition hash: `status` (ACTIVE/PAUSED), `ver` (bumped by every define), `d` (the definition JSON). */
  definition(activityId: string): string {
    return `${this.tag(activityId)}:def`;
  }
  /** The definition's past versions: ZSET scored by version, member JSON `{ version, at, d }` (bounded). */
  history(activityId: string): string {
    return `${this.tag(activityId)}:hist`;
  }
  /** Set of every defined activity id (to read a user's ledger across activities). */
  index(): string {
    return `{${this.ns}:act}:index`;
  }
  /** The stored result of one idempotency key (`G|<grant json>` or `R|<code>`), with a TTL. */
  idempotency(activityId: string, key: string): string {
    return `${this.tag(activityId)}:idem:${key}`;
  }
  /** A user's counters in the activity: `h:<hour>` (velocity), `d:<day>`, `w:<week>`, `t` (caps). */
  userCounters(activityId: string, userId: string): string {
    return `${this.tag(activityId)}:u:${userId}`;
  }
  /** A user's grants in the activity, oldest first (list of grant JSON). */
  ledger(activityId: string, userId: string): string {
    return `${this.tag(activityId)}:ledger:${userId}`;
  }
  /** The invitee's recorded relation in the activity (who referred them). */
  relation(activityId: string, inviteeId: string): string {
    return `${this.tag(activityId)}:rel:${inviteeId}`;
  }
  /** A user's crowd tags (a set), which audience rules match; in a slot of its own, read before a decision. */
  userTags(userId: string): string {
    return `{${this.ns}:crowd}:u:${userId}`;
  }
  /** Hash tag of budget bucket `i` of `n`: the activity's own tag when the budget is not split. */
  bucketTag(activityId: string, i: number, n: number): string {
    return n === 1 ? this.tag(activityId) : `{${this.ns}:act:${activityId}:b${i}}`;
  }
  /** Budget bucket hash: `used` and `d:<day>`. */
  budget(activityId: string, i: number, n: number): string {
    return `${this.bucketTag(activityId, i, n)}:budget`;
  }
  /** A key's reservation record in bucket `i` (split budgets only). */
  reservation(activityId: string, i: number, n: number, key: string): string {
    return `${this.bucketTag(activityId, i, n)}:resv:${key}`;
  }
}
