/**
 * The SQL that builds the two BIRD-scale databases: DDL and row generation, pure SQL inside SQLite
 * (`WITH RECURSIVE` and integer hash expressions of the row number), so a build is deterministic and needs
 * nothing but the engine Deno ships. Its text is part of the cache key (`scale_build.ts`): changing a byte here
 * is a rebuild.
 *
 * @module
 */
import type { ScaleParams } from "./scale_types.ts";

// Deterministic pseudo-random numbers: a multiplicative hash of the row number, in [0, m). Distinct odd
// multipliers and primes per column keep the columns from moving together; every product stays below 2^63.
function h(n: string, salt: number, m: number): string {
  const mult = [2654435761, 2246822519, 3266489917, 668265263, 374761393, 1103515245, 48271, 69621, 16807][
    salt % 9
  ];
  return `(((${n} + ${salt * 7919}) * ${mult}) % 4294967291 % ${m})`;
}

// The Julian day of 1993-01-01 00:00: `date(J + k)` is k days later without building a string per row.
const J1993 = 2448988.5;

const LOREM =
  ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut " +
    "labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut " +
    "aliquip ex ea commodo consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore " +
    "eu fugiat nulla pariatur. Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt " +
    "mollit anim id est laborum. ").repeat(6);

function seq(n: number): string {
  return `WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < ${n})`;
}

const PRAGMAS = "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -262144; " +
  "PRAGMA temp_store = MEMORY;";

/** The regions of `district.A3`, as in BIRD's `financial`. */
const REGIONS = [
  "Prague",
  "central Bohemia",
  "south Bohemia",
  "west Bohemia",
  "north Bohemia",
  "east Bohemia",
  "south Moravia",
  "north Moravia",
];

/** `district`, `account`, `client`, `disp` and `loan`: the dimensions of `bank_scale`. */
function bankDimensionsSql(p: ScaleParams): string {
  const region = `CASE n % 8 ${REGIONS.map((r, i) => `WHEN ${i} THEN '${r}'`).join(" ")} END`;
  const clients = Math.round(p.accounts * 1.25);
  const loans = Math.round(p.accounts / 5);
  return `CREATE TABLE district (district_id INTEGER PRIMARY KEY, A2 TEXT NOT NULL, A3 TEXT NOT NULL, A4 INTEGER,
  A11 REAL, A12 REAL);
INSERT INTO district ${seq(500)}
SELECT n, 'District ' || n, ${region}, 2000 + ${h("n", 1, 300000)}, 8000 + ${h("n", 2, 500000)} / 100.0,
  CASE WHEN n % 17 = 0 THEN NULL ELSE ${h("n", 3, 1000)} / 100.0 END FROM s;
CREATE TABLE account (account_id INTEGER PRIMARY KEY, district_id INTEGER NOT NULL REFERENCES district,
  frequency TEXT NOT NULL, date TEXT NOT NULL);
INSERT INTO account ${seq(p.accounts)}
SELECT n, 1 + ${h("n", 4, 500)}, CASE ${h("n", 5, 10)} WHEN 0 THEN 'POPLATEK PO OBRATU' WHEN 1 THEN
  'POPLATEK TYDNE' ELSE 'POPLATEK MESICNE' END, date(${J1993} + ${h("n", 6, 2191)}) FROM s;
CREATE TABLE client (client_id INTEGER PRIMARY KEY, gender TEXT NOT NULL, birth_date TEXT NOT NULL,
  district_id INTEGER NOT NULL REFERENCES district);
INSERT INTO client ${seq(clients)}
SELECT n, CASE ${h("n", 7, 2)} WHEN 0 THEN 'F' ELSE 'M' END, date(2415020.5 + 7300 + ${h("n", 8, 20000)}),
  1 + ${h("n", 0, 500)} FROM s;
CREATE TABLE disp (disp_id INTEGER PRIMARY KEY, client_id INTEGER NOT NULL REFERENCES client,
  account_id INTEGER NOT NULL REFERENCES account, type TEXT NOT NULL);
INSERT INTO disp ${seq(clients)}
SELECT n, n, CASE WHEN n <= ${p.accounts} THEN n ELSE 1 + ${h("n", 1, p.accounts)} END,
  CASE WHEN n <= ${p.accounts} THEN 'OWNER' ELSE 'DISPONENT' END FROM s;
CREATE TABLE loan (loan_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES account,
  date TEXT NOT NULL, amount REAL NOT NULL, duration INTEGER NOT NULL, payments REAL NOT NULL, status TEXT NOT NULL);
INSERT INTO loan ${seq(loans)}
SELECT n, 1 + ${h("n", 2, p.accounts)}, date(${J1993} + 180 + ${h("n", 3, 2000)}),
  round(5000 + ${h("n", 4, 59000000)} / 100.0, 2), 12 * (1 + ${h("n", 5, 5)}),
  round((5000 + ${h("n", 4, 59000000)} / 100.0) / (12 * (1 + ${h("n", 5, 5)})), 2),
  substr('ABCD', 1 + ${h("n", 6, 4)}, 1) FROM s;`;
}

