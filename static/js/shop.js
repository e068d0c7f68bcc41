// The Shop: progressive enhancement only. Every form works without this file;
// with it, "add to cart" stays on the page, updates the cart badge and says so
// in the form's polite live region; an error summary takes the focus;
// password fields can be shown.
(function () {
  'use strict';

  // status shows the outcome of an add in the form's own live region,
  // right after its button: it covers nothing (it is in the page's flow,
  // not floating over the controls on a phone), it stays until the next
  // add, a screen reader announces it (the region is in the page from the
  // start, which screen readers need), and its "View cart" link is the
  // next Tab stop after the button.
  function status(form, message, kind, link) {
    var box = form.querySelector('[data-add-status]');
    if (!box) {
      return;
    }
    box.textContent = '';
    box.className = 'add-status add-status-' + kind;
    if (kind === 'error') {
      var label = document.createElement('span');
      label.className = 'add-status-label';
      label.textContent = 'Error: ';
      box.appendChild(label);
    }
    box.appendChild(document.createTextNode(message));
    if (link) {
      box.appendChild(document.createTextNode(' '));
      var a = document.createElement('a');
      a.href = link.href;
      a.textContent = link.text;
      box.appendChild(a);
    }
  }

  function newKey() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    return Array.prototype.map.call(b, function (x) {
      return ('0' + x.toString(16)).slice(-2);
    }).join('');
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute('content') : '';
  }

  function updateCartCount(count) {
    var labels = document.querySelectorAll('[data-cart-count-label]');
    for (var j = 0; j < labels.length; j++) {
      labels[j].textContent = count > 0 ? ' items' : ', empty';
    }
    var els = document.querySelectorAll('[data-cart-count]');
    for (var i = 0; i < els.length; i++) {
      els[i].textContent = String(count);
      els[i].hidden = count === 0;
      els[i].classList.remove('is-bumped');
      // Reading offsetWidth restarts the CSS animation.
      void els[i].offsetWidth;
      els[i].classList.add('is-bumped');
    }
  }

  function isJSON(res) {
    var type = res.headers.get('Content-Type') || '';
    return type.indexOf('application/json') !== -1;
  }

  // Thrown for answers we cannot use (HTML, redirects to a login page…):
  // the browser then submits the form the ordinary way.
  function Fallback() {}

  function addToCart(form) {
    var button = form.querySelector('button[type="submit"]');
    if (form.getAttribute('aria-busy') === 'true') {
      return;
    }
    form.setAttribute('aria-busy', 'true');
    if (button) {
      button.disabled = true;
      button.classList.add('is-busy');
    }
    var name = form.getAttribute('data-product-name') || 'Item';
    var qtyInput = form.querySelector('[name="quantity"]');
    var qty = qtyInput ? parseInt(qtyInput.value, 10) || 1 : 1;

    // The page is not reloaded between clicks, so each click needs a key of
    // its own: the same key would make the shop treat a second click as a
    // retry of the first and add nothing.
    var idem = form.querySelector('[name="idempotency_key"]');
    if (idem && window.crypto && window.crypto.getRandomValues) {
      idem.value = newKey();
      // nginx sees only the URL: the key in the action's query string
      // decides whether a failed POST may be retried on another replica.
      var action = new URL(form.getAttribute('action'), window.location.href);
      action.searchParams.set('idempotency_key', idem.value);
      form.setAttribute('action', action.pathname + action.search);
    }
    fetch(form.action, {
      method: 'POST',
      body: new FormData(form),
      headers: { 'Accept': 'application/json', 'X-CSRF-Token': csrfToken() },
      credentials: 'same-origin'
    })
      .then(function (res) {
        if (!isJSON(res)) {
          throw new Fallback();
        }
        return res.json().then(function (body) {
          if (res.ok && body && typeof body.count === 'number') {
            updateCartCount(body.count);
            var cartLink = { href: '/cart', text: 'View cart' };
            if (body.message) {
              // The stock held the add back: say what is left.
              status(form, body.message, 'info', cartLink);
              return;
            }
            status(
              form,
              (qty > 1 ? qty + ' × ' : '') + name + ' added to your cart (' +
                body.count + (body.count === 1 ? ' item' : ' items') + ').',
              'success',
              cartLink
            );
            return;
          }
          if (!res.ok && body && body.error && body.error.message) {
            status(form, body.error.message, 'error');
            return;
          }
          throw new Fallback();
        });
      })
      .catch(function () {
        // Network failure or an answer we do not understand: let the server
        // handle it as a plain form post (it redirects or shows the error).
        form.submit();
      })
      .then(function () {
        form.removeAttribute('aria-busy');
        if (button) {
          button.disabled = false;
          button.classList.remove('is-busy');
          // Disabling the button dropped the focus to the page's body:
          // give it back, so a keyboard user goes on from where they were.
          button.focus();
        }
      });
  }

  // Tell the shop the browser's time zone, so pages show times (an
  // order's) in the shopper's zone. Without it they show in UTC.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && /^[A-Za-z0-9_+\/-]{1,64}$/.test(zone) && ('; ' + document.cookie + ';').indexOf('; tz=' + zone + ';') === -1) {
      document.cookie = 'tz=' + zone + '; Path=/; Max-Age=31536000; SameSite=Lax' +
        (window.location.protocol === 'https:' ? '; Secure' : '');
    }
  } catch (e) {
    // No Intl: UTC it is.
  }

  // A form re-rendered with errors: the focus goes to its summary, which
  // links each field with a problem.
  var summary = document.querySelector('[data-error-summary]');
  if (summary) {
    summary.focus();
  }

  // Every password field gets a "Show password" toggle, so a shopper on a
  // phone can check what they typed.
  Array.prototype.forEach.call(document.querySelectorAll('input[type="password"]'), function (input) {
    if (!input.id) {
      return;
    }
    var toggle = document.createElement('button');
    toggle.type = 'button';
    toggle.className = 'button button-link password-toggle';
    toggle.setAttribute('aria-controls', input.id);
    toggle.setAttribute('aria-pressed', 'false');
    toggle.textContent = 'Show password';
    toggle.addEventListener('click', function () {
      var show = input.type === 'password';
      input.type = show ? 'text' : 'password';
      toggle.setAttribute('aria-pressed', show ? 'true' : 'false');
      toggle.textContent = show ? 'Hide password' : 'Show password';
    });
    input.insertAdjacentElement('afterend', toggle);
  });

  document.addEventListener('submit', function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.getAttribute('data-enhance') !== 'add-to-cart') {
      return;
    }
    if (!window.fetch || !window.FormData) {
      return;
    }
    event.preventDefault();
    addToCart(form);
  });
})();
