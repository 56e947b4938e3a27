// A completed job on the page: its variations side by side (ranked as the API lists them, each with its score,
// provenance badge, player, waveform, lyric lines, lyric check, region buttons and remix control) and a download link
// for every file it has.

import {$, fetchFile, saveFile} from "./api.js";
import {checkOf, provenanceBadge, showCheck} from "./check.js";
import {clock, showLyrics} from "./lyrics.js";
import {peaksOfAudio, Waveform} from "./waveform.js";

const kindOf = (output) => output.kind || "song";  // outputs listed before kinds existed are songs
const LABELS = {vocals: "Vocals", accompaniment: "Accompaniment", lyrics: "Lyrics"};
const FILES = new Set(["song", "vocals", "accompaniment"]);  // a variation's files people download (not its peaks)
let audioUrls = [];  // the object URLs of the songs shown, released when others replace them

/**
 * Shows ``job`` (a completed status response). ``actions.repaint(job, index, start, end)`` and
 * ``actions.extend(job, index, fromSeconds | null)`` are what the region buttons call,
 * ``actions.remix(job, index, strength)`` what the remix button calls.
 */
export async function showResult(job, actions) {
  const outputs = job.outputs || [];
  const songs = outputs.filter((o) => kindOf(o) === "song" && o.format === "wav");
  const ranked = songs.some((o) => typeof o.score === "number");
  const checked = songs.some((o) => typeof o.lyrics_accuracy === "number");
  const {lines, checks} = await lyricsOf(outputs);
  audioUrls.forEach((url) => URL.revokeObjectURL(url));
  audioUrls = [];
  $("result-title").textContent = songs.length > 1 ? `${songs.length} variations` : "Your song";
  $("result-meta").textContent = `Job ${job.job_id}, seed ${job.seed}` +
    (ranked ? `; ranked by score (how well each matches the style)${checked ? " and lyrics sung" : ""}, best first`
      : "");
  $("songs").replaceChildren(...songs.map((song, position) =>
    songCard(job, song, outputs, {rank: ranked ? position + 1 : null, lines, check: checkOf(checks, song.index),
                                   actions})));
  const lyrics = outputs.filter((o) => kindOf(o) === "lyrics");
  $("job-files").replaceChildren(...(lyrics.length ? [element("li", {textContent: "Lyrics as sung:"})] : []),
    ...lyrics.map((o) => fileItem(o, o.format.toUpperCase(), `${job.job_id}.lyrics.${o.format}`)));
  $("result").hidden = false;
}

/**
 * The job's lyrics.json: its lines and its lyric checks (each [] when it has none: an instrumental, a job from before
 * lyric timings or checks).
 */
async function lyricsOf(outputs) {
  const file = outputs.find((o) => kindOf(o) === "lyrics" && o.format === "json");
  if (!file) return {lines: [], checks: []};
  try {
    const {lines, checks} = JSON.parse(await (await fetchFile(file.download_url)).text());
    return {lines: lines || [], checks: checks || []};
  } catch (error) {
    console.warn("lyrics.json unreadable", error);
    return {lines: [], checks: []};
  }
}

function element(tag, properties = {}, children = []) {
  const node = Object.assign(document.createElement(tag), properties);
  node.append(...children);
  return node;
}

function fileItem(output, label, name) {
  const link = element("a", {href: output.download_url, textContent: label, className: "download"});
  Object.assign(link.dataset, {kind: kindOf(output), format: output.format, index: output.index});
  link.addEventListener("click", (event) => {
    event.preventDefault();
    saveFile(output.download_url, name).catch((error) => { $("error").textContent = `download failed: ${error}`; });
  });
  return element("li", {}, [link]);
}

