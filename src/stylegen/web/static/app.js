// stylegen explorer: the page over the JSON API (see /openapi.json). No framework, no build
// step, nothing fetched from outside. One render request is in flight at a time; while it runs,
// control changes only mark the image stale, and the newest state is rendered when it returns,
// so a dragged slider never queues up a backlog of requests.
"use strict";

const $ = (id) => document.getElementById(id);
const DIRECTION_SLIDERS = 8;
const RANGES = { sefa: [5, "degree"], ganspace: [3, "sigma"], class: [2, "degree"] };

const state = {
  networks: [],
  net: null, // id of the network shown
  info: null, // its description from /api/networks
  latent: null, // id of a projected latent in use, or null for the seed
  busy: false,
  stale: false,
  version: 0,
  lastUrl: null,
  lastBody: null,
  errorSource: null,
  job: null,
};

// -------------------------------------------------------------------------------------------
// Helpers

function showError(message, source) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
  state.errorSource = message ? source : null;
}

function clearError(source) {
  if (state.errorSource === source) showError("", null);
}

async function api(path, options) {
  let res;
  try {
    res = await fetch(path, options);
  } catch (e) {
    throw new Error(`the server did not answer (${e.message}); is stylegen serve still running?`);
  }
  if (!res.ok) {
    let message = `${res.status} ${res.statusText}`;
    try {
      const body = await res.json();
      if (body.message) message = body.message;
      else if (typeof body.detail === "string") message = body.detail;
      else if (body.detail) message = JSON.stringify(body.detail);
    } catch (e) {
      /* not JSON: keep the status line */
    }
    throw new Error(`${message} (HTTP ${res.status})`);
  }
  return res;
}

const int = (id) => Number.parseInt($(id).value, 10);
const num = (id) => Number.parseFloat($(id).value);
const netUrl = (suffix) => `api/networks/${encodeURIComponent(state.net)}/${suffix}`;

