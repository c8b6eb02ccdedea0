import { Presets, SingleBar } from 'cli-progress';
import type { Progress } from '../../common/ops';

/** A progress bar a long command updates; a no-op unless enabled (stderr is a TTY and --no-progress was not given). */
export interface ProgressBar {
  update: Progress;
  stop(): void;
}

const NONE: ProgressBar = { update: () => undefined, stop: () => undefined };

/**
 * Starts a bar on stderr (never stdout, which carries the result) once the first update says how much there is,
 * and only for at least `minTotal` units: a handful of partitions is done before a bar would be read.
 */
export function progressBar(label: string, enabled: boolean, minTotal = 1, stream: NodeJS.WriteStream = process.stderr): ProgressBar {
  if (!enabled) return NONE;
  let bar: SingleBar | undefined;
  let skipped = false;
  return {
    update(done, total) {
      if (skipped) return;
      if (!bar) {
        if (total < minTotal) {
          skipped = true;
          return;
        }
        bar = new SingleBar({ format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`, stream, clearOnComplete: true, hideCursor: true }, Presets.shades_classic);
        bar.start(total, done);
        return;
      }
      bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
