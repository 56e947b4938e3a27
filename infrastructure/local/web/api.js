// Talking to the API: who the page is (an API key or a signed-in user's token), JSON calls, error text, files.

export const $ = (id) => document.getElementById(id);

let idToken = null;  // a signed-in user's JWT; without one, the API key

/** The page's credentials: a signed-in user's bearer token, else the API key typed in the form. */
export const credentials = () => idToken ? {"Authorization": `Bearer ${idToken}`} : {"X-API-Key": $("key").value};

export function setToken(token) { idToken = token; }

/** fetch() with the page's credentials. */
export const api = (path, options = {}) =>
  fetch(path, {...options, headers: {...credentials(), ...(options.headers || {})}});

/** POST a JSON body; returns {ok, status, body} (body parsed, or {detail} when the answer is not JSON). */
export async function postJson(path, body) {
  const response = await api(path, {method: "POST", body: JSON.stringify(body),
                                    headers: {"Content-Type": "application/json"}});
  return {ok: response.ok, status: response.status, body: await readJson(response)};
}

export async function readJson(response) {
  const text = await response.text();
  try { return JSON.parse(text); } catch { return {detail: text || `HTTP ${response.status}`}; }
}

/** An API error body as lines for people: FastAPI's 422 list as "field: message", else its detail. */
export function explain(body) {
  if (Array.isArray(body.detail)) {
    return body.detail.map((e) => {
      const where = (e.loc || []).filter((part) => part !== "body").join(".");
      return where ? `${where}: ${e.msg}` : e.msg;
    }).join("\n");
  }
  return typeof body.detail === "string" ? body.detail : JSON.stringify(body);
}

/** A job's file as a Blob: the API answers 302 to a short-lived S3 URL, which fetch follows (as the frontend does). */
export async function fetchFile(path) {
  const response = await api(path);
  if (!response.ok) throw new Error(explain(await readJson(response)));
  return response.blob();
}

/** Save a job's file under ``name`` (the download route needs the page's credentials, so a plain link cannot). */
export async function saveFile(path, name) {
  const url = URL.createObjectURL(await fetchFile(path));
  const link = Object.assign(document.createElement("a"), {href: url, download: name});
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