/** `trans`, the 5M-row fact table of `bank_scale`, then the indexes and `ANALYZE`. */
function transSql(p: ScaleParams): string {
  return `CREATE TABLE trans (trans_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES account,
  date TEXT NOT NULL, type TEXT NOT NULL, operation TEXT, amount REAL NOT NULL, balance REAL NOT NULL,
  k_symbol TEXT, bank TEXT, account INTEGER);
-- Ids grow with the date, as in a bank's ledger (and BIRD's \`trans\`): a date range is a run of rows.
INSERT INTO trans ${seq(p.transactions)}
SELECT n, 1 + ${h("n", 0, p.accounts)}, date(${J1993} + (n - 1) * 2191 / ${p.transactions}),
  CASE WHEN ${h("n", 2, 100)} < 55 THEN 'PRIJEM' WHEN ${h("n", 2, 100)} < 95 THEN 'VYDAJ' ELSE 'VYBER' END,
  CASE ${h("n", 3, 6)} WHEN 0 THEN NULL WHEN 1 THEN 'VKLAD' WHEN 2 THEN 'PREVOD Z UCTU' WHEN 3 THEN 'VYBER'
    WHEN 4 THEN 'PREVOD NA UCET' ELSE 'VYBER KARTOU' END,
  round(${h("n", 4, 1500000)} / 100.0 + 1, 2), round(${h("n", 5, 12000000)} / 100.0 - 5000, 2),
  CASE ${h("n", 6, 8)} WHEN 0 THEN 'POJISTNE' WHEN 1 THEN 'SLUZBY' WHEN 2 THEN 'UROK' WHEN 3 THEN 'SIPO'
    WHEN 4 THEN 'UVER' ELSE NULL END,
  CASE WHEN ${h("n", 7, 4)} = 0 THEN substr('ABCDEFGHIJKLMNOPQRSTUVWX', 1 + 2 * ${h("n", 8, 12)}, 2) END,
  CASE WHEN ${h("n", 7, 4)} = 0 THEN 10000000 + ${h("n", 0, 89999999)} END FROM s;
CREATE INDEX trans_account_date ON trans (account_id, date);
CREATE INDEX trans_date ON trans (date);
CREATE INDEX account_district ON account (district_id);
CREATE INDEX disp_account ON disp (account_id);
CREATE INDEX loan_account ON loan (account_id);
ANALYZE;`;
}

/** The SQL that builds `bank_scale` (BIRD `financial`-like). */
export function bankSql(p: ScaleParams): string {
  return `${PRAGMAS}\n${bankDimensionsSql(p)}\n${transSql(p)}`;
}

/** The locations of `users.Location`. */
const LOCATIONS = [
  "Berlin, Germany",
  "London, United Kingdom",
  "New York, NY",
  "Paris, France",
  "Bangalore, India",
  "San Francisco, CA",
  "Toronto, Canada",
  "Sydney, Australia",
];

/** The tags of the questions (`posts.Tags`). */
const TAGS = [
  "<r>",
  "<python>",
  "<regression>",
  "<machine-learning>",
  "<bayesian>",
  "<time-series>",
  "<r><regression>",
  "<python><pandas>",
  "<hypothesis-testing>",
  "<probability>",
];

