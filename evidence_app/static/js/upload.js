/* 佐证材料库: the upload page and the processing queue. No inline scripts (CSP).

   Upload: each file is sent on its own request; its row in 上传进度 says 已拒收 (why), or
   what became of the files it held. After the bar reaches 100 % the server unpacks and
   stores: the row says so until the answer comes. Refusals are summarised at the top of the
   results; every accepted file's state (已接收 → 处理中 → 可检索 / 无法读取) is polled every
   2 s until all are final, never while the tab is hidden. The queue page refreshes its
   figures and rows by polling too. */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var SHOWN_ROWS = 50;  // accepted rows beyond these wait behind 显示全部

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrf_token]");
    return input ? input.value : "";
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  // a document's state from its status, until the server's answer says it in full
  var STATES = { pending: ["received", "已接收"], processing: ["processing", "处理中"],
    indexed: ["searchable", "可检索"] };

  var CLASSES = { received: "status-pending", processing: "status-pending", searchable: "status-indexed",
    unreadable: "status-failed" };

  function stateOf(doc) {
    if (doc.state) return { state: doc.state, label: doc.label, reason: doc.reason || "", done: doc.done };
    var known = STATES[doc.status] || ["unreadable", "无法读取"];
    return { state: known[0], label: known[1], reason: "", done: known[0] === "searchable" || known[0] === "unreadable" };
  }

  function setupUpload() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var zone = document.getElementById("dropzone");
    var list = document.getElementById("progress-list");
    var results = document.getElementById("upload-results");
    var acceptedList = document.getElementById("accepted-list");
    var showAll = document.getElementById("show-all-accepted");
    var showAllWrap = document.getElementById("show-all-wrap");
    var statusUrl = form.getAttribute("data-status-url");
    var accepted = 0, acceptedRows = 0, inFlight = 0, timer = null, asking = false;
    var docs = {};        // id -> {state, cells: [td], rows: [progress row]}
    var refusals = {};    // reason -> [file names]
    var refusedCount = 0;

    function fieldsOf() {
      var data = new FormData();
      ["framework_id", "entry_id", "indicator_id", "request_id", "answer_note"].forEach(function (name) {
        var input = form.querySelector("[name=" + name + "]");
        if (input && input.value) data.append(name, input.value);
      });
      return data;
    }

    function addRow(tbody, cells) {
      var tr = document.createElement("tr");
      cells.forEach(function (c) { var td = document.createElement("td"); if (c instanceof Node) td.appendChild(c); else td.textContent = c; tr.appendChild(td); });
      tbody.appendChild(tr);
      return tr;
    }

    function linkForm(doc) {
      var wrap = el("form", null, "row");
      var input = el("input");
      input.name = "code"; input.placeholder = "如 2.3.4-1"; input.required = true;
      input.setAttribute("aria-label", "为“" + doc.name + "”指定佐证编号");
      var button = el("button", "关联");
      button.type = "submit";
      var note = el("span", "", "muted");
      wrap.appendChild(input); wrap.appendChild(button); wrap.appendChild(note);
      wrap.addEventListener("submit", function (event) {
        event.preventDefault();
        var body = new FormData();
        body.append("code", input.value);
        body.append("csrf_token", csrfToken(form));
        var url = form.getAttribute("data-link-url").replace("/0/", "/" + doc.id + "/");
        fetch(url, { method: "POST", body: body, headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(form) }, credentials: "same-origin" })
          .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
          .then(function (res) { note.textContent = res[0] ? "已关联到 " + res[1].linked : res[1].error; note.className = res[0] ? "state-done" : "state-error"; })
          .catch(function () { note.textContent = "网络错误"; });
      });
      var cell = el("div");
      cell.appendChild(wrap);
      suggestionsFor(doc, cell, note);
      return cell;
    }

    // 建议条目: the entries the file's name fits best, one click (采用) to link
    function suggestionsFor(doc, cell, note) {
      var url = form.getAttribute("data-suggest-url");
      if (!url) return;
      fetch(url.replace(/\/0$/, "/" + doc.id), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body || !body.suggestions || !body.suggestions.length) return;
          var box = el("div", null, "suggestions");
          box.appendChild(el("span", "建议：", "muted"));
          body.suggestions.forEach(function (s) {
            var button = el("button", "采用 " + s.code + " " + s.title, "small");
            button.type = "button";
            button.addEventListener("click", function () { accept(doc, s.code, box, note); });
            box.appendChild(button);
          });
          cell.appendChild(box);
        })
        .catch(function () { /* suggestions are a help: the code field still works */ });
    }

    function accept(doc, code, box, note) {
      var body = new FormData();
      body.append("one", doc.id + ":" + code);
      body.append("csrf_token", csrfToken(form));
      fetch(form.getAttribute("data-accept-url"), { method: "POST", body: body, headers: { "Accept": "application/json", "X-CSRFToken": csrfToken(form) }, credentials: "same-origin" })
        .then(function (r) { return r.json().then(function (j) { return [r.ok, j]; }); })
        .then(function (res) {
          note.textContent = res[0] ? "已关联到 " + code : (res[1].refused || []).join("；") || res[1].error;
          note.className = res[0] ? "state-done" : "state-error";
          if (res[0]) Array.prototype.forEach.call(box.querySelectorAll("button"), function (b) { b.disabled = true; });
        })
        .catch(function () { note.textContent = "网络错误"; });
    }

    // -- states ------------------------------------------------------------------------

    function paintCell(td, s) {
      td.textContent = s.reason ? s.label + "：" + s.reason : s.label;
      td.className = "doc-state " + CLASSES[s.state];
    }

    function paintProgress(row) {
      var counts = { received: 0, processing: 0, searchable: 0, unreadable: 0 };
      row.ids.forEach(function (id) { counts[docs[id].state.state]++; });
      var state = row.state, total = row.ids.length;
      var note = row.refused ? "；" + row.refused + " 个被拒收，见上方" : "";
      if (total === 1) {
        var s = docs[row.ids[0]].state;
        state.textContent = (s.reason ? s.label + "：" + s.reason : s.label) + note;
      } else {
        var parts = [];
        [["searchable", "可检索"], ["processing", "处理中"], ["received", "已接收"], ["unreadable", "无法读取"]].forEach(function (p) {
          if (counts[p[0]]) parts.push(p[1] + " " + counts[p[0]]);
        });
        state.textContent = "已接收 " + total + " 个文件：" + parts.join(" · ") + note;
      }
      var allDone = counts.searchable + counts.unreadable === total;
      state.className = !allDone ? "state-busy" : (counts.unreadable || row.refused) ? "state-warn" : "state-done";
    }

    function track(doc, cells, row) {
      var entry = docs[doc.id];
      if (!entry) entry = docs[doc.id] = { state: stateOf(doc), cells: [], rows: [] };
      cells.forEach(function (td) { entry.cells.push(td); paintCell(td, entry.state); });
      if (row && entry.rows.indexOf(row) < 0) { entry.rows.push(row); row.ids.push(doc.id); }
    }

    function update(doc) {
      var entry = docs[doc.id];
      if (!entry) return;
      entry.state = stateOf(doc);
      entry.cells.forEach(function (td) { paintCell(td, entry.state); });
      entry.rows.forEach(paintProgress);
    }

    function pendingIds() {
      return Object.keys(docs).filter(function (id) { return !docs[id].state.done; });
    }

    function summarise() {
      var counts = { received: 0, processing: 0, searchable: 0, unreadable: 0 };
      Object.keys(docs).forEach(function (id) { counts[docs[id].state.state]++; });
      var text = "已接收 " + accepted + " 个 · 拒收 " + refusedCount + " 个 · 可检索 " + counts.searchable +
        " · 等待或处理中 " + (counts.received + counts.processing) + " · 无法读取 " + counts.unreadable;
      if (inFlight) text += " · 还有 " + inFlight + " 个上传未完成";
      document.getElementById("upload-summary").textContent = text;
    }

    function poll() {
      timer = null;
      if (document.hidden) return;  // resumed by visibilitychange
      var ids = pendingIds().slice(0, 500);
      if (!ids.length || asking) { summarise(); return; }
      asking = true;
      fetch(statusUrl + "?ids=" + ids.join(","), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          asking = false;
          if (body) (body.documents || []).forEach(update);
          summarise(); schedule();
        })
        .catch(function () { asking = false; schedule(); });
    }

    function schedule() {
      if (timer === null && pendingIds().length) timer = window.setTimeout(poll, POLL_MS);
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null) poll();
    });

    // -- the report of one request -----------------------------------------------------

    function showRefusals(rejected) {
      rejected.forEach(function (r) {
        (refusals[r.reason] = refusals[r.reason] || []).push(r.name);
        refusedCount++;
      });
      if (!refusedCount) return;
      var box = document.getElementById("refusals");
      box.hidden = false;
      document.getElementById("rejected-count").textContent = refusedCount;
      var ul = document.getElementById("rejected-list");
      ul.textContent = "";
      Object.keys(refusals).forEach(function (reason) {
        var li = el("li");
        li.appendChild(el("strong", reason + "（" + refusals[reason].length + " 个）"));
        var names = el("ul");
        refusals[reason].forEach(function (name) { names.appendChild(el("li", name)); });
        li.appendChild(names);
        ul.appendChild(li);
      });
    }

    function showReport(report, row) {
      results.hidden = false;
      accepted += report.accepted || 0;
      document.getElementById("accepted-count").textContent = accepted;
      showRefusals(report.rejected || []);
      (report.documents || []).forEach(function (doc) {
        var a = el("a", doc.name); a.href = "/documents/" + doc.id;
        var cell = el("td");
        if (doc.entry || doc.indicator) {
          var tr = addRow(acceptedList, [a, doc.entry || (doc.indicator + "（指标）")]);
          tr.appendChild(cell);
          acceptedRows++;
          if (acceptedRows > SHOWN_ROWS && !showAll.getAttribute("data-open")) tr.hidden = true;
        } else {
          addRow(document.getElementById("unmatched-list"), [a, linkForm(doc)]).appendChild(cell);
          document.getElementById("unmatched").hidden = false;
        }
        track(doc, [cell], row);
      });
      if (acceptedRows > SHOWN_ROWS && !showAll.getAttribute("data-open")) {
        showAllWrap.hidden = false;
        showAll.textContent = "显示全部（共 " + acceptedRows + " 个）";
      }
      summarise(); schedule();
    }

    showAll.addEventListener("click", function () {
      showAll.setAttribute("data-open", "1"); showAllWrap.hidden = true;
      Array.prototype.forEach.call(acceptedList.querySelectorAll("tr[hidden]"), function (tr) { tr.hidden = false; });
    });

    function send(file, path) {
      document.getElementById("upload-progress").hidden = false;
      var li = el("li");
      var name = el("span", path || file.name);
      var bar = el("progress"); bar.max = 100; bar.value = 0;
      var state = el("span", "等待");
      li.appendChild(name); li.appendChild(bar); li.appendChild(state);
      list.appendChild(li);
      var row = { state: state, ids: [], refused: 0 };
      var zip = /\.zip$/i.test(file.name);
      var limit = Number(form.getAttribute(zip ? "data-max-zip-bytes" : "data-max-file-bytes"));
      if (limit && file.size > limit) {  // refused here: nothing is sent
        bar.value = 0;
        state.textContent = "未上传：超过上限（" + Math.floor(limit / 1048576) + " MB）";
        state.className = "state-error";
        return;
      }
      var data = fieldsOf();
      data.append("files", file, file.name);
      if (path) data.append("path:" + file.name, path);
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.getAttribute("data-upload-url"));
      xhr.setRequestHeader("X-CSRFToken", csrfToken(form));
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) { if (e.lengthComputable) { bar.value = Math.round(100 * e.loaded / e.total); state.textContent = bar.value + "%"; } });
      xhr.upload.addEventListener("load", function () {  // all bytes sent: the server works now
        bar.value = 100;
        state.textContent = zip ? "服务器正在解包和保存…" : "服务器正在保存…";
        state.className = "state-busy";
      });
      xhr.addEventListener("load", function () {
        inFlight--;
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: "服务器返回无法解析的内容" }; }
        bar.value = 100;
        var refused = (body.rejected || []).length;
        row.refused = refused;
        if (xhr.status >= 200 && xhr.status < 300 && refused && !body.accepted) {
          // nothing kept: say why right here, and in the summary at the top of the results
          state.textContent = "已拒收：" + body.rejected[0].reason + (refused > 1 ? "（共 " + refused + " 个，见上方）" : "");
          state.className = "state-error"; showReport(body, row);
        } else if (xhr.status >= 200 && xhr.status < 300) {
          showReport(body, row);
          if (row.ids.length) paintProgress(row);
          else { state.textContent = "已接收"; state.className = "state-done"; }
        }
        else { state.textContent = body.error || ("失败 " + xhr.status); state.className = "state-error";
          if (body.rejected) showReport(body, row); }
      });
      xhr.addEventListener("error", function () { inFlight--; state.textContent = "网络错误"; state.className = "state-error"; summarise(); });
      inFlight++;
      xhr.send(data);
    }

    function sendAll(files) { for (var i = 0; i < files.length; i++) send(files[i].file || files[i], files[i].path); }

    function walk(entry, prefix, out, done) {
      if (entry.isFile) { entry.file(function (f) { out.push({ file: f, path: prefix + f.name }); done(); }, done); return; }
      var reader = entry.createReader(), pending = 1;
      function finish() { if (--pending === 0) done(); }
      (function readBatch() {
        reader.readEntries(function (entries) {
          if (!entries.length) { finish(); return; }
          entries.forEach(function (child) { pending++; walk(child, prefix + entry.name + "/", out, finish); });
          readBatch();
        }, finish);
      })();
    }

    zone.addEventListener("keydown", function (e) {  // the drop zone works from the keyboard too
      if (e.target === zone && (e.key === "Enter" || e.key === " ")) {
        e.preventDefault(); document.getElementById("file-input").click();
      }
    });
    zone.addEventListener("dragover", function (e) { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (e) {
      e.preventDefault(); zone.classList.remove("over");
      var items = e.dataTransfer.items;
      if (items && items.length && items[0].webkitGetAsEntry) {
        var out = [], pending = items.length;
        for (var i = 0; i < items.length; i++) {
          var entry = items[i].webkitGetAsEntry();
          if (!entry) { if (--pending === 0) sendAll(out); continue; }
          walk(entry, "", out, function () { if (--pending === 0) sendAll(out); });
        }
      } else { sendAll(e.dataTransfer.files); }
    });
    ["file-input", "folder-input"].forEach(function (id) {
      var input = document.getElementById(id);
      input.addEventListener("change", function () {
        var files = [];
        for (var i = 0; i < input.files.length; i++) files.push({ file: input.files[i], path: input.files[i].webkitRelativePath || "" });
        sendAll(files); input.value = "";
      });
    });
  }

  // -- the queue page: figures and rows refreshed in place -------------------------------

  function setupQueue() {
    var live = document.getElementById("queue-live");
    if (!live) return;
    var timer = null;

    function next() {
      var busy = Number(live.getAttribute("data-remaining")) > 0;
      timer = window.setTimeout(refresh, busy ? 3000 : 6000);
    }

    function refresh() {
      timer = null;
      if (document.hidden) return;
      fetch(window.location.href, { headers: { "Accept": "text/html" }, credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html) {
            var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("queue-live");
            if (fresh && !live.contains(document.activeElement)) {  // never pull a form from under the user
              live.innerHTML = fresh.innerHTML;
              live.setAttribute("data-remaining", fresh.getAttribute("data-remaining"));
            }
          }
          next();
        })
        .catch(next);
    }

    document.addEventListener("visibilitychange", function () {
      if (!document.hidden && timer === null) refresh();
    });
    next();
  }

  document.addEventListener("DOMContentLoaded", function () { setupUpload(); setupQueue(); });
})();
