(function () {
  "use strict";
  var form = document.getElementById("payment-form");
  var message = document.getElementById("payment-message");
  var button = document.getElementById("pay");
  var data = form.dataset;
  var stripe = Stripe(data.publishableKey);
  var elements = stripe.elements({ clientSecret: data.clientSecret });
  elements.create("payment").mount("#payment-element");
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    button.disabled = true;
    message.hidden = true;
    var options = { elements: elements, confirmParams: { return_url: data.returnUrl } };
    var confirm = data.kind === "setup" ? stripe.confirmSetup(options) : stripe.confirmPayment(options);
    // On success Stripe sends the browser to the return address, where billgate reads the
    // payment from Stripe; only an error that Stripe reports at once comes back here.
    confirm.then(function (result) {
      message.textContent = result.error ? result.error.message : "The payment did not complete.";
      message.hidden = false;
      button.disabled = false;
    });
  });
})();
