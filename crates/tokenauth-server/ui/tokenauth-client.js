/*
 * tokenauth-client.js: a tiny browser client for tokenauth's cookie mode. Copy it into your app;
 * it has no dependencies and needs no build step.
 *
 * In cookie mode the server keeps the access and refresh tokens in HttpOnly cookies, so page
 * scripts never see a token. This client:
 *   - sends every request with `X-Token-Transport: cookie` (the server refuses state-changing
 *     cookie requests without it: CSRF protection) and with the cookies
 *     (`credentials: 'same-origin'`, or 'include' when `baseUrl` is another origin, which the
 *     server must list in `cors_allowed_origins`);
 *   - refreshes the access token by itself at 80 % of its lifetime, counted from the last
 *     sign-up, login or refresh answer;
 *   - when a request still meets a 401 `token_expired`, refreshes once and retries it once
 *     (request bodies must therefore be strings, FormData or the like, not streams);
 *   - runs at most one refresh at a time: concurrent callers share it (two tabs refreshing
 *     together are fine too: the server answers both with the same new token);
 *   - fires a `loggedout` event (event.detail.reason) when the session is gone: a refresh was
 *     refused, a request met any other 401, or logout()/logoutEverywhere() succeeded.
 *
 *   const auth = new TokenAuthClient();              // or { baseUrl: 'https://auth.example.com' }
 *   auth.addEventListener('loggedout', showLoginForm);
 *   await auth.login(email, password);               // resolves to the server's JSON answer
 *   const me = await auth.json('/v1/me');            // throws TokenAuthError on an error answer
 *   const res = await auth.fetch('/v1/sessions');    // the raw Response, with refresh and retry
 *   await auth.logout();
 */
(function (global) {
  'use strict';

  /** An error answer of the server (problem+json): HTTP status, machine code, human detail. */
  class TokenAuthError extends Error {
    constructor(status, code, detail) {
      super(detail || code || 'HTTP ' + status);
      this.name = 'TokenAuthError';
      this.status = status;
      this.code = code;
    }
  }

  async function problemOf(response) {
    try {
      const body = await response.clone().json();
      return { code: body.error || '', detail: body.detail || body.title || '' };
    } catch (_) {
      return { code: '', detail: '' };
    }
  }

  class TokenAuthClient extends EventTarget {
    /** options.baseUrl: the server's URL (default: this page's origin); options.refreshRatio. */
    constructor(options = {}) {
      super();
      this.baseUrl = (options.baseUrl || '').replace(/\/+$/, '');
      const origin = new URL(this.baseUrl || '/', global.location.href).origin;
      this.credentials = origin === global.location.origin ? 'same-origin' : 'include';
      this.refreshRatio = options.refreshRatio || 0.8;
      this.timer = null;
      this.inflight = null;
    }

    /** One request with the cookies and the transport header; no refresh, no retry. */
    send(path, init = {}) {
      const headers = new Headers(init.headers);
      headers.set('X-Token-Transport', 'cookie');
      return global.fetch(this.baseUrl + path, {
        ...init,
        headers,
        credentials: this.credentials,
      });
    }

    /** Like fetch(): refreshes and retries once on 401 token_expired. */
    async fetch(path, init = {}) {
      let response = await this.send(path, init);
      if (response.status === 401 && (await problemOf(response)).code === 'token_expired') {
        if (!(await this.refresh())) return response;
        response = await this.send(path, init);
      }
      if (response.status === 401) this.loggedOut((await problemOf(response)).code);
      return response;
    }

    /** fetch() that resolves to the parsed JSON body (null for 204) or throws TokenAuthError. */
    async json(path, init = {}) {
      return this.parse(await this.fetch(path, init));
    }

    async parse(response) {
      if (!response.ok) {
        const problem = await problemOf(response);
        throw new TokenAuthError(response.status, problem.code, problem.detail);
      }
      return response.status === 204 ? null : response.json();
    }

    /**
     * Rotates the tokens now. Resolves to true when the session lives on, false when it is
     * gone (and `loggedout` was fired); rejects on a network or server failure. Concurrent calls
     * share one request.
     */
    refresh() {
      if (!this.inflight) {
        this.inflight = this.send('/v1/refresh', { method: 'POST' })
          .then(async (response) => {
            if (response.status === 401) {
              this.loggedOut((await problemOf(response)).code);
              return false;
            }
            this.started(await this.parse(response));
            this.dispatchEvent(new CustomEvent('refreshed'));
            return true;
          })
          .finally(() => {
            this.inflight = null;
          });
      }
      return this.inflight;
    }

    signup(email, password) {
      return this.credential('/v1/signup', email, password);
    }

    login(email, password) {
      return this.credential('/v1/login', email, password);
    }

    async credential(path, email, password) {
      const response = await this.send(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ email, password }),
      });
      return this.started(await this.parse(response));
    }

    /** Ends this session. */
    async logout() {
      await this.json('/v1/logout', { method: 'POST' });
      this.loggedOut('logout');
    }

    /** Ends every session of the user, this one included. */
    async logoutEverywhere() {
      await this.json('/v1/sessions', { method: 'DELETE' });
      this.loggedOut('logout');
    }

    /** Schedules the next refresh from a token answer (its `expires_in`, in seconds). */
    started(answer) {
      clearTimeout(this.timer);
      const delay = Math.min(answer.expires_in * 1000 * this.refreshRatio, 2 ** 31 - 1);
      this.timer = setTimeout(() => this.refresh().catch(() => {}), delay);
      return answer;
    }

    loggedOut(reason) {
      clearTimeout(this.timer);
      this.timer = null;
      this.dispatchEvent(new CustomEvent('loggedout', { detail: { reason } }));
    }
  }

  global.TokenAuthClient = TokenAuthClient;
  global.TokenAuthError = TokenAuthError;
})(window);
