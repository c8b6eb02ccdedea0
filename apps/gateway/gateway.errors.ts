import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { ErrorCode, PropelError } from '../../common';
import { ACTIVITY_ERRORS } from '../worker/components/activity';
import { isRedisUnavailable } from '../../common/redis/connection';

/** The body of every error answer: a machine-readable code and a sentence a person can act on. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** An error the gateway answers with as it is: HTTP status, code and message. */
export class GatewayError extends HttpException {
  constructor(
    status: number,
    readonly code: string,
    message: string,
  ) {
    super({ error: { code, message } } satisfies ErrorBody, status);
    // HttpException names itself after the class when its response is an object: keep the sentence.
    this.message = message;
  }
}

/** HTTP status per runtime / component error code; other Propel errors are 500 (or 503 when retryable). */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  [ErrorCode.InvalidId]: HttpStatus.BAD_REQUEST,
  [ErrorCode.InvalidMessage]: HttpStatus.BAD_REQUEST,
  [ErrorCode.CallTimeout]: HttpStatus.GATEWAY_TIMEOUT,
  [ErrorCode.NotQueued]: HttpStatus.SERVICE_UNAVAILABLE,
  [ACTIVITY_ERRORS.invalid]: HttpStatus.BAD_REQUEST,
  [ACTIVITY_ERRORS.notFound]: HttpStatus.NOT_FOUND,
  [ACTIVITY_ERRORS.unavailable]: HttpStatus.SERVICE_UNAVAILABLE,
};

/** Maps anything thrown while handling a request to a status and an error body. */
export function toErrorAnswer(err: unknown): { status: number; body: ErrorBody } {
  if (err instanceof GatewayError) return { status: err.getStatus(), body: { error: { code: err.code, message: err.message } } };
  if (err instanceof HttpException) {
    const status = err.getStatus();
    // Nest's own answers (e.g. 404 for an unknown route) keep their status, in our body shape.
    const code = status === 404 ? 'NOT_FOUND' : `HTTP_${status}`;
    return { status, body: { error: { code, message: err.message } } };
  }
  if (err instanceof PropelError) {
    const status = STATUS_BY_CODE[String(err.code)] ?? HttpStatus.INTERNAL_SERVER_ERROR;
    return { status, body: { error: { code: String(err.code), message: err.message } } };
  }
  if (isRedisUnavailable(err)) {
    return { status: 503, body: { error: { code: 'REDIS_UNAVAILABLE', message: 'Redis did not answer (a restart or a cluster failover); try again in a moment' } } };
  }
  return { status: 500, body: { error: { code: 'INTERNAL', message: 'the gateway failed to answer; the failure is logged, try again later' } } };
}


/** Answers every exception with `{ error: { code, message } }`; logs the unexpected ones (5xx). */
@Catch()
export class GatewayExceptionFilter implements ExceptionFilter {
  private readonly logger = new Logger('Gateway');

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<{ status(code: number): { json(body: unknown): void } }>();
    const { status, body } = toErrorAnswer(err);
    if (status >= 500 && status !== 503 && status !== 504) this.logger.error(err instanceof Error ? err.stack ?? err.message : String(err));
    res.status(status).json(body);
  }
}

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * Express error middleware placed right after the JSON body parser: malformed JSON is a 400 and a body over
 * the limit a 413, in the gateway's error shape, instead of Express's HTML page.
 */
export function bodyErrorMiddleware(limitBytes: number) {
  return (err: unknown, _req: unknown, res: { status(code: number): { json(body: unknown): void } }, next: (err?: unknown) => void): void => {
    const e = err as BodyParserError;
    if (e?.type === 'entity.parse.failed') {
      res.status(400).json({ error: { code: 'MALFORMED_JSON', message: 'the request body is not valid JSON; send a JSON object with Content-Type: application/json' } });
    } else if (e?.type === 'entity.too.large') {
      res.status(413).json({ error: { code: 'BODY_TOO_LARGE', message: `the request body is larger than ${limitBytes} bytes; send a smaller body` } });
    } else if (e?.status && e.status >= 400 && e.status < 500) {
      res.status(e.status).json({ error: { code: 'BAD_REQUEST', message: `the request body could not be read (${e.type ?? 'unknown'}); send JSON as UTF-8` } });
    } else {
      next(err);
    }
  };
}
