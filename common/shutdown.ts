import { Logger } from '@nestjs/common';

/**
 * Graceful shutdown for an app process: on the first SIGTERM or SIGINT run `close` (drain, hand back, close
 * connections), then exit 0, or 1 if closing failed or did not finish within `deadlineMs` (Redis gone
 * meanwhile: whatever was not settled stays pending in Redis for the next owner). A second signal while
 * closing is ignored, so a supervisor's repeated TERM cannot cut a drain short.
 */
export function exitOnSignal(context: string, close: () => Promise<unknown>, describe: () => string = () => 'draining', deadlineMs = 20_000): void {
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      if (stopping) return;
      stopping = true;
      Logger.log(`${signal}: ${describe()}`, context);
      setTimeout(() => {
        Logger.error(`shutdown did not finish within ${deadlineMs} ms; exiting (unsettled work stays pending in Redis)`, undefined, context);
        process.exit(1);
      }, deadlineMs).unref();
      close().then(
        () => process.exit(0),
        (err) => {
          Logger.error(`shutdown failed: ${(err as Error).message}`, undefined, context);
          process.exit(1);
        },
      );
    });
  }
}

/**
 * Waits for `work` at most `ms` (its failure ignored) and says whether it settled in time. Shutdown paths use it
 * where Redis may be gone: ioredis queues commands offline, so a read or QUIT issued then never settles.
 */
export async function settledWithin(work: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!work) return true;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  const settled = await Promise.race([work.then(() => true, () => true), late]);
  clearTimeout(timer);
  return settled;
}
