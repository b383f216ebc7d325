/* 佐证材料库: the upload page and the processing queue. No inline scripts (CSP). */
(function () {
  "use strict";

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

  var STATUS = { pending: "等待处理", processing: "处理中", indexed: "已索引", failed: "处理失败",
    empty: "无文字", encrypted: "已加密", unsupported: "不支持" };

  function setupUpload() {
    var form = document.getElementById("upload-form");
    if (!form) return;
    var zone = document.getElementById("dropzone");
    var list = document.getElementById("progress-list");
    var results = document.getElementById("upload-results");
    var accepted = 0;

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
    }

    function linkForm(doc) {
      var wrap = el("form", null, "row");
      var input = el("input");
      input.name = "code"; input.placeholder = "如 2.3.4-1"; input.required = true;
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
      return wrap;
    }

    function showReport(report) {
      results.hidden = false;
      accepted += report.accepted || 0;
      document.getElementById("accepted-count").textContent = accepted;
      (report.documents || []).forEach(function (doc) {
        var a = el("a", doc.name); a.href = "/documents/" + doc.id;
        if (doc.entry || doc.indicator) {
          addRow(document.getElementById("accepted-list"), [a, doc.entry || (doc.indicator + "（指标）"), STATUS[doc.status] || doc.status]);
        } else {
          addRow(document.getElementById("unmatched-list"), [a, linkForm(doc)]);
        }
      });
      (report.rejected || []).forEach(function (r) { addRow(document.getElementById("rejected-list"), [r.name, r.reason]); });
    }

    function send(file, path) {
      document.getElementById("upload-progress").hidden = false;
      var li = el("li");
      var name = el("span", path || file.name);
      var bar = el("progress"); bar.max = 100; bar.value = 0;
      var state = el("span", "等待");
      li.appendChild(name); li.appendChild(bar); li.appendChild(state);
      list.appendChild(li);
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
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = { error: "服务器返回无法解析的内容" }; }
        bar.value = 100;
        var refused = (body.rejected || []).length;
        if (xhr.status >= 200 && xhr.status < 300 && refused && !body.accepted) {
          // nothing kept: say why right here, not only in the list below
          state.textContent = "已拒收：" + body.rejected[0].reason; state.className = "state-error"; showReport(body);
        } else if (xhr.status >= 200 && xhr.status < 300) {
          state.textContent = refused ? "完成（" + refused + " 个被拒收，见下方）" : "完成";
          state.className = refused ? "state-warn" : "state-done"; showReport(body);
        }
        else { state.textContent = body.error || ("失败 " + xhr.status); state.className = "state-error";
          if (body.rejected) showReport(body); }
      });
      xhr.addEventListener("error", function () { state.textContent = "网络错误"; state.className = "state-error"; });
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

  document.addEventListener("DOMContentLoaded", setupUpload);
})();
