-- The probe databases of the parity suite (tests/exec/parity_test.ts, tests/parity/probe_verdicts.py).
-- Each section, from a "-- db: NAME" line to the next, is one database's script, run by Python's
-- sqlite3 executescript() into NAME/NAME.sqlite (the BIRD layout). Plain SQL so that any test, in any
-- language, can build them the same way.

-- db: core
CREATE TABLE people (
  id INTEGER PRIMARY KEY,
  name TEXT,
  age INTEGER,
  score REAL,
  city TEXT,
  born TEXT,
  photo BLOB,
  misc
);
INSERT INTO people VALUES
  (1, 'Ada', 36, 91.5, 'London', '1815-12-10', x'00ff10', 1),
  (2, 'Grace', 85, 88.25, 'New York', '1906-12-09', x'cafe', '1'),
  (3, 'Linus', 54, NULL, 'helsinki', '1969-12-28', NULL, 1.0),
  (4, 'ada', 36, 91.5, 'london', '1815-12-10 08:30:00', x'', NULL),
  (5, 'Édith', 47, 70.0, 'Paris', '1915-12-19', x'00', 'x'),
  (6, 'Zoë', NULL, 0.1, NULL, NULL, NULL, x'01'),
  (7, '', 0, -0.0, '', '2024-02-29T23:59:59', NULL, -0.0),
  (8, 'Bob_1', 20, 1e-300, 'Oslo%', '2000-01-01', NULL, 9007199254740993);
CREATE TABLE nums (
  id INTEGER PRIMARY KEY,
  i INTEGER,
  r REAL,
  t TEXT,
  n NUMERIC,
  a
);
INSERT INTO nums VALUES
  (1, 1, 1.0, '1', '1', 1),
  (2, 2, 2.5, '2.5', '2.5', '2.5'),
  (3, 9007199254740993, 9007199254740993, '9007199254740993', '9007199254740993', 9007199254740993),
  (4, 9223372036854775807, 9.2233720368547758e18, '9223372036854775807', '9223372036854775807', -9223372036854775808),
  (5, -0, -0.0, '-0', '-0.0', -0.0),
  (6, 0, 0.1, '0.1', '1e3', ' 7'),
  (7, NULL, NULL, NULL, NULL, NULL),
  (8, 10, 1e308, '1e308', 'abc', x'3130'),
  (9, -7, -7.5, '-7', '00012', '0x1A'),
  (10, 3, 3.0, '3.0', '3.0', 3.0);
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  person_id INTEGER REFERENCES people(id),
  amount REAL,
  qty INTEGER,
  day TEXT
);
INSERT INTO orders VALUES
  (1, 1, 10.5, 1, '2024-01-01'),
  (2, 1, 20.25, 2, '2024-01-02'),
  (3, 2, 5.0, 5, '2024-01-02'),
  (4, 3, 7.125, 1, '2024-02-01'),
  (5, 3, 7.125, 1, '2024-02-01'),
  (6, 5, 100.0, 10, '2023-12-31'),
  (7, NULL, 1.5, 3, '2024-03-15'),
  (8, 2, 0.3, 3, '2024-03-15');
CREATE INDEX orders_person ON orders(person_id);
CREATE VIEW totals AS SELECT person_id, SUM(amount) AS total, COUNT(*) AS n FROM orders GROUP BY person_id;

-- db: big
CREATE TABLE seq (n INTEGER PRIMARY KEY, grp INTEGER, label TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO seq SELECT x, x % 7, 'row ' || x FROM c;
CREATE TABLE dups (v INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000)
INSERT INTO dups SELECT x % 3 FROM c;

-- db: wide
CREATE TABLE cells (id INTEGER PRIMARY KEY, body TEXT, bin BLOB);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20)
INSERT INTO cells SELECT x, printf('%.*c', 100000 + x, 'a'), zeroblob(50000 + x) FROM c;

-- db: utf16
PRAGMA encoding = 'UTF-16le';
CREATE TABLE words (id INTEGER PRIMARY KEY, w TEXT, lang TEXT);
INSERT INTO words VALUES
  (1, 'naïve', 'fr'),
  (2, 'Straße', 'de'),
  (3, '日本語', 'ja'),
  (4, '😀 emoji', 'xx'),
  (5, 'ÉCOLE', 'fr'),
  (6, 'école', 'fr');

-- db: badtext
CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, b BLOB);
INSERT INTO t VALUES
  (1, 'ok', x'6f6b'),
  (2, CAST(x'ff' AS TEXT), x'ff'),
  (3, CAST(x'61ff62' AS TEXT), x'61ff62'),
  (4, CAST(x'c3a9' AS TEXT), x'c3a9'),
  (5, 'a' || char(0) || 'b', x'610062'),
  (6, CAST(x'eda080' AS TEXT), x'eda080');

-- db: docs
CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
INSERT INTO docs VALUES
  (1, '{"name": "Ada", "tags": ["math", "code"], "n": 1}'),
  (2, '{"name": "Grace", "tags": [], "n": 2.5, "nested": {"k": null}}'),
  (3, '[1, 2, 3]'),
  (4, 'not json'),
  (5, NULL),
  (6, '{"name": "Zoë", "n": 9007199254740993}');

-- db: empty
CREATE TABLE blank (a INTEGER, b TEXT);

-- db: scratch
CREATE TABLE s (k INTEGER PRIMARY KEY, v TEXT);
INSERT INTO s VALUES (1, 'one'), (2, 'two');
