/**
 * A database the audit tests build, with planted defects of every kind and clean look-alikes: each question
 * names the flag kinds it must get (`want`), and every other kind it must not get. Shared by the detector test
 * and the README's precision/recall figures (`deno test -A tests/audit/detectors_test.ts` prints them).
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";

/** One planted question: the kinds it must be flagged with (empty: a clean look-alike). */
export interface Planted {
  question: string;
  evidence?: string;
  sql: string;
  want: string[];
  /** What it plants or imitates. */
  note: string;
}

/** The test database: people with a tie at the top height, placeholders, a REAL a hair below a halfway point. */
export function buildPlantedDb(root: string): string {
  const dir = join(root, "shop");
  Deno.mkdirSync(dir, { recursive: true });
  const path = join(dir, "shop.sqlite");
  const db = new DatabaseSync(path);
  db.exec(`
    CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT, gender TEXT, city TEXT, height INTEGER, score REAL);
    INSERT INTO person VALUES
      (1, 'Ana', 'Female', 'Paris', 190, 9.5),
      (2, 'Bo', 'Male', 'Lyon', 190, 7.0),
      (3, 'Cy', 'Male', NULL, 180, 6.0),
      (4, 'Di', 'Female', '-', 170, 8.0),
      (5, 'Ed', 'Male', 'Paris', 160, 5.0),
      (6, 'Fay', 'Female', 'Nice', 150, 4.0);
    CREATE TABLE item (id INTEGER PRIMARY KEY, label TEXT, price REAL, weight REAL);
    INSERT INTO item VALUES (1, 'pen', 1.005, 1.25), (2, 'cup', 2.5, 2.0), (3, 'mug', 3.0, 3.0);
    CREATE TABLE team (id INTEGER PRIMARY KEY, person_id INTEGER, role TEXT);
    INSERT INTO team VALUES (1, 1, 'lead'), (2, 2, 'lead'), (3, 3, 'dev');
  `);
  db.close();
  return path;
}

