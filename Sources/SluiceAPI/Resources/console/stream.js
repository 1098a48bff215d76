// Stream: the tenant's stream app instances (running and desired), its queue, and the stream manager's recent
// actions.
import { api, apiPath } from './api.js';
import { el, fill, table, showError, formatTime, formatNumber } from './dom.js';

export function streamPage(page, context) {
  const summary = el('div', { id: 'stream-summary' });
  const instances = el('div', { id: 'instances' });
  const actions = el('div', { id: 'actions' });
  fill(page, el('section', {}, el('h2', {}, 'Instances'), summary, instances), el('section', {}, el('h2', {}, 'Recent actions'), actions));
  const stat = (label, value) => el('span', { class: 'stat' }, el('b', {}, value), label);

  async function load() {
    try {
      const [state, queue, recent] = await Promise.all([
        api(apiPath('tenants', context.tenant, 'stream', 'instances')),
        api(`${apiPath('tenants', context.tenant, 'series')}?metric=stream_queue_messages&step=60&window=60`),
        api(`${apiPath('tenants', context.tenant, 'stream', 'actions')}?limit=20`),
      ]);
      const values = queue.data.result.length > 0 ? queue.data.result[0].values : [];
      fill(summary, stat('running', state.running), stat('desired', state.desired), stat('min … max', `${state.min} … ${state.max}`),
        stat('queued messages (last minute)', values.length > 0 ? formatNumber(values[values.length - 1][1], 0) : '0'));
      fill(instances, state.instances.length === 0 ? el('p', { class: 'muted' }, 'No instance runs now.') : table([
        { title: 'Instance', value: (instance) => instance.id },
        { title: 'Kind', value: (instance) => instance.kind },
        { title: 'Started', value: (instance) => formatTime(instance.started_at) },
        { title: 'Restarts', value: (instance) => instance.restarts ?? 0 },
      ], state.instances));
      fill(actions, recent.actions.length === 0 ? el('p', { class: 'muted' }, 'No actions yet.') : table([
        { title: 'When', value: (action) => formatTime(action.at ?? action.created_at) },
        { title: 'Action', value: (action) => action.action },
        { title: 'Source', value: (action) => action.source },
        { title: 'Outcome', value: (action) => action.outcome ?? '' },
      ], recent.actions));
    } catch (error) {
      showError(error);
    }
  }
  load();
  const timer = setInterval(load, 5000);
  return () => clearInterval(timer);
}
