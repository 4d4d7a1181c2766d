/* ABParts Assistant admin console. No framework; every server-provided string is inserted with textContent. */
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  var state = { token: sessionStorage.getItem('abpa-admin-token') || '', me: null, polls: {}, escId: null };
  var $ = function (id) { return document.getElementById(id); };

  function h(tag, attrs, kids) {
    var el = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v == null || v === false) return;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.slice(0, 2) === 'on') el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    });
    (kids || []).forEach(function (c) { if (c != null) el.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return el;
  }
  function s(tag, attrs) {
    var el = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { if (k === 'text') el.textContent = attrs[k]; else el.setAttribute(k, attrs[k]); });
    return el;
  }
  function toast(msg, bad) {
    var t = $('toast');
    t.textContent = msg; t.className = 'toast' + (bad ? ' bad' : ''); t.hidden = false;
    clearTimeout(toast.timer); toast.timer = setTimeout(function () { t.hidden = true; }, 4000);
  }
  function fmtDate(v) { if (!v) return ''; var d = new Date(v); return isNaN(d) ? String(v) : d.toLocaleString(); }
  function pct(v) { return v == null ? '—' : (Math.round(Number(v) * 1000) / 10) + ' %'; }
  function list(j, keys) {
    if (Array.isArray(j)) return j;
    for (var i = 0; i < keys.length; i++) if (j && Array.isArray(j[keys[i]])) return j[keys[i]];
    return [];
  }

  // ---------------------------------------------------------------- API
  function api(method, path, body) {
    var opts = { method: method, headers: { Authorization: 'Bearer ' + state.token, Accept: 'application/json' } };
    if (body !== undefined) { opts.headers['Content-Type'] = 'application/json'; opts.body = JSON.stringify(body); }
    return fetch(path, opts).then(function (r) {
      return r.text().then(function (t) {
        var j = null; try { j = t ? JSON.parse(t) : null; } catch (e) { j = null; }
        if (!r.ok) {
          var err = new Error((j && j.error && j.error.message) || ('HTTP ' + r.status));
          err.status = r.status; err.code = j && j.error && j.error.code;
          if (r.status === 401) logout('Your session has expired. Sign in again.');
          throw err;
        }
        return j;
      });
    });
  }
  // Document files need the bearer token: fetch, then show from a blob (PDF as PDF, the server's readable page of a
  // manual (/view, escaped text under a no-script policy) as HTML, anything else as plain text).
  function openDoc(e) {
    e.preventDefault();
    var url = e.currentTarget.getAttribute('href'), hash = url.indexOf('#') >= 0 ? url.slice(url.indexOf('#')) : '';
    var path = url.replace(/#.*$/, '');
    var win = window.open('', '_blank');
    if (win) win.opener = null;
    fetch(/\/view$/.test(path) && hash.length > 1 ? path + '?at=' + hash.slice(1) : path, { headers: { Authorization: 'Bearer ' + state.token } })
      .then(function (r) { if (!r.ok) throw new Error('HTTP ' + r.status); return r.blob(); })
      .then(function (b) {
        var type = /pdf/.test(b.type) ? 'application/pdf'
          : /\/view$/.test(path) && /^text\/html/.test(b.type) ? 'text/html;charset=utf-8' : 'text/plain;charset=utf-8';
        var u = URL.createObjectURL(new Blob([b], { type: type })) + hash;
        if (win) win.location.href = u;
      }).catch(function (err) { if (win) win.close(); toast('Could not open the document: ' + err.message, true); });
  }
  // API paths are made relative to the console (so it works under a root path such as /ai); nothing else is linked.
  function relative(u) { u = String(u || '').replace(/^\/+/, ''); return /^api\/[\w\/.#=%-]*$/.test(u) ? u : null; }
  function fail(where) { return function (e) { toast(where + ': ' + (e.status === 404 ? 'not available on this server yet' : e.message), true); }; }

  // Multipart upload with XHR so the browser reports upload progress.
  function upload(method, path, form, onProgress) {
    return new Promise(function (resolve, reject) {
      var x = new XMLHttpRequest();
      x.open(method, path);
      x.setRequestHeader('Authorization', 'Bearer ' + state.token);
      x.upload.onprogress = function (e) { if (e.lengthComputable) onProgress(e.loaded / e.total); };
      x.onload = function () {
        var j = null; try { j = JSON.parse(x.responseText); } catch (e) { j = null; }
        if (x.status >= 200 && x.status < 300) resolve(j || {});
        else reject(new Error((j && j.error && j.error.message) || ('HTTP ' + x.status)));
      };
      x.onerror = function () { reject(new Error('network error')); };
      x.send(form);
    });
  }

  // ---------------------------------------------------------------- login
  function showApp(on) {
    $('login').hidden = on; $('tabs').hidden = !on; $('user').hidden = !on;
    if (!on) document.querySelectorAll('[role=tabpanel]').forEach(function (p) { p.hidden = true; });
  }
  function login(token) {
    state.token = token.trim();
    $('login-error').textContent = '';
    return api('GET', 'api/me').then(function (me) {
      if (!me || (me.role !== 'admin' && me.role !== 'support')) throw new Error('This token has the role "' + (me && me.role) + '"; admin or support is needed.');
      state.me = me;
      sessionStorage.setItem('abpa-admin-token', state.token);
      $('user-name').textContent = (me.name || me.id) + ' · ' + me.role;
      showApp(true);
      select(location.hash.slice(1) || 'manuals');
    }).catch(function (e) {
      state.token = ''; sessionStorage.removeItem('abpa-admin-token');
      showApp(false);
      $('login-error').textContent = e.status === 401 ? 'The token was not accepted: ' + e.message : e.message;
    });
  }
  function logout(msg) {
    state.token = ''; state.me = null; sessionStorage.removeItem('abpa-admin-token');
    Object.keys(state.polls).forEach(function (k) { clearTimeout(state.polls[k]); });
    stopQueue();
    showApp(false);
    if (msg) $('login-error').textContent = msg;
  }
  $('login-form').addEventListener('submit', function (e) { e.preventDefault(); login($('token').value); });
  $('logout').addEventListener('click', function () { logout(''); $('token').focus(); });
  // Development servers mint tokens at demo/token; in production that path is a 404 and the button stays hidden.
  fetch('demo/token?user=demo-admin&name=Demo%20Admin&role=admin', { method: 'GET' }).then(function (r) {
    if (!r.ok) return;
    $('demo-login').hidden = false;
    $('demo-login').addEventListener('click', function () {
      fetch('demo/token?user=demo-admin&name=Demo%20Admin&role=admin').then(function (r) { return r.json(); })
        .then(function (j) { $('token').value = j.token; login(j.token); });
    });
  }).catch(function () { /* not a development server */ });

  // ---------------------------------------------------------------- tabs (WAI-ARIA tabs pattern)
  var TABS = ['manuals', 'search', 'escalations', 'analytics', 'knowledge'];
  var LOADERS = { manuals: loadDocs, search: function () {}, escalations: loadEscalations, analytics: loadAnalytics, knowledge: function () { loadEntries(); loadProposals(); } };
  function select(name, focus) {
    if (TABS.indexOf(name) < 0) name = 'manuals';
    TABS.forEach(function (t) {
      var on = t === name, tab = $('tab-' + t);
      tab.setAttribute('aria-selected', String(on)); tab.tabIndex = on ? 0 : -1;
      $(t).hidden = !on;
    });
    if (focus) $('tab-' + name).focus();
    history.replaceState(null, '', '#' + name);
    LOADERS[name]();
  }
  TABS.forEach(function (t, i) {
    var tab = $('tab-' + t);
    tab.addEventListener('click', function () { select(t); });
    tab.addEventListener('keydown', function (e) {
      var d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (e.key === 'Home') d = -i; if (e.key === 'End') d = TABS.length - 1 - i;
      if (d) { e.preventDefault(); select(TABS[(i + d + TABS.length) % TABS.length], true); }
    });
  });

  // ---------------------------------------------------------------- manuals
  function statusBadge(d) {
    var st = d.status || 'unknown';
    var b = h('span', { class: 'badge st-' + st, text: st });
    if (d.error) b.title = d.error;
    return b;
  }
  function loadDocs() {
    api('GET', 'api/kb/documents').then(function (j) {
      var docs = list(j, ['documents', 'items']), tb = $('docs').tBodies[0];
      tb.replaceChildren();
      $('docs-empty').hidden = docs.length > 0;
      docs.forEach(function (d) {
        var href = relative(d.file_url || ('api/kb/documents/' + d.id + '/file'));
        var progress = d.status === 'processing' || d.status === 'queued'
          ? h('progress', { max: String(d.pages_total || 1), value: String(d.pages_done || 0), 'aria-label': 'Indexing ' + (d.title || d.filename) }) : null;
        var title = h('td', null, [h('a', { href: href, target: '_blank', rel: 'noopener', onclick: openDoc, text: d.title || d.filename || ('#' + d.id) }),
          d.filename && d.filename !== d.title ? h('div', { class: 'muted small', text: d.filename }) : null]);
        var actions = h('td', { class: 'actions' }, [
          h('button', { type: 'button', class: 'ghost', text: 'Replace', 'aria-label': 'Replace ' + (d.title || d.id), onclick: function () { replaceDoc(d); } }),
          h('button', { type: 'button', class: 'ghost', text: 'Re-index', 'aria-label': 'Re-index ' + (d.title || d.id), onclick: function () { reindex(d.id); } }),
          h('button', { type: 'button', class: 'ghost danger', text: 'Delete', 'aria-label': 'Delete ' + (d.title || d.id), onclick: function () { deleteDoc(d); } })
        ]);
        tb.appendChild(h('tr', { 'data-id': String(d.id) }, [title, h('td', { text: (d.machine_models || []).join(', ') || 'all' }),
          h('td', { text: d.lang || 'any' }), h('td', null, [statusBadge(d), progress]),
          h('td', { text: d.pages_total != null ? (d.pages_done != null && d.status !== 'ready' ? d.pages_done + ' / ' : '') + d.pages_total : '' }),
          h('td', { text: d.chunks != null ? String(d.chunks) : '' }), actions]));
        if (progress) watch(d.id, null);
      });
    }).catch(fail('Documents'));
  }
  function setProgress(stage, fraction) {
    $('upload-progress').hidden = false;
    $('upload-stage').textContent = stage;
    $('upload-pct').textContent = fraction == null ? '' : Math.round(fraction * 100) + ' %';
    var bar = $('upload-bar');
    if (fraction == null) bar.removeAttribute('value'); else bar.value = Math.round(fraction * 100);
  }
  // Poll a document until its ingestion ends; report pages done / total on the upload bar when asked to.
  function watch(id, onBar) {
    clearTimeout(state.polls['doc' + id]);
    api('GET', 'api/kb/documents/' + id).then(function (d) {
      var total = d.pages_total || 0, done = d.pages_done || 0;
      if (onBar) onBar(d, total ? done / total : null);
      if (d.status === 'queued' || d.status === 'processing') state.polls['doc' + id] = setTimeout(function () { watch(id, onBar); }, 700);
      else loadDocs();
    }).catch(fail('Progress'));
  }
  function sendFile(method, path, form, label) {
    setProgress('Uploading ' + label, 0);
    return upload(method, path, form, function (f) { setProgress('Uploading ' + label, f); }).then(function (j) {
      var id = j.id || j.document_id;
      if (j.duplicate) { setProgress('Already in the knowledge base: ' + label, 1); loadDocs(); return; }
      setProgress('Indexing ' + label, null);
      loadDocs();
      if (id != null) watch(id, function (d, f) {
        if (d.status === 'ready') setProgress('Ready: ' + label + ' (' + (d.pages_total || 0) + ' pages, ' + (d.chunks || 0) + ' passages)', 1);
        else if (d.status === 'failed') { setProgress('Failed: ' + (d.error || 'unknown error'), 0); toast('Ingestion failed: ' + (d.error || ''), true); }
        else setProgress('Indexing ' + label + (d.pages_total ? ' — page ' + (d.pages_done || 0) + ' of ' + d.pages_total : ''), f);
      });
    }).catch(function (e) { setProgress('Upload failed: ' + e.message, 0); toast(e.message, true); });
  }
  $('upload-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target, file = f.elements.file.files[0];
    if (!file) return;
    var form = new FormData();
    form.append('file', file); form.append('model', f.elements.model.value); form.append('lang', f.elements.lang.value);
    sendFile('POST', 'api/kb/documents', form, file.name).then(function () { f.elements.file.value = ''; });
  });
  function replaceDoc(d) {
    var input = $('replace-file');
    input.onchange = function () {
      var file = input.files[0]; if (!file) return;
      var form = new FormData();
      form.append('file', file);
      form.append('model', (d.machine_models || []).join(','));
      form.append('lang', d.lang || '');
      sendFile('PUT', 'api/kb/documents/' + d.id, form, file.name).then(function () { input.value = ''; });
    };
    input.click();
  }
  function reindex(id) {
    var ids = id != null ? Promise.resolve([id])
      : api('GET', 'api/kb/documents').then(function (j) { return list(j, ['documents']).map(function (d) { return d.id; }); });
    ids.then(function (all) { return Promise.all(all.map(function (x) { return api('POST', 'api/kb/documents/' + x + '/reindex', {}); })); })
      .then(function () { toast('Re-indexing started'); loadDocs(); }).catch(fail('Re-index'));
  }
  $('reindex-all').addEventListener('click', function () { reindex(null); });
  function deleteDoc(d) {
    if (!confirm('Delete "' + (d.title || d.filename || d.id) + '"? The assistant will stop citing it.')) return;
    api('DELETE', 'api/kb/documents/' + d.id).then(function () { toast('Deleted'); loadDocs(); }).catch(fail('Delete'));
  }

  // ---------------------------------------------------------------- search test
  $('search-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target, p = new URLSearchParams({ q: f.elements.q.value, k: f.elements.k.value || '5' });
    if (f.elements.model.value.trim()) p.set('model', f.elements.model.value.trim());
    if (f.elements.lang.value) p.set('lang', f.elements.lang.value);
    var out = $('results');
    out.replaceChildren(h('li', { class: 'muted', text: 'Searching…' }));
    api('GET', 'api/kb/search?' + p).then(function (j) {
      var hits = list(j, ['results', 'passages', 'hits']);
      out.replaceChildren();
      if (!hits.length) out.appendChild(h('li', { class: 'empty', text: 'Nothing found.' }));
      hits.forEach(function (r, i) {
        var href = r.url ? relative(r.url) : null;
        out.appendChild(h('li', { class: 'card result' }, [
          h('div', { class: 'result-head' }, [h('span', { class: 'rank', text: String(i + 1) }),
            href ? h('a', { href: href, target: '_blank', rel: 'noopener', onclick: openDoc, text: r.title || 'document ' + r.document_id }) : h('b', { text: r.title || '' }),
            h('span', { class: 'muted', text: [r.page ? 'page ' + r.page : '', r.section, r.kind && r.kind !== 'manual' ? r.kind : '', r.lang].filter(Boolean).join(' · ') }),
            h('span', { class: 'score', text: 'score ' + Number(r.score || 0).toFixed(3) })]),
          h('p', { class: 'passage', text: r.text || '' })]));
      });
    }).catch(function (e) { out.replaceChildren(); fail('Search')(e); });
  });

  // ---------------------------------------------------------------- escalations
  // The queue is pushed (server-sent events from api/escalations/events); a ticket's conversation streams live over the
  // chat WebSocket, opened with this console's support token on the ticket's session. Nothing here polls.
  var esc = { tickets: {}, order: [], stream: null, lastEvent: '', ws: null, typingAt: 0, typingTimer: 0, answers: {} };
  function loadEscalations() {
    followQueue();
    api('GET', 'api/escalations').then(function (j) {
      esc.tickets = {}; esc.order = [];
      list(j, ['escalations']).forEach(function (t) { esc.tickets[t.id] = t; esc.order.push(t.id); });
      renderQueue();
    }).catch(fail('Escalations'));
  }
  $('esc-refresh').addEventListener('click', loadEscalations);
  function ticketBadge(t) {
    var st = t.status || 'open';
    return h('span', { class: 'badge st-' + st, text: st === 'in_progress' && t.assignee ? 'taken · ' + t.assignee : st.replace('_', ' ') });
  }
  function renderQueue() {
    var ul = $('esc-list');
    ul.replaceChildren();
    var ids = esc.order.slice().sort(function (a, b) {
      var x = esc.tickets[a], y = esc.tickets[b];
      if ((x.status === 'closed') !== (y.status === 'closed')) return x.status === 'closed' ? 1 : -1;
      return String(y.created_at).localeCompare(String(x.created_at));
    });
    $('esc-empty').hidden = ids.length > 0;
    ids.forEach(function (id) {
      var t = esc.tickets[id];
      var b = h('button', { type: 'button', class: 'esc' + (String(t.id) === String(state.escId) ? ' active' : '') + (t.fresh ? ' fresh' : ''),
        'data-ticket': t.ticket_number || '', onclick: function () { t.fresh = false; openEscalation(t.id); } }, [
        h('span', { class: 'tk', text: t.ticket_number || ('#' + t.id) }), ticketBadge(t),
        h('span', { class: 'who', text: [t.user_name || t.user_id, t.machine_id, t.trigger && String(t.trigger).replace(/_/g, ' ')].filter(Boolean).join(' · ') }),
        h('span', { class: 'muted small', text: (t.reason ? t.reason + ' — ' : '') + fmtDate(t.created_at) })]);
      ul.appendChild(h('li', null, [b]));
    });
  }
  // Server-sent events over fetch (EventSource cannot send the bearer token); reconnects with Last-Event-ID.
  function followQueue() {
    if (esc.stream || !state.token) return;
    var ctrl = new AbortController(), headers = { Authorization: 'Bearer ' + state.token, Accept: 'text/event-stream' };
    esc.stream = ctrl;
    if (esc.lastEvent) headers['Last-Event-ID'] = esc.lastEvent;
    fetch('api/escalations/events', { headers: headers, signal: ctrl.signal }).then(function (r) {
      if (!r.ok) throw new Error('HTTP ' + r.status);
      $('esc-live').textContent = 'Live';
      var reader = r.body.getReader(), dec = new TextDecoder(), buf = '';
      function pump() {
        return reader.read().then(function (x) {
          if (x.done) return;
          buf += dec.decode(x.value, { stream: true });
          var parts = buf.split('\n\n'); buf = parts.pop();
          parts.forEach(queueEvent);
          return pump();
        });
      }
      return pump();
    }).catch(function () { /* aborted or dropped: reconnect below */ }).then(function () {
      if (esc.stream !== ctrl) return;
      esc.stream = null;
      $('esc-live').textContent = 'Reconnecting…';
      if (state.token && !ctrl.signal.aborted) setTimeout(followQueue, 1000);
    });
  }
  function queueEvent(block) {
    var kind = 'message', data = '', id = null;
    block.split('\n').forEach(function (line) {
      if (line.slice(0, 6) === 'event:') kind = line.slice(6).trim();
      else if (line.slice(0, 5) === 'data:') data += line.slice(5).trim();
      else if (line.slice(0, 3) === 'id:') id = line.slice(3).trim();
    });
    if (id) esc.lastEvent = id;
    if (kind !== 'ticket' || !data) return;
    var e; try { e = JSON.parse(data); } catch (err) { return; }
    var t = e.ticket; if (!t || t.id == null) return;
    if (!esc.tickets[t.id]) esc.order.push(t.id);
    t.fresh = e.event === 'created';
    esc.tickets[t.id] = t;
    renderQueue();
    if (e.event === 'created') $('esc-announce').textContent = 'New ticket ' + (t.ticket_number || t.id) + ' from ' + (t.user_name || t.user_id);
    if (String(t.id) === String(state.escId)) renderControls(t);
  }
  function stopQueue() { if (esc.stream) { var c = esc.stream; esc.stream = null; c.abort(); } closeTranscript(); }

  function openEscalation(id) {
    state.escId = id;
    api('GET', 'api/escalations/' + id).then(function (t) {
      if (state.escId !== id) return;
      renderEscalation(t);
      followTranscript(t);
    }).catch(fail('Escalation'));
    document.querySelectorAll('.esc').forEach(function (b) { b.classList.toggle('active', b.getAttribute('data-ticket') === String((esc.tickets[id] || {}).ticket_number)); });
  }
  function closeTranscript() { if (esc.ws) { var w = esc.ws; esc.ws = null; w.close(1000, 'ticket closed in the console'); } }
  // The conversation of the ticket's session, live: a replay of the session's frames, then each new one.
  function followTranscript(t) {
    closeTranscript();
    var box = document.querySelector('#esc-detail .transcript');
    esc.answers = {};
    var url = new URL('ws', location.href); url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    var ws = new WebSocket(url.href), lastSeq = 0;
    esc.ws = ws;
    ws.onopen = function () { ws.send(JSON.stringify({ type: 'hello', v: 1, token: state.token, session_id: t.session_id, last_seq: 0 })); };
    ws.onmessage = function (ev) {
      if (esc.ws !== ws) return;
      var f; try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (typeof f.seq === 'number') { if (f.seq <= lastSeq) return; lastSeq = f.seq; }
      transcriptFrame(box, f);
    };
    ws.onclose = function (ev) {
      if (esc.ws !== ws) return;
      esc.ws = null;
      if (ev.code !== 1000 && state.escId === t.id) setTimeout(function () { if (state.escId === t.id && !esc.ws) openEscalation(t.id); }, 1000);
    };
  }
  function tline(box, role, who, text, id) {
    var el = h('div', { class: 'tmsg ' + role, 'data-message-id': id || null }, [h('div', { class: 'trole', text: who }), h('div', { class: 'ttext', text: text || '' })]);
    box.appendChild(el); box.scrollTop = box.scrollHeight;
    return el;
  }
  function tnote(box, text, kind) { var el = h('div', { class: 'tnote' + (kind ? ' ' + kind : ''), text: text }); box.appendChild(el); box.scrollTop = box.scrollHeight; }
  function transcriptFrame(box, f) {
    var a;
    switch (f.type) {
      case 'history':
        box.replaceChildren(); esc.answers = {};
        (f.messages || []).forEach(function (m) {
          if (m.role === 'user') tline(box, 'user', 'user', m.text, m.id);
          else if (m.role === 'support') tline(box, 'support', 'support · ' + (m.author || ''), m.text, m.id);
          else if (m.text) esc.answers[m.id] = tline(box, 'assistant' + (m.status === 'streaming' ? ' live' : ''), 'assistant', m.text, m.id);
        });
        break;
      case 'user_message': tline(box, 'user', 'user · ' + fmtDate(Date.now()), f.text, f.message_id); break;
      case 'delta':
        a = esc.answers[f.message_id] || (esc.answers[f.message_id] = tline(box, 'assistant live', 'assistant · writing…', '', f.message_id));
        a.lastChild.textContent += f.text || ''; box.scrollTop = box.scrollHeight; break;
      case 'done':
        a = esc.answers[f.message_id];
        if (a) { a.classList.remove('live'); a.firstChild.textContent = 'assistant' + (f.status !== 'complete' ? ' · ' + f.status : ''); }
        break;
      case 'support_message': tline(box, 'support', 'support · ' + (f.agent || ''), f.text, f.message_id); break;
      case 'handover': tnote(box, f.text || f.event, 'handover'); break;
      case 'escalated': tnote(box, 'Ticket ' + (f.ticket_number || f.ticket_id) + ' (' + String(f.trigger || '').replace(/_/g, ' ') + ')'); break;
      case 'resolved': if (f.resolved) tnote(box, 'The user marked the problem as solved.'); break;
      case 'error': if (f.code === 'session_unknown' || f.code === 'token_expired' || f.code === 'token_invalid') toast('Live transcript: ' + (f.message || f.code), true); break;
    }
  }
  function sendTyping(active) {
    if (!esc.ws || esc.ws.readyState !== 1) return;
    esc.ws.send(JSON.stringify({ type: 'typing', active: active }));
  }
  function mine(t) { return t.claimed_by_id && state.me && t.claimed_by_id === state.me.id; }
  function renderControls(t) {
    var box = $('esc-controls'); if (!box) return;
    var open = t.status !== 'closed', taken = !!t.claimed_by_id, me = mine(t);
    var act = function (path, done) {
      return function () {
        api('POST', 'api/escalations/' + t.id + '/' + path, {}).then(function () { toast(done); return api('GET', 'api/escalations/' + t.id); })
          .then(function (fresh) { esc.tickets[t.id] = Object.assign(esc.tickets[t.id] || {}, fresh); renderControls(fresh); renderQueue(); })
          .catch(fail('Ticket'));
      };
    };
    box.replaceChildren.apply(box, [
      h('span', { class: 'mode', text: !open ? 'Closed' : taken ? (me ? 'You are talking with the user; the assistant is silent.' : 'Taken by ' + (t.assignee || 'another agent')) : 'In the queue: the assistant is answering.' }),
      open && !taken ? h('button', { type: 'button', class: 'primary', text: 'Take the conversation', onclick: act('claim', 'You have joined the conversation') }) : null,
      open && me ? h('button', { type: 'button', class: 'ghost', text: 'Hand back to the assistant', onclick: act('release', 'Handed back to the assistant') }) : null,
      open && (me || !taken) ? h('button', { type: 'button', class: 'ghost danger', text: 'Close the conversation', onclick: act('close', 'Conversation closed') }) : null
    ].filter(function (n) { return n != null; }));  // null would render as "null"
    var reply = $('reply-text'); if (reply) reply.disabled = !open;
    var sel = $('esc-status'); if (sel) sel.value = t.status || 'open';
  }
  function renderEscalation(t) {
    var d = $('esc-detail'), machine = t.machine || {}, rows = [];
    Object.keys(machine).forEach(function (k) {
      var v = machine[k];
      if (v == null || typeof v === 'object') return;
      rows.push(h('dt', { text: k.replace(/_/g, ' ') }), h('dd', { text: String(v) }));
    });
    var steps = list(t, ['steps']);
    var transcript = h('div', { class: 'transcript', tabindex: '0', 'aria-label': 'Transcript', 'aria-live': 'polite' });
    var text = h('textarea', { rows: '3', id: 'reply-text', required: true });
    text.addEventListener('input', function () {
      var now = Date.now();
      if (now - esc.typingAt > 3000) { esc.typingAt = now; sendTyping(true); }
      clearTimeout(esc.typingTimer);
      esc.typingTimer = setTimeout(function () { esc.typingAt = 0; sendTyping(false); }, 4000);
    });
    var form = h('form', { class: 'reply' }, [h('label', { for: 'reply-text', text: 'Reply to the user (appears live in their chat)' }), text,
      h('button', { type: 'submit', class: 'primary', text: 'Send reply' })]);
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var v = text.value.trim(); if (!v) return;
      api('POST', 'api/escalations/' + t.id + '/reply', { text: v }).then(function () {
        text.value = ''; toast('Reply sent');
        clearTimeout(esc.typingTimer); esc.typingAt = 0; sendTyping(false);
      }).catch(fail('Reply'));
    });
    var statusSel = h('select', { 'aria-label': 'Ticket status', id: 'esc-status' }, ['open', 'in_progress', 'closed'].map(function (v) {
      return h('option', { value: v, text: v.replace('_', ' '), selected: v === t.status });
    }));
    statusSel.addEventListener('change', function () {
      api('POST', 'api/escalations/' + t.id + '/status', { status: statusSel.value })
        .then(function () { toast('Ticket ' + (t.ticket_number || t.id) + ': ' + statusSel.value.replace('_', ' ')); })
        .catch(fail('Status'));
    });
    var notes = list(t, ['notifications']);
    d.replaceChildren.apply(d, [
      h('div', { class: 'card-head' }, [h('h2', { text: 'Ticket ' + (t.ticket_number || t.id) }), statusSel]),
      h('div', { class: 'controls', id: 'esc-controls' }),
      t.trigger ? h('p', { class: 'muted small', text: 'Trigger: ' + String(t.trigger).replace(/_/g, ' ') + (t.assignee ? ' · assignee: ' + t.assignee : '') }) : null,
      h('p', { class: 'muted', text: [t.user_name || t.user_id, t.lang, fmtDate(t.created_at)].filter(Boolean).join(' · ') }),
      t.reason ? h('p', null, [h('b', { text: 'Reason: ' }), t.reason]) : null,
      rows.length ? h('details', { open: true }, [h('summary', { text: 'Machine ' + (machine.id || t.machine_id || '') }), h('dl', { class: 'kv' }, rows)])
        : h('p', { class: 'muted', text: 'Machine: ' + (t.machine_id || 'not selected') }),
      steps.length ? h('details', null, [h('summary', { text: 'Steps tried (' + steps.length + ')' }),
        h('ul', null, steps.map(function (st) { return h('li', { text: (st.text || '') + (st.outcome ? ' — ' + st.outcome : '') }); }))]) : null,
      notes.length ? h('details', null, [h('summary', { text: 'Notifications (' + notes.length + ')' }),
        h('ul', null, notes.map(function (n) { return h('li', { text: [n.channel, n.target, n.status, n.last_error].filter(Boolean).join(' · ') }); }))]) : null,
      h('h3', { text: 'Conversation' }), transcript, form].filter(function (n) { return n != null; }));  // null would render as "null"
    renderControls(t);
  }

  // ---------------------------------------------------------------- analytics
  (function () {
    var f = $('range-form'), to = new Date(), from = new Date(Date.now() - 29 * 864e5);
    f.elements.from.value = from.toISOString().slice(0, 10); f.elements.to.value = to.toISOString().slice(0, 10);
    f.addEventListener('submit', function (e) { e.preventDefault(); loadAnalytics(); });
  })();
  function loadAnalytics() {
    var f = $('range-form'), p = new URLSearchParams({ from: f.elements.from.value, to: f.elements.to.value });
    api('GET', 'api/analytics?' + p).then(renderAnalytics).catch(fail('Analytics'));
  }
  function tile(label, value, sub) {
    return h('div', { class: 'stat' }, [h('div', { class: 'stat-v', text: value == null ? '—' : String(value) }), h('div', { class: 'stat-l', text: label }),
      sub ? h('div', { class: 'muted small', text: sub }) : null]);
  }
  function renderAnalytics(a) {
    a = a || {};
    var fb = a.feedback || {}, up = fb.up || 0, down = fb.down || 0;
    $('stats').replaceChildren(
      tile('Sessions', a.sessions), tile('Resolution rate', pct(a.resolution_rate)), tile('Escalation rate', pct(a.escalation_rate)),
      tile('Positive feedback', up + down ? Math.round(100 * up / (up + down)) + ' %' : '—', up + ' helpful · ' + down + ' not helpful'),
      tile('Not covered by the manuals', a.not_covered != null ? a.not_covered : list(a, ['unanswered']).length));
    var charts = $('charts');
    charts.replaceChildren();
    var daily = list(a, ['daily', 'by_day', 'timeline']);
    if (daily.length) charts.appendChild(chartCard('Sessions per day', columnChart(daily.map(function (d) { return [String(d.date || d.day).slice(5), d.sessions || 0, d.escalations || 0]; }))));
    var byModel = list(a, ['by_model', 'models']), byLang = list(a, ['by_language', 'by_lang', 'languages']);
    if (byModel.length) charts.appendChild(chartCard('By machine model', barChart(byModel.map(function (r) { return [r.model || r.machine_model || r.name || 'unknown', r.sessions || r.count || 0, r]; }))));
    if (byLang.length) charts.appendChild(chartCard('By language', barChart(byLang.map(function (r) { return [r.lang || r.language || 'unknown', r.sessions || r.count || 0, r]; }))));
    var top = list(a, ['top_problems', 'problems']);
    if (top.length) charts.appendChild(chartCard('Top problems', barChart(top.map(function (r) { return [r.text || r.problem || r.topic || '', r.count || 0]; }))));
    var topics = list(a, ['top_topics']);
    if (topics.length) charts.appendChild(chartCard('Most cited manual sections', barChart(topics.map(function (r) { return [r.text || r.title || '', r.count || 0]; }))));
    var trig = a.escalations_by_trigger || {};
    if (Object.keys(trig).length) charts.appendChild(chartCard('Escalations by trigger', barChart(Object.keys(trig).map(function (k) { return [k.replace(/_/g, ' '), trig[k]]; }))));
    var un = list(a, ['unanswered']);
    charts.appendChild(chartCard('Questions the manuals did not answer (for expert review)', un.length
      ? h('ul', { class: 'unanswered' }, un.map(function (q) {
        return h('li', null, [h('span', null, [q.reason ? h('span', { class: 'badge st-' + (q.reason === 'not_covered' ? 'queued' : 'failed'), text: q.reason.replace(/_/g, ' ') }) : null, ' ', q.text || q.question || '']),
          q.answer ? h('span', { class: 'muted small', text: 'Answer: ' + String(q.answer).slice(0, 240) }) : null,
          q.comment ? h('span', { class: 'small', text: 'Comment: ' + q.comment }) : null,
          h('span', { class: 'muted small', text: [q.lang, q.machine_model, fmtDate(q.created_at)].filter(Boolean).join(' · ') })]);
      })) : h('p', { class: 'empty', text: 'None in this period.' })));
  }
  function chartCard(title, body) { return h('div', { class: 'card chart' }, [h('h2', { text: title }), body]); }
  // Vertical columns: [label, value, secondary value drawn darker inside].
  function columnChart(rows) {
    var W = 640, H = 200, pad = 24, max = Math.max.apply(null, rows.map(function (r) { return r[1]; }).concat([1]));
    var svg = s('svg', { viewBox: '0 0 ' + (W + 16) + ' ' + (H + pad), role: 'img', class: 'svgchart' });
    svg.appendChild(s('title', { text: rows.map(function (r) { return r[0] + ': ' + r[1]; }).join(', ') }));
    var bw = (W - pad) / rows.length;
    rows.forEach(function (r, i) {
      var x = pad + i * bw + bw * 0.15, w = bw * 0.7, hgt = (r[1] / max) * (H - 10), h2 = (r[2] / max) * (H - 10);
      svg.appendChild(s('rect', { x: x, y: H - hgt, width: w, height: hgt, rx: 2, class: 'bar' }));
      if (r[2]) svg.appendChild(s('rect', { x: x, y: H - h2, width: w, height: h2, rx: 2, class: 'bar2' }));
      if (rows.length <= 16 || i % Math.ceil(rows.length / 12) === 0) svg.appendChild(s('text', { x: x + w / 2, y: H + 16, 'text-anchor': 'middle', class: 'axis', text: r[0] }));
    });
    svg.appendChild(s('text', { x: 0, y: 12, class: 'axis', text: String(max) }));
    svg.appendChild(s('line', { x1: pad, x2: W, y1: H, y2: H, class: 'base' }));
    return h('div', null, [svg, h('p', { class: 'legend' }, [h('span', { class: 'sw a' }), ' sessions ', h('span', { class: 'sw b' }), ' of which escalated'])]);
  }
  // Horizontal bars with the value and, when known, resolution and escalation rates.
  function barChart(rows) {
    var max = Math.max.apply(null, rows.map(function (r) { return r[1]; }).concat([1]));
    var W = 640, rowH = 30, H = rows.length * rowH, L = 150, V = 250;
    var svg = s('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', class: 'svgchart' });
    svg.appendChild(s('title', { text: rows.map(function (r) { return r[0] + ': ' + r[1]; }).join(', ') }));
    rows.forEach(function (r, i) {
      var y = i * rowH, w = Math.max(2, (r[1] / max) * (W - L - V));
      var label = String(r[0]);
      var t = svg.appendChild(s('text', { x: 0, y: y + 19, class: 'lbl', text: label.length > 19 ? label.slice(0, 18) + '…' : label }));
      t.appendChild(s('title', { text: label }));
      svg.appendChild(s('rect', { x: L, y: y + 6, width: w, height: rowH - 12, rx: 3, class: 'bar' }));
      var extra = r[2] && (r[2].resolution_rate != null || r[2].escalation_rate != null)
        ? ' · ' + pct(r[2].resolution_rate) + ' solved · ' + pct(r[2].escalation_rate) + ' escalated' : '';
      svg.appendChild(s('text', { x: L + w + 6, y: y + 19, class: 'val', text: String(r[1]) + extra }));
    });
    return svg;
  }

  // ---------------------------------------------------------------- expert knowledge
  function loadEntries() {
    api('GET', 'api/kb/entries').then(function (j) {
      var items = list(j, ['entries', 'items']), ul = $('entries');
      ul.replaceChildren();
      $('entries-empty').hidden = items.length > 0;
      items.forEach(function (e) {
        ul.appendChild(h('li', { class: 'entry' }, [h('div', null, [h('span', { class: 'badge st-' + e.kind, text: e.kind }), ' ', h('b', { text: e.title || '' }),
          h('span', { class: 'muted small', text: ' ' + [(e.machine_models || []).join(', '), e.lang, fmtDate(e.created_at)].filter(Boolean).join(' · ') })]),
          h('p', { class: 'passage', text: e.text || '' })]));
      });
    }).catch(fail('Entries'));
  }
  // Proposed resolutions (support and admin): edit, then approve into the knowledge base, or reject.
  function loadProposals() {
    api('GET', 'api/resolutions').then(function (j) {
      var items = list(j, ['resolutions']), ul = $('proposals');
      ul.replaceChildren();
      $('proposals-empty').hidden = items.length > 0;
      items.forEach(function (p) {
        var title = h('input', { value: p.title || '', maxlength: '200', 'aria-label': 'Title of proposal ' + p.id });
        var text = h('textarea', { rows: '6', maxlength: '20000', 'aria-label': 'Text of proposal ' + p.id });
        text.value = p.text || '';
        var review = function (verb) {
          var body = verb === 'approve' ? { title: title.value, text: text.value } : {};
          api('POST', 'api/resolutions/' + p.id + '/' + verb, body).then(function () {
            toast(verb === 'approve' ? 'Approved: the assistant uses it from now on' : 'Rejected');
            loadProposals(); loadEntries();
          }).catch(fail(verb === 'approve' ? 'Approve' : 'Reject'));
        };
        ul.appendChild(h('li', { class: 'entry' }, [
          h('div', null, [h('span', { class: 'badge st-resolution', text: 'proposal' }), ' ',
            h('span', { class: 'muted small', text: [p.machine_model, p.lang, fmtDate(p.created_at)].filter(Boolean).join(' · ') })]),
          title, text,
          h('div', { class: 'actions' }, [
            h('button', { type: 'button', class: 'primary', text: 'Approve', onclick: function () { review('approve'); } }),
            h('button', { type: 'button', class: 'ghost danger', text: 'Reject', onclick: function () { review('reject'); } })])]));
      });
    }).catch(fail('Proposed resolutions'));
  }
  $('entry-form').addEventListener('submit', function (e) {
    e.preventDefault();
    var f = e.target, body = { kind: f.elements.kind.value, title: f.elements.title.value, text: f.elements.text.value };
    if (f.elements.machine_model.value.trim()) body.machine_model = f.elements.machine_model.value.trim();
    if (f.elements.lang.value) body.lang = f.elements.lang.value;
    api('POST', 'api/kb/entries', body).then(function () { toast('Saved: the assistant uses it from now on'); f.reset(); loadEntries(); }).catch(fail('Save'));
  });

  if (state.token) login(state.token); else showApp(false);
})();
