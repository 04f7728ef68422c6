/**
 * The questions over `bank_scale` (BIRD `financial`-like), as data: gold SQL and what each prediction is.
 * Results noted as ~N rows are for FULL_SCALE; smaller builds shrink them.
 *
 * @module
 */
import type { QuestionSpec } from "./scale_types.ts";

/** The `bank_scale` questions, in dataset order. */
export const BANK_QUESTIONS: QuestionSpec[] = [
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
