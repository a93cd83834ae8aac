/* indexflow status dashboard: plain JavaScript, no build step, no network beyond this origin.
 *
 * Data (all relative to the page, so the service may sit under a path prefix):
 *   GET  v1/documents?limit=…      the snapshot: every document with its plans (on load, on every
 *                                  reconnect, and every RESYNC_MS)
 *   GET  v1/events                 server-sent events, one "plan" event per status/progress change;
 *                                  read with fetch() so that it can carry the Authorization header
 *                                  (EventSource cannot send headers, and keys never go in URLs)
 *   GET  v1/documents/{id}         a document the stream names that the page does not know yet
 *   POST v1/plans/{id}/rerun       the rerun buttons
 *   POST v1/search                 the search box; hits carry their bundle (title, paths, text)
 *
 * ETA: the page measures each plan's embedding rate itself, from the successive embedded_count
 * values it observes (events and snapshots) over the last RATE_WINDOW_MS; the header shows the
 * whole server's rate (every plan's observed progress added up) and the time left for the chunks
 * already cut. The server keeps no per-batch timestamps, and the page's own measurement follows
 * the current throughput (a shared worker, a model warming up) without any server change.
 *
 * API keys: when the API answers 401 the page asks for a key, keeps it in sessionStorage (this
 * tab only) and sends it as "Authorization: Bearer …" on every request, the event stream included.
 */