function download(url, name) {
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

// -------------------------------------------------------------------------------------------
// StyleGAN: the render request and the image

function renderRequest() {
  const info = state.info;
  const body = { seed: int("seed"), psi: num("psi"), noise_mode: $("noise").value };
  if (info.c_dim) body.class_idx = int("class");
  if (state.latent) body.latent = state.latent;
  if ($("mix-on").checked) {
    body.mix_seed = int("mix-seed");
    body.mix_from = int("mix-from");
    body.mix_to = int("mix-to");
  }
  if ($("interp-on").checked) {
    body.interp_seed = int("interp-seed");
    body.interp_t = num("interp-t");
    body.interp_space = $("interp-space").value;
  }
  const edits = [];
  for (const slider of $("dir-sliders").querySelectorAll("input[type=range]")) {
    const degree = Number(slider.value) * Number(slider.dataset.scale);
    if (degree) edits.push({ method: slider.dataset.method, index: Number(slider.dataset.index), degree });
  }
  if (edits.length) body.edits = edits;
  if (info.kind === "stylegan3") {
    body.translate_x = num("tx");
    body.translate_y = num("ty");
    body.rotate = num("rot");
  }
  return body;
}

async function render() {
  if (!state.info || state.info.kind === "cyclegan") return;
  if (state.busy) {
    state.stale = true;
    return;
  }
  state.busy = true;
  state.stale = false;
  const body = renderRequest();
  const t0 = performance.now();
  try {
    const res = await api(netUrl("image"), {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
    const blob = await res.blob();
    const url = URL.createObjectURL(blob);
    const img = $("image");
    img.src = url;
    await img.decode();
    const ms = performance.now() - t0;
    if (state.lastUrl) URL.revokeObjectURL(state.lastUrl);
    state.lastUrl = url;
    state.lastBody = body;
    state.version += 1;
    img.dataset.version = String(state.version);
    img.dataset.request = JSON.stringify(body);
    img.dataset.ms = ms.toFixed(1);
    const server = res.headers.get("X-Render-Ms");
    $("latency").textContent = `image in ${ms.toFixed(0)} ms` + (server ? ` (server ${Number(server).toFixed(0)} ms)` : "");
    clearError("render");
  } catch (e) {
    showError(e.message, "render");
  } finally {
    state.busy = false;
    if (state.stale) render();
  }
}

function backToSeed() {
  if (!state.latent) return;
  state.latent = null;
  $("latent-row").hidden = true;
}

// -------------------------------------------------------------------------------------------
// Directions

async function loadDirections() {
  const method = $("dir-method").value;
  if (!method) return;
  $("dir-status").textContent = `computing ${method} directions…`;
  $("dir-load").disabled = true;
  try {
    const res = await api(netUrl(`directions/${method}`));
    const d = await res.json();
    const [range, unit] = RANGES[method] || [3, "degree"];
    const box = $("dir-sliders");
    box.replaceChildren();
    const n = Math.min(DIRECTION_SLIDERS, d.count);
    for (let i = 0; i < n; i++) {
      const row = document.createElement("div");
      row.className = "dir";
      const label = document.createElement("label");
      label.textContent = d.labels[i] || `${method} ${i}`;
      const slider = document.createElement("input");
      Object.assign(slider, { type: "range", min: -range, max: range, step: range / 50, value: 0 });
      slider.id = `dir-${method}-${i}`;
      label.htmlFor = slider.id;
      slider.dataset.method = method;
      slider.dataset.index = String(i);
      slider.dataset.scale = String(method === "ganspace" ? d.values[i] : 1);
      const out = document.createElement("output");
      out.textContent = "0";
      slider.addEventListener("input", () => {
        out.textContent = Number(slider.value).toFixed(2);
        render();
      });
      row.append(label, slider, out);
      box.append(row);
    }
    $("dir-status").textContent =
      `${d.count} ${method} directions (${unit}s; ` +
      (d.cached ? "cached" : `computed in ${d.seconds.toFixed(2)} s`) + ")";
    clearError("directions");
  } catch (e) {
    $("dir-status").textContent = "";
    showError(e.message, "directions");
  } finally {
    $("dir-load").disabled = false;
  }
}

function resetDirections() {
  for (const slider of $("dir-sliders").querySelectorAll("input[type=range]")) {
    slider.value = 0;
    slider.nextElementSibling.textContent = "0";
  }
  render();
}

// -------------------------------------------------------------------------------------------
// Projection (runs in the background on the server; the page polls its progress)

async function startProjection() {
  const file = $("project-file").files[0];
  if (!file) {
    showError("choose an image file to project first", "project");
    return;
  }
  const params = new URLSearchParams({ steps: $("project-steps").value, space: $("project-space").value });
  if (state.info.c_dim) params.set("class_idx", $("class").value);
  $("project-status").textContent = "uploading…";
  try {
    const res = await api(netUrl(`projections?${params}`), {
      method: "POST",
      headers: { "Content-Type": file.type || "application/octet-stream" },
      body: file,
    });
    const job = await res.json();
    state.job = job.id;
    $("target-image").src = URL.createObjectURL(file);
    $("target-box").hidden = false;
    $("project-cancel").hidden = false;
    $("project-progress").hidden = false;
    clearError("project");
    pollProjection(job);
  } catch (e) {
    $("project-status").textContent = "";
    showError(e.message, "project");
  }
}

function showJob(job) {
  const bar = $("project-progress");
  bar.max = job.steps;
  bar.value = job.step;
  const psnr = job.psnr == null ? "" : `, PSNR ${job.psnr.toFixed(2)} dB`;
  const notes = job.notes.length ? ` (${job.notes.join("; ")})` : "";
  $("project-status").textContent = `${job.state}: step ${job.step}/${job.steps}${psnr}${notes}`;
}

async function pollProjection(job) {
  showJob(job);
  if (job.id !== state.job) return;
  if (job.state === "queued" || job.state === "running") {
    setTimeout(async () => {
      try {
        const res = await api(`api/projections/${encodeURIComponent(job.id)}`);
        pollProjection(await res.json());
      } catch (e) {
        showError(e.message, "project");
      }
    }, 300);
    return;
  }
  $("project-cancel").hidden = true;
  $("project-progress").hidden = true;
  if (job.state === "done") {
    state.latent = job.latent;
    $("latent-text").textContent = `projected latent ${job.latent}: PSNR ${job.psnr.toFixed(2)} dB`;
    $("latent-row").hidden = false;
    render();
  } else if (job.state === "failed") {
    showError(`projection failed: ${job.error}`, "project");
  }
}

async function cancelProjection() {
  if (!state.job) return;
  try {
    await api(`api/projections/${encodeURIComponent(state.job)}`, { method: "DELETE" });
  } catch (e) {
    showError(e.message, "project");
  }
}

// -------------------------------------------------------------------------------------------
// CycleGAN

async function translateFile() {
  const file = $("translate-file").files[0];
  if (!file) return;
  $("translate-input").src = URL.createObjectURL(file);
  $("translate-status").textContent = "translating…";
  try {
    for (const direction of ["a2b", "b2a"]) {
      const res = await api(netUrl(`translate?direction=${direction}`), {
        method: "POST",
        headers: { "Content-Type": file.type || "application/octet-stream" },
        body: file,
      });
      const img = $(`translate-${direction}`);
      img.src = URL.createObjectURL(await res.blob());
      await img.decode();
      const notes = res.headers.get("X-Input-Notes");
      $("translate-status").textContent = notes ? `input ${notes}` : "";
    }
    clearError("translate");
  } catch (e) {
    $("translate-status").textContent = "";
    showError(e.message, "translate");
  }
}

// -------------------------------------------------------------------------------------------
// Networks

async function selectNetwork(id) {
  const info = state.networks.find((n) => n.id === id);
  state.net = id;
  state.info = info;
  state.latent = null;
  state.job = null;
  showError("", null);
  $("network-kind").textContent = `${info.kind}, ${info.resolution}x${info.resolution}, ${info.channels} channel(s)` +
    (info.c_dim ? `, ${info.c_dim} classes` : "");
  const stylegan = info.kind !== "cyclegan";
  $("stylegan").hidden = !stylegan;
  $("cyclegan").hidden = stylegan;
  if (!stylegan) return;
  $("seed").max = info.seed_max;
  $("class-row").hidden = !info.c_dim;
  $("class").replaceChildren(
    ...info.class_names.map((name, i) => new Option(name, String(i))),
  );
  for (const id of ["mix-from", "mix-to"]) $(id).max = info.num_ws - 1;
  $("mix-to").value = info.num_ws - 1;
  const g = info.groups;
  $("groups-text").textContent = `num_ws ${info.num_ws}: ` +
    ["coarse", "middle", "fine"].map((k) => `${k} ${g[k].length ? `${g[k][0]}-${g[k][g[k].length - 1]}` : "none"}`).join(", ");
  for (const b of document.querySelectorAll(".presets button")) b.disabled = !g[b.dataset.group].length;
  $("transform").hidden = info.kind !== "stylegan3";
  $("dir-method").replaceChildren(...info.directions.map((m) => new Option(m, m)));
  $("dir-sliders").replaceChildren();
  $("dir-status").textContent = "computed on first use, then cached";
  $("latent-row").hidden = true;
  $("target-box").hidden = true;
  $("project-status").textContent = "";
  await render();
}

function wire() {
  const rerender = () => render();
  const seedChanged = () => {
    backToSeed();
    render();
  };
  $("seed").addEventListener("input", seedChanged);
  $("class").addEventListener("input", seedChanged);
  $("seed-prev").addEventListener("click", () => {
    $("seed").value = Math.max(0, int("seed") - 1);
    seedChanged();
  });
  $("seed-next").addEventListener("click", () => {
    $("seed").value = int("seed") + 1;
    seedChanged();
  });
  $("seed-random").addEventListener("click", () => {
    $("seed").value = Math.floor(Math.random() * 100000);
    seedChanged();
  });
  // Before the render listener: moving t turns interpolation on.
  $("interp-t").addEventListener("input", () => {
    if (!$("interp-on").checked) $("interp-on").checked = true;
  });
  for (const [id, digits] of [["psi", 2], ["interp-t", 2], ["tx", 2], ["ty", 2], ["rot", 0]]) {
    $(id).addEventListener("input", () => {
      $(`${id}-value`).textContent = num(id).toFixed(digits);
      render();
    });
  }
  for (const id of ["noise", "mix-on", "mix-seed", "mix-from", "mix-to", "interp-on", "interp-seed", "interp-space"]) {
    $(id).addEventListener("input", rerender);
  }
  for (const b of document.querySelectorAll(".presets button")) {
    b.addEventListener("click", () => {
      const idx = state.info.groups[b.dataset.group];
      $("mix-from").value = idx[0];
      $("mix-to").value = idx[idx.length - 1];
      $("mix-on").checked = true;
      render();
    });
  }
  $("latent-clear").addEventListener("click", () => {
    backToSeed();
    render();
  });
  $("dir-load").addEventListener("click", loadDirections);
  $("dir-reset").addEventListener("click", resetDirections);
  $("project-start").addEventListener("click", startProjection);
  $("project-cancel").addEventListener("click", cancelProjection);
  $("translate-file").addEventListener("change", translateFile);
  $("download-png").addEventListener("click", () => {
    if (!state.lastUrl) return;
    const name = state.latent || `seed${String(state.lastBody.seed).padStart(4, "0")}`;
    download(state.lastUrl, `${state.net}-${name}.png`);
  });
  $("download-latent").addEventListener("click", async () => {
    if (!state.lastBody) return;
    try {
      const res = await api(netUrl("latent"), {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(state.lastBody),
      });
      const url = URL.createObjectURL(await res.blob());
      const name = state.latent || `seed${String(state.lastBody.seed).padStart(4, "0")}`;
      download(url, `${state.net}-${name}.ws.safetensors`);
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (e) {
      showError(e.message, "render");
    }
  });
  $("network").addEventListener("change", () => selectNetwork($("network").value));
}

async function main() {
  wire();
  try {
    const res = await api("api/networks");
    state.networks = await res.json();
  } catch (e) {
    showError(e.message, "start");
    return;
  }
  $("network").replaceChildren(...state.networks.map((n) => new Option(`${n.name} (${n.kind})`, n.id)));
  $("network-label").hidden = state.networks.length < 2;
  await selectNetwork(state.networks[0].id);
  document.body.dataset.ready = "1";
}

main();
