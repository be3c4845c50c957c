// Types of the browser client (watchtime.mjs, and the WatchTime global of watchtime.js).

/** What the client reports after every track and ping. */
export interface Status {
  /** The session the request was for. */
  sessionId: string;
  request: "track" | "ping";
  /** The HTTP status; 0 for a network error or a timeout. */
  status: number;
}

export interface Options {
  /** The webinar's UUID. */
  webinarId: string;
  /** The gateway's origin, e.g. "https://watch.example.com"; default: this page's. */
  baseUrl?: string;
  /** The viewer's JWT, or a function returning the current one; omit for guests. */
  token?: string | null | (() => string | null | undefined);
  /** Stored with the session (64 characters at most). */
  agencyId?: string;
  /** Stored with the session (64 characters at most). */
  clientId?: string;
  /** false: send no visitor id. By default a random one is kept in localStorage, so a
   *  guest's page loads are one person in reports. */
  rememberVisitor?: boolean;
  /** Called after every track and ping. */
  onStatus?: (status: Status) => void;
}

export interface Controller {
  /** Ends the session (exit) and stops measuring: for single-page apps. */
  stop(): void;
  /** The current session id; null between sessions and after stop(). */
  readonly sessionId: string | null;
}

/** Starts measuring this page's watch time. */
export declare function start(options: Options): Controller;

declare const WatchTime: { start: typeof start };
export default WatchTime;

/** With the script tag, the same functions are the global `WatchTime`. */
export as namespace WatchTime;
