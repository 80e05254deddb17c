import pg from "pg";

/**
 * Read-only access to the database the server under test writes to
 * (`DATABASE_URL`), for tests that check what was stored. One small pool per
 * worker; call `closeDb` in `afterAll`.
 */
let pool: pg.Pool | undefined;

function connect(): pg.Pool {
  const url = process.env.DATABASE_URL;
  if (!url) {
    throw new Error("DATABASE_URL must point at the server's database for these tests");
  }
  pool ??= new pg.Pool({ connectionString: url, max: 2 });
  return pool;
}

export async function query<Row extends object>(sql: string, params: unknown[] = []): Promise<Row[]> {
  const result = await connect().query<Row>(sql, params);
  return result.rows;
}

export async function closeDb(): Promise<void> {
  await pool?.end();
  pool = undefined;
}
