import { targetOf } from './task.steps';
import type { TaskState, TaskView } from './task.types';

/** The user, definition and period of a task id (`<userId>:<taskDefId>:<period>`; the user id may hold ':'). */
function idParts(taskId: string): { userId: string; taskDefId: string; period: string } {
  const parts = taskId.split(':');
  if (parts.length < 3) return { userId: taskId, taskDefId: '', period: '' };
  const period = parts.pop() as string;
  const taskDefId = parts.pop() as string;
  return { userId: parts.join(':'), taskDefId, period };
}

/** What the gateway and ops show of a task at `version`: progress against the target and each stage's outcome. */
export function taskView(state: TaskState, version: number): TaskView {
  if (state.status === 'NEW') {
    return { taskId: state.taskId, ...idParts(state.taskId), status: state.terminated ? 'TERMINATED' : 'NEW', version, progress: 0, target: 0, deadline: null, stages: [] };
  }
  return {
    taskId: state.taskId,
    userId: state.userId,
    taskDefId: state.terms.taskDefId,
    period: state.period,
    status: state.status,
    version,
    progress: state.progress,
    target: targetOf(state),
    deadline: state.deadline,
    stages: state.stages.map((s) => ({
      threshold: s.threshold,
      status: s.status,
      ...(s.reason !== undefined ? { reason: s.reason } : {}),
      ...(s.outcome !== undefined ? { outcome: s.outcome } : {}),
    })),
  };
}
