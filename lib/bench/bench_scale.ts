/**
 * A BIRD-scale dataset generated on the spot: two databases in BIRD's layout (`bank_scale`, modelled on BIRD's
 * `financial`, with a fact table of 5M transactions; `forum_scale`, modelled on `codebase_community`, with long
 * texts), about 50 analytic questions over them (joins, GROUP BY, window functions, date filters, subqueries,
 * results up to 1M rows), and an official-format predictions file (gold rewritten so it stays correct, and
 * realistic wrong answers).
 *
 * Everything is pure SQL inside SQLite (`WITH RECURSIVE` and integer hash expressions of the row number), so the
 * build is deterministic and needs nothing but the engine Deno ships. It lands in
 * `<cacheRoot()>/scale/<hash>/` where the hash covers the generator version and its parameters, and is reused
 * by every later call with the same parameters; a half-built folder is never taken for a finished one (a
 * `done.json` marker is written last).
 *
 * @module
 */
import { join } from "node:path";
import { cacheRoot, exists, writeJsonAtomic, writeTextAtomic } from "../util/mod.ts";
import { sha256Hex } from "../util/mod.ts";
import { BIRD_SEPARATOR } from "../data/mod.ts";

/** Bump when the generated data, questions or predictions change: the cache key includes it. */
const GENERATOR_VERSION = 1;

/** Sizes of the generated tables. */
export interface ScaleParams {
  /** Rows of `bank_scale.trans`, the fact table (default 5,000,000). */
  transactions: number;
  /** Rows of `bank_scale.account` (default 200,000). */
  accounts: number;
  /** Rows of `forum_scale.posts` (default 300,000). */
  posts: number;
  /** Rows of `forum_scale.users` (default 100,000). */
  users: number;
}

/** The full BIRD-scale sizes (≥ 200 MB, a 5M-row fact table). */
export const FULL_SCALE: ScaleParams = {
  transactions: 5_000_000,
  accounts: 200_000,
  posts: 300_000,
  users: 100_000,
};

/** Options of {@linkcode ensureScaleDatabase}. */
export interface ScaleOptions {
  /** Table sizes; missing ones take {@linkcode FULL_SCALE}'s. */
  params?: Partial<ScaleParams>;
  /** Parent of the `<hash>/` folders (default `<cacheRoot()>/scale`). */
  cacheDir?: string;
  /** Called with a line per step of a fresh build. */
  onStep?: (line: string) => void;
}

/** Where a built dataset lies. */
export interface ScaleDataset {
  /** The folder of this build (`<cacheDir>/<hash>`). */
  dir: string;
  /** `dev.json`: the questions, BIRD layout. */
  dataset: string;
  /** `predict_dev.json`: official-format predictions for every question. */
  predictions: string;
  /** `dev_databases/`: `<db_id>/<db_id>.sqlite` below it. */
  dbRoot: string;
  /** The questions as written (with their tags), in dataset order. */
  questions: ScaleQuestion[];
  /** The parameters it was built with. */
  params: ScaleParams;
  /** True when this call built it, false when a previous build was reused. */
  built: boolean;
  /** Seconds the build took (0 when reused). */
  buildSeconds: number;
}

/** A generated question: the dataset entry plus what its prediction is and what the tests need to know. */
export interface ScaleQuestion {
  db_id: "bank_scale" | "forum_scale";
  question: string;
  evidence: string;
  SQL: string;
  difficulty: "simple" | "moderate" | "challenging";
  /** The SQL written into the predictions file for this question. */
  prediction: string;
  /** `correct`: the gold rewritten (same result set); `wrong`: a realistic mistake; `error`: fails to run. */
  kind: "correct" | "wrong" | "error";
  /** Free tags: `large` (100K–1M rows), `fact` (scans or joins the 5M-row table), `window`, … */
  tags: string[];
}

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

