"use strict";
// Renders the embedded report data. Every piece of data reaches the page through textContent
// or an SVG attribute set with setAttribute: never as markup.
(function () {
  var T0 = performance.now();
  var TIMING = {};  // ms per phase, read by bench/bench_report.py
  // DATA: the report (pytest_llmgate/reporting/pack.py); ROWS, BASE: its rows and the baseline's
  // rows as columns, from which one row is built only when it is drawn or searched
  var DATA, ROWS, BASE;
  var SVGNS = "http://www.w3.org/2000/svg";
  var PAGE = 100;

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVGNS, tag);
    for (var key in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, key)) node.setAttribute(key, String(attrs[key]));
    }
    if (text !== undefined) node.textContent = String(text);
    return node;
  }
  function fmt(value) {
    if (value === null || value === undefined || typeof value !== "number" || !isFinite(value)) return "n/a";
    if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
    return Number(value.toPrecision(4)).toString();
  }
  function itemLabel(item) {
    return item.subject + " · " + item.variant + " · " + item.dataset;
  }
  function text(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "string") return value;
    if (typeof value === "object" && typeof value.response === "string") return value.response;
    return JSON.stringify(value);
  }
  function cut(value, n) {
    return value.length > n ? value.slice(0, n - 1) + "…" : value;
  }

  // ---- the data: columns (pack.py), gzipped when big -------------------------------------------
  function column(c, n) {
    if (c.p) return c.p;
    var out = new Array(n), k = 0, j, m;
    if (c.r) {
      for (j = 0; j < c.r.length; j++) {
        var value = c.r[j][0], times = c.r[j][1];
        for (m = 0; m < times; m++) out[k++] = value;
      }
    } else {
      for (j = 0; j < n; j++) out[j] = c.d[c.i[j]];
    }
    return out;
  }
  function columns(t, fields) {
    var out = {n: t.n};
    fields.forEach(function (f) { out[f] = column(t[f], t.n); });
    out.metricNames = t.metrics.names;
    out.metricCols = t.metrics.cols.map(function (c) { return column(c, t.n); });
    out.metricNulls = t.metrics.nulls.map(function (list) {
      var set = new Set(); list.forEach(function (i) { set.add(i); }); return set;
    });
    return out;
  }
  function metricsOf(t, i) {  // one row's {metric: value} (null where it was not finite)
    var out = {};
    for (var k = 0; k < t.metricNames.length; k++) {
      var v = t.metricCols[k][i];
      if (v !== null) out[t.metricNames[k]] = v;
      else if (t.metricNulls[k].has(i)) out[t.metricNames[k]] = null;
    }
    return out;
  }
  // one row as an array: [item, id, status, metrics, output, data index, inputs, errors, details,
  //                       failing, line, repeat, latency, cost]
  function rowAt(i) {
    var m = metricsOf(ROWS, i);
    return [ROWS.item[i], ROWS.id[i], ROWS.status[i], m, ROWS.output[i], ROWS.data[i], ROWS.inputs[i],
            ROWS.errors[i], ROWS.details[i], ROWS.failing[i], ROWS.line[i], ROWS.repeat[i],
            ROWS.latency[i], typeof m.cost_usd === "number" ? m.cost_usd : null];
  }
  function inflate(b64) {
    var bytes;
    if (typeof Uint8Array.fromBase64 === "function") {
      bytes = Uint8Array.fromBase64(b64);
    } else {
      var bin = atob(b64);
      bytes = new Uint8Array(bin.length);
      for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    }
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text();
  }
  function failed(message) {
    document.getElementById("summary").textContent = message;
    document.body.dataset.rendered = "failed";
  }
  function load() {
    var raw = JSON.parse(document.getElementById("llmgate-data").textContent);
    TIMING.read = performance.now() - T0;
    if (typeof raw.gzip !== "string") { start(raw); return; }
    if (typeof DecompressionStream !== "function") {
      failed("This browser cannot unpack the report's data (it needs DecompressionStream: " +
             "Chrome 80, Firefox 113, Safari 16.4 or later).");
      return;
    }
    inflate(raw.gzip).then(function (textData) {
      TIMING.inflate = performance.now() - T0 - TIMING.read;
      var t = performance.now();
      var doc = JSON.parse(textData);
      TIMING.parse = performance.now() - t;
      start(doc);
    }).catch(function (error) {
      failed("The report's data could not be read: " + error);
      throw error;
    });
  }

  // ---- header ---------------------------------------------------------------------------------
  function renderHeader() {
    var head = document.getElementById("headline");
    head.textContent = "LLM gate report";
    head.appendChild(el("span", "badge v-" + DATA.verdict, DATA.verdict.toUpperCase()));
    var counts = [];
    Object.keys(DATA.counts).sort().forEach(function (k) { counts.push(DATA.counts[k] + " " + k); });
    var parts = [DATA.items.length + " items (" + (counts.join(", ") || "none") + ")",
                 DATA.rowCount + " rows" + (DATA.rowsShown === undefined ? "" : " (" + DATA.rowsShown + " shown in this page)"),
                 DATA.errored + " errored"];
    if (DATA.cost !== null) parts.push("cost $" + DATA.cost.toFixed(4));
    if (DATA.commit) parts.push("commit " + DATA.branch + " " + DATA.commit);
    if (DATA.started) parts.push("started " + DATA.started);
    document.getElementById("summary").textContent = parts.join(" · ");
    var list = document.getElementById("warnings");
    DATA.warnings.forEach(function (w) { list.appendChild(el("li", null, "warning: " + w)); });
  }

  function renderBaseline() {
    var b = DATA.baseline;
    if (!b) return;
    document.getElementById("baseline-section").hidden = false;
    var box = document.getElementById("baseline");
    var line = "Compared with " + b.label + ": " + b.regressed + " item(s) regressed";
    if (b.costDelta !== null) line += " · cost " + (b.costDelta >= 0 ? "+" : "−") + "$" + Math.abs(b.costDelta).toFixed(4);
    box.appendChild(el("p", null, line));
    [["New items", b.new], ["Removed items", b.removed], ["Improved past tolerance: refresh the baseline", b.refresh]]
      .forEach(function (pair) {
        if (!pair[1].length) return;
        box.appendChild(el("h3", null, pair[0] + " (" + pair[1].length + ")"));
        var ul = el("ul");
        pair[1].slice(0, 200).forEach(function (n) { ul.appendChild(el("li", null, n)); });
        box.appendChild(ul);
      });
    var notes = [];
    DATA.items.forEach(function (item) {
      item.notes.forEach(function (n) { if (item.status === "matched") notes.push(item.nodeid + ": " + n); });
    });
    if (notes.length) {
      box.appendChild(el("h3", null, "Not like for like (" + notes.length + ")"));
      var ul = el("ul");
      notes.slice(0, 200).forEach(function (n) { ul.appendChild(el("li", "t-warn", n)); });
      box.appendChild(ul);
    }
  }


  // ---- shared helpers ----------------------------------------------------------------------------
  var MULTI_SUITE = false;
  function uniqueLabel(item) {
    return (MULTI_SUITE ? item.suite + ": " : "") + item.short;
  }
  function pick(obj, keys) {
    if (!obj) return "";
    for (var i = 0; i < keys.length; i++) {
      var v = obj[keys[i]];
      if (v !== null && v !== undefined && v !== "") return typeof v === "string" ? v : JSON.stringify(v);
    }
    return "";
  }
  function dataOf(r) { return DATA.data[r[5]] || {}; }  // dataset rows are sent once
  function expectedOf(r) { return pick(dataOf(r), DATA.expectedKeys); }
  function questionOf(r) { return pick(dataOf(r), DATA.inputKeys) || pick(r[6], DATA.inputKeys); }
  function gatedMetrics(itemIndexes) {
    var out = [];
    itemIndexes.forEach(function (i) {
      DATA.items[i].checks.forEach(function (c) {
        if (c.kind === "threshold" && out.indexOf(c.metric) < 0 && c.metric !== "error_rate") out.push(c.metric);
      });
    });
    return out;
  }
  var DIRECTION = {};
  function higherIsBetter(metric) {  // the same name hints as thresholds.direction_of
    if (DIRECTION[metric] === undefined) {
      DIRECTION[metric] = !/cost|latency|tokens|duration|error|toxicity|pii|severity|defect|injection|length_|violence|sexual|self_harm|hate/i.test(metric);
    }
    return DIRECTION[metric];
  }
  function deepLink(nodeid, rowId) {
    var parts = ["item=" + encodeURIComponent(nodeid)];
    if (rowId !== undefined && rowId !== null) parts.push("row=" + encodeURIComponent(rowId));
    return "#" + parts.join("&");
  }
  function link(text, nodeid, rowId) {
    var a = el("a", "deep", text);
    a.setAttribute("href", deepLink(nodeid, rowId));
    return a;
  }

  // ---- what failed: every breach and regression, first ---------------------------------------
  var TAG = {fail: "FAIL", error: "ERROR", inconclusive: "UNSURE", warn: "WARN"};
  function renderFindings() {
    var body = document.getElementById("findings-body");
    if (!DATA.findings.length) { document.getElementById("verdict-none").hidden = false; return; }
    document.getElementById("findings-table").hidden = false;
    DATA.findings.forEach(function (f) {
      var tr = el("tr", "finding f-" + f.verdict);
      var tag = el("td");
      tag.appendChild(el("span", "badge v-" + f.verdict, f.kind === "regression" ? "REGRESSION" : (TAG[f.verdict] || f.verdict)));
      tr.appendChild(tag);
      tr.appendChild(el("td", null, f.short));
      var metric = f.metric ? f.metric + (f.aggregate && f.aggregate !== "item" ? " " + f.aggregate : "") : "item";
      if (f.kind === "regression") metric += " (regression)";
      tr.appendChild(el("td", null, metric));
      tr.appendChild(el("td", "num", f.value === undefined ? "" : f.value + (f.interval ? " " + f.interval : "")));
      var bound = f.bound || "";
      // a regression: baseline -> current; an A/B rule: the reference variant's -> this one's
      if ((f.kind === "regression" || f.kind === "comparison") && f.baseline !== null && f.baseline !== undefined) {
        bound = f.baseline + " → " + f.value + (f.bound ? " (allowed " + f.bound + ")" : "");
      }
      tr.appendChild(el("td", null, f.metric ? bound : f.message));
      tr.appendChild(el("td", "num", f.p || ""));
      tr.appendChild(el("td", "muted", f.source || f.message || ""));
      var cell = el("td");
      cell.appendChild(link("rows", f.nodeid));
      tr.appendChild(cell);
      tr.dataset.item = f.nodeid;
      tr.dataset.metric = f.metric || "";
      tr.title = f.message || "";
      body.appendChild(tr);
    });
  }

  // the group's compare_variants rules as the gate decided them (checks of kind "comparison")
  function abGates(g, root) {
    var list = el("ul", "ab-gates");
    DATA.items.forEach(function (item) {
      if (item.suite !== g.suite || item.subject !== g.subject || item.dataset !== g.dataset) return;
      item.checks.forEach(function (c) {
        if (c.kind !== "comparison") return;
        var li = el("li", "gate-" + c.verdict);
        li.appendChild(el("span", "badge v-" + c.verdict, (TAG[c.verdict] || c.verdict).toUpperCase()));
        var line = " gate: " + item.variant + " " + c.metric + " " + c.aggregate + " = " + fmt(c.value) +
          (c.bound && c.bound !== "-" ? ", needs " + c.bound : "") + (c.source ? " [" + c.source + "]" : "");
        li.appendChild(document.createTextNode(line));
        if (c.message) li.title = c.message;
        list.appendChild(li);
      });
    });
    if (list.childNodes.length) root.appendChild(list);
  }
  function renderAB() {
    if (!DATA.variants.length) return;
    document.getElementById("ab-section").hidden = false;
    var root = document.getElementById("ab");
    DATA.variants.forEach(function (g) {
      var best = Object.keys(g.best).map(function (m) { return g.best[m] + " on " + m; });
      root.appendChild(el("h3", null, g.label + " (" + g.variants.join(" vs ") + "): " +
        (best.length ? "best " + best.join(", ") : "no variant is significantly better")));
      abGates(g, root);
      var table = el("table", "ab-table");
      var head = el("tr");
      ["metric", "b − a", "mean a", "mean b", "difference", "95% interval", "p", "n", "verdict"].forEach(function (c) { head.appendChild(el("th", null, c)); });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      var body = el("tbody");
      g.comparisons.forEach(function (c) {
        var tr = el("tr", c.winner ? "significant" : "");
        tr.appendChild(el("td", null, c.metric));
        tr.appendChild(el("td", null, c.b + " − " + c.a));
        tr.appendChild(el("td", "num", fmt(c.meanA)));
        tr.appendChild(el("td", "num", fmt(c.meanB)));
        tr.appendChild(el("td", "num", (c.delta > 0 ? "+" : "") + fmt(c.delta)));
        tr.appendChild(el("td", "num", c.ciLow === null ? "" : "[" + fmt(c.ciLow) + ", " + fmt(c.ciHigh) + "]"));
        tr.appendChild(el("td", "num", fmt(c.p)));
        tr.appendChild(el("td", "num", c.n));
        tr.appendChild(el("td", c.winner ? "t-pass" : "muted", c.winner ? c.winner + " better" : "no significant difference"));
        body.appendChild(tr);
      });
      table.appendChild(body);
      root.appendChild(table);
    });
  }

  // ---- word-level diff (LCS over words; long texts are compared plainly) ----------------------
  var MAX_DIFF_WORDS = 400;
  function words(text) { return text.split(/(\s+)/).filter(function (w) { return w.length; }); }
  function wordDiff(before, after) {
    var a = words(before), b = words(after);
    if (a.length > MAX_DIFF_WORDS || b.length > MAX_DIFF_WORDS) return null;
    var n = a.length, m = b.length, width = m + 1;
    var table = new Uint16Array((n + 1) * (m + 1));
    for (var i = n - 1; i >= 0; i--) {
      for (var j = m - 1; j >= 0; j--) {
        table[i * width + j] = a[i] === b[j] ? table[(i + 1) * width + j + 1] + 1
          : Math.max(table[(i + 1) * width + j], table[i * width + j + 1]);
      }
    }
    var out = [];
    i = 0; j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && a[i] === b[j]) { out.push([0, a[i]]); i++; j++; }
      else if (j < m && (i >= n || table[i * width + j + 1] >= table[(i + 1) * width + j])) { out.push([1, b[j]]); j++; }
      else { out.push([-1, a[i]]); i++; }
    }
    return out;
  }
  function diffNode(before, after) {
    var span = el("span");
    var parts = before === null ? null : wordDiff(before, after);
    if (!parts) { span.textContent = after; return span; }
    parts.forEach(function (p) {
      if (p[0] === 0) span.appendChild(document.createTextNode(p[1]));
      else span.appendChild(el(p[0] > 0 ? "ins" : "del", "w", p[1]));
    });
    return span;
  }

  // ---- variant comparison matrix: golden rows x variants (and their baselines) ----------------
  var MATRIX_PAGE = 25;  // tall rows (one answer per column): a short page draws fast
  var matrix = {groups: [], group: null, rows: [], page: 0};
  // item index -> Map(row id -> row index), first repeat; ids are data, so Maps, not objects
  // (a row called "__proto__" or "constructor" is a row like any other)
  var rowIndex = [], baseIndex = [];
  function indexRows(t, into) {
    for (var i = 0; i < t.n; i++) {
      var byId = into[t.item[i]] || (into[t.item[i]] = new Map());
      if (!byId.has(t.id[i])) byId.set(t.id[i], i);
    }
  }
  function buildRowIndex() {
    indexRows(ROWS, rowIndex);
    DATA.baseItems.forEach(function (i) { baseIndex[i] = new Map(); });  // even with no rows
    indexRows(BASE, baseIndex);
  }
  function rowOf(index, item, id) { var m = index[item]; return m ? m.get(id) : undefined; }
  function matrixGroups() {
    var byKey = {}, order = [];
    DATA.items.forEach(function (item, i) {
      if (!item.rows) return;
      var key = item.suite + "\u0000" + item.subject + "\u0000" + item.dataset;
      if (!byKey[key]) { byKey[key] = {label: item.suite + ": " + item.subject + " on " + item.dataset, items: []}; order.push(key); }
      byKey[key].items.push(i);
    });
    var out = [];
    order.forEach(function (key) {
      var g = byKey[key];
      var columns = [];
      g.items.forEach(function (i) {
        if (baseIndex[i]) columns.push({kind: "base", item: i, label: DATA.items[i].variant + " (baseline)"});
      });
      g.items.forEach(function (i) { columns.push({kind: "cur", item: i, label: DATA.items[i].variant}); });
      if (columns.length < 2) return;
      var ids = [], seen = new Set();
      g.items.forEach(function (i) {
        (rowIndex[i] || new Map()).forEach(function (_, id) { if (!seen.has(id)) { seen.add(id); ids.push(id); } });
      });
      g.columns = columns;
      g.ids = ids;
      g.metrics = gatedMetrics(g.items).slice(0, 4);
      out.push(g);
    });
    return out;
  }
  // one cell: {text, metrics, status (0 ok, 1 failing, 2 erroring, -1 absent), row index or -1}
  function cellOf(col, id) {
    if (col.kind === "base") {
      var b = rowOf(baseIndex, col.item, id);
      if (b === undefined) return {text: null, metrics: {}, status: -1, row: -1};
      var output = BASE.output[b], errors = BASE.errors[b];
      if (output === 0) {  // the same answer as this run's row (sent once)
        var same = rowOf(rowIndex, col.item, id);
        output = same === undefined ? "" : ROWS.output[same];
      }
      return {text: errors.length ? errors.join("; ") : text(output), metrics: metricsOf(BASE, b), status: errors.length ? 2 : 0, row: -1};
    }
    var index = rowOf(rowIndex, col.item, id);
    if (index === undefined) return {text: null, metrics: {}, status: -1, row: -1};
    var errs = ROWS.errors[index];
    return {text: errs.length ? errs.join("; ") : text(ROWS.output[index]), metrics: metricsOf(ROWS, index), status: ROWS.status[index], row: index};
  }
  function refColumn(g) {
    var v = document.getElementById("matrix-ref").value;
    return v === "" ? -1 : parseInt(v, 10);
  }
  function rowMatches(g, id, mode, q, ref) {
    if (mode === "all" && !q) return true;
    var cells = g.columns.map(function (c) { return cellOf(c, id); });
    if (q) {
      var first = cells.filter(function (c) { return c.row >= 0; })[0];
      var hay = [id].concat(cells.map(function (c) { return c.text || ""; }));
      if (first) hay.push(questionOf(rowAt(first.row)), expectedOf(rowAt(first.row)));
      if (hay.join("\n").toLowerCase().indexOf(q) < 0) return false;
    }
    if (mode === "failing") return cells.some(function (c) { return c.status === 1 || c.status === 2; });
    if (ref < 0) return mode === "all";
    var base = cells[ref];
    if (mode === "changed") {
      return cells.some(function (c, n) { return n !== ref && c.text !== null && base.text !== null && c.text !== base.text; });
    }
    if (mode === "regressed") {
      return cells.some(function (c, n) {
        if (n === ref || c.text === null || base.text === null) return false;
        if (c.status === 2 && base.status !== 2) return true;
        return g.metrics.some(function (m) {
          var x = c.metrics[m], y = base.metrics[m];
          if (typeof x !== "number" || typeof y !== "number") return false;
          return higherIsBetter(m) ? x < y - 1e-9 : x > y + 1e-9;
        });
      });
    }
    return true;
  }
  function applyMatrix() {
    var g = matrix.group;
    var mode = document.getElementById("matrix-filter").value;
    var q = document.getElementById("matrix-search").value.trim().toLowerCase();
    var ref = refColumn(g);
    // every row, unfiltered: no cell needs looking at until its page is drawn
    matrix.rows = mode === "all" && !q ? g.ids.slice()
      : g.ids.filter(function (id) { return rowMatches(g, id, mode, q, ref); });
    matrix.page = 0;
    renderMatrix();
  }
  function renderMatrixHead() {
    var g = matrix.group, ref = refColumn(g);
    var tr = el("tr");
    tr.appendChild(el("th", null, "row"));
    tr.appendChild(el("th", null, "question / expected"));
    g.columns.forEach(function (c, n) { tr.appendChild(el("th", n === ref ? "ref" : null, c.label + (n === ref ? " (reference)" : ""))); });
    document.getElementById("matrix-head").replaceChildren(tr);
  }
  function scoreLine(g, cell, refCell) {
    var span = el("span", "scores");
    g.metrics.forEach(function (m, k) {
      var v = cell.metrics[m];
      if (typeof v !== "number") return;
      var cls = null;
      if (refCell && refCell !== cell && typeof refCell.metrics[m] === "number" && Math.abs(refCell.metrics[m] - v) > 1e-9) {
        cls = (v > refCell.metrics[m]) === higherIsBetter(m) ? "better" : "worse";
      }
      if (k) span.appendChild(document.createTextNode("  "));
      span.appendChild(el("span", cls, m + " " + fmt(v)));
    });
    return span;
  }
  function renderMatrix() {
    var g = matrix.group, ref = refColumn(g);
    renderMatrixHead();
    var total = matrix.rows.length, pages = Math.max(1, Math.ceil(total / MATRIX_PAGE));
    matrix.page = Math.min(Math.max(0, matrix.page), pages - 1);
    var frag = document.createDocumentFragment();
    matrix.rows.slice(matrix.page * MATRIX_PAGE, (matrix.page + 1) * MATRIX_PAGE).forEach(function (id) {
      var tr = el("tr", "matrix-row");
      tr.dataset.row = id;
      tr.appendChild(el("td", null, id));
      var cells = g.columns.map(function (c) { return cellOf(c, id); });
      var first = cells.filter(function (c) { return c.row >= 0; })[0];
      var qa = el("td", "cell-text");
      if (first) {
        var r = rowAt(first.row);
        qa.appendChild(el("div", null, cut(questionOf(r), 300)));
        var exp = expectedOf(r);
        if (exp) qa.appendChild(el("div", "muted", "expected: " + cut(exp, 300)));
      }
      tr.appendChild(qa);
      var refCell = ref >= 0 ? cells[ref] : null;
      cells.forEach(function (cell, n) {
        var cls = cell.status < 0 ? "c-none" : cell.status === 2 ? "c-error" : cell.status === 1 ? "c-fail" : "c-ok";
        var td = el("td", "matrix-cell " + cls);
        if (cell.text === null) { td.textContent = "(no row)"; tr.appendChild(td); return; }
        var before = refCell && n !== ref && refCell.text !== null ? refCell.text : null;
        td.appendChild(diffNode(before === null ? null : cut(before, 3000), cut(cell.text, 3000)));
        td.appendChild(scoreLine(g, cell, refCell));
        var col = g.columns[n];
        if (col.kind === "cur") {
          td.title = "open row " + id + " of " + DATA.items[col.item].nodeid;
          td.addEventListener("click", function () { location.hash = deepLink(DATA.items[col.item].nodeid, id); });
        }
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    document.getElementById("matrix-body").replaceChildren(frag);
    document.getElementById("matrix-status").textContent = total + " of " + g.ids.length + " rows";
    document.getElementById("matrix-page").textContent = "page " + (matrix.page + 1) + " of " + pages;
    document.getElementById("matrix-prev").disabled = matrix.page === 0;
    document.getElementById("matrix-next").disabled = matrix.page >= pages - 1;
  }
  function selectGroup(index) {
    matrix.group = matrix.groups[index];
    var ref = document.getElementById("matrix-ref");
    ref.replaceChildren();
    var none = el("option", null, "nothing (no diff)"); none.value = ""; ref.appendChild(none);
    matrix.group.columns.forEach(function (c, n) { var o = el("option", null, c.label); o.value = String(n); ref.appendChild(o); });
    ref.value = "0";  // a baseline column when there is one, else the first variant
    applyMatrix();
  }
  function renderMatrixControls() {
    timed("matrixIndex", buildRowIndex);
    timed("matrixGroups", function () { matrix.groups = matrixGroups(); });
    if (!matrix.groups.length) return;
    document.getElementById("matrix-section").hidden = false;
    var select = document.getElementById("matrix-group");
    matrix.groups.forEach(function (g, n) {
      var o = el("option", null, g.label + " (" + g.columns.length + " columns)"); o.value = String(n); select.appendChild(o);
    });
    select.addEventListener("change", function () { selectGroup(parseInt(select.value, 10)); });
    document.getElementById("matrix-ref").addEventListener("change", applyMatrix);
    document.getElementById("matrix-filter").addEventListener("change", applyMatrix);
    var timer = null;
    document.getElementById("matrix-search").addEventListener("input", function () {
      clearTimeout(timer); timer = setTimeout(applyMatrix, 150);
    });
    document.getElementById("matrix-prev").addEventListener("click", function () { matrix.page -= 1; renderMatrix(); });
    document.getElementById("matrix-next").addEventListener("click", function () { matrix.page += 1; renderMatrix(); });
    selectGroup(0);
  }

  // ---- suites -----------------------------------------------------------------------------------
  function renderSuites() {
    var root = document.getElementById("suites");
    var withBase = !!DATA.baseline;
    DATA.suites.forEach(function (suite) {
      root.appendChild(el("h3", null, "Suite " + suite.name));
      var table = el("table", "suite-table");
      var head = el("tr");
      var cols = ["subject", "variant", "dataset", "verdict", "metric", "aggregate", "value", "bound", "check"];
      if (withBase) cols = cols.concat(["baseline", "Δ"]);
      cols.forEach(function (c) { head.appendChild(el("th", null, c)); });
      var thead = el("thead"); thead.appendChild(head); table.appendChild(thead);
      var body = el("tbody");
      suite.items.forEach(function (index) {
        var item = DATA.items[index];
        var lines = metricLines(item);
        if (!lines.length) lines = [{metric: "", aggregate: "", value: null, bound: "", verdict: "", baseline: null, delta: "", change: ""}];
        lines.forEach(function (m, i) {
          var tr = el("tr", m.verdict === "fail" || m.verdict === "error" || m.verdict === "inconclusive" ? "breach" : "");
          if (i === 0) {
            [item.subject, item.variant, item.dataset].forEach(function (v) {
              var td = el("td", null, v); td.rowSpan = lines.length; tr.appendChild(td);
            });
            var verdict = el("td"); verdict.rowSpan = lines.length;
            verdict.appendChild(el("span", "badge v-" + item.verdict, item.verdict));
            if (item.message) verdict.appendChild(el("div", "muted", item.message));
            if (item.errored) verdict.appendChild(el("div", "t-fail", item.errored + " errored row(s)"));
            if (item.shown !== undefined) verdict.appendChild(el("div", "muted", "showing " + item.shown + " of " + item.rows + " rows"));
            if (item.status === "new") verdict.appendChild(el("div", "muted", "new vs baseline"));
            tr.appendChild(verdict);
          }
          tr.appendChild(el("td", null, m.metric));
          tr.appendChild(el("td", null, m.aggregate));
          tr.appendChild(el("td", "num", fmt(m.value)));
          tr.appendChild(el("td", null, m.bound));
          tr.appendChild(el("td", "t-" + m.verdict, m.verdict));
          if (withBase) {
            tr.appendChild(el("td", "num", fmt(m.baseline)));
            tr.appendChild(el("td", "num " + (m.change || ""), m.delta));
          }
          if (m.message) tr.title = m.message;
          body.appendChild(tr);
        });
      });
      table.appendChild(body);
      root.appendChild(table);
    });
  }

  // one line per check, then the remaining metrics (with deltas when there is a baseline)
  function metricLines(item) {
    var byMetric = {};
    item.metrics.forEach(function (m) { byMetric[m.metric] = m; });
    var out = [];
    var seen = {};
    item.checks.forEach(function (c) {
      if (c.metric === "dataset") return;
      var m = byMetric[c.metric] || {};
      out.push({metric: c.metric + (c.kind === "threshold" ? "" : " (" + c.kind + ")"), aggregate: c.aggregate, value: c.value,
                bound: c.bound === "-" ? "" : c.bound, verdict: c.verdict, message: c.message,
                baseline: c.baseline !== null ? c.baseline : (m.aggregate === c.aggregate ? m.baseline : null),
                delta: m.aggregate === c.aggregate ? m.delta : "", change: m.aggregate === c.aggregate ? m.change : ""});
      seen[c.metric] = true;
    });
    item.metrics.forEach(function (m) {
      if (seen[m.metric]) return;
      out.push({metric: m.metric, aggregate: m.aggregate, value: m.value, bound: "", verdict: m.verdict,
                baseline: m.baseline, delta: m.delta, change: m.change});
    });
    return out;
  }

  // ---- charts -----------------------------------------------------------------------------------
  function metricNames() {
    var names = [];
    var gated = {};
    DATA.items.forEach(function (item) {
      item.checks.forEach(function (c) { if (c.kind === "threshold") gated[c.metric] = true; });
      Object.keys(item.means).forEach(function (m) { if (names.indexOf(m) < 0) names.push(m); });
    });
    names.sort(function (a, b) { return (gated[b] ? 1 : 0) - (gated[a] ? 1 : 0); });
    var first = DATA.defaultMetric;
    if (first && names.indexOf(first) >= 0) names = [first].concat(names.filter(function (n) { return n !== first; }));
    return names;
  }

  function chartVariants(metric) {
    var items = DATA.items.filter(function (i) { return typeof i.means[metric] === "number"; });
    var width = 560, left = 220, right = 56, barH = 16, gap = 6;
    var height = Math.max(40, items.length * (barH + gap) + 30);
    var root = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img"});
    root.appendChild(svg("title", {}, "variant comparison: " + metric));
    var max = 0, min = 0;
    items.forEach(function (i) {
      max = Math.max(max, i.means[metric]); min = Math.min(min, i.means[metric]);
      i.checks.forEach(function (c) {
        if (c.metric !== metric) return;
        [c.min, c.max, c.baseline, c.ciLow, c.ciHigh].forEach(function (v) { if (typeof v === "number") { max = Math.max(max, v); min = Math.min(min, v); } });
      });
    });
    if (max === min) max = min + 1;
    var span = width - left - right;
    function x(v) { return left + (v - min) / (max - min) * span; }
    items.forEach(function (item, n) {
      var y = 10 + n * (barH + gap);
      var value = item.means[metric];
      var check = item.checks.filter(function (c) { return c.metric === metric && c.kind === "threshold"; })[0];
      var cls = check ? (check.verdict === "pass" ? "bar-pass" : "bar-fail") : "bar-none";
      root.appendChild(svg("text", {x: left - 6, y: y + barH - 4, "text-anchor": "end"}, cut(uniqueLabel(item), 36)));
      var bar = svg("rect", {x: x(Math.min(0, value)), y: y, width: Math.max(1, Math.abs(x(value) - x(0))), height: barH, "class": cls});
      bar.appendChild(svg("title", {}, item.nodeid + ": " + metric + " mean " + fmt(value)));
      root.appendChild(bar);
      root.appendChild(svg("text", {x: Math.max(x(value), x(0)) + 4, y: y + barH - 4}, fmt(value)));
      var mean = item.checks.filter(function (c) { return c.metric === metric && c.aggregate === "mean" && typeof c.ciLow === "number"; })[0];
      if (mean) {
        var whisker = svg("line", {x1: x(mean.ciLow), x2: x(mean.ciHigh), y1: y + barH / 2, y2: y + barH / 2, "class": "ci"});
        whisker.appendChild(svg("title", {}, "95% interval " + fmt(mean.ciLow) + " – " + fmt(mean.ciHigh)));
        root.appendChild(whisker);
      }
      if (check) {
        [check.min, check.max].forEach(function (b) {
          if (typeof b === "number") root.appendChild(svg("line", {x1: x(b), x2: x(b), y1: y - 2, y2: y + barH + 2, "class": "bound"}));
        });
      }
      var m = item.metrics.filter(function (mm) { return mm.metric === metric; })[0];
      if (m && typeof m.baseline === "number") {
        root.appendChild(svg("line", {x1: x(m.baseline), x2: x(m.baseline), y1: y - 3, y2: y + barH + 3, "class": "base"}));
      }
    });
    root.appendChild(svg("line", {x1: x(0 > min ? 0 : min), x2: x(0 > min ? 0 : min), y1: 4, y2: height - 16, "class": "axis"}));
    root.appendChild(svg("text", {x: left, y: height - 4}, fmt(min)));
    root.appendChild(svg("text", {x: width - right, y: height - 4, "text-anchor": "end"}, fmt(max)));
    return root;
  }

  function chartDistribution(metric) {
    var items = DATA.items.filter(function (i) { return i.hist[metric]; });
    var width = 560, left = 220, rowH = 30, bins = DATA.binCount;
    var height = Math.max(40, items.length * (rowH + 6) + 24);
    var root = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img"});
    root.appendChild(svg("title", {}, "score distribution: " + metric));
    var binW = (width - left - 10) / bins;
    items.forEach(function (item, n) {
      var h = item.hist[metric];
      var top = 6 + n * (rowH + 6);
      var peak = Math.max.apply(null, h.bins.concat([1]));
      root.appendChild(svg("text", {x: left - 6, y: top + rowH - 8, "text-anchor": "end"}, cut(uniqueLabel(item), 36)));
      h.bins.forEach(function (count, b) {
        if (!count) return;
        var bh = Math.max(1, count / peak * rowH);
        var rect = svg("rect", {x: left + b * binW, y: top + rowH - bh, width: Math.max(1, binW - 1), height: bh, "class": "hist"});
        var lo = h.lo + (h.hi - h.lo) * b / bins, hi = h.lo + (h.hi - h.lo) * (b + 1) / bins;
        rect.appendChild(svg("title", {}, count + " row(s) in [" + fmt(lo) + ", " + fmt(hi) + ")"));
        root.appendChild(rect);
      });
      root.appendChild(svg("line", {x1: left, x2: width - 10, y1: top + rowH, y2: top + rowH, "class": "axis"}));
    });
    if (items.length) {
      var h0 = items[0].hist[metric];
      root.appendChild(svg("text", {x: left, y: height - 4}, fmt(h0.lo)));
      root.appendChild(svg("text", {x: width - 10, y: height - 4, "text-anchor": "end"}, fmt(h0.hi)));
    }
    return root;
  }

  function chartScatter(metric) {
    var useCost = DATA.items.some(function (i) { return typeof i.cost === "number"; });
    var xName = useCost ? "cost (USD)" : "mean latency (ms)";
    document.getElementById("scatter-caption").textContent = (useCost ? "Cost" : "Latency") + " vs quality (" + metric + ")";
    var points = DATA.items.filter(function (i) {
      return typeof i.means[metric] === "number" && typeof (useCost ? i.cost : i.latency) === "number";
    });
    var width = 560, height = 300, left = 56, bottom = 36, top = 10, right = 60;
    var root = svg("svg", {width: width, height: height, viewBox: "0 0 " + width + " " + height, role: "img"});
    root.appendChild(svg("title", {}, xName + " vs " + metric));
    var xs = points.map(function (p) { return useCost ? p.cost : p.latency; });
    var ys = points.map(function (p) { return p.means[metric]; });
    var x0 = Math.min.apply(null, xs.concat([0])), x1 = Math.max.apply(null, xs.concat([1e-9]));
    var y0 = Math.min.apply(null, ys.concat([0])), y1 = Math.max.apply(null, ys.concat([1]));
    if (x1 === x0) x1 = x0 + 1;
    if (y1 === y0) y1 = y0 + 1;
    x1 += (x1 - x0) * 0.08;  // room for the labels of the right-most points
    y1 += (y1 - y0) * 0.05;
    function sx(v) { return left + (v - x0) / (x1 - x0) * (width - left - right); }
    function sy(v) { return height - bottom - (v - y0) / (y1 - y0) * (height - bottom - top); }
    root.appendChild(svg("line", {x1: left, x2: width - right, y1: height - bottom, y2: height - bottom, "class": "axis"}));
    root.appendChild(svg("line", {x1: left, x2: left, y1: top, y2: height - bottom, "class": "axis"}));
    root.appendChild(svg("text", {x: left, y: height - bottom + 14}, fmt(x0)));
    root.appendChild(svg("text", {x: width - right, y: height - bottom + 14, "text-anchor": "end"}, fmt(x1)));
    root.appendChild(svg("text", {x: (width + left) / 2, y: height - 4, "text-anchor": "middle"}, xName));
    root.appendChild(svg("text", {x: left - 4, y: height - bottom, "text-anchor": "end"}, fmt(y0)));
    root.appendChild(svg("text", {x: left - 4, y: top + 10, "text-anchor": "end"}, fmt(y1)));
    points.forEach(function (p, n) {
      var dot = svg("circle", {cx: sx(xs[n]), cy: sy(ys[n]), r: 5, "class": "dot"});
      dot.appendChild(svg("title", {}, uniqueLabel(p) + ": " + metric + " " + fmt(ys[n]) + ", " + xName + " " + fmt(xs[n])));
      root.appendChild(dot);
      if (points.length <= 12) root.appendChild(svg("text", {x: sx(xs[n]) + 7, y: sy(ys[n]) + 4, "class": "point-label"}, cut(uniqueLabel(p), 40)));
    });
    if (!points.length) root.appendChild(svg("text", {x: left + 10, y: top + 20}, "no " + xName + " recorded"));
    return root;
  }

  function renderCharts() {
    var select = document.getElementById("metric-select");
    var names = metricNames();
    if (!names.length) { document.getElementById("charts-section").hidden = true; return; }
    names.forEach(function (n) { var o = el("option", null, n); o.value = n; select.appendChild(o); });
    function draw() {
      var metric = select.value;
      [["chart-variants", chartVariants], ["chart-dist", chartDistribution], ["chart-scatter", chartScatter]]
        .forEach(function (pair) {
          var box = document.getElementById(pair[0]);
          box.replaceChildren(pair[1](metric));
        });
    }
    select.addEventListener("change", draw);
    draw();
  }

  // ---- rows -------------------------------------------------------------------------------------
  // row arrays: [item, id, status, metrics, output, data index, inputs, errors, details, failing,
  //              line, repeat, latency, cost]
  var STATUS = ["ok", "failing", "erroring"];
  var state = {page: 0, rows: [], open: {}, target: -1};
  var hay = [];

  var dataTexts = [];  // a golden row's text, shared by every variant that answered it
  function dataText(d) {
    if (dataTexts[d] === undefined) dataTexts[d] = JSON.stringify(DATA.data[d] || {});
    return dataTexts[d];
  }
  function haystack(i) {
    if (hay[i] === undefined) {
      // straight from the columns: a search over 50,000 rows builds no row arrays
      hay[i] = [DATA.items[ROWS.item[i]].nodeid, ROWS.id[i], text(ROWS.output[i]),
                dataText(ROWS.data[i]), JSON.stringify(ROWS.inputs[i]),
                ROWS.errors[i].join(" "), JSON.stringify(ROWS.details[i])].join("\n").toLowerCase();
    }
    return hay[i];
  }

  function applyFilters() {
    var q = document.getElementById("search").value.trim().toLowerCase();
    var mode = document.getElementById("filter").value;
    var only = parseInt(document.getElementById("item-filter").value, 10);
    var out = [];
    var items = ROWS.item, status = ROWS.status;
    for (var i = 0; i < ROWS.n; i++) {
      if (only >= 0 && items[i] !== only) continue;
      if (mode === "failing" && status[i] !== 1) continue;
      if (mode === "erroring" && status[i] !== 2) continue;
      if (mode === "problems" && status[i] === 0) continue;
      if (q && haystack(i).indexOf(q) < 0) continue;
      out.push(i);
    }
    state.rows = out;
    state.page = 0;
    state.open = {};
    renderRows();
  }

  var GATED = [];
  function scoresText(r) {
    var keys = Object.keys(r[3]);
    var shown = GATED.filter(function (k) { return keys.indexOf(k) >= 0; }).slice(0, 4);
    if (!shown.length) shown = keys.slice(0, 4);
    var parts = shown.map(function (k) { return k + " " + fmt(r[3][k]); });
    if (keys.length > shown.length) parts.push("+" + (keys.length - shown.length) + " more");
    return parts.join(" · ");
  }
  function reasonFor(details, metric) {
    var base = metric.replace(/_(score|result)$/, "");
    var keys = [metric + "_reason", base + "_reason", "gpt_" + base + "_reason"];
    for (var i = 0; i < keys.length; i++) if (typeof details[keys[i]] === "string") return keys[i];
    return null;
  }

  function detailRow(r) {
    var tr = el("tr", "detail");
    var td = el("td");
    td.colSpan = 7;
    var dl = el("dl", "kv");
    function add(key, value) {
      dl.appendChild(el("dt", null, key));
      dl.appendChild(el("dd", null, typeof value === "string" ? value : JSON.stringify(value, null, 2)));
    }
    add("item", DATA.items[r[0]].nodeid);
    add("row", r[1] + " (line " + r[10] + (r[11] ? ", repeat " + r[11] : "") + ")");
    if (r[7].length) add("errors", r[7].join("\n"));
    if (r[9].length) add("failing", r[9].join(", "));
    var data = dataOf(r);
    Object.keys(data).forEach(function (k) { add("data." + k, data[k]); });
    Object.keys(r[6]).forEach(function (k) { add("input." + k, r[6][k]); });
    var expected = expectedOf(r);
    if (expected) add("expected", expected);
    add("output", r[4] === null ? "(none)" : r[4]);
    var used = {};
    Object.keys(r[3]).forEach(function (k) {
      var reason = reasonFor(r[8], k);
      if (reason) used[reason] = true;
      add("score." + k, fmt(r[3][k]) + (reason ? " — " + r[8][reason] : ""));
    });
    if (typeof r[8].reason === "string" && !used.reason) { add("judge reason", r[8].reason); used.reason = true; }
    Object.keys(r[8]).forEach(function (k) { if (!used[k]) add("detail." + k, r[8][k]); });
    if (typeof r[12] === "number") add("latency", fmt(r[12]) + " ms");
    if (typeof r[13] === "number") add("cost", "$" + r[13].toFixed(6));
    td.appendChild(dl);
    tr.appendChild(td);
    return tr;
  }

  function renderRows() {
    var body = document.getElementById("rows-body");
    var total = state.rows.length;
    var pages = Math.max(1, Math.ceil(total / PAGE));
    state.page = Math.min(Math.max(0, state.page), pages - 1);
    var start = state.page * PAGE;
    var frag = document.createDocumentFragment();
    state.rows.slice(start, start + PAGE).forEach(function (i) {
      var r = rowAt(i);
      var tr = el("tr", "row-line status-" + STATUS[r[2]]);
      tr.dataset.index = String(i);
      tr.dataset.row = r[1];
      tr.appendChild(el("td", null, uniqueLabel(DATA.items[r[0]])));
      tr.appendChild(el("td", null, r[1]));
      tr.appendChild(el("td", r[2] === 0 ? "t-pass" : "t-fail", STATUS[r[2]] + (r[9].length ? " (" + r[9].join(", ") + ")" : "")));
      tr.appendChild(el("td", "cell-text", cut(questionOf(r), 200)));
      tr.appendChild(el("td", "cell-text", cut(expectedOf(r), 200)));
      tr.appendChild(el("td", "cell-text", cut(r[7].length ? r[7].join("; ") : text(r[4]), 300)));
      tr.appendChild(el("td", "cell-text", scoresText(r)));
      if (state.target === i) tr.classList.add("target");
      tr.addEventListener("click", function () {
        state.open[i] = !state.open[i];
        renderRows();
      });
      frag.appendChild(tr);
      if (state.open[i]) frag.appendChild(detailRow(r));
    });
    body.replaceChildren(frag);
    document.getElementById("row-status").textContent = total + " of " + ROWS.n + " rows" +
      (DATA.rowsShown === undefined ? "" : " in this page (" + DATA.rowCount + " in the run)");
    document.getElementById("page-info").textContent = "page " + (state.page + 1) + " of " + pages;
    document.getElementById("first").disabled = document.getElementById("prev").disabled = state.page === 0;
    document.getElementById("last").disabled = document.getElementById("next").disabled = state.page >= pages - 1;
  }

  // items over their share of the row budget say what they show and where the rest is
  function renderRowNotes() {
    var list = document.getElementById("rows-notes");
    DATA.items.forEach(function (item) {
      if (item.rowsNote === undefined) return;
      var li = el("li", "t-warn");
      li.appendChild(el("strong", null, uniqueLabel(item) + ": "));
      li.appendChild(document.createTextNode(item.rowsNote));
      list.appendChild(li);
    });
    list.hidden = !list.childNodes.length;
  }

  function renderRowControls() {
    renderRowNotes();
    var items = document.getElementById("item-filter");
    DATA.items.forEach(function (item, i) {
      var o = el("option", null, item.nodeid);
      o.value = String(i);
      items.appendChild(o);
    });
    var timer = null;
    document.getElementById("search").addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(applyFilters, 150);
    });
    document.getElementById("filter").addEventListener("change", applyFilters);
    items.addEventListener("change", applyFilters);
    document.getElementById("first").addEventListener("click", function () { state.page = 0; renderRows(); });
    document.getElementById("prev").addEventListener("click", function () { state.page -= 1; renderRows(); });
    document.getElementById("next").addEventListener("click", function () { state.page += 1; renderRows(); });
    document.getElementById("last").addEventListener("click", function () { state.page = 1e9; renderRows(); });
    state.rows = new Array(ROWS.n);
    for (var i = 0; i < ROWS.n; i++) state.rows[i] = i;
    renderRows();
  }

  // ---- deep links: #item=<node id>&row=<row id> ------------------------------------------------
  function followHash() {
    var params = {};
    location.hash.replace(/^#/, "").split("&").forEach(function (part) {
      var eq = part.indexOf("=");
      if (eq > 0) {
        try { params[part.slice(0, eq)] = decodeURIComponent(part.slice(eq + 1)); } catch (e) { /* ignore */ }
      }
    });
    if (params.item === undefined) return;
    var index = -1;
    DATA.items.forEach(function (item, i) { if (item.nodeid === params.item) index = i; });
    if (index < 0) return;
    document.getElementById("item-filter").value = String(index);
    document.getElementById("filter").value = "all";
    document.getElementById("search").value = "";
    applyFilters();
    state.target = -1;
    if (params.row !== undefined) {
      var at = -1;
      for (var n = 0; n < state.rows.length; n++) {
        if (ROWS.id[state.rows[n]] === params.row) { at = n; break; }
      }
      if (at >= 0) {
        state.page = Math.floor(at / PAGE);
        state.target = state.rows[at];
        state.open[state.target] = true;
        renderRows();
      } else if (DATA.items[index].rowsNote !== undefined) {
        document.getElementById("row-status").textContent = "row " + params.row +
          " is not among the rows this page shows: " + DATA.items[index].rowsNote;
      }
    }
    var target = document.querySelector("#rows-body tr.target") || document.getElementById("rows-section");
    target.scrollIntoView();
  }

  function timed(name, fn) {
    var start = performance.now();
    fn();
    TIMING[name] = performance.now() - start;
  }
  function start(doc) {
    timed("columns", function () {
      DATA = doc;
      ROWS = columns(doc.rows, ["item", "id", "status", "output", "data", "inputs", "errors", "details",
                                "failing", "line", "repeat", "latency"]);
      BASE = columns(doc.baseRows, ["item", "id", "output", "errors"]);
      MULTI_SUITE = DATA.suites.length > 1;
      GATED = gatedMetrics(DATA.items.map(function (_, i) { return i; }));
      hay = new Array(ROWS.n);
    });
    timed("header", function () { renderHeader(); renderFindings(); renderBaseline(); renderAB(); });
    timed("matrix", renderMatrixControls);
    timed("charts", renderCharts);
    timed("suites", renderSuites);
    timed("rows", renderRowControls);
    window.addEventListener("hashchange", followHash);
    followHash();
    timed("layout", function () { return document.body.offsetHeight; });
    TIMING.total = performance.now() - T0;
    TIMING.scriptStart = T0;  // performance.now() counts from the navigation's start
    TIMING.sinceNavigation = performance.now();
    TIMING.renderedAt = Date.now();
    document.body.dataset.timing = JSON.stringify(TIMING);
    document.body.dataset.rendered = "true";
    requestAnimationFrame(function () {  // the frame after this one: the page is on screen
      setTimeout(function () {
        TIMING.paintedAt = Date.now();
        TIMING.painted = performance.now();
        document.body.dataset.timing = JSON.stringify(TIMING);
      }, 0);
    });
  }
  load();
})();
