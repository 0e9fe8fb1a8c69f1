#!/usr/bin/env node
// update-document.mjs: an example update client for Windchill REST Services (Node 20, no
// npm packages). It updates ONE document with a partial change, correctly under concurrency,
// and reports how that ended. Example-grade code: read it, copy the idea, not the polish.
//
// Protocol, in short:
//   1. GET {root}/PTC/GetCSRFToken() once; every PATCH sends CSRF_NONCE and the JSESSIONID cookie.
//   2. GET the document (following VersionID when "Latest" is false); keep its ETag and values.
//   3. PATCH with If-Match: <ETag>. On 409/412/429/5xx or a lost response: sleep
//      min(0.05 * 2^(n-1), 0.4) s (or the Retry-After, capped at 30 s), re-read, and retry (3 retries).
//   4. On a re-read: our values already there -> "applied" (a lost response that landed);
//      a field we change changed by someone else -> "review" (nothing written).
//   5. Print one line {"outcome": "applied"|"review"|"failed", "detail": ...} on stdout, exit 0.
//
// Inputs: env WINDCHILL_SERVICE_ROOT, WINDCHILL_ENTITY_SET (default DocMgmt/Documents),
// WINDCHILL_DOCUMENT, WINDCHILL_CHANGES (a flat JSON object), WINDCHILL_USER, WINDCHILL_PASSWORD;
// positional args URL DOC CHANGES override the first, third and fourth.
//
//   node update-document.mjs [--bug stale-etag|lost-as-failure] [URL DOC CHANGES]
//
// Under the checker (which sets the environment for each generated scenario):
//   windchill-mock check --examples 50 --max-retries 3 --base-delay 0.05 --max-delay 0.4 \
//     -- node examples/node/update-document.mjs
// Add `--bug stale-etag` (re-use the first ETag on retries) or `--bug lost-as-failure` (give up
// on a lost response) after the script name to see the checker catch a broken client.

const MAX_RETRIES = 3;
const BASE_DELAY = 0.05; // seconds
const FACTOR = 2;
const MAX_DELAY = 0.4;
const RETRY_AFTER_CAP = 30;
const TIMEOUT_MS = 30_000; // per request; a timeout counts as a lost response
const RETRYABLE = (status) => status === 409 || status === 412 || status === 429 || status >= 500;
const BUGS = ['stale-etag', 'lost-as-failure'];

const log = (...args) => console.error('[update-document]', ...args);

function finish(outcome, detail) {
  // One JSON line, spelt like `{"outcome": "applied", "detail": "..."}`.
  const extra = detail === undefined ? '' : `, "detail": ${JSON.stringify(detail)}`;
  process.stdout.write(`{"outcome": ${JSON.stringify(outcome)}${extra}}\n`);
  process.exitCode = 0;
}

function usage(message) {
  console.error(`update-document: ${message}`);
  console.error('usage: node update-document.mjs [--bug stale-etag|lost-as-failure] [URL DOC CHANGES]');
  process.exit(2); // a set-up error, not an outcome: no JSON line
}

// ---------------------------------------------------------------- inputs

function parseInputs(argv) {
  const args = [...argv];
  let bug = process.env.WINDCHILL_BUG || null;
  if (args[0] === '--bug') {
    bug = args[1];
    args.splice(0, 2);
  } else if (args[0]?.startsWith('--bug=')) {
    bug = args.shift().slice('--bug='.length);
  }
  if (bug && !BUGS.includes(bug)) usage(`unknown bug ${JSON.stringify(bug)}; known: ${BUGS.join(', ')}`);
  const [url, doc, changesText] = args;
  const env = process.env;
  const root = (url ?? env.WINDCHILL_SERVICE_ROOT ?? '').replace(/\/+$/, '');
  const entitySet = env.WINDCHILL_ENTITY_SET || 'DocMgmt/Documents';
  const document = doc ?? env.WINDCHILL_DOCUMENT;
  const text = changesText ?? env.WINDCHILL_CHANGES;
  if (!root || !document || !text) usage('need the service root, the document ID and the changes');
  let changes;
  try {
    changes = JSON.parse(text);
  } catch (error) {
    usage(`the changes are not JSON: ${error.message}`);
  }
  if (!changes || typeof changes !== 'object' || Array.isArray(changes) || !Object.keys(changes).length) {
    usage('the changes must be a non-empty JSON object');
  }
  const auth = env.WINDCHILL_USER
    ? 'Basic ' + Buffer.from(`${env.WINDCHILL_USER}:${env.WINDCHILL_PASSWORD ?? ''}`).toString('base64')
    : null;
  return { bug, root, entitySet, document, changes, auth };
}

// ---------------------------------------------------------------- HTTP

class Lost extends Error {} // the connection broke: the server may or may not have acted

