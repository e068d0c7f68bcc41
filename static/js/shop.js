// The Shop: progressive enhancement only. Every form works without this file;
// with it, "add to cart" stays on the page, updates the cart badge and says so
// in a polite live region.
(function () {
  'use strict';

  var region = null;

  // toastRegion creates the aria-live region once.
  function toastRegion() {
    if (region) {
      return region;
    }
    region = document.createElement('div');
    region.className = 'toast-region';
    region.setAttribute('role', 'status');
    region.setAttribute('aria-live', 'polite');
    region.setAttribute('aria-atomic', 'false');
    document.body.appendChild(region);
    return region;
  }

  // toast shows a short message. kind is "success" or "error". Successes fade
  // after a few seconds; errors stay until dismissed or the next attempt, so
  // nobody has to read against a clock.
  function toast(message, kind, link) {
    var box = document.createElement('p');
    box.className = 'toast toast-' + kind;
    if (kind === 'error') {
      var label = document.createElement('span');
      label.className = 'toast-label';
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
    if (kind === 'error') {
      var close = document.createElement('button');
      close.type = 'button';
      close.className = 'toast-close';
      close.setAttribute('aria-label', 'Dismiss');
      close.textContent = '×';
      close.addEventListener('click', function () {
        remove(box);
      });
      box.appendChild(close);
    }
    var r = toastRegion();
    while (r.children.length >= 3) {
      r.removeChild(r.firstChild);
    }
    r.appendChild(box);
    if (kind !== 'error') {
      window.setTimeout(function () {
        remove(box);
      }, 5000);
    }
  }

  function remove(node) {
    if (node && node.parentNode) {
      node.parentNode.removeChild(node);
    }
  }

  function clearErrors() {
    if (!region) {
      return;
    }
    var errs = region.querySelectorAll('.toast-error');
    for (var i = 0; i < errs.length; i++) {
      remove(errs[i]);
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
    clearErrors();
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
            toast(
              (qty > 1 ? qty + ' × ' : '') + name + ' added to your cart (' +
                body.count + (body.count === 1 ? ' item' : ' items') + ').',
              'success',
              { href: '/cart', text: 'View cart' }
            );
            return;
          }
          if (!res.ok && body && body.error && body.error.message) {
            toast(body.error.message, 'error');
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

  // Create the live region up front: screen readers announce changes to a
  // region that already exists far more reliably than a freshly added one.
  if (document.querySelector('form[data-enhance="add-to-cart"]')) {
    toastRegion();
  }

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
