// The phone simulator: posts to /webhooks/console and shows replies as the channel would.
// Replies are attacker-influenced text: they are only ever set with textContent.
(function () {
  "use strict";
  var screen = document.getElementById("sim-screen");
  var ussd = document.getElementById("sim-ussd");
  var ussdText = document.getElementById("sim-ussd-text");
  var dial = document.getElementById("sim-dial");
  var form = document.getElementById("sim-form");
  var input = document.getElementById("sim-text");
  var phone = document.getElementById("sim-phone");
  var title = document.getElementById("sim-title");
  var status = document.getElementById("sim-status");
  var session = null; // the open USSD session id, or null
  var names = { sms: "SMS", ussd: "USSD", whatsapp: "WhatsApp" };

  function channel() {
    return document.querySelector("input[name=channel]:checked").value;
  }

  function bubble(text, who) {
    var div = document.createElement("div");
    div.className = "bubble " + who;
    div.textContent = text;
    screen.appendChild(div);
    screen.scrollTop = screen.scrollHeight;
  }

  function showUssd(text) {
    var ended = text.indexOf("END ") === 0 || text === "END";
    var body = text.replace(/^(CON|END) ?/, "");
    ussdText.textContent = body;
    if (ended) {
      session = null;
      form.hidden = true;
      dial.hidden = false;
      status.textContent = "Session ended.";
    }
  }

  function post(text) {
    var body = { phone: phone.value, text: text, channel: channel() };
    if (channel() === "ussd") { body.session_id = session; }
    status.textContent = "Sending…";
    return fetch("/webhooks/console", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) {
        if (!r.ok) { throw new Error(data.error || JSON.stringify(data.detail || data)); }
        return data.replies || [];
      });
    }).then(function (replies) {
      status.textContent = "";
      return replies;
    }).catch(function (err) {
      status.textContent = "Error: " + err.message;
      return [];
    });
  }

  function reset() {
    var ch = channel();
    title.textContent = names[ch] + " · Somo";
    screen.textContent = "";
    screen.dataset.channel = ch;
    session = null;
    status.textContent = "";
    var isUssd = ch === "ussd";
    screen.hidden = isUssd;
    ussd.hidden = !isUssd;
    dial.hidden = !isUssd;
    form.hidden = isUssd;
    ussdText.textContent = "";
    input.placeholder = isUssd ? "Reply" : "Type a message";
  }

  dial.addEventListener("click", function () {
    session = "sim-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8);
    dial.hidden = true;
    form.hidden = false;
    ussdText.textContent = "USSD code running…";
    post("").then(function (replies) {
      if (replies.length) { showUssd(replies[replies.length - 1]); }
      input.focus();
    });
  });

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value;
    if (channel() !== "ussd" && !text.trim()) { return; }
    input.value = "";
    if (channel() === "ussd") {
      post(text).then(function (replies) {
        if (replies.length) { showUssd(replies[replies.length - 1]); }
      });
      return;
    }
    bubble(text, "me");
    post(text).then(function (replies) {
      replies.forEach(function (r) { bubble(r, "somo"); });
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("input[name=channel]"), function (radio) {
    radio.addEventListener("change", reset);
  });
  phone.addEventListener("change", reset);
  reset();
}());
