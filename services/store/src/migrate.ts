import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import type { Sql } from "postgres";

/** One forward-only schema step: `migrations/<version>_<name>.sql`. */
export interface Migration {
  /** The four-digit prefix of the file name, as a number; applied in ascending order. */
  version: number;
  /** The file name. */
  name: string;
  /** The file's contents: plain SQL, run as one multi-statement script. */
  sql: string;
  /** SHA-256 of `sql`, recorded when applied, so an edited migration is detected at the next start. */
  checksum: string;
}

/** The migrations shipped with this package. */
export const MIGRATIONS_DIR = fileURLToPath(new URL("../migrations/", import.meta.url));

/**
 * Every replica takes this transaction-level advisory lock before reading or changing the schema,
 * so replicas starting together apply each migration exactly once and the others wait for it.
 * The value is arbitrary but fixed forever ("TIDI" in ASCII).
 */
export const MIGRATION_LOCK_KEY = 0x54494449;

const FILE_NAME = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** Reads and orders the migration files of `dir`; throws on two files with the same version. */
export async function loadMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const migrations: Migration[] = [];
  for (const name of await readdir(dir)) {
    const match = FILE_NAME.exec(name);
    if (match === null) continue;
    const sql = await readFile(`${dir}/${name}`, "utf8");
    migrations.push({ version: Number(match[1]), name, sql, checksum: createHash("sha256").update(sql).digest("hex") });
  }
  migrations.sort((a, b) => a.version - b.version);
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version === migrations[i - 1]!.version) {
      throw new Error(`two migrations have version ${migrations[i]!.version}: ${migrations[i - 1]!.name} and ${migrations[i]!.name}`);
    }
  }
  return migrations;
}

/**
 * Applies the pending migrations in one transaction under the advisory lock and returns the
 * versions it applied (empty when the schema was current). Either all pending migrations are
 * applied or none. Throws, changing nothing, when an applied migration's file has changed since.
 * Versions recorded by newer code that this code does not know are left alone, so an older
 * replica keeps running during a rolling upgrade (migrations must therefore stay compatible with
 * the previous release).
 */
export async function migrate(sql: Sql, migrations?: readonly Migration[]): Promise<number[]> {
  const all = migrations ?? (await loadMigrations());
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
    await tx`
      CREATE TABLE IF NOT EXISTS tidings_schema_migrations (
        version    integer     PRIMARY KEY,
        name       text        NOT NULL,
        checksum   text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`;
    const rows = await tx<{ version: number; checksum: string }[]>`SELECT version, checksum FROM tidings_schema_migrations`;
    const applied = new Map(rows.map((r) => [r.version, r.checksum]));
    const done: number[] = [];
    for (const m of all) {
      const checksum = applied.get(m.version);
      if (checksum !== undefined) {
        if (checksum !== m.checksum) {
          throw new Error(`migration ${m.name} was changed after it was applied; add a new migration instead of editing it`);
        }
        continue;
      }
      // The file is part of this package, never input: it runs as written.
      await tx.unsafe(m.sql);
      await tx`INSERT INTO tidings_schema_migrations (version, name, checksum) VALUES (${m.version}, ${m.name}, ${m.checksum})`;
      done.push(m.version);
    }
    return done;
  });
}
