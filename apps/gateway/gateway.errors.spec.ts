import { ErrorCode, PropelError } from '../../common';
import { isRedisUnavailable } from '../../common/redis/connection';
import { GatewayError, toErrorAnswer } from './gateway.errors';

describe('gateway error answers', () => {
  it('Redis being unreachable or failing over is a 503 to retry, not a 500', () => {
    for (const message of ['Too many Cluster redirections. Last error: Error: connect ECONNREFUSED 127.0.0.1:7001', 'Connection is closed.', 'LOADING Redis is loading the dataset in memory', 'CLUSTERDOWN The cluster is down']) {
      expect(toErrorAnswer(new Error(message))).toEqual({ status: 503, body: { error: { code: 'REDIS_UNAVAILABLE', message: expect.stringMatching(/try again/) } } });
    }
    const maxRetries = Object.assign(new Error('Reached the max retries per request limit (which is 20).'), { name: 'MaxRetriesPerRequestError' });
    expect(isRedisUnavailable(maxRetries)).toBe(true);
  });

  it('anything else unexpected stays a logged 500; Propel and gateway errors keep their codes', () => {
    expect(toErrorAnswer(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')).status).toBe(500);
    expect(toErrorAnswer(new TypeError('x is undefined')).body.error.code).toBe('INTERNAL');
    expect(toErrorAnswer(new PropelError(ErrorCode.NotQueued, 'send it again'))).toMatchObject({ status: 503, body: { error: { code: 'NOT_QUEUED' } } });
    expect(toErrorAnswer(new PropelError(ErrorCode.CallTimeout, 'late'))).toMatchObject({ status: 504 });
    expect(toErrorAnswer(new GatewayError(409, 'X', 'conflict'))).toMatchObject({ status: 409, body: { error: { code: 'X' } } });
  });
});
