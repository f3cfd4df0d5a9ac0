/* tsbot web: the landing page sends a browser that holds a session on to the dashboard. */
(function () {
  "use strict";
  if (window.TS.session.get()) location.replace("/dashboard");
})();