function songCard(job, song, outputs, {rank, lines, check, actions}) {
  const i = song.index;
  const player = element("audio", {id: `player-${i}`, controls: true, preload: "auto"});
  const canvas = element("canvas", {id: `wave-${i}`, className: "wave"});
  const strip = element("div", {id: `lyrics-${i}`, className: "lyric-strip"});
  const now = element("p", {id: `now-${i}`, className: "now"});
  const where = element("span", {id: `region-${i}`, className: "where",
                                  textContent: "Loading the song..."});
  const repaint = element("button", {id: `repaint-${i}`, type: "button", textContent: "Repaint region",
                                     disabled: true});
  const extend = element("button", {id: `extend-${i}`, type: "button", textContent: "Extend from the end",
                                    disabled: true});
  const strength = element("input", {id: `remix-strength-${i}`, type: "number", min: "0.05", max: "1", step: "0.05",
                                     value: "0.5", title: "how much changes: 1 a new song, near 0 the song as it is"});
  const remix = element("button", {id: `remix-${i}`, type: "button", textContent: "Remix", disabled: true,
                                   title: "this song remade with the form's style and lyrics"});
  let selection = null;
  const select = (region) => {
    selection = region;
    repaint.disabled = !region;
    where.textContent = region ? `Region ${clock(region.start)} to ${clock(region.end)}`
      : "Drag across the waveform to select a region";
    extend.textContent = region ? `Extend from ${clock(region.start)}` : "Extend from the end";
  };
  repaint.addEventListener("click", () => selection && actions.repaint(job, i, selection.start, selection.end));
  extend.addEventListener("click", () => actions.extend(job, i, selection ? selection.start : null));
  remix.addEventListener("click", () => actions.remix(job, i, Number(strength.value)));

  const header = element("header", {}, [element("h3", {textContent: `Variation ${i + 1}`})]);
  if (rank !== null) header.append(element("span", {className: "rank", textContent: `#${rank}`}));
  header.append(element("span", {id: `score-${i}`, className: "score", title: "similarity to the style (-1..1)",
                                 textContent: typeof song.score === "number" ? `score ${song.score.toFixed(3)}` : ""}));
  const badge = provenanceBadge(song);
  if (badge) header.append(badge);
  const base = `${job.job_id}_${i}`;
  const files = outputs.filter((o) => o.index === i && FILES.has(kindOf(o))).map((o) => kindOf(o) === "song"
    ? fileItem(o, o.format.toUpperCase(), `${base}.${o.format}`)
    : fileItem(o, `${LABELS[kindOf(o)] || kindOf(o)} (${o.format.toUpperCase()})`, `${base}.${kindOf(o)}.${o.format}`));
  const card = element("article", {id: `song-${i}`, className: "song"}, [
    header, canvas, strip, now, showCheck(song, check, player), player,
    element("div", {className: "region"}, [where, repaint, extend,
      element("label", {className: "remix"}, ["strength ", strength]), remix]),
    element("ul", {className: "files"}, [element("li", {textContent: "Download:"}), ...files]),
  ]);
  load(song, outputs, {player, canvas, strip, now, lines, where, extend, remix, select});
  return card;
}

/** Fetch the song (the 302 to S3, followed), play it, draw its waveform and place the lyric lines. */
async function load(song, outputs, view) {
  try {
    const audio = await fetchFile(song.download_url);
    view.player.src = URL.createObjectURL(audio);
    audioUrls.push(view.player.src);
    const peaks = await peaksOf(song, outputs, audio);
    new Waveform(view.canvas, peaks, view.player, view.select);
    showLyrics(view.strip, view.now, view.lines, peaks.duration_s, view.player);
    view.select(null);
    view.extend.disabled = false;
    view.remix.disabled = false;
    view.canvas.dataset.drawn = "true";
  } catch (error) {
    view.where.textContent = `could not load this song: ${error.message || error}`;
  }
}

/** The worker's peaks when the API lists them (an output of kind "peaks"), else computed from the audio. */
async function peaksOf(song, outputs, audio) {
  const listed = outputs.find((o) => kindOf(o) === "peaks" && o.index === song.index);
  if (listed) {
    try {
      return JSON.parse(await (await fetchFile(listed.download_url)).text());
    } catch (error) {
      console.warn("peaks unreadable, decoding the audio instead", error);
    }
  }
  return peaksOfAudio(audio);
}