/** The SQL that builds `bank_scale` (BIRD `financial`-like). */
export function bankSql(p: ScaleParams): string {
  const regions = [
    "Prague",
    "central Bohemia",
    "south Bohemia",
    "west Bohemia",
    "north Bohemia",
    "east Bohemia",
    "south Moravia",
    "north Moravia",
  ];
  const region = `CASE n % 8 ${regions.map((r, i) => `WHEN ${i} THEN '${r}'`).join(" ")} END`;
  const clients = Math.round(p.accounts * 1.25);
  const loans = Math.round(p.accounts / 5);
  return `${PRAGMAS}
CREATE TABLE district (district_id INTEGER PRIMARY KEY, A2 TEXT NOT NULL, A3 TEXT NOT NULL, A4 INTEGER,
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
  substr('ABCD', 1 + ${h("n", 6, 4)}, 1) FROM s;
CREATE TABLE trans (trans_id INTEGER PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES account,
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

/** The SQL that builds `forum_scale` (BIRD `codebase_community`-like, with long texts). */
export function forumSql(p: ScaleParams): string {
  const locations = [
    "Berlin, Germany",
    "London, United Kingdom",
    "New York, NY",
    "Paris, France",
    "Bangalore, India",
    "San Francisco, CA",
    "Toronto, Canada",
    "Sydney, Australia",
  ];
  const location = `CASE ${h("n", 3, 12)} ${locations.map((l, i) => `WHEN ${i} THEN '${l}'`).join(" ")} END`;
  const tags = [
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
  const tag = `CASE ${h("n", 4, 10)} ${tags.map((t, i) => `WHEN ${i} THEN '${t}'`).join(" ")} END`;
  const comments = p.posts * 2;
  return `${PRAGMAS}
CREATE TABLE users (Id INTEGER PRIMARY KEY, Reputation INTEGER NOT NULL, CreationDate TEXT NOT NULL,
  DisplayName TEXT NOT NULL, Location TEXT, AboutMe TEXT, Views INTEGER NOT NULL, UpVotes INTEGER NOT NULL,
  DownVotes INTEGER NOT NULL, Age INTEGER);
INSERT INTO users ${seq(p.users)}
SELECT n, 1 + ${h("n", 0, 1000)} * ${h("n", 1, 1000)} / 100, date(2455197.5 + ${h("n", 2, 1500)}),
  'user' || n, ${location},
  CASE WHEN n % 3 = 0 THEN NULL ELSE substr('${LOREM}', 1 + ${h("n", 5, 400)}, 40 + ${h("n", 6, 400)}) END,
  ${h("n", 7, 5000)}, ${h("n", 8, 800)}, ${h("n", 0, 60)}, CASE WHEN n % 4 = 0 THEN NULL ELSE 16 + ${
    h("n", 1, 60)
  } END
FROM s;
CREATE TABLE posts (Id INTEGER PRIMARY KEY, PostTypeId INTEGER NOT NULL, ParentId INTEGER,
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
  CASE WHEN n % 3 = 0 THEN NULL ELSE ${h("n", 0, 6)} END, ${h("n", 1, 12)} FROM s;
CREATE TABLE comments (Id INTEGER PRIMARY KEY, PostId INTEGER NOT NULL REFERENCES posts, Score INTEGER NOT NULL,
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

/** A question as written here; `alt` (a correct rewrite), `wrong` or `error` says what its prediction is. */
interface Spec {
  q: string;
  ev?: string;
  sql: string;
  d: "simple" | "moderate" | "challenging";
  tags?: string[];
  alt?: string;
  wrong?: string;
  error?: string;
}

// Results noted as ~N rows are for FULL_SCALE; smaller builds shrink them.
const BANK: Spec[] = [
  {
    q: "How many transactions were made in 1996?",
    sql: "SELECT COUNT(*) FROM trans WHERE date LIKE '1996-%'",
    d: "simple",
    tags: ["fact"],
    alt: "SELECT COUNT(trans_id) FROM trans WHERE strftime('%Y', date) = '1996'",
  },
  {
    q: "List the id, date and amount of every transaction of more than 11,990.",
    ev: "amount > 11990",
    sql: "SELECT trans_id, date, amount FROM trans WHERE amount > 11990",
    d: "simple",
    tags: ["fact", "large", "1m"], // ~1.0M rows
  },
  {
    q: "List the id, account and amount of all credit transactions (PRIJEM) made in 1996.",
    sql:
      "SELECT trans_id, account_id, amount FROM trans WHERE type = 'PRIJEM' AND date BETWEEN '1996-01-01' " +
      "AND '1996-12-31'",
    d: "simple",
    tags: ["fact", "large"], // ~0.46M rows
    wrong:
      "SELECT trans_id, account_id, amount FROM trans WHERE type = 'PRIJEM' AND date BETWEEN '1996-01-01' " +
      "AND '1996-12-30'",
  },
  {
    q: "For every transaction of the first half of 1997, give its id and its rank by amount within its account.",
    sql: "SELECT trans_id, RANK() OVER (PARTITION BY account_id ORDER BY amount DESC) AS r FROM trans " +
      "WHERE date >= '1997-01-01' AND date < '1997-07-01'",
    d: "challenging",
    tags: ["fact", "large", "window"], // ~0.41M rows
    wrong: "SELECT trans_id, ROW_NUMBER() OVER (ORDER BY amount DESC) AS r FROM trans " +
      "WHERE date >= '1997-01-01' AND date < '1997-07-01'",
  },
  {
    q: "For each account, how many transactions did it make in 1998 and what is their total amount?",
    sql: "SELECT account_id, COUNT(*), SUM(amount) FROM trans WHERE date >= '1998-01-01' GROUP BY account_id",
    d: "moderate",
    tags: ["fact", "large"], // ~200K rows
  },
  {
    q: "List the accounts of the Prague region with the number of transactions each made in 1998.",
    ev: "Prague region refers to A3 = 'Prague'",
    sql: "SELECT T1.account_id, COUNT(T3.trans_id) FROM account AS T1 INNER JOIN district AS T2 ON " +
      "T1.district_id = T2.district_id INNER JOIN trans AS T3 ON T3.account_id = T1.account_id WHERE T2.A3 = " +
      "'Prague' AND T3.date LIKE '1998%' GROUP BY T1.account_id",
    d: "moderate",
    tags: ["fact"],
    wrong: "SELECT T1.account_id, COUNT(T3.trans_id) FROM account AS T1 INNER JOIN district AS T2 ON " +
      "T1.district_id = T2.district_id INNER JOIN trans AS T3 ON T3.account_id = T1.account_id WHERE T2.A3 = " +
      "'Prague' GROUP BY T1.account_id",
  },
  {
    q: "Which accounts withdrew (VYDAJ) more in December 1998 than the average account did that month?",
    sql:
      "SELECT account_id FROM trans WHERE type = 'VYDAJ' AND date >= '1998-12-01' GROUP BY account_id HAVING " +
      "SUM(amount) > (SELECT AVG(s) FROM (SELECT SUM(amount) AS s FROM trans WHERE type = 'VYDAJ' AND date >= " +
      "'1998-12-01' GROUP BY account_id))",
    d: "challenging",
    tags: ["fact", "subquery"],
  },
  {
    q: "What is the monthly number of transactions in 1994?",
    sql: "SELECT strftime('%m', date) AS month, COUNT(*) FROM trans WHERE date BETWEEN '1994-01-01' AND " +
      "'1994-12-31' GROUP BY month",
    d: "moderate",
    tags: ["fact"],
    alt:
      "SELECT substr(date, 6, 2), COUNT(trans_id) FROM trans WHERE date LIKE '1994-%' GROUP BY substr(date, 6, 2)",
  },
  {
    q: "Which district has the highest average salary? Give its name and region.",
    sql: "SELECT A2, A3 FROM district ORDER BY A11 DESC LIMIT 1",
    d: "simple",
    alt: "SELECT A2, A3 FROM district WHERE A11 = (SELECT MAX(A11) FROM district)",
  },
  {
    q: "How many male and how many female clients were born before 1950?",
    sql: "SELECT gender, COUNT(*) FROM client WHERE birth_date < '1950-01-01' GROUP BY gender",
    d: "simple",
    wrong: "SELECT gender, COUNT(*) FROM client WHERE birth_date <= '1950-12-31' GROUP BY gender",
  },
  {
    q: "What percentage of the clients of each region are women?",
    sql: "SELECT T2.A3, CAST(SUM(T1.gender = 'F') AS REAL) * 100 / COUNT(*) FROM client AS T1 INNER JOIN " +
      "district AS T2 ON T1.district_id = T2.district_id GROUP BY T2.A3",
    d: "moderate",
  },
  {
    q: "Which 10 transactions left the highest balance? Give the account and the balance.",
    sql: "SELECT account_id, balance FROM trans ORDER BY balance DESC LIMIT 10",
    d: "simple",
    tags: ["fact"],
  },
  {
    q: "How many accounts have never had a loan?",
    sql: "SELECT COUNT(*) FROM account WHERE account_id NOT IN (SELECT account_id FROM loan)",
    d: "simple",
    alt: "SELECT COUNT(*) FROM account AS a WHERE NOT EXISTS (SELECT 1 FROM loan AS l WHERE l.account_id = " +
      "a.account_id)",
  },
  {
    q: "List the ids, accounts and amounts of the transactions of 1994 whose operation is unknown.",
    ev: "unknown operation refers to operation IS NULL",
    sql: "SELECT trans_id, account_id, amount FROM trans WHERE operation IS NULL AND date LIKE '1994%'",
    d: "simple",
    tags: ["fact", "large"], // ~140K rows
    wrong: "SELECT trans_id, account_id, amount FROM trans WHERE operation = 'NULL' AND date LIKE '1994%'",
  },
  {
    q: "How many transactions of 1997 are there per characterisation (k_symbol), unknown ones included?",
    sql:
      "SELECT k_symbol, COUNT(*) FROM trans WHERE date BETWEEN '1997-01-01' AND '1997-12-31' GROUP BY k_symbol",
    d: "simple",
    tags: ["fact"],
    wrong:
      "SELECT k_symbol, COUNT(k_symbol) FROM trans WHERE date BETWEEN '1997-01-01' AND '1997-12-31' GROUP " +
      "BY k_symbol",
  },
  {
    q: "What is the average amount of each type of transaction per month of 1995?",
    sql:
      "SELECT strftime('%m', date) AS m, type, AVG(amount) FROM trans WHERE date BETWEEN '1995-01-01' AND " +
      "'1995-12-31' GROUP BY m, type",
    d: "moderate",
    tags: ["fact"],
  },
  {
    q: "For account 4242, list each transaction's date and the days since its previous transaction.",
    sql: "SELECT date, julianday(date) - julianday(LAG(date) OVER (ORDER BY date, trans_id)) FROM trans " +
      "WHERE account_id = 4242",
    d: "challenging",
    tags: ["window"],
  },
  {
    q: "Which accounts made a cash withdrawal (VYBER) in the second half of 1998?",
    sql: "SELECT DISTINCT account_id FROM trans WHERE type = 'VYBER' AND date >= '1998-07-01'",
    d: "simple",
    tags: ["fact"],
    alt: "SELECT account_id FROM trans WHERE date >= '1998-07-01' AND type = 'VYBER' GROUP BY account_id",
  },
  {
    q: "List the loans above 550,000 with the region of their account's district.",
    sql: "SELECT T1.loan_id, T1.amount, T3.A3 FROM loan AS T1 INNER JOIN account AS T2 ON T1.account_id = " +
      "T2.account_id INNER JOIN district AS T3 ON T2.district_id = T3.district_id WHERE T1.amount > 550000",
    d: "moderate",
  },
  {
    q: "In each region, which account received the largest total of credits in December 1997?",
    sql:
      "SELECT A3, account_id FROM (SELECT T3.A3, T1.account_id, RANK() OVER (PARTITION BY T3.A3 ORDER BY " +
      "SUM(T1.amount) DESC) AS r FROM trans AS T1 INNER JOIN account AS T2 ON T1.account_id = T2.account_id " +
      "INNER JOIN district AS T3 ON T2.district_id = T3.district_id WHERE T1.type = 'PRIJEM' AND T1.date " +
      "BETWEEN '1997-12-01' AND '1997-12-31' GROUP BY T3.A3, T1.account_id) WHERE r = 1",
    d: "challenging",
    tags: ["fact", "window"],
  },
  {
    q: "Which owners have a weekly-statement account opened in 1993? Give the client ids.",
    ev: "weekly statement refers to frequency = 'POPLATEK TYDNE'",
    sql:
      "SELECT T1.client_id FROM disp AS T1 INNER JOIN account AS T2 ON T1.account_id = T2.account_id WHERE " +
      "T1.type = 'OWNER' AND T2.frequency = 'POPLATEK TYDNE' AND T2.date LIKE '1993%'",
    d: "moderate",
    wrong:
      "SELECT T1.client_id FROM disp AS T1 INNER JOIN account AS T2 ON T1.account_id = T2.account_id WHERE " +
      "T2.frequency = 'POPLATEK TYDNE' AND T2.date LIKE '1993%'",
  },
  {
    q: "List every account with the name and region of its district.",
    sql:
      "SELECT T1.account_id, T2.A2, T2.A3 FROM account AS T1 INNER JOIN district AS T2 ON T1.district_id = " +
      "T2.district_id",
    d: "simple",
    tags: ["large"], // 200K rows
  },
  {
    q: "List every client with their birth date and the name of their district.",
    sql: "SELECT T1.client_id, T1.birth_date, T2.A2 FROM client AS T1 INNER JOIN district AS T2 ON " +
      "T1.district_id = T2.district_id",
    d: "simple",
    tags: ["large"], // 250K rows
    wrong: "SELECT T1.client_id, T1.birth_date, T2.A3 FROM client AS T1 INNER JOIN district AS T2 ON " +
      "T1.district_id = T2.district_id",
  },
  {
    q: "On how many days were there more than 2,350 transactions?",
    sql: "SELECT COUNT(*) FROM (SELECT date FROM trans GROUP BY date HAVING COUNT(*) > 2350)",
    d: "moderate",
    tags: ["fact"],
  },
  {
    q: "What is the total of the monthly payments of the running loans (status C or D)?",
    sql: "SELECT SUM(payments) FROM loan WHERE status IN ('C', 'D')",
    d: "simple",
    wrong: "SELECT SUM(payments) FROM loan WHERE status = 'C'",
  },
  {
    q: "List the credit transactions that left a balance above 100,000: id, date and balance.",
    sql: "SELECT trans_id, date, balance FROM trans WHERE type = 'PRIJEM' AND balance > 100000",
    d: "simple",
    tags: ["fact", "large"], // ~0.34M rows
  },
  {
    q: "What is the average salary of the districts of each region, rounded to two decimals?",
    sql: "SELECT A3, ROUND(AVG(A11), 2) FROM district GROUP BY A3",
    d: "simple",
    alt: "SELECT A3, round(avg(A11), 2) FROM district GROUP BY 1",
  },
  {
    q: "How did the number of transactions change from each month of 1993 to the next?",
    sql:
      "WITH m AS (SELECT substr(date, 1, 7) AS ym, COUNT(*) AS c FROM trans WHERE date < '1994-01-01' GROUP " +
      "BY ym) SELECT ym, c - LAG(c) OVER (ORDER BY ym) FROM m",
    d: "challenging",
    tags: ["fact", "window"],
  },
  {
    q: "Which districts have no unemployment rate recorded?",
    sql: "SELECT district_id, A2 FROM district WHERE A12 IS NULL",
    d: "simple",
    wrong: "SELECT district_id, A2 FROM district WHERE A12 = NULL",
  },
  {
    q: "For the accounts of district 77, list each transaction of 1996 with the account's running total.",
    sql:
      "SELECT T1.trans_id, SUM(T1.amount) OVER (PARTITION BY T1.account_id ORDER BY T1.date, T1.trans_id) " +
      "FROM trans AS T1 INNER JOIN account AS T2 ON T1.account_id = T2.account_id WHERE T2.district_id = 77 " +
      "AND T1.date LIKE '1996%'",
    d: "challenging",
    tags: ["fact", "window"],
  },
  {
    q: "How many loans does each duration have, and what is their average amount?",
    sql: "SELECT duration, COUNT(*), AVG(amount) FROM loan GROUP BY duration",
    d: "simple",
    error: "SELECT duration, COUNT(*), AVG(amount) FROM loans GROUP BY duration",
  },
  {
    q: "List the id and amount of the transactions to another bank (bank is given) in December 1998.",
    sql:
      "SELECT trans_id, amount FROM trans WHERE bank IS NOT NULL AND date BETWEEN '1998-12-01' AND '1998-12-31'",
    d: "simple",
    tags: ["fact"],
  },
];

const FORUM: Spec[] = [
  {
    q: "How many posts were written by users from Berlin, Germany?",
    sql: "SELECT COUNT(T1.Id) FROM posts AS T1 INNER JOIN users AS T2 ON T1.OwnerUserId = T2.Id WHERE " +
      "T2.Location = 'Berlin, Germany'",
    d: "simple",
  },
  {
    q: "Who are the 10 users with the highest reputation? Give their display names.",
    sql: "SELECT DisplayName FROM users ORDER BY Reputation DESC, Id LIMIT 10",
    d: "simple",
  },
  {
    q: "How many users have no location?",
    sql: "SELECT COUNT(*) FROM users WHERE Location IS NULL",
    d: "simple",
    wrong: "SELECT COUNT(Location) FROM users WHERE Location IS NULL",
  },
  {
    q: "What is the average score of the questions of each tag?",
    sql: "SELECT Tags, AVG(Score) FROM posts WHERE PostTypeId = 1 GROUP BY Tags",
    d: "simple",
  },
  {
    q: "List the titles and view counts of the questions viewed more than 5,000 times.",
    sql: "SELECT Title, ViewCount FROM posts WHERE PostTypeId = 1 AND ViewCount > 5000",
    d: "simple",
    tags: ["large"], // ~150K rows
  },
  {
    q: "Give the body of every answer posted in 2011.",
    sql: "SELECT Body FROM posts WHERE PostTypeId = 2 AND CreationDate LIKE '2011%'",
    d: "simple",
    tags: ["long-text"],
    wrong: "SELECT Body FROM posts WHERE CreationDate LIKE '2011%'",
  },
  {
    q: "How many comments has each post of user 1234 received?",
    sql: "SELECT T1.Id, COUNT(T2.Id) FROM posts AS T1 LEFT JOIN comments AS T2 ON T2.PostId = T1.Id WHERE " +
      "T1.OwnerUserId = 1234 GROUP BY T1.Id",
    d: "moderate",
    wrong:
      "SELECT T1.Id, COUNT(T2.Id) FROM posts AS T1 LEFT JOIN comments AS T2 ON T2.PostId = T1.Id WHERE " +
      "T1.OwnerUserId = 1243 GROUP BY T1.Id",
  },
  {
    q: "How many users have never posted?",
    sql:
      "SELECT COUNT(*) FROM users AS u WHERE NOT EXISTS (SELECT 1 FROM posts AS p WHERE p.OwnerUserId = u.Id)",
    d: "moderate",
    alt:
      "SELECT COUNT(*) FROM users WHERE Id NOT IN (SELECT OwnerUserId FROM posts WHERE OwnerUserId IS NOT NULL)",
  },
  {
    q: "What is the average body length of questions and of answers?",
    sql: "SELECT PostTypeId, AVG(LENGTH(Body)) FROM posts GROUP BY PostTypeId",
    d: "simple",
  },
  {
    q: "Rank every user by reputation within their location.",
    sql: "SELECT Id, DENSE_RANK() OVER (PARTITION BY Location ORDER BY Reputation DESC) FROM users",
    d: "challenging",
    tags: ["large", "window"], // 100K rows
  },
  {
    q: "Which posts have more comments than the average post? Give their ids.",
    sql: "SELECT Id FROM posts WHERE CommentCount > (SELECT AVG(CommentCount) FROM posts)",
    d: "moderate",
    tags: ["large", "subquery"], // ~150K rows
    error: "SELECT Id FROM posts WHERE CommentCount > AVG(CommentCount)",
  },
  {
    q: "For each user, which of their posts has the highest score? Give the user and post ids.",
    sql: "SELECT OwnerUserId, Id FROM (SELECT OwnerUserId, Id, ROW_NUMBER() OVER (PARTITION BY OwnerUserId " +
      "ORDER BY Score DESC, Id) AS r FROM posts WHERE OwnerUserId IS NOT NULL) WHERE r = 1",
    d: "challenging",
    tags: ["window"],
  },
  {
    q: "How many posts were created in each month of 2012?",
    sql:
      "SELECT strftime('%m', CreationDate), COUNT(*) FROM posts WHERE CreationDate BETWEEN '2012-01-01' AND " +
      "'2012-12-31' GROUP BY 1",
    d: "moderate",
  },
  {
    q: "List the ids and scores of the answers to questions tagged <r>.",
    sql:
      "SELECT T2.Id, T2.Score FROM posts AS T1 INNER JOIN posts AS T2 ON T2.ParentId = T1.Id WHERE T1.Tags = " +
      "'<r>'",
    d: "moderate",
    wrong:
      "SELECT T2.Id, T2.Score FROM posts AS T1 INNER JOIN posts AS T2 ON T2.ParentId = T1.Id WHERE T1.Tags " +
      "LIKE '%<r>%'",
  },
  {
    q: "Which users older than 60 have more than 500 up votes? Give their names and ages.",
    sql: "SELECT DisplayName, Age FROM users WHERE Age > 60 AND UpVotes > 500",
    d: "simple",
  },
  {
    q: "How many users mention 'laborum' in their about-me text?",
    sql: "SELECT COUNT(*) FROM users WHERE AboutMe LIKE '%laborum%'",
    d: "simple",
    alt: "SELECT COUNT(Id) FROM users WHERE instr(AboutMe, 'laborum') > 0",
  },
  {
    q: "What do the comments on the highest-scored post say?",
    sql: "SELECT Text FROM comments WHERE PostId = (SELECT Id FROM posts ORDER BY Score DESC, Id LIMIT 1)",
    d: "moderate",
  },
  {
    q: "List the comments of 2013 with the display name of their author.",
    sql:
      "SELECT T1.Text, T2.DisplayName FROM comments AS T1 INNER JOIN users AS T2 ON T1.UserId = T2.Id WHERE " +
      "T1.CreationDate LIKE '2013%'",
    d: "moderate",
    tags: ["large", "long-text"], // ~130K rows
  },
];

/** The questions of a build, in dataset order, with the SQL of their predictions. */
export function scaleQuestions(): ScaleQuestion[] {
  const make = (db_id: ScaleQuestion["db_id"]) => (s: Spec): ScaleQuestion => {
    const [kind, prediction] = s.error !== undefined
      ? ["error", s.error] as const
      : s.wrong !== undefined
      ? ["wrong", s.wrong] as const
      // A gold rewritten by hand, else wrapped: the same result set through another statement text.
      : ["correct", s.alt ?? `SELECT * FROM (\n${s.sql}\n) AS wrapped`] as const;
    return {
      db_id,
      question: s.q,
      evidence: s.ev ?? "",
      SQL: s.sql,
      difficulty: s.d,
      prediction,
      kind,
      tags: s.tags ?? [],
    };
  };
  return [...BANK.map(make("bank_scale")), ...FORUM.map(make("forum_scale"))];
}

/**
 * The cache key of the databases: generator version, parameters and the SQL that builds them. The questions are
 * not part of it: they are rewritten beside the databases whenever their text changes, at no rebuild.
 */
export function scaleHash(params: ScaleParams): string {
  return sha256Hex(JSON.stringify({
    v: GENERATOR_VERSION,
    params,
    bank: bankSql(params),
    forum: forumSql(params),
  })).slice(0, 16);
}

/** Write `dev.json` and `predict_dev.json` of `questions` into `dir`, unless they already hold exactly that. */
async function writeQuestions(dir: string, questions: ScaleQuestion[]): Promise<void> {
  const dataset = JSON.stringify(
    questions.map((q, i) => ({
      question_id: i,
      db_id: q.db_id,
      question: q.question,
      evidence: q.evidence,
      SQL: q.SQL,
      difficulty: q.difficulty,
    })),
    null,
    2,
  ) + "\n";
  const predictions = JSON.stringify(
    Object.fromEntries(questions.map((q, i) => [String(i), `${q.prediction}${BIRD_SEPARATOR}${q.db_id}`])),
    null,
    2,
  ) + "\n";
  for (const [name, text] of [["dev.json", dataset], ["predict_dev.json", predictions]]) {
    const path = join(dir, name);
    let old: string | null = null;
    try {
      old = await Deno.readTextFile(path);
    } catch { /* absent: written below */ }
    if (old !== text) await writeTextAtomic(path, text);
  }
}

/** Run one database's SQL in a worker thread, so the two databases build in parallel. */
function buildInWorker(sql: string, path: string): Promise<void> {
  const source = `import { DatabaseSync } from "node:sqlite";
self.onmessage = (e) => {
  try {
    const db = new DatabaseSync(e.data.path);
    db.exec(e.data.sql);
    db.close();
    self.postMessage({ ok: true });
  } catch (err) {
    self.postMessage({ ok: false, message: String(err?.message ?? err) });
  }
};`;
  const url = `data:application/javascript,${encodeURIComponent(source)}`;
  const worker = new Worker(url, { type: "module" });
  return new Promise<void>((resolve, reject) => {
    worker.onmessage = (e: MessageEvent<{ ok: boolean; message?: string }>) => {
      worker.terminate();
      if (e.data.ok) resolve();
      else reject(new Error(`${path}: ${e.data.message}`));
    };
    worker.onerror = (e) => {
      e.preventDefault();
      worker.terminate();
      reject(new Error(`${path}: ${e.message}`));
    };
    worker.postMessage({ sql, path });
  });
}

/**
 * The BIRD-scale dataset for `params` (default {@linkcode FULL_SCALE}): reused from the cache when a finished build
 * with the same hash exists, else built and then reused (full scale: 0.8 GB, ~53 s of CPU for `bank_scale`
 * and ~8 s for `forum_scale`, built in parallel threads; 150 s wall on a shared, loaded 2-core box).
 */
export async function ensureScaleDatabase(options: ScaleOptions = {}): Promise<ScaleDataset> {
  const params: ScaleParams = { ...FULL_SCALE, ...options.params };
  const root = options.cacheDir ?? join(cacheRoot(), "scale");
  const dir = join(root, scaleHash(params));
  const questions = scaleQuestions();
  const paths = {
    dir,
    dataset: join(dir, "dev.json"),
    predictions: join(dir, "predict_dev.json"),
    dbRoot: join(dir, "dev_databases"),
  };
  if (await exists(join(dir, "done.json"))) {
    await writeQuestions(dir, questions);
    return { ...paths, questions, params, built: false, buildSeconds: 0 };
  }
  const started = performance.now();
  // Built beside its final place and renamed when whole: a killed build leaves only a `.partial` folder.
  const partial = `${dir}.${crypto.randomUUID().slice(0, 8)}.partial`;
  try {
    for (const db of ["bank_scale", "forum_scale"]) {
      await Deno.mkdir(join(partial, "dev_databases", db), { recursive: true });
    }
    options.onStep?.(`building ${dir} (${JSON.stringify(params)})`);
    await Promise.all([
      buildInWorker(bankSql(params), join(partial, "dev_databases", "bank_scale", "bank_scale.sqlite")),
      buildInWorker(forumSql(params), join(partial, "dev_databases", "forum_scale", "forum_scale.sqlite")),
    ]);
    const buildSeconds = (performance.now() - started) / 1000;
    await writeJsonAtomic(join(partial, "done.json"), { version: GENERATOR_VERSION, params, buildSeconds });
    try {
      await Deno.rename(partial, dir);
    } catch (e) {
      // Another process finished the same build first: theirs is as good as ours.
      if (!(await exists(join(dir, "done.json")))) throw e;
      await Deno.remove(partial, { recursive: true });
    }
    await writeQuestions(dir, questions);
    return { ...paths, questions, params, built: true, buildSeconds };
  } catch (e) {
    await Deno.remove(partial, { recursive: true }).catch(() => {});
    throw e;
  }
}
