/** Correctness: every application BOTH_REWARDED, budget used = 2 × referrals, one ledger entry per user. */
import type { ReferralState } from '../../actors';
import { countOf } from './plan';
import type { Plan } from './plan';
import { statuses } from './fleet';
import type { Ctx } from './fleet';

export interface CheckResult {
  activityId: string;
  referrals: number;
  statuses: Record<string, number>;
  terminalTurnsSeen: number;
  budgetUsed: number;
  usersWithoutOneGrant: number;
  ok: boolean;
}

export async function check(ctx: Ctx, plan: Plan): Promise<CheckResult> {
  const { histogram, records } = await statuses(ctx, plan);
  let grantedBoth = 0;
  for (const r of records) {
    const s = r?.state as (ReferralState & { sharer?: { outcome: string }; invitee?: { outcome: string } }) | undefined;
    if (r?.status === 'BOTH_REWARDED' && s?.sharer?.outcome === 'GRANTED' && s?.invitee?.outcome === 'GRANTED') grantedBoth++;
  }
  const { used } = await ctx.activity.budget(plan.activityId);
  let bad = 0;
  const users = [...plan.sharers, ...plan.invitees];
  for (let base = 0; base < users.length; base += 5_000) {
    const pipe = ctx.redis.pipeline();
    for (const u of users.slice(base, base + 5_000)) pipe.llen(ctx.activityKeys.ledger(plan.activityId, u));
    for (const [err, n] of (await pipe.exec()) ?? []) {
      if (err) throw err;
      if (n !== 1) bad++;
    }
  }
  const terminalTurnsSeen = countOf(plan.terminalAt);
  const ok = grantedBoth === plan.count && used === 2 * plan.count && bad === 0;
  return { activityId: plan.activityId, referrals: plan.count, statuses: histogram, terminalTurnsSeen, budgetUsed: used, usersWithoutOneGrant: bad, ok };
}
