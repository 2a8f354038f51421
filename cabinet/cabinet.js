/*
 * The provider-key cabinet: a plain script over the module's JSON API
 * (byok_api, byok_catalog_api, byok_oauth).  No framework, no build step.
 *
 * Sign-in: the bearer token comes from, in this order,
 *   1. "#token=<JWT>" in the address (development: `make run` prints such a
 *      URL); it is moved to sessionStorage and removed from the address;
 *   2. sessionStorage (the same tab, after a reload);
 *   3. <meta name="byok-token-url">: the host application's endpoint that
 *      answers {"token":"<JWT>"} for its signed-in session (production);
 *      fetched again once when the API answers 401;
 *   4. otherwise the page asks for a token.
 */

'use strict';

(function () {
  var TOKEN_KEY = 'byok.token';
  var HINT_INVALID = 'The key is wrong or expired. Re-paste from the provider dashboard.';

  var conf = {
    api: meta('byok-api', '/me/provider-keys'),
    catalog: meta('byok-catalog', '/catalog'),
    oauth: meta('byok-oauth', '/oauth'),
    tokenUrl: meta('byok-token-url', '')
  };

  var state = {
    token: null,
    catalog: null,
    providers: {},          /* id -> provider, with .category */
    categories: {},         /* id -> category */
    category: null,
    provider: null,
    keys: [],
    testing: {},            /* key id -> true while a test runs */
    busy: false
  };

  var timeFormat = new Intl.DateTimeFormat(undefined,
    { dateStyle: 'medium', timeStyle: 'short' });

  function meta(name, dflt) {
    var m = document.querySelector('meta[name="' + name + '"]');
    var v = m ? m.getAttribute('content') : '';
    return v ? v.replace(/\/+$/, '') || v : dflt;
  }

  function $(id) { return document.getElementById(id); }

  /* h('button', {class: 'btn', onclick: f}, 'text', child, ...) */
  function h(tag, attrs) {
    var el = document.createElement(tag);
    var k, v, i, c;
    attrs = attrs || {};
    for (k in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, k)) continue;
      v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k.slice(0, 2) === 'on') {
        el.addEventListener(k.slice(2), v);
      } else if (k === 'text') {
        el.textContent = v;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (i = 2; i < arguments.length; i++) {
      c = arguments[i];
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    }
    return el;
  }

  function clear(el) {
    while (el.firstChild) el.removeChild(el.firstChild);
    return el;
  }

  function show(el, on) { el.hidden = !on; }

  /* a button that is working: it keeps the focus (disabled would drop it) */
  function busy(btn, on, text) {
    if (on) btn.setAttribute('aria-disabled', 'true');
    else btn.removeAttribute('aria-disabled');
    if (text) btn.textContent = text;
  }

  /* ---------------------------------------------------------------- API */

  function ApiError(status, code, message, field, retryAfter) {
    this.status = status;
    this.code = code;
    this.message = message;
    this.field = field || null;
    this.retryAfter = retryAfter;
  }

  var FIELD_WORDS = {
    value: 'The key',
    label: 'The label',
    category: 'The category',
    provider: 'The provider',
    auth_type: 'The sign-in method',
    ids: 'The new order'
  };

  /* the API's sentence, in words a person uses */
  function plainMessage(status, data, retryAfter) {
    var code = data && data.error;
    var msg = data && typeof data.message === 'string' ? data.message : '';
    var field = data && data.field;

    if (status === 0) {
      return 'The server could not be reached. Check your connection and try again.';
    }
    if (status === 401) {
      return 'You are signed out: the access token is missing, expired or not valid.';
    }
    if (status === 404 && code === 'not_found') {
      return 'This key no longer exists. The list has been refreshed.';
    }
    if (status === 413) {
      return 'That is too long to send.';
    }
    if (status === 429) {
      return 'Too many key tests in a short time. Try again in ' +
        (retryAfter ? retryAfter + ' seconds' : 'a minute') + '.';
    }
    if (status === 503) {
      return 'Your keys cannot be saved right now and nothing was changed. ' +
        'Please try again in a moment.';
    }
    if (field && FIELD_WORDS[field] && msg.indexOf(field + ' ') === 0) {
      return FIELD_WORDS[field] + msg.slice(field.length);
    }
    if (msg) return msg;
    return 'Something went wrong on the server (status ' + status + '). Please try again.';
  }

  function request(method, path, body, auth) {
    var headers = { Accept: 'application/json' };
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (auth && state.token) headers.Authorization = 'Bearer ' + state.token;
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { status: res.status, ok: res.ok, data: data,
                 retryAfter: res.headers.get('Retry-After') };
      });
    }, function () {
      return { status: 0, ok: false, data: null, retryAfter: null };
    });
  }

  function api(method, path, body, retried) {
    return request(method, path, body, true).then(function (r) {
      if (r.ok) return r.data;
      if (r.status === 401 && conf.tokenUrl && !retried) {
        return fetchHostToken().then(function (ok) {
          if (ok) return api(method, path, body, true);
          throw toError(r);
        });
      }
      if (r.status === 401) signedOut();
      throw toError(r);
    });
  }

  function toError(r) {
    var d = r.data || {};
    return new ApiError(r.status, d.error || null,
      plainMessage(r.status, r.data, r.retryAfter), d.field, r.retryAfter);
  }

  /* ------------------------------------------------------------ sign-in */

  function tokenFromFragment() {
    var m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
    if (!m) return null;
    history.replaceState(null, '', location.pathname + location.search);
    try { return decodeURIComponent(m[1]); } catch (e) { return null; }
  }

  function storeToken(t) {
    state.token = t;
    try {
      if (t) sessionStorage.setItem(TOKEN_KEY, t);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch (e) { /* storage disabled: the token lives in memory only */ }
  }

  function fetchHostToken() {
    return request('GET', conf.tokenUrl, undefined, false).then(function (r) {
      var t = r.ok && r.data && typeof r.data.token === 'string' ? r.data.token : null;
      state.token = t;
      return !!t;
    });
  }

  function signedOut(message) {
    storeToken(null);
    show($('whoami'), false);
    show($('wizard'), false);
    show($('keys'), false);
    show($('signout'), false);
    if (conf.tokenUrl) {
      banner('You are signed out. Sign in to the cabinet again, then reload this page.');
      return;
    }
    show($('signin'), true);
    fieldError('token', message === undefined ? plainMessage(401) : message);
  }

  function signedIn(keys) {
    var sub = tokenSubject(state.token);
    banner(null);
    show($('signin'), false);
    show($('wizard'), true);
    show($('keys'), true);
    show($('signout'), !conf.tokenUrl);
    $('whoami').textContent = sub ? 'Signed in as ' + sub : '';
    show($('whoami'), !!sub);
    if (keys) renderKeys(keys);
    else loadKeys();
  }

  function start() {
    var t = tokenFromFragment();

    bindStatic();
    loadCatalog();

    if (conf.tokenUrl) {
      /*
       * production: only the host's session decides who is signed in, so
       * a link carrying someone else's token cannot sign a user in to an
       * account that is not theirs
       */
      storeToken(null);
      fetchHostToken().then(function (ok) {
        if (ok) signedIn();
        else banner('You are signed out. Sign in to the cabinet again, then reload this page.');
      });
      return;
    }

    if (!t) {
      try { t = sessionStorage.getItem(TOKEN_KEY); } catch (e) { t = null; }
    }

    /* a sign-in URL opened in a tab that already shows the page */
    window.addEventListener('hashchange', function () {
      var t2 = tokenFromFragment();
      if (t2) {
        storeToken(t2);
        signedIn();
      }
    });

    if (t) {
      storeToken(t);
      signedIn();
    } else {
      signedOut(null);
    }
  }

  /* the token's subject, shown so that a user sees whose keys these are */
  function tokenSubject(t) {
    var part = (t || '').split('.')[1];
    var json;
    if (!part) return null;
    try {
      json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
      json = decodeURIComponent(Array.prototype.map.call(json, function (c) {
        return '%' + ('0' + c.charCodeAt(0).toString(16)).slice(-2);
      }).join(''));
      json = JSON.parse(json);
    } catch (e) {
      return null;
    }
    return json && typeof json.sub === 'string' ? json.sub : null;
  }

  function bindStatic() {
    $('signin-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      var t = $('token').value.trim().replace(/^Bearer\s+/i, '');
      fieldError('token', null);
      if (!t) {
        fieldError('token', 'Paste your access token first.');
        $('token').focus();
        return;
      }
      storeToken(t);
      $('token').value = '';
      api('GET', conf.api).then(function (data) {
        signedIn(data.keys || []);
        $('wizard-h').focus();
      }, function (err) {
        if (err.status !== 401) fieldError('token', err.message);
        $('token').focus();
      });
    });

    $('signout').addEventListener('click', function () {
      signedOut(null);
      $('token').focus();
    });

    $('key-form').addEventListener('submit', function (ev) {
      ev.preventDefault();
      saveKey();
    });

    $('oauth-btn').addEventListener('click', startOAuth);

    $('show-revoked').addEventListener('change', function () { loadKeys(); });

    ['key-value', 'key-label', 'token'].forEach(function (id) {
      $(id).addEventListener('input', function () {
        fieldError(id === 'key-value' ? 'key' : id === 'key-label' ? 'label' : 'token', null);
      });
    });
  }

  /* ------------------------------------------------------------- errors */

  function banner(text) {
    var b = $('banner');
    b.textContent = text || '';
    show(b, !!text);
  }

  /* fieldError('key', 'message') — the message sits under the field */
  function fieldError(name, text) {
    var err = $(name + '-error');
    var input = { key: $('key-value'), label: $('key-label'), token: $('token') }[name];
    err.textContent = text || '';
    show(err, !!text);
    if (input) {
      if (text) input.setAttribute('aria-invalid', 'true');
      else input.removeAttribute('aria-invalid');
    }
  }

  /* -------------------------------------------------------------- steps */

  function loadCatalog() {
    request('GET', conf.catalog, undefined, false).then(function (r) {
      if (!r.ok || !r.data || !r.data.categories) {
        banner('The list of providers could not be loaded. ' + plainMessage(r.status, r.data));
        return;
      }
      state.catalog = r.data;
      r.data.categories.forEach(function (c) {
        state.categories[c.id] = c;
        c.providers.forEach(function (p) {
          p.category = c.id;
          state.providers[p.id] = p;
        });
      });
      renderTiles();
      if (state.keys.length) renderKeys(state.keys);
    });
  }

  function renderTiles() {
    var tiles = clear($('tiles'));
    state.catalog.categories.forEach(function (c) {
      tiles.appendChild(h('button', {
        type: 'button', class: 'tile', 'data-category': c.id,
        'aria-expanded': 'false', 'aria-controls': 'step2',
        onclick: function () { pickCategory(c.id); }
      },
      h('span', { class: 'tile-name', text: c.name }),
      h('span', { class: 'tile-examples',
                  text: c.providers.map(function (p) { return p.name; }).join(', ') })));
    });
  }

  function pickCategory(id) {
    var c = state.categories[id];
    var cards = clear($('cards'));
    state.category = id;
    state.provider = null;

    Array.prototype.forEach.call($('tiles').children, function (t) {
      t.setAttribute('aria-expanded', t.getAttribute('data-category') === id ? 'true' : 'false');
    });

    c.providers.forEach(function (p) {
      var methods = p.auth_methods.indexOf('oauth') >= 0 ? 'API key or OAuth' : 'API key';
      cards.appendChild(h('button', {
        type: 'button', class: 'card', 'data-provider': p.id, 'aria-pressed': 'false',
        onclick: function () { pickProvider(p.id); }
      },
      h('span', { class: 'card-name', text: p.name }),
      h('span', { class: 'card-meta', text: methods }),
      h('span', { class: 'card-meta', text: p.testable ? 'Tested when saved' : 'No test available' })));
    });

    show($('step2'), true);
    show($('step3'), false);
    $('step2-h').focus();
  }

  function pickProvider(id) {
    var p = state.providers[id];
    var help = clear($('key-help'));
    state.provider = id;

    Array.prototype.forEach.call($('cards').children, function (c) {
      c.setAttribute('aria-pressed', c.getAttribute('data-provider') === id ? 'true' : 'false');
    });

    $('provider-name').textContent = p.name;
    $('key-value').value = '';
    $('key-value').placeholder = p.key_hint ? p.key_hint + '…' : '';
    $('key-label').value = '';
    fieldError('key', null);
    fieldError('label', null);
    fieldError('form', null);
    clear($('result'));
    clear($('oauth-notice'));

    if (p.key_hint) {
      help.appendChild(document.createTextNode('Starts with '));
      help.appendChild(h('code', { text: p.key_hint }));
      help.appendChild(document.createTextNode('. '));
    }
    if (p.docs_url) {
      help.appendChild(h('a', { href: p.docs_url, target: '_blank', rel: 'noopener noreferrer' },
        'Where to find your ' + p.name + ' key',
        h('span', { class: 'visually-hidden', text: ' (opens in a new tab)' })));
    }
    if (!p.testable) {
      help.appendChild(document.createTextNode((p.docs_url ? '. ' : '') +
        p.name + ' has no test request: the key is saved untested.'));
    }

    show($('oauth'), p.auth_methods.indexOf('oauth') >= 0);
    show($('step3'), true);
    $('step3-h').focus();
  }

  function startOAuth() {
    var p = state.providers[state.provider];
    var notice = clear($('oauth-notice'));
    var btn = $('oauth-btn');
    if (btn.getAttribute('aria-disabled') === 'true') return;
    busy(btn, true);
    request('GET', conf.oauth + '/' + encodeURIComponent(p.id) + '/start', undefined, false)
      .then(function (r) {
        var d = r.data || {};
        busy(btn, false);
        if (r.ok && d.url) {
          location.assign(d.url);
          return;
        }
        if (r.status === 501 && d.error === 'oauth_not_available') {
          notice.appendChild(h('strong', { text: d.message || 'OAuth is not available yet.' }));
          notice.appendChild(document.createTextNode(
            ' ' + p.name + ' has no public OAuth sign-in yet. Paste an API key from the ' +
            p.name + ' console below for now.'));
        } else {
          notice.appendChild(document.createTextNode(plainMessage(r.status, r.data)));
        }
      });
  }

  function saveKey() {
    var p = state.providers[state.provider];
    var value = $('key-value').value.trim();
    var label = $('key-label').value.trim();
    var body, save = $('save');

    if (state.busy) return;
    fieldError('key', null);
    fieldError('label', null);
    fieldError('form', null);
    clear($('result'));

    if (!value) {
      fieldError('key', 'Paste the key first.');
      $('key-value').focus();
      return;
    }

    body = { category: p.category, provider: p.id, auth_type: 'api_key', value: value };
    if (label) body.label = label;

    state.busy = true;
    busy(save, true, 'Saving…');

    api('POST', conf.api, body).then(function (key) {
      $('key-value').value = '';
      $('key-label').value = '';
      state.busy = false;
      busy(save, false, 'Save key');
      showResult(key, null);
      loadKeys();
      runWizardTest(key);
    }, function (err) {
      state.busy = false;
      busy(save, false, 'Save key');
      if (err.status === 401) return;
      if (err.field === 'value') {
        fieldError('key', err.message);
        $('key-value').focus();
      } else if (err.field === 'label') {
        fieldError('label', err.message);
        $('key-label').focus();
      } else {
        fieldError('form', err.message);
        $('save').focus();
      }
    });
  }

  function runWizardTest(key) {
    state.testing[key.id] = true;
    showResult(key, 'testing');
    testKey(key.id).then(function (res) {
      delete state.testing[key.id];
      showResult(key, res);
      loadKeys();
    }, function (err) {
      delete state.testing[key.id];
      showResult(key, { error: err });
      loadKeys();
    });
  }

  /* the wizard's outcome: saved, then the test result as a pill */
  function showResult(key, test) {
    var box = clear($('result'));
    box.setAttribute('data-key', key.id);
    var name = key.label ? '“' + key.label + '” (' + key.masked + ')' : key.masked;
    var line = h('p', { class: 'result-line' },
      h('span', { class: 'result-saved', text: 'Saved ' + name + '.' }));

    box.appendChild(line);
    if (!test) return;

    if (test === 'testing') {
      line.appendChild(pill('testing'));
      return;
    }
    if (test.error) {
      line.appendChild(pill('error'));
      box.appendChild(h('p', { class: 'hint', text: 'The test was not run: ' + test.error.message }));
      return;
    }
    line.appendChild(pill(test.result));
    box.appendChild(h('p', { class: 'hint', text: testHint(test) }));
  }

  function testHint(t) {
    switch (t.result) {
    case 'valid':
      return 'The provider accepted the key' +
        (t.latency_ms !== undefined ? ' in ' + t.latency_ms + ' ms.' : '.');
    case 'invalid':
      return HINT_INVALID;
    case 'skipped':
      return 'This provider has no cheap test request, so the key was saved untested.';
    default:
      return t.status
        ? 'The provider answered with status ' + t.status + '. Try the test again later.'
        : 'The provider could not be reached. Try the test again later.';
    }
  }

  var PILLS = {
    valid: ['pill-valid', 'Valid'],
    invalid: ['pill-invalid', 'Invalid'],
    error: ['pill-error', 'Test failed'],
    skipped: ['pill-skipped', 'No test available'],
    testing: ['pill-testing', 'Testing…'],
    none: ['pill-none', 'Not tested']
  };

  function pill(result) {
    var p = PILLS[result] || PILLS.error;
    return h('span', { class: 'pill ' + p[0], 'data-result': result, text: p[1] });
  }

  function testKey(id) {
    return api('POST', conf.api + '/' + id + '/test', undefined);
  }

  /* ------------------------------------------------------------- the list */

  var loadSeq = 0;

  function loadKeys(focus) {
    var q = $('show-revoked').checked ? '?include_revoked=1' : '';
    var seq = ++loadSeq;
    return api('GET', conf.api + q).then(function (data) {
      if (seq !== loadSeq) return;          /* a newer answer is coming */
      show($('keys-error'), false);
      renderKeys(data.keys || [], focus);
    }, function (err) {
      if (err.status === 401) return;
      $('keys-error').textContent = 'Your keys could not be loaded. ' + err.message;
      show($('keys-error'), true);
    });
  }

  var HEALTH = {
    active: 'Active',
    revoked: 'Revoked',
    invalid: 'Invalid key',
    exhausted: 'Quota used up',
    cooldown: 'Cooling down'
  };

  function keyName(k) {
    return k.label ? '“' + k.label + '” (' + k.masked + ')' : k.masked;
  }

  function renderKeys(keys, focus) {
    var list = clear($('keys-list'));
    var groups = [], byProvider = {};

    state.keys = keys;

    keys.forEach(function (k) {
      if (!byProvider[k.provider]) {
        byProvider[k.provider] = { provider: k.provider, live: [], revoked: [] };
        groups.push(byProvider[k.provider]);
      }
      byProvider[k.provider][k.status === 'revoked' ? 'revoked' : 'live'].push(k);
    });

    if (!groups.length) {
      list.appendChild(h('p', { class: 'empty',
        text: 'No keys yet. Add one above: agents then use it instead of platform credits.' }));
      return;
    }

    groups.forEach(function (g) { list.appendChild(renderGroup(g)); });

    if (focus) {
      var el = list.querySelector(focus);
      if (el && !el.disabled) el.focus();
      else if (el) {
        var alt = el.parentNode.querySelector('button:not([disabled])');
        (alt || $('keys-h')).focus();
      } else {
        $('keys-h').focus();
      }
    }
  }

  function renderGroup(g) {
    var p = state.providers[g.provider];
    var name = p ? p.name : g.provider;
    var cat = p && state.categories[p.category] ? state.categories[p.category].name : '';
    var hid = 'g-' + g.provider;
    var inUse = null;
    var tbody = h('tbody');

    /* which key agents use: worth saying when there is a choice */
    g.live.forEach(function (k) {
      if (!inUse && k.status === 'active' && g.live.length > 1) inUse = k;
    });

    g.live.forEach(function (k, i) {
      tbody.appendChild(renderRow(g, k, i, k === inUse));
    });
    g.revoked.forEach(function (k) {
      tbody.appendChild(renderRow(g, k, -1, false));
    });

    return h('section', { class: 'group', 'aria-labelledby': hid, 'data-provider': g.provider },
      h('div', { class: 'group-head' },
        h('h3', { id: hid, text: name }),
        cat ? h('span', { class: 'tag', text: cat }) : null),
      h('table', { class: 'keys' },
        h('caption', { class: 'visually-hidden', text: name + ' keys, in the order agents use them' }),
        h('thead', null, h('tr', null,
          h('th', { scope: 'col', class: 'c-order', text: 'Order' }),
          h('th', { scope: 'col', class: 'c-key', text: 'Key' }),
          h('th', { scope: 'col', class: 'c-label', text: 'Label' }),
          h('th', { scope: 'col', class: 'c-test', text: 'Last test' }),
          h('th', { scope: 'col', class: 'c-health', text: 'Health' }),
          h('th', { scope: 'col', class: 'c-rent' }, 'Rentable ', h('span', { class: 'soon', text: 'soon' })),
          h('th', { scope: 'col', class: 'c-actions' },
            h('span', { class: 'visually-hidden', text: 'Actions' })))),
        tbody));
  }

  function renderRow(g, k, i, inUse) {
    var revoked = k.status === 'revoked';
    var name = keyName(k);
    var n = g.live.length;
    var t = k.last_test;
    var tipId = 'rent-tip-' + k.id;
    var testCell;

    if (state.testing[k.id]) {
      testCell = [pill('testing')];
    } else if (t) {
      testCell = [pill(t.result), ' ',
        h('time', { datetime: t.at, class: 'when', text: formatTime(t.at) })];
      if (t.result === 'invalid') {
        testCell.push(h('span', { class: 'row-hint', text: HINT_INVALID }));
      }
    } else {
      testCell = [pill(state.providers[k.provider] && !state.providers[k.provider].testable
                       ? 'skipped' : 'none')];
    }

    return h('tr', { 'data-id': k.id, class: revoked ? 'revoked' : null },
      h('td', { 'data-label': 'Order', class: 'order' },
        revoked ? h('span', { class: 'rank', text: '–' }) :
          h('span', { class: 'rank', text: String(i + 1) }),
        revoked ? null : h('button', {
          type: 'button', class: 'btn-icon', 'data-action': 'up',
          'aria-label': 'Move ' + name + ' up', disabled: i === 0,
          onclick: function () { move(g, i, -1, k.id, 'up'); }
        }, arrow('up')),
        revoked ? null : h('button', {
          type: 'button', class: 'btn-icon', 'data-action': 'down',
          'aria-label': 'Move ' + name + ' down', disabled: i === n - 1,
          onclick: function () { move(g, i, 1, k.id, 'down'); }
        }, arrow('down'))),
      h('td', { 'data-label': 'Key' }, h('div', { class: 'key-body' },
        h('code', { class: 'masked', text: k.masked }),
        inUse ? h('span', { class: 'in-use', text: 'in use' }) : null)),
      k.label ? h('td', { 'data-label': 'Label', text: k.label })
        : h('td', { 'data-label': 'Label', class: 'muted' },
            h('span', { 'aria-hidden': 'true', text: '—' }),
            h('span', { class: 'visually-hidden', text: 'No label' })),
      h('td', { 'data-label': 'Last test', class: 'test' },
        h.apply(null, ['div', { class: 'test-body' }].concat(testCell))),
      h('td', { 'data-label': 'Health' },
        h('span', { class: 'health health-' + k.status, text: HEALTH[k.status] || k.status })),
      h('td', { 'data-label': 'Rentable' },
        h('span', { class: 'tip-wrap' },
          h('button', {
            type: 'button', role: 'switch', class: 'switch', 'aria-checked': 'false',
            'aria-disabled': 'true', 'aria-label': 'Rentable: ' + name,
            'aria-describedby': tipId, 'data-action': 'rentable',
            /* disabled: a click or tap only shows why */
            onclick: function (ev) {
              ev.preventDefault();
              ev.currentTarget.parentNode.classList.add('tip-open');
            },
            onblur: function (ev) { ev.currentTarget.parentNode.classList.remove('tip-open'); }
          }, h('span', { class: 'switch-knob' })),
          h('span', { role: 'tooltip', id: tipId, class: 'tip',
                      text: 'Coming soon: rent unused quota to other users.' }))),
      h('td', { class: 'actions' },
        revoked ? null : h('button', {
          type: 'button', class: 'btn btn-small btn-secondary', 'data-action': 'test',
          'aria-label': 'Test ' + name,
          'aria-disabled': state.testing[k.id] ? 'true' : null,
          onclick: function () { retest(k); }
        }, 'Test'),
        revoked ? null : h('button', {
          type: 'button', class: 'btn btn-small btn-danger-quiet', 'data-action': 'revoke',
          'aria-label': 'Revoke ' + name,
          onclick: function (ev) { revoke(k, ev.currentTarget); }
        }, 'Revoke')));
  }

  function arrow(dir) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    var path = document.createElementNS(ns, 'path');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('width', '16');
    svg.setAttribute('height', '16');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('focusable', 'false');
    path.setAttribute('d', dir === 'up' ? 'M8 3 L13 9 H9.5 V13 H6.5 V9 H3 Z'
                                        : 'M8 13 L3 7 H6.5 V3 H9.5 V7 H13 Z');
    path.setAttribute('fill', 'currentColor');
    svg.appendChild(path);
    return svg;
  }

  function formatTime(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? iso : timeFormat.format(d);
  }

  function announce(text) {
    var s = $('keys-status');
    s.textContent = '';
    setTimeout(function () { s.textContent = text; }, 50);
  }

  function listError(text) {
    $('keys-error').textContent = text;
    show($('keys-error'), !!text);
  }

  function move(g, i, delta, id, dir) {
    var ids = g.live.map(function (k) { return k.id; });
    var j = i + delta;
    var tmp;
    if (j < 0 || j >= ids.length) return;
    tmp = ids[i]; ids[i] = ids[j]; ids[j] = tmp;
    listError(null);
    api('PUT', conf.api + '/order', { provider: g.provider, ids: ids }).then(function () {
      var k = g.live[i];
      announce('Moved ' + keyName(k) + ' to position ' + (j + 1) + ' of ' + ids.length + '.');
      return loadKeys('tr[data-id="' + id + '"] [data-action="' + dir + '"]');
    }, function (err) {
      if (err.status === 401) return;
      listError(err.code === 'validation_failed'
        ? 'The keys changed in another window, so the list was refreshed. Try again.'
        : err.message);
      loadKeys();
    });
  }

  function retest(k) {
    if (state.testing[k.id]) return;
    state.testing[k.id] = true;
    renderKeys(state.keys, 'tr[data-id="' + k.id + '"] [data-action="test"]');
    announce('Testing ' + keyName(k) + '…');
    testKey(k.id).then(function (res) {
      delete state.testing[k.id];
      announce('Test of ' + keyName(k) + ': ' + PILLS[res.result][1] + '. ' + testHint(res));
      return loadKeys('tr[data-id="' + k.id + '"] [data-action="test"]');
    }, function (err) {
      delete state.testing[k.id];
      if (err.status === 401) return;
      listError(err.message);
      announce(err.message);
      loadKeys('tr[data-id="' + k.id + '"] [data-action="test"]');
    });
  }

  function confirmRevoke(k) {
    var dlg = $('confirm');
    var text = clear($('confirm-text'));
    text.appendChild(document.createTextNode(
      'Agents stop using ' + (k.label ? '“' + k.label + '” ' : '')));
    text.appendChild(h('code', { class: 'masked', text: k.masked }));
    text.appendChild(document.createTextNode(
      ' at once. The row stays in the list of revoked keys for the record; ' +
      'this cannot be undone.'));
    return new Promise(function (resolve) {
      function done(ok) {
        $('confirm-ok').removeEventListener('click', yes);
        $('confirm-cancel').removeEventListener('click', no);
        dlg.removeEventListener('cancel', no);
        if (dlg.open) dlg.close();
        resolve(ok);
      }
      function yes() { done(true); }
      function no(ev) { if (ev) ev.preventDefault(); done(false); }
      $('confirm-ok').addEventListener('click', yes);
      $('confirm-cancel').addEventListener('click', no);
      dlg.addEventListener('cancel', no);
      dlg.showModal();
      $('confirm-cancel').focus();
    });
  }

  function revoke(k, button) {
    confirmRevoke(k).then(function (ok) {
      if (!ok) {
        button.focus();
        return;
      }
      listError(null);
      api('DELETE', conf.api + '/' + k.id).then(function () {
        announce('Revoked ' + keyName(k) + '. Agents no longer use it.');
        if ($('result').getAttribute('data-key') === String(k.id)) clear($('result'));
        return loadKeys('#keys-h');
      }, function (err) {
        if (err.status === 401) return;
        listError(err.message);
        loadKeys('#keys-h');
      });
    });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
