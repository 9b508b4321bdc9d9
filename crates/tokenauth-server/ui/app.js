// The built-in tokenauth web UI: sign up, log in, who am I, sessions. Cookie mode only: the
// tokens live in HttpOnly cookies and tokenauth-client.js keeps them fresh.
'use strict';

(function () {
  const auth = new TokenAuthClient();
  const $ = (id) => document.getElementById(id);

  function show(view) {
    $('loading').hidden = true;
    $('signed-out').hidden = view !== 'signed-out';
    $('signed-in').hidden = view !== 'signed-in';
  }

  function showError(error) {
    $('error').textContent = error ? error.message : '';
    $('error').hidden = !error;
  }

  // Runs an action; errors are shown, except a 401: the `loggedout` event already took over.
  async function run(action) {
    showError(null);
    try {
      await action();
    } catch (error) {
      if (!(error instanceof TokenAuthError && error.status === 401)) showError(error);
    }
  }

  function when(iso) {
    const time = document.createElement('time');
    time.dateTime = iso;
    time.textContent = new Date(iso).toLocaleString();
    return time;
  }

  // "Chrome on Linux" from a User-Agent header; the full header stays in the tooltip.
  function client(userAgent) {
    if (!userAgent) return 'Unknown client';
    const browser = [['Edg/', 'Edge'], ['Firefox/', 'Firefox'], ['Chrome/', 'Chrome'],
      ['Safari/', 'Safari'], ['curl/', 'curl']].find(([mark]) => userAgent.includes(mark));
    const os = [['Android', 'Android'], ['iPhone', 'iOS'], ['iPad', 'iOS'], ['Windows', 'Windows'],
      ['Mac OS X', 'macOS'], ['Linux', 'Linux']].find(([mark]) => userAgent.includes(mark));
    if (!browser) return userAgent.slice(0, 60);
    return os ? browser[1] + ' on ' + os[1] : browser[1];
  }

  function sessionItem(session) {
    const item = document.createElement('li');
    item.dataset.sessionId = session.id;
    const text = document.createElement('div');
    const name = document.createElement('strong');
    name.textContent = client(session.user_agent);
    name.title = session.user_agent || '';
    text.append(name);
    if (session.current) {
      item.classList.add('current');
      item.setAttribute('aria-current', 'true');
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'this session';
      text.append(' ', badge);
    }
    const times = document.createElement('small');
    times.append('Signed in ', when(session.created_at), ' · last used ', when(session.last_used_at));
    text.append(document.createElement('br'), times);
    item.append(text);
    if (!session.current) {
      const revoke = document.createElement('button');
      revoke.type = 'button';
      revoke.className = 'quiet revoke';
      revoke.textContent = 'Revoke';
      revoke.setAttribute('aria-label', 'Revoke the session of ' + name.textContent);
      revoke.addEventListener('click', () => run(async () => {
        await auth.json('/v1/sessions/' + encodeURIComponent(session.id), { method: 'DELETE' });
        await loadSessions();
      }));
      item.append(revoke);
    }
    return item;
  }

  async function loadSessions() {
    const { sessions } = await auth.json('/v1/sessions');
    $('sessions').replaceChildren(...sessions.map(sessionItem));
  }

  async function loadAccount() {
    const { user, claims } = await auth.json('/v1/me');
    $('whoami-email').textContent = user.email;
    $('whoami-id').textContent = user.id;
    $('whoami-roles').textContent = user.roles.length ? user.roles.join(', ') : 'none';
    $('whoami-session').textContent = claims.sid;
    await loadSessions();
    show('signed-in');
  }

  function credentialForm(form, emailInput, passwordInput, call) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      run(async () => {
        await call(emailInput.value, passwordInput.value);
        form.reset();
        await loadAccount();
      });
    });
  }

  auth.addEventListener('loggedout', () => show('signed-out'));
  credentialForm($('login-form'), $('email'), $('password'), (e, p) => auth.login(e, p));
  credentialForm($('signup-form'), $('signup-email'), $('signup-password'),
    (e, p) => auth.signup(e, p));
  $('logout').addEventListener('click', () => run(() => auth.logout()));
  $('logout-all').addEventListener('click', () => run(() => auth.logoutEverywhere()));
  $('sessions-reload').addEventListener('click', () => run(loadSessions));

  // On load: a valid (or refreshable) cookie shows the account, anything else the forms.
  run(loadAccount).then(() => {
    if (!$('loading').hidden) show('signed-out');
  });
})();
