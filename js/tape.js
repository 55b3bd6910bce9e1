// The JavaScript half of the value boundary (src/convert.rs is the Rust half).
//
// Walking a page object from Rust costs a wasm↔JS call per type check, key and property, plus a
// UTF-8 encode per string: most of an identify call's time. Instead JavaScript walks the value
// once into a "tape": every string concatenated into one text, and a list of numbers (tags,
// numbers, UTF-16 lengths). js/plugin.js encodes before it calls the wasm and passes both as the
// export's arguments, so the wasm imports nothing to read a value (each import costs the wasm and
// its glue bytes) and a value costs no crossing of its own. Commands come back as JSON, which
// the engine's native JSON.parse turns into objects faster than any walk (js/shell.js).
//
// Tape grammar (numbers in `ops`; string contents in `text`, in order):
//   0 null · 1 true · 2 false · 3 n number · 4 ms Date · 5 len string
//   6 count value… array · 7 count (len value)… object (each key is a length into `text`)
//
// The walk survives what JSON.stringify would not: cycles are cut, nesting is bounded, Dates stay
// Dates, undefined/functions/symbols are dropped (null inside arrays, as JSON does), BigInts
// become their digits, and a getter that throws drops that key only.

const MAX_DEPTH = 24;

const NONE = new Float64Array(0);
// The ops are written into one typed array kept between calls: no array or boxed number per op
// for the garbage collector, and the glue copies it into the wasm's memory in one `set`.
let scratch = new Float64Array(512);
let busy = false;
let lastOps = NONE;

/** Encodes `value`; returns the text and keeps the ops for `takeOps`. Empty ops: nothing to send. */
export function encode(value) {
  // A getter that calls back into the module during a walk gets a buffer of its own.
  const own = !busy;
  busy = true;
  let ops = own ? scratch : new Float64Array(64);
  let n = 0;
  const op = (x) => {
    if (n === ops.length) {
      const bigger = new Float64Array(n * 2);
      bigger.set(ops);
      ops = bigger;
    }
    ops[n++] = x;
  };
  const parts = [];
  const path = [];
  const str = (s) => {
    op(s.length);
    parts.push(s);
  };
  // Appends `v`; false (and nothing appended) for what JSON would drop.
  const walk = (v) => {
    switch (typeof v) {
      case 'string':
        op(5);
        str(v);
        return true;
      case 'number':
        op(3);
        op(v);
        return true;
      case 'boolean':
        op(v ? 1 : 2);
        return true;
      case 'bigint':
        op(5);
        str(v.toString());
        return true;
      case 'object':
        break;
      default:
        return false;
    }
    if (v === null) {
      op(0);
      return true;
    }
    if (path.length >= MAX_DEPTH || path.includes(v)) return false;
    if (v instanceof Date) {
      const ms = v.getTime();
      if (ms === ms) {
        op(4);
        op(ms);
      } else op(0);
      return true;
    }
    path.push(v);
    if (Array.isArray(v)) {
      op(6);
      op(v.length);
      for (let i = 0; i < v.length; i++) {
        let item;
        try {
          item = v[i];
        } catch {
          item = undefined;
        }
        if (!walk(item)) op(0);
      }
    } else {
      op(7);
      op(0);
      const countAt = n - 1;
      let count = 0;
      for (const key of Object.keys(v)) {
        let item;
        try {
          item = v[key];
        } catch {
          continue;
        }
        const mark = n;
        const partsMark = parts.length;
        str(key);
        if (walk(item)) count++;
        else {
          n = mark;
          parts.length = partsMark;
        }
      }
      ops[countAt] = count;
    }
    path.pop();
    return true;
  };
  let ok = false;
  try {
    ok = walk(value);
  } finally {
    if (own) {
      busy = false;
      scratch = ops;
    }
  }
  lastOps = ok ? ops.subarray(0, n) : NONE;
  return parts.join('');
}

/**
 * Encodes the parts of a Segment event that the core's browser mappings read (see
 * `hubspot_core::event::Event` and `hubspot_core::mapping`), per call type: identify its `userId`
 * and `traits`; track its `userId`, `event`, `properties` and `context.traits`; page its
 * `properties` and `context.page`; any other type only its `type`. analytics-next's events also
 * carry ids, the library, user agent, locale and more, which never reach HubSpot: every string
 * walked is a string copied and freed, and most of a call's cost.
 */
export function encodeEvent(event) {
  let picked = event;
  try {
    if (event !== null && typeof event === 'object') {
      const type = event.type;
      const context = event.context;
      const withContext = context !== null && typeof context === 'object';
      picked = { type };
      if (type === 'identify') {
        picked.userId = event.userId;
        picked.traits = event.traits;
      } else if (type === 'track') {
        picked.userId = event.userId;
        picked.event = event.event;
        picked.properties = event.properties;
        if (withContext) picked.context = { traits: context.traits };
      } else if (type === 'page') {
        picked.properties = event.properties;
        if (withContext) picked.context = { page: context.page };
      }
    }
  } catch {
    // A throwing getter on the event itself: walk it as it is, which skips that field.
  }
  return encode(picked);
}

/** The ops of the last `encode`, for the export call it is passed to. */
export function takeOps() {
  const ops = lastOps;
  lastOps = NONE;
  return ops;
}
