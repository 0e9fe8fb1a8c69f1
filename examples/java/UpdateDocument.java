/*
 * UpdateDocument: an example update client for Windchill REST Services (JDK 17, no external
 * jars). It updates ONE document with a partial change, correctly under concurrency, and
 * reports how that ended. Example-grade code: read it, copy the idea, not the polish.
 *
 * Protocol, in short:
 *   1. GET {root}/PTC/GetCSRFToken() once; every PATCH sends CSRF_NONCE and the JSESSIONID cookie.
 *   2. GET the document (following VersionID when "Latest" is false); keep its ETag and values.
 *   3. PATCH with If-Match: <ETag>. On 409/412/429/5xx or a lost response: sleep
 *      min(0.05 * 2^(n-1), 0.4) s (or the Retry-After, capped at 30 s), re-read, retry (3 retries).
 *   4. On a re-read: our values already there -> "applied" (a lost response that landed);
 *      a field we change changed by someone else -> "review" (nothing written).
 *   5. Print one line {"outcome": "applied"|"review"|"failed", "detail": ...} on stdout, exit 0.
 *
 * Inputs: env WINDCHILL_SERVICE_ROOT, WINDCHILL_ENTITY_SET (default DocMgmt/Documents),
 * WINDCHILL_DOCUMENT, WINDCHILL_CHANGES (a flat JSON object of strings), WINDCHILL_USER,
 * WINDCHILL_PASSWORD; positional args URL DOC CHANGES override the first, third and fourth.
 *
 *   javac -d build UpdateDocument.java
 *   java -cp build UpdateDocument [--bug stale-etag|lost-as-failure] [URL DOC CHANGES]
 *
 * Under the checker (which sets the environment for each generated scenario):
 *   windchill-mock check --examples 50 --max-retries 3 --base-delay 0.05 --max-delay 0.4 \
 *     -- java -cp examples/java/build UpdateDocument
 * Add `--bug stale-etag` (re-use the first ETag on retries) or `--bug lost-as-failure` (give up
 * on a lost response) after the class name to see the checker catch a broken client.
 *
 * Note: java.net.http.HttpClient itself resends a GET once, at once, when the connection closes
 * before any answer; so one lost GET response can show up as two reads on the server.
 */

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.*;

public class UpdateDocument {
    static final int MAX_RETRIES = 3;
    static final double BASE_DELAY = 0.05, FACTOR = 2, MAX_DELAY = 0.4, RETRY_AFTER_CAP = 30;
    static final Duration TIMEOUT = Duration.ofSeconds(30); // a timeout counts as a lost response

    final String root, entitySet, document, changesJson, auth, bug;
    final Map<String, String> changes;
    final HttpClient http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(TIMEOUT).build();
    final List<String> statuses = new ArrayList<>(); // every status seen, for the detail line
    String nonce, cookie; // the CSRF nonce and JSESSIONID=...: we carry the cookie ourselves
    Double retryAfter;    // Retry-After of the last failure, in seconds

    /** One successful read: where to write, with which ETag, and the values of our fields. */
    record Read(String id, String etag, Map<String, String> values) {}

    /** A read that did not succeed: its status (-1: lost response; 0: no latest iteration). */
    @SuppressWarnings("serial")
    static class ReadFailed extends Exception {
        final int status;
        ReadFailed(int status) { super("read failed: " + status); this.status = status; }
    }

    UpdateDocument(String root, String set, String document, String changesJson, String auth, String bug) {
        this.root = root; this.entitySet = set; this.document = document;
        this.changesJson = changesJson; this.auth = auth; this.bug = bug;
        this.changes = MiniJson.parseFlat(changesJson);
    }

    static boolean retryable(int status) {
        return status == -1 || status == 409 || status == 412 || status == 429 || status >= 500;
    }

    // ------------------------------------------------------------------ HTTP

