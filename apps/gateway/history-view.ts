import type { AuditRecord } from '../../common';

/** One step of an actor's history as the public API shows it: what happened and why, without runtime fields (message ids, actor address). */
export type HistoryStepView = Pick<AuditRecord, 'at' | 'version' | 'message' | 'from' | 'to' | 'why' | 'rejected'>;

/**
 * An actor's history for an HTTP answer (GET /applications/:id, GET /users/:userId/tasks/:taskId): each record
 * cut to its public fields, an absent `why` or `rejected` left out rather than sent as null.
 */
export function historyView(history: readonly AuditRecord[]): HistoryStepView[] {
  return history.map((h) => ({
    at: h.at,
    version: h.version,
    message: h.message,
    from: h.from,
    to: h.to,
    ...(h.why !== undefined ? { why: h.why } : {}),
    ...(h.rejected !== undefined ? { rejected: h.rejected } : {}),
  }));
}
