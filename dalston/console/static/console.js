/*
 * The Dalston web console: one page over the native REST API, no build step, no library.
 *
 * Everything the page shows comes from the API with the user's key (sessionStorage,
 * sent as Authorization: Bearer), so the static page itself holds nothing. Pages are
 * hash routes (#/jobs, #/new, #/jobs/<id>, #/queues); polling keeps running jobs current.
 * DOM is built with h(), which sets text, never HTML, so no transcript can inject markup.
 */
"use strict";

(function () {
  const KEY_STORE = "dalston.apiKey";
  const API = "/v1/audio/transcriptions";
  const TERMINAL = ["completed", "failed", "cancelled"];
  const SPEAKER_COLOURS = 8;
  const state = {
    key: sessionStorage.getItem(KEY_STORE) || "",
    models: null,
    timers: [],
    cleanups: [],
    page: 0,
    listLimit: 20,
    listStatus: "",
  };

  // ---------------------------------------------------------------- helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "class") el.className = value;
      else if (name === "text") el.textContent = value;
      else if (value === true) el.setAttribute(name, "");
      else el.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }

  function clock(seconds) {
    if (seconds === null || seconds === undefined || isNaN(seconds)) return "–";
    const s = Math.max(0, Math.floor(seconds));
    const hh = Math.floor(s / 3600);
    const mm = Math.floor((s % 3600) / 60);
    const ss = String(s % 60).padStart(2, "0");
    return hh ? `${hh}:${String(mm).padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
  }

  function seconds(ms) {
    if (ms === null || ms === undefined) return "–";
    return ms < 10000 ? `${(ms / 1000).toFixed(2)} s` : `${(ms / 1000).toFixed(1)} s`;
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    const ago = (Date.now() - d.getTime()) / 1000;
    if (ago < 60) return "just now";
    if (ago < 3600) return `${Math.floor(ago / 60)} min ago`;
    if (ago < 86400) return `${Math.floor(ago / 3600)} h ago`;
    return d.toLocaleDateString();
  }

  function processingSeconds(job) {
    if (!job.started_at || !job.completed_at) return null;
    return (new Date(job.completed_at) - new Date(job.started_at)) / 1000;
  }

  /** Real-time factor: processing time over audio time (below 1 is faster than real time). */
  function rtf(job) {
    const took = processingSeconds(job);
    if (took === null || !job.audio_duration_seconds) return "–";
    return (took / job.audio_duration_seconds).toFixed(2);
  }

  /**
   * A poller bound to the page being shown: a request still in flight when the user moves
   * on must not schedule the old page's next poll, so each schedule checks the page.
   */
  function pagePoller() {
    const page = state.page;
    return (fn, ms) => {
      if (page !== state.page) return;
      state.timers.push(setTimeout(() => page === state.page && fn(), ms));
    };
  }

  function toast(message) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.classList.add("shown");
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => el.classList.remove("shown"), 4000);
  }

  function badge(status) {
    return h("span", { class: `badge status-${status}`, text: status });
  }

  function progressBar(value, label) {
    return h(
      "span",
      { class: "progress" },
      h("progress", { max: "100", value: String(value), "aria-label": label }),
      h("span", { class: "pct", text: `${value}%` })
    );
  }

  // ---------------------------------------------------------------- API
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  function authHeaders() {
    return state.key ? { Authorization: `Bearer ${state.key}` } : {};
  }

  async function api(path, { method = "GET", raw = false, accept = [] } = {}) {
    let resp;
    try {
      resp = await fetch(path, { method, headers: authHeaders() });
    } catch (exc) {
      throw new ApiError(0, "unreachable", "the Dalston server cannot be reached");
    }
    if (resp.status === 401) {
      askForKey("The server refused the key; enter it again.");
      throw new ApiError(401, "invalid_api_key", "a valid API key is required");
    }
    if (!resp.ok && !accept.includes(resp.status)) {
      let err = {};
      try {
        err = (await resp.json()).error || {};
      } catch (_) {
        /* not JSON */
      }
      throw new ApiError(resp.status, err.code, err.message || resp.statusText);
    }
    if (raw) return resp;
    return resp.status === 204 ? null : resp.json();
  }

  /** POST a job with XMLHttpRequest, whose upload reports progress (fetch's does not). */
  function submitJob(form, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", API);
      xhr.setRequestHeader("Prefer", "respond-async"); // native job, whatever the model
      for (const [name, value] of Object.entries(authHeaders())) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener("progress", (e) => {
        if (e.lengthComputable) onProgress(Math.round((100 * e.loaded) / e.total));
      });
      xhr.addEventListener("load", () => {
        let body = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch (_) {
          /* not JSON */
        }
        if (xhr.status === 201) resolve(body);
        else {
          if (xhr.status === 401) askForKey("The server refused the key; enter it again.");
          const err = body.error || {};
          reject(new ApiError(xhr.status, err.code, err.message || `HTTP ${xhr.status}`));
        }
      });
      xhr.addEventListener("error", () =>
        reject(new ApiError(0, "unreachable", "the upload failed: the server cannot be reached"))
      );
      xhr.send(form);
    });
  }

  async function download(path, filename) {
    const resp = await api(path, { raw: true });
    const url = URL.createObjectURL(await resp.blob());
    const link = h("a", { href: url, download: filename, class: "sr-only" });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  }

  // ---------------------------------------------------------------- shell
  const main = () => document.getElementById("main");

  function show(title, ...content) {
    const heading = h("h1", { tabindex: "-1", text: title });
    main().replaceChildren(heading, ...content);
    document.title = `${title} · Dalston console`;
    return heading;
  }

  function failure(exc) {
    return h("p", { class: "error", role: "alert", text: exc.message || String(exc) });
  }

  function askForKey(message) {
    stopPage();
    state.key = "";
    sessionStorage.removeItem(KEY_STORE);
    document.getElementById("signout").hidden = true;
    const input = h("input", {
      id: "api-key",
      name: "api-key",
      type: "password",
      autocomplete: "current-password",
      required: true,
    });
    const error = h("p", { class: "error", role: "alert", text: message || "" });
    const form = h(
      "form",
      { class: "card narrow", id: "key-form" },
      h("p", {
        text:
          "This Dalston server wants an API key (DALSTON_API_KEY). " +
          "It is kept in this browser tab only and sent with each request.",
      }),
      h("label", { for: "api-key", text: "API key" }),
      input,
      error,
      h("button", { type: "submit", class: "primary", text: "Continue" })
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      state.key = input.value.trim();
      try {
        const resp = await fetch("/v1/models", { headers: authHeaders() });
        if (resp.status === 401) {
          state.key = "";
          error.textContent = "That key was refused.";
          input.focus();
          return;
        }
        state.models = await resp.json();
      } catch (_) {
        error.textContent = "The Dalston server cannot be reached.";
        return;
      }
      sessionStorage.setItem(KEY_STORE, state.key);
      document.getElementById("signout").hidden = false;
      route();
    });
    show("Sign in", form);
    input.focus();
  }

  function stopPage() {
    state.page += 1;
    state.timers.forEach(clearTimeout);
    state.timers = [];
    state.cleanups.forEach((fn) => fn());
    state.cleanups = [];
  }

  function route() {
    stopPage();
    const hash = location.hash.startsWith("#/") ? location.hash : "#/jobs";
    const [, page, id] = hash.split("/");
    for (const link of document.querySelectorAll("[data-nav]")) {
      if (link.dataset.nav === (page === "jobs" && id ? "" : page))
        link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    let heading;
    if (page === "jobs" && id) heading = jobPage(decodeURIComponent(id));
    else if (page === "new") heading = newJobPage();
    else if (page === "queues") heading = queuesPage();
    else heading = jobsPage();
    // Move focus to the new page's heading, so a screen reader announces the page.
    if (heading) heading.focus({ preventScroll: true });
  }

  async function start() {
    document.getElementById("signout").addEventListener("click", () => askForKey(""));
    document.querySelector("[data-skip]").addEventListener("click", (event) => {
      event.preventDefault();
      main().focus();
    });
    window.addEventListener("hashchange", () => {
      if (location.hash.startsWith("#/") || !location.hash) route();
    });
    try {
      const resp = await fetch("/v1/models", { headers: authHeaders() });
      if (resp.status === 401) return askForKey(state.key ? "The stored key was refused." : "");
      state.models = await resp.json();
    } catch (_) {
      show("Dalston console", failure(new Error("The Dalston server cannot be reached.")));
      return;
    }
    document.getElementById("signout").hidden = !state.key;
    route();
  }

  // ---------------------------------------------------------------- jobs list
  function jobsPage() {
    const later = pagePoller();
    const filter = h(
      "select",
      { id: "status-filter", name: "status" },
      ["", "pending", "running", "completed", "failed", "cancelled"].map((s) =>
        h("option", { value: s, selected: s === state.listStatus, text: s || "any" })
      )
    );
    const tbody = h("tbody");
    const table = h(
      "table",
      { class: "jobs" },
      h("caption", { class: "sr-only", text: "Transcription jobs, newest first" }),
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Job", "Status", "Created", "Audio", "Model", "RTF", "Progress"].map((c) =>
            h("th", { scope: "col", text: c })
          )
        )
      ),
      tbody
    );
    const more = h("button", { type: "button", class: "quiet", hidden: true, text: "Show more" });
    const empty = h("p", { class: "muted", hidden: true }, "No jobs yet. ", h("a", { href: "#/new", text: "Transcribe a file" }), ".");
    const error = h("div");
    const heading = show(
      "Jobs",
      h(
        "div",
        { class: "toolbar" },
        h("label", { for: "status-filter", text: "Status" }),
        filter,
        h("a", { class: "button primary", href: "#/new", text: "New job" })
      ),
      error,
      h("div", { class: "table-wrap" }, table),
      empty,
      more
    );
    filter.addEventListener("change", () => {
      state.listStatus = filter.value;
      refresh();
    });
    more.addEventListener("click", () => {
      state.listLimit = Math.min(100, state.listLimit + 20);
      refresh();
    });

    const rows = new Map();
    let generation = 0;

    async function refresh() {
      const mine = ++generation;
      let page;
      try {
        const query = new URLSearchParams({ limit: String(state.listLimit) });
        if (state.listStatus) query.set("status", state.listStatus);
        page = await api(`${API}?${query}`);
        const active = page.jobs.filter((j) => !TERMINAL.includes(j.status));
        // The list has no progress; the running jobs' own pages do.
        const details = await Promise.all(active.map((j) => api(`${API}/${j.id}`).catch(() => null)));
        for (const d of details) if (d) Object.assign(page.jobs.find((j) => j.id === d.id), { progress: d.progress });
        error.replaceChildren();
      } catch (exc) {
        if (exc.status === 401) return;
        error.replaceChildren(failure(exc));
        later(refresh, 3000);
        return;
      }
      if (mine !== generation) return;
      render(page);
      if (page.jobs.some((j) => !TERMINAL.includes(j.status))) later(refresh, 1000);
      else later(refresh, 5000);
    }

    function render(page) {
      const seen = new Set();
      page.jobs.forEach((job, index) => {
        seen.add(job.id);
        const row = rows.get(job.id) || makeRow(job);
        updateRow(row, job);
        if (tbody.children[index] !== row) tbody.insertBefore(row, tbody.children[index] || null);
      });
      for (const [id, row] of rows) {
        if (!seen.has(id)) {
          row.remove();
          rows.delete(id);
        }
      }
      empty.hidden = page.jobs.length > 0;
      table.hidden = page.jobs.length === 0;
      more.hidden = !page.has_more || state.listLimit >= 100;
    }

    function makeRow(job) {
      const cells = {};
      const cell = (name, label) => (cells[name] = h("td", { "data-label": label }));
      const row = h(
        "tr",
        { "data-job": job.id },
        h("th", { scope: "row", "data-label": "Job" }, h("a", { href: `#/jobs/${job.id}`, class: "mono", text: job.id.slice(0, 12), title: job.id })),
        cell("status", "Status"),
        cell("created", "Created"),
        cell("audio", "Audio"),
        cell("model", "Model"),
        cell("rtf", "RTF"),
        cell("progress", "Progress")
      );
      row.cells_ = cells;
      rows.set(job.id, row);
      return row;
    }

    function updateRow(row, job) {
      const c = row.cells_;
      const progress = job.status === "completed" ? 100 : job.progress ?? 0;
      const key = [job.status, progress, job.audio_duration_seconds, job.completed_at, when(job.created_at)].join("|");
      if (row.dataset.state === key) return;
      row.dataset.state = key;
      c.status.replaceChildren(badge(job.status));
      c.created.replaceChildren(h("time", { datetime: job.created_at, title: new Date(job.created_at).toLocaleString(), text: when(job.created_at) }));
      c.audio.textContent = clock(job.audio_duration_seconds);
      c.model.textContent = job.model || "–";
      c.rtf.textContent = rtf(job);
      c.progress.replaceChildren(
        job.status === "failed" || job.status === "cancelled"
          ? h("span", { class: "muted", text: job.error ? job.error.code || "failed" : job.status })
          : progressBar(progress, `Progress of job ${job.id}`)
      );
    }

    refresh();
    return heading;
  }

  // ---------------------------------------------------------------- new job
  function field(id, label, control, hint) {
    const hintId = hint ? `${id}-hint` : null;
    if (hintId) control.setAttribute("aria-describedby", hintId);
    return h("div", { class: "field" }, h("label", { for: id, text: label }), control, hint ? h("small", { id: hintId, class: "muted", text: hint }) : null);
  }

  function newJobPage() {
    const models = (state.models && state.models.models) || [];
    const defaultModel = state.models ? state.models.default : "";
    const modelSelect = h(
      "select",
      { id: "model", name: "model" },
      models.map((m) =>
        h("option", { value: m.id, selected: m.id === defaultModel, text: `${m.id}${m.ready ? "" : " (not downloaded)"}${m.id === defaultModel ? " — default" : ""}` })
      )
    );
    const fileInput = h("input", { id: "file", name: "file", type: "file", accept: "audio/*,video/*,.flac,.opus,.m4a,.webm,.ogg" });
    const urlInput = h("input", { id: "audio_url", name: "audio_url", type: "url", placeholder: "https://example.com/talk.mp3", inputmode: "url" });
    const fileField = field("file", "Audio or video file", fileInput);
    const urlField = field("audio_url", "Audio URL", urlInput, "Dalston fetches it (http or https).");
    urlField.hidden = true;
    const radio = (value, label, checked) =>
      h("label", { class: "choice" }, h("input", { type: "radio", name: "source", value, checked }), label);
    const speakers = h(
      "select",
      { id: "speaker_detection", name: "speaker_detection" },
      h("option", { value: "none", text: "One voice (no diarization)" }),
      h("option", { value: "diarize", text: "Tell speakers apart (diarize)" }),
      h("option", { value: "per_channel", text: "One speaker per channel" })
    );
    const numSpeakers = h("input", { id: "num_speakers", name: "num_speakers", type: "number", min: "1", max: "32", inputmode: "numeric" });
    const timestamps = h(
      "select",
      { id: "timestamps_granularity", name: "timestamps_granularity" },
      h("option", { value: "word", text: "Words (aligned)" }),
      h("option", { value: "segment", text: "Segments" }),
      h("option", { value: "none", text: "None" })
    );
    const language = h("input", { id: "language", name: "language", type: "text", placeholder: "auto", autocomplete: "off", maxlength: "8" });
    const bar = h("progress", { id: "upload-progress", max: "100", value: "0" });
    const barText = h("span", { class: "pct", text: "0%" });
    const uploading = h("div", { class: "field upload", hidden: true }, h("label", { for: "upload-progress", text: "Upload" }), h("span", { class: "progress" }, bar, barText));
    const error = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "primary", text: "Transcribe" });
    const form = h(
      "form",
      { class: "card", id: "new-job", novalidate: true },
      h(
        "fieldset",
        {},
        h("legend", { text: "Audio" }),
        h("div", { class: "choices" }, radio("file", "Upload a file", true), radio("url", "From a URL", false)),
        fileField,
        urlField
      ),
      h(
        "fieldset",
        {},
        h("legend", { text: "Options" }),
        h(
          "div",
          { class: "grid" },
          field("model", "Model", modelSelect),
          field("language", "Language", language, "ISO 639-1 code such as en; empty to detect."),
          field("speaker_detection", "Speakers", speakers),
          field("num_speakers", "Number of speakers", numSpeakers, "If you know it (diarization)."),
          field("timestamps_granularity", "Timestamps", timestamps)
        )
      ),
      uploading,
      error,
      h("div", { class: "actions" }, submit)
    );
    form.addEventListener("change", (event) => {
      if (event.target.name !== "source") return;
      const byUrl = event.target.value === "url";
      urlField.hidden = !byUrl;
      fileField.hidden = byUrl;
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      error.textContent = "";
      const byUrl = form.querySelector("input[name=source]:checked").value === "url";
      const data = new FormData();
      if (byUrl) {
        if (!urlInput.value.trim()) return fail("Enter the URL of the audio.", urlInput);
        data.set("audio_url", urlInput.value.trim());
      } else {
        if (!fileInput.files.length) return fail("Choose a file to transcribe.", fileInput);
        data.set("file", fileInput.files[0]);
      }
      data.set("model", modelSelect.value);
      if (language.value.trim()) data.set("language", language.value.trim());
      data.set("speaker_detection", speakers.value);
      if (numSpeakers.value) data.set("num_speakers", numSpeakers.value);
      data.set("timestamps_granularity", timestamps.value);
      submit.disabled = true;
      uploading.hidden = byUrl;
      try {
        const job = await submitJob(data, (pct) => {
          bar.value = pct;
          barText.textContent = `${pct}%`;
        });
        toast(`Job ${job.id} submitted`);
        location.hash = `#/jobs/${job.id}`;
      } catch (exc) {
        submit.disabled = false;
        uploading.hidden = true;
        fail(exc.message);
      }
    });
    function fail(message, focus) {
      error.textContent = message;
      if (focus) focus.focus();
    }
    return show("New job", form);
  }

  // ---------------------------------------------------------------- one job
  function speakerIndex(job) {
    const index = new Map();
    for (const s of job.speakers || []) if (s && s.id !== undefined) index.set(String(s.id), index.size);
    for (const seg of job.segments || []) if (seg.speaker && !index.has(seg.speaker)) index.set(seg.speaker, index.size);
    return index;
  }

  function jobPage(id) {
    const later = pagePoller();
    const status = h("span");
    const actions = h("div", { class: "actions" });
    const meta = h("dl", { class: "meta" });
    const errorBox = h("div");
    const stages = h("div", { class: "gantt", role: "list", "aria-label": "Stage timeline" });
    const exportsCard = h("section", { class: "card", "aria-labelledby": "exports-h", hidden: true });
    const transcriptCard = h("section", { class: "card", "aria-labelledby": "transcript-h", hidden: true });
    const heading = show(
      `Job ${id.slice(0, 12)}`,
      h("p", { class: "crumbs" }, h("a", { href: "#/jobs", text: "← Jobs" }), " ", h("code", { class: "mono", text: id })),
      h("div", { class: "jobhead" }, status, actions),
      errorBox,
      h("section", { class: "card", "aria-label": "Job details" }, meta),
      transcriptCard,
      exportsCard,
      h("section", { class: "card", "aria-labelledby": "stages-h" }, h("h2", { id: "stages-h", text: "Stages" }), stages)
    );
    let loadedTranscript = false;
    let lastStatus = null;

    async function refresh() {
      let job;
      try {
        job = await api(`${API}/${encodeURIComponent(id)}`);
        errorBox.replaceChildren();
      } catch (exc) {
        if (exc.status === 401) return;
        errorBox.replaceChildren(failure(exc));
        if (exc.status !== 404) later(refresh, 3000);
        return;
      }
      render(job);
      if (!TERMINAL.includes(job.status)) later(refresh, 700);
    }

    function render(job) {
      status.replaceChildren(badge(job.status));
      status.setAttribute("aria-label", `Status: ${job.status}`);
      status.id = "job-status";
      meta.replaceChildren(
        ...[
          ["Progress", job.status === "failed" || job.status === "cancelled" ? job.status : progressBar(job.progress, "Job progress")],
          ["Model", job.model],
          ["Language", job.language_code || (job.options && job.options.language) || "auto"],
          ["Audio", clock(job.audio_duration_seconds)],
          ["Created", new Date(job.created_at).toLocaleString()],
          ["Processing", processingSeconds(job) === null ? "–" : `${processingSeconds(job).toFixed(1)} s`],
          ["Real-time factor", rtf(job)],
          ["Speakers", (job.options && job.options.speaker_detection) || "none"],
        ].map(([k, v]) => h("div", {}, h("dt", { text: k }), h("dd", {}, v)))
      );
      if (job.error) errorBox.replaceChildren(h("p", { class: "error", role: "alert" }, h("strong", { text: job.error.code || "error" }), `: ${job.error.message}`));
      renderActions(job);
      renderStages(job);
      if (job.status === "completed" && !loadedTranscript) {
        loadedTranscript = true;
        renderTranscript(job);
        renderExports(job);
      }
      if (lastStatus && lastStatus !== job.status) toast(`Job ${job.status}`);
      lastStatus = job.status;
    }

    function renderActions(job) {
      const buttons = [];
      if (!TERMINAL.includes(job.status)) {
        buttons.push(
          h("button", {
            type: "button",
            id: "cancel-job",
            text: "Cancel job",
            onclick: async (e) => {
              e.target.disabled = true;
              try {
                await api(`${API}/${id}/cancel`, { method: "POST" });
                toast("Job cancelled");
                state.timers.forEach(clearTimeout); // this page's next poll: now instead
                state.timers = [];
                refresh();
              } catch (exc) {
                e.target.disabled = false;
                toast(exc.message);
              }
            },
          })
        );
      } else {
        buttons.push(
          h("button", {
            type: "button",
            id: "delete-job",
            class: "danger",
            text: "Delete job",
            onclick: async () => {
              if (!window.confirm("Delete this job, its transcript and its audio?")) return;
              try {
                await api(`${API}/${id}`, { method: "DELETE" });
                toast("Job deleted");
                location.hash = "#/jobs";
              } catch (exc) {
                toast(exc.message);
              }
            },
          })
        );
      }
      const signature = buttons.map((b) => b.id).join();
      if (actions.dataset.sig !== signature) {
        actions.dataset.sig = signature;
        actions.replaceChildren(...buttons);
      }
    }

    function renderStages(job) {
      const runs = job.stages || [];
      if (!runs.length) {
        stages.replaceChildren(h("p", { class: "muted", text: "Waiting for a worker…" }));
        return;
      }
      const now = Date.now();
      const starts = runs.filter((r) => r.started_at).map((r) => new Date(r.started_at).getTime());
      const origin = Math.min(new Date(job.created_at).getTime(), ...starts);
      const ends = runs.map((r) => (r.completed_at ? new Date(r.completed_at).getTime() : r.started_at ? now : origin));
      const end = Math.max(origin + 1, ...ends, job.completed_at ? new Date(job.completed_at).getTime() : 0);
      const span = end - origin;
      const rows = runs.map((run) => {
        const s = run.started_at ? new Date(run.started_at).getTime() : null;
        const e = run.completed_at ? new Date(run.completed_at).getTime() : s !== null ? now : null;
        const name = run.stage === "transcribe" || run.stage === "align" ? `${run.stage} · chunk ${run.part}` : run.stage;
        const took = s !== null ? seconds((e || now) - s) : "not started";
        const detail = [run.status, took, run.worker ? `on ${run.worker}` : null, run.attempts > 1 ? `${run.attempts} attempts` : run.attempts === 1 ? "1 attempt" : null]
          .filter(Boolean)
          .join(" · ");
        const bar = h("span", { class: `bar status-${run.status}` });
        if (s !== null) {
          bar.style.left = `${(100 * (s - origin)) / span}%`;
          bar.style.width = `${Math.max(0.6, (100 * ((e || now) - s)) / span)}%`;
        } else bar.hidden = true;
        return h(
          "div",
          { class: "gantt-row", role: "listitem", "aria-label": `${name}: ${detail}`, "data-stage": run.stage },
          h("span", { class: "gantt-label", text: name }),
          h("span", { class: "gantt-track" }, bar),
          h("span", { class: "gantt-detail", text: detail + (run.error ? ` · ${run.error}` : "") })
        );
      });
      const axis = h("div", { class: "gantt-axis", "aria-hidden": "true" }, h("span", { text: "0 s" }), h("span", { text: seconds(span) }));
      stages.replaceChildren(...rows, axis);
    }

    function renderExports(job) {
      const buttons = ["txt", "json", "srt", "vtt"].map((fmt) =>
        h("button", {
          type: "button",
          "data-export": fmt,
          text: `Download ${fmt.toUpperCase()}`,
          onclick: () => download(`${API}/${id}/export/${fmt}`, `${id}.${fmt}`).catch((exc) => toast(exc.message)),
        })
      );
      exportsCard.replaceChildren(h("h2", { id: "exports-h", text: "Exports" }), h("div", { class: "actions" }, buttons));
      exportsCard.hidden = false;
    }

    function renderTranscript(job) {
      const audio = h("audio", { id: "player", controls: true, preload: "auto" });
      const speakers = speakerIndex(job);
      const duration = job.audio_duration_seconds || 0;
      const colour = (speaker) => (speaker && speakers.has(speaker) ? `spk-${speakers.get(speaker) % SPEAKER_COLOURS}` : "spk-none");
      const words = [];
      const body = h("div", { class: "transcript", id: "transcript" });
      for (const seg of job.segments || []) {
        const para = h("p", { class: `seg ${colour(seg.speaker)}` });
        para.append(
          h("button", {
            type: "button",
            class: "ts",
            "aria-label": `Play from ${clock(seg.start)}${seg.speaker ? `, ${seg.speaker}` : ""}`,
            text: clock(seg.start),
            onclick: () => seek(seg.start, true),
          })
        );
        if (seg.speaker) para.append(h("span", { class: "spk-name", text: seg.speaker }));
        const segWords = (seg.words || []).filter((w) => w.type !== "spacing");
        if (segWords.length) {
          for (const w of segWords) {
            const span = h("span", {
              class: w.type === "audio_event" ? "word event" : "word",
              "data-i": String(words.length),
              "data-start": String(w.start),
              "data-end": String(w.end),
              text: w.text.trim(),
            });
            words.push({ start: w.start, end: w.end, el: span });
            para.append(span, " ");
          }
        } else para.append(h("span", { class: "seg-text", text: seg.text }));
        body.append(para);
      }
      if (!(job.segments || []).length) body.append(h("p", { text: job.text || "(no speech found)" }));
      body.addEventListener("click", (event) => {
        const span = event.target.closest(".word");
        if (span) seek(words[Number(span.dataset.i)].start, true);
      });

      // Speaker timeline: one band per segment, coloured by speaker; click to seek.
      const track = h("div", { class: "speaker-track", id: "speaker-timeline", title: "Click to play from there" });
      const playhead = h("span", { class: "playhead" });
      if (duration) {
        for (const seg of job.segments || []) {
          const band = h("span", { class: `band ${colour(seg.speaker)}`, title: `${seg.speaker || "speech"} ${clock(seg.start)}–${clock(seg.end)}` });
          band.style.left = `${(100 * seg.start) / duration}%`;
          band.style.width = `${Math.max(0.3, (100 * (seg.end - seg.start)) / duration)}%`;
          track.append(band);
        }
      }
      track.append(playhead);
      track.addEventListener("click", (event) => {
        const box = track.getBoundingClientRect();
        seek(((event.clientX - box.left) / box.width) * duration, true);
      });
      const legend = h(
        "ul",
        { class: "legend", "aria-label": "Speakers" },
        [...speakers.keys()].map((s) => h("li", { class: colour(s) }, h("span", { class: "swatch", "aria-hidden": "true" }), s))
      );

      let active = -1;
      function wordAt(t) {
        // The last word that has started (binary search; words are in time order).
        let lo = 0;
        let hi = words.length - 1;
        let found = -1;
        while (lo <= hi) {
          const mid = (lo + hi) >> 1;
          if (words[mid].start <= t + 0.01) {
            found = mid;
            lo = mid + 1;
          } else hi = mid - 1;
        }
        return found;
      }
      function sync() {
        const t = audio.currentTime;
        if (duration) playhead.style.left = `${Math.min(100, (100 * t) / duration)}%`;
        const i = wordAt(t);
        if (i === active) return;
        if (active >= 0) {
          words[active].el.classList.remove("active");
          words[active].el.removeAttribute("aria-current");
        }
        active = i;
        if (i >= 0) {
          const el = words[i].el;
          el.classList.add("active");
          el.setAttribute("aria-current", "true");
          const box = el.getBoundingClientRect();
          const view = body.getBoundingClientRect();
          if (!audio.paused && (box.top < view.top || box.bottom > view.bottom)) el.scrollIntoView({ block: "nearest" });
        }
      }
      function seek(t, play) {
        audio.currentTime = Math.max(0, t);
        sync();
        if (play) audio.play().catch(() => {});
      }
      let frame = 0;
      function loop() {
        sync();
        if (!audio.paused) frame = requestAnimationFrame(loop);
      }
      audio.addEventListener("play", () => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(loop);
      });
      audio.addEventListener("timeupdate", sync);
      audio.addEventListener("seeked", sync);

      const audioPath = `${API}/${encodeURIComponent(id)}/audio`;
      if (state.key) {
        // An <audio> element cannot send the Authorization header: fetch the audio with it.
        api(audioPath, { raw: true })
          .then((resp) => resp.blob())
          .then((blob) => {
            const url = URL.createObjectURL(blob);
            state.cleanups.push(() => URL.revokeObjectURL(url));
            audio.src = url;
          })
          .catch((exc) => toast(`The audio could not be loaded: ${exc.message}`));
      } else audio.src = audioPath;
      state.cleanups.push(() => {
        cancelAnimationFrame(frame);
        audio.pause();
      });

      transcriptCard.replaceChildren(
        h("h2", { id: "transcript-h", text: "Transcript" }),
        h("div", { class: "player" }, audio),
        speakers.size ? h("div", { class: "speakers" }, h("h3", { class: "sr-only", text: "Speaker timeline" }), track, legend) : h("div", { class: "speakers" }, track),
        h("p", { class: "muted hint", text: "Click a word to play from it; the word being spoken is highlighted." }),
        body
      );
      transcriptCard.hidden = false;
    }

    refresh();
    return heading;
  }

  // ---------------------------------------------------------------- queues
  function queuesPage() {
    const later = pagePoller();
    const body = h("div");
    const flower = document.body.dataset.flowerUrl || `${location.protocol}//${location.hostname}:5555/`;
    const heading = show(
      "Queues",
      body,
      h("p", {}, h("a", { href: flower, target: "_blank", rel: "noopener", id: "flower-link", text: "Open Flower, the Celery dashboard" }), h("span", { class: "muted", text: ` (${flower}; started by make flower)` }))
    );
    async function refresh() {
      let st;
      try {
        st = await api("/v1/system/status", { accept: [503] });
      } catch (exc) {
        if (exc.status === 401) return;
        body.replaceChildren(failure(exc));
        later(refresh, 3000);
        return;
      }
      const check = (name, c, extra) =>
        h("li", { class: c.ok ? "ok" : "bad" }, h("strong", { text: name }), ` ${c.ok ? "ok" : "unreachable"}${extra ? ` (${extra})` : ""}`, c.error ? h("span", { class: "muted", text: ` — ${c.error}` }) : null);
      body.replaceChildren(
        h("p", {}, "Overall: ", h("span", { id: "system-status", class: `badge status-${st.status === "ok" ? "completed" : "failed"}`, text: st.status })),
        h("ul", { class: "checks", "aria-label": "Services" }, check("Database", st.database), check("Broker", st.broker), check("Storage", st.storage, st.storage.kind)),
        h(
          "div",
          { class: "table-wrap" },
          h(
            "table",
            { class: "queues" },
            h("caption", { class: "sr-only", text: "Stage queues: messages waiting and live workers" }),
            h("thead", {}, h("tr", {}, ["Queue", "Waiting", "Workers"].map((c) => h("th", { scope: "col", text: c })))),
            h(
              "tbody",
              {},
              st.queues.map((q) =>
                h(
                  "tr",
                  { "data-queue": q.name },
                  h("th", { scope: "row", "data-label": "Queue", text: q.name }),
                  h("td", { "data-label": "Waiting", text: q.depth === null ? "?" : String(q.depth) }),
                  h("td", { "data-label": "Workers" }, q.workers.length ? h("ul", { class: "workers" }, q.workers.map((w) => h("li", { class: "mono", text: w }))) : h("span", { class: "warn", text: "none" }))
                )
              )
            )
          )
        )
      );
      later(refresh, 3000);
    }
    refresh();
    return heading;
  }

  document.addEventListener("DOMContentLoaded", start);
})();
