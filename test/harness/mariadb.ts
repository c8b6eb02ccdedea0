import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';

/** Where integration tests find MariaDB: PROPEL_TEST_MARIADB_URL, else the local server scripts/ensure-mariadb.sh starts. */
export function testMariaDbUri(): string {
  return process.env.PROPEL_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';
}

/** A table name no other test run uses: the unique prefix of one test file's rows. */
export function uniqueTableName(label = 't'): string {
  return `${label.replace(/[^a-zA-Z0-9_]/g, '').slice(0, 24)}_${randomBytes(4).toString('hex')}`;
}

/**
 * Fails fast, with what to do, when MariaDB is not reachable: tests that need it never skip silently.
 */
export async function assertMariaDbReachable(uri = testMariaDbUri()): Promise<void> {
  try {
    const conn = await createConnection({ uri, connectTimeout: 3000 });
    await conn.query('SELECT 1');
    await conn.end();
  } catch (err) {
    throw new Error(
      `MariaDB is not reachable at ${uri.replace(/\/\/[^@]*@/, '//…@')} (${err instanceof Error ? err.message : String(err)}): run scripts/ensure-mariadb.sh (installs and starts it) or set PROPEL_TEST_MARIADB_URL`,
    );
  }
}

/** Drops the tables a test created. */
export async function dropTables(tables: string[], uri = testMariaDbUri()): Promise<void> {
  const conn = await createConnection({ uri });
  try {
    for (const t of tables) await conn.query(`DROP TABLE IF EXISTS \`${t}\``);
  } finally {
    await conn.end();
  }
}
