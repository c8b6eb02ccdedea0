import { LogChannel } from './channel';
import { channelsFor, compileNotifierConfig, createChannels, notifierOptionsFromEnv } from './notifier.config';
import { WebhookChannel } from './webhook.channel';

describe('notifier routing config', () => {
  it('routes every notification to the log channel by default', () => {
    const cfg = compileNotifierConfig();
    expect(cfg.channels).toEqual(['log']);
    expect(channelsFor(cfg, { kind: 'REFERRAL_REWARDED' })).toEqual(['log']);
    expect(createChannels(cfg).map((c) => c.constructor)).toEqual([LogChannel]);
  });

  it('reads channels, webhook URL and timeout from the environment', () => {
    const cfg = compileNotifierConfig(
      notifierOptionsFromEnv({ PROPEL_NOTIFIER_CHANNELS: 'log, webhook', PROPEL_NOTIFIER_WEBHOOK_URL: 'http://hooks.test/n', PROPEL_NOTIFIER_WEBHOOK_TIMEOUT_MS: '750' }),
    );
    expect(cfg.channels).toEqual(['log', 'webhook']);
    expect(cfg.webhook).toEqual({ url: 'http://hooks.test/n', timeoutMs: 750 });
    expect(createChannels(cfg).map((c) => c.name)).toEqual(['log', 'webhook']);
  });

  it('defaults the webhook timeout when only the URL is given', () => {
    const cfg = compileNotifierConfig(notifierOptionsFromEnv({ PROPEL_NOTIFIER_CHANNELS: 'webhook', PROPEL_NOTIFIER_WEBHOOK_URL: 'http://hooks.test/n' }));
    expect(cfg.webhook?.timeoutMs).toBe(5000);
    expect(createChannels(cfg)[0]).toBeInstanceOf(WebhookChannel);
  });

  it('a per-kind route overrides the default channels for that kind only', () => {
    const cfg = compileNotifierConfig(
      notifierOptionsFromEnv({ PROPEL_NOTIFIER_ROUTES: '{"REFERRAL_REWARDED":["webhook","log"]}', PROPEL_NOTIFIER_WEBHOOK_URL: 'http://hooks.test/n' }),
    );
    expect(channelsFor(cfg, { kind: 'REFERRAL_REWARDED' })).toEqual(['webhook', 'log']);
    expect(channelsFor(cfg, { kind: 'REFERRAL_TASK_ASSIGNED' })).toEqual(['log']);
    expect(channelsFor(cfg, { kind: 'constructor' })).toEqual(['log']);
  });

  it('refuses a webhook route without a URL, unknown channels, an empty list and bad numbers, naming each', () => {
    expect(() => compileNotifierConfig({ channels: ['log', 'webhook'] })).toThrow(/webhook\.url: the webhook channel needs PROPEL_NOTIFIER_WEBHOOK_URL/);
    expect(() => compileNotifierConfig(notifierOptionsFromEnv({ PROPEL_NOTIFIER_CHANNELS: 'log,sms' }))).toThrow(/INVALID_CONFIG|channels\.1/);
    expect(() => compileNotifierConfig({ channels: [] })).toThrow(/name at least one channel/);
    expect(() => notifierOptionsFromEnv({ PROPEL_NOTIFIER_MAX_ATTEMPTS: 'five' })).toThrow(/PROPEL_NOTIFIER_MAX_ATTEMPTS must be a number/);
    expect(() => notifierOptionsFromEnv({ PROPEL_NOTIFIER_ROUTES: '{' })).toThrow(/PROPEL_NOTIFIER_ROUTES must be JSON/);
    expect(() => compileNotifierConfig({ webhook: { url: 'not a url' } })).toThrow(/webhook\.url/);
  });
});
