import { Counter, Gauge } from 'prom-client';
import type { HealthProbe, PropelMetrics } from '../../common/observability';

/** How one send on one channel came out: delivered, failed and retried, or failed for good. */
export type SendOutcome = 'ok' | 'retryable' | 'terminal';

/** What the notifier reports (a sink, like the runtime's): no-op by default, Prometheus from `notifierMetrics`. */
export interface NotifierMetrics {
  sent(channel: string, outcome: SendOutcome): void;
  /** An entry was acknowledged: every channel delivered it. */
  delivered(): void;
  deadLettered(code: string): void;
  /** Where the in-flight gauge reads from at scrape time. */
  watch(inFlight: () => number): void;
}

const nothing = (): void => undefined;

export const NOOP_NOTIFIER_METRICS: NotifierMetrics = Object.freeze({ sent: nothing, delivered: nothing, deadLettered: nothing, watch: nothing });

/** The notifier's metrics, registered on the app's registry (listed in docs/observability.md). */
export function notifierMetrics(metrics: PropelMetrics): NotifierMetrics {
  const registers = [metrics.registry];
  const sends = new Counter({ name: 'propel_notifier_sends_total', help: 'Sends of a notification on one channel, by channel and outcome (ok, retryable, terminal)', labelNames: ['channel', 'outcome'], registers });
  const delivered = new Counter({ name: 'propel_notifier_delivered_total', help: 'Notification entries acknowledged after every channel delivered them', registers });
  const dead = new Counter({ name: 'propel_notifier_dead_letters_total', help: 'Notification entries dead-lettered, by code', labelNames: ['code'], registers });
  let inFlight: (() => number) | undefined;
  new Gauge({
    name: 'propel_notifier_in_flight', help: 'Notification entries being delivered (retrying ones included)', registers,
    collect() {
      if (inFlight) this.set(inFlight());
    },
  });
  return {
    sent: (channel, outcome) => sends.inc({ channel, outcome }),
    delivered: () => delivered.inc(),
    deadLettered: (code) => dead.inc({ code }),
    watch: (fn) => void (inFlight = fn),
  };
}

/** Health of a notifier: up while its read loop runs. */
export function notifierProbe(notifier: { readonly consumer: string; readonly inFlightCount: number; isRunning(): boolean }): HealthProbe {
  return {
    key: 'notifier',
    check() {
      if (!notifier.isRunning()) throw new Error(`notifier ${notifier.consumer} is not reading (starting or shutting down)`);
      return { consumer: notifier.consumer, inFlight: notifier.inFlightCount };
    },
  };
}
