// Formatting and the URLs of the UI's pages and the API (every file name is
// percent-encoded segment by segment; names are only ever rendered as text).
export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function time(iso) {
  if (!iso) return '—';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export const shortSha = (sha) => sha.slice(0, 12);

export const encodeName = (name) => name.split('/').map(encodeURIComponent).join('/');

export const enc = encodeURIComponent;
export const runPath = (e, p, r) => `/${enc(e)}/${enc(p)}/runs/${enc(r)}`;
export const filePage = (e, p, r, name) => `${runPath(e, p, r)}/files/${encodeName(name)}`;
export const apiRun = (e, p, r) => `/api/v1/runs/${enc(e)}/${enc(p)}/${enc(r)}`;
export const apiFile = (e, p, r, name, version) =>
  `${apiRun(e, p, r)}/files/${encodeName(name)}${version ? `?version=${version}` : ''}`;

// A word for a POSIX shell: as is when plain, else single-quoted.
export function shellWord(s) {
  return /^[A-Za-z0-9._\/:=@%+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

// A Python string literal (JSON's escaping is valid Python).
export const pyString = (s) => JSON.stringify(s);

// The server keeps MD5s as base64 (as W&B clients want them): shown as hex.
export function md5Hex(b64) {
  if (!b64) return null;
  return Array.from(atob(b64), (c) => c.charCodeAt(0).toString(16).padStart(2, '0')).join('');
}

// Who saved a version, from the API's created_by ("user:alice",
// "sa:team/ci", "admin"; null for versions saved before servers recorded it).
export function savedBy(actor) {
  if (!actor) return '—';
  if (actor.startsWith('user:')) return actor.slice(5);
  if (actor.startsWith('sa:')) return `${actor.slice(3)} (service account)`;
  return actor;
}
