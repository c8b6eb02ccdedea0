import { ErrorCode, TerminalError } from '../errors';

/** Codes of the configuration center's errors; callers (ops, the gateway) branch on these. */
export const CONFIG_CENTER_ERRORS = {
  invalidConfig: ErrorCode.InvalidConfig,
  versionConflict: 'VERSION_CONFLICT',
  unknownKind: 'UNKNOWN_CONFIG_KIND',
} as const;

/** One reason a value was refused: where in the value (`a.b.0`, or `(root)`) and what is wrong there. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/** A write refused by the kind's schema (or by the item's size or id): nothing was stored. */
export class InvalidConfigError extends TerminalError {
  constructor(
    readonly kind: string,
    readonly id: string,
    readonly problems: ConfigProblem[],
  ) {
    super(CONFIG_CENTER_ERRORS.invalidConfig, `invalid ${kind} ${JSON.stringify(id)}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`);
  }
}

/** A write that expected another current version (optimistic concurrency): nothing was stored; read and try again. */
export class ConfigVersionConflictError extends TerminalError {
  constructor(
    readonly kind: string,
    readonly id: string,
    readonly expected: number,
    readonly actual: number,
  ) {
    super(
      CONFIG_CENTER_ERRORS.versionConflict,
      `${kind} ${JSON.stringify(id)} is at version ${actual}${actual === 0 ? ' (not stored)' : ''}, not ${expected}: someone changed it since you read it; read it again and reapply your change`,
    );
  }
}

/** A kind this store or cache was not given (a programming or deployment error). */
export class UnknownConfigKindError extends TerminalError {
  constructor(kind: string, known: readonly string[]) {
    super(CONFIG_CENTER_ERRORS.unknownKind, `no configuration kind ${JSON.stringify(kind)}; known: ${known.join(', ') || 'none'}`);
  }
}
