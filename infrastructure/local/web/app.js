// The demo page: the form -> POST /api/v1/generate, the followed job's progress, its songs when completed, and new jobs
// from a song's selected region (repaint, extend) or from a whole song (remix). Errors from the API are shown next
// to the form.

import {$, api, credentials, explain, postJson, readJson, setToken} from "./api.js";
import {showResult} from "./results.js";

const FIELDS = {  // request field -> the form's input, to mark the fields a 422 names
  lyrics: "lyrics", instrumental: "instrumental", style_prompt: "style", reference_audio_key: "reference",
  style_weight: "style-weight", audio_length: "length", preset: "preset", batch_size: "variations",
  best_of: "variations", title: "title", bpm: "bpm", negative_style_prompt: "negative-style", seed: "seed",
  output_format: "format", stems: "stems",
};
const UPLOAD_TYPES = {wav: "audio/wav", mp3: "audio/mpeg", flac: "audio/flac"};
let referenceKey = null;  // the uploaded reference clip's key
let followed = null;  // the job whose progress the page shows

// ---- identity ----
function showIdentity(username) {
  $("signed-in").textContent = username ? `Signed in as ${username}: jobs are yours alone.` : "";
  $("sign-out").hidden = !username;
  $("key").disabled = Boolean(username);
  listJobs();
}

$("sign-in").addEventListener("click", async () => {
  showError("");
  const response = await fetch("sign-in", {method: "POST", headers: {"Content-Type": "application/json"},
    body: JSON.stringify({username: $("username").value, password: $("password").value})});
  const body = await readJson(response);
  if (!response.ok) { showError(explain(body)); return; }
  setToken(body.id_token);
  showIdentity($("username").value);
});
$("sign-out").addEventListener("click", () => { setToken(null); showIdentity(null); });
$("key").addEventListener("change", () => listJobs());

// ---- the form ----
// the song length's limits and default come from the API's own schema (shared/timeline.py decides them)
fetch("../openapi.json").then((r) => r.json()).then((spec) => {
  const length = spec.components.schemas.GenerateRequest.properties.audio_length;
  Object.assign($("length"), {min: length.minimum, max: length.maximum, value: length.default});
}).catch((error) => {
  showError(`could not read the API's schema (${error}); type the length in seconds`);
}).finally(() => { $("submit").disabled = false; });

function showError(text, body = null) {
  $("error").textContent = text;
  for (const input of document.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const error of Array.isArray(body?.detail) ? body.detail : []) {
    const field = FIELDS[(error.loc || [])[1]];
    if (field) $(field).setAttribute("aria-invalid", "true");
  }
}

$("instrumental").addEventListener("change", () => { $("lyrics").disabled = $("instrumental").checked; });
$("style").addEventListener("input", showStyleMix);
$("style-weight").addEventListener("input", showStyleMix);

function showStyleMix() {
  const both = Boolean(referenceKey && $("style").value.trim());
  $("style-mix").hidden = !both;
  const text = Math.round(Number($("style-weight").value) * 100);
  $("style-weight-text").textContent = `${text}% text, ${100 - text}% clip`;
}

$("reference").addEventListener("change", async () => {
  const file = $("reference").files[0];
  referenceKey = null;
  showStyleMix();
  if (!file) { $("reference-status").textContent = ""; return; }
  const type = UPLOAD_TYPES[file.name.split(".").pop().toLowerCase()] || file.type;
  $("reference-status").textContent = `uploading ${file.name}...`;
  const grant = await postJson("/api/v1/uploads", {content_type: type, size_bytes: file.size});
  if (!grant.ok) {
    $("reference-status").textContent = "";
    showError(explain(grant.body));
    return;
  }
  const put = await fetch(grant.body.upload_url, {method: "PUT", body: file, headers: grant.body.headers});
  if (!put.ok) {
    $("reference-status").textContent = `the upload of ${file.name} failed (HTTP ${put.status}); choose it again`;
    return;
  }
  referenceKey = grant.body.key;
  $("reference-status").textContent = `${file.name} uploaded: its style is followed.`;
  $("reference-clear").hidden = false;
  showStyleMix();
});
$("reference-clear").addEventListener("click", () => {
  referenceKey = null;
  $("reference").value = "";
  $("reference-status").textContent = "";
  $("reference-clear").hidden = true;
  showStyleMix();
});

/** The request the form describes: only the fields set, so a plain form sends the existing frontend's request. */
function formRequest() {
  const body = {audio_length: Number($("length").value), preset: $("preset").value};
  if ($("instrumental").checked) body.instrumental = true;
  else body.lyrics = $("lyrics").value;
  const style = $("style").value.trim();
  if (style) body.style_prompt = style;
  if (referenceKey) body.reference_audio_key = referenceKey;
  if (style && referenceKey) body.style_weight = Number($("style-weight").value);
  const variations = Number($("variations").value || 1);
  if ($("best-of").checked) body.best_of = variations;
  else if (variations !== 1) body.batch_size = variations;
  if ($("stems").checked) body.stems = true;
  const optional = {title: $("title").value.trim(), negative_style_prompt: $("negative-style").value.trim()};
  for (const [name, value] of Object.entries(optional)) if (value) body[name] = value;
  for (const [name, id] of [["bpm", "bpm"], ["seed", "seed"]]) if ($(id).value !== "") body[name] = Number($(id).value);
  if ($("format").value !== "wav") body.output_format = $("format").value;
  return body;
}

