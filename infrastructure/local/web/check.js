// A song's lyric check (did it sing the lyrics: its vocals transcribed and scored line by line, lyrics.json's
// "checks") and its provenance badge (the status output's content_credentials). Both show nothing when the job has
// neither (an instrumental, no check run, a job from before the check, an unsigned file).

const VERIFY = "diffrhythm verify-provenance FILE --anchor local-output/provenance-anchor.pem";
const percent = (fraction) => `${Math.round(fraction * 100)}%`;

/** The check of variation ``index`` in lyrics.json's ``checks`` (each names its variation's "index"), or null. */
export function checkOf(checks, index) {
  return (Array.isArray(checks) && checks.find((check) => check && check.index === index)) || null;
}

/** "Content Credentials ✓" for a song signed by this deployment (``content_credentials: true``), else null. */
export function provenanceBadge(song) {
  if (song.content_credentials !== true) return null;
  return Object.assign(document.createElement("span"), {
    id: `provenance-${song.index}`, className: "provenance", textContent: "Content Credentials ✓",
    title: "This file carries a C2PA manifest signed by this deployment. Verify the downloaded file with:\n" + VERIFY,
  });
}

/**
 * The lyric check under a waveform: "Lyrics sung: 93%" (the song's ``lyrics_accuracy``, else the check's), who
 * transcribed it (a TINY RANDOM test model's scores mean nothing, and the label says so), and one row per sung line
 * with its score; a line below the check's threshold is marked ``flagged``, with what was heard in its title. A
 * click on a row plays from the line's start. An element with nothing in it (hidden) when there is no check.
 */
export function showCheck(song, check, player) {
  const section = Object.assign(document.createElement("section"), {id: `check-${song.index}`,
                                                                      className: "lyric-check"});
  const accuracy = typeof song.lyrics_accuracy === "number" ? song.lyrics_accuracy
    : typeof check?.lyrics_accuracy === "number" ? check.lyrics_accuracy : null;
  if (accuracy === null) {
    section.hidden = true;
    return section;
  }
  const label = span("accuracy", `Lyrics sung: ${percent(accuracy)}`);
  label.title = "the vocals transcribed and compared with the lyrics, word by word" +
    (typeof check?.flag_below === "number" ? `; lines below ${percent(check.flag_below)} are flagged` : "");
  const heading = element("p", "check-heading", [label]);
  if (check?.transcriber) {
    const test = /TINY RANDOM/i.test(check.transcriber);
    const by = span(test ? "transcriber test-model" : "transcriber",
                    test ? `${check.transcriber}: its scores mean nothing` : `heard by ${check.transcriber}`);
    heading.append(by);
  }
  section.append(heading);
  const lines = Array.isArray(check?.lines) ? check.lines : [];
  if (lines.length) section.append(element("ol", "check-lines", lines.map((line) => lineRow(line, player))));
  return section;
}

function lineRow(line, player) {
  const row = element("li", `check-line${line.flagged ? " flagged" : ""}`, [
    span("line-score", typeof line.score === "number" ? percent(line.score) : "–"),
    span("line-text", line.expected || ""),
  ]);
  if (line.flagged) row.append(span("flag", "⚑ not heard as written"));
  row.dataset.flagged = String(Boolean(line.flagged));
  const errors = [["missing", line.missing], ["substituted", line.substituted], ["extra", line.extra]]
    .filter(([, count]) => count > 0).map(([name, count]) => `${count} ${name}`);
  row.title = `expected: ${line.expected || ""}\nheard: ${line.heard ? line.heard : "(nothing)"}` +
    (errors.length ? `\n${errors.join(", ")}` : "");
  if (typeof line.start_s === "number") {
    row.addEventListener("click", () => { player.currentTime = line.start_s; });
  }
  return row;
}

function span(className, textContent) {
  return Object.assign(document.createElement("span"), {className, textContent});
}

function element(tag, className, children) {
  const node = Object.assign(document.createElement(tag), {className});
  node.append(...children);
  return node;
}
