/** The ops dashboard served by the gateway: the page at /ops, its JSON API at /ops/api, sessions and the sampler. */
export { OpsDashboardModule, opsSecurityHeaders } from './ops-dashboard.module';
export type { OpsDashboardOptions } from './ops-dashboard.module';
export { OpsApiController, terminateBodySchema } from './ops-api.controller';
export type { DeadSummaryItem, OpsActionAnswer } from './ops-api.controller';
export { OpsPagesController } from './ops-pages.controller';
export { DEFAULT_API_OPERATOR, isHttps, OPS_COOKIE, OPS_COOKIE_PATH, OPS_CSRF_HEADER, OPS_OPERATOR_HEADER, OpsApiGuard, OpsAuth, parseCookies, sameOrigin, sessionCookie } from './ops-auth';
export type { OpsPrincipal, OpsRequest } from './ops-auth';
export { OPS_SESSION_DEFAULTS, OpsSessionStore, tokenTag } from './ops-sessions';
export type { OpsSession } from './ops-sessions';
export { OpsSampler, ratePerSecond, streamCounters } from './ops-sampler';
export type { OpsSample, OpsSamplerOptions } from './ops-sampler';
export { LoginThrottle } from './login-throttle';
export { RingBuffer } from './ring-buffer';