function makeHttp({ root, entitySet, auth }) {
  let cookie = null; // fetch keeps no cookies: we carry JSESSIONID ourselves
  let nonce = null;

  async function request(method, url, { headers = {}, body } = {}) {
    const all = { Accept: 'application/json', ...headers };
    if (auth) all.Authorization = auth;
    if (cookie) all.Cookie = cookie;
    try {
      const response = await fetch(url, { method, headers: all, body, signal: AbortSignal.timeout(TIMEOUT_MS) });
      const text = await response.text(); // read it all: a break mid-body is a lost response too
      return { status: response.status, headers: response.headers, text };
    } catch (error) {
      throw new Lost(`${method} ${url}: ${error.cause?.code ?? error.cause?.message ?? error.message}`);
    }
  }

  const entityUrl = (id) => `${root}/${entitySet}('${id}')`;

  return {
    async fetchNonce() {
      const response = await request('GET', `${root}/PTC/GetCSRFToken()`);
      if (response.status !== 200) throw new Error(`GetCSRFToken answered HTTP ${response.status}`);
      nonce = JSON.parse(response.text).NonceValue;
      const setCookies = response.headers.getSetCookie?.() ?? [response.headers.get('set-cookie') ?? ''];
      for (const header of setCookies) {
        const match = /(?:^|[\s,])(JSESSIONID=[^;,\s]*)/.exec(header);
        if (match) cookie = match[1];
      }
      if (!nonce) throw new Error('GetCSRFToken sent no NonceValue');
    },
    get: (id) => request('GET', entityUrl(id)),
    patch: (id, etag, changes) => request('PATCH', entityUrl(id), {
      headers: { 'Content-Type': 'application/json', CSRF_NONCE: nonce, ...(etag ? { 'If-Match': etag } : {}) },
      body: JSON.stringify(changes),
    }),
  };
}

// ---------------------------------------------------------------- the update

const sleep = (seconds) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

function retryAfterOf(response) {
  const value = response?.headers.get('retry-after');
  const seconds = value == null ? NaN : Number(value.trim()); // whole seconds (no HTTP-date here)
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : null;
}

function delayFor(retry, retryAfter) {
  const backoff = Math.min(BASE_DELAY * FACTOR ** (retry - 1), MAX_DELAY);
  return retryAfter == null ? backoff : Math.max(backoff, Math.min(retryAfter, RETRY_AFTER_CAP));
}

async function update(inputs) {
  const { bug, document, changes } = inputs;
  const fields = Object.keys(changes);
  const http = makeHttp(inputs);
  const statuses = []; // every status seen, for the detail line ("lost" for a lost response)
  const detail = () => statuses.join(' ');
  let retryAfter = null; // Retry-After of the last failure

  // read(): the document, or the latest iteration when the ID names a past one.
  // Returns {id, etag, values} or {failed: status|"lost", response}.
  async function read(id) {
    let response;
    for (let hop = 0; hop < 2; hop++) {
      try {
        response = await http.get(id);
      } catch (error) {
        if (!(error instanceof Lost)) throw error;
        log('read: lost response:', error.message);
        statuses.push('GET:lost');
        return { failed: 'lost' };
      }
      statuses.push(`GET:${response.status}`);
      if (response.status !== 200) return { failed: response.status, response };
      const body = JSON.parse(response.text);
      if (body.Latest === false && body.VersionID && hop === 0) {
        log(`read: ${id} is a past iteration; following ${body.VersionID}`);
        id = body.VersionID;
        continue;
      }
      const values = Object.fromEntries(fields.map((field) => [field, body[field] ?? null]));
      return { id: body.ID ?? id, etag: response.headers.get('etag'), values };
    }
    return { failed: 'no latest iteration' };
  }

  await http.fetchNonce();

  let base = null; // the first successful read: what "someone else changed it" is judged against
  let current = null; // the freshest read: where to write, and with which ETag
  const first = await read(document);
  if (first.failed === undefined) base = current = first;
  else if (!(first.failed === 'lost' || RETRYABLE(first.failed))) return ['failed', detail()];
  else retryAfter = retryAfterOf(first.response);

  for (let attempt = 0; attempt <= MAX_RETRIES; attempt++) {
    if (attempt > 0) {
      const delay = delayFor(attempt, retryAfter);
      log(`retry ${attempt}: sleeping ${delay}s`);
      await sleep(delay);
      retryAfter = null;
      if (bug !== 'stale-etag' || base === null) { // the bug: no re-read, the first ETag again
        const fresh = await read(current?.id ?? document);
        if (fresh.failed !== undefined) {
          if (fresh.failed === 'lost' || RETRYABLE(fresh.failed)) {
            retryAfter = retryAfterOf(fresh.response);
            continue; // this attempt is used up; the next one reads again
          }
          return ['failed', detail()];
        }
        if (base === null) base = fresh;
        current = fresh;
        if (fields.every((f) => current.values[f] === changes[f])) {
          return ['applied', `${detail()}; our values are already there`];
        }
        const theirs = fields.filter((f) => current.values[f] !== base.values[f] && current.values[f] !== changes[f]);
        if (theirs.length) return ['review', `${detail()}; changed by someone else: ${theirs.join(', ')}`];
      }
    }
    if (current === null) continue; // no successful read yet
    let response;
    try {
      response = await http.patch(current.id, current.etag, changes);
    } catch (error) {
      if (!(error instanceof Lost)) throw error;
      log('PATCH: lost response:', error.message);
      statuses.push('PATCH:lost');
      if (bug === 'lost-as-failure') return ['failed', detail()];
      continue; // it may have landed: the re-read will tell
    }
    statuses.push(`PATCH:${response.status}`);
    if (response.status >= 200 && response.status < 300) return ['applied', detail()];
    if (!RETRYABLE(response.status)) {
      log(`PATCH: HTTP ${response.status}: ${response.text.slice(0, 300)}`);
      return ['failed', detail()];
    }
    retryAfter = retryAfterOf(response);
  }
  return ['failed', `${detail()}; out of retries`];
}

// ---------------------------------------------------------------- main

const inputs = parseInputs(process.argv.slice(2));
try {
  const [outcome, detail] = await update(inputs);
  finish(outcome, detail);
} catch (error) {
  // Never crash: an unexpected error (a bad nonce answer, a body that is no JSON) is a failure.
  log('unexpected error:', error?.stack ?? error);
  finish('failed', `unexpected error: ${error?.message ?? error}`);
}
