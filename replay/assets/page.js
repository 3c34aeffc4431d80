// tapeflow report --html: draws the page from the JSON in #tapeflow-data (replay/html.py).
// Every value from the run (names, labels, reasons) goes in as text, never as markup.
(function () {
  "use strict";
  var status = document.getElementById("tapeflow-status");
  var root = document.getElementById("tapeflow-report");
  var data = JSON.parse(document.getElementById("tapeflow-data").textContent);
  var report = data.report;
  var tl = data.timeline;
  var names = report.components.map(function (c) { return c.name; });
  var charts = [];
  var CRITICAL = 1, FAILED = 2;
  var PALETTE = ["#5b8ff9", "#5ad8a6", "#8d6ee8", "#f6bd16", "#6dc8ec", "#945fb9", "#ff9845", "#1e9493", "#ff99c3", "#7a8a99"];
  var RED = "#d1342f";

  // --- formatting, as the terminal table does -------------------------------------------
  function ns(v) {
    if (v === null || v === undefined) return "";
    if (v < 1e3) return v.toFixed(0) + " ns";
    if (v < 1e6) return (v / 1e3).toFixed(1) + " µs";
    if (v < 1e9) return (v / 1e6).toFixed(1) + " ms";
    return (v / 1e9).toFixed(2) + " s";
  }
  function sec(v) { return v === null || v === undefined ? "" : ns(v * 1e9); }
  function us(v) { return ns(v * 1e3); }
  function bytes(n) {
    var size = n, units = ["B", "KiB", "MiB", "GiB"];
    for (var i = 0; i < units.length - 1 && size >= 1024; i++) size /= 1024;
    return i === 0 ? size.toFixed(0) + " B" : size.toFixed(1) + " " + units[i];
  }
  function count(n) { return n.toLocaleString("en-US"); }
  function times(v) { return v === null || v === undefined ? "" : v.toFixed(2) + "×"; }
  function html(text) { return echarts.format.encodeHTML(String(text)); }

  // --- DOM --------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (child) {
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }
  function add(parent, tag, attrs, children) { var node = el(tag, attrs, children); parent.appendChild(node); return node; }
  // columns: [heading, kind] with kind "text" (left), "reason" (wrapped) or "" (a number, right)
  function table(parent, id, columns, rows, rowClass) {
    var t = add(parent, "table", { id: id });
    var head = add(t, "tr");
    columns.forEach(function (col) { add(head, "th", col[1] ? { "class": "text" } : {}, [col[0]]); });
    rows.forEach(function (row, i) {
      var tr = add(t, "tr");
      row.forEach(function (cell, j) {
        var kind = columns[j][1];
        var attrs = kind ? { "class": kind } : {};
        if (rowClass && j === rowClass.column) attrs["class"] = (attrs["class"] || "") + " " + rowClass.of(i);
        add(tr, "td", attrs, [cell === null || cell === undefined ? "" : String(cell)]);
      });
    });
    return t;
  }
  function chartBox(parent, id, height) {
    var box = add(parent, "div", { id: id, "class": "chart" });
    if (height) box.style.height = height + "px";
    var chart = echarts.init(box, null, { renderer: "canvas" });
    charts.push(chart);
    return chart;
  }

  // --- header and summary -----------------------------------------------------------------
  add(root, "h1", {}, ["tapeflow report: run " + report.run_id]);
  add(root, "div", { "class": "sub" }, [
    report.log + " · " + report.process_kind + " process" + (report.channel_kind ? ", " + report.channel_kind + " channels" : "") +
    " · " + report.status + " · " + names.length + " components, " + report.channels.length + " channels",
  ]);
  var cards = add(root, "div", { "class": "cards" });
  [
    [sec(report.makespan_s), "makespan (recorded)"], [sec(report.work_s), "work T1"], [sec(report.span_s), "span T∞ (critical path)"],
    [report.parallelism === null ? "–" : report.parallelism.toFixed(2), "parallelism T1/T∞"],
  ].forEach(function (c) { add(cards, "div", { "class": "card" }, [el("b", {}, [c[0]]), el("span", {}, [c[1]])]); });
  // A long path (a big run's zigzag between components) is cut in the middle; the JSON has all of it.
  var path = add(root, "div", { "class": "path", id: "critical-path" }, ["critical path: "]);
  var hops = report.critical_path, SHOWN = 24;
  hops.forEach(function (name, i) {
    if (hops.length > SHOWN && i >= SHOWN - 4 && i < hops.length - 4) {
      if (i === SHOWN - 4) path.appendChild(document.createTextNode(" → … (" + (hops.length - SHOWN) + " more hops)"));
      return;
    }
    if (i) path.appendChild(document.createTextNode(" → "));
    add(path, "span", { "class": "hop" }, [name]);
  });

  // --- timeline -------------------------------------------------------------------------
  add(root, "h2", {}, ["Timeline"]);
  add(root, "p", { "class": "note", id: "timeline-note" }, [
    "A row per component, a bar per step; red: the critical path (its steps and the messages between them); " +
    "grey lines: messages, from the sending step to the step that consumed them. Drag or scroll to zoom. " + tl.note + ".",
  ]);
  var plain = [], critical = [];
  tl.steps.forEach(function (s) { (s[4] & CRITICAL ? critical : plain).push(s); });
  var links = [], criticalLinks = [];
  tl.messages.forEach(function (m) {
    (m[4] & CRITICAL ? criticalLinks : links).push({ coords: [[m[1], m[0]], [m[3], m[2]]] });
  });
  function bar(params, api) {
    var row = api.value(0), a = api.coord([api.value(2), row]), b = api.coord([api.value(3), row]);
    var height = api.size([0, 1])[1] * 0.62;
    var sys = params.coordSys;
    var shape = echarts.graphic.clipRectByRect(
      { x: a[0], y: a[1] - height / 2, width: Math.max(b[0] - a[0], 1), height: height },
      { x: sys.x, y: sys.y, width: sys.width, height: sys.height });
    if (!shape) return null;
    var flags = api.value(4);
    var fill = flags & CRITICAL ? RED : PALETTE[row % PALETTE.length];
    return { type: "rect", shape: shape, style: { fill: fill, stroke: flags & FAILED ? "#000" : null, lineWidth: flags & FAILED ? 2 : 0 } };
  }
  function stepTip(p) {
    var s = p.data;
    return "<b>" + html(names[s[0]]) + "</b> step " + s[1] + "<br>start " + us(s[2]) + ", took " + us(s[3] - s[2]) +
      (s[4] & CRITICAL ? "<br>on the critical path" : "") + (s[4] & FAILED ? "<br>failed or cancelled" : "");
  }
  var rowHeight = Math.max(22, Math.min(44, 520 / Math.max(names.length, 1)));
  var timeline = chartBox(root, "timeline", Math.round(names.length * rowHeight + 150));
  var stepSeries = { type: "custom", renderItem: bar, encode: { x: [2, 3], y: 0 }, clip: true, animation: false,
                     tooltip: { formatter: stepTip }, progressive: 0 };
  var lineSeries = { type: "lines", coordinateSystem: "cartesian2d", clip: true, animation: false, silent: true,
                     large: true, largeThreshold: 2000, zlevel: 0, z: 3 };
  timeline.setOption({
    animation: false,
    grid: { left: 12, right: 28, top: 36, bottom: 64, containLabel: true },
    legend: { top: 4, data: ["steps", "critical path", "messages"] },
    tooltip: { trigger: "item", confine: true },
    dataZoom: [
      { type: "slider", xAxisIndex: 0, filterMode: "none", bottom: 10, labelFormatter: function (v) { return us(v); } },
      { type: "inside", xAxisIndex: 0, filterMode: "none" },
    ],
    xAxis: { type: "value", min: 0, max: tl.window_end_us === null ? tl.end_us : tl.window_end_us, scale: false,
             name: "time since the first step", nameLocation: "middle", nameGap: 26,
             axisLabel: { formatter: function (v) { return us(v); } }, splitLine: { lineStyle: { color: "#eef1f3" } } },
    yAxis: { type: "category", data: names, inverse: true, axisTick: { show: false },
             axisLabel: { fontWeight: 600, color: "#1d2329" }, splitLine: { show: true, lineStyle: { color: "#f3f5f7" } } },
    series: [
      Object.assign({ name: "steps", data: plain, z: 2, itemStyle: { color: PALETTE[0] } }, stepSeries),
      Object.assign({ name: "critical path", data: critical, z: 4, itemStyle: { color: RED } }, stepSeries),
      Object.assign({ name: "messages", data: links, lineStyle: { color: "#55606b", width: 1, opacity: 0.35 }, itemStyle: { color: "#8a949e" } }, lineSeries),
      Object.assign({ name: "critical path", data: criticalLinks, lineStyle: { color: RED, width: 1.5, opacity: 0.9 }, itemStyle: { color: RED }, z: 5 }, lineSeries),
    ],
  });

  // --- predicted speedup against N --------------------------------------------------------
  var whatIf = Object.keys(report.what_if).map(function (k) { return k + " " + report.what_if[k] + "× as fast"; }).join(", ");
  add(root, "h2", {}, ["Predicted on RayProcess (one actor per component)" + (whatIf ? ", what if " + whatIf : "")]);
  add(root, "p", { "class": "note" }, [
    "Speedup = recorded makespan " + sec(report.makespan_s) + " ÷ predicted makespan, against the cores N. " +
    "No schedule beats the span law (the longest path with Ray's costs) or the work law (the CPU work over N): both cap the speedup; " +
    "Graham's bound (CPU work over N plus the span) is what any greedy schedule reaches at least. " +
    "At or above 1.25×: pays off; 1.0× to 1.25×: marginal.",
  ]);
  var grid = add(root, "div", { "class": "speedups" });
  var connectors = [];
  report.predictions.forEach(function (p) { if (connectors.indexOf(p.connector) < 0) connectors.push(p.connector); });
  connectors.forEach(function (connector) {
    var rows = report.predictions.filter(function (p) { return p.connector === connector; })
      .sort(function (a, b) { return a.cpus - b.cpus; });
    function ratio(key) {
      return rows.map(function (p) {
        var b = p.bounds_s[key];
        return b && p.speedup !== null ? +(report.makespan_s / b).toFixed(4) : null;
      });
    }
    var chart = chartBox(grid, "speedup-" + connector);
    chart.setOption({
      animation: false,
      title: { text: connector + " connector", left: 10, top: 6, textStyle: { fontSize: 14 } },
      legend: { top: 30 },
      grid: { left: 12, right: 24, top: 66, bottom: 36, containLabel: true },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v === null || v === undefined ? "–" : times(v); } },
      xAxis: { type: "category", data: rows.map(function (p) { return String(p.cpus); }), name: "N CPUs", nameLocation: "middle", nameGap: 24 },
      yAxis: { type: "value", name: "speedup", axisLabel: { formatter: function (v) { return v + "×"; } } },
      series: [
        { name: "predicted", type: "line", data: rows.map(function (p) { return p.speedup; }), symbolSize: 8, z: 5,
          lineStyle: { width: 3 }, itemStyle: { color: "#2f6fd6" },
          markLine: { silent: true, symbol: "none", lineStyle: { color: "#9aa5b1", type: "dotted" },
                      label: { formatter: "{b}", position: "insideEndTop" },
                      data: [{ yAxis: 1, name: "break-even 1×" }, { yAxis: 1.25, name: "pays off 1.25×" }] } },
        { name: "span law", type: "line", data: ratio("span_law"), symbol: "none", lineStyle: { type: "dashed" }, itemStyle: { color: "#8d6ee8" } },
        { name: "work law", type: "line", data: ratio("work_law"), symbol: "none", lineStyle: { type: "dashed" }, itemStyle: { color: "#1e9493" } },
        { name: "Graham", type: "line", data: ratio("graham"), symbol: "none", lineStyle: { type: "dotted", width: 2 }, itemStyle: { color: "#ff9845" } },
      ],
    });
  });
  function verdictClass(i) { return "verdict-" + report.predictions[i].verdict.replace(/ /g, "-"); }
  table(root, "predictions", [["cpus", ""], ["connector", "text"], ["makespan", ""], ["speedup", ""], ["speedup range", ""],
                              ["span law", ""], ["work law", ""], ["Graham", ""], ["verdict", "text"], ["why", "reason"]],
    report.predictions.map(function (p) {
      var b = p.speedup_bounds;
      return [p.cpus, p.connector, sec(p.makespan_s), times(p.speedup), b ? times(b[0]) + "–" + times(b[1]) : "",
              sec(p.bounds_s.span_law), sec(p.bounds_s.work_law), sec(p.bounds_s.graham), p.verdict, p.reason];
    }), { column: 8, of: verdictClass });
  var one = report.one_off_s;
  add(root, "p", { "class": "note" }, [
    "One-off: starting Ray " + sec(one.ray_start_s) + " and " + names.length + " actors " + sec(one.actor_start_s * names.length) +
    ": " + sec(one.total_s) + " per driver, not in the makespans above. Costs: " +
    (report.calibration.measured ? "measured by tapeflow calibrate" + (report.calibration.measured_at ? " at " + report.calibration.measured_at : "")
                                 : "built-in defaults (run tapeflow calibrate to measure them on this machine)") + ".",
  ]);

  // --- tables ---------------------------------------------------------------------------
  add(root, "h2", {}, ["Components"]);
  table(root, "components", [["component", "text"], ["class", "text"], ["steps", ""], ["busy", ""], ["blocked on inputs", ""],
                             ["blocked on outputs", ""], ["step p50", ""], ["p90", ""], ["p99", ""], ["max", ""], ["on the critical path", ""]],
    report.components.map(function (c) {
      var share = report.critical_path_s[c.name];
      return [c.name, c.class_path, count(c.steps), ns(c.busy_ns), ns(c.blocked_ns), ns(c.send_blocked_ns), ns(c.step_ns.p50_ns),
              ns(c.step_ns.p90_ns), ns(c.step_ns.p99_ns), ns(c.step_ns.max_ns), share === undefined ? "" : sec(share)];
    }));
  add(root, "h2", {}, ["Channels"]);
  table(root, "channels", [["channel", "text"], ["messages", ""], ["receive p50", ""], ["p99", ""], ["consume p50", ""], ["p99", ""], ["payload", ""]],
    report.channels.map(function (ch) {
      return [ch.label, count(ch.messages), ns(ch.receive_ns.p50_ns), ns(ch.receive_ns.p99_ns), ns(ch.consume_ns.p50_ns),
              ns(ch.consume_ns.p99_ns), bytes(ch.payload_bytes)];
    }));
  if (report.notes.length) {
    add(root, "h2", {}, ["Notes"]);
    var notes = add(root, "ul", { "class": "notes" });
    report.notes.forEach(function (n) { add(notes, "li", {}, [n]); });
  }
  add(root, "footer", {}, ["Written by tapeflow report --html. Charts: Apache ECharts " + echarts.version + " (Apache-2.0), inlined."]);

  window.addEventListener("resize", function () { charts.forEach(function (c) { c.resize(); }); });

  // --- what was drawn, for a reader's tools and the headless test -------------------------
  // The timeline's labels as ECharts painted them (its display list), not as we asked for them.
  var painted = [];
  timeline.getZr().storage.getDisplayList(true).forEach(function (shape) {
    if (shape.style && typeof shape.style.text === "string") painted.push(shape.style.text);
  });
  var drawnNames = names.filter(function (n) { return painted.indexOf(n) >= 0; });
  var list = add(root, "ul", { id: "timeline-components", hidden: "" });
  drawnNames.forEach(function (n) { add(list, "li", {}, [n]); });
  status.setAttribute("data-components", String(drawnNames.length));
  status.setAttribute("data-steps", String(tl.steps.length));
  status.setAttribute("data-messages", String(tl.messages.length));
  status.setAttribute("data-charts", String(charts.length));
  if (status.getAttribute("data-state") === "loading") status.setAttribute("data-state", "ready");
})();
