"""/pixel.js: a first-party click ID keeper for the advertiser's own pages.

Third-party cookies (the tracker's `tclid` seen from the advertiser's site) are blocked
more and more, so the script keeps the click ID from the landing URL in a cookie of the
advertiser's own domain and sends it explicitly with the conversion.

On every page:      <script src="https://TRACKER/pixel.js" async></script>
On the thank-you page, either attributes on the tag
    <script src="https://TRACKER/pixel.js" data-event="sale" data-amount="49.90"
            data-txid="ORDER-1"></script>
or a call once the script is loaded: tracker.convert({event, amount, txid, currency,
customer_id, coupon}) (attributes data-customer-id, data-coupon).
"""

PIXEL_JS = r"""(function () {
  "use strict";
  var tag = document.currentScript;
  if (!tag || !tag.src) return;
  var base = new URL(tag.src).origin;
  var cookie = tag.getAttribute("data-cookie") || "tclid";
  var days = parseInt(tag.getAttribute("data-days") || "30", 10) || 30;
  var names = ["click_id", "tclid", "clickid"];
  var idPattern = /^[0-9A-Za-z-]{26,36}$/;
  var query = new URLSearchParams(window.location.search);

  for (var i = 0; i < names.length; i++) {
    var value = query.get(names[i]);
    if (value && idPattern.test(value)) {
      document.cookie = cookie + "=" + encodeURIComponent(value) + "; Max-Age=" +
        days * 86400 + "; Path=/; SameSite=Lax" +
        (window.location.protocol === "https:" ? "; Secure" : "");
      break;
    }
  }

  function clickId() {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var j = 0; j < parts.length; j++) {
      var eq = parts[j].indexOf("=");
      if (parts[j].slice(0, eq) === cookie) return decodeURIComponent(parts[j].slice(eq + 1));
    }
    return null;
  }

  function convert(data) {
    data = data || {};
    var params = new URLSearchParams();
    var id = data.click_id || clickId();
    if (id) params.set("click_id", id);
    var sent = ["event", "amount", "txid", "currency", "offer_id", "customer_id", "coupon"];
    sent.forEach(function (name) {
      if (data[name] !== undefined && data[name] !== null && data[name] !== "") {
        params.set(name, String(data[name]));
      }
    });
    var image = new Image(1, 1);
    image.src = base + "/pixel.gif?" + params.toString();
    return image;
  }

  var api = window.tracker = window.tracker || {};
  api.convert = convert;
  api.clickId = clickId;
  if (tag.hasAttribute("data-event") || tag.hasAttribute("data-convert")) {
    convert({
      event: tag.getAttribute("data-event"),
      amount: tag.getAttribute("data-amount"),
      txid: tag.getAttribute("data-txid"),
      currency: tag.getAttribute("data-currency"),
      offer_id: tag.getAttribute("data-offer-id"),
      customer_id: tag.getAttribute("data-customer-id"),
      coupon: tag.getAttribute("data-coupon")
    });
  }
})();
"""
