import { createPool, type Pool, type PoolOptions, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { ErrorCode, PropelError } from '../errors';
import { decodeResult, encodeResult } from './codec';
import type { BeginOutcome, IdempotencyStore } from './types';

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;

export interface MariaDbStoreOptions {
  /** mysql2 pool options (host, port, user, password, database, connectionLimit…). */
  pool: PoolOptions;
  /** Table of the records; created at `init()` if missing. */
  table?: string;
}

interface RecordRow extends RowDataPacket {
  fingerprint: string;
  state: 'p' | 'd';
  result: string | null;
}

/**
 * Idempotency records in a MariaDB/MySQL table (one row per key). A claim is one INSERT … ON DUPLICATE KEY
 * UPDATE that inserts a new row or takes over an expired one; the affected-row count tells which call won
 * (1 inserted, 2 reclaimed, 0 someone else holds a live row), so two concurrent claims never both start.
 */
export class MariaDbIdempotencyStore implements IdempotencyStore {
  readonly name = 'mariadb' as const;
  readonly table: string;
  private readonly pool: Pool;

  constructor(options: MariaDbStoreOptions) {
    this.table = options.table ?? 'propel_idempotency';
    if (!TABLE_NAME.test(this.table)) {
      throw new PropelError(ErrorCode.InvalidConfig, `idempotency table name must match ${TABLE_NAME.source} (got ${JSON.stringify(this.table)})`);
    }
    // Without FOUND_ROWS the server reports 0 affected rows for an ON DUPLICATE KEY UPDATE that changed
    // nothing; with it (mysql2's default) a lost claim would read as a won one.
    const flags = [...toFlagList(options.pool.flags), '-FOUND_ROWS'];
    this.pool = createPool({ connectionLimit: 8, ...options.pool, flags });
  }

  /** Creates the table if missing (the store's migration); call once before use. */
  async init(): Promise<void> {
    await this.pool.query(
      `CREATE TABLE IF NOT EXISTS \`${this.table}\` (
        k VARCHAR(255) NOT NULL PRIMARY KEY,
        fingerprint CHAR(64) NOT NULL,
        state CHAR(1) NOT NULL,
        result MEDIUMTEXT NULL,
        expires_at BIGINT NOT NULL,
        KEY expires_at_idx (expires_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    );
  }

  async begin(key: string, fingerprint: string, ttlMs: number): Promise<BeginOutcome> {
    for (;;) {
      const now = Date.now();
      // Assignments run left to right and see earlier ones: expires_at must be the last one assigned.
      const [res] = await retryDeadlock(() => this.pool.execute<ResultSetHeader>(
        `INSERT INTO \`${this.table}\` (k, fingerprint, state, result, expires_at) VALUES (?, ?, 'p', NULL, ?)
         ON DUPLICATE KEY UPDATE
           fingerprint = IF(expires_at <= ?, VALUES(fingerprint), fingerprint),
           state = IF(expires_at <= ?, 'p', state),
           result = IF(expires_at <= ?, NULL, result),
           expires_at = IF(expires_at <= ?, VALUES(expires_at), expires_at)`,
        [key, fingerprint, now + ttlMs, now, now, now, now],
      ));
      if (res.affectedRows > 0) return 'started';
      const [rows] = await this.pool.execute<RecordRow[]>(`SELECT fingerprint, state, result FROM \`${this.table}\` WHERE k = ?`, [key]);
      const row = rows[0];
      // Abandoned between the two statements: claim again.
      if (!row) continue;
      if (row.state === 'd') return { state: 'done', fingerprint: row.fingerprint, result: decodeResult(row.result) };
      return { state: 'in-progress', fingerprint: row.fingerprint };
    }
  }

  async complete(key: string, fingerprint: string, result: unknown, ttlMs: number): Promise<boolean> {
    const [res] = await this.pool.execute<ResultSetHeader>(
      `UPDATE \`${this.table}\` SET state = 'd', result = ?, expires_at = ? WHERE k = ? AND fingerprint = ? AND state = 'p'`,
      [encodeResult(result), Date.now() + ttlMs, key, fingerprint],
    );
    return res.affectedRows === 1;
  }

  async abandon(key: string, fingerprint: string): Promise<boolean> {
    const [res] = await this.pool.execute<ResultSetHeader>(`DELETE FROM \`${this.table}\` WHERE k = ? AND fingerprint = ? AND state = 'p'`, [key, fingerprint]);
    return res.affectedRows === 1;
  }

  /** Deletes rows expired before `now` (housekeeping; expired rows are reclaimed on their own anyway). */
  async purgeExpired(now = Date.now(), limit = 1000): Promise<number> {
    const [res] = await this.pool.query<ResultSetHeader>(`DELETE FROM \`${this.table}\` WHERE expires_at <= ? LIMIT ?`, [now, limit]);
    return res.affectedRows;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

/** InnoDB may pick a concurrent claim as a deadlock victim (ER_LOCK_DEADLOCK); the statement is safe to repeat. */
async function retryDeadlock<T>(statement: () => Promise<T>, attempts = 5): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await statement();
    } catch (err) {
      if ((err as { errno?: number }).errno !== 1213 || i >= attempts) throw err;
    }
  }
}

function toFlagList(flags: PoolOptions['flags']): string[] {
  if (!flags) return [];
  return Array.isArray(flags) ? flags : String(flags).split(',');
}
