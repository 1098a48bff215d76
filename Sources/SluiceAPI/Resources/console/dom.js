// Building the page: every value is set as text or an attribute, never parsed as HTML, so names, messages and
// raw records tenants control show as they are.

/** An element with attributes (`class`, `on…` listeners, others as attributes) and children (nodes or text). */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Replaces what `node` holds. */
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * A table of `rows` with `columns` ({title, value(row), class(row)}); `open(row)` makes rows clickable and
 * `attributes(row)` gives each row's attributes.
 */
export function table(columns, rows, { open, attributes } = {}) {
  const head = el('tr', {}, columns.map((column) => el('th', {}, column.title)));
  const body = rows.map((row) => el('tr', { ...(attributes ? attributes(row) : {}), ...(open ? { class: 'clickable', onclick: () => open(row) } : {}) },
    columns.map((column) => el('td', { class: column.class ? column.class(row) : undefined }, column.value(row)))));
  return el('table', {}, el('thead', {}, head), el('tbody', {}, body));
}

/** Shows `error` (an ApiError or any Error) in the message bar; nothing clears it but the next page or success. */
export function showError(error) {
  const bar = document.getElementById('message');
  fill(bar, error && error.readable ? error.readable : String(error && error.message ? error.message : error));
  bar.hidden = false;
}

export function clearError() {
  document.getElementById('message').hidden = true;
}

export function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

export function formatNumber(value, digits = 2) {
  if (value === null || value === undefined || value === '') return '';
  const number = Number(value);
  return Number.isFinite(number) ? number.toLocaleString(undefined, { maximumFractionDigits: digits }) : String(value);
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A line chart of `points` ([[unixSeconds, value], …]) drawn as SVG, titled, with its range on the axes. */
export function lineChart(title, points, unit = '') {
  const width = 360, height = 180, left = 44, right = 8, top = 18, bottom = 22;
  const chart = svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': title });
  chart.append(svg('text', { x: left, y: 12 }, title));
  const values = points.map(([, value]) => Number(value)).filter(Number.isFinite);
  if (values.length === 0) {
    chart.append(svg('text', { x: left, y: height / 2 }, 'no data yet'));
    return chart;
  }
  const times = points.map(([time]) => Number(time));
  const [t0, t1] = [Math.min(...times), Math.max(...times)];
  const [v0, v1] = [Math.min(0, ...values), Math.max(...values, 1e-9)];
  const x = (time) => left + ((time - t0) / Math.max(t1 - t0, 1)) * (width - left - right);
  const y = (value) => top + (1 - (value - v0) / Math.max(v1 - v0, 1e-9)) * (height - top - bottom);
  chart.append(svg('line', { class: 'axis', x1: left, y1: height - bottom, x2: width - right, y2: height - bottom }));
  chart.append(svg('line', { class: 'axis', x1: left, y1: top, x2: left, y2: height - bottom }));
  chart.append(svg('text', { x: 2, y: top + 8 }, `${formatNumber(v1)}${unit}`));
  chart.append(svg('text', { x: 2, y: height - bottom }, `${formatNumber(v0)}${unit}`));
  chart.append(svg('text', { x: left, y: height - 6 }, new Date(t0 * 1000).toLocaleTimeString()));
  chart.append(svg('text', { x: width - right - 60, y: height - 6 }, new Date(t1 * 1000).toLocaleTimeString()));
  const line = points.filter(([, value]) => Number.isFinite(Number(value)))
    .map(([time, value]) => `${x(Number(time)).toFixed(1)},${y(Number(value)).toFixed(1)}`).join(' ');
  chart.append(svg('polyline', { class: 'line', points: line }));
  if (values.length === 1) {
    const [only] = points.filter(([, value]) => Number.isFinite(Number(value)));
    chart.append(svg('circle', { class: 'line', r: 3, cx: x(Number(only[0])), cy: y(Number(only[1])) }));
  }
  return chart;
}
