-- The PostgreSQL probe database of the per-dialect parity suite (tests/exec/dialect_parity_test.ts,
-- tests/parity/official_ex_dialects.py). One database holds every table, as the official mini-dev dump holds all
-- eleven BIRD databases in one (`bird`); probes name it "probes". Plain SQL, run as one script by psycopg2 (and
-- by PGlite's exec), so any test in any language builds it the same way. Values are chosen for how psycopg2
-- returns them: int, Decimal, float, str (padded for char(n)), bool, memoryview, date/datetime/time/timedelta,
-- list (arrays), dict/list/scalar (json).

CREATE TABLE nums (
  id integer PRIMARY KEY,
  i2 smallint,
  i4 integer,
  i8 bigint,
  n numeric,
  n2 numeric(10, 2),
  n0 numeric(10, 0),
  n5 numeric(12, 5),
  r real,
  d double precision
);
INSERT INTO nums VALUES
  (1, 1, 1, 1, 1, 1.00, 1, 1.00000, 1, 1),
  (2, 2, 2, 2, 2.5, 2.50, 3, 2.50000, 2.5, 2.5),
  (3, 0, 0, 0, 0.1, 0.10, 0, 0.10000, 0.1, 0.1),
  (4, -1, -1, -1, -0.0, -0.00, -0, -0.00000, '-0', '-0'),
  (5, 32767, 2147483647, 9223372036854775807, 12345678901234567890.123456789, 99999999.99, 9999999999, 1234567.12345,
   3.4e38, 1.7976931348623157e308),
  (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (7, 7, 7, 7, 'NaN', NULL, NULL, NULL, 'NaN', 'NaN'),
  (8, 8, 8, -9223372036854775808, 'Infinity', NULL, NULL, NULL, 'Infinity', '-Infinity'),
  (9, 9, 9, 9007199254740993, 1.005, 1.01, 1, 1.00500, 1.005, 1.005),
  (10, 10, 10, 9007199254740992, 0.333333333333333333, 0.33, 0, 0.33333, 0.33333334, 0.3333333333333333),
  (11, -2, -2, -2, -2.5, -2.50, -3, -2.50000, -2.5, -2.5),
  (12, 3, 3, 3, 0.5, 0.50, 1, 0.50000, 0.5, 0.5);

CREATE TABLE texts (
  id integer PRIMARY KEY,
  t text,
  v varchar(10),
  c char(5),
  tc text COLLATE "C"
);
INSERT INTO texts VALUES
  (1, 'abc', 'abc', 'abc', 'abc'),
  (2, 'ABC', 'ABC', 'ABC', 'ABC'),
  (3, 'abc  ', 'abc  ', 'abc  ', 'abc  '),
  (4, '', '', '', ''),
  (5, NULL, NULL, NULL, NULL),
  (6, 'café', 'café', 'café', 'café'),
  (7, U&'cafe\0301', U&'cafe\0301', U&'cafe\0301', U&'cafe\0301'),
  (8, 'Straße', 'Straße', 'Straß', 'Straße'),
  (9, 'tab	nl
x', 'a''b', 'a"b', 'zeta'),
  (10, '😀', '😀', '😀', 'Zeta'),
  (11, '10', '9', '2', 'b'),
  (12, 'O''Brien', 'O''Brien', 'O''Br', 'B');

CREATE TABLE times (
  id integer PRIMARY KEY,
  d date,
  ts timestamp,
  tstz timestamptz,
  t time,
  ttz timetz,
  iv interval
);
INSERT INTO times VALUES
  (1, '2024-01-15', '2024-01-15 10:30:00', '2024-01-15 10:30:00+00', '10:30:00', '10:30:00+02', '1 day 02:00:00'),
  (2, '2024-02-29', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59.123456+05:30', '23:59:59.999999',
   '23:59:59-08', '1 year 2 mons 3 days'),
  (3, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, '1999-12-31', '2000-01-01 00:00:00', '1999-12-31 19:00:00-05', '00:00:00', '00:00:00+00', '-1 day'),
  (5, '2024-01-15', '2024-01-15 00:00:00', '2024-01-15 00:00:00+00', '12:00:00', '12:00:00+00',
   '00:00:00.000001'),
  (6, '0001-01-01', '0001-01-01 00:00:00', '2024-06-01 12:00:00+09', '01:02:03', '01:02:03-03:30',
   '1 mon'),
  (7, '2024-03-10', '2024-03-10 02:30:00', '2024-03-10 02:30:00-07', '02:30:00', '02:30:00+14', '12 mons'),
  (8, '2024-12-31', '2024-12-31 23:59:59', '2024-12-31 23:59:59+00', '23:59:59', '23:59:59+00', '365 days');

CREATE TABLE edge_times (id integer PRIMARY KEY, d date, ts timestamp);
INSERT INTO edge_times VALUES
  (1, 'infinity', 'infinity'),
  (2, '-infinity', '-infinity'),
  (3, '0044-03-15 BC', '0044-03-15 12:00:00 BC'),
  (4, '9999-12-31', '9999-12-31 23:59:59');

CREATE TABLE flags (id integer PRIMARY KEY, b boolean, i integer);
INSERT INTO flags VALUES (1, true, 1), (2, false, 0), (3, NULL, NULL), (4, true, 2);

CREATE TABLE bins (id integer PRIMARY KEY, by bytea, t text);
INSERT INTO bins VALUES
  (1, '\x00ff10', 'a'),
  (2, '\xcafe', 'b'),
  (3, '', ''),
  (4, NULL, NULL),
  (5, 'abc'::bytea, 'abc');

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE docs (
  id integer PRIMARY KEY,
  ia integer[],
  ta text[],
  j json,
  jb jsonb,
  m mood,
  u uuid,
  ip inet,
  money_v money,
  r int4range
);
INSERT INTO docs VALUES
  (1, '{1,2,3}', '{a,b}', '{"a": 1, "b": [1, 2]}', '{"b": [1, 2], "a": 1}', 'happy',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '10.0.0.1', 12.5, '[1,5)'),
  (2, '{}', '{}', '[1, 2]', '[1, 2]', 'sad', NULL, '::1', 0, 'empty'),
  (3, NULL, NULL, '1', '1', 'ok', NULL, NULL, NULL, NULL),
  (4, '{NULL}', '{NULL}', '"x"', '"x"', NULL, NULL, NULL, NULL, NULL),
  (5, '{{1,2},{3,4}}', '{"a b",c}', 'null', 'null', NULL, NULL, NULL, NULL, NULL),
  (6, NULL, NULL, '1.5', '1.50', NULL, NULL, NULL, NULL, NULL),
  (7, NULL, NULL, 'true', 'true', NULL, NULL, NULL, NULL, NULL),
  (8, NULL, NULL, '0.1', '0.1', NULL, NULL, NULL, NULL, NULL);

CREATE TABLE people (
  id integer PRIMARY KEY,
  name text NOT NULL,
  dept text,
  salary numeric(10, 2),
  score integer,
  rating double precision,
  joined date
);
INSERT INTO people VALUES
  (1, 'Ada', 'eng', 120000.00, 90, 4.5, '2019-03-01'),
  (2, 'Grace', 'eng', 120000.00, 95, 4.5, '2018-07-15'),
  (3, 'Linus', 'ops', 95000.50, NULL, 3.75, '2020-01-10'),
  (4, 'ada', 'eng', 80000.00, 90, NULL, '2021-11-30'),
  (5, 'Édith', 'art', 70000.25, 70, 4.0, '2017-05-05'),
  (6, 'Zoë', NULL, NULL, 85, 2.5, NULL),
  (7, 'Bob', 'ops', 95000.50, 60, 3.75, '2020-01-10'),
  (8, 'bob', 'art', 50000.00, NULL, 1.0, '2022-02-28'),
  (9, 'Chen', 'ops', 60000.00, 75, 3.0, '2016-09-09'),
  (10, 'Dana', 'eng', 110000.00, 95, 4.25, '2023-04-01');

CREATE TABLE dups (id integer PRIMARY KEY, a integer, b text);
INSERT INTO dups VALUES (1, 1, 'x'), (2, 1, 'x'), (3, 2, 'y'), (4, 2, NULL), (5, NULL, NULL), (6, NULL, NULL);

CREATE TABLE "MixedCase" ("Id" integer PRIMARY KEY, "Name" text, lower_col text);
INSERT INTO "MixedCase" VALUES (1, 'one', 'uno'), (2, 'two', 'dos');

CREATE TABLE empty_t (id integer PRIMARY KEY, v text);
