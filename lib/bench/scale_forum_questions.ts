/**
 * The questions over `forum_scale` (BIRD `codebase_community`-like, long texts), as data: gold SQL and what each
 * prediction is. Results noted as ~N rows are for FULL_SCALE; smaller builds shrink them.
 *
 * @module
 */
import type { QuestionSpec } from "./scale_types.ts";

/** The `forum_scale` questions, in dataset order (after the bank ones). */
export const FORUM_QUESTIONS: QuestionSpec[] = [
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
