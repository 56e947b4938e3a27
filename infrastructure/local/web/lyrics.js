// The lyric lines under a waveform, each at its time (lyrics.json: text, start_s, end_s), the one being sung
// highlighted and shown in full below.

/**
 * When each line is the one being sung: from its start to the next line's start. ``end_s`` is where the line's
 * tokens end, which is far sooner than the singing; the last line lasts the typical gap between lines (at least
 * until its ``end_s``), within the song.
 */
export function lineSpans(lines, duration) {
  const gaps = lines.slice(1).map((line, i) => line.start_s - lines[i].start_s).sort((a, b) => a - b);
  const typical = gaps.length ? gaps[Math.floor(gaps.length / 2)] : 5;
  return lines.map((line, i) => ({
    start: line.start_s,
    end: Math.min(duration, i + 1 < lines.length ? lines[i + 1].start_s : Math.max(line.end_s, line.start_s + typical)),
  }));
}

/**
 * Fills ``strip`` with one element per line, over the time it is sung (two lanes, so that each label may run on
 * under the next line), and keeps the line at ``player``'s time marked ``current`` (its text in ``now``). A click
 * on a line plays from its start.
 */
export function showLyrics(strip, now, lines, duration, player) {
  const spans = lineSpans(lines, duration);
  const percent = (seconds) => `${seconds / duration * 100}%`;
  const elements = lines.map((line, i) => {
    const {start, end} = spans[i];
    const room = (i + 2 < lines.length ? lines[i + 2].start_s : duration) - start;  // up to the lane's next line
    const text = Object.assign(document.createElement("span"), {className: "text", textContent: line.text});
    text.style.maxWidth = `${room / Math.max(0.01, end - start) * 100}%`;
    const element = Object.assign(document.createElement("span"), {
      className: `lyric-line lane-${i % 2}`, title: `${clock(line.start_s)}  ${line.text}`});
    Object.assign(element.style, {left: percent(start), width: percent(Math.max(0, end - start))});
    element.dataset.start = line.start_s;
    element.append(text);
    element.addEventListener("click", () => { player.currentTime = line.start_s; });
    return element;
  });
  strip.replaceChildren(...elements);
  const highlight = () => {
    const t = player.currentTime;
    const current = spans.findIndex(({start, end}) => start <= t && t < end);
    elements.forEach((element, i) => element.classList.toggle("current", i === current));
    now.textContent = current >= 0 ? lines[current].text : "";
  };
  for (const name of ["timeupdate", "seeked"]) player.addEventListener(name, highlight);
  highlight();
}

/** 75.5 -> "1:15.5" */
export function clock(seconds) {
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - minutes * 60).toFixed(1).padStart(4, "0")}`;
}
