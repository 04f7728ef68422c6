-- The MySQL/MariaDB probe database of the per-dialect parity suite (tests/exec/dialect_parity_test.ts,
-- tests/parity/official_ex_dialects.py). One database holds every table, as the official mini-dev dump holds all
-- eleven BIRD databases in one (`BIRD`); probes name it "probes". Plain SQL, statements separated by a ";" at a
-- line's end, so any client builds it the same way. Values are chosen for how pymysql returns them: int,
-- Decimal (DECIMAL and exact literals), float (FLOAT/DOUBLE), str (CHAR trailing spaces removed by the server),
-- bytes (BINARY, BLOB, BIT), date/datetime/timedelta, and str again for ENUM, SET and JSON.

CREATE TABLE nums (
  id INT PRIMARY KEY,
  ti TINYINT,
  si SMALLINT,
  mi MEDIUMINT,
  i INT,
  bi BIGINT,
  ub BIGINT UNSIGNED,
  d2 DECIMAL(10, 2),
  d0 DECIMAL(10, 0),
  d30 DECIMAL(30, 10),
  f FLOAT,
  db DOUBLE,
  bt BIT(8),
  yr YEAR,
  bo BOOLEAN
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
INSERT INTO nums VALUES
  (1, 1, 1, 1, 1, 1, 1, 1.00, 1, 1.0000000000, 1, 1, b'00000001', 2001, TRUE),
  (2, 2, 2, 2, 2, 2, 2, 2.50, 3, 2.5000000000, 2.5, 2.5, b'00000101', 2024, FALSE),
  (3, 0, 0, 0, 0, 0, 0, 0.10, 0, 0.1000000000, 0.1, 0.1, b'00000000', 1999, TRUE),
  (4, -1, -1, -1, -1, -1, 0, -0.00, -0, -0.0000000000, -0.0, -0.0, b'11111111', 2000, NULL),
  (5, 127, 32767, 8388607, 2147483647, 9223372036854775807, 18446744073709551615, 99999999.99, 9999999999,
   12345678901234567890.1234567891, 3.4e38, 1.7976931348623157e308, b'10000000', 2155, 1),
  (6, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (7, -128, -32768, -8388608, -2147483648, -9223372036854775808, 9007199254740993, 1.01, 1, 1.0050000000, 1.005,
   1.005, b'01000001', 1901, 0),
  (8, 8, 8, 8, 8, 9007199254740993, 9007199254740992, 0.33, 0, 0.3333333333, 0.33333334, 0.3333333333333333,
   NULL, NULL, 2),
  (9, -2, -2, -2, -2, -2, 2, -2.50, -3, -2.5000000000, -2.5, -2.5, NULL, NULL, NULL),
  (10, 3, 3, 3, 3, 3, 3, 0.50, 1, 0.5000000000, 0.5, 0.5, NULL, NULL, NULL);

CREATE TABLE texts (
  id INT PRIMARY KEY,
  t TEXT,
  v VARCHAR(10),
  c CHAR(5),
  vb VARCHAR(10) COLLATE utf8mb4_bin,
  bn BINARY(4),
  vbn VARBINARY(10)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;
INSERT INTO texts VALUES
  (1, 'abc', 'abc', 'abc', 'abc', 'ab', 'ab'),
  (2, 'ABC', 'ABC', 'ABC', 'ABC', 'AB', 'AB'),
  (3, 'abc  ', 'abc  ', 'abc  ', 'abc  ', 'ab ', 'ab '),
  (4, '', '', '', '', '', ''),
  (5, NULL, NULL, NULL, NULL, NULL, NULL),
  (6, 'café', 'café', 'café', 'café', 'caf', 'caf'),
  (7, 'café', 'café', 'café', 'café', 'x', 'x'),
  (8, 'Straße', 'Straße', 'Straß', 'Straße', 'ss', 'ss'),
  (9, 'tab\tnl\nx', 'a''b', 'a"b', 'zeta', 'z', 'z'),
  (10, '😀', '😀', '😀', 'Zeta', 'Z', 'Z'),
  (11, '10', '9', '2', 'b', '1', '1'),
  (12, 'O''Brien', 'O''Brien', 'O\\Br', 'B', 'B', 'B');

CREATE TABLE times (
  id INT PRIMARY KEY,
  d DATE,
  dt DATETIME,
  dt6 DATETIME(6),
  ts TIMESTAMP NULL,
  t TIME,
  t6 TIME(6),
  yr YEAR
) ENGINE = InnoDB;
INSERT INTO times VALUES
  (1, '2024-01-15', '2024-01-15 10:30:00', '2024-01-15 10:30:00.000000', '2024-01-15 10:30:00', '10:30:00',
   '10:30:00.000000', 2024),
  (2, '2024-02-29', '2024-02-29 23:59:59', '2024-02-29 23:59:59.123456', '2024-02-29 23:59:59', '23:59:59',
   '23:59:59.999999', 1999),
  (3, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
  (4, '1999-12-31', '2000-01-01 00:00:00', '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00', '-01:00:00',
   '-00:00:00.500000', 2000),
  (5, '2024-01-15', '2024-01-15 00:00:00', '2024-01-15 00:00:00.000000', '2024-01-15 00:00:00', '838:59:59',
   '00:00:00.000001', 1901),
  (6, '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.000000', NULL, '00:00:00', '00:00:00', 0),
  (7, '1000-01-01', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999999', '1970-01-01 00:00:01', '-838:59:59',
   '12:00:00', 2155),
  (8, '2024-12-31', '2024-12-31 23:59:59', '2024-12-31 23:59:59.000000', '2038-01-19 03:14:07', '24:00:00',
   '01:02:03.040000', NULL);

CREATE TABLE flags (id INT PRIMARY KEY, b BOOLEAN, i INT) ENGINE = InnoDB;
INSERT INTO flags VALUES (1, TRUE, 1), (2, FALSE, 0), (3, NULL, NULL), (4, 2, 2);

CREATE TABLE bins (id INT PRIMARY KEY, bl BLOB, t TEXT) ENGINE = InnoDB;
INSERT INTO bins VALUES (1, x'00ff10', 'a'), (2, x'cafe', 'b'), (3, '', ''), (4, NULL, NULL), (5, 'abc', 'abc');

CREATE TABLE docs (
  id INT PRIMARY KEY,
  j JSON,
  e ENUM('sad', 'ok', 'happy'),
  s SET('a', 'b', 'c')
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
INSERT INTO docs VALUES
  (1, '{"a": 1, "b": [1, 2]}', 'happy', 'a,c'),
  (2, '[1, 2]', 'sad', ''),
  (3, '1', 'ok', 'b'),
  (4, '"x"', NULL, NULL),
  (5, 'null', 'happy', 'a,b,c'),
  (6, '1.5', NULL, 'c,a'),
  (7, 'true', NULL, NULL),
  (8, '0.1', NULL, NULL);

CREATE TABLE people (
  id INT PRIMARY KEY,
  name VARCHAR(40) NOT NULL,
  dept VARCHAR(10),
  salary DECIMAL(10, 2),
  score INT,
  rating DOUBLE,
  joined DATE
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_general_ci;
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

CREATE TABLE dups (id INT PRIMARY KEY, a INT, b VARCHAR(5)) ENGINE = InnoDB;
INSERT INTO dups VALUES (1, 1, 'x'), (2, 1, 'x'), (3, 2, 'y'), (4, 2, NULL), (5, NULL, NULL), (6, NULL, NULL);

CREATE TABLE `MixedCase` (`Id` INT PRIMARY KEY, `Name` VARCHAR(10), lower_col VARCHAR(10)) ENGINE = InnoDB;
INSERT INTO `MixedCase` VALUES (1, 'one', 'uno'), (2, 'two', 'dos');

CREATE TABLE empty_t (id INT PRIMARY KEY, v VARCHAR(10)) ENGINE = InnoDB;