/** `users`, with long `AboutMe` texts. */
function usersSql(p: ScaleParams): string {
  const location = `CASE ${h("n", 3, 12)} ${LOCATIONS.map((l, i) => `WHEN ${i} THEN '${l}'`).join(" ")} END`;
  return `CREATE TABLE users (Id INTEGER PRIMARY KEY, Reputation INTEGER NOT NULL, CreationDate TEXT NOT NULL,
  DisplayName TEXT NOT NULL, Location TEXT, AboutMe TEXT, Views INTEGER NOT NULL, UpVotes INTEGER NOT NULL,
  DownVotes INTEGER NOT NULL, Age INTEGER);
INSERT INTO users ${seq(p.users)}
SELECT n, 1 + ${h("n", 0, 1000)} * ${h("n", 1, 1000)} / 100, date(2455197.5 + ${h("n", 2, 1500)}),
  'user' || n, ${location},
  CASE WHEN n % 3 = 0 THEN NULL ELSE substr('${LOREM}', 1 + ${h("n", 5, 400)}, 40 + ${h("n", 6, 400)}) END,
  ${h("n", 7, 5000)}, ${h("n", 8, 800)}, ${h("n", 0, 60)}, CASE WHEN n % 4 = 0 THEN NULL ELSE 16 + ${
    h("n", 1, 60)
  } END
FROM s;`;
}

/** `posts`: questions and their answers, with long bodies. */
function postsSql(p: ScaleParams): string {
  const tag = `CASE ${h("n", 4, 10)} ${TAGS.map((t, i) => `WHEN ${i} THEN '${t}'`).join(" ")} END`;
  return `CREATE TABLE posts (Id INTEGER PRIMARY KEY, PostTypeId INTEGER NOT NULL, ParentId INTEGER,
  OwnerUserId INTEGER REFERENCES users, CreationDate TEXT NOT NULL, Score INTEGER NOT NULL, ViewCount INTEGER,
  Title TEXT, Body TEXT NOT NULL, Tags TEXT, AnswerCount INTEGER, CommentCount INTEGER NOT NULL);
INSERT INTO posts ${seq(p.posts)}
SELECT n, CASE WHEN n % 3 = 0 THEN 2 ELSE 1 END, CASE WHEN n % 3 = 0 THEN n - 1 - (n / 3) % 2 END,
  CASE WHEN n % 29 = 0 THEN NULL ELSE 1 + ${h("n", 2, p.users)} END, date(2455197.5 + ${h("n", 3, 1500)}),
  ${h("n", 4, 60)} - 5, CASE WHEN n % 3 = 0 THEN NULL ELSE ${h("n", 5, 20000)} END,
  CASE WHEN n % 3 = 0 THEN NULL ELSE 'How to ' || substr('${LOREM}', 1 + ${h("n", 6, 300)}, 30) || '?' END,
  substr('${LOREM}', 1 + ${h("n", 7, 500)}, 80 + ${
    h("n", 8, 500)
  }), CASE WHEN n % 3 = 0 THEN NULL ELSE ${tag} END,
  CASE WHEN n % 3 = 0 THEN NULL ELSE ${h("n", 0, 6)} END, ${h("n", 1, 12)} FROM s;`;
}

/** `comments` (two per post), then the indexes and `ANALYZE`. */
function commentsSql(p: ScaleParams): string {
  const comments = p.posts * 2;
  return `CREATE TABLE comments (Id INTEGER PRIMARY KEY, PostId INTEGER NOT NULL REFERENCES posts, Score INTEGER NOT NULL,
  Text TEXT NOT NULL, CreationDate TEXT NOT NULL, UserId INTEGER REFERENCES users);
INSERT INTO comments ${seq(comments)}
SELECT n, 1 + ${h("n", 2, p.posts)}, ${h("n", 3, 12)}, substr('${LOREM}', 1 + ${h("n", 4, 600)}, 20 + ${
    h("n", 5, 160)
  }), date(2455197.5 + ${h("n", 6, 1600)}), CASE WHEN n % 41 = 0 THEN NULL ELSE 1 + ${
    h("n", 7, p.users)
  } END FROM s;
CREATE INDEX posts_owner ON posts (OwnerUserId);
CREATE INDEX posts_date ON posts (CreationDate);
CREATE INDEX comments_post ON comments (PostId);
CREATE INDEX comments_user ON comments (UserId);
ANALYZE;`;
}

/** The SQL that builds `forum_scale` (BIRD `codebase_community`-like, with long texts). */
export function forumSql(p: ScaleParams): string {
  return `${PRAGMAS}\n${usersSql(p)}\n${postsSql(p)}\n${commentsSql(p)}`;
}
