// The idle-timeout warning. A signed-in page carries the moment its session
// ends if unused (body[data-session-expires]). Shortly before, a small
// panel says how long is left and offers "Stay signed in", which asks the
// shop for /session: that request extends the session, and its answer says
// until when. Without JavaScript nothing changes: the session simply ends
// and the next page asks to log in again.
(function () {
  'use strict';

  var body = document.body;
  var expires = Date.parse(body.getAttribute('data-session-expires') || '');
  if (isNaN(expires)) {
    return;
  }

  // Warn two minutes ahead, or at half the remaining time for short
  // sessions (workshops set idle timeouts of seconds).
  var WARN_MS = 2 * 60 * 1000;
  var panel = null;
  var text = null;
  var timer = null;

  function remaining() {
    return expires - Date.now();
  }

  function format(ms) {
    var s = Math.max(0, Math.ceil(ms / 1000));
    var m = Math.floor(s / 60);
    s = s % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  function build() {
    panel = document.createElement('div');
    panel.className = 'expiry-warning';
    panel.setAttribute('role', 'alert');
    panel.setAttribute('data-expiry-warning', '');
    text = document.createElement('p');
    var stay = document.createElement('button');
    stay.type = 'button';
    stay.className = 'button button-primary button-small';
    stay.textContent = 'Stay logged in';
    stay.addEventListener('click', extend);
    panel.appendChild(text);
    panel.appendChild(stay);
    body.appendChild(panel);
  }

  function hide() {
    if (panel) {
      panel.parentNode.removeChild(panel);
      panel = null;
    }
  }

  function tick() {
    var left = remaining();
    if (left <= 0) {
      if (!panel) {
        build();
      }
      var next = encodeURIComponent(location.pathname + location.search);
      text.textContent = 'You have been logged out because you were inactive. ';
      var a = document.createElement('a');
      a.href = '/login?next=' + next;
      a.textContent = 'Log in again';
      text.appendChild(a);
      panel.lastChild.hidden = true;
      return;
    }
    var warnAt = Math.min(WARN_MS, (expires - loadedAt) / 2);
    if (left <= warnAt) {
      if (!panel) {
        build();
      }
      text.textContent = 'You will be logged out in ' + format(left) + ' because you have been inactive.';
      timer = setTimeout(tick, 1000);
      return;
    }
    timer = setTimeout(tick, Math.max(1000, left - warnAt));
  }

  function extend() {
    fetch('/session', { headers: { 'Accept': 'application/json' }, credentials: 'same-origin' })
      .then(function (res) { return res.json(); })
      .then(function (s) {
        var next = Date.parse(s && s.idle_expires_at);
        if (!s.authenticated || isNaN(next)) {
          location.reload();
          return;
        }
        expires = next;
        loadedAt = Date.now();
        hide();
        clearTimeout(timer);
        tick();
      })
      .catch(function () { /* the next tick tries again by showing the panel */ });
  }

  var loadedAt = Date.now();
  tick();
})();
