// The API as the console uses it: the credential kept in sessionStorage and sent as a bearer header (never in a
// URL), and errors turned into readable messages from Sluice's {"error": {"code", "message"}} bodies.

export const session = {
  get token() { return sessionStorage.getItem('sluice.token') || ''; },
  /** The tenant signed in, or '' for the admin. */
  get tenant() { return sessionStorage.getItem('sluice.tenant') || ''; },
  save(token, tenant) {
    sessionStorage.setItem('sluice.token', token);
    sessionStorage.setItem('sluice.tenant', tenant);
  },
  clear() {
    sessionStorage.removeItem('sluice.token');
    sessionStorage.removeItem('sluice.tenant');
  },
};

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
  get readable() { return `${this.message} (${this.code}, HTTP ${this.status})`; }
}

async function failure(response) {
  try {
    const body = await response.json();
    const error = body && body.error ? body.error : {};
    return new ApiError(response.status, String(error.code || `http_${response.status}`), String(error.message || response.statusText));
  } catch {
    return new ApiError(response.status, `http_${response.status}`, response.statusText || 'the request failed');
  }
}

/** A path under /api/v1 from segments, each encoded. */
export function apiPath(...segments) {
  return '/api/v1/' + segments.map((segment) => encodeURIComponent(segment)).join('/');
}

/** GETs (or sends) `path` with the credential; the parsed JSON, or the Response itself with `raw`. */
export async function api(path, { method = 'GET', body, headers = {}, raw = false } = {}) {
  let response;
  try {
    response = await fetch(path, { method, body, headers: { ...headers, Authorization: `Bearer ${session.token}` } });
  } catch (error) {
    throw new ApiError(0, 'network_error', `Sluice could not be reached: ${error.message}`);
  }
  if (!response.ok) throw await failure(response);
  return raw ? response : response.json();
}

/** Uploads `file` for `tenant`, telling `progress(fraction)` as it goes; resolves with the file's entry. */
export function upload(tenant, file, progress) {
  return new Promise((resolve, reject) => {
    const request = new XMLHttpRequest();
    request.open('POST', `${apiPath('tenants', tenant, 'files')}?name=${encodeURIComponent(file.name)}`);
    request.setRequestHeader('Authorization', `Bearer ${session.token}`);
    request.upload.addEventListener('progress', (event) => {
      if (event.lengthComputable) progress(event.loaded / event.total);
    });
    request.addEventListener('load', () => {
      let body = null;
      try { body = JSON.parse(request.responseText); } catch { body = null; }
      if (request.status >= 200 && request.status < 300) {
        progress(1);
        resolve(body);
      } else {
        const error = body && body.error ? body.error : {};
        reject(new ApiError(request.status, String(error.code || `http_${request.status}`), String(error.message || 'the upload failed')));
      }
    });
    request.addEventListener('error', () => reject(new ApiError(0, 'network_error', 'the upload could not reach Sluice')));
    request.send(file);
  });
}

/** Downloads `path` (with the credential) and saves it as `name`. */
export async function download(path, name) {
  const response = await api(path, { raw: true });
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
