// Alerts: what fires (or is pending) now, and the history of transitions; the tenant's own, or every one for the
// admin.
import { api, apiPath } from './api.js';
import { el, fill, table, showError, formatTime, formatNumber } from './dom.js';

function alertColumns(time) {
  return [
    { title: 'Alert', value: (alert) => alert.name },
    { title: 'Tenant', value: (alert) => alert.tenant ?? '' },
    { title: 'State', value: (alert) => alert.state },
    { title: 'Value', value: (alert) => formatNumber(alert.value, 3) },
    { title: 'Summary', value: (alert) => (alert.annotations && alert.annotations.summary) || '' },
    { title: 'Labels', value: (alert) => Object.entries(alert.labels || {}).map(([name, value]) => `${name}=${value}`).join(' ') },
    { title: time === 'at' ? 'When' : 'Since', value: (alert) => formatTime(alert[time]) },
  ];
}

export function alertsPage(page, context) {
  const firing = el('div', { id: 'firing' });
  const history = el('div', { id: 'history' });
  fill(page, el('section', {}, el('h2', {}, 'Firing and pending'), firing), el('section', {}, el('h2', {}, 'History'), history));
  const base = context.admin ? ['alerts'] : ['tenants', context.tenant, 'alerts'];

  async function load() {
    try {
      const [active, events] = await Promise.all([api(apiPath(...base)), api(`${apiPath(...base, 'history')}?limit=100`)]);
      fill(firing, active.alerts.length === 0 ? el('p', { class: 'muted' }, 'Nothing fires.') : table(alertColumns('active_at'), active.alerts));
      fill(history, events.events.length === 0 ? el('p', { class: 'muted' }, 'No alert in the last day.') : table(alertColumns('at'), events.events));
    } catch (error) {
      showError(error);
    }
  }
  load();
  const timer = setInterval(load, 10000);
  return () => clearInterval(timer);
}

/** The admin's platform summary: every tenant's totals over the last day, and what fires. */
export function overviewPage(page) {
  const tenants = el('div', { id: 'summary' });
  const firing = el('div', { id: 'firing' });
  fill(page, el('section', {}, el('h2', {}, 'Tenants, last 24 hours'), tenants), el('section', {}, el('h2', {}, 'Firing and pending'), firing));

  async function load() {
    try {
      const [summary, active] = await Promise.all([api(apiPath('reports', 'summary')), api(apiPath('alerts'))]);
      fill(tenants, table([
        { title: 'Tenant', value: (row) => row.tenant_id },
        { title: 'Reports', value: (row) => formatNumber(row.reports, 0) },
        { title: 'Rows', value: (row) => formatNumber(row.rows_ingested, 0) },
        { title: 'Rejected', value: (row) => formatNumber(row.rows_rejected, 0) },
        { title: 'Failed files', value: (row) => formatNumber(row.files_failed, 0) },
        { title: 'Mean latency (s)', value: (row) => formatNumber(row.mean_latency_seconds, 3) },
      ], summary.tenants));
      fill(firing, active.alerts.length === 0 ? el('p', { class: 'muted' }, 'Nothing fires.') : table(alertColumns('active_at'), active.alerts));
    } catch (error) {
      showError(error);
    }
  }
  load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}
