// Hand-written SVG charts: a sparkline of the last hour with the KPI's target as a dashed line.

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 200;
const HEIGHT = 40;

function el(name, attributes) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  return node;
}

/**
 * Draws `points` ([{at, value}], value null for a gap) into `svg`, scaled to fit them and the
 * target line `target` (a number or undefined).
 */
export function sparkline(svg, points, target, color) {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const values = points.map((p) => p.value).filter((v) => v !== null && Number.isFinite(v));
  if (target !== undefined) values.push(target);
  if (points.length < 2 || values.length === 0) return;
  let min = Math.min(...values, 0);
  let max = Math.max(...values);
  if (max === min) max = min + 1;
  const t0 = points[0].at;
  const span = Math.max(1, points[points.length - 1].at - t0);
  const x = (at) => ((at - t0) / span) * WIDTH;
  const y = (v) => HEIGHT - 2 - ((v - min) / (max - min)) * (HEIGHT - 4);
  if (target !== undefined) {
    svg.append(
      el("line", {
        x1: 0,
        x2: WIDTH,
        y1: y(target),
        y2: y(target),
        stroke: "#cf222e",
        "stroke-dasharray": "4 3",
        "stroke-width": 1,
      }),
    );
  }
  // A gap (no data) breaks the line into runs.
  let run = [];
  const flush = () => {
    if (run.length > 1) {
      svg.append(
        el("polyline", {
          points: run.join(" "),
          fill: "none",
          stroke: color,
          "stroke-width": 1.5,
          "vector-effect": "non-scaling-stroke",
        }),
      );
    }
    run = [];
  };
  for (const p of points) {
    if (p.value === null || !Number.isFinite(p.value)) flush();
    else run.push(`${x(p.at).toFixed(1)},${y(p.value).toFixed(1)}`);
  }
  flush();
}
