/* The report's explorer (ferviz/report/page.py): the viewer, the confusion lists, the enlarged
   filters. Plain ES2017, no library, nothing fetched: the page works from file://. It reads its
   data from #fx-data and only enhances the static markup, which stays readable without it. */
(function () {
  "use strict";
  var root = document.getElementById("fx");
  var block = document.getElementById("fx-data");
  if (!root || !block) return;
  var data = JSON.parse(block.textContent);
  var classes = data.classes;
  var ROLES = ["predicted", "true", "runner-up"];
  var $ = function (id) { return document.getElementById(id); };
  root.classList.add("fx-js");

  function mark(right) { return right ? "\u2713" : "\u2717"; }

  function faceWords(face) {
    var pred = classes[face.pred] + " (" + face.proba[face.pred].toFixed(2) + ")";
    if (face.true === null) return face.id + ": predicted " + pred;
    return mark(face.true === face.pred) + " " + face.id + ": true " + classes[face.true] + ", predicted " + pred;
  }

  /* ------------------------------------------------------------------ the viewer */
  var viewer = $("fx-viewer");
  var state = { face: 0, explainer: data.explainers.length ? data.explainers[0].name : null, role: "predicted",
                opacity: 60 };

  function explainerInfo(name) {
    for (var i = 0; i < data.explainers.length; i++) {
      if (data.explainers[i].name === name) return data.explainers[i];
    }
    return data.explainers[0];
  }

  function shownRole(face) {
    var c = face.targets[state.role];
    return c === null || c === undefined ? "predicted" : state.role;
  }

  function rolesOf(face, c) {
    return ROLES.filter(function (r) { return face.targets[r] === c; });
  }

  function show() {
    var face = data.faces[state.face];
    var info = explainerInfo(state.explainer);
    var role = shownRole(face);
    var c = face.targets[role];
    var faceImg = $("fx-face");
    var mapImg = $("fx-map");
    faceImg.src = face.face;
    faceImg.alt = "face " + faceWords(face);
    mapImg.src = face.maps[info.name][String(c)];
    mapImg.alt = info.name + " map of face " + face.id + " for class " + classes[c] + " (" +
      rolesOf(face, c).join(", ") + ")";
    mapImg.style.opacity = String(state.opacity / 100);
    /* blend so that a map's neutral colour leaves the face as it is: white (zero) for signed maps, black for others */
    mapImg.style.mixBlendMode = info.signed ? "multiply" : "screen";
    $("fx-title").textContent = faceWords(face);
    $("fx-position").textContent = (state.face + 1) + " of " + data.faces.length;
    ROLES.forEach(function (r) {
      var input = viewer.querySelector('input[name="fx-role"][value="' + r + '"]');
      var span = viewer.querySelector('span[data-role="' + r + '"]');
      var rc = face.targets[r];
      input.disabled = rc === null || rc === undefined;
      input.checked = r === role;
      if (input.disabled) {
        span.textContent = "no label";
      } else {
        var same = rolesOf(face, rc).filter(function (o) { return o !== r; });
        span.textContent = classes[rc] + " (" + face.proba[rc].toFixed(2) + ")" + (same.length ? " = " + same.join(", ") : "");
      }
    });
    viewer.querySelectorAll('input[name="fx-explainer"]').forEach(function (input) {
      input.checked = input.value === info.name;
    });
    $("fx-legend-bar").style.background = info.legend;
    $("fx-legend-low").textContent = info.low;
    $("fx-legend-high").textContent = info.high;
    $("fx-explainer-summary").textContent = info.name + ": " + info.summary +
      (info.signed ? " Red: evidence for the class, blue: against it." : " Bright: high, dark: low.");
    var body = $("fx-proba").tBodies[0];
    body.textContent = "";
    classes.forEach(function (name, k) {
      var row = body.insertRow();
      if (k === c) row.className = "fx-on";
      var roles = rolesOf(face, k);
      row.insertCell().textContent = name + (roles.length ? " (" + roles.join(", ") + ")" : "");
      var bar = document.createElement("span");
      bar.className = "fx-p";
      bar.style.width = Math.round(face.proba[k] * 140) + "px";
      row.insertCell().appendChild(bar);
      row.insertCell().textContent = face.proba[k].toFixed(3);
    });
    root.querySelectorAll(".fx-card").forEach(function (card) {
      card.setAttribute("aria-current", card.id === "fx-face-" + state.face ? "true" : "false");
    });
  }

  function openFace(k, explainer) {
    state.face = k;
    if (explainer) state.explainer = explainer;
    show();
    viewer.scrollIntoView({ block: "start" });
    $("fx-title").focus({ preventScroll: true });
  }

  function step(list, value, by) {
    var i = list.indexOf(value);
    return list[(i + by + list.length) % list.length];
  }

  function setOpacity(value) {
    state.opacity = Math.max(0, Math.min(100, value));
    $("fx-opacity").value = String(state.opacity);
    $("fx-opacity-value").textContent = state.opacity + " %";
    $("fx-map").style.opacity = String(state.opacity / 100);
  }

  if (viewer && data.faces.length) {
    viewer.hidden = false;
    $("fx-prev").addEventListener("click", function () { state.face = step(indices(), state.face, -1); show(); });
    $("fx-next").addEventListener("click", function () { state.face = step(indices(), state.face, 1); show(); });
    viewer.querySelectorAll('input[name="fx-explainer"]').forEach(function (input) {
      input.addEventListener("change", function () { state.explainer = input.value; show(); });
    });
    viewer.querySelectorAll('input[name="fx-role"]').forEach(function (input) {
      input.addEventListener("change", function () { state.role = input.value; show(); });
    });
    $("fx-opacity").addEventListener("input", function (ev) { setOpacity(Number(ev.target.value)); });
    root.querySelectorAll("#fx-gallery a[data-face]").forEach(function (a) {
      a.addEventListener("click", function (ev) {
        ev.preventDefault();
        openFace(Number(a.dataset.face), a.dataset.explainer || null);
      });
    });
    show();
  }

  function indices() { return data.faces.map(function (_, k) { return k; }); }

  function nextRole(by) {
    var face = data.faces[state.face];
    var open = ROLES.filter(function (r) { return face.targets[r] !== null && face.targets[r] !== undefined; });
    state.role = step(open, shownRole(face), by);
    show();
  }

  /* ------------------------------------------------------------------ confusion lists */
  var list = $("fx-list");
  var chosenCell = null;

  function listItem(entry) {
    var li = document.createElement("li");
    var words = mark(entry.true === entry.pred) + " " + entry.id + ": true " + classes[entry.true] +
      ", predicted " + classes[entry.pred] + " (" + entry.p_pred.toFixed(2) + "); p(true) " + entry.p_true.toFixed(2);
    if (entry.face < 0) {
      li.textContent = words + ", not explained";
      return li;
    }
    var button = document.createElement("button");
    button.type = "button";
    var img = document.createElement("img");
    img.src = data.faces[entry.face].face;
    img.alt = "face " + entry.id;
    img.width = 40;
    img.height = 40;
    button.appendChild(img);
    button.appendChild(document.createTextNode(words + ": open"));
    button.addEventListener("click", function () { openFace(entry.face, null); });
    li.appendChild(button);
    return li;
  }

  function showGroup(key, cell) {
    var group = data.groups[key];
    if (chosenCell) chosenCell.classList.remove("fx-chosen");
    chosenCell = cell;
    cell.classList.add("fx-chosen");
    $("fx-list-title").textContent = group.title + ": " + group.count + " face" + (group.count === 1 ? "" : "s");
    var shown = group.faces.length;
    $("fx-list-note").textContent = "Wrong predictions first, then the least sure of the true class" +
      (shown < group.count ? "; the first " + shown + " are listed." : ".") +
      (data.faces.length ? " A face with a picture opens in the viewer." : "");
    var items = $("fx-list-items");
    items.textContent = "";
    group.faces.forEach(function (i) { items.appendChild(listItem(data.listed[i])); });
    list.hidden = false;
    $("fx-list-title").focus();
  }

  var cm = $("fx-cm");
  if (cm && list) {
    cm.querySelectorAll("[data-group]").forEach(function (cell) {
      var group = data.groups[cell.dataset.group];
      if (!group || !group.count) return;
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = cell.textContent;
      button.setAttribute("aria-label", "list the faces: " + group.title + ", " + group.count);
      button.addEventListener("click", function () { showGroup(cell.dataset.group, cell); });
      cell.textContent = "";
      cell.appendChild(button);
    });
  }

  function closeList() {
    list.hidden = true;
    if (chosenCell) {
      chosenCell.classList.remove("fx-chosen");
      chosenCell.querySelector("button").focus();
      chosenCell = null;
    }
  }

  /* ------------------------------------------------------------------ enlarged filters */
  var lightbox = $("fx-lightbox");
  var tile = null;

  function openTile(a) {
    tile = a;
    var small = a.querySelector("img");
    $("fx-lightbox-img").src = a.getAttribute("href");
    $("fx-lightbox-img").alt = small.alt + " (enlarged)";
    $("fx-lightbox-caption").textContent = small.alt;
    lightbox.hidden = false;
    $("fx-lightbox-close").focus();
  }

  function closeTile() {
    lightbox.hidden = true;
    if (tile) tile.focus();
  }

  function stepTile(by) {
    var all = Array.prototype.slice.call(tile.parentNode.querySelectorAll("a.fx-tile"));
    openTile(step(all, tile, by));
  }

  if (lightbox) {
    root.querySelectorAll("a.fx-tile").forEach(function (a) {
      a.addEventListener("click", function (ev) { ev.preventDefault(); openTile(a); });
    });
    $("fx-lightbox-close").addEventListener("click", closeTile);
    $("fx-lightbox-prev").addEventListener("click", function () { stepTile(-1); });
    $("fx-lightbox-next").addEventListener("click", function () { stepTile(1); });
    lightbox.addEventListener("click", function (ev) { if (ev.target === lightbox) closeTile(); });
  }

  /* ------------------------------------------------------------------ keys */
  function viewerInView() {
    if (!viewer || viewer.hidden) return false;
    var box = viewer.getBoundingClientRect();
    return box.bottom > 0 && box.top < window.innerHeight;
  }

  document.addEventListener("keydown", function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (lightbox && !lightbox.hidden) {
      if (ev.key === "Escape") closeTile();
      else if (ev.key === "ArrowLeft") stepTile(-1);
      else if (ev.key === "ArrowRight") stepTile(1);
      else if (ev.key === "Tab") {  /* keep the focus in the dialog */
        var buttons = Array.prototype.slice.call(lightbox.querySelectorAll("button"));
        var i = buttons.indexOf(document.activeElement);
        buttons[(i + (ev.shiftKey ? -1 : 1) + buttons.length) % buttons.length].focus();
      } else return;
      ev.preventDefault();
      return;
    }
    if (ev.key === "Escape" && list && !list.hidden) { closeList(); return; }
    /* the keys act when the focus is in the explorer, or on the page while the viewer is in sight */
    var here = root.contains(ev.target) || (ev.target === document.body && viewerInView());
    if (!here || !data.faces.length) return;
    var names = data.explainers.map(function (e) { return e.name; });
    switch (ev.key) {
      case "n": state.face = step(indices(), state.face, 1); show(); break;
      case "p": state.face = step(indices(), state.face, -1); show(); break;
      case "e": state.explainer = step(names, state.explainer, 1); show(); break;
      case "E": state.explainer = step(names, state.explainer, -1); show(); break;
      case "c": nextRole(1); break;
      case "C": nextRole(-1); break;
      case "+": case "=": setOpacity(state.opacity + 10); break;
      case "-": setOpacity(state.opacity - 10); break;
      default: return;
    }
    ev.preventDefault();
  });
})();
