/**
 * A small BIRD-like database on a private MariaDB for the MySQL engine tests: database `BIRD` with the tables of
 * two `db_id`s, the loader's manifest (`text2sql_loaded`, the layout `lib/db` writes), and a read-only account
 * (SELECT on `BIRD` only), built with the admin URL.
 */
import mysql from "mysql2";
import type { LocalServer } from "../../lib/util/local_server.ts";

/** Run statements one by one as the admin; returns the rows of the last one (raw driver values). */
export function adminRun(url: string, sqls: string[]): Promise<unknown[][]> {
  const conn = mysql.createConnection({ uri: url, rowsAsArray: true });
  return (async () => {
    let last: unknown[][] = [];
    try {
      for (const sql of sqls) {
        last = await new Promise<unknown[][]>((res, rej) =>
          conn.query(sql, (e: Error | null, rows: unknown) => (e ? rej(e) : res(rows as unknown[][])))
        );
      }
      return last;
    } finally {
      conn.destroy();
    }
  })();
}

/** The tables the fixture creates, per db_id. */
export const FIXTURE_TABLES: Record<string, string[]> = {
  heroes: ["hero", "power", "hero_power"],
  shop: ["item"],
};

/** Create the fixture; returns the read-only URL (database `BIRD`). */
export async function buildBird(server: LocalServer): Promise<{ roUrl: string; adminBird: string }> {
  const admin = new URL(server.adminUrl);
  admin.pathname = "/BIRD";
  await adminRun(server.adminUrl, ["CREATE DATABASE BIRD CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci"]);
  const password = crypto.randomUUID().replaceAll("-", "");
  await adminRun(admin.toString(), [
    `CREATE TABLE hero (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, height DOUBLE, weight DECIMAL(6,2),
      born DATE) ENGINE=InnoDB`,
    `CREATE TABLE power (id INT PRIMARY KEY, power_name TEXT) ENGINE=InnoDB`,
    `CREATE TABLE hero_power (hero_id INT NOT NULL, power_id INT NOT NULL, PRIMARY KEY (hero_id, power_id),
      FOREIGN KEY (hero_id) REFERENCES hero(id), FOREIGN KEY (power_id) REFERENCES power(id)) ENGINE=InnoDB`,
    `CREATE TABLE item (sku VARCHAR(16) PRIMARY KEY, price DECIMAL(8,2), qty BIGINT) ENGINE=InnoDB`,
    `INSERT INTO hero VALUES (1, 'Ada', 1.72, 60.50, '1990-01-02'), (2, 'Bob', 1.85, 80, NULL),
      (3, 'Cy', NULL, NULL, '2000-02-29'), (4, 'Dee', 1.6, 55.25, '1985-12-31')`,
    `INSERT INTO power VALUES (1, 'Flight'), (2, 'Strength'), (3, 'Élan')`,
    `INSERT INTO hero_power VALUES (1, 1), (1, 2), (2, 2), (3, 3), (4, 1)`,
    `INSERT INTO item VALUES ('a', 2.50, 3), ('b', 0.10, 7)`,
    `CREATE TABLE text2sql_loaded (db_id VARCHAR(255) NOT NULL, table_name VARCHAR(64) NOT NULL,
      source_table VARCHAR(255) NOT NULL, source_sha256 CHAR(64) NOT NULL, \`rows\` BIGINT NOT NULL,
      checksum VARCHAR(64) NOT NULL, status VARCHAR(16) NOT NULL, columns LONGTEXT NOT NULL, notes LONGTEXT NOT NULL,
      loaded_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), loader_version VARCHAR(32) NOT NULL,
      PRIMARY KEY (table_name)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`,
    ...Object.entries(FIXTURE_TABLES).flatMap(([db, tables]) =>
      tables.map((t) =>
        `INSERT INTO text2sql_loaded (db_id, table_name, source_table, source_sha256, \`rows\`, checksum, status,
          columns, notes, loader_version) VALUES ('${db}', '${t}', '${t}', '${
          "ab".repeat(32)
        }', 0, '0:00', 'done',
          '[]', '[]', '1')`
      )
    ),
    `CREATE USER 't2s_ro'@'127.0.0.1' IDENTIFIED BY '${password}'`,
    "GRANT SELECT ON BIRD.* TO 't2s_ro'@'127.0.0.1'",
  ]);
  const ro = new URL(admin.toString());
  ro.username = "t2s_ro";
  ro.password = password;
  return { roUrl: ro.toString(), adminBird: admin.toString() };
}

/** `CHECKSUM TABLE` of every table of `BIRD`, as admin, in name order. */
export async function checksums(adminBird: string): Promise<string> {
  const tables = await adminRun(adminBird, [
    "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'BIRD' ORDER BY TABLE_NAME",
  ]);
  const names = tables.map((r) => String(r[0]));
  const sums = await adminRun(adminBird, [
    `CHECKSUM TABLE ${names.map((n) => `\`${n}\``).join(", ")} EXTENDED`,
  ]);
  return JSON.stringify({ names, sums });
}
