/**
 * The one secret model (lib/util/secrets.ts): every form of every credential a run holds is known, and only
 * whole credential tokens in credential positions are replaced, never a piece of SQL or prose.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { keyShaped, redact, secretValues } from "../../lib/model/mod.ts";
import { dbUrlSecrets, registerDbUrl, registeredSecrets } from "../../lib/util/mod.ts";

const KEY = "sk-proj-Zx81kQ0aa9PqLmNn";
const URL_WITH = "http://hero:p%40ss-W0rd@127.0.0.1:9/v1?deployment=name&api_key=gw-Token-777";

Deno.test("secretValues: the key, its base64, every URL credential form, user:password and the Basic value", () => {
  const secrets = secretValues(KEY, URL_WITH);
  const basic = btoa("hero:p@ss-W0rd");
  for (
    const s of [
      KEY,
      btoa(KEY),
      "hero",
      "p%40ss-W0rd",
      "p@ss-W0rd",
      "hero:p@ss-W0rd",
      basic,
      "name",
      "gw-Token-777",
    ]
  ) {
    assert(secrets.includes(s), `${s} is not known`);
  }
});

Deno.test("the scrubber leaves SQL and prose alone, whatever word a credential is", () => {
  const secrets = secretValues(null, "http://hero:pw@127.0.0.1:9/v1?deployment=name");
  for (
    const sql of [
      "SELECT superhero_name FROM superhero WHERE hero_id = 1",
      "SELECT T1.name FROM hero AS T1 WHERE T1.name = 'pw'",
      "SELECT * FROM t WHERE url = 'https://example.com/?page=2'",
      "SELECT token, basic FROM bearer WHERE key = 'name'",
      "The hero's name is in the superhero table.",
    ]
  ) assertEquals(redact(sql, secrets), sql);
});

Deno.test("the scrubber replaces every credential form in headers, URLs and key-shaped tokens", () => {
  const secrets = secretValues(KEY, URL_WITH);
  const basic = btoa("hero:p@ss-W0rd");
  const cases: Array<[string, string]> = [
    [`Authorization: Basic ${basic}`, "Authorization: Basic [redacted]"],
    [`authorization: Bearer ${KEY}`, "authorization: Bearer [redacted]"],
    [`{"Authorization":"Bearer ${KEY}"}`, `{"Authorization":"Bearer [redacted]"}`],
    [`x-api-key: ${KEY}`, "x-api-key: [redacted]"],
    [`the key '${KEY}' was used`, "the key '[redacted]' was used"],
    [`base64 ${btoa(KEY)}`, "base64 [redacted]"],
    [`${KEY}suffix`, "[redacted]suffix"],
    ["http://hero:p%40ss-W0rd@h/v1", "http://[redacted]@h/v1"],
    ["at http://hero@h/v1", "at http://[redacted]@h/v1"],
    ["GET /v1?deployment=name&api_key=gw-Token-777", "GET /v1?deployment=[redacted]&api_key=[redacted]"],
    ["https://x.test/q?key=abc&page=2", "https://x.test/q?key=[redacted]&page=2"],
    ["password p@ss-W0rd here", "password [redacted] here"],
  ];
  for (const [text, want] of cases) assertEquals(redact(text, secrets), want);
});

Deno.test("keyShaped: 8+ characters mixing two of lower, upper, digits", () => {
  for (const s of [KEY, "hunter2-pw", "aGVybzpwdw==", "Passw0rd"]) assert(keyShaped(s), s);
  for (const s of ["hero", "name", "superhero", "first_name", "pw", "SELECT", "abc123"]) {
    assert(!keyShaped(s), s);
  }
});

Deno.test("dbUrlSecrets: a server URL's password in every spelling, user:password and base64; not the user alone", () => {
  const password = "Db/p@ss:w%rd-X9";
  const url = `postgres://text2sql_ro:${encodeURIComponent(password)}@127.0.0.1:5432/bird?sslmode=require` +
    "&sslpassword=Ssl-Pw-4242&application_name=t2s";
  const secrets = dbUrlSecrets(url);
  const b64 = (t: string) => btoa(t);
  for (
    const s of [
      password,
      encodeURIComponent(password),
      b64(password),
      b64(password).replace(/=+$/, ""),
      `text2sql_ro:${password}`,
      b64(`text2sql_ro:${password}`),
      `text2sql_ro:${encodeURIComponent(password)}`,
      "Ssl-Pw-4242",
    ]
  ) assert(secrets.includes(s), `${s} is not known`);
  // A database user and harmless parameters are no secrets: `SELECT current_user` shows the user to any query.
  for (const s of ["text2sql_ro", "require", "t2s"]) assert(!secrets.includes(s), `${s} is a secret`);
  assert(secrets.every((s, i) => i === 0 || secrets[i - 1].length >= s.length));
  // No password, nothing; a URL too broken to parse still gives what sits between // and @.
  assertEquals(dbUrlSecrets("mysql://root@127.0.0.1:3306/BIRD"), []);
  assertEquals(dbUrlSecrets("garbage"), []);
  assert(dbUrlSecrets("postgres://u:Br0ken-Pw@h:99999/db").includes("Br0ken-Pw"));
  assert(dbUrlSecrets("postgres://u:Ha5h#Or?Q@h/db").includes("Ha5h#Or?Q"));
  // An unencoded @ in the password: the user info runs to the last @, as WHATWG URL parses it.
  assert(dbUrlSecrets("mysql://root:Pa@ss-W0rd1@h/").includes("Pa@ss-W0rd1"));
});

Deno.test("a registered database URL is known to every scrubber; SQL, prose and the user name stay", () => {
  const password = "Reg/p@ss:w%rd-Z7";
  const url = `mysql://text2sql_ro:${encodeURIComponent(password)}@127.0.0.1:3306/BIRD`;
  registerDbUrl(url);
  assert(registeredSecrets().includes(password));
  const cases: Array<[string, string]> = [
    [`Access denied (using password ${password})`, "Access denied (using password [redacted])"],
    [`cannot connect to ${url}`, "cannot connect to mysql://[redacted]@127.0.0.1:3306/BIRD"],
    [
      `cmdline --db-url\\000${url.slice(8)}`,
      "cmdline --db-url\\000[redacted]@127.0.0.1:3306/BIRD",
    ],
    [`Basic ${btoa(`text2sql_ro:${password}`)}`, "Basic [redacted]"],
    ["text2sql_ro@localhost", "text2sql_ro@localhost"],
    [
      "SELECT superhero_name FROM superhero WHERE id = 1",
      "SELECT superhero_name FROM superhero WHERE id = 1",
    ],
  ];
  // Any secret list (a model client's, or none) is joined by the registered ones.
  for (const [text, want] of cases) {
    assertEquals(redact(text, []), want);
    assertEquals(redact(text, secretValues(KEY, URL_WITH)), want);
  }
});
