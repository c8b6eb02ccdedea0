// The login page. The SameSite=Strict session cookie is not sent when the page was opened from a link on
// another site, so a logged-in operator may land here; a request from this page itself carries it.
(function () {
  'use strict';
  fetch('/ops/session', { credentials: 'same-origin', headers: { Accept: 'application/json' } })
    .then(function (res) {
      return res.ok ? res.json() : null;
    })
    .then(function (answer) {
      if (answer && answer.authenticated) window.location.replace('/ops');
    })
    .catch(function () {
      // offline or the gateway is down: the form stays
    });
  var operator = document.getElementById('operator');
  var token = document.getElementById('token');
  (operator && !operator.value ? operator : token).focus();
})();
