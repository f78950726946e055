// Segment rule builder: edits the public rule tree {"op": "and"|"or", "rules": [...]} kept in a
// hidden <textarea> (without JavaScript that textarea is the editor: plain JSON). Conditions and
// groups nest to any depth; reorder by drag and drop or with the Move up / Move down buttons;
// every control has a label. A debounced live preview posts both trees to the preview view.
(function () {
  "use strict";
  var configEl = document.getElementById("segment-builder-config");
  if (!configEl) { return; }
  var config = JSON.parse(configEl.textContent);
  var fields = {};
  config.fields.forEach(function (f) { fields[f.token] = f; });
  var NO_VALUE = { is_empty: true, is_not_empty: true };
  var LIST_OPS = { "in": true, not_in: true, has_any: true, has_all: true, has_none: true };
  var nextId = 1;
  var ids = new WeakMap();
  var builders = [];

  function idOf(node) {
    if (!ids.has(node)) { ids.set(node, "n" + (nextId++)); }
    return ids.get(node);
  }
  function isGroup(node) { return node && typeof node === "object" && Array.isArray(node.rules); }
  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { e.textContent = attrs[k]; }
      else if (k === "className") { e.className = attrs[k]; }
      else if (attrs[k] === true) { e.setAttribute(k, ""); }
      else if (attrs[k] !== false && attrs[k] != null) { e.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) { if (c) { e.appendChild(c); } });
    return e;
  }

  // --- values that follow the field's kind and the operator ----------------------------------

  function valueShape(kind, op) {
    if (NO_VALUE[op]) { return "none"; }
    if (kind === "event") { return "event"; }
    if (op === "between") { return kind === "date" ? "date2" : "number2"; }
    if (op === "in_last_days" || op === "more_than_days_ago") { return "days"; }
    if (kind === "list" || kind === "segment") { return "picker"; }
    if (kind === "choice") { return LIST_OPS[op] ? "choices" : "choice"; }
    if (kind === "boolean") { return "boolean"; }
    if (kind === "tags" || LIST_OPS[op]) { return "csv"; }
    return kind === "number" || kind === "date" ? kind : "text";
  }
  function defaultValue(field, shape) {
    switch (shape) {
      case "none": return undefined;
      case "date2": case "number2": return ["", ""];
      case "picker": case "choices": case "csv": return [];
      case "boolean": return true;
      case "choice": return field.choices.length ? field.choices[0][0] : "";
      case "days": return 30;
      case "event": return { type: "opened", in_last_days: 30 };
      default: return "";
    }
  }
  function setOperator(cond, op) {
    var field = fields[cond.field] || { kind: "text", choices: [] };
    var before = valueShape(field.kind, cond.operator);
    cond.operator = op;
    var after = valueShape(field.kind, op);
    if (after === "none") { delete cond.value; }
    else if (after !== before || cond.value === undefined) { cond.value = defaultValue(field, after); }
  }
  function newCondition() {
    var field = config.fields[0];
    var cond = { field: field.token, operator: field.operators[0][0] };
    setOperator(cond, field.operators.some(function (o) { return o[0] === "contains"; }) ? "contains" : field.operators[0][0]);
    return cond;
  }
  function splitCsv(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s; });
  }
  function asNumber(text) {
    var t = String(text).trim();
    return t !== "" && isFinite(Number(t)) ? Number(t) : t;
  }

  // --- one builder ---------------------------------------------------------------------------

  function Builder(root) {
    this.root = root;
    this.textarea = document.getElementById(root.getAttribute("data-source"));
    this.pathRoot = root.getAttribute("data-path-root") || "rules";
    this.name = root.getAttribute("data-name") || "Rules";
    this.emptyText = root.getAttribute("data-empty") || "No conditions: every contact matches.";
    this.tree = this.parse(this.textarea.value);
    var wrap = this.textarea.closest("[data-rules-json]");
    if (wrap) { wrap.open = false; }
    var self = this;
    this.textarea.addEventListener("change", function () {
      var tree = self.parse(self.textarea.value, true);
      if (tree) { self.tree = tree; self.render(); changed(); }
    });
    root.hidden = false;
    this.render();
  }
  Builder.prototype.parse = function (text, strict) {
    try {
      var tree = JSON.parse(text || "{}");
      if (isGroup(tree)) { return tree; }
    } catch (err) { /* fall through */ }
    return strict ? null : { op: "and", rules: [] };
  };
  Builder.prototype.sync = function () {
    this.textarea.value = JSON.stringify(this.tree, null, 2);
  };
  Builder.prototype.render = function (focusKey) {
    this.root.innerHTML = "";
    this.root.appendChild(this.renderGroup(this.tree, null, [], this.pathRoot));
    this.sync();
    if (focusKey) {
      var target = this.root.querySelector('[data-focus="' + focusKey + '"]');
      if (target) { target.focus(); }
    }
  };
  Builder.prototype.update = function (focusKey) { this.render(focusKey); changed(); };

  Builder.prototype.renderGroup = function (group, parent, numbers, path) {
    var self = this;
    var id = idOf(group);
    var label = numbers.length ? "group " + numbers.join(".") : this.name.toLowerCase();
    var op = el("select", { "aria-label": "Combine the conditions of " + label, "data-focus": id + "-op" }, [
      el("option", { value: "and", text: "all", selected: group.op !== "or" }),
      el("option", { value: "or", text: "any", selected: group.op === "or" })
    ]);
    op.addEventListener("change", function () { group.op = op.value; self.update(id + "-op"); });
    var head = el("div", { className: "rb-group-head" }, [
      parent ? this.handle(group, label) : null,
      el("span", { text: "Match " }), op,
      el("span", { text: " of these conditions" + (group.op === "or" ? " (OR)" : " (AND)") })
    ]);
    if (parent) { head.appendChild(this.itemButtons(group, parent, label)); }
    var list = el("ol", { className: "rb-items", "data-drop-group": id });
    group.rules.forEach(function (child, i) {
      var childNumbers = numbers.concat([i + 1]);
      var childPath = path + "[" + i + "]";
      var item = isGroup(child)
        ? self.renderGroup(child, group, childNumbers, childPath + ".rules")
        : self.renderCondition(child, group, childNumbers, childPath);
      var li = el("li", { className: "rb-item" + (isGroup(child) ? " rb-item-group" : ""),
        "data-node": idOf(child), "data-path": isGroup(child) ? childPath + ".rules" : childPath }, [item]);
      self.dropTarget(li, group, child);
      list.appendChild(li);
    });
    if (!group.rules.length) {
      list.appendChild(el("li", { className: "rb-empty muted",
        text: parent ? "Empty group: add a condition or remove it." : this.emptyText }));
    }
    this.dropTarget(list, group, null);
    var add = el("button", { type: "button", className: "btn small", "data-focus": id + "-add",
      text: "+ Condition", "aria-label": "Add a condition to " + label });
    add.addEventListener("click", function () {
      var cond = newCondition();
      group.rules.push(cond);
      self.update(idOf(cond) + "-field");
    });
    var addGroup = el("button", { type: "button", className: "btn small", "data-focus": id + "-addgroup",
      text: "+ Group", "aria-label": "Add a group to " + label });
    addGroup.addEventListener("click", function () {
      var cond = newCondition();
      var sub = { op: group.op === "or" ? "and" : "or", rules: [cond] };
      group.rules.push(sub);
      self.update(idOf(cond) + "-field");
    });
    var actions = el("div", { className: "rb-group-actions" }, [add, addGroup]);
    this.dropTarget(actions, group, null);  // dropped on the buttons: to the end of the group
    return el("div", { className: "rb-group" + (parent ? " rb-nested" : " rb-root"), role: "group",
      "aria-label": label.charAt(0).toUpperCase() + label.slice(1), "data-group": id, "data-path": path }, [
      head, list, actions
    ]);
  };

  Builder.prototype.renderCondition = function (cond, parent, numbers) {
    var self = this;
    var id = idOf(cond);
    var label = "condition " + numbers.join(".");
    var field = fields[cond.field];
    var fieldSelect = el("select", { "aria-label": "Field of " + label, "data-focus": id + "-field", className: "rb-field" });
    var groups = {};
    config.fields.forEach(function (f) {
      if (!groups[f.group]) { groups[f.group] = el("optgroup", { label: f.group }); fieldSelect.appendChild(groups[f.group]); }
      groups[f.group].appendChild(el("option", { value: f.token, text: f.label, selected: f.token === cond.field }));
    });
    if (!field) {
      fieldSelect.insertBefore(el("option", { value: String(cond.field), text: "Unknown field: " + cond.field, selected: true }), fieldSelect.firstChild);
      field = { token: cond.field, kind: "text", operators: [[cond.operator, String(cond.operator)]], choices: [] };
    }
    fieldSelect.addEventListener("change", function () {
      var f = fields[fieldSelect.value];
      var keep = f.operators.some(function (o) { return o[0] === cond.operator; }) &&
        valueShape(f.kind, cond.operator) === valueShape(field.kind, cond.operator);
      cond.field = f.token;
      if (!keep) { delete cond.value; cond.operator = null; setOperator(cond, f.operators[0][0]); }
      self.update(id + "-field");
    });
    var opSelect = el("select", { "aria-label": "Operator of " + label, "data-focus": id + "-op", className: "rb-op" });
    field.operators.forEach(function (o) {
      opSelect.appendChild(el("option", { value: o[0], text: o[1], selected: o[0] === cond.operator }));
    });
    opSelect.addEventListener("change", function () { setOperator(cond, opSelect.value); self.update(id + "-op"); });
    return el("div", { className: "rb-condition", role: "group", "aria-label": label.charAt(0).toUpperCase() + label.slice(1) }, [
      this.handle(cond, label), fieldSelect, opSelect, this.valueInputs(cond, field, label),
      this.itemButtons(cond, parent, label)
    ]);
  };

  Builder.prototype.valueInputs = function (cond, field, label) {
    var self = this;
    var shape = valueShape(field.kind, cond.operator);
    var box = el("span", { className: "rb-value" + (shape === "event" ? " rb-value-event" : "") });
    function input(attrs, read) {
      var i = el("input", attrs);
      i.addEventListener("input", function () { read(i.value); self.sync(); changed(); });
      return i;
    }
    var v = cond.value;
    switch (shape) {
      case "none":
        break;
      case "text": case "number": case "date":
        box.appendChild(input({ type: shape, "aria-label": "Value of " + label, value: v == null ? "" : String(v),
          step: shape === "number" ? "any" : null },
          function (x) { cond.value = shape === "number" ? asNumber(x) : x; }));
        break;
      case "days":
        box.appendChild(input({ type: "number", min: "0", step: "1", className: "rb-days", "aria-label": "Number of days of " + label,
          value: v == null ? "" : String(v) }, function (x) { cond.value = asNumber(x); }));
        box.appendChild(el("span", { text: cond.operator === "more_than_days_ago" ? " days ago" : " days" }));
        break;
      case "number2": case "date2":
        if (!Array.isArray(v) || v.length !== 2) { v = cond.value = ["", ""]; }
        [0, 1].forEach(function (k) {
          if (k) { box.appendChild(el("span", { text: " and " })); }
          box.appendChild(input({ type: shape === "date2" ? "date" : "number", step: shape === "date2" ? null : "any",
            "aria-label": (k ? "Upper" : "Lower") + " value of " + label, value: String(v[k]) },
            function (x) { cond.value[k] = shape === "date2" ? x : asNumber(x); }));
        });
        break;
      case "csv":
        var listId = field.kind === "tags" ? "segment-builder-tags" : null;
        box.appendChild(input({ type: "text", list: listId, "aria-label": "Values of " + label + " (comma-separated)",
          placeholder: field.kind === "tags" ? "tag names, comma-separated" : "values, comma-separated",
          value: Array.isArray(v) ? v.join(", ") : (v == null ? "" : String(v)) },
          function (x) { cond.value = splitCsv(x); }));
        break;
      case "boolean":
        box.appendChild(this.select("Value of " + label, [["true", "yes"], ["false", "no"]], String(v !== false),
          function (x) { cond.value = x === "true"; }));
        break;
      case "choice":
        box.appendChild(this.select("Value of " + label, field.choices, v, function (x) { cond.value = x; }));
        break;
      case "event":
        box.appendChild(this.eventInputs(cond, field, label));
        break;
      case "choices": case "picker":
        var options = shape === "choices" ? field.choices : (field.kind === "list" ? config.lists : config.segments);
        box.appendChild(this.checkboxes(cond, label, options, shape === "picker"));
        break;
    }
    return box;
  };

  // An email-activity condition: {"type", "campaign"?, "in_last_days"?, "after"?, "before"?};
  // an empty input leaves its key out (any campaign, any time).
  Builder.prototype.eventInputs = function (cond, field, label) {
    var self = this;
    if (!cond.value || typeof cond.value !== "object" || Array.isArray(cond.value)) {
      cond.value = defaultValue(field, "event");
    }
    var v = cond.value;
    function set(key, value) {
      if (value === "" || value == null) { delete v[key]; } else { v[key] = value; }
      self.sync(); changed();
    }
    var box = el("span", { className: "rb-event" });
    box.appendChild(this.select("Event type of " + label, field.choices, v.type || "",
      function (x) { set("type", x); }));
    var campaigns = [["", "of any campaign"]].concat(config.campaigns.map(function (c) {
      return [String(c[0]), "of “" + c[1] + "”"];
    }));
    var known = campaigns.some(function (c) { return c[0] === String(v.campaign); });
    if (v.campaign != null && !known) {  // a name typed in the JSON, or an id gone since
      campaigns.push([String(v.campaign), "of “" + v.campaign + "”"]);
    }
    box.appendChild(this.select("Campaign of " + label, campaigns, v.campaign == null ? "" : String(v.campaign),
      function (x) {
        var byId = config.campaigns.some(function (c) { return String(c[0]) === x; });
        set("campaign", x === "" ? null : (byId ? Number(x) : x));
      }));
    function part(text, attrs, key, read) {
      var i = el("input", attrs);
      i.addEventListener("input", function () { set(key, read(i.value)); });
      return el("label", { className: "rb-event-part" }, [document.createTextNode(text), i]);
    }
    box.appendChild(part(" in the last ", { type: "number", min: "0", step: "1", className: "rb-days",
      placeholder: "any", "aria-label": "Days of " + label, value: v.in_last_days == null ? "" : String(v.in_last_days) },
      "in_last_days", function (x) { return x.trim() === "" ? null : asNumber(x); }));
    box.appendChild(el("span", { text: " days" }));
    box.appendChild(part(" after ", { type: "date", "aria-label": "After (date) of " + label, value: v.after || "" },
      "after", function (x) { return x || null; }));
    box.appendChild(part(" before ", { type: "date", "aria-label": "Before (date) of " + label, value: v.before || "" },
      "before", function (x) { return x || null; }));
    return box;
  };

  Builder.prototype.select = function (ariaLabel, options, current, read) {
    var self = this;
    var s = el("select", { "aria-label": ariaLabel });
    options.forEach(function (o) { s.appendChild(el("option", { value: String(o[0]), text: o[1], selected: String(o[0]) === String(current) })); });
    s.addEventListener("change", function () { read(s.value); self.sync(); changed(); });
    return s;
  };

  Builder.prototype.checkboxes = function (cond, label, options, numeric) {
    var self = this;
    if (!Array.isArray(cond.value)) { cond.value = cond.value == null || cond.value === "" ? [] : [cond.value]; }
    var set = el("fieldset", { className: "rb-checks" }, [el("legend", { className: "visually-hidden", text: "Values of " + label })]);
    if (!options.length) { set.appendChild(el("span", { className: "muted", text: "none to choose from yet" })); }
    options.forEach(function (o) {
      var box = el("input", { type: "checkbox", value: String(o[0]),
        checked: cond.value.some(function (x) { return String(x) === String(o[0]); }) });
      box.addEventListener("change", function () {
        var value = numeric ? Number(o[0]) : o[0];
        cond.value = cond.value.filter(function (x) { return String(x) !== String(o[0]); });
        if (box.checked) { cond.value.push(value); }
        self.sync(); changed();
      });
      set.appendChild(el("label", { className: "rb-check" }, [box, document.createTextNode(" " + o[1])]));
    });
    return set;
  };

  // --- moving and removing ----------------------------------------------------------------------

  Builder.prototype.itemButtons = function (node, parent, label) {
    var self = this;
    var id = idOf(node);
    var index = parent.rules.indexOf(node);
    function button(text, aria, key, disabled, action) {
      var b = el("button", { type: "button", className: "btn small rb-icon", text: text, "aria-label": aria,
        title: aria, "data-focus": id + "-" + key, disabled: disabled });
      b.addEventListener("click", action);
      return b;
    }
    return el("span", { className: "rb-buttons" }, [
      button("↑", "Move " + label + " up", "up", index === 0, function () {
        parent.rules.splice(index, 1); parent.rules.splice(index - 1, 0, node);
        self.update(id + (index - 1 === 0 ? "-down" : "-up"));
      }),
      button("↓", "Move " + label + " down", "down", index === parent.rules.length - 1, function () {
        parent.rules.splice(index, 1); parent.rules.splice(index + 1, 0, node);
        self.update(id + (index + 1 === parent.rules.length - 1 ? "-up" : "-down"));
      }),
      button("×", "Remove " + label, "remove", false, function () {
        parent.rules.splice(index, 1);
        self.update(idOf(parent) + "-add");
      })
    ]);
  };

  Builder.prototype.handle = function (node, label) {
    var self = this;
    var h = el("span", { className: "rb-handle", draggable: "true", title: "Drag to move " + label, "aria-hidden": "true", text: "⠿" });
    h.addEventListener("dragstart", function (event) {
      self.dragging = node;
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", idOf(node));
      var li = h.closest(".rb-item");
      if (li) { event.dataTransfer.setDragImage(li, 10, 10); li.classList.add("rb-dragging"); }
    });
    h.addEventListener("dragend", function () { self.dragging = null; self.clearDrop(); self.render(); });
    return h;
  };

  // Is `inner` the group `outer` or inside it? (A group can't be dropped into itself.)
  Builder.prototype.contains = function (outer, inner) {
    var self = this;
    return outer === inner || (isGroup(outer) && outer.rules.some(function (c) { return self.contains(c, inner); }));
  };

  // A drop on an item goes before it (upper half) or after it (lower half); a drop on a
  // group's list or its buttons goes to the end of that group.
  Builder.prototype.dropTarget = function (target, group, item) {
    var self = this;
    function allowed() {
      var node = self.dragging;
      return node && node !== item && !(isGroup(node) && self.contains(node, group));
    }
    function after(event) {
      if (!item) { return true; }
      var box = target.getBoundingClientRect();
      return event.clientY > box.top + box.height / 2;
    }
    target.addEventListener("dragover", function (event) {
      if (!allowed()) { return; }
      event.preventDefault();
      event.stopPropagation();
      event.dataTransfer.dropEffect = "move";
      self.clearDrop();
      target.classList.add(!item ? "rb-drop-end" : after(event) ? "rb-drop-after" : "rb-drop-before");
    });
    target.addEventListener("drop", function (event) {
      if (!allowed()) { return; }
      event.preventDefault();
      event.stopPropagation();
      var node = self.dragging;
      var below = after(event);
      self.remove(self.tree, node);
      var at = item ? group.rules.indexOf(item) + (below ? 1 : 0) : group.rules.length;
      group.rules.splice(at, 0, node);
      self.dragging = null;
      self.clearDrop();
      self.update();
    });
  };
  Builder.prototype.remove = function (group, node) {
    var i = group.rules.indexOf(node);
    if (i >= 0) { group.rules.splice(i, 1); return true; }
    return group.rules.some(function (c) { return isGroup(c) && this.remove(c, node); }, this);
  };
  Builder.prototype.clearDrop = function () {
    this.root.querySelectorAll(".rb-drop-before, .rb-drop-after, .rb-drop-end").forEach(function (e) {
      e.classList.remove("rb-drop-before", "rb-drop-after", "rb-drop-end");
    });
  };
  Builder.prototype.markError = function (path) {
    this.root.querySelectorAll(".rb-invalid").forEach(function (e) { e.classList.remove("rb-invalid"); });
    if (!path) { return; }
    var hit = this.root.querySelector('[data-path="' + path.replace(/"/g, "") + '"]');
    if (hit) { hit.classList.add("rb-invalid"); }
  };

  // --- live preview ------------------------------------------------------------------------------

  var preview = document.getElementById("segment-preview");
  var status = preview && preview.querySelector("[data-preview-status]");
  var rows = preview && preview.querySelector("[data-preview-rows]");
  var timer = null;
  var inflight = null;

  function changed() {
    if (!preview) { return; }
    window.clearTimeout(timer);
    preview.setAttribute("aria-busy", "true");
    timer = window.setTimeout(runPreview, 400);
  }

  function runPreview() {
    var form = preview.closest("form") || document.querySelector("form[data-segment-form]");
    var data = new FormData();
    builders.forEach(function (b) { data.append(b.textarea.name, b.textarea.value); });
    var csrf = form && form.querySelector("[name=csrfmiddlewaretoken]");
    if (inflight) { inflight.abort(); }
    inflight = new AbortController();
    fetch(preview.getAttribute("data-preview-url"), {
      method: "POST", body: data, signal: inflight.signal, credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.value : "", "X-Requested-With": "fetch" }
    }).then(function (response) {
      return response.text().then(function (html) { show(html); });
    }).catch(function (err) {
      if (err.name !== "AbortError") { status.textContent = "The preview is not available right now."; }
    });
  }

  function show(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var newStatus = doc.querySelector("[data-preview-status]");
    var newRows = doc.querySelector("[data-preview-rows]");
    if (!newStatus) {  // signed out, or the server failed: not a preview partial
      status.textContent = "The preview is not available right now; reload the page.";
    } else if (status.innerHTML !== newStatus.innerHTML) { status.innerHTML = newStatus.innerHTML; }
    rows.innerHTML = newRows ? newRows.innerHTML : "";
    var path = newStatus && newStatus.getAttribute("data-error-path");
    builders.forEach(function (b) { b.markError(path); });
    preview.setAttribute("aria-busy", "false");
  }

  document.querySelectorAll("[data-segment-builder]").forEach(function (root) {
    builders.push(new Builder(root));
  });
  var manual = document.querySelector("[data-preview-button]");
  if (manual && preview) { manual.hidden = true; }
  if (builders.length && preview) { changed(); }
})();
