import { z } from 'zod';
import { ErrorCode, PropelError } from '../../common';
import { LogChannel, type LogSink, type Notification, type NotificationChannel } from './channel';
import { WebhookChannel } from './webhook.channel';

/** Channel adapters this build ships. */
export const CHANNEL_NAMES = ['log', 'webhook'] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/** Defaults of the notifier; the environment names are listed on `notifierOptionsFromEnv`. */
export const NOTIFIER_DEFAULTS = {
  channels: ['log'] as ChannelName[],
  webhookTimeoutMs: 5000,
  /** Attempts (Redis deliveries and in-process retries together) before an entry is dead-lettered. */
  maxAttempts: 5,
  retryBaseMs: 200,
  retryMaxMs: 10_000,
  /** Pending entries idle this long belong to a dead notifier and are claimed; above retryMaxMs + timeout. */
  claimIdleMs: 30_000,
  claimEveryMs: 1000,
  maxInFlight: 100,
  batchSize: 50,
  blockMs: 1000,
  /** How long per-channel delivery records live: the window in which a redelivery is recognised. */
  deliveredTtlS: 7 * 24 * 3600,
  drainTimeoutMs: 10_000,
} as const;

const channelList = z.array(z.enum(CHANNEL_NAMES)).min(1, 'name at least one channel');

const notifierSchema = z
  .object({
    channels: channelList.default(NOTIFIER_DEFAULTS.channels),
    /** Per-kind overrides of `channels`: kind → channels. */
    routes: z.record(z.string(), channelList).default({}),
    webhook: z.object({ url: z.url(), timeoutMs: z.number().int().min(1).default(NOTIFIER_DEFAULTS.webhookTimeoutMs) }).optional(),
    maxAttempts: z.number().int().min(1).default(NOTIFIER_DEFAULTS.maxAttempts),
    retryBaseMs: z.number().int().min(0).default(NOTIFIER_DEFAULTS.retryBaseMs),
    retryMaxMs: z.number().int().min(0).default(NOTIFIER_DEFAULTS.retryMaxMs),
    claimIdleMs: z.number().int().min(1).default(NOTIFIER_DEFAULTS.claimIdleMs),
    claimEveryMs: z.number().int().min(10).default(NOTIFIER_DEFAULTS.claimEveryMs),
    maxInFlight: z.number().int().min(1).default(NOTIFIER_DEFAULTS.maxInFlight),
    batchSize: z.number().int().min(1).default(NOTIFIER_DEFAULTS.batchSize),
    blockMs: z.number().int().min(10).default(NOTIFIER_DEFAULTS.blockMs),
    deliveredTtlS: z.number().int().min(1).default(NOTIFIER_DEFAULTS.deliveredTtlS),
    drainTimeoutMs: z.number().int().min(0).default(NOTIFIER_DEFAULTS.drainTimeoutMs),
  })
  .superRefine((cfg, ctx) => {
    const used = new Set([...cfg.channels, ...Object.values(cfg.routes).flat()]);
    if (used.has('webhook') && !cfg.webhook) ctx.addIssue({ code: 'custom', path: ['webhook', 'url'], message: 'the webhook channel needs PROPEL_NOTIFIER_WEBHOOK_URL' });
  });

export type NotifierConfig = z.infer<typeof notifierSchema>;
export type NotifierOptions = z.input<typeof notifierSchema>;

/** Validates the notifier's settings once, naming every problem, so a bad route stops the process at start. */
export function compileNotifierConfig(options: NotifierOptions = {}): NotifierConfig {
  const result = notifierSchema.safeParse(options);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new PropelError(ErrorCode.InvalidConfig, `invalid notifier configuration: ${problems}`);
  }
  return result.data;
}

function envNumber(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new PropelError(ErrorCode.InvalidConfig, `${name} must be a number (got ${JSON.stringify(raw)})`);
  return value;
}

/**
 * Notifier options from the environment: PROPEL_NOTIFIER_CHANNELS (`log,webhook`), PROPEL_NOTIFIER_ROUTES
 * (JSON `{ "<kind>": ["webhook"] }`), PROPEL_NOTIFIER_WEBHOOK_URL, PROPEL_NOTIFIER_WEBHOOK_TIMEOUT_MS,
 * PROPEL_NOTIFIER_MAX_ATTEMPTS, PROPEL_NOTIFIER_CLAIM_IDLE_MS, PROPEL_NOTIFIER_MAX_IN_FLIGHT.
 */
export function notifierOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): NotifierOptions {
  const options: Record<string, unknown> = {};
  if (env.PROPEL_NOTIFIER_CHANNELS) options.channels = env.PROPEL_NOTIFIER_CHANNELS.split(',').map((s) => s.trim()).filter(Boolean);
  if (env.PROPEL_NOTIFIER_ROUTES) {
    try {
      options.routes = JSON.parse(env.PROPEL_NOTIFIER_ROUTES);
    } catch (err) {
      throw new PropelError(ErrorCode.InvalidConfig, `PROPEL_NOTIFIER_ROUTES must be JSON: ${(err as Error).message}`);
    }
  }
  if (env.PROPEL_NOTIFIER_WEBHOOK_URL) {
    options.webhook = { url: env.PROPEL_NOTIFIER_WEBHOOK_URL, timeoutMs: envNumber(env, 'PROPEL_NOTIFIER_WEBHOOK_TIMEOUT_MS') };
  }
  const numbers: Array<[string, string]> = [
    ['PROPEL_NOTIFIER_MAX_ATTEMPTS', 'maxAttempts'],
    ['PROPEL_NOTIFIER_CLAIM_IDLE_MS', 'claimIdleMs'],
    ['PROPEL_NOTIFIER_MAX_IN_FLIGHT', 'maxInFlight'],
  ];
  for (const [name, key] of numbers) {
    const value = envNumber(env, name);
    if (value !== undefined) options[key] = value;
  }
  return options as NotifierOptions;
}

/** The channel names a notification goes to: its kind's route, else the default channels. */
export function channelsFor(config: Pick<NotifierConfig, 'channels' | 'routes'>, n: Pick<Notification, 'kind'>): readonly string[] {
  return Object.hasOwn(config.routes, n.kind) ? config.routes[n.kind] : config.channels;
}

/** The adapters the configuration uses (default channels and routes together), built once at start. */
export function createChannels(config: NotifierConfig, logSink?: LogSink): NotificationChannel[] {
  const used = new Set<string>([...config.channels, ...Object.values(config.routes).flat()]);
  const channels: NotificationChannel[] = [];
  if (used.has('log')) channels.push(new LogChannel(logSink));
  if (used.has('webhook') && config.webhook) channels.push(new WebhookChannel(config.webhook));
  return channels;
}
