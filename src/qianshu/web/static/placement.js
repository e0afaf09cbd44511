/* Qianshu (签署) — place signing fields on the document's pages by drag and drop.
 *
 * The pages are drawn with pdf.js (vendored under /static/vendor/pdfjs/, no CDN). Each box is kept
 * in the page's viewport units at scale 1 (points, origin top-left, after /Rotate) and converted to
 * PDF user-space points (origin bottom-left, MediaBox offset included) with the page's own
 * viewport when the hidden `placement` input is written. The server checks the result like the
 * API does. Without JavaScript, or when the PDF cannot be drawn, the coordinate inputs stay.
 */
import * as pdfjsLib from "/static/vendor/pdfjs/pdf.min.mjs";

const root = document.querySelector("[data-placement]");
const SIZES = { signature: [140, 56], seal: [110, 110], date: [110, 22], text: [150, 22], checkbox: [16, 16] };
const SIGNATURE_KINDS = new Set(["signature", "seal"]);
const MIN = 8;
const DRAG_START_PX = 4;

if (root) {
  pdfjsLib.GlobalWorkerOptions.workerSrc = root.dataset.worker;
  start(root);
}

function start(root) {
  const i18n = JSON.parse(document.getElementById("pl-i18n").textContent);
  const form = root.closest("form");
  const data = document.getElementById("pl-data");
  const pagesEl = document.getElementById("pl-pages");
  const status = document.getElementById("pl-status");
  const signerSelect = document.getElementById("pl-signer");
  const listBody = document.getElementById("pl-list-body");
  const list = document.getElementById("pl-list");
  const signerCount = signerSelect.options.length;
  let pages = []; // {index, viewport, el}
  let fields = []; // {id, signer, kind, page, r: [x1, y1, x2, y2] viewport units, required}
  let nextId = 1;
  let loadToken = 0;

  const say = (text) => { status.textContent = text; };
  const fmt = (text, values) => text.replace(/\{(\w+)\}/g, (_, k) => (k in values ? values[k] : ""));
  const round = (v, up) => (up ? Math.ceil(v * 100 - 1e-6) : Math.floor(v * 100 + 1e-6)) / 100;

  function saved() {
    try {
      const parsed = JSON.parse(data.value || "[]");
      return Array.isArray(parsed) ? parsed : [];
    } catch (e) {
      return [];
    }
  }

  function toPdf(f) {
    const vp = pages[f.page].viewport;
    const [ax, ay] = vp.convertToPdfPoint(f.r[0], f.r[1]);
    const [bx, by] = vp.convertToPdfPoint(f.r[2], f.r[3]);
    return {
      x1: round(Math.min(ax, bx), true), y1: round(Math.min(ay, by), true),
      x2: round(Math.max(ax, bx), false), y2: round(Math.max(ay, by), false),
    };
  }

  function write() {
    data.value = JSON.stringify(fields.map((f) => ({
      signer: f.signer, kind: f.kind, page: f.page, required: f.required, ...toPdf(f),
    })));
    renderList();
  }

  function clamp(r, vp) {
    let w = Math.max(MIN, Math.min(r[2] - r[0], vp.width));
    let h = Math.max(MIN, Math.min(r[3] - r[1], vp.height));
    const x = Math.min(Math.max(0, r[0]), vp.width - w);
    const y = Math.min(Math.max(0, r[1]), vp.height - h);
    return [x, y, x + w, y + h];
  }

  function label(f) {
    return fmt(i18n.box, { n: f.signer + 1, kind: i18n.kinds[f.kind], page: f.page + 1 });
  }

  function place(el, f) {
    const vp = pages[f.page].viewport;
    el.style.left = (100 * f.r[0] / vp.width) + "%";
    el.style.top = (100 * f.r[1] / vp.height) + "%";
    el.style.width = (100 * (f.r[2] - f.r[0]) / vp.width) + "%";
    el.style.height = (100 * (f.r[3] - f.r[1]) / vp.height) + "%";
  }

  function boxOf(f) {
    return pagesEl.querySelector('[data-field="' + f.id + '"]');
  }

  function addBox(f) {
    const el = document.createElement("div");
    el.className = "pl-box pl-signer-" + (f.signer % 4) + " pl-kind-" + f.kind;
    el.dataset.field = String(f.id);
    el.dataset.kind = f.kind;
    el.dataset.signer = String(f.signer);
    el.tabIndex = 0;
    el.setAttribute("role", "group");
    el.setAttribute("aria-label", label(f) + "。" + i18n.box_keys);
    const text = document.createElement("span");
    text.className = "pl-box-label";
    text.textContent = (f.signer + 1) + " · " + i18n.kinds[f.kind];
    const del = document.createElement("button");
    del.type = "button";
    del.className = "pl-box-delete";
    del.textContent = "×";
    del.setAttribute("aria-label", fmt(i18n.remove, { field: label(f) }));
    del.addEventListener("click", () => remove(f));
    const handle = document.createElement("span");
    handle.className = "pl-box-resize";
    handle.setAttribute("aria-hidden", "true");
    el.append(text, del, handle);
    place(el, f);
    pages[f.page].el.appendChild(el);
    el.addEventListener("pointerdown", (ev) => grabBox(ev, f, el, ev.target === handle));
    el.addEventListener("keydown", (ev) => keyBox(ev, f, el));
    return el;
  }

  function add(signer, kind, page, cx, cy, focus) {
    const vp = pages[page].viewport;
    const [w, h] = SIZES[kind];
    const f = {
      id: nextId++, signer, kind, page,
      r: clamp([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], vp),
      required: true,
    };
    fields.push(f);
    const el = addBox(f);
    write();
    say(fmt(i18n.added, { field: label(f) }));
    if (focus) el.focus();
    return f;
  }

  function remove(f) {
    fields = fields.filter((g) => g !== f);
    const el = boxOf(f);
    if (el) el.remove();
    write();
    say(fmt(i18n.removed, { field: label(f) }));
  }

  /* Move a box, or resize it from its corner handle, with the mouse, a pen or a finger. */
  function grabBox(ev, f, el, resizing) {
    if (ev.button !== 0 || ev.target.closest(".pl-box-delete")) return;
    ev.preventDefault();
    el.focus();
    el.setPointerCapture(ev.pointerId);
    const vp = pages[f.page].viewport;
    const rect = pages[f.page].el.getBoundingClientRect();
    const unit = vp.width / rect.width;
    const start = f.r.slice();
    const sx = ev.clientX, sy = ev.clientY;
    el.classList.add("pl-moving");
    const move = (e) => {
      const dx = (e.clientX - sx) * unit, dy = (e.clientY - sy) * unit;
      if (resizing) {
        f.r = clamp([start[0], start[1], Math.min(vp.width, start[2] + dx), Math.min(vp.height, start[3] + dy)], vp);
      } else {
        f.r = clamp([start[0] + dx, start[1] + dy, start[2] + dx, start[3] + dy], vp);
      }
      place(el, f);
    };
    const up = () => {
      el.removeEventListener("pointermove", move);
      el.removeEventListener("pointerup", up);
      el.removeEventListener("pointercancel", up);
      el.classList.remove("pl-moving");
      write();
    };
    el.addEventListener("pointermove", move);
    el.addEventListener("pointerup", up);
    el.addEventListener("pointercancel", up);
  }

  /* Arrow keys move the focused box (Shift: 10 points), Alt+arrows resize it, Delete removes it. */
  function keyBox(ev, f, el) {
    if (ev.target !== el) return;
    const step = ev.shiftKey ? 10 : 2;
    const d = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] }[ev.key];
    const vp = pages[f.page].viewport;
    if (d) {
      ev.preventDefault();
      const r = f.r;
      f.r = ev.altKey
        ? clamp([r[0], r[1], r[2] + d[0], r[3] + d[1]], vp)
        : clamp([r[0] + d[0], r[1] + d[1], r[2] + d[0], r[3] + d[1]], vp);
      place(el, f);
      write();
    } else if (ev.key === "Delete" || ev.key === "Backspace") {
      ev.preventDefault();
      remove(f);
      const next = pagesEl.querySelector(".pl-box");
      (next || signerSelect).focus();
    }
  }

  /* Drag a kind from the palette onto a page; a plain click or Enter adds it to the visible page. */
  function paletteButton(button) {
    const kind = button.dataset.kind;
    let dragged = false;
    button.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0 || !pages.length) return;
      dragged = false;
      const sx = ev.clientX, sy = ev.clientY;
      button.setPointerCapture(ev.pointerId);
      let ghost = null;
      const move = (e) => {
        if (!dragged && Math.hypot(e.clientX - sx, e.clientY - sy) < DRAG_START_PX) return;
        if (!ghost) {
          dragged = true;
          ghost = document.createElement("div");
          ghost.className = "pl-ghost pl-signer-" + (Number(signerSelect.value) % 4);
          ghost.textContent = i18n.kinds[kind];
          document.body.appendChild(ghost);
        }
        ghost.style.left = e.clientX + "px";
        ghost.style.top = e.clientY + "px";
      };
      const up = (e) => {
        button.removeEventListener("pointermove", move);
        button.removeEventListener("pointerup", up);
        button.removeEventListener("pointercancel", up);
        if (ghost) ghost.remove();
        if (!dragged || e.type === "pointercancel") return;
        drop(kind, e.clientX, e.clientY);
      };
      button.addEventListener("pointermove", move);
      button.addEventListener("pointerup", up);
      button.addEventListener("pointercancel", up);
    });
    button.addEventListener("click", (ev) => {
      if (dragged) { dragged = false; ev.preventDefault(); return; }
      if (!pages.length) { say(i18n.no_document); return; }
      const page = visiblePage();
      const vp = pages[page].viewport;
      const shift = 12 * (fields.filter((f) => f.page === page).length % 8);
      add(Number(signerSelect.value), kind, page, vp.width / 2 + shift, vp.height / 2 + shift, true);
    });
  }

  function drop(kind, clientX, clientY) {
    const target = document.elementFromPoint(clientX, clientY);
    const pageEl = target && target.closest(".pl-page");
    if (!pageEl || !pagesEl.contains(pageEl)) {
      say(i18n.dropped_outside);
      return;
    }
    const page = Number(pageEl.dataset.page);
    const rect = pageEl.getBoundingClientRect();
    const vp = pages[page].viewport;
    const unit = vp.width / rect.width;
    add(Number(signerSelect.value), kind, page, (clientX - rect.left) * unit, (clientY - rect.top) * unit, false);
  }

  function visiblePage() {
    let best = 0, bestArea = -1;
    const h = window.innerHeight;
    pages.forEach((p, i) => {
      const r = p.el.getBoundingClientRect();
      const area = Math.max(0, Math.min(r.bottom, h) - Math.max(r.top, 0));
      if (area > bestArea) { best = i; bestArea = area; }
    });
    return best;
  }

  function renderList() {
    listBody.replaceChildren();
    list.hidden = fields.length === 0;
    fields.forEach((f) => {
      const pdf = toPdf(f);
      const tr = document.createElement("tr");
      tr.dataset.field = String(f.id);
      const cells = [
        fmt(i18n.signer_n, { n: f.signer + 1 }), i18n.kinds[f.kind], String(f.page + 1),
        pdf.x1.toFixed(0), pdf.y1.toFixed(0), (pdf.x2 - pdf.x1).toFixed(0), (pdf.y2 - pdf.y1).toFixed(0),
      ];
      cells.forEach((c) => {
        const td = document.createElement("td");
        td.textContent = c;
        tr.appendChild(td);
      });
      const req = document.createElement("td");
      if (!SIGNATURE_KINDS.has(f.kind)) {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = f.required;
        box.setAttribute("aria-label", fmt(i18n.required_for, { field: label(f) }));
        box.addEventListener("change", () => { f.required = box.checked; write(); });
        req.appendChild(box);
      } else {
        req.textContent = "✓";
      }
      tr.appendChild(req);
      const act = document.createElement("td");
      const show = document.createElement("button");
      show.type = "button";
      show.className = "button small secondary";
      show.textContent = i18n.show;
      show.addEventListener("click", () => { const el = boxOf(f); el.scrollIntoView({ block: "center" }); el.focus(); });
      const del = document.createElement("button");
      del.type = "button";
      del.className = "button small secondary";
      del.textContent = i18n.delete;
      del.setAttribute("aria-label", fmt(i18n.remove, { field: label(f) }));
      del.addEventListener("click", () => remove(f));
      act.append(show, " ", del);
      tr.appendChild(act);
      listBody.appendChild(tr);
    });
  }

  function activate(on) {
    root.classList.toggle("pl-active", on);
    if (form) form.classList.toggle("placement-active", on);
    data.disabled = !on;
  }

  async function load(source) {
    const token = ++loadToken;
    const previous = saved();
    pagesEl.replaceChildren();
    pages = [];
    fields = [];
    activate(false);
    say(i18n.loading);
    let doc;
    try {
      doc = await pdfjsLib.getDocument({
        ...source,
        cMapUrl: root.dataset.cmaps,
        cMapPacked: true,
        isEvalSupported: false,
        enableXfa: false,
      }).promise;
    } catch (e) {
      if (token === loadToken) say(i18n.cannot_render);
      return;
    }
    if (token !== loadToken) return;
    const width = Math.max(240, Math.min(pagesEl.clientWidth || 800, 900));
    const ratio = Math.min(window.devicePixelRatio || 1, 2);
    for (let i = 0; i < doc.numPages; i++) {
      const page = await doc.getPage(i + 1);
      if (token !== loadToken) return;
      const viewport = page.getViewport({ scale: 1 });
      const wrap = document.createElement("figure");
      wrap.className = "pl-page-wrap";
      const caption = document.createElement("figcaption");
      caption.textContent = fmt(i18n.page_of, { n: i + 1, total: doc.numPages });
      const el = document.createElement("div");
      el.className = "pl-page";
      el.dataset.page = String(i);
      el.setAttribute("aria-label", caption.textContent);
      const canvas = document.createElement("canvas");
      const scale = (width / viewport.width) * ratio;
      const drawn = page.getViewport({ scale });
      canvas.width = Math.floor(drawn.width);
      canvas.height = Math.floor(drawn.height);
      el.style.aspectRatio = viewport.width + " / " + viewport.height;
      el.appendChild(canvas);
      wrap.append(caption, el);
      pagesEl.appendChild(wrap);
      pages.push({ index: i, viewport, el });
      await page.render({ canvasContext: canvas.getContext("2d"), viewport: drawn }).promise;
    }
    activate(true);
    restore(previous);
    say(fmt(i18n.ready, { total: doc.numPages }));
  }

  function restore(items) {
    items.forEach((it) => {
      if (!it || !pages[it.page] || !(it.kind in SIZES)) return;
      const signer = Number(it.signer);
      if (!(signer >= 0 && signer < signerCount)) return;
      const vp = pages[it.page].viewport;
      const [a, b, c, d] = vp.convertToViewportRectangle([it.x1, it.y1, it.x2, it.y2]);
      const f = {
        id: nextId++, signer, kind: it.kind, page: it.page,
        r: clamp([Math.min(a, c), Math.min(b, d), Math.max(a, c), Math.max(b, d)], vp),
        required: SIGNATURE_KINDS.has(it.kind) ? true : Boolean(it.required),
      };
      fields.push(f);
      addBox(f);
    });
    write();
  }

  root.hidden = false;
  const header = document.querySelector(".site-header");  /* keep the palette below the sticky header */
  const headerHeight = () => {
    const sticky = header && getComputedStyle(header).position === "sticky";
    root.style.setProperty("--pl-top", (sticky ? header.offsetHeight : 0) + "px");
  };
  headerHeight();
  window.addEventListener("resize", headerHeight);
  root.querySelectorAll("[data-kind]").forEach(paletteButton);
  Array.from(signerSelect.options).forEach((opt, i) => {
    const input = document.getElementById("s" + i + "-contact");
    if (!input) return;
    const sync = () => { opt.textContent = fmt(i18n.signer_n, { n: i + 1 }) + (input.value ? " · " + input.value : ""); };
    input.addEventListener("input", sync);
    sync();
  });
  if (root.dataset.pdfUrl) {
    load({ url: root.dataset.pdfUrl, withCredentials: true });
  } else {
    const input = document.getElementById(root.dataset.pdfInput);
    if (input) {
      input.addEventListener("change", async () => {
        const file = input.files && input.files[0];
        if (!file) return;
        load({ data: new Uint8Array(await file.arrayBuffer()) });
      });
      say(i18n.choose_file);
    }
  }
}
