// The Sluice console: sign in with a tenant's key or the admin token, then pages by the URL's hash.
import { api, apiPath, session } from './api.js';
import { el, fill, showError, clearError } from './dom.js';
import { filesPage } from './files.js';
import { recordsPage } from './records.js';
import { reportsPage } from './reports.js';
import { streamPage } from './stream.js';
import { alertsPage, overviewPage } from './alerts.js';

const PAGES = {
  overview: { title: 'Overview', admin: true, show: overviewPage },
  files: { title: 'Files', show: filesPage },
  records: { title: 'Records', show: recordsPage },
  reports: { title: 'Reports', show: reportsPage },
  stream: { title: 'Stream', show: streamPage },
  alerts: { title: 'Alerts', show: alertsPage },
};

const context = { tenant: '', admin: false, tenants: [] };
let leave = null;
/** Counts page visits: a page that finishes loading after the user moved on is stopped at once. */
let visit = 0;

function signInPage() {
  document.getElementById('nav').hidden = true;
  fill(document.getElementById('who'));
  const tenant = el('input', { id: 'signin-tenant', placeholder: 'tenant id (empty for the admin)', autocomplete: 'username' });
  const token = el('input', { id: 'signin-token', type: 'password', placeholder: 'API key or admin token', autocomplete: 'current-password', required: true });
  const form = el('form', { class: 'signin', id: 'signin' }, el('h2', {}, 'Sign in'), tenant, token,
    el('button', { type: 'submit', class: 'primary' }, 'Sign in'),
    el('p', { class: 'muted' }, 'The key is kept for this browser tab only and sent in a header, never in a URL.'));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    session.save(token.value.trim(), tenant.value.trim());
    try {
      await start();
    } catch (error) {
      session.clear();
      showError(error);
    }
  });
  fill(document.getElementById('page'), form);
}

/** Checks the credential and learns who it is; throws (an ApiError) when Sluice refuses it. */
async function start() {
  if (session.tenant) {
    await api(apiPath('tenants', session.tenant));
    context.admin = false;
    context.tenant = session.tenant;
    context.tenants = [session.tenant];
  } else {
    context.tenants = (await api(apiPath('tenants'))).tenants.map((tenant) => tenant.id);
    context.admin = true;
    context.tenant = context.tenants[0] || '';
  }
  clearError();
  showNavigation();
  if (!location.hash || location.hash === '#') location.hash = context.admin ? '#overview' : '#files';
  route();
}

function showNavigation() {
  const nav = document.getElementById('nav');
  nav.hidden = false;
  fill(nav, Object.entries(PAGES).filter(([, page]) => !page.admin || context.admin)
    .map(([name, page]) => el('a', { href: `#${name}`, id: `nav-${name}` }, page.title)));
  const signOut = el('button', { id: 'sign-out', onclick: () => { session.clear(); location.hash = ''; location.reload(); } }, 'Sign out');
  if (context.admin) {
    const chooser = el('select', { id: 'tenant-chooser', title: 'Tenant shown' }, context.tenants.map((id) => el('option', { value: id }, id)));
    chooser.value = context.tenant;
    chooser.addEventListener('change', () => { context.tenant = chooser.value; route(); });
    fill(document.getElementById('who'), 'admin, tenant ', chooser, signOut);
  } else {
    fill(document.getElementById('who'), `tenant ${context.tenant}`, signOut);
  }
}

function route() {
  if (leave) leave();
  leave = null;
  clearError();
  const name = location.hash.slice(1);
  const page = Object.hasOwn(PAGES, name) && (!PAGES[name].admin || context.admin) ? PAGES[name] : PAGES.files;
  const current = ++visit;
  for (const link of document.querySelectorAll('nav a')) link.classList.toggle('current', link.getAttribute('href') === `#${name}`);
  const container = document.getElementById('page');
  fill(container);
  if (!context.tenant && page !== PAGES.overview) {
    fill(container, el('p', { class: 'muted' }, 'No tenant exists yet.'));
    return;
  }
  Promise.resolve(page.show(container, { ...context })).then((cleanup) => {
    if (current === visit) leave = cleanup || null;
    else if (cleanup) cleanup();
  }).catch(showError);
}

window.addEventListener('hashchange', () => { if (session.token) route(); });
if (session.token) {
  start().catch((error) => { session.clear(); signInPage(); showError(error); });
} else {
  signInPage();
}