(function () {
  "use strict";

  var KEY_STORAGE = "indexflow.apiKey";
  var RATE_WINDOW_MS = 30000;
  var RESYNC_MS = 60000;
  var MAX_ROWS = 500;
  var MAX_BACKOFF_MS = 15000;
  var STATUS_ORDER = ["PENDING", "BUNDLING", "READY", "EMBEDDING", "EMBEDDED", "FAILED"];
  var IN_PROGRESS = ["PENDING", "BUNDLING", "READY", "EMBEDDING"];

  // ---- pure helpers (window.indexflowDashboard exposes them to the tests) ---------------------

  /** A server-sent-events parser: feed(text) with arbitrary pieces of the stream; onEvent gets
   * {event, data} per dispatched event. Comments (": ping") and id/retry fields are ignored. */
  function createSseParser(onEvent) {
    var buffer = "";
    var eventName = "";
    var data = [];

    function line(text) {
      if (text === "") {
        if (data.length) {
          onEvent({ event: eventName || "message", data: data.join("\n") });
        }
        eventName = "";
        data = [];
        return;
      }
      if (text.charAt(0) === ":") {
        return;
      }
      var colon = text.indexOf(":");
      var field = colon < 0 ? text : text.slice(0, colon);
      var value = colon < 0 ? "" : text.slice(colon + 1);
      if (value.charAt(0) === " ") {
        value = value.slice(1);
      }
      if (field === "event") {
        eventName = value;
      } else if (field === "data") {
        data.push(value);
      }
    }

    return function feed(text) {
      buffer += text;
      for (;;) {
        var match = /\r\n|\n|\r/.exec(buffer);
        if (!match) {
          return;
        }
        if (match[0] === "\r" && match.index === buffer.length - 1) {
          return; // a "\r\n" may be split across two pieces: wait for the next one
        }
        var text2 = buffer.slice(0, match.index);
        buffer = buffer.slice(match.index + match[0].length);
        line(text2);
      }
    };
  }

  /** Add an observation [t ms, count] to a series; a count going down (a rebuild) starts over.
   * Before any progress only the latest observation is kept (the rate starts when the work
   * does, not when the page first saw the plan waiting); after it, a pause lowers the rate.
   * Samples older than the window go, but the newest of them stays as the baseline. */
  function addSample(series, t, count, windowMs) {
    var win = windowMs || RATE_WINDOW_MS;
    if (series.length && count < series[series.length - 1][1]) {
      series.length = 0;
    }
    if (series.length === 1 && series[0][1] === count) {
      series.length = 0;
    }
    series.push([t, count]);
    while (series.length > 2 && series[1][0] <= t - win) {
      series.shift();
    }
    return series;
  }

  /** Chunks per second over the series, measured up to `now` (so a stall lowers it); null while
   * fewer than two observations exist. */
  function rateOf(series, now) {
    if (series.length < 2) {
      return null;
    }
    var first = series[0];
    var last = series[series.length - 1];
    var span = Math.max(now, last[0]) - first[0];
    if (span <= 0) {
      return null;
    }
    return Math.max(0, last[1] - first[1]) / (span / 1000);
  }

  /** Seconds left for `remaining` chunks at `rate` chunks/s; null when it cannot be told. */
  function etaSeconds(remaining, rate) {
    if (remaining <= 0) {
      return 0;
    }
    if (rate === null || !(rate > 0)) {
      return null;
    }
    return remaining / rate;
  }

  function formatDuration(seconds) {
    if (seconds === null) {
      return "";
    }
    if (seconds < 1) {
      return "< 1 s";
    }
    var s = Math.round(seconds);
    if (s < 60) {
      return s + " s";
    }
    if (s < 3600) {
      var m = Math.floor(s / 60);
      var rest = s % 60;
      return m + " min" + (rest ? " " + rest + " s" : "");
    }
    var h = Math.floor(s / 3600);
    return h + " h " + Math.round((s % 3600) / 60) + " min";
  }

  function rank(status) {
    var i = STATUS_ORDER.indexOf(status);
    return i < 0 ? 0 : i;
  }

  /** Whether observation b of a plan is at least as new as a (generation, then progress). */
  function notOlder(a, b) {
    if (b.generation !== a.generation) {
      return b.generation > a.generation;
    }
    if (rank(b.status) !== rank(a.status)) {
      return rank(b.status) > rank(a.status);
    }
    return (b.embedded_count || 0) >= (a.embedded_count || 0);
  }

  /** Where the highlighted chunk lies in its bundle's text: [start, end] or null. */
  function chunkSpan(bundleText, chunkText, start, end) {
    if (typeof start === "number" && bundleText.slice(start, end) === chunkText) {
      return [start, end];
    }
    var at = bundleText.indexOf(chunkText);
    return at < 0 ? null : [at, at + chunkText.length];
  }

  // ---- state -----------------------------------------------------------------------------------

  var state = {
    docs: new Map(), // document_id → {document_id, dataset, source, title, is_active, plans: Map}
    series: new Map(), // "plan:generation" → [[t, embedded_count], …]
    total: [], // [[t, chunks embedded since the page opened], …] over every plan
    embeddedSoFar: 0,
    fetching: new Set(),
    connEpoch: 0,
    abort: null,
    backoff: 1000,
    retryTimer: null,
    renderQueued: false,
  };
  var stats = { snapshots: 0, events: 0, renders: 0, connects: 0 };
  var rows = new Map(); // document_id → {tr, sig}
  var failureItems = new Map(); // plan_id → {li, sig}

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        var value = attrs[name];
        if (value === null || value === undefined || value === false) {
          return;
        }
        if (name === "text") {
          node.textContent = value;
        } else if (name === "className") {
          node.className = value;
        } else {
          node.setAttribute(name, value === true ? "" : String(value));
        }
      });
    }
    (children || []).forEach(function (child) {
      if (child !== null && child !== undefined) {
        node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
      }
    });
    return node;
  }

  function $(id) {
    return document.getElementById(id);
  }

  // ---- the API ---------------------------------------------------------------------------------

  function AuthNeeded(message) {
    this.name = "AuthNeeded";
    this.message = message;
  }
  AuthNeeded.prototype = Object.create(Error.prototype);

  function ApiError(status, message) {
    this.name = "ApiError";
    this.status = status;
    this.message = message;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function storedKey() {
    try {
      return window.sessionStorage.getItem(KEY_STORAGE);
    } catch (e) {
      return null;
    }
  }

  async function errorMessage(resp) {
    try {
      var body = await resp.json();
      if (body && body.error && body.error.message) {
        return body.error.message;
      }
    } catch (e) {
      /* not our error body */
    }
    return "HTTP " + resp.status;
  }

  async function api(path, options) {
    var opts = options || {};
    var headers = new Headers(opts.headers || {});
    var key = storedKey();
    if (key) {
      headers.set("Authorization", "Bearer " + key);
    }
    var body;
    if (opts.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(opts.json);
    }
    var resp = await fetch(path, {
      method: opts.method || "GET",
      headers: headers,
      body: body,
      signal: opts.signal,
      cache: "no-store",
      credentials: "omit",
    });
    if (resp.status === 401) {
      var why = await errorMessage(resp);
      askForKey(why);
      throw new AuthNeeded(why);
    }
    if (!resp.ok) {
      throw new ApiError(resp.status, await errorMessage(resp));
    }
    return opts.raw ? resp : resp.json();
  }

  // ---- the model: documents and plans ----------------------------------------------------------

  function docFrom(report) {
    var doc = {
      document_id: report.document_id,
      dataset: report.dataset,
      source: report.source,
      title: report.title,
      is_active: report.is_active !== false,
      plans: new Map(),
    };
    return doc;
  }

  function observe(plan, now) {
    var id = plan.plan_id + ":" + plan.generation;
    var series = state.series.get(id);
    if (!series) {
      series = [];
      state.series.set(id, series);
    }
    if (plan.embedded_count !== null && plan.embedded_count !== undefined) {
      addSample(series, now, plan.embedded_count);
    }
  }

  /** Put one observation of a plan into its document; counts progress for the overall rate. */
  function putPlan(doc, plan, now, trusted) {
    var old = doc.plans.get(plan.plan_id);
    if (old && !trusted && !notOlder(old, plan)) {
      return;
    }
    if (old && old.generation === plan.generation) {
      var gained = (plan.embedded_count || 0) - (old.embedded_count || 0);
      if (gained > 0) {
        var total = state.total;
        if (!total.length || total[total.length - 1][0] < now - RATE_WINDOW_MS) {
          // work starts (or resumes after a quiet spell): measure from this plan's previous
          // observation, as its own rate does, not from progress seen long ago
          var mine = state.series.get(plan.plan_id + ":" + plan.generation) || [];
          total.length = 0;
          addSample(total, mine.length ? mine[mine.length - 1][0] : now, state.embeddedSoFar);
        }
        state.embeddedSoFar += gained;
        addSample(total, now, state.embeddedSoFar);
      }
    }
    if (plan.is_active) {
      doc.plans.forEach(function (other) {
        if (other.plan_id !== plan.plan_id && other.profile === plan.profile) {
          other.is_active = false; // activation retires the plan that served before
        }
      });
    }
    doc.plans.set(plan.plan_id, plan);
    observe(plan, now);
  }

  function applySnapshot(reports, now) {
    var docs = new Map();
    reports.forEach(function (report) {
      var doc = docFrom(report);
      var before = state.docs.get(report.document_id);
      (report.plans || []).forEach(function (plan) {
        if (before && before.plans.has(plan.plan_id)) {
          doc.plans.set(plan.plan_id, before.plans.get(plan.plan_id));
        }
        putPlan(doc, plan, now, true);
      });
      docs.set(doc.document_id, doc);
    });
    state.docs = docs;
    stats.snapshots += 1;
    scheduleRender();
  }

  function applyDocument(view, now) {
    var doc = state.docs.get(view.document_id);
    var fresh = docFrom(view);
    if (doc) {
      fresh.plans = doc.plans;
    }
    (view.plans || []).forEach(function (plan) {
      putPlan(fresh, plan, now, false);
    });
    state.docs.set(fresh.document_id, fresh);
    scheduleRender();
  }

  async function fetchDocument(documentId) {
    if (state.fetching.has(documentId)) {
      return;
    }
    state.fetching.add(documentId);
    try {
      applyDocument(await api("v1/documents/" + documentId), Date.now());
    } catch (err) {
      if (!(err instanceof AuthNeeded) && !(err instanceof ApiError && err.status === 404)) {
        showMessage("could not load document " + documentId + ": " + err.message, "error");
      }
    } finally {
      state.fetching.delete(documentId);
    }
  }

  function applyPlanEvent(plan, now) {
    var doc = state.docs.get(plan.document_id);
    if (!doc) {
      fetchDocument(plan.document_id); // a new document: its title, source and dataset
      return;
    }
    var known = doc.plans.has(plan.plan_id);
    putPlan(doc, plan, now, false);
    if (!known) {
      fetchDocument(plan.document_id); // a new version: the title may have changed
    }
    scheduleRender();
  }

  /** The plans a document shows: its newest version's, and any other that still serves. */
  function shownPlans(doc) {
    var plans = Array.from(doc.plans.values());
    var newest = plans.reduce(function (m, p) {
      return Math.max(m, p.version_id);
    }, 0);
    return plans
      .filter(function (p) {
        return p.version_id === newest || p.is_active;
      })
      .sort(function (a, b) {
        return a.profile < b.profile ? -1 : a.profile > b.profile ? 1 : a.plan_id - b.plan_id;
      });
  }

  function docStatus(doc) {
    if (!doc.is_active) {
      return "INACTIVE";
    }
    var plans = Array.from(doc.plans.values());
    if (!plans.length) {
      return "PENDING";
    }
    var newest = plans.reduce(function (m, p) {
      return Math.max(m, p.version_id);
    }, 0);
    var current = plans.filter(function (p) {
      return p.version_id === newest;
    });
    if (current.some(function (p) { return p.status === "FAILED"; })) {
      return "FAILED";
    }
    return current.reduce(function (least, p) {
      return rank(p.status) < rank(least) ? p.status : least;
    }, "EMBEDDED");
  }

  function planEta(plan, now) {
    if (plan.status === "EMBEDDED") {
      return { text: "done", seconds: 0 };
    }
    if (plan.status === "FAILED" || plan.chunk_count === null || plan.chunk_count === undefined) {
      return { text: "", seconds: null };
    }
    var remaining = plan.chunk_count - (plan.embedded_count || 0);
    var rate = rateOf(state.series.get(plan.plan_id + ":" + plan.generation) || [], now);
    var seconds = etaSeconds(remaining, rate);
    if (seconds === null) {
      return { text: rate === null ? "measuring…" : "waiting", seconds: null };
    }
    return { text: "ETA " + formatDuration(seconds), seconds: seconds, rate: rate };
  }

  // ---- rendering -------------------------------------------------------------------------------

  function scheduleRender() {
    if (state.renderQueued) {
      return;
    }
    state.renderQueued = true;
    window.setTimeout(function () {
      // a timer, not requestAnimationFrame: that one pauses in background tabs
      state.renderQueued = false;
      render();
    }, 50);
  }

  function badge(status) {
    return el("span", { className: "badge s-" + status, text: status });
  }

  function planNode(plan, now) {
    var chunks = plan.chunk_count;
    var done = plan.embedded_count || 0;
    var fraction = chunks ? Math.min(1, done / chunks) : plan.status === "EMBEDDED" ? 1 : 0;
    var fill = el("div", { className: "fill" });
    fill.style.width = (fraction * 100).toFixed(1) + "%";
    var eta = planEta(plan, now);
    return el(
      "div",
      {
        className: "plan",
        "data-plan-id": plan.plan_id,
        "data-status": plan.status,
        "data-generation": plan.generation,
      },
      [
        el("div", { className: "plan-line" }, [
          el("span", { className: "profile", text: plan.profile }),
          badge(plan.status),
          plan.is_active ? el("span", { className: "serving", text: "serving" }) : null,
          el("div", {
            className: "bar",
            role: "progressbar",
            "aria-valuemin": 0,
            "aria-valuemax": chunks || 0,
            "aria-valuenow": done,
          }, [fill]),
          el("span", { className: "counts", text: chunks === null ? "–" : done + " / " + chunks }),
          el("span", { className: "eta", text: eta.text }),
          el("button", {
            type: "button",
            className: "rerun",
            "data-plan-id": plan.plan_id,
            title: "build this plan again (POST /v1/plans/" + plan.plan_id + "/rerun)",
            text: "rerun",
          }),
        ]),
        plan.retrying ? el("div", { className: "retrying", text: "retrying: " + plan.retrying }) : null,
        plan.last_error && plan.status === "FAILED"
          ? el("div", { className: "error", text: plan.last_error })
          : null,
      ]
    );
  }

  function docSignature(doc, status, plans) {
    return JSON.stringify([
      doc.title,
      doc.source,
      doc.dataset,
      status,
      plans.map(function (p) {
        return [p.plan_id, p.status, p.generation, p.embedded_count, p.chunk_count, p.is_active,
          p.last_error, p.retrying];
      }),
    ]);
  }

  function docRow(doc, status, plans, now) {
    return el("tr", { "data-document-id": doc.document_id, "data-status": status }, [
      el("td", { className: "doc" }, [
        el("div", { className: "title", text: doc.title || doc.source }),
        el("div", { className: "source muted", text: doc.source + " · #" + doc.document_id }),
      ]),
      el("td", { className: "dataset", text: doc.dataset }),
      el("td", { className: "status" }, [badge(status)]),
      el("td", { className: "plans" }, plans.map(function (p) { return planNode(p, now); })),
    ]);
  }

  function refreshEtas(container, now) {
    container.querySelectorAll(".plan").forEach(function (node) {
      var planId = Number(node.getAttribute("data-plan-id"));
      var tr = node.closest("[data-document-id]");
      var doc = tr && state.docs.get(Number(tr.getAttribute("data-document-id")));
      var plan = doc && doc.plans.get(planId);
      var eta = node.querySelector(".eta");
      if (plan && eta) {
        eta.textContent = planEta(plan, now).text;
      }
    });
  }

  function setOptions(select, names, withAll) {
    var current = select.value;
    var wanted = (withAll ? [""] : []).concat(names);
    var have = Array.from(select.options).map(function (o) { return o.value; });
    if (JSON.stringify(have) === JSON.stringify(wanted)) {
      return;
    }
    select.textContent = "";
    wanted.forEach(function (name) {
      select.appendChild(el("option", { value: name, text: name || "all" }));
    });
    if (wanted.indexOf(current) >= 0) {
      select.value = current;
    }
  }

  function renderDatasets(docs) {
    var by = new Map();
    docs.forEach(function (doc) {
      var row = by.get(doc.dataset);
      if (!row) {
        row = { documents: 0, embedded: 0, progress: 0, failed: 0, chunks: 0, done: 0 };
        by.set(doc.dataset, row);
      }
      var status = docStatus(doc);
      row.documents += 1;
      row.embedded += status === "EMBEDDED" ? 1 : 0;
      row.progress += IN_PROGRESS.indexOf(status) >= 0 ? 1 : 0;
      row.failed += status === "FAILED" ? 1 : 0;
      shownPlans(doc).forEach(function (p) {
        row.chunks += p.chunk_count || 0;
        row.done += p.embedded_count || 0;
      });
    });
    var names = Array.from(by.keys()).sort();
    var tbody = $("datasets").querySelector("tbody");
    tbody.textContent = "";
    names.forEach(function (name) {
      var r = by.get(name);
      tbody.appendChild(el("tr", { "data-dataset": name }, [
        el("td", { className: "name", text: name }),
        el("td", { className: "n-documents", text: String(r.documents) }),
        el("td", { className: "n-embedded", text: String(r.embedded) }),
        el("td", { className: "n-progress", text: String(r.progress) }),
        el("td", { className: "n-failed", text: String(r.failed) }),
        el("td", { className: "n-chunks", text: r.done + " / " + r.chunks }),
      ]));
    });
    $("datasets-empty").hidden = names.length > 0;
    setOptions($("filter-dataset"), names, true);
    setOptions($("search-dataset"), names, false);
  }

  function renderDocuments(docs, now) {
    var dataset = $("filter-dataset").value;
    var wanted = $("filter-status").value;
    var visible = [];
    var matching = 0;
    docs.forEach(function (doc) {
      var status = docStatus(doc);
      if ((dataset && doc.dataset !== dataset) || (wanted && status !== wanted)) {
        return;
      }
      matching += 1;
      if (visible.length < MAX_ROWS) {
        visible.push({ doc: doc, status: status });
      }
    });
    var tbody = $("documents").querySelector("tbody");
    var keep = new Set();
    var order = [];
    visible.forEach(function (item) {
      var doc = item.doc;
      var plans = shownPlans(doc);
      var sig = docSignature(doc, item.status, plans);
      var cached = rows.get(doc.document_id);
      if (!cached || cached.sig !== sig) {
        var tr = docRow(doc, item.status, plans, now);
        if (cached && cached.tr.parentNode) {
          cached.tr.parentNode.replaceChild(tr, cached.tr);
        }
        cached = { tr: tr, sig: sig };
        rows.set(doc.document_id, cached);
      }
      keep.add(doc.document_id);
      order.push(cached.tr);
    });
    rows.forEach(function (cached, id) {
      if (!keep.has(id)) {
        if (cached.tr.parentNode) {
          cached.tr.parentNode.removeChild(cached.tr);
        }
        rows.delete(id);
      }
    });
    var inPlace = order.length === tbody.children.length && order.every(function (tr, i) {
      return tbody.children[i] === tr;
    });
    if (!inPlace) {
      order.forEach(function (tr) {
        tbody.appendChild(tr);
      });
    }
    refreshEtas(tbody, now);
    $("documents-shown").textContent =
      matching > visible.length ? "showing " + visible.length + " of " + matching : matching + " shown";
  }

  function renderFailures(docs) {
    var failed = [];
    docs.forEach(function (doc) {
      shownPlans(doc).forEach(function (plan) {
        if (plan.status === "FAILED") {
          failed.push({ doc: doc, plan: plan });
        }
      });
    });
    var list = $("failures");
    var keep = new Set();
    failed.forEach(function (item) {
      var plan = item.plan;
      var sig = JSON.stringify([plan.generation, plan.attempts, plan.last_error, item.doc.source]);
      var cached = failureItems.get(plan.plan_id);
      if (!cached || cached.sig !== sig) {
        var li = el("li", { "data-plan-id": plan.plan_id, "data-document-id": item.doc.document_id }, [
          el("div", { className: "failure-head" }, [
            el("span", { className: "title", text: item.doc.title || item.doc.source }),
            el("span", { className: "muted", text:
              " · " + item.doc.dataset + " · profile " + plan.profile + " · plan #" + plan.plan_id +
              " · " + plan.attempts + " attempt" + (plan.attempts === 1 ? "" : "s") }),
            el("button", { type: "button", className: "rerun", "data-plan-id": plan.plan_id, text: "rerun" }),
          ]),
          el("pre", { className: "error", text: plan.last_error || "(no error recorded)" }),
        ]);
        if (cached && cached.li.parentNode) {
          cached.li.parentNode.replaceChild(li, cached.li);
        } else {
          list.appendChild(li);
        }
        failureItems.set(plan.plan_id, { li: li, sig: sig });
      }
      keep.add(plan.plan_id);
    });
    failureItems.forEach(function (cached, id) {
      if (!keep.has(id)) {
        if (cached.li.parentNode) {
          cached.li.parentNode.removeChild(cached.li);
        }
        failureItems.delete(id);
      }
    });
    $("failure-count").textContent = String(failed.length);
    $("failures-empty").hidden = failed.length > 0;
  }

  function renderThroughput(docs, now) {
    var left = 0;
    var uncut = 0;
    docs.forEach(function (doc) {
      shownPlans(doc).forEach(function (p) {
        if (IN_PROGRESS.indexOf(p.status) < 0) {
          return;
        }
        if (p.chunk_count === null || p.chunk_count === undefined) {
          uncut += 1;
        } else {
          left += Math.max(0, p.chunk_count - (p.embedded_count || 0));
        }
      });
    });
    var box = $("throughput");
    if (!left && !uncut) {
      box.textContent = "idle: nothing to embed";
      box.setAttribute("data-left", "0");
      return;
    }
    var rate = rateOf(state.total, now);
    var eta = etaSeconds(left, rate);
    var parts = [left + " chunks left"];
    if (uncut) {
      parts.push(uncut + " plan" + (uncut === 1 ? "" : "s") + " not cut yet");
    }
    parts.push(rate === null ? "measuring rate…" : rate.toFixed(1) + " chunks/s");
    if (eta !== null) {
      parts.push("ETA " + formatDuration(eta));
    }
    box.textContent = parts.join(" · ");
    box.setAttribute("data-left", String(left));
  }

  function render() {
    var now = Date.now();
    var docs = Array.from(state.docs.values()).sort(function (a, b) {
      return b.document_id - a.document_id;
    });
    renderDatasets(docs);
    renderDocuments(docs, now);
    renderFailures(docs);
    renderThroughput(docs, now);
    stats.renders += 1;
  }

  // ---- messages, connection, key ---------------------------------------------------------------

  var messageTimer = null;

  function showMessage(text, kind) {
    var box = $("message");
    box.textContent = text;
    box.setAttribute("data-kind", kind || "info");
    box.hidden = false;
    window.clearTimeout(messageTimer);
    messageTimer = window.setTimeout(function () {
      box.hidden = true;
    }, 8000);
  }

  function setConn(which, text) {
    var node = $("conn");
    node.setAttribute("data-state", which);
    node.textContent = text || which;
  }

  function stopStream() {
    state.connEpoch += 1;
    if (state.abort) {
      state.abort.abort();
      state.abort = null;
    }
    window.clearTimeout(state.retryTimer);
  }

  function askForKey(reason) {
    stopStream();
    setConn("key", "API key needed");
    var prompt = $("key-prompt");
    $("key-reason").textContent = storedKey()
      ? "The key was refused: " + reason
      : "This server needs an API key (" + reason + ").";
    if (prompt.hidden) {
      prompt.hidden = false;
      $("key-input").value = "";
    }
    $("key-input").focus();
  }

  async function loadSnapshot() {
    var body = await api("v1/documents?limit=10000");
    applySnapshot(body.documents, Date.now());
  }

  /** Snapshot, then follow the event stream; on its end or an error, start over after a pause. */
  async function follow() {
    stopStream();
    var epoch = state.connEpoch;
    var ctrl = new AbortController();
    state.abort = ctrl;
    setConn("connecting", "connecting…");
    try {
      await loadSnapshot();
      var resp = await api("v1/events", {
        raw: true,
        signal: ctrl.signal,
        headers: { Accept: "text/event-stream" },
      });
      stats.connects += 1;
      state.backoff = 1000;
      setConn("live", "live");
      $("forget-key").hidden = !storedKey();
      var reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      var feed = createSseParser(function (msg) {
        if (msg.event !== "plan") {
          return;
        }
        var plan;
        try {
          plan = JSON.parse(msg.data);
        } catch (e) {
          return;
        }
        stats.events += 1;
        applyPlanEvent(plan, Date.now());
      });
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) {
          break;
        }
        feed(chunk.value);
      }
    } catch (err) {
      if (ctrl.signal.aborted || epoch !== state.connEpoch || err instanceof AuthNeeded) {
        return;
      }
      showMessage("lost the server: " + err.message, "error");
    }
    if (epoch !== state.connEpoch) {
      return;
    }
    // the stream ended (server restart, or the key was revoked: the next try asks again)
    var wait = state.backoff;
    state.backoff = Math.min(MAX_BACKOFF_MS, state.backoff * 2);
    setConn("retry", "reconnecting in " + Math.round(wait / 1000) + " s");
    state.retryTimer = window.setTimeout(follow, wait);
  }

  // ---- actions ---------------------------------------------------------------------------------

  async function rerun(button) {
    var planId = Number(button.getAttribute("data-plan-id"));
    button.disabled = true;
    button.textContent = "rerunning…";
    try {
      var plan = await api("v1/plans/" + planId + "/rerun", { method: "POST" });
      applyPlanEvent(plan, Date.now());
      showMessage("plan " + planId + " rerun (generation " + plan.generation + ")", "ok");
    } catch (err) {
      if (!(err instanceof AuthNeeded)) {
        showMessage("rerun of plan " + planId + " failed: " + err.message, "error");
      }
      button.disabled = false;
      button.textContent = "rerun";
    }
  }

  function hitNode(hit) {
    var bundle = hit.bundle || { title: "", paths: [], text: hit.text };
    var text = bundle.text || "";
    var span = chunkSpan(text, hit.text, hit.chunk && hit.chunk.char_start, hit.chunk && hit.chunk.char_end);
    var context;
    if (span) {
      var from = Math.max(0, span[0] - 400);
      var to = Math.min(text.length, span[1] + 400);
      context = el("div", { className: "hit-context" }, [
        from > 0 ? "… " : null,
        text.slice(from, span[0]),
        el("mark", { text: text.slice(span[0], span[1]) }),
        text.slice(span[1], to),
        to < text.length ? " …" : null,
      ]);
    } else {
      context = el("div", { className: "hit-context" }, [el("mark", { text: hit.text })]);
    }
    var paths = [];
    (bundle.paths || []).forEach(function (p) {
      if (p && paths.indexOf(p) < 0) {
        paths.push(p);
      }
    });
    var shown = paths.slice(0, 3).join(" · ") + (paths.length > 3 ? " · +" + (paths.length - 3) + " more" : "");
    return el("article", {
      className: "hit",
      "data-document-id": hit.document.id,
      "data-chunk-id": hit.chunk ? hit.chunk.id : null,
    }, [
      el("header", null, [
        el("span", { className: "score", text: hit.score.toFixed(3) }),
        el("span", { className: "hit-doc", text: hit.document.title || hit.document.source }),
        el("span", { className: "muted", text: hit.document.source + " · " + hit.document.dataset }),
      ]),
      el("div", { className: "hit-bundle" }, [
        el("span", { className: "hit-bundle-title", text: bundle.title }),
        shown ? el("span", { className: "hit-paths", text: shown }) : null,
      ]),
      context,
    ]);
  }

  async function search(event) {
    event.preventDefault();
    var query = $("search-query").value.trim();
    var dataset = $("search-dataset").value;
    var out = $("search-results");
    if (!query) {
      return;
    }
    if (!dataset) {
      out.textContent = "No dataset to search yet.";
      return;
    }
    out.textContent = "searching…";
    out.setAttribute("data-state", "busy");
    try {
      var body = await api("v1/search", { method: "POST", json: { query: query, dataset: dataset, k: 10 } });
      out.textContent = "";
      if (!body.hits.length) {
        out.appendChild(el("p", { className: "empty", text: "No hits." }));
      }
      body.hits.forEach(function (hit) {
        out.appendChild(hitNode(hit));
      });
      out.setAttribute("data-state", "done");
    } catch (err) {
      out.textContent = err instanceof AuthNeeded ? "" : "search failed: " + err.message;
      out.setAttribute("data-state", "error");
    }
  }

  function start() {
    $("key-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var key = $("key-input").value.trim();
      if (!key) {
        return;
      }
      window.sessionStorage.setItem(KEY_STORAGE, key);
      $("key-prompt").hidden = true;
      follow();
    });
    $("forget-key").addEventListener("click", function () {
      window.sessionStorage.removeItem(KEY_STORAGE);
      $("forget-key").hidden = true;
      follow();
    });
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("button.rerun");
      if (button && !button.disabled) {
        rerun(button);
      }
    });
    $("search-form").addEventListener("submit", search);
    $("filter-dataset").addEventListener("change", scheduleRender);
    $("filter-status").addEventListener("change", scheduleRender);
    window.setInterval(scheduleRender, 1000); // ETAs move with time
    window.setInterval(function () {
      if ($("conn").getAttribute("data-state") === "live") {
        loadSnapshot().catch(function () { /* the stream's own error handling reconnects */ });
      }
    }, RESYNC_MS);
    follow();
  }

  window.indexflowDashboard = {
    createSseParser: createSseParser,
    addSample: addSample,
    rateOf: rateOf,
    etaSeconds: etaSeconds,
    formatDuration: formatDuration,
    chunkSpan: chunkSpan,
    stats: stats,
  };

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
