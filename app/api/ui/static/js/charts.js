/* synthd's charts: Vega-Lite specs built from the report's chart data (synth/visuals.py), drawn by vega-embed
   as SVG with Vega's expression interpreter (no eval, so a strict Content-Security-Policy holds). Shared by the
   dashboard and the self-contained HTML report. Each chart's element gets data-chart="rendered" (or "error"). */
(function (root) {
  "use strict";
  var REAL = "#3b6ea5", SYNTH = "#e8833a";
  var OPTIONS = {actions: false, ast: true, renderer: "svg"};
  var SIDES = {domain: ["real", "synthetic"], range: [REAL, SYNTH]};

  function width(el, fallback) {
    var w = el && el.clientWidth ? el.clientWidth : fallback;
    return Math.max(200, Math.min(w - 20, 900));
  }

  function render(el, spec) {
    el.setAttribute("data-chart", "pending");
    return root.vegaEmbed(el, spec, OPTIONS).then(function (result) {
      el.setAttribute("data-chart", "rendered");
      return result;
    }).catch(function (err) {
      el.setAttribute("data-chart", "error");
      el.textContent = "This chart could not be drawn: " + err;
      console.error(err);
    });
  }

  function pct(x) { return x == null ? "n/a" : (100 * x).toFixed(1) + "%"; }

  function columnSpec(col, w) {
    var nulls = col.null || {};
    var subtitle = "null: real " + pct(nulls.real) + ", synthetic " + pct(nulls.synthetic);
    if (col.type === "numeric") {
      var values = [], temporal = col.kind === "datetime";
      for (var i = 0; i + 1 < col.edges.length; i++) {
        values.push({from: col.edges[i], to: col.edges[i + 1], side: "real", share: col.real[i]});
        values.push({from: col.edges[i], to: col.edges[i + 1], side: "synthetic", share: col.synthetic[i]});
      }
      var type = temporal ? "temporal" : "quantitative";
      return {
        $schema: "https://vega.github.io/schema/vega-lite/v6.json",
        title: {text: col.name, subtitle: subtitle, anchor: "start"},
        width: w, height: 140, data: {values: values},
        mark: {type: "bar", opacity: 0.55, binSpacing: 0},
        encoding: {
          x: {field: "from", type: type, title: null, bin: temporal ? undefined : {binned: true}},
          x2: {field: "to"},
          y: {field: "share", type: "quantitative", stack: null, axis: {format: "%"}, title: "share of rows"},
          color: {field: "side", type: "nominal", scale: SIDES, title: null, legend: {orient: "top"}},
          tooltip: [{field: "side"}, {field: "from", type: type, title: "from"}, {field: "to", type: type, title: "to"},
                    {field: "share", type: "quantitative", format: ".1%"}]
        }
      };
    }
    var rows = [], order = col.categories.slice();
    col.categories.forEach(function (c, i) {
      rows.push({category: c, side: "real", share: col.real[i]});
      rows.push({category: c, side: "synthetic", share: col.synthetic[i]});
    });
    [["(other)", col.other], ["(null)", col.null]].forEach(function (pair) {
      if (pair[1] && (pair[1].real > 0 || pair[1].synthetic > 0)) {
        order.push(pair[0]);
        rows.push({category: pair[0], side: "real", share: pair[1].real});
        rows.push({category: pair[0], side: "synthetic", share: pair[1].synthetic});
      }
    });
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: {text: col.name, subtitle: col.kind + "; " + subtitle, anchor: "start"},
      width: w, height: {step: 9}, data: {values: rows},
      mark: {type: "bar"},
      encoding: {
        y: {field: "category", type: "nominal", sort: order, title: null, axis: {labelLimit: 110}},
        yOffset: {field: "side", scale: {domain: ["real", "synthetic"]}},
        x: {field: "share", type: "quantitative", axis: {format: "%"}, title: "share of rows"},
        color: {field: "side", type: "nominal", scale: SIDES, title: null, legend: {orient: "top"}},
        tooltip: [{field: "category"}, {field: "side"}, {field: "share", type: "quantitative", format: ".1%"}]
      }
    };
  }

  function heatmapSpec(pairs, which, w) {
    var cols = pairs.columns, values = [], matrix = pairs[which];
    for (var a = 0; a < cols.length; a++) {
      for (var b = 0; b < cols.length; b++) {
        values.push({a: cols[a], b: cols[b], value: matrix[a][b], metric: a === b ? "" : pairs.metric[a][b]});
      }
    }
    var step = Math.max(10, Math.min(26, Math.floor((w - 130) / Math.max(1, cols.length))));
    var scale = which === "difference"
      ? {domain: [0, 1], scheme: "orangered"}
      : {domain: [-1, 1], scheme: "redblue", reverse: true};
    var titles = {real: "Real: association between columns", synthetic: "Synthetic: association between columns",
                  difference: "Difference: |real - synthetic|"};
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      title: {text: titles[which], subtitle: "Pearson for two numeric columns, Cramér's V otherwise", anchor: "start"},
      width: {step: step}, height: {step: step}, data: {values: values},
      mark: {type: "rect"},
      encoding: {
        x: {field: "a", type: "nominal", sort: cols, title: null, axis: {labelAngle: -50, labelLimit: 90}},
        y: {field: "b", type: "nominal", sort: cols, title: null, axis: {labelLimit: 90}},
        color: {field: "value", type: "quantitative", scale: scale, title: which === "difference" ? "|diff|" : "assoc."},
        tooltip: [{field: "a", title: "column"}, {field: "b", title: "column"}, {field: "metric"},
                  {field: "value", type: "quantitative", format: ".3f"}]
      }
    };
  }

  function lossValues(history) {
    var out = [];
    (history || []).forEach(function (row) {
      Object.keys(row.losses || {}).forEach(function (name) {
        var v = row.losses[name];
        if (typeof v === "number" && isFinite(v)) { out.push({epoch: row.epoch, loss: name, value: v}); }
      });
    });
    return out;
  }

  // Each loss keeps its colour; the legend names only those the job reports (target: a job with a numeric target;
  // pairs: a job taught the pair tables, every differentially private one by default).
  var LOSS_COLORS = {generator: "#3b6ea5", discriminator: "#c0392b", conditional: "#2e8b57", target: "#8a5a9b",
                     pairs: "#b7791f"};
  function lossColors(values) {
    var present = {};
    values.forEach(function (v) { present[v.loss] = true; });
    var names = Object.keys(LOSS_COLORS).filter(function (name) { return present[name]; });
    return {domain: names, range: names.map(function (name) { return LOSS_COLORS[name]; })};
  }

  function lossSpec(history, w) {
    var values = lossValues(history);
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: w, height: 220, data: {name: "losses", values: values},
      mark: {type: "line", point: false, strokeWidth: 1.6},
      encoding: {
        x: {field: "epoch", type: "quantitative", title: "epoch", axis: {tickMinStep: 1}},
        y: {field: "value", type: "quantitative", title: "loss", scale: {zero: false}},
        color: {field: "loss", type: "nominal", title: null, legend: {orient: "top"},
                scale: lossColors(values)},
        tooltip: [{field: "epoch"}, {field: "loss"}, {field: "value", type: "quantitative", format: ".4f"}]
      }
    };
  }

  function miniSpec(col) {
    var values = [];
    if (col.type === "numeric") {
      for (var i = 0; i < col.real.length; i++) { values.push({k: i, share: col.real[i], label: String(col.edges[i])}); }
    } else {
      col.categories.slice(0, 12).forEach(function (c, i) { values.push({k: i, share: col.real[i], label: c}); });
      if (col.other && col.other.real > 0) { values.push({k: values.length, share: col.other.real, label: "(other)"}); }
    }
    if (col.null && col.null.real > 0) { values.push({k: values.length, share: col.null.real, label: "(null)"}); }
    return {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      width: 130, height: 32, padding: 2, data: {values: values}, config: {view: {stroke: null}},
      mark: {type: "bar", color: REAL},
      encoding: {x: {field: "k", type: "ordinal", axis: null}, y: {field: "share", type: "quantitative", axis: null},
                 tooltip: [{field: "label", title: "value"}, {field: "share", type: "quantitative", format: ".1%"}]}
    };
  }

  /* rows: [{label, value, kind: "synthetic" | "reference"}]; limit: an optional vertical rule */
  function compareSpec(rows, opts, w) {
    var layers = [{
      mark: {type: "bar", height: 14},
      encoding: {
        y: {field: "label", type: "nominal", sort: null, title: null, axis: {labelLimit: 150}},
        x: {field: "value", type: "quantitative", title: null, axis: {format: opts.format || ".2f", tickCount: 5},
            scale: opts.domain ? {domain: opts.domain} : {}},
        color: {field: "kind", type: "nominal", legend: null,
                scale: {domain: ["synthetic", "reference"], range: [SYNTH, "#9aa5b1"]}},
        tooltip: [{field: "label"}, {field: "value", type: "quantitative", format: opts.format || ".3f"}]
      }
    }];
    if (opts.limit != null) {
      layers.push({data: {values: [{limit: opts.limit}]}, mark: {type: "rule", color: "#c0392b", strokeDash: [4, 3]},
                   encoding: {x: {field: "limit", type: "quantitative"}}});
    }
    return {$schema: "https://vega.github.io/schema/vega-lite/v6.json", width: w, height: {step: 20},
            data: {values: rows}, layer: layers};
  }

  function checks(report) {
    var out = [];
    var d = report.detection, t = report.tstr, c = report.coherence;
    if (d && d.auc != null) {
      out.push({id: "detection", title: "Detection AUC", rows: [
        {label: "synthetic vs held-out real", value: d.auc, kind: "synthetic"},
        {label: "indistinguishable", value: 0.5, kind: "reference"}], opts: {domain: [0, 1]}});
    }
    if (t && t.synthetic != null) {
      out.push({id: "tstr", title: "ML utility (" + t.metric + ", target " + t.target + ")", rows: [
        {label: "trained on synthetic", value: t.synthetic, kind: "synthetic"},
        {label: "trained on real", value: t.real, kind: "reference"}], opts: {}});
    }
    if (c && c.impossible_rate != null) {
      out.push({id: "coherence", title: "Impossible combinations", rows: [
        {label: "synthetic rows", value: c.impossible_rate, kind: "synthetic"},
        {label: "held-out real rows", value: c.holdout_rate, kind: "reference"}], opts: {format: ".1%"}});
    }
    var p = report.privacy || {}, th = p.thresholds || {};
    if (p.exact_copy_rate != null) {
      out.push({id: "copies", title: "Exact copies of training rows", rows: [
        {label: "synthetic rows", value: p.exact_copy_rate, kind: "synthetic"},
        {label: "unseen real rows (baseline)", value: p.copy_baseline || 0, kind: "reference"}],
        opts: {format: ".1%", limit: th.exact_copy_rate}});
    }
    if (p.dcr_share != null) {
      out.push({id: "dcr", title: "Nearer to a training row than to an unseen one", rows: [
        {label: "synthetic rows", value: p.dcr_share, kind: "synthetic"},
        {label: "an honest model", value: 0.5, kind: "reference"}],
        opts: {format: ".0%", domain: [0, 1], limit: th.dcr_share}});
    }
    return out;
  }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text != null) { node.textContent = text; }
    return node;
  }

  /* Draws every chart of a model's report into the elements of `scope` that name them (data-charts="..."). */
  function renderReport(scope, report) {
    var jobs = [];
    var charts = report.charts || {};
    var checkBox = scope.querySelector("[data-charts=checks]");
    if (checkBox) {
      checks(report).forEach(function (check) {
        var fig = el("figure", "check-chart");
        fig.appendChild(el("figcaption", null, check.title));
        var holder = el("div", "chart");
        holder.setAttribute("data-chart-name", check.id);
        fig.appendChild(holder);
        (check.id === "copies" || check.id === "dcr" ? scope.querySelector("[data-charts=privacy]") || checkBox
          : checkBox).appendChild(fig);
        jobs.push(render(holder, compareSpec(check.rows, check.opts, width(checkBox, 360) > 420 ? 300 : 200)));
      });
    }
    var colBox = scope.querySelector("[data-charts=columns]");
    if (colBox) {
      (charts.columns || []).forEach(function (col) {
        var holder = el("div", "chart column-chart");
        holder.setAttribute("data-chart-name", "column:" + col.name);
        colBox.appendChild(holder);
        var w = Math.min(420, width(colBox, 420) - (col.type === "numeric" ? 70 : 130));
        jobs.push(render(holder, columnSpec(col, w)));
      });
    }
    var heatBox = scope.querySelector("[data-charts=heatmaps]");
    if (heatBox && charts.pairs && charts.pairs.columns && charts.pairs.columns.length > 1) {
      ["real", "synthetic", "difference"].forEach(function (which) {
        var holder = el("div", "chart heatmap");
        holder.setAttribute("data-chart-name", "heatmap:" + which);
        heatBox.appendChild(holder);
        jobs.push(render(holder, heatmapSpec(charts.pairs, which, Math.min(560, width(heatBox, 560)))));
      });
    }
    return Promise.all(jobs);
  }

  root.synthdCharts = {render: render, columnSpec: columnSpec, heatmapSpec: heatmapSpec, lossSpec: lossSpec,
                       lossValues: lossValues, miniSpec: miniSpec, compareSpec: compareSpec, renderReport: renderReport,
                       width: width};
})(window);
