// Line chart of new connections against messages per period (Xeams' connections vs
// email view), drawn as plain SVG: two polylines, axes with a few ticks and a legend.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 860;
const HEIGHT = 280;
const MARGIN = { top: 36, right: 16, bottom: 32, left: 64 };
// Markers with a tooltip each help on short ranges; on a year of hours they would be
// thousands of nodes that nobody can point at anyway.
const MAX_MARKERS = 62;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

// A "nice" step (1, 2 or 5 times a power of ten) that splits [0, max] into about `count` parts.
function niceStep(max, count) {
  const raw = max / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return Math.max(1, m * power);
  return Math.max(1, 10 * power);
}

// Hour labels carry their UTC offset ("2026-11-23T14:00+01:00"); on the axis the month,
// day and time are enough.
function shortLabel(label) {
  const m = /^\d{4}-(\d\d-\d\d)T(\d\d:\d\d)/.exec(label);
  return m ? `${m[1]} ${m[2]}` : label;
}

/**
 * Draws into `container` (replacing what was there).
 * labels: the period labels; series: [{key, name, values, className}], values aligned
 * with labels. onPick(index), when given, is called when a period is clicked (or chosen
 * with Enter on its focusable band).
 */
export function drawChart(container, labels, series, onPick) {
  container.replaceChildren();
  if (labels.length === 0) {
    const p = document.createElement("p");
    p.className = "note";
    p.textContent = "No periods in this range.";
    container.append(p);
    return;
  }
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const peak = Math.max(1, ...series.flatMap((s) => s.values));
  const step = niceStep(peak, 5);
  const yMax = Math.ceil(peak / step) * step;
  const x = (i) => MARGIN.left + (labels.length === 1 ? plotW / 2 : (i * plotW) / (labels.length - 1));
  const y = (v) => MARGIN.top + plotH - (v / yMax) * plotH;

  const totals = series.map((s) => `${s.values.reduce((a, b) => a + b, 0)} ${s.name.toLowerCase()}`);
  const svg = el("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-labelledby": "chart-svg-title chart-svg-desc",
    class: "chart-svg",
  });
  svg.append(el("title", { id: "chart-svg-title" }, series.map((s) => s.name).join(" against ")));
  svg.append(el("desc", { id: "chart-svg-desc" },
    `${labels.length} periods from ${labels[0]} to ${labels[labels.length - 1]}: ${totals.join(", ")}.`));

  const axes = el("g", { class: "axes" });
  for (let v = 0; v <= yMax; v += step) {
    axes.append(el("line", { class: "grid", x1: MARGIN.left, x2: MARGIN.left + plotW, y1: y(v), y2: y(v) }));
    axes.append(el("text", { class: "tick", x: MARGIN.left - 8, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  // Every stride-th label, from the first, and the last: 7 days show all 7 (rounding
  // 6 ticks over 7 labels used to skip the middle one), longer ranges an even stride.
  const stride = Math.max(1, Math.ceil((labels.length - 1) / 7));
  const ticks = [];
  for (let i = 0; i < labels.length; i += stride) ticks.push(i);
  const last = labels.length - 1;
  if (ticks[ticks.length - 1] !== last) {
    if (last - ticks[ticks.length - 1] < stride / 2) ticks.pop();
    ticks.push(last);
  }
  for (const i of ticks) {
    axes.append(el("line", { class: "axis", x1: x(i), x2: x(i), y1: MARGIN.top + plotH, y2: MARGIN.top + plotH + 5 }));
    // The outermost labels hang inwards so that they are never cut at the edges.
    const anchor = labels.length === 1 ? "middle" : i === 0 ? "start" : i === labels.length - 1 ? "end" : "middle";
    axes.append(el("text", { class: "tick", x: x(i), y: MARGIN.top + plotH + 20, "text-anchor": anchor },
      shortLabel(labels[i])));
  }
  axes.append(el("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left + plotW, y1: MARGIN.top + plotH, y2: MARGIN.top + plotH }));
  axes.append(el("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotH }));
  svg.append(axes);

  for (const s of series) {
    const g = el("g", { class: `series ${s.className}`, "data-series": s.key });
    const points = s.values.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    g.append(el("polyline", { points, fill: "none" }));
    if (labels.length <= MAX_MARKERS) {
      s.values.forEach((v, i) => {
        const dot = el("circle", { cx: x(i).toFixed(1), cy: y(v).toFixed(1), r: 3.5 });
        dot.append(el("title", {}, `${labels[i]}: ${v} ${s.name.toLowerCase()}`));
        g.append(dot);
      });
    }
    svg.append(g);
  }

  if (onPick) {
    // One transparent band per period, over the lines: the click target for investigating it.
    const bands = el("g", { class: "bands" });
    const half = labels.length === 1 ? plotW / 2 : plotW / (labels.length - 1) / 2;
    labels.forEach((label, i) => {
      const x0 = Math.max(MARGIN.left, x(i) - half);
      const x1 = Math.min(MARGIN.left + plotW, x(i) + half);
      const band = el("rect", { class: "band", x: x0, y: MARGIN.top, width: Math.max(1, x1 - x0), height: plotH,
        tabindex: 0, role: "button", "data-period": label, "aria-label": `Investigate ${label}` });
      band.append(el("title", {}, `${label}: ${series.map((s) => `${s.values[i]} ${s.name.toLowerCase()}`).join(", ")}; click to investigate`));
      band.addEventListener("click", () => onPick(i));
      band.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          onPick(i);
        }
      });
      bands.append(band);
    });
    svg.append(bands);
  }

  const legend = el("g", { class: "legend" });
  series.forEach((s, n) => {
    const lx = MARGIN.left + n * 190;
    const ly = 18;
    const item = el("g", { class: `series ${s.className}` });
    item.append(el("line", { x1: lx, x2: lx + 24, y1: ly - 4, y2: ly - 4 }));
    item.append(el("text", { class: "legend-text", x: lx + 30, y: ly }, s.name));
    legend.append(item);
  });
  svg.append(legend);
  container.append(svg);
}
