// Files: upload (with progress, or by drag and drop), the list with states updating while files ingest, and a
// file's rejected rows with their reasons.
import { api, apiPath, upload } from './api.js';
import { el, fill, table, showError, clearError, formatTime, formatNumber } from './dom.js';

const FINAL = new Set(['succeeded', 'failed', 'partial']);

export function filesPage(page, context) {
  const input = el('input', { type: 'file', multiple: true, id: 'file-input' });
  const drop = el('div', { class: 'drop', id: 'drop' }, 'Drop files here, or choose them: ', input);
  const progress = el('progress', { id: 'upload-progress', max: 1, value: 0, hidden: true });
  const status = el('p', { class: 'muted', id: 'upload-status' });
  const list = el('div', { id: 'files' });
  const rejects = el('div', { id: 'rejects' });
  fill(page,
    el('section', {}, el('h2', {}, 'Upload'), drop, progress, status),
    el('section', {}, el('h2', {}, 'Files'), list),
    el('section', {}, el('h2', {}, 'Rejected rows'), rejects));
  fill(rejects, el('p', { class: 'muted' }, 'Choose a file to see the rows it rejected, and why.'));

  async function send(files) {
    for (const file of files) {
      progress.hidden = false;
      progress.value = 0;
      fill(status, `Uploading ${file.name}…`);
      try {
        const entry = await upload(context.tenant, file, (fraction) => { progress.value = fraction; });
        fill(status, `${file.name} received (${entry.state}).`);
        clearError();
      } catch (error) {
        fill(status, `${file.name} was not accepted.`);
        showError(error);
      }
      refresh();
    }
  }
  input.addEventListener('change', () => send([...input.files]));
  drop.addEventListener('dragover', (event) => { event.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('over');
    send([...event.dataTransfer.files]);
  });

  async function showRejects(file) {
    fill(rejects, el('p', { class: 'muted' }, `Loading the rejects of ${file.name}…`));
    try {
      const page = await api(`${apiPath('tenants', context.tenant, 'files', file.id, 'rejects')}?limit=200`);
      fill(rejects, el('p', {}, `${file.name}: ${formatNumber(file.rows_rejected, 0)} rows rejected${page.next ? ' (the first 200)' : ''}.`),
        table([
          { title: 'Line', value: (row) => row.line },
          { title: 'Reason', value: (row) => row.reason },
          { title: 'Message', value: (row) => row.message },
          { title: 'Raw', value: (row) => row.raw ?? '', class: () => 'raw' },
        ], page.rejects, { attributes: () => ({ 'data-reject': '' }) }));
    } catch (error) {
      showError(error);
    }
  }

  let timer;
  let stopped = false;
  async function refresh() {
    clearTimeout(timer);
    if (stopped) return;
    try {
      const { files } = await api(`${apiPath('tenants', context.tenant, 'files')}?limit=50`);
      fill(list, files.length === 0 ? el('p', { class: 'muted' }, 'No files yet.') : table([
        { title: 'Name', value: (file) => file.name },
        { title: 'State', value: (file) => file.state, class: (file) => `state state-${file.state}` },
        { title: 'Rows', value: (file) => formatNumber(file.rows_ingested, 0) },
        { title: 'Rejected', value: (file) => formatNumber(file.rows_rejected, 0) },
        { title: 'Bytes', value: (file) => formatNumber(file.size, 0) },
        { title: 'Received', value: (file) => formatTime(file.received_at) },
      ], files, { open: showRejects, attributes: (file) => ({ 'data-file': file.name }) }));
      // States change while files ingest: look again every second while one is not done, else every 5 s.
      if (!stopped) timer = setTimeout(refresh, files.some((file) => !FINAL.has(file.state)) ? 1000 : 5000);
    } catch (error) {
      showError(error);
      // Sluice may be back soon: look again, more slowly.
      if (!stopped) timer = setTimeout(refresh, 10000);
    }
  }
  refresh();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
