/* Demo host app: a signed-in user, a machine list, and the assistant embedded through the public API. */
(function () {
  'use strict';
  var q = new URLSearchParams(location.search);
  var prefs = { lang: q.get('lang') || 'en', role: q.get('role') || 'operator', theme: q.get('theme') || 'light',
    user: q.get('user') || 'maria-operator', color: q.get('color') || '#0b5cad' };
  var machines = [
    { id: 'AB-1001', name: 'AutoBoss V4', serial: 'V4-2021-0342', hours: 1240, site: 'Farm Nordvik, pen 3', service: '250 h service due in 13 h' },
    { id: 'AB-2002', name: 'AutoBoss M6', serial: 'M6-2023-0117', hours: 2980, site: 'Farm Kalymnos, pen 1', service: '250 h and 500 h services overdue' }
  ];
  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  var form = document.getElementById('prefs');
  ['lang', 'role', 'theme'].forEach(function (k) { form.elements[k].value = prefs[k]; });
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    var p = new URLSearchParams({ lang: form.elements.lang.value, role: form.elements.role.value, theme: form.elements.theme.value, user: prefs.user });
    location.search = p.toString();
  });
  document.body.classList.toggle('dark', prefs.theme === 'dark');
  var tokenUrl = 'demo/token?' + new URLSearchParams({ user: prefs.user, role: prefs.role, lang: prefs.lang });
  function getToken() {
    return fetch(tokenUrl, { credentials: 'same-origin' }).then(function (r) {
      if (!r.ok) throw new Error('token endpoint answered ' + r.status);
      return r.json();
    }).then(function (j) { document.getElementById('who').textContent = j.user.name + ' · ' + j.user.role; return j.token; });
  }
  var grid = document.getElementById('machines');
  machines.forEach(function (m) {
    var card = el('article', 'machine');
    card.appendChild(el('h2', null, m.name));
    card.appendChild(el('p', 'id', m.id + ' · ' + m.serial));
    var dl = el('dl');
    [['Operating hours', m.hours.toLocaleString('en')], ['Site', m.site], ['Maintenance', m.service]].forEach(function (r) {
      dl.appendChild(el('dt', null, r[0])); dl.appendChild(el('dd', null, r[1]));
    });
    card.appendChild(dl);
    var b = el('button', 'ask', 'Ask the assistant about this machine');
    b.type = 'button';
    b.addEventListener('click', function () { window.ABPartsAssistant.setMachine(m.id).open(); });
    card.appendChild(b);
    grid.appendChild(card);
  });
  window.ABPartsAssistant.init({
    getToken: getToken, language: prefs.lang, theme: prefs.theme, color: prefs.color,
    machines: machines.map(function (m) { return { id: m.id, name: m.name }; })
  });
})();
