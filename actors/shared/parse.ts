import type { CallReply } from '../../common/actor';
import { assertValidId } from '../../common/ids';

/**
 * Field validators the actors' `parse` functions share. Each returns the value typed or throws a TypeError (an
 * invalid id: the INVALID_ID TerminalError of assertValidId) whose message names the field, so a dead-lettered
 * message says what to fix. `what` is the path of the value in the message (`Claim.terms`).
 */

/** A message or a part of one, before its fields are checked. */
export type Raw = Record<string, unknown>;

const CONTROL = /[\u0000-\u001f\u007f]/;

/** A plain JSON object: not null, not an array. */
export function isRecord(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function object(value: unknown, what: string): Raw {
  if (!isRecord(value)) throw new TypeError(`${what} must be an object`);
  return value;
}

/** An id that may reach keys and logs: non-empty, at most 200 characters, no braces or control characters. */
export function id(m: Raw, field: string, what: string): string {
  return assertValidId(m[field], `${what}.${field}`);
}

export function optionalId(m: Raw, field: string, what: string): string | undefined {
  return m[field] === undefined ? undefined : id(m, field, what);
}

export function time(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`${what} must be a time in ms since the epoch (a non-negative integer)`);
  }
  return value;
}

export function optionalTime(m: Raw, field: string, what: string): number | undefined {
  return m[field] === undefined ? undefined : time(m[field], `${what}.${field}`);
}

export function intIn(value: unknown, min: number, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${what} must be an integer from ${min} to ${max}`);
  }
  return value;
}

export function positive(value: unknown, max: number, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > max) {
    throw new TypeError(`${what} must be a finite number above 0 and at most ${max}`);
  }
  return value;
}

/** Free text a person wrote (an operator's reason): 1 to `max` characters, no control characters. */
export function text(value: unknown, what: string, max: number): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > max) throw new TypeError(`${what} must be a string of 1 to ${max} characters`);
  // Control characters would garble the logs and terminals that show the reason.
  if (CONTROL.test(value)) throw new TypeError(`${what} must not contain control characters`);
  return value;
}

/**
 * A call's reply as the runtime delivers it: the call's key, and either `ok: true` with any value or `ok: false`
 * with a complete error, since the actor branches on its code and `retryable`.
 */
export function callReply<T extends string>(m: Raw, type: T): CallReply<T> {
  const key = id(m, 'key', type);
  if (m.ok === true) return { type, key, ok: true, value: m.value };
  if (m.ok !== false) throw new TypeError(`${type}.ok must be true or false`);
  const e = m.error;
  if (!isRecord(e) || typeof e.code !== 'string' || e.code.length === 0 || typeof e.message !== 'string' || typeof e.retryable !== 'boolean') {
    throw new TypeError(`${type} with ok: false needs error { code: non-empty string, message: string, retryable: boolean }`);
  }
  return { type, key, ok: false, error: { code: e.code, message: e.message, retryable: e.retryable } };
}