/** Submit ``body``; on 202 follow the new job (``label`` says what it is), else show the API's errors. */
async function submit(body, label) {
  showError("");
  $("warnings").textContent = "";
  $("submit").disabled = true;
  try {
    const answer = await postJson("/api/v1/generate", body);
    if (!answer.ok) { showError(explain(answer.body), answer.body); return; }
    $("warnings").textContent = (answer.body.warnings || []).join("\n");
    follow(answer.body.job_id, label);
    listJobs();
  } catch (error) {
    showError(`the API did not answer (${error})`);
  } finally {
    $("submit").disabled = false;
  }
}

$("song").addEventListener("submit", (event) => {
  event.preventDefault();
  submit(formRequest(), "New song");
});

// ---- new jobs from a finished song ----
const actions = {
  /** Regenerate [start, end] of variation ``index`` of ``job``, with the form's lyrics and style. */
  repaint(job, index, start, end) {
    const at = (t) => Math.round(t * 100) / 100;
    const segment = [at(start), end >= job.audio_length - 0.05 ? -1 : at(end)];  // -1: to the song's end
    const body = {...formRequest(), audio_length: job.audio_length,
                  edit: {job_id: job.job_id, index, segments: [segment]}};
    const to = segment[1] === -1 ? "the end" : `${segment[1]} s`;
    return submit(body, `Repaint of ${short(job.job_id)} #${index + 1}, ${segment[0]} s to ${to}:`);
  },
  /** Continue variation ``index`` of ``job`` from ``from`` seconds (null: its end), with the form's lyrics as the
   * new part's and its length as the extended song's. */
  extend(job, index, from) {
    const extend = {job_id: job.job_id, index};
    if (from !== null) extend.from_s = Math.max(0.01, Math.round(from * 100) / 100);
    const where = from === null ? "its end" : `${extend.from_s} s`;
    return submit({...formRequest(), extend}, `Extension of ${short(job.job_id)} #${index + 1} from ${where}:`);
  },
  /** Remake variation ``index`` of ``job`` with the form's style and lyrics, changing it by ``strength`` (0..1]. */
  remix(job, index, strength) {
    const remix = {job_id: job.job_id, index, strength};
    return submit({...formRequest(), remix}, `Remix of ${short(job.job_id)} #${index + 1} at strength ${strength}:`);
  },
};

const short = (jobId) => jobId.slice(0, 8);

// ---- following a job ----
function follow(jobId, label = "Job") {
  followed = jobId;
  $("job-label").textContent = label;
  $("job-id").textContent = jobId;
  $("status").textContent = "queued";
  $("stage").textContent = "";
  $("queue").textContent = "";
  $("cancel").hidden = false;
  setProgress(0);
  $("job").hidden = false;
  poll(jobId);
}

function setProgress(percent) {
  const value = Math.max(0, Math.min(100, Math.round(percent)));
  const bar = $("progress");
  bar.setAttribute("aria-valuenow", value);
  bar.firstElementChild.style.width = `${value}%`;
  bar.lastElementChild.textContent = `${value}%`;
}

async function poll(jobId) {
  if (jobId !== followed) return;  // another job is followed now
  let job;
  try {
    const response = await api(`/api/v1/status/${jobId}`);
    job = await readJson(response);
    if (!response.ok) { showError(explain(job)); return; }
  } catch (error) {  // the API restarting: try again
    setTimeout(() => poll(jobId), 2000);
    return;
  }
  if (jobId !== followed) return;
  $("status").textContent = job.status;
  $("stage").textContent = job.progress ? `(${job.progress.stage})` : "";
  setProgress(job.progress ? job.progress.percent : (job.status === "completed" ? 100 : 0));
  $("queue").textContent = job.status === "queued" && job.queue_position !== null
    ? `${job.queue_position} job(s) ahead, about ${job.estimated_wait_minutes} min` : "";
  if (["completed", "failed", "cancelled"].includes(job.status)) {
    $("cancel").hidden = true;
    listJobs();
  }
  if (job.status === "completed") return showResult(job, actions);
  if (job.status === "failed" || job.status === "cancelled") {
    showError(job.error ? `${job.error}${job.error_code ? ` (${job.error_code})` : ""}` : job.status);
    return;
  }
  setTimeout(() => poll(jobId), 1000);
}

$("cancel").addEventListener("click", async () => {
  if (!followed) return;
  const response = await api(`/api/v1/jobs/${followed}`, {method: "DELETE"});
  if (!response.ok) showError(explain(await readJson(response)));
});

// ---- the caller's jobs ----
async function listJobs() {
  const rows = $("jobs-list");
  try {
    const response = await api("/api/v1/jobs?limit=10");
    const body = await readJson(response);
    if (!response.ok) {
      rows.replaceChildren(row([explain(body)]));
      return;
    }
    rows.replaceChildren(...body.jobs.map((job) => {
      const open = Object.assign(document.createElement("button"), {type: "button", textContent: "Open"});
      open.addEventListener("click", () => follow(job.job_id, "Job"));
      const id = Object.assign(document.createElement("code"), {textContent: short(job.job_id)});
      return row([id, job.status, `${job.audio_length} s`, new Date(job.created_at).toLocaleString(), open]);
    }));
    if (!body.jobs.length) rows.replaceChildren(row(["none yet"]));
  } catch (error) {
    rows.replaceChildren(row([`could not list your jobs (${error})`]));
  }
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const cell of cells) {
    const td = document.createElement("td");
    td.append(cell);
    tr.append(td);
  }
  return tr;
}

$("jobs-refresh").addEventListener("click", listJobs);
listJobs();

// for people at the console and for the browser tests
window.demo = {credentials, api, follow, formRequest};
