// Reports: the latest ingestion reports, and charts of rows per second, latency and reject ratio over the last
// hours from the series endpoint.
import { api, apiPath } from './api.js';
import { el, fill, table, showError, formatTime, formatNumber, lineChart } from './dom.js';

const CHARTS = [
  ['ingest_rows_per_second', 'Rows per second', ''],
  ['latency_p95_seconds', 'Latency, 95th percentile', ' s'],
  ['reject_ratio', 'Reject ratio', ''],
];

export function reportsPage(page, context) {
  const charts = el('div', { class: 'charts', id: 'charts' });
  const reports = el('div', { id: 'reports' });
  fill(page, el('section', {}, el('h2', {}, 'The last three hours'), charts), el('section', {}, el('h2', {}, 'Latest reports'), reports));

  async function load() {
    try {
      const from = new Date(Date.now() - 3 * 3600 * 1000).toISOString();
      const series = await Promise.all(CHARTS.map(([metric]) =>
        api(`${apiPath('tenants', context.tenant, 'series')}?metric=${metric}&step=60&from=${encodeURIComponent(from)}`)));
      fill(charts, series.map((answer, index) => {
        const points = answer.data.result.length > 0 ? answer.data.result[0].values : [];
        return lineChart(CHARTS[index][1], points, CHARTS[index][2]);
      }));
      const { reports: latest } = await api(`${apiPath('tenants', context.tenant, 'reports')}?limit=50`);
      fill(reports, latest.length === 0 ? el('p', { class: 'muted' }, 'No reports in the last day.') : table([
        { title: 'Source', value: (report) => report.source_name ?? report.source_id },
        { title: 'Kind', value: (report) => report.kind },
        { title: 'Outcome', value: (report) => report.outcome, class: (report) => `state-${report.outcome}` },
        { title: 'Rows', value: (report) => formatNumber(report.rows_ingested, 0) },
        { title: 'Rejected', value: (report) => formatNumber(report.rows_rejected, 0) },
        { title: 'Latency (s)', value: (report) => formatNumber(report.latency_seconds, 3) },
        { title: 'Finished', value: (report) => formatTime(report.finished_at) },
      ], latest));
    } catch (error) {
      showError(error);
    }
  }
  load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}
