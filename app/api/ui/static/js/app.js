/* The dashboard's behaviour: each page's <body data-page="..."> picks its part. Every call goes to the API itself
   (/v1/...) with the session cookie and the page's CSRF token; errors come back as {"error": {code, message}}. */
(function () {
  "use strict";
  var csrf = (document.querySelector("meta[name=csrf-token]") || {}).content || "";

  function $(sel, scope) { return (scope || document).querySelector(sel); }
  function $all(sel, scope) { return Array.prototype.slice.call((scope || document).querySelectorAll(sel)); }
  function data(id) { var node = document.getElementById(id); return node ? JSON.parse(node.textContent) : null; }

  function errorText(status, body) {
    if (body && body.error) { return body.error.message + " (" + body.error.code + ")"; }
    return "The server answered " + status + ".";
  }

  function api(method, url, body) {
    var init = {method: method, credentials: "same-origin", headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}};
    if (body !== undefined) { init.headers["Content-Type"] = "application/json"; init.body = JSON.stringify(body); }
    return fetch(url, init).then(function (resp) {
      if (resp.status === 204) { return null; }
      return resp.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = null; }
        if (!resp.ok) { var err = new Error(errorText(resp.status, parsed)); err.status = resp.status; throw err; }
        return parsed;
      });
    });
  }

  function say(node, text, kind) {
    if (!node) { return; }
    node.textContent = text || "";
    node.className = "notice" + (kind ? " " + kind : "");
    node.hidden = !text;
  }

  function duration(seconds) {
    if (seconds == null) { return "unknown"; }
    seconds = Math.max(0, Math.round(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    return (h ? h + " h " : "") + (h || m ? m + " min " : "") + s + " s";
  }

  function confirmThen(button, question, action) {
    button.addEventListener("click", function () { if (window.confirm(question)) { action(); } });
  }

  /* --- datasets: upload by drag and drop or file picker, with a progress bar ---------------------------- */
  function datasetsPage() {
    var zone = $("#dropzone"), input = $("#file"), bar = $("#upload-progress"), status = $("#upload-status");
    var form = $("#upload-form");
    if (!zone) { return; }
    function upload(file) {
      if (!file) { return; }
      var body = new FormData();
      body.append("file", file, file.name);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/v1/datasets?name=" + encodeURIComponent(file.name));
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      bar.hidden = false; bar.value = 0;
      say(status, "Uploading " + file.name + "...");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); bar.textContent = bar.value + "%"; }
      });
      xhr.addEventListener("load", function () {
        var parsed = null;
        try { parsed = JSON.parse(xhr.responseText); } catch (e) { parsed = null; }
        if (xhr.status === 201 && parsed) {
          bar.value = 100;
          say(status, "Uploaded. Reading the schema...", "ok");
          window.location.assign("/ui/datasets/" + parsed.id);
        } else {
          say(status, "Upload refused: " + errorText(xhr.status, parsed), "error");
        }
      });
      xhr.addEventListener("error", function () { say(status, "The upload failed (network error).", "error"); });
      xhr.send(body);
    }
    input.addEventListener("change", function () { upload(input.files[0]); });
    form.addEventListener("submit", function (e) { e.preventDefault(); upload(input.files[0]); });
    ["dragenter", "dragover"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      zone.addEventListener(name, function (e) { e.preventDefault(); zone.classList.remove("over"); });
    });
    zone.addEventListener("drop", function (e) { if (e.dataTransfer.files.length) { upload(e.dataTransfer.files[0]); } });
    zone.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); }
    });
    zone.addEventListener("click", function (e) { if (e.target === zone) { input.click(); } });
  }

  /* --- one dataset: schema with histograms, kind overrides, training --------------------------------- */
  function datasetPage() {
    var dataset = data("dataset-data"), profile = data("profile-data") || {};
    $all("[data-mini]").forEach(function (holder) {
      var col = profile[holder.getAttribute("data-mini")];
      if (col) { window.synthdCharts.render(holder, window.synthdCharts.miniSpec(col)); }
    });
    var form = $("#train-form"), status = $("#train-status");
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var params = {};
      ["epochs", "batch_size", "seed"].forEach(function (name) {
        var v = form.elements[name].value.trim();
        if (v !== "") { params[name] = parseInt(v, 10); }
      });
      var budget = form.elements.max_seconds.value.trim();
      if (budget !== "") { params.max_seconds = parseFloat(budget); }
      if (form.elements.target.value) { params.target = form.elements.target.value; }
      var kinds = {};
      $all("select[data-kind-for]").forEach(function (select) {
        if (select.value !== select.getAttribute("data-inferred")) { kinds[select.getAttribute("data-kind-for")] = select.value; }
      });
      if (Object.keys(kinds).length) { params.column_kinds = kinds; }
      var extra = form.elements.advanced.value.trim();
      if (extra) {
        try { Object.assign(params, JSON.parse(extra)); } catch (err) {
          say(status, "Advanced settings are not valid JSON: " + err.message, "error"); return;
        }
      }
      say(status, "Queueing training...");
      api("POST", "/v1/jobs", {dataset_id: dataset.id, params: params}).then(function (job) {
        window.location.assign("/ui/jobs/" + job.id);
      }).catch(function (err) { say(status, "Training was not queued: " + err.message, "error"); });
    });
    var del = $("#delete-dataset");
    if (del) {
      confirmThen(del, "Delete this dataset, its finished jobs and their models?", function () {
        api("DELETE", "/v1/datasets/" + dataset.id).then(function () { window.location.assign("/ui/datasets"); })
          .catch(function (err) { say($("#dataset-status"), err.message, "error"); });
      });
    }
  }

  /* --- jobs list: progress bars that follow running jobs ------------------------------------------------ */
  function setProgress(scope, job) {
    var bar = $("progress", scope), text = $("[data-progress-text]", scope), state = $("[data-status]", scope);
    if (bar) { bar.value = Math.round(job.progress * 1000) / 10; bar.textContent = bar.value + "%"; }
    if (text) {
      text.textContent = "epoch " + job.epoch + " of " + job.epochs +
        (job.status === "running" && job.eta_seconds != null ? ", about " + duration(job.eta_seconds) + " left" : "");
    }
    if (state) { state.textContent = job.status; state.className = "status " + job.status; }
  }

  function jobsPage() {
    var rows = $all("tr[data-job]");
    function poll() {
      var active = rows.filter(function (r) { return /queued|running/.test($("[data-status]", r).textContent); });
      if (!active.length) { return; }
      api("GET", "/v1/jobs?limit=200").then(function (jobs) {
        var byId = {};
        jobs.forEach(function (j) { byId[j.id] = j; });
        rows.forEach(function (r) { var j = byId[r.getAttribute("data-job")]; if (j) { setProgress(r, j); } });
      }).catch(function () {}).then(function () { window.setTimeout(poll, 2000); });
    }
    window.setTimeout(poll, 1000);
  }

  /* --- one job: live progress, ETA, loss curves, cancel ------------------------------------------------ */
  function jobPage() {
    var job = data("job-data"), box = $("#job-live"), chartBox = $("#loss-chart"), status = $("#job-status");
    var view = null, last = 0, pending = false;
    function draw(history) {
      if (view) {
        view.insert("losses", window.synthdCharts.lossValues(history)).run();
        chartBox.setAttribute("data-points", String(last));
        return Promise.resolve();
      }
      if (!history.length) { chartBox.textContent = "The curves appear after the first epoch."; return Promise.resolve(); }
      chartBox.textContent = "";
      var spec = window.synthdCharts.lossSpec(history, window.synthdCharts.width(chartBox, 700) - 50);
      return window.synthdCharts.render(chartBox, spec).then(function (res) {
        if (res) { view = res.view; }
        chartBox.setAttribute("data-points", String(last));
      });
    }
    function history() {
      return api("GET", "/v1/jobs/" + job.id + "/history?since=" + last).then(function (rows) {
        if (rows.length) { last = rows[rows.length - 1].epoch; }
        if (rows.length) { return draw(rows); }
        if (!view) { return draw([]); }
      });
    }
    function show(j) {
      setProgress(box, j);
      var done = j.status === "succeeded" || j.status === "failed" || j.status === "cancelled";
      $("#cancel-job").hidden = done;
      $("#job-error").hidden = !j.error;
      $("#job-error-text").textContent = j.error || "";
      $("#job-model").hidden = !j.model_id;
      if (j.model_id) { $("#job-model a").href = "/ui/models/" + j.model_id; }
      return done;
    }
    function tick() {
      if (pending) { return; }
      pending = true;
      api("GET", "/v1/jobs/" + job.id).then(function (j) {
        var done = show(j);
        return history().then(function () { return done; });
      }).then(function (done) {
        pending = false;
        if (!done) { window.setTimeout(tick, 1000); }
      }).catch(function (err) { pending = false; say(status, err.message, "error"); window.setTimeout(tick, 3000); });
    }
    show(job);
    tick();
    confirmThen($("#cancel-job"), "Cancel this training job? No model is kept.", function () {
      api("POST", "/v1/jobs/" + job.id + "/cancel").then(function (j) { show(j); say(status, "Cancelled.", "ok"); })
        .catch(function (err) { say(status, err.message, "error"); });
    });
  }

  /* --- one model: the report's charts, sampling with conditions, preview and download ------------------- */
  function modelPage() {
    var model = data("model-data");
    var report = model.report || {};
    window.synthdCharts.renderReport(document, report).then(function () {
      document.body.setAttribute("data-charts-done", "1");
    });
    var charts = (report.charts || {}).columns || [];
    var byName = {};
    charts.forEach(function (c) { byName[c.name] = c; });
    var columns = model.columns.filter(function (c) { return c.kind !== "id" && c.kind !== "constant"; });
    var list = $("#conditions"), form = $("#sample-form"), status = $("#sample-status");
    var count = 0;

    function addCondition() {
      count += 1;
      var row = document.createElement("div");
      row.className = "condition";
      var id = "cond-" + count;
      var html = '<label for="' + id + '-col">Column</label><select id="' + id + '-col" data-cond-col>';
      columns.forEach(function (c) { html += "<option></option>"; });
      html += '</select><span data-cond-inputs></span><button type="button" class="secondary" data-cond-remove>Remove</button>';
      row.innerHTML = html;
      var select = $("select", row);
      columns.forEach(function (c, i) { select.options[i].value = c.name; select.options[i].textContent = c.name + " (" + c.kind + ")"; });
      function inputs() {
        var holder = $("[data-cond-inputs]", row), col = columns[select.selectedIndex];
        holder.textContent = "";
        var numeric = ["continuous", "integer", "datetime"].indexOf(col.kind) >= 0;
        var chart = byName[col.name];
        if (numeric) {
          ["from", "to"].forEach(function (side) {
            var label = document.createElement("label");
            label.textContent = side;
            label.htmlFor = id + "-" + side;
            var input = document.createElement("input");
            input.id = id + "-" + side; input.setAttribute("data-cond-" + side, "");
            input.type = col.kind === "datetime" ? "text" : "number"; input.step = "any";
            if (chart && chart.edges && chart.edges.length) {
              input.placeholder = String(side === "from" ? chart.edges[0] : chart.edges[chart.edges.length - 1]);
            }
            holder.appendChild(label); holder.appendChild(input);
          });
        } else {
          var label = document.createElement("label");
          label.textContent = "value"; label.htmlFor = id + "-value";
          var input = document.createElement("input");
          input.id = id + "-value"; input.setAttribute("data-cond-value", "");
          var listId = id + "-values";
          input.setAttribute("list", listId);
          var datalist = document.createElement("datalist");
          datalist.id = listId;
          ((chart && chart.categories) || []).forEach(function (v) {
            var opt = document.createElement("option"); opt.value = v; datalist.appendChild(opt);
          });
          if (chart && chart.categories && chart.categories.length) { input.placeholder = chart.categories[0]; }
          holder.appendChild(label); holder.appendChild(input); holder.appendChild(datalist);
        }
      }
      select.addEventListener("change", inputs);
      $("[data-cond-remove]", row).addEventListener("click", function () { row.remove(); });
      inputs();
      list.appendChild(row);
      select.focus();
    }

    function query(n) {
      var parts = ["n=" + encodeURIComponent(n)];
      var seed = form.elements.seed.value.trim();
      if (seed !== "") { parts.push("seed=" + encodeURIComponent(seed)); }
      var problems = [];
      $all(".condition", list).forEach(function (row) {
        var name = $("[data-cond-col]", row).value, value;
        var v = $("[data-cond-value]", row);
        if (v) {
          value = v.value.trim();
          if (value === "") { problems.push(name + ": give a value"); return; }
        } else {
          var lo = $("[data-cond-from]", row).value.trim(), hi = $("[data-cond-to]", row).value.trim();
          if (lo === "" && hi === "") { problems.push(name + ": give a lower or an upper bound"); return; }
          value = lo + ".." + hi;
        }
        parts.push(encodeURIComponent(name) + "=" + encodeURIComponent(value));
      });
      if (problems.length) { throw new Error(problems.join("; ")); }
      return parts;
    }

    function preview() {
      var parts;
      try { parts = query(Math.min(20, parseInt(form.elements.n.value, 10) || 20)); } catch (err) {
        say(status, err.message, "error"); return;
      }
      parts.push("format=jsonl");
      say(status, "Sampling a preview...");
      fetch("/v1/models/" + model.id + "/sample?" + parts.join("&"), {credentials: "same-origin"}).then(function (resp) {
        return resp.text().then(function (text) {
          if (!resp.ok) { var body = null; try { body = JSON.parse(text); } catch (e) { body = null; } throw new Error(errorText(resp.status, body)); }
          return text.split("\n").filter(Boolean).map(function (line) { return JSON.parse(line); });
        });
      }).then(function (rows) {
        var table = $("#preview");
        table.textContent = "";
        if (!rows.length) { say(status, "No rows.", "error"); return; }
        var head = table.createTHead().insertRow();
        Object.keys(rows[0]).forEach(function (k) { var th = document.createElement("th"); th.scope = "col"; th.textContent = k; head.appendChild(th); });
        var body = table.createTBody();
        rows.forEach(function (r) {
          var tr = body.insertRow();
          Object.keys(rows[0]).forEach(function (k) { tr.insertCell().textContent = r[k] == null ? "" : String(r[k]); });
        });
        $("#preview-box").hidden = false;
        say(status, "The first " + rows.length + " rows. Download for all " + form.elements.n.value + ".", "ok");
      }).catch(function (err) { say(status, "No preview: " + err.message, "error"); });
    }

    function download() {
      var parts;
      try { parts = query(parseInt(form.elements.n.value, 10) || 1000); } catch (err) { say(status, err.message, "error"); return; }
      parts.push("format=" + form.elements.format.value);
      var link = $("#download-link");
      link.href = "/v1/models/" + model.id + "/sample?" + parts.join("&");
      link.click();
      say(status, "Download started.", "ok");
    }

    $("#add-condition").addEventListener("click", addCondition);
    $("#preview-button").addEventListener("click", preview);
    form.addEventListener("submit", function (e) { e.preventDefault(); download(); });
    var del = $("#delete-model");
    if (del) {
      confirmThen(del, "Delete this model and its stored artifact?", function () {
        api("DELETE", "/v1/models/" + model.id).then(function () { window.location.assign("/ui/models"); })
          .catch(function (err) { say(status, err.message, "error"); });
      });
    }
  }

  var pages = {datasets: datasetsPage, dataset: datasetPage, jobs: jobsPage, job: jobPage, model: modelPage};
  var pageName = document.body.getAttribute("data-page");
  if (pages[pageName]) { pages[pageName](); }
})();
