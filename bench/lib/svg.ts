/**
 * A small SVG writer for the benchmark charts: no dependencies, no DOM. Text widths are estimated (there is
 * nothing to measure them with), generously enough for the common sans-serif fonts, so labels do not collide.
 *
 *   writeFileSync('x.svg', svgDocument([barChart({...}), latencyChart({...})]));
 */

/** One chart: its size and its SVG elements, drawn from (0, 0). Several are stacked by `svgDocument`. */
export interface Part {
  width: number;
  height: number;
  body: string;
}

export interface Bar {
  label: string;
  /** null: no measurement (drawn as a note instead of a bar). */
  value: number | null;
  unit?: string;
  /** Smaller grey text after the value, e.g. "2.1× BullMQ". */
  note?: string;
  /** Shown instead of the bar when value is null; default "no data". */
  missing?: string;
  color?: string;
  /** Small ticks drawn on the bar's row, e.g. the individual samples behind the bar. */
  marks?: number[];
}

export interface Target {
  value: number;
  label: string;
  color?: string;
}

export interface BarChartOptions {
  title: string;
  subtitle?: string;
  bars: Bar[];
  /** Dashed vertical lines; non-finite values are skipped. */
  targets?: Target[];
  /** Axis title under the ticks, e.g. "msgs/s". */
  axisLabel?: string;
  /** Grey lines of text under the chart. */
  footnotes?: string[];
  /** Formats bar values (default: thousands separators, 2 significant decimals below 100). */
  format?: (v: number) => string;
  /** Formats axis ticks (default: compact, 20k / 1.5M). */
  formatTick?: (v: number) => string;
  width?: number;
}

export interface LatencyChartOptions {
  title: string;
  subtitle?: string;
  /** Latency samples in ms, ascending. */
  sortedMs: number[];
  /** Percentiles (0..1) to mark on the curve; default p50, p90, p99. */
  marks?: number[];
  footnotes?: string[];
  width?: number;
}

const FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, 'DejaVu Sans', sans-serif";
const INK = '#222';
const GREY = '#666';
const GRID = '#e4e4e4';
const PALETTE = ['#2f6fb0', '#e07b2a', '#3b9a57', '#c0392b', '#8e5bb5'];
const TARGET_COLORS = ['#c0392b', '#7d3c98', '#117a65'];
const PAD = 20;

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Estimated rendered width of `s` in px; errs on the wide side (DejaVu Sans is wider than Arial). */
export function textWidth(s: string, size: number, bold = false): number {
  let em = 0;
  for (const c of s) {
    if (/[il.,:;'|!1 I]/.test(c)) em += c === '1' ? 0.64 : 0.32;
    else if (/[frtj()]/.test(c)) em += 0.42;
    else if (/[0-9]/.test(c)) em += 0.64;
    else if (/[mwMW%@]/.test(c)) em += 0.95;
    else if (/[A-Z]/.test(c)) em += 0.72;
    else if (/[a-z]/.test(c)) em += 0.6;
    else em += 0.7;
  }
  return em * size * (bold ? 1.08 : 1);
}

const r1 = (n: number) => Math.round(n * 10) / 10;

function attrs(a: Record<string, string | number>): string {
  return Object.entries(a)
    .map(([k, v]) => ` ${k}="${esc(String(v))}"`)
    .join('');
}

function text(x: number, y: number, s: string, a: Record<string, string | number> = {}): string {
  return `<text x="${r1(x)}" y="${r1(y)}"${attrs(a)}>${esc(s)}</text>`;
}

/** A white box behind a 12 px text line at baseline y, so that grid and target lines do not run through it. */
function backing(x: number, y: number, w: number): string {
  return `<rect x="${r1(x)}" y="${r1(y - 12)}" width="${r1(w)}" height="16" fill="#fff" opacity="0.9"/>`;
}

/** Ticks from 0 at a 1/2/5×10^k step, the last one ≥ max. */
function niceTicks(max: number, count = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const rough = max / count;
  const pow = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * pow).find((s) => s >= rough)!;
  const ticks: number[] = [];
  for (let i = 0; ; i++) {
    const v = Number((i * step).toPrecision(12));
    ticks.push(v);
    if (v >= max) break;
  }
  return ticks;
}

export function fmtNumber(v: number): string {
  if (!Number.isFinite(v)) return 'n/a';
  const digits = Math.abs(v) < 10 ? 2 : Math.abs(v) < 100 ? 1 : 0;
  return v.toLocaleString('en-US', { minimumFractionDigits: 0, maximumFractionDigits: digits });
}

export function fmtCompact(v: number): string {
  const a = Math.abs(v);
  const trim = (n: number) => String(Number(n.toFixed(2)));
  if (a >= 1e6) return `${trim(v / 1e6)}M`;
  if (a >= 1e3) return `${trim(v / 1e3)}k`;
  return trim(v);
}

function header(title: string, subtitle: string | undefined, width: number): { svg: string; bottom: number } {
  let svg = text(PAD, 30, title, { 'font-size': 18, 'font-weight': 'bold', fill: INK });
  let bottom = 40;
  if (subtitle) {
    // Wrap the subtitle on " · " separators if it would run past the right edge.
    const lines: string[] = [];
    let line = '';
    for (const piece of subtitle.split(' · ')) {
      const next = line ? `${line} · ${piece}` : piece;
      if (line && textWidth(next, 12) > width - 2 * PAD) {
        lines.push(line);
        line = piece;
      } else line = next;
    }
    lines.push(line);
    lines.forEach((l, i) => (svg += text(PAD, 50 + i * 16, l, { 'font-size': 12, fill: GREY })));
    bottom = 50 + (lines.length - 1) * 16 + 6;
  }
  return { svg, bottom };
}

function footer(notes: string[] | undefined, top: number): { svg: string; bottom: number } {
  let svg = '';
  let y = top;
  for (const n of notes ?? []) {
    y += 16;
    svg += text(PAD, y, n, { 'font-size': 12, fill: GREY });
  }
  return { svg, bottom: y };
}

/** Horizontal bars, one row per entry, with optional dashed target lines. */
export function barChart(o: BarChartOptions): Part {
  const width = o.width ?? 800;
  const format = o.format ?? fmtNumber;
  const formatTick = o.formatTick ?? fmtCompact;
  const targets = (o.targets ?? []).filter((t) => Number.isFinite(t.value) && t.value > 0);
  const values = o.bars.flatMap((b) => [b.value ?? 0, ...(b.marks ?? [])]).filter(Number.isFinite);
  // A little headroom, so that a bar or target line at a round number does not end on the frame.
  const ticks = niceTicks(1.04 * Math.max(0, ...values, ...targets.map((t) => t.value)));
  const domainMax = ticks[ticks.length - 1];

  const labelCol = Math.min(300, Math.max(60, ...o.bars.map((b) => 1.05 * textWidth(b.label, 13, true))) + 14);
  const left = PAD + labelCol;
  const valueText = (b: Bar) => `${format(b.value ?? NaN)}${b.unit ? ` ${b.unit}` : ''}`;
  const noteWidth = (note: string | undefined) => (note ? 8 + textWidth(note, 11) : 0);
  const labelWidth = (b: Bar) => textWidth(valueText(b), 12, true) + noteWidth(b.note);
  // Narrow the axis so that every value label fits to the right of its bar, but not below 45% of the width
  // (a longer label then goes inside its bar).
  let right = width - PAD - 6;
  for (const b of o.bars) {
    if (b.value === null || !(b.value > 0)) continue;
    const fit = left + ((width - PAD - 6 - labelWidth(b) - left) * domainMax) / b.value;
    right = Math.min(right, Math.max(fit, left + 0.45 * (width - PAD - 6 - left)));
  }
  const x = (v: number) => left + (Math.max(0, v) / domainMax) * (right - left);

  const head = header(o.title, o.subtitle, width);
  let svg = head.svg;

  // Target labels sit above the plot, each centred on its line (clamped inside), in as many rows as needed
  // so that neighbours do not overlap.
  const rows: number[] = []; // right edge of the last label per row
  const placed = targets
    .map((t, i) => ({ ...t, color: t.color ?? TARGET_COLORS[i % TARGET_COLORS.length], at: x(t.value) }))
    .sort((a, b) => a.at - b.at)
    .map((t) => {
      const w = textWidth(t.label, 12, true);
      const from = Math.min(Math.max(t.at - w / 2, left), width - PAD - w);
      let row = rows.findIndex((end) => end + 10 <= from);
      if (row < 0) row = rows.push(0) - 1;
      rows[row] = from + w;
      return { ...t, from, row };
    });
  const labelsTop = head.bottom + 8;
  const plotTop = labelsTop + rows.length * 17 + (rows.length ? 4 : 0);
  const rowH = 34;
  const barH = 20;
  const plotBottom = plotTop + 8 + o.bars.length * rowH;

  // Grid and ticks.
  for (const t of ticks) {
    svg += `<line x1="${r1(x(t))}" y1="${plotTop}" x2="${r1(x(t))}" y2="${plotBottom}" stroke="${GRID}"/>`;
    svg += text(x(t), plotBottom + 16, formatTick(t), { 'font-size': 11, fill: GREY, 'text-anchor': 'middle' });
  }
  svg += `<line x1="${left}" y1="${plotTop}" x2="${left}" y2="${plotBottom}" stroke="#999"/>`;
  let bottom = plotBottom + 16;
  if (o.axisLabel) {
    bottom += 16;
    svg += text((left + right) / 2, bottom, o.axisLabel, { 'font-size': 12, fill: GREY, 'text-anchor': 'middle' });
  }

  // Bars.
  const valueLabels: string[] = [];
  o.bars.forEach((b, i) => {
    const top = plotTop + 8 + i * rowH + (rowH - barH) / 2;
    const mid = top + barH / 2 + 4.5;
    svg += text(left - 10, mid, b.label, { 'font-size': 13, 'font-weight': 'bold', fill: INK, 'text-anchor': 'end' });
    if (b.value === null || !Number.isFinite(b.value)) {
      const missing = b.missing ?? 'no data';
      valueLabels.push(backing(left + 5, mid, textWidth(missing, 12) + 6) + text(left + 8, mid, missing, { 'font-size': 12, 'font-style': 'italic', fill: '#c0392b' }));
      return;
    }
    const end = x(b.value);
    const color = b.color ?? PALETTE[i % PALETTE.length];
    svg += `<rect x="${left}" y="${r1(top)}" width="${r1(Math.max(1, end - left))}" height="${barH}" rx="2" fill="${esc(color)}"/>`;
    for (const m of b.marks ?? []) {
      svg += `<line x1="${r1(x(m))}" y1="${r1(top + 3)}" x2="${r1(x(m))}" y2="${r1(top + barH - 3)}" stroke="#fff" stroke-width="2" opacity="0.85"/>`;
    }
    const value = valueText(b);
    const note = b.note ?? '';
    const wValue = textWidth(value, 12, true);
    const wNote = noteWidth(note);
    if (end + 6 + wValue + wNote <= width - PAD + 0.5) {
      valueLabels.push(
        backing(end + 3, mid, wValue + wNote + 6) +
          `<text x="${r1(end + 6)}" y="${r1(mid)}" font-size="12"><tspan font-weight="bold" fill="${INK}">${esc(value)}</tspan>` +
          (note ? `<tspan dx="8" font-size="11" fill="${GREY}">${esc(note)}</tspan>` : '') +
          `</text>`,
      );
    } else {
      // No room to the right of a long bar: write the value inside its end, note dropped if it does not fit.
      const both = `${value}  ${note}`;
      const inside = note && end - left - 12 >= textWidth(both, 12, true) ? both : value;
      valueLabels.push(text(end - 6, mid, inside, { 'font-size': 12, 'font-weight': 'bold', fill: '#fff', 'text-anchor': 'end' }));
    }
  });

  // Target lines over the bars, their labels above the plot; value labels last, on top of everything.
  const labelY = (row: number) => labelsTop + row * 17 + 12;
  for (const t of placed) {
    svg += `<line x1="${r1(t.at)}" y1="${r1(labelY(t.row) + 4)}" x2="${r1(t.at)}" y2="${plotBottom}" stroke="${t.color}" stroke-width="1.5" stroke-dasharray="6 4"/>`;
  }
  for (const t of placed) {
    // Backed with white: a line from a label in an upper row may pass behind it.
    svg += `<rect x="${r1(t.from - 3)}" y="${r1(labelY(t.row) - 12)}" width="${r1(textWidth(t.label, 12, true) + 6)}" height="16" fill="#fff"/>`;
    svg += text(t.from, labelY(t.row), t.label, { 'font-size': 12, 'font-weight': 'bold', fill: t.color });
  }
  svg += valueLabels.join('');

  const foot = footer(o.footnotes, bottom + 4);
  svg += foot.svg;
  return { width, height: foot.bottom + 14, body: svg };
}

/** Nearest-rank q-quantile of an ascending array. */
function quantileOf(sorted: number[], q: number): number {
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

function percentileLabel(q: number): string {
  return q === 0 ? 'p0' : `p${Number((q * 100).toPrecision(6))}`;
}

/**
 * Percentile curve: x = percentile on a -log10(1 − q) scale (p0, p90, p99, p99.9 evenly spaced, so the tail
 * gets room), y = latency in ms. The curve goes up to p99.9 or, with fewer samples, the highest percentile
 * the samples resolve (1 − 1/n); the maximum is in the subtitle area.
 */
export function latencyChart(o: LatencyChartOptions): Part {
  const width = o.width ?? 800;
  const s = o.sortedMs;
  const head = header(o.title, o.subtitle, width);
  let svg = head.svg;
  const plotTop = head.bottom + 18;
  const plotH = 230;
  const plotBottom = plotTop + plotH;
  if (s.length === 0) {
    svg += text(width / 2, plotTop + plotH / 2, 'no latency samples', { 'font-size': 14, fill: GREY, 'text-anchor': 'middle' });
    return { width, height: plotBottom + 20, body: svg };
  }
  const xMax = Math.max(1, Math.min(3, Math.log10(s.length)));
  const qOf = (u: number) => 1 - 10 ** -u;
  const yTicks = niceTicks(Math.max(quantileOf(s, qOf(xMax)), 1), 5);
  const yMax = yTicks[yTicks.length - 1];
  const yTickW = Math.max(...yTicks.map((t) => textWidth(fmtCompact(t), 11)));
  const left = PAD + 22 + yTickW + 6;
  const right = width - PAD - 10;
  const X = (u: number) => left + (u / xMax) * (right - left);
  const Y = (ms: number) => plotBottom - (Math.min(ms, yMax) / yMax) * plotH;

  for (const t of yTicks) {
    svg += `<line x1="${left}" y1="${r1(Y(t))}" x2="${right}" y2="${r1(Y(t))}" stroke="${GRID}"/>`;
    svg += text(left - 6, Y(t) + 4, fmtCompact(t), { 'font-size': 11, fill: GREY, 'text-anchor': 'end' });
  }
  const yMid = (plotTop + plotBottom) / 2;
  svg += text(PAD + 4, yMid, 'latency (ms)', { 'font-size': 12, fill: GREY, 'text-anchor': 'middle', transform: `rotate(-90 ${PAD + 4} ${r1(yMid)})` });
  const marks = (o.marks ?? [0.5, 0.9, 0.99]).filter((q) => q >= 0 && q < 1 && -Math.log10(1 - q) <= xMax + 1e-9);
  for (const q of [0, 0.5, 0.9, 0.99, 0.999]) {
    const u = -Math.log10(1 - q);
    if (u > xMax + 1e-9) continue;
    svg += `<line x1="${r1(X(u))}" y1="${plotTop}" x2="${r1(X(u))}" y2="${plotBottom}" stroke="${GRID}"/>`;
    if (!marks.includes(q)) svg += text(X(u), plotBottom + 16, percentileLabel(q), { 'font-size': 11, fill: GREY, 'text-anchor': 'middle' });
  }
  svg += `<line x1="${left}" y1="${plotBottom}" x2="${right}" y2="${plotBottom}" stroke="#999"/>`;
  svg += `<line x1="${left}" y1="${plotTop}" x2="${left}" y2="${plotBottom}" stroke="#999"/>`;
  svg += text((left + right) / 2, plotBottom + 50, 'percentile (spaced by −log₁₀(1 − q): the tail gets the room)', { 'font-size': 12, fill: GREY, 'text-anchor': 'middle' });

  // The curve, one point per pixel column, as a step-free polyline.
  const pts: string[] = [];
  for (let px = 0; px <= right - left; px++) {
    const u = (px / (right - left)) * xMax;
    pts.push(`${r1(left + px)},${r1(Y(quantileOf(s, qOf(u))))}`);
  }
  svg += `<polyline points="${pts.join(' ')}" fill="none" stroke="${PALETTE[0]}" stroke-width="2" stroke-linejoin="round"/>`;

  // Marks: a dot on the curve and a dashed drop line to its percentile, whose value is written under the axis
  // (labels beside the dots would run into the curve sooner or later).
  for (const q of marks) {
    const u = -Math.log10(1 - q);
    const v = quantileOf(s, q);
    const cx = X(u);
    const cy = Y(v);
    svg += `<line x1="${r1(cx)}" y1="${r1(cy)}" x2="${r1(cx)}" y2="${plotBottom}" stroke="${PALETTE[3]}" stroke-width="1.2" stroke-dasharray="4 3"/>`;
    svg += `<circle cx="${r1(cx)}" cy="${r1(cy)}" r="4" fill="${PALETTE[3]}" stroke="#fff" stroke-width="1.5"/>`;
    svg += text(cx, plotBottom + 16, percentileLabel(q), { 'font-size': 11, 'font-weight': 'bold', fill: PALETTE[3], 'text-anchor': 'middle' });
    svg += text(cx, plotBottom + 31, fmtMs(v), { 'font-size': 12, 'font-weight': 'bold', fill: PALETTE[3], 'text-anchor': 'middle' });
  }

  const foot = footer(o.footnotes, plotBottom + 54);
  svg += foot.svg;
  return { width, height: foot.bottom + 14, body: svg };
}

function fmtMs(v: number): string {
  return `${v.toFixed(v < 10 ? 1 : 0)} ms`;
}

/** One SVG document with the parts stacked top to bottom on a white background. */
export function svgDocument(parts: Part[]): string {
  const width = Math.max(0, ...parts.map((p) => p.width));
  let y = 0;
  let body = '';
  parts.forEach((p, i) => {
    if (i > 0) body += `<line x1="${PAD}" y1="${y + 0.5}" x2="${width - PAD}" y2="${y + 0.5}" stroke="#ccc"/>`;
    body += `<g transform="translate(0 ${y})">${p.body}</g>\n`;
    y += p.height + (i < parts.length - 1 ? 10 : 0);
  });
  const height = Math.ceil(y);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${esc(FONT)}">\n` +
    `<rect width="100%" height="100%" fill="#fff"/>\n${body}</svg>\n`
  );
}
