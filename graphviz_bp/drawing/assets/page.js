// graphviz_bp interactive page: steps through the backward pass on one fixed layout.
// Reads the data in <script id="walk">; restyles the drawing's SVG (never re-lays it out).
"use strict";
(function () {
  const W = JSON.parse(document.getElementById("walk").textContent);
  const svg = document.querySelector("#view > svg");
  const N = W.steps.length;
  const $ = (id) => document.getElementById(id);
  const slider = $("slider"), counter = $("counter");
  const nowBox = $("now"), sumsBox = $("sums"), detail = $("detail");
  const SVGNS = "http://www.w3.org/2000/svg";
  const texts = Array.from(svg.querySelectorAll("text[data-s]"));
  const byId = (id) => (id ? svg.getElementById(id) : null);
  let step = 0, picked = null, ready = false;

  const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
  const num = (x) => (typeof x === "number" ? Number(x.toPrecision(4)).toString() : String(x));

  // --- the step -------------------------------------------------------------------------------
  function setStep(k) {
    step = Math.max(0, Math.min(N, k));
    slider.value = String(step);
    counter.textContent = step === 0 ? `step 0 of ${N}: forward pass` : `step ${step} of ${N}`;
    $("prev").disabled = step === 0;
    $("next").disabled = step === N;
    for (const t of texts) {
      const s = +t.dataset.s, d = t.dataset.d === undefined ? null : +t.dataset.d;
      t.classList.toggle("later", step < s && !(d !== null && step >= d));
      t.classList.toggle("faint", step < s && d !== null && step >= d);
    }
    svg.querySelectorAll("g.edge").forEach((g) => {
      const at = W.edgeStep[g.id], now = at !== undefined && W.edgeSteps[g.id].includes(step);
      g.classList.toggle("future", at !== undefined && step < at);
      g.classList.toggle("current", now);
      g.classList.toggle("done", at !== undefined && step > at && !now);
    });
    svg.querySelectorAll("g.node").forEach((g) => {
      g.classList.toggle("current", step > 0 && (W.nodeSteps[g.id] || []).includes(step));
      const arr = W.arrivals[g.id];
      if (arr) {
        const have = arr.filter((s) => s <= step).length;
        g.classList.toggle("partial", have > 0 && have < arr.length);
        g.classList.toggle("complete", have === arr.length);
        badge(g, have, arr.length);
      }
    });
    showNow();
    showSums();
    if (ready && $("follow").checked) follow();
    remember();
  }

  function remember() {  // the address says the step and the pick: a link or a reload comes back here
    try { history.replaceState(null, "", "#step=" + step + (picked ? "&pick=" + picked : "")); } catch (e) { /* sandboxed */ }
  }

  function badge(g, have, total) {
    let b = g.querySelector(":scope > .badge");
    if (!b) {
      const box = g.getBBox();
      b = document.createElementNS(SVGNS, "g");
      b.setAttribute("class", "badge");
      b.setAttribute("transform", `translate(${box.x + box.width - 6},${box.y - 4})`);
      const r = document.createElementNS(SVGNS, "rect");
      r.setAttribute("x", "-4"); r.setAttribute("y", "-12"); r.setAttribute("rx", "8");
      r.setAttribute("height", "17");
      const t = document.createElementNS(SVGNS, "text");
      t.setAttribute("x", "4"); t.setAttribute("y", "1");
      b.append(r, t);
      g.append(b);
    }
    const t = b.querySelector("text");
    t.textContent = have === total ? `${have}/${total} ✓` : `${have}/${total}`;
    b.querySelector("rect").setAttribute("width", String(8 + 7.5 * t.textContent.length));
    b.classList.toggle("done", have === total);
  }

  function showNow() {
    if (step === 0) {
      nowBox.innerHTML = `<h2>Step 0: the forward pass</h2><p>Every value is computed from the inputs and shown on its node. ` +
        `No message has been sent yet.</p><p class="hint">Press → or Next to start the backward pass at the output, ` +
        `where ∂L/∂L = 1.</p>`;
      return;
    }
    const s = W.steps[step - 1];
    let h = `<h2>Step ${step} of ${N}: at <span class="name">${esc(s.name)}</span></h2>`;
    const where = (r) => esc(r.named) + (r.index === null ? "" : ` (${r.index + 1} of ${r.count})`);
    if (s.box) {  // an op inside a group drawn as one box (which may stand for a folded repeat: where in it)
      h += `<p class="hint">inside the box ${esc(s.box)}${s.reps ? ", in " + s.reps.map(where).join(" › ") : ""}</p>`;
    } else if (s.reps && s.reps.length === 1) {
      const r = s.reps[0];
      h += `<p class="hint">in ${esc(r.named)}, repetition ${r.index + 1} of ${r.count} of a block drawn once</p>`;
    } else if (s.reps) {  // a repeat folded inside another: where in each, outermost first
      h += `<p class="hint">in ${s.reps.map(where).join(" › ")} of blocks drawn once</p>`;
    }
    h += s.seed ? `<p>The backward pass starts here: ${esc(s.cotangent)} = ${esc(s.adjoint)}.</p>`
      : `<p>Its cotangent ḡ = ${esc(s.cotangent)} is complete: ${esc(s.adjoint)}.</p>`;
    h += `<p>Its rule sends ${s.sent.length === 1 ? "one message" : s.sent.length + " messages"}:</p><ul class="sent">`;
    for (const m of s.sent) {
      const mark = ["①", "②", "③", "④"][m.argnum] || `#${m.argnum + 1}`;
      h += `<li>to ${s.sent.length > 1 ? mark + " " : ""}<b>${esc(m.toName)}</b>${m.tag ? ` as <span class="tag">${esc(m.tag)}</span>` : ""}` +
        (m.rule ? `: <span class="rule">${esc(m.rule)}</span>` : "") + ` = ${esc(m.value)}</li>`;
    }
    h += "</ul>";
    for (const x of s.sums) {
      h += `<p>At <b>${esc(x.name)}</b>: ∂L/∂${esc(x.name)} = ${esc(x.terms)} ` +
        (x.complete ? `<span class="complete-mark">complete (${x.have} of ${x.of} messages)</span>: ${esc(x.partial)}`
          : `(${x.have} of ${x.of} messages so far): ${esc(x.partial)}`) + `</p>`;
    }
    nowBox.innerHTML = h;
  }

  // values of one name in the list of sums (tanh, dot in each step) told apart by their line, then
  // by their order there
  const sumHints = (() => {
    const ids = Object.keys(W.arrivals).filter((id) => W.nodes[id]), byName = {}, hints = {};
    for (const id of ids) (byName[W.nodes[id].name] = byName[W.nodes[id].name] || []).push(id);
    for (const alike of Object.values(byName)) {
      if (alike.length < 2) continue;
      const bySource = {};
      for (const id of alike) (bySource[W.nodes[id].source || ""] = bySource[W.nodes[id].source || ""] || []).push(id);
      for (const [source, same] of Object.entries(bySource)) {
        same.forEach((id, k) => {
          const where = source ? source.split(": ")[0] : "";
          const parts = [where, same.length > 1 ? `#${k + 1}` : ""].filter((x) => x);
          hints[id] = parts.length ? ` (${parts.join(", ")})` : "";
        });
      }
    }
    return hints;
  })();

  function showSums() {
    const rows = [], ids = Object.keys(W.arrivals).filter((id) => W.nodes[id]);
    for (const id of ids) {
      const arr = W.arrivals[id], have = arr.filter((s) => s <= step).length;
      rows.push(`<li data-node="${esc(id)}"><b>${esc(W.nodes[id].name)}</b>${esc(sumHints[id] || "")}: ` +
        `${have} of ${arr.length} messages` + (have === arr.length ? " — complete" : "") + `</li>`);
    }
    sumsBox.innerHTML = rows.length ? `<h2>Values used more than once</h2><ul class="sums">${rows.join("")}</ul>` : "";
  }

  // --- picking a node or an edge -----------------------------------------------------------------
  function clearPick() {
    picked = null;
    remember();
    svg.classList.remove("picking");
    svg.querySelectorAll(".on-path, .picked").forEach((g) => g.classList.remove("on-path", "picked"));
  }

  function light(edges, nodeId) {
    svg.querySelectorAll(".on-path, .picked").forEach((g) => g.classList.remove("on-path", "picked"));
    svg.classList.add("picking");
    for (const id of edges) {
      const g = byId(id);
      if (!g) continue;
      g.classList.add("on-path");
      const ends = (g.querySelector("title") || {}).textContent || "";
      for (const end of ends.split("->")) {
        const n = byId(end.replace(/:.*$/, "").trim());
        if (n) n.classList.add("on-path");
      }
    }
    const self = byId(nodeId);
    if (self) self.classList.add("on-path", "picked");
  }

  const out = {};  // drawn node -> the drawn edges leaving it
  for (const id in W.edges) {
    const e = W.edges[id];
    if (e.src) (out[e.src] = out[e.src] || []).push(id);
  }
  function downstream(id) {  // every edge on a path from the node to the output: all below it
    const seen = new Set(), todo = [id], edges = [];
    while (todo.length) {
      const n = todo.pop();
      for (const e of out[n] || []) {
        if (seen.has(e)) continue;
        seen.add(e);
        edges.push(e);
        todo.push(W.edges[e].dst);
      }
    }
    return edges;
  }

  function heat(grid) {
    const cell = Math.max(4, Math.min(18, Math.floor(360 / Math.max(grid.cols, 1))));
    const grey = document.body.classList.contains("theme-grey");
    let h = `<svg class="heat" xmlns="${SVGNS}" width="${grid.cols * cell}" height="${grid.rows * cell}" role="img" aria-label="heat-map">`;
    grid.data.forEach((v, i) => {
      const r = Math.floor(i / grid.cols), c = i % grid.cols;
      let fill = "#ffffff";
      if (typeof v !== "number") fill = "#ffff00";
      else if (grid.max > 0) {
        const a = Math.min(1, Math.abs(v) / grid.max);
        if (grey) { const l = Math.round(255 * (1 - a)); fill = `rgb(${l},${l},${l})`; }
        else fill = v >= 0 ? `rgba(214,39,40,${a})` : `rgba(31,119,180,${a})`;
      }
      h += `<rect x="${c * cell}" y="${r * cell}" width="${cell}" height="${cell}" fill="${fill}"` +
        (grey && typeof v === "number" && v < 0 ? ` stroke="#888" stroke-dasharray="1 1"` : "") + `><title>${num(v)}</title></rect>`;
    });
    h += "</svg>";
    const legend = grey ? "darker: larger |value|; dashed border: negative" : "red: positive, blue: negative, white: 0";
    return h + `<p class="hint">${esc(legend)}; largest |value| ${num(grid.max)}${grid.note ? "; " + esc(grid.note) : ""}</p>`;
  }

  function numbers(a) {
    if (!a.numbers) return `<p class="hint">${esc(a.shape)}: too many entries to list; the heat-map shows them all.</p>`;
    return `<details><summary>all ${a.numbers.length} numbers</summary><div class="num">${a.numbers.map(num).join(", ")}</div></details>`;
  }

  function pickNode(id) {
    const info = W.nodes[id];
    if (!info) return;
    clearPick();
    picked = id;
    remember();
    light(downstream(id), id);
    let h = `<h2>${esc(info.name)}</h2><p>${esc(info.kind)}${info.op ? " (" + esc(info.op) + ")" : ""}` +
      `${info.count > 1 ? `, drawn once for ${info.count} values` : ""}, shape ${esc(info.value.shape)}</p>`;
    if (info.source) h += `<p class="hint">${esc(info.source)}</p>`;
    h += `<p>value: ${esc(info.value.summary)}</p>`;
    if (info.gradient) {
      h += `<p>∂L/∂${esc(info.name)}: ${esc(info.gradient.summary)}</p>` + heat(info.gradient.grid) + numbers(info.gradient);
      const P = info.pathCount;
      h += `<h2>${P} path${P === 1 ? "" : "s"} to the output</h2>`;
      if (P === 1) {
        h += `<p>One path: its contribution is all of ∂L/∂${esc(info.name)}. Its edges are lit.</p>`;
      } else if (info.paths) {
        h += `<ul class="paths">`;
        info.paths.forEach((p, i) => {
          h += `<li tabindex="0" data-path="${i}"><b>path ${i + 1}</b>: ${esc(p.route)}<br>contributes ${esc(p.summary)}${numbers(p)}</li>`;
        });
        h += `</ul>` + sumCheck(info);
      } else {
        h += `<p class="hint">Too many paths, or too long, to list here; Graph.contributions lists them. All edges on them are lit.</p>`;
      }
    }
    detail.innerHTML = h;
    detail.querySelectorAll("ul.paths li").forEach((li) => {
      const go = () => {
        detail.querySelectorAll("ul.paths li").forEach((x) => x.classList.remove("picked"));
        li.classList.add("picked");
        light(info.paths[+li.dataset.path].edges, id);
      };
      li.addEventListener("click", go);
      li.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
    });
  }

  function sumCheck(info) {
    // the contributions add up to the gradient: summed here, entry by entry, from the numbers listed
    const g = info.gradient.numbers;
    if (!g || info.paths.some((p) => !p.numbers)) {
      return `<p class="check ${info.sumCheck < 1e-8 ? "ok" : "bad"}" id="sum-check">Σ of the ${info.paths.length} contributions = ∂L/∂${esc(info.name)}` +
        ` (largest difference ${num(info.sumCheck)}, checked when the page was made)</p>`;
    }
    let worst = 0, scale = 0;
    const total = g.map((_, i) => info.paths.reduce((acc, p) => acc + p.numbers[i], 0));
    total.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - g[i])); scale = Math.max(scale, Math.abs(g[i])); });
    const ok = worst <= 1e-9 * Math.max(1, scale);
    const norms = info.paths.map((p) => num(p.norm)).join(" + ");
    return `<p class="check ${ok ? "ok" : "bad"}" id="sum-check" data-worst="${worst}">Σ of the ${info.paths.length} contributions, added here entry by entry,` +
      ` ${ok ? "equals" : "differs from"} ∂L/∂${esc(info.name)}: largest difference ${num(worst)}</p>` +
      `<p class="hint">norms of the contributions: ${norms} (norms do not add; the arrays do)</p>`;
  }

  function pickEdge(id) {
    const info = W.edges[id];
    if (!info || !info.from) return;
    clearPick();
    picked = id;
    remember();
    light([id], null);
    const mark = ["①", "②", "③", "④"][info.argnum] || `#${info.argnum + 1}`;
    let h = `<h2>${esc(info.from)} → ${esc(info.to)}</h2><p>operand ${mark} of ${esc(info.to)}` +
      `${info.count > 1 ? `, drawn once for ${info.count} edges` : ""}</p>` +
      `<p>local Jacobian ∂${esc(info.to)}/∂${esc(info.from)}: shape ${esc(info.jacobian)}</p>`;
    if (info.message) {
      h += `<p>message, sent at step ${info.step}${info.step > step ? " (not yet at this step)" : ""}: ${esc(info.message.summary)}</p>`;
      if (info.rule) h += `<p>rule: <span class="rule">${esc(info.rule)}</span> (ḡ = ∂L/∂${esc(info.to)})</p>`;
      h += heat(info.message.grid) + numbers(info.message);
    } else {
      h += `<p class="hint">No message flows back along this edge (a constant, or data).</p>`;
    }
    detail.innerHTML = h;
  }

  function pickGroup(id) {
    // a folded repeat, opened up: its repetitions one by one, each with its steps and the norm of the
    // message that reaches it; a row takes the page to that repetition's first step
    const grp = W.groups[id];
    if (!grp) return;
    clearPick();
    picked = "cluster_" + id;
    remember();
    const known = grp.reps.map((r) => r.norm).filter((v) => typeof v === "number" && v > 0);
    const lo = Math.log10(Math.min(...known)), hi = Math.log10(Math.max(...known));
    const frame = byId("cluster_" + id);
    const title = frame ? (frame.querySelector("text") || {}).textContent || "" : "";
    let h = `<h2>${esc(title)}</h2><p>drawn once for ${grp.count} repetitions; each one below, with the norm ` +
      `of the message that reaches it (log scale). Click one to step to it.</p><table class="reps"><tbody>`;
    grp.reps.forEach((r, k) => {
      const v = r.norm, width = typeof v === "number" && v > 0 && hi > lo ? 8 + 92 * (Math.log10(v) - lo) / (hi - lo) : 8;
      const here = r.steps && step >= r.steps[0] && step <= r.steps[1];
      h += `<tr tabindex="0" data-rep="${k}" class="${here ? "here" : ""}"><td>${esc(r.label)}</td>` +
        `<td class="bar"><span style="width:${width}px"></span></td><td class="num">${v === null ? "—" : num(v)}</td>` +
        `<td class="hint">${r.steps ? `steps ${r.steps[0]}–${r.steps[1]}` : "no message"}</td></tr>`;
    });
    detail.innerHTML = h + `</tbody></table>`;
    const here = detail.querySelector("tr.here");
    if (here) here.scrollIntoView({ block: "nearest" });
    detail.querySelectorAll("tr[data-rep]").forEach((tr) => {
      const go = () => { const r = grp.reps[+tr.dataset.rep]; if (r.steps) { setStep(r.steps[0]); pickGroup(id); } };
      tr.addEventListener("click", go);
      tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
    });
  }

  // --- pan and zoom --------------------------------------------------------------------------------
  const full = svg.viewBox.baseVal;
  // the drawing, with room above and to the right for the badges ("1/2") a value at its top or
  // right edge gets: they sit over its box's corner, past Graphviz's bounds
  const home = { x: full.x, y: full.y - 18, w: full.width + 56, h: full.height + 18 };
  let vb = { ...home };
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.dataset.home = `${home.x} ${home.y} ${home.w} ${home.h}`;
  function setView(v) {
    vb = v;
    svg.setAttribute("viewBox", `${v.x} ${v.y} ${v.w} ${v.h}`);
  }
  function zoom(f, cx, cy) {
    const w = vb.w / f, h = vb.h / f;
    if (w < home.w / 60 || w > home.w * 4) return;
    const px = cx === undefined ? vb.x + vb.w / 2 : cx, py = cy === undefined ? vb.y + vb.h / 2 : cy;
    setView({ x: px - (px - vb.x) / f, y: py - (py - vb.y) / f, w, h });
  }
  function toSvg(ev) {
    const r = svg.getBoundingClientRect();
    const s = Math.max(vb.w / r.width, vb.h / r.height);
    const ox = (r.width * s - vb.w) / 2, oy = (r.height * s - vb.h) / 2;
    return [vb.x - ox + (ev.clientX - r.left) * s, vb.y - oy + (ev.clientY - r.top) * s, s];
  }
  svg.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const [x, y] = toSvg(ev);
    zoom(ev.deltaY < 0 ? 1.2 : 1 / 1.2, x, y);
  }, { passive: false });
  let drag = null;
  const view = $("view");
  view.addEventListener("pointerdown", (ev) => {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, vb: { ...vb }, moved: false };
  });
  window.addEventListener("pointermove", (ev) => {
    if (!drag) return;
    const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.hypot(dx, dy) < 4) return;
    drag.moved = true;
    view.classList.add("dragging");
    const s = toSvg(ev)[2];
    setView({ ...drag.vb, x: drag.vb.x - dx * s, y: drag.vb.y - dy * s });
  });
  window.addEventListener("pointerup", () => {
    view.classList.remove("dragging");
    setTimeout(() => { drag = null; }, 0);
  });
  function boxOf(g) {  // an element's box in the drawing's own units (those of its viewBox)
    const r = g.getBoundingClientRect(), m = svg.getScreenCTM().inverse();
    const a = new DOMPoint(r.left, r.top).matrixTransform(m), b = new DOMPoint(r.right, r.bottom).matrixTransform(m);
    return { x: a.x, y: a.y, width: b.x - a.x, height: b.y - a.y };
  }
  function centre(id) {
    const g = byId(id);
    if (!g) return;
    const b = boxOf(g);
    if (b.width > vb.w || b.height > vb.h) setView({ ...home });
    setView({ x: b.x + b.width / 2 - vb.w / 2, y: b.y + b.height / 2 - vb.h / 2, w: vb.w, h: vb.h });
  }

  function visible() {  // the part of the drawing on screen, in its own units
    const r = svg.getBoundingClientRect();
    const s = Math.max(vb.w / r.width, vb.h / r.height);
    return { x: vb.x - (r.width * s - vb.w) / 2, y: vb.y - (r.height * s - vb.h) / 2, w: r.width * s, h: r.height * s };
  }
  function inside(v) {  // a view kept on the drawing: centred along an axis where it is larger
    const along = (p, size, lo, extent) => (size >= extent ? lo + extent / 2 - size / 2 : Math.min(Math.max(p, lo), lo + extent - size));
    return { x: along(v.x, v.w, home.x, home.w), y: along(v.y, v.h, home.y, home.h), w: v.w, h: v.h };
  }
  function follow() {
    // keep what this step does on screen: pan (never zoom) to it when it is not
    const parts = Array.from(svg.querySelectorAll("g.node.current, g.edge.current"));
    if (!parts.length) return;
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const g of parts) {
      const b = boxOf(g);
      x0 = Math.min(x0, b.x); y0 = Math.min(y0, b.y); x1 = Math.max(x1, b.x + b.width); y1 = Math.max(y1, b.y + b.height);
    }
    const v = visible();
    if (x0 >= v.x && y0 >= v.y && x1 <= v.x + v.w && y1 <= v.y + v.h) return;
    setView(inside({ ...vb, x: (x0 + x1) / 2 - vb.w / 2, y: (y0 + y1) / 2 - vb.h / 2 }));
  }
  function start() {
    // the whole drawing when it is legible so; else its full width (at most life size), at the output,
    // where the backward pass starts
    const r = svg.getBoundingClientRect();
    const fit = Math.min(r.width / home.w, r.height / home.h);
    if (fit >= 0.75 || !r.width || /(^|[#&])fit($|&)/.test(location.hash)) return;  // #step=0&fit: the whole
    const s = Math.min(1, r.width / home.w);
    const w = r.width / s, h = r.height / s;
    const out = N ? byId(W.steps[0].node) : null;
    const b = out ? boxOf(out) : { x: home.x, y: home.y, width: home.w, height: 0 };
    setView(inside({ x: home.x + home.w / 2 - w / 2, y: b.y + b.height / 2 - h / 2, w, h }));
  }

  // --- wiring -----------------------------------------------------------------------------------
  slider.max = String(N);
  $("prev").addEventListener("click", () => setStep(step - 1));
  $("next").addEventListener("click", () => setStep(step + 1));
  slider.addEventListener("input", () => setStep(+slider.value));
  $("zoom-in").addEventListener("click", () => zoom(1.25));
  $("zoom-out").addEventListener("click", () => zoom(1 / 1.25));
  $("fit").addEventListener("click", () => setView({ ...home }));
  function togglePanel() {
    const hidden = document.body.classList.toggle("no-panel");
    $("panel-toggle").setAttribute("aria-expanded", String(!hidden));
    if ($("follow").checked) follow();
  }
  $("panel-toggle").addEventListener("click", togglePanel);

  svg.querySelectorAll("g.node, g.edge").forEach((g) => {
    const isNode = g.classList.contains("node");
    if (isNode ? !W.nodes[g.id] : !W.edges[g.id]) return;
    if (!isNode) {  // a line is hard to hit: an invisible wide copy of it takes the clicks
      const line = g.querySelector("path");
      if (line) {
        const hit = line.cloneNode(false);
        hit.setAttribute("class", "hit");
        hit.setAttribute("stroke", "transparent");
        hit.setAttribute("stroke-width", "12");
        hit.setAttribute("fill", "none");
        line.after(hit);
      }
    }
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    const info = isNode ? W.nodes[g.id] : W.edges[g.id];
    g.setAttribute("aria-label", isNode ? `value ${info.name}` : `edge ${info.from} to ${info.to}`);
    const go = () => (isNode ? pickNode(g.id) : pickEdge(g.id));
    g.addEventListener("click", (ev) => { if (drag && drag.moved) return; ev.stopPropagation(); go(); });
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); go(); } });
  });
  svg.querySelectorAll("g.cluster.folded, g.node.frame-title").forEach((g) => {  // a folded frame, or its title
    const id = g.id.replace(/^(cluster|title)_/, "");
    if (!W.groups[id]) return;
    g.setAttribute("tabindex", "0");
    g.setAttribute("role", "button");
    g.setAttribute("aria-label", "folded block: list its repetitions");
    g.addEventListener("click", (ev) => { if (drag && drag.moved) return; ev.stopPropagation(); pickGroup(id); });
    g.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); pickGroup(id); } });
  });
  svg.addEventListener("click", () => { if (!(drag && drag.moved)) clearPick(); });

  const names = $("names"), search = $("search");
  const nameToId = {};
  for (const id in W.nodes) {
    const n = W.nodes[id].name;
    if (!(n in nameToId)) {
      nameToId[n] = id;
      const o = document.createElement("option");
      o.value = n;
      names.append(o);
    }
  }
  function find() {
    const q = search.value.trim();
    let id = nameToId[q];
    if (!id) {
      const hit = Object.keys(nameToId).find((n) => n.toLowerCase().includes(q.toLowerCase()));
      id = hit && nameToId[hit];
    }
    search.classList.toggle("missing", !id);
    if (id) { pickNode(id); centre(id); }
  }
  search.addEventListener("change", find);
  search.addEventListener("keydown", (ev) => { if (ev.key === "Enter") { ev.preventDefault(); find(); } });

  document.addEventListener("keydown", (ev) => {
    const t = ev.target;
    if (t && (t.tagName === "INPUT" && t.type !== "range")) return;
    if (t && t.id === "slider" && (ev.key === "ArrowLeft" || ev.key === "ArrowRight")) return;  // the slider moves itself
    const keys = {
      ArrowRight: () => setStep(step + 1), ArrowLeft: () => setStep(step - 1),
      PageDown: () => setStep(step + 1), PageUp: () => setStep(step - 1),
      Home: () => setStep(0), End: () => setStep(N), Escape: () => clearPick(), p: () => togglePanel(),
      "+": () => zoom(1.25), "=": () => zoom(1.25), "-": () => zoom(1 / 1.25), "0": () => setView({ ...home }),
    };
    const f = keys[ev.key];
    if (f) { ev.preventDefault(); f(); }
  });

  // a link can say where to start: #step=6, #step=7&pick=n0 (a value or an edge picked)
  const m = /step=(\d+)/.exec(location.hash), p = /pick=([\w-]+)/.exec(location.hash);
  start();
  setStep(m ? +m[1] : 0);
  ready = true;
  if (step > 0) follow();
  if (p && p[1].startsWith("cluster_")) pickGroup(p[1].slice(8));
  else if (p && W.nodes[p[1]]) pickNode(p[1]);
  else if (p && W.edges[p[1]]) pickEdge(p[1]);
  window.graphvizBP = { setStep, pickNode, pickEdge, pickGroup, clearPick, get step() { return step; }, get picked() { return picked; }, data: W };
})();