/** The planted questions, in dataset order. */
export const PLANTED: Planted[] = [
  { note: "error: unknown column", question: "List names.", sql: "SELECT nope FROM person", want: ["error"] },
  { note: "clean: the same, valid", question: "List all names.", sql: "SELECT name FROM person", want: [] },
  {
    note: "timeout: a runaway recursion",
    question: "Count forever.",
    sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c",
    want: ["timeout"],
  },
  {
    note: "slow: 1M recursion steps (~0.6 s), far under the 4 s limit and past a 50 ms threshold",
    question: "Count to a million.",
    sql:
      "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT max(x) FROM c",
    want: ["slow"],
  },
  {
    note: "clean: a small recursion",
    question: "Count to ten.",
    sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 10) SELECT max(x) FROM c",
    want: [],
  },
  {
    note: "empty",
    question: "Who is taller than 2 m?",
    sql: "SELECT name FROM person WHERE height > 200",
    want: ["empty"],
  },
  {
    note: "clean: a count of nothing is an answer",
    question: "How many people are taller than 2 m?",
    sql: "SELECT COUNT(*) FROM person WHERE height > 200",
    want: [],
  },
  {
    note: "all_null: NULL and the '-' placeholder",
    question: "Where do Cy and Di live?",
    sql: "SELECT city FROM person WHERE id IN (3, 4)",
    want: ["all_null"],
  },
  {
    note: "clean: one real value beside a NULL",
    question: "Where do Ana and Cy live?",
    sql: "SELECT city FROM person WHERE id IN (1, 3)",
    want: [],
  },
  {
    note: "tie: two people at the top height",
    question: "Who is the tallest?",
    sql: "SELECT name FROM person ORDER BY height DESC LIMIT 1",
    want: ["tie"],
  },
  {
    note: "tie: by a select-list alias",
    question: "Who is the tallest person, with the height?",
    sql: "SELECT name, height AS h FROM person ORDER BY h DESC LIMIT 1",
    want: ["tie"],
  },
  {
    note: "tie: in a subquery that changes the answer",
    question: "Which city does the tallest person live in?",
    sql: "SELECT city FROM person WHERE id = (SELECT id FROM person ORDER BY height DESC LIMIT 1)",
    want: ["tie"],
  },
  {
    note: "clean: a unique top score",
    question: "Who has the best score?",
    sql: "SELECT name FROM person ORDER BY score DESC LIMIT 1",
    want: [],
  },
  {
    note: "clean: tied rows that read the same (both leads)",
    question: "What is the role of the tallest team member?",
    sql:
      "SELECT T2.role FROM person AS T1 JOIN team AS T2 ON T1.id = T2.person_id ORDER BY T1.height DESC LIMIT 1",
    want: [],
  },
  {
    note: "clean: the tie broken by a second key",
    question: "Who is the tallest, by name?",
    sql: "SELECT name FROM person ORDER BY height DESC, name LIMIT 1",
    want: [],
  },
  {
    note: "clean: LIMIT 2 takes the whole tied group",
    question: "Who are the two tallest?",
    sql: "SELECT name FROM person ORDER BY height DESC LIMIT 2",
    want: [],
  },
  {
    note: "unordered_limit: one of three men",
    question: "Name a man.",
    sql: "SELECT name FROM person WHERE gender = 'Male' LIMIT 1",
    want: ["unordered_limit"],
  },
  {
    note: "clean: LIMIT without ORDER BY on one row",
    question: "What is the name of person 1?",
    sql: "SELECT name FROM person WHERE id = 1 LIMIT 1",
    want: [],
  },
  {
    note: "literal_not_in_data (error: 'Male' is there) and the empty result it causes",
    question: "List the men.",
    sql: "SELECT name FROM person WHERE gender = 'male'",
    want: ["literal_not_in_data", "empty"],
  },
  {
    note: "literal_not_in_data in an IN list, beside a value that exists",
    question: "Who lives in Paris or Atlantis?",
    sql: "SELECT T1.name FROM person AS T1 WHERE T1.city IN ('Paris', 'Atlantis')",
    want: ["literal_not_in_data"],
  },
  {
    note: "clean: the right spelling",
    question: "List the male people.",
    sql: "SELECT name FROM person WHERE gender = 'Male'",
    want: [],
  },
  {
    note: "evidence_mismatch: the evidence says Female, the SQL Male",
    question: "How many women are there?",
    evidence: "women refers to gender = 'Female'",
    sql: "SELECT COUNT(*) FROM person WHERE gender = 'Male'",
    want: ["evidence_mismatch"],
  },
  {
    note: "clean: the evidence's value used",
    question: "How many females are there?",
    evidence: "females refers to gender = 'Female'; height refers to height",
    sql: "SELECT COUNT(*) FROM person WHERE gender = 'Female'",
    want: [],
  },
  {
    note: "shape: a count asked, a list returned",
    question: "How many people live in Paris?",
    sql: "SELECT name FROM person WHERE city = 'Paris'",
    want: ["shape"],
  },
  {
    note: "clean: a count",
    question: "How many people live in Nice?",
    sql: "SELECT COUNT(*) FROM person WHERE city = 'Nice'",
    want: [],
  },
  {
    note: "duplicate: the same question, another result",
    question: "What is the lowest score?",
    sql: "SELECT MIN(score) FROM person",
    want: ["duplicate"],
  },
  {
    note: "duplicate: its twin",
    question: "What is the lowest score ?",
    sql: "SELECT MAX(score) FROM person",
    want: ["duplicate"],
  },
  {
    note: "clean: the same question, the same result by other SQL",
    question: "How tall is Ed?",
    sql: "SELECT height FROM person WHERE name = 'Ed'",
    want: [],
  },
  {
    note: "clean: its twin",
    question: "How tall is Ed?",
    sql: "SELECT height FROM person WHERE id = 5",
    want: [],
  },
  {
    note: "version_sensitive: concat() is newer than 3.40",
    question: "Greet Ana.",
    sql: "SELECT concat(name, '!') FROM person WHERE id = 1",
    want: ["version_sensitive"],
  },
  {
    note: "version_sensitive: ROUND of 1.005 (1.01 in 3.40, 1.0 later)",
    question: "What is the price of the pen, rounded?",
    sql: "SELECT ROUND(price, 2) FROM item WHERE label = 'pen'",
    want: ["version_sensitive"],
  },
  {
    note: "clean: ROUND of an exact binary halfway value (1.25)",
    question: "What is the weight of the pen, rounded?",
    sql: "SELECT ROUND(weight, 1) FROM item WHERE label = 'pen'",
    want: [],
  },
  {
    note: "version_sensitive: a REAL written as TEXT",
    question: "Show the sum as text.",
    sql: "SELECT CAST(0.1 + 0.2 AS TEXT)",
    want: ["version_sensitive"],
  },
  {
    note: "clean: an INTEGER written as TEXT",
    question: "Show Ana's id as text.",
    sql: "SELECT CAST(id AS TEXT) FROM person WHERE id = 1",
    want: [],
  },
];

/** The planted questions as a BIRD dataset file. */
export function plantedDataset(): Record<string, unknown>[] {
  return PLANTED.map((p, i) => ({
    question_id: i,
    db_id: "shop",
    question: p.question,
    evidence: p.evidence ?? "",
    SQL: p.sql,
    difficulty: "simple",
  }));
}
