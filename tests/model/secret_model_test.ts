/**
 * The one secret model (lib/util/secrets.ts): every form of every credential a run holds is known, and only
 * whole credential tokens in credential positions are replaced, never a piece of SQL or prose.
 */
import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { keyShaped, redact, secretValues } from "../../lib/model/mod.ts";

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
