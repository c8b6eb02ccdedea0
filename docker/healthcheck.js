// The containers' healthcheck: GET /health on this container's own HTTP listener, healthy on 200.
// Every app serves /health (docs/observability.md): the worker, notifier and sweepers on
// PROPEL_METRICS_PORT (defaults 9464, 9460, 9461), the gateway on PORT. /health answers 503 with the
// failing probe (Redis down, a worker not connected yet, a sweeper role stopped), which is printed.
//
//   node healthcheck.js          the port in PROPEL_METRICS_PORT, else 9464 (the worker, the image's CMD)
//   node healthcheck.js <port>   that port (compose passes the gateway's, notifier's and sweepers')
'use strict';

const raw = process.argv[2] ?? process.env.PROPEL_METRICS_PORT ?? '9464';
const port = Number(raw);
if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
  console.log(`unhealthy: no /health listener to ask (port ${JSON.stringify(raw)}; PROPEL_METRICS_PORT=0 turns it off)`);
  process.exit(1);
}

fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) })
  .then(async (res) => {
    const body = (await res.text()).slice(0, 300).replace(/\s+/g, ' ');
    console.log(`${res.ok ? 'healthy' : 'unhealthy'}: /health on port ${port} answered ${res.status} ${body}`);
    process.exit(res.ok ? 0 : 1);
  })
  .catch((err) => {
    console.log(`unhealthy: /health on port ${port}: ${err.name === 'TimeoutError' ? 'no answer within 5 s' : err.cause?.code ?? err.message}`);
    process.exit(1);
  });
