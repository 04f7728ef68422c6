/**
 * A server engine's `{"py": key}` display value (a Python value with no JSON counterpart: `Decimal`, `date`,
 * `datetime`, `time`, `timedelta`, NaN, a range; its canonical comparison key from `exec/python_values.ts`) as a
 * person or a model reads it: the text Python's `str()` gives (`Decimal('1.50')` → `1.50`, a midnight
 * `datetime` → `2020-01-01 00:00:00`, `timedelta(days=-1)` → `-1 day, 0:00:00`). The key itself stays the value
 * compared; this is display only (prompt sample rows, the agent's tool results, reports). A decimal reads by its
 * value, not its scale (`Decimal('2.10')` → `2.1`): the key keeps what `==` compares.
 *
 * @module
 */

const pad = (n: number | bigint, w = 2) => String(n).padStart(w, "0");

/** `HH:MM:SS` and `.ffffff` only when the microseconds are not zero, as Python prints a time. */
function clock(h: number | bigint, m: number | bigint, s: number | bigint, micro: number | bigint): string {
  return `${pad(h)}:${pad(m)}:${pad(s)}${Number(micro) ? "." + pad(micro, 6) : ""}`;
}

/** `[-]digits e exponent` (the decimal's exact digits) as plain decimal notation. */
function decimalText(key: string): string {
  const m = /^(-?)(\d+)e(-?\d+)$/.exec(key);
  if (!m) return key;
  const [, sign, digits, expText] = m;
  const exp = Number(expText);
  if (exp >= 0) return sign + digits + "0".repeat(exp);
  const cut = digits.length + exp;
  return sign + (cut > 0 ? `${digits.slice(0, cut)}.${digits.slice(cut)}` : `0.${"0".repeat(-cut)}${digits}`);
}

/** Microseconds since the epoch (UTC) as `YYYY-MM-DD HH:MM:SS[.ffffff]+00:00`. */
function instantText(micros: bigint): string {
  const ms = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const micro = micros - ms * 1000n;
  const d = new Date(Number(ms));
  const date = `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  const sub = BigInt(d.getUTCMilliseconds()) * 1000n + micro;
  return `${date} ${clock(d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), sub)}+00:00`;
}

/** Python's `str(timedelta)`: `[D day[s], ]H:MM:SS[.ffffff]`, days negative and the rest positive. */
function timedeltaText(micros: bigint): string {
  const DAY = 86_400_000_000n;
  let days = micros / DAY;
  let rest = micros % DAY;
  if (rest < 0n) {
    days -= 1n;
    rest += DAY;
  }
  const s = rest / 1_000_000n;
  const time = `${s / 3600n}:${pad((s / 60n) % 60n)}:${pad(s % 60n)}${
    rest % 1_000_000n ? "." + pad(rest % 1_000_000n, 6) : ""
  }`;
  return days ? `${days} day${days === 1n || days === -1n ? "" : "s"}, ${time}` : time;
}

/**
 * The text of a `{"py": key}` display value.
 *
 * @param key the value's key (`dec:…`, `date:…`, `dt:…`, `dtz:…`, `time:…`, `timetz:…`, `td:…`, `nan:…`, `range:…`)
 * @returns what Python's `str()` of the value reads (the key itself for a form it does not know)
 */
export function pyDisplayText(key: string): string {
  const colon = key.indexOf(":");
  const kind = key.slice(0, colon);
  const body = key.slice(colon + 1);
  try {
    switch (kind) {
      case "dec":
        return decimalText(body);
      case "date":
        return body;
      case "dt":
      case "time": {
        const m = /^(.*?)\.(\d{6})$/.exec(body);
        return m && /^0+$/.test(m[2]) ? m[1] : body;
      }
      case "dtz":
        return instantText(BigInt(body));
      case "timetz": {
        const micros = BigInt(body);
        const s = micros / 1_000_000n;
        return `${clock(s / 3600n, (s / 60n) % 60n, s % 60n, micros % 1_000_000n)}+00:00`;
      }
      case "td":
        return timedeltaText(BigInt(body));
      case "nan":
        return "nan";
      default:
        return key;
    }
  } catch {
    return key;
  }
}
