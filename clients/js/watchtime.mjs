// Generated from watchtime.js (the script-tag build): edit that file instead.
/*!
 * watchtime.js: the browser client of the webinar watch-time gateway (R-CLIENT in docs/api.md).
 *
 *   <script src="https://GATEWAY/static/watchtime.js"></script>
 *   <script>
 *     const watch = WatchTime.start({webinarId: "…uuid…", baseUrl: "https://GATEWAY"});
 *     // a single-page app leaving the webinar: watch.stop();
 *   </script>
 *
 * One session per page load (per tab): `track` on start, a `ping` every
 * heartbeat_interval_seconds (the server's answer to track) and at once on every
 * visibility change, `exit` as a beacon when the page goes away. The server credits
 * watch time by its own clock, so the client only has to report visibility promptly.
 *
 * This file is the script-tag build and the source of the ES module (watchtime.mjs,
 * `import {start} from …`), which is this file followed by its exports.
 */
var WatchTime = (function (global) {
  "use strict";

  // Regular pings come 0–10 % early: a crowd that joined at once spreads out, and no
  // ping is later than the interval that the server's stale limit is based on.
  const JITTER = 0.1;
  // Failed requests are retried after about 1, 2, 4 … s, at most a minute, each wait
  // randomised by half so that clients cut off together do not come back together.
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 60 * 1000;
  // A server's Retry-After is a lower bound: each client waits up to half as long again,
  // so that a crowd refused together (503 overloaded) does not return together.
  const RETRY_AFTER_SPREAD = 0.5;
  // stop() sends exit with fetch and asks again this often after a 429 or a 5xx.
  const EXIT_ATTEMPTS = 3;
  // A request that hangs would otherwise stop the heartbeat for good.
  const REQUEST_TIMEOUT_MS = 15 * 1000;
  // The 4xx answers worth asking again (besides 409, which needs a new session).
  const RETRYABLE = new Set([408, 429]);

  const newSessionId = () =>
    `session_${Date.now()}_${Math.random().toString(36).slice(2, 12)}`;

  // Input, pointer or focus: the signs that someone is at the page, as page-ping
  // trackers count them (captured on the window, so scrolls inside elements count too).
  const ACTIVITY_EVENTS = ["keydown", "pointerdown", "pointermove", "wheel", "scroll",
    "touchstart", "focus"];
  const LISTEN = {capture: true, passive: true};
  // The visitor id kept across page loads (localStorage, this origin; never a cookie).
  const VISITOR_KEY = "watchtime.visitorId";
  const VISITOR_ID = /^[A-Za-z0-9_-]{1,64}$/;

  /** This browser's visitor id, made once; null if storage is off or refused. */
  function visitorId(options) {
    if (options.rememberVisitor === false) return null;
    try {
      let id = global.localStorage.getItem(VISITOR_KEY);
      if (!VISITOR_ID.test(id || "")) {
        const bytes = global.crypto.getRandomValues(new Uint8Array(16));
        id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
        global.localStorage.setItem(VISITOR_KEY, id);
      }
      return id;
    } catch (error) {
      return null;  // storage disabled (privacy settings, sandboxed frames)
    }
  }

  /** The server's Retry-After in ms (seconds only, as the gateway sends it); 0 if none. */
  const retryAfterMs = (response) =>
    Number(response && response.headers.get("Retry-After")) * 1000 || 0;

  /** At least Retry-After, spread at random by up to RETRY_AFTER_SPREAD of it. */
  const retryWait = (response) => retryAfterMs(response) * (1 + RETRY_AFTER_SPREAD * Math.random());

  class Client {
    constructor(options) {
      const base = (options.baseUrl || "").replace(/\/+$/, "");
      this.url = `${base}/api/webinars/${encodeURIComponent(options.webinarId)}`;
      this.options = options;
      this.sessionId = null;
      this.tracked = false;   // the server knows sessionId: ping, not track
      this.busy = null;       // the AbortController of the one track or ping in flight
      this.pingSoon = false;  // the visibility changed while a request was in flight
      this.timer = null;
      this.intervalMs = 0;
      this.failures = 0;
      this.holdUntil = 0;     // Date.now() before which a 5xx's Retry-After holds requests
      this.onVisibilityChange = this.onVisibilityChange.bind(this);
      this.leave = this.leave.bind(this);
      this.onPageShow = this.onPageShow.bind(this);
      this.visitorId = visitorId(options);
      this.lastInput = Date.now();  // opening the page is a sign of someone there
      this.reportedActive = true;
      this.onActivity = this.onActivity.bind(this);
    }

    listen() {
      document.addEventListener("visibilitychange", this.onVisibilityChange);
      global.addEventListener("pagehide", this.leave);
      global.addEventListener("pageshow", this.onPageShow);
      for (const name of ACTIVITY_EVENTS) global.addEventListener(name, this.onActivity, LISTEN);
    }

    stop() {
      document.removeEventListener("visibilitychange", this.onVisibilityChange);
      global.removeEventListener("pagehide", this.leave);
      global.removeEventListener("pageshow", this.onPageShow);
      for (const name of ACTIVITY_EVENTS) {
        global.removeEventListener(name, this.onActivity, LISTEN);
      }
      clearTimeout(this.timer);
      if (this.busy) this.busy.abort();
      // The page stays: exit can be sent with fetch and asked again if refused.
      if (this.sessionId) this.fetchExit(this.exitBody(), 1);
      this.sessionId = null;
    }

    /** A fresh session: a new id, then track. */
    begin() {
      this.renew();
      this.failures = 0;
      this.send();
    }

    renew() {
      this.sessionId = newSessionId();
      this.tracked = false;
    }

    /** Ends the session with an exit beacon; a request still in flight is moot. */
    leave() {
      clearTimeout(this.timer);
      if (this.busy) this.busy.abort();
      if (this.sessionId) this.sendExit();
      this.sessionId = null;
    }

    onVisibilityChange() {
      if (!this.sessionId) return;
      // While a refused request waits out its Retry-After, the retry reports the state.
      if (this.busy || Date.now() < this.holdUntil) this.pingSoon = true;
      else this.send();
    }

    // Back from idle: said at once, as a visibility change is, so that the active time
    // starts now rather than at the next heartbeat.
    onActivity() {
      this.lastInput = Date.now();
      if (this.reportedActive || !this.sessionId || !this.tracked) return;
      this.reportedActive = true;
      this.onVisibilityChange();
    }

    /** Visible, and active if someone gave input, pointer or focus within the interval. */
    viewState() {
      const visible = document.visibilityState === "visible";
      const idleMs = Date.now() - this.lastInput;
      this.reportedActive = visible && (idleMs < this.intervalMs || !this.tracked);
      return {is_visible: visible, is_active: this.reportedActive};
    }

    // The page was left with an exit before it went into the back/forward cache.
    onPageShow(event) {
      if (event.persisted && !this.sessionId) this.begin();
    }

    token() {
      const token = this.options.token;
      return typeof token === "function" ? token() : token;
    }

    /** Sends track (until the server knows the session) or ping, never two at once. */
    async send() {
      clearTimeout(this.timer);
      this.pingSoon = false;
      const request = this.tracked ? "ping" : "track";
      const sessionId = this.sessionId;
      const busy = (this.busy = new AbortController());
      const timeout = setTimeout(() => busy.abort(), REQUEST_TIMEOUT_MS);
      let response = null;
      let interval = 0;
      try {
        response = await this.post(request);
        if (response.ok && request === "track") {
          interval = (await response.json()).heartbeat_interval_seconds;
        }
      } catch (error) {
        response = null;  // network error, timeout, or the answer was cut off
      } finally {
        clearTimeout(timeout);
        if (this.busy === busy) this.busy = null;
      }
      if (sessionId !== this.sessionId) return;  // this session ended meanwhile
      const status = response ? response.status : 0;
      if (this.options.onStatus) this.options.onStatus({sessionId, request, status});
      this.answered(request, status, response, interval);
    }

    post(request) {
      const body = {session_id: this.sessionId, view_state: this.viewState()};
      if (this.visitorId) body.visitor_id = this.visitorId;
      if (request === "track") {
        body.agency_id = this.options.agencyId;
        body.client_id = this.options.clientId;
      }
      const headers = {"Content-Type": "application/json"};
      const token = this.token();
      if (token) headers.Authorization = `Bearer ${token}`;
      const path = request === "track" ? "/access/track" : "/presence/ping";
      return fetch(this.url + path, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: this.busy.signal,
      });
    }

    answered(request, status, response, interval) {
      if (status === 409) {
        // The session was closed (or its id is taken): a new one, at once after a
        // ping, after a pause if even a fresh id was refused.
        this.renew();
        if (request === "ping") return this.send();
        return this.retry(response);
      }
      const ok = request === "track" ? status === 200 && interval > 0 : status === 204;
      if (ok) {
        if (request === "track") {
          this.intervalMs = interval * 1000;
          this.tracked = true;
        }
        this.failures = 0;
        return this.schedule();
      }
      // 0 is a network error; any other 4xx (unknown webinar, bad token) is final.
      if (status < 400 || RETRYABLE.has(status) || status >= 500) return this.retry(response);
      this.sessionId = null;  // this page cannot be measured: stop
    }

    /** The next ping: at once if the visibility changed meanwhile, else one interval on. */
    schedule() {
      if (this.pingSoon) return this.send();
      const wait = this.intervalMs * (1 - JITTER * Math.random());
      this.timer = setTimeout(() => this.send(), wait);
    }

    /** The same request after a capped exponential backoff, or the server's Retry-After
     * (429, 503), each spread at random. Sending it again never counts twice: the server
     * credits the time since the last heartbeat it applied, by its own clock. */
    retry(response) {
      const backoff = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.failures);
      this.failures += 1;
      const overloaded = response !== null && response.status >= 500 && retryAfterMs(response) > 0;
      // A visibility change waits for nothing, as it would not between two pings: the
      // server always applies it (429 is for repeats only), and the user's own pace bounds
      // how often it comes; a server that asked for a pause gets it.
      if (this.pingSoon && !overloaded) return this.send();
      const wait = Math.max(retryWait(response), backoff * (0.5 + 0.5 * Math.random()));
      this.holdUntil = overloaded ? Date.now() + wait : 0;
      this.timer = setTimeout(() => this.send(), wait);
    }

    // sendBeacon outlives the page but cannot set headers: the body is text/plain (no
    // CORS preflight either) and carries the token itself.
    sendExit() {
      const text = this.exitBody();
      if (navigator.sendBeacon && navigator.sendBeacon(`${this.url}/access/exit`, text)) return;
      this.fetchExit(text, EXIT_ATTEMPTS);  // the page is going away: no second attempt
    }

    exitBody() {
      const body = {session_id: this.sessionId};
      const token = this.token();
      if (token) body.token = token;
      return JSON.stringify(body);
    }

    /** Exit with fetch; refused for a while (429, 5xx), it is sent again after the
     * server's Retry-After: exit is idempotent. Unsent, the sweeper closes the session. */
    fetchExit(text, attempt) {
      const headers = {"Content-Type": "text/plain"};
      fetch(`${this.url}/access/exit`, {method: "POST", body: text, headers, keepalive: true})
        .then((response) => {
          const refused = response.status === 429 || response.status >= 500;
          if (!refused || attempt >= EXIT_ATTEMPTS) return;
          const wait = Math.max(retryWait(response), RETRY_FIRST_MS * Math.random());
          setTimeout(() => this.fetchExit(text, attempt + 1), wait);
        })
        .catch(() => {});
    }
  }

  /**
   * Starts measuring this page's watch time; returns a controller.
   *
   * options.webinarId  the webinar's UUID (required)
   * options.baseUrl    the gateway's origin, e.g. "https://watch.example.com"; default: this page's
   * options.token      the viewer's JWT, or a function returning the current one; omit for guests
   * options.agencyId, options.clientId   stored with the session (optional)
   * options.rememberVisitor  false: no visitor id; by default a random one is kept in
   *                    localStorage, so a guest's page loads are one person in reports
   * options.onStatus   called with {sessionId, request, status} after every track and ping;
   *                    status is the HTTP status, 0 for a network error or a timeout
   */
  function start(options) {
    if (!options || !options.webinarId) throw new Error("WatchTime.start needs a webinarId");
    const client = new Client(options);
    client.listen();
    client.begin();
    return {
      /** Ends the session (exit) and stops measuring: for single-page apps. */
      stop: () => client.stop(),
      /** The current session id; null between sessions and after stop(). */
      get sessionId() { return client.sessionId; },
    };
  }

  return {start};
})(window);

export default WatchTime;
export const {start} = WatchTime;