    HttpResponse<String> send(String method, String url, String body, String... headers)
            throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(TIMEOUT)
                .header("Accept", "application/json")
                .method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                        : HttpRequest.BodyPublishers.ofString(body, StandardCharsets.UTF_8));
        if (auth != null) b.header("Authorization", auth);
        if (cookie != null) b.header("Cookie", cookie);
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    String entityUrl(String id) { return root + "/" + entitySet + "('" + id + "')"; } // ID as is

    void fetchNonce() throws IOException, InterruptedException {
        HttpResponse<String> r = send("GET", root + "/PTC/GetCSRFToken()", null);
        if (r.statusCode() != 200) throw new IOException("GetCSRFToken answered HTTP " + r.statusCode());
        nonce = MiniJson.parseFlat(r.body()).get("NonceValue");
        for (String header : r.headers().allValues("Set-Cookie")) {
            String first = header.split(";", 2)[0].trim();
            if (first.startsWith("JSESSIONID=")) cookie = first;
        }
        if (nonce == null) throw new IOException("GetCSRFToken sent no NonceValue");
    }

    /** GET the document; when its ID names a past iteration, GET the latest by VersionID. */
    Read read(String id) throws ReadFailed, InterruptedException {
        for (int hop = 0; hop < 2; hop++) {
            HttpResponse<String> r;
            try {
                r = send("GET", entityUrl(id), null);
            } catch (IOException e) { // the JDK may have resent the GET once already: see the top
                log("read: lost response: " + e);
                statuses.add("GET:lost");
                throw new ReadFailed(-1);
            }
            statuses.add("GET:" + r.statusCode());
            if (r.statusCode() != 200) { retryAfter = retryAfterOf(r); throw new ReadFailed(r.statusCode()); }
            Map<String, String> body = MiniJson.parseFlat(r.body());
            if ("false".equals(body.get("Latest")) && body.get("VersionID") != null && hop == 0) {
                log("read: " + id + " is a past iteration; following " + body.get("VersionID"));
                id = body.get("VersionID");
                continue;
            }
            Map<String, String> values = new HashMap<>();
            for (String field : changes.keySet()) values.put(field, body.get(field));
            return new Read(body.getOrDefault("ID", id), r.headers().firstValue("ETag").orElse(null), values);
        }
        throw new ReadFailed(0); // VersionID led to a past iteration again: give up
    }

    static Double retryAfterOf(HttpResponse<String> r) {
        try { // whole seconds (no HTTP-date from this server)
            double s = Double.parseDouble(r.headers().firstValue("Retry-After").orElse("").trim());
            return s >= 0 && !Double.isInfinite(s) ? s : null;
        } catch (NumberFormatException e) { return null; }
    }

    static double delayFor(int retry, Double retryAfter) {
        double backoff = Math.min(BASE_DELAY * Math.pow(FACTOR, retry - 1), MAX_DELAY);
        return retryAfter == null ? backoff : Math.max(backoff, Math.min(retryAfter, RETRY_AFTER_CAP));
    }

    // ------------------------------------------------------------------ the update

    /** Returns {outcome, detail}. */
    String[] update() throws IOException, InterruptedException {
        fetchNonce();
        Read base = null, current = null; // base: the first successful read; current: the freshest
        try {
            base = current = read(document);
        } catch (ReadFailed e) {
            if (!retryable(e.status)) return end("failed", "");
        }
        for (int attempt = 0; attempt <= MAX_RETRIES; attempt++) {
            if (attempt > 0) {
                double delay = delayFor(attempt, retryAfter);
                log("retry " + attempt + ": sleeping " + delay + "s");
                Thread.sleep((long) (delay * 1000));
                retryAfter = null;
                if (!"stale-etag".equals(bug) || base == null) { // the bug: no re-read, first ETag
                    try {
                        current = read(current != null ? current.id() : document);
                    } catch (ReadFailed e) {
                        if (retryable(e.status)) continue; // attempt used up; the next reads again
                        return end("failed", "");
                    }
                    if (base == null) base = current;
                    String[] verdict = judge(base, current);
                    if (verdict != null) return verdict;
                }
            }
            if (current == null) continue; // no successful read yet
            HttpResponse<String> r;
            try {
                List<String> h = new ArrayList<>(List.of("Content-Type", "application/json", "CSRF_NONCE", nonce));
                if (current.etag() != null) h.addAll(List.of("If-Match", current.etag()));
                r = send("PATCH", entityUrl(current.id()), changesJson, h.toArray(new String[0]));
            } catch (IOException e) {
                log("PATCH: lost response: " + e);
                statuses.add("PATCH:lost");
                if ("lost-as-failure".equals(bug)) return end("failed", "");
                continue; // it may have landed: the re-read will tell
            }
            statuses.add("PATCH:" + r.statusCode());
            if (r.statusCode() >= 200 && r.statusCode() < 300) return end("applied", "");
            if (!retryable(r.statusCode())) {
                log("PATCH: HTTP " + r.statusCode() + ": " + r.body());
                return end("failed", "");
            }
            retryAfter = retryAfterOf(r);
        }
        return end("failed", "; out of retries");
    }

    /** After a re-read: "applied" when all our values are there (a write whose response was
     *  lost did land), "review" when someone else changed a field we change; else null. */
    String[] judge(Read base, Read now) {
        List<String> ours = new ArrayList<>(), theirs = new ArrayList<>();
        for (Map.Entry<String, String> change : changes.entrySet()) {
            String value = now.values().get(change.getKey());
            if (Objects.equals(value, change.getValue())) ours.add(change.getKey());
            else if (!Objects.equals(value, base.values().get(change.getKey()))) theirs.add(change.getKey());
        }
        if (ours.size() == changes.size()) return end("applied", "; our values are already there");
        return theirs.isEmpty() ? null : end("review", "; changed by someone else: " + String.join(", ", theirs));
    }

    /** {outcome, detail}: the statuses seen ("GET:200 PATCH:409 ..."), then a note. */
    String[] end(String outcome, String note) { return new String[] {outcome, String.join(" ", statuses) + note}; }

    static void log(String message) { System.err.println("[UpdateDocument] " + message); }

    static void usage(String message) {
        System.err.println("UpdateDocument: " + message);
        System.err.println("usage: java UpdateDocument [--bug stale-etag|lost-as-failure] [URL DOC CHANGES]");
        System.exit(2); // a set-up error, not an outcome: no JSON line
    }

    public static void main(String[] argv) {
        List<String> args = new ArrayList<>(Arrays.asList(argv));
        String bug = System.getenv("WINDCHILL_BUG");
        if (args.size() > 1 && args.get(0).equals("--bug")) { bug = args.get(1); args.subList(0, 2).clear(); }
        if (bug != null && !bug.isEmpty() && !bug.equals("stale-etag") && !bug.equals("lost-as-failure"))
            usage("unknown bug \"" + bug + "\"; known: stale-etag, lost-as-failure");
        String root = args.size() > 0 ? args.get(0) : System.getenv("WINDCHILL_SERVICE_ROOT");
        String doc = args.size() > 1 ? args.get(1) : System.getenv("WINDCHILL_DOCUMENT");
        String changes = args.size() > 2 ? args.get(2) : System.getenv("WINDCHILL_CHANGES");
        String set = Optional.ofNullable(System.getenv("WINDCHILL_ENTITY_SET"))
                .filter(s -> !s.isEmpty()).orElse("DocMgmt/Documents");
        if (root == null || root.isEmpty() || doc == null || doc.isEmpty() || changes == null)
            usage("need the service root, the document ID and the changes");
        String user = System.getenv("WINDCHILL_USER");
        String auth = user == null ? null : "Basic " + Base64.getEncoder().encodeToString(
                (user + ":" + Objects.requireNonNullElse(System.getenv("WINDCHILL_PASSWORD"), ""))
                        .getBytes(StandardCharsets.UTF_8));
        UpdateDocument client = null;
        try {
            client = new UpdateDocument(root.replaceAll("/+$", ""), set, doc, changes, auth, bug);
        } catch (RuntimeException e) { // the example-grade parser's errors
            usage("the changes are not a flat JSON object: " + e);
        }
        if (client.changes.isEmpty()) usage("the changes must be a non-empty JSON object");
        String[] result;
        try {
            result = client.update();
        } catch (Exception e) { // never crash: an unexpected error is a failure
            log("unexpected error: " + e);
            result = new String[] {"failed", "unexpected error: " + e};
        }
        System.out.println("{\"outcome\": " + MiniJson.quote(result[0])
                + ", \"detail\": " + MiniJson.quote(result[1]) + "}");
        System.out.flush();
        System.exit(0); // the HttpClient's threads would otherwise keep the JVM up a while
    }

    /**
     * Example-grade JSON: reads the top-level keys of ONE object. String values come back
     * unescaped, null as null, anything else (true, 12, a nested object or array) as its raw
     * text. Good enough for Windchill's entity bodies; use a real JSON library in production.
     */
    static final class MiniJson {
        private final String s;
        private int i;
        private MiniJson(String s) { this.s = s; }

        static Map<String, String> parseFlat(String text) {
            MiniJson p = new MiniJson(text);
            Map<String, String> out = new LinkedHashMap<>();
            p.expect('{');
            if (p.peek() == '}') return out;
            char c;
            do {
                String key = p.string();
                p.expect(':');
                if (p.peek() == '"') out.put(key, p.string());
                else { int start = p.i; p.skipValue(); String raw = p.s.substring(start, p.i).trim();
                       out.put(key, raw.equals("null") ? null : raw); }
            } while ((c = p.next()) == ',');
            if (c != '}') throw new IllegalArgumentException("expected , or } at " + (p.i - 1));
            return out;
        }

        private char peek() { // the next non-blank character, not consumed
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
            if (i >= s.length()) throw new IllegalArgumentException("unexpected end of JSON");
            return s.charAt(i);
        }
        private char next() { char c = peek(); i++; return c; }
        private void expect(char c) {
            if (next() != c) throw new IllegalArgumentException("expected " + c + " at " + (i - 1));
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                if (i >= s.length()) throw new IllegalArgumentException("unterminated string");
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c != '\\') { b.append(c); continue; }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> b.append('\n'); case 't' -> b.append('\t'); case 'r' -> b.append('\r');
                    case 'b' -> b.append('\b'); case 'f' -> b.append('\f');
                    case 'u' -> { b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; }
                    default -> b.append(e); // \" \\ \/
                }
            }
        }

        /** Skip a literal, number, object or array (strings inside are skipped whole). */
        private void skipValue() {
            int depth = 0;
            while (true) {
                char c = peek();
                if (depth == 0 && (c == ',' || c == '}')) return; // the end of this value
                if (c == '"') { string(); continue; }
                if (c == '{' || c == '[') depth++;
                else if (c == '}' || c == ']') depth--;
                i++;
            }
        }

        static String quote(String text) {
            StringBuilder b = new StringBuilder("\"");
            for (char c : text.toCharArray()) {
                if (c == '"' || c == '\\') b.append('\\').append(c);
                else if (c < 0x20) b.append(String.format("\\u%04x", (int) c));
                else b.append(c);
            }
            return b.append('"').toString();
        }
    }
}
