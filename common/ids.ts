import { DEFAULTS } from './constants';
import { ErrorCode, TerminalError } from './errors';

// Braces would let an id choose another Redis Cluster hash slot; control characters break logs and tools.
const FORBIDDEN = /[{}\u0000-\u001f\u007f]/;
const TYPE_NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

/**
 * Validates an id before it becomes part of a Redis key; throws a TerminalError a person can act on.
 * Keeps every partition's keys inside its own hash tag.
 */
export function assertValidId(id: unknown, what = 'id', maxLength: number = DEFAULTS.maxIdLength): string {
  if (typeof id !== 'string' || id.length === 0) {
    throw new TerminalError(ErrorCode.InvalidId, `${what} must be a non-empty string`);
  }
  if (id.length > maxLength) {
    throw new TerminalError(ErrorCode.InvalidId, `${what} is ${id.length} characters long; at most ${maxLength} are allowed`);
  }
  if (FORBIDDEN.test(id)) {
    throw new TerminalError(ErrorCode.InvalidId, `${what} must not contain '{', '}' or control characters`);
  }
  return id;
}

/** Actor type names: lower case letters, digits, '.', '_' and '-', starting with a letter. */
export function assertValidTypeName(type: unknown, what = 'actor type'): string {
  if (typeof type !== 'string' || !TYPE_NAME.test(type)) {
    throw new TerminalError(
      ErrorCode.InvalidId,
      `${what} must match ${TYPE_NAME.source} (got ${JSON.stringify(String(type)).slice(0, 80)})`,
    );
  }
  return type;
}
