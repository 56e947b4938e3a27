// A song's waveform on a canvas: min/max peaks per bucket (the worker's {i}.peaks.json shape, or computed here from the
// decoded audio), the part played, the playhead, and a region selected by dragging.

const BUCKETS = 800;  // as the worker's waveform_peaks

/** Peaks of an audio file (a Blob) decoded with the Web Audio API: {duration_s, min: [...], max: [...]}. */
export async function peaksOfAudio(blob, buckets = BUCKETS) {
  const context = new OfflineAudioContext(1, 1, 44100);  // only for decoding: needs no user gesture
  const audio = await context.decodeAudioData(await blob.arrayBuffer());
  const channels = Array.from({length: audio.numberOfChannels}, (_, c) => audio.getChannelData(c));
  const frames = audio.length, count = Math.max(1, Math.min(buckets, frames));
  const min = new Array(count).fill(0), max = new Array(count).fill(0);
  for (let b = 0; b < count; b++) {
    const start = Math.floor(b * frames / count), end = Math.max(start + 1, Math.floor((b + 1) * frames / count));
    let lo = Infinity, hi = -Infinity;
    for (let i = start; i < end; i++) {
      let value = 0;
      for (const channel of channels) value += channel[i];
      value /= channels.length;
      if (value < lo) lo = value;
      if (value > hi) hi = value;
    }
    min[b] = lo; max[b] = hi;
  }
  return {duration_s: audio.duration, min, max};
}

/**
 * Draws ``peaks`` on ``canvas`` and follows ``player``; a click seeks, a drag selects a region.
 * ``onSelect({start, end} | null)`` is called when the selection changes (times in seconds).
 */
export class Waveform {
  constructor(canvas, peaks, player, onSelect) {
    Object.assign(this, {canvas, peaks, player, onSelect, selection: null, drag: null});
    this.duration = peaks.duration_s;
    this.loudest = Math.max(1e-6, ...peaks.max.map(Math.abs), ...peaks.min.map(Math.abs));
    canvas.addEventListener("pointerdown", (event) => this.down(event));
    canvas.addEventListener("pointermove", (event) => this.move(event));
    canvas.addEventListener("pointerup", (event) => this.up(event));
    const redraw = () => this.draw();
    for (const name of ["timeupdate", "seeked", "loadedmetadata"]) player.addEventListener(name, redraw);
    player.addEventListener("play", () => this.animate());
    new ResizeObserver(redraw).observe(canvas);
    this.draw();
  }

  /** Seconds at a pointer event's position. */
  timeAt(event) {
    const box = this.canvas.getBoundingClientRect();
    return Math.min(1, Math.max(0, (event.clientX - box.left) / box.width)) * this.duration;
  }

  down(event) {
    this.canvas.setPointerCapture(event.pointerId);
    this.drag = {from: this.timeAt(event), x: event.clientX, moved: false};
  }

  move(event) {
    if (!this.drag) return;
    if (Math.abs(event.clientX - this.drag.x) > 3) this.drag.moved = true;
    if (this.drag.moved) {
      const to = this.timeAt(event);
      this.selection = {start: Math.min(this.drag.from, to), end: Math.max(this.drag.from, to)};
      this.draw();
    }
  }

  up(event) {
    if (!this.drag) return;
    const {moved, from} = this.drag;
    this.drag = null;
    if (moved) {
      this.onSelect(this.selection);
    } else {  // a click: play from there, and forget the region
      this.selection = null;
      this.onSelect(null);
      this.player.currentTime = from;
    }
    this.draw();
  }

  /** Redraw every frame while playing. */
  animate() {
    this.draw();
    if (!this.player.paused) requestAnimationFrame(() => this.animate());
  }

  draw() {
    const {canvas, peaks} = this;
    const ratio = window.devicePixelRatio || 1;
    const width = Math.max(1, Math.round(canvas.clientWidth * ratio));
    const height = Math.max(1, Math.round(canvas.clientHeight * ratio));
    if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, {width, height});
    const g = canvas.getContext("2d");
    g.clearRect(0, 0, width, height);
    const style = getComputedStyle(canvas);
    const color = (name) => style.getPropertyValue(name).trim();
    const x = (seconds) => seconds / this.duration * width;
    if (this.selection) {
      g.fillStyle = color("--region");
      g.fillRect(x(this.selection.start), 0, Math.max(1, x(this.selection.end) - x(this.selection.start)), height);
    }
    const played = x(this.player.currentTime || 0), middle = height / 2;
    const scale = middle / this.loudest;
    const count = peaks.max.length;
    for (let px = 0; px < width; px++) {
      const a = Math.floor(px / width * count), b = Math.max(a + 1, Math.floor((px + 1) / width * count));
      let lo = Infinity, hi = -Infinity;
      for (let i = a; i < b && i < count; i++) { lo = Math.min(lo, peaks.min[i]); hi = Math.max(hi, peaks.max[i]); }
      if (hi === -Infinity) continue;
      g.fillStyle = px < played ? color("--played") : color("--unplayed");
      const top = middle - hi * scale, bottom = middle - lo * scale;
      g.fillRect(px, top, 1, Math.max(1, bottom - top));
    }
    g.fillStyle = color("--ink");
    g.fillRect(Math.min(width - 1, played), 0, Math.max(1, ratio), height);
  }
}
