// Records: filters by field (equality and ranges), pages in primary-key order, and downloads as CSV or NDJSON.
import { api, apiPath, download } from './api.js';
import { el, fill, table, showError, clearError } from './dom.js';

const COMPARISONS = [['eq', '='], ['gt', '>'], ['gte', '≥'], ['lt', '<'], ['lte', '≤']];
const LINEAGE = ['_sluice_source_id', '_sluice_ingested_at'];

export async function recordsPage(page, context) {
  let fields = [];
  try {
    const { tenant } = await api(apiPath('tenants', context.tenant));
    fields = tenant.definition.schema.fields.map((field) => field.name).concat(LINEAGE);
  } catch (error) {
    showError(error);
    return undefined;
  }
  const filters = [];
  const field = el('select', { id: 'filter-field' }, fields.map((name) => el('option', { value: name }, name)));
  const comparison = el('select', { id: 'filter-comparison' }, COMPARISONS.map(([value, label]) => el('option', { value }, label)));
  const value = el('input', { id: 'filter-value', placeholder: 'value' });
  const chosen = el('div', { class: 'row', id: 'filters' });
  const results = el('div', { id: 'records' });
  const more = el('button', { id: 'next-page', hidden: true }, 'Next page');
  let cursor = null;

  function parameters() {
    const query = new URLSearchParams();
    for (const filter of filters) query.append(filter.comparison === 'eq' ? filter.field : `${filter.field}.${filter.comparison}`, filter.value);
    return query;
  }

  function showFilters() {
    fill(chosen, filters.length === 0 ? el('span', { class: 'muted' }, 'No filters: every record.') : filters.map((filter, index) =>
      el('button', { title: 'Remove this filter', onclick: () => { filters.splice(index, 1); showFilters(); search(); } },
        `${filter.field} ${COMPARISONS.find(([name]) => name === filter.comparison)[1]} ${filter.value} ✕`)));
  }

  async function search(after = null) {
    const query = parameters();
    query.set('limit', '50');
    if (after) query.set('after', after);
    try {
      const answer = await api(`${apiPath('tenants', context.tenant, 'records')}?${query}`);
      clearError();
      cursor = answer.next;
      more.hidden = !cursor;
      fill(results, answer.records.length === 0 ? el('p', { class: 'muted' }, 'No records match.') :
        table(fields.map((name) => ({ title: name, value: (record) => (record[name] === null || record[name] === undefined ? '' : record[name]) })),
          answer.records, { attributes: () => ({ 'data-record': '' }) }));
    } catch (error) {
      showError(error);
    }
  }

  function save(format) {
    download(`${apiPath('tenants', context.tenant, 'records')}?${parameters()}&format=${format}`, `${context.tenant}-records.${format}`)
      .catch(showError);
  }

  const add = el('form', { class: 'row', id: 'filter-form', onsubmit: (event) => {
    event.preventDefault();
    filters.push({ field: field.value, comparison: comparison.value, value: value.value });
    value.value = '';
    showFilters();
    search();
  } }, field, comparison, value, el('button', { type: 'submit', class: 'primary' }, 'Add filter'));
  more.addEventListener('click', () => search(cursor));
  fill(page,
    el('section', {}, el('h2', {}, 'Filter'), add, chosen,
      el('div', { class: 'row' }, el('button', { id: 'download-csv', onclick: () => save('csv') }, 'Download CSV'),
        el('button', { id: 'download-ndjson', onclick: () => save('ndjson') }, 'Download NDJSON'))),
    el('section', {}, el('h2', {}, 'Records'), results, more));
  showFilters();
  search();
  return undefined;
}
