// "/~/keys": API keys the caller may see (its own, and those of the entities
// it administers; every key for the server's admin), with revoke buttons, and
// a form that creates one: a user creates keys of their own (scope, name,
// expiry); the server's admin creates a key for an entity. A new key is shown
// once, in the page only (never in a URL or storage).
import { useEffect, useState } from 'preact/hooks';
import { html } from '../html.js';
import { del, get, post } from '../api.js';
import { enc, time } from '../format.js';

const kDay = 24 * 3600 * 1000;

function KeyRow({ k, onRevoke }) {
  return html`<tr>
    <td><code>${k.id}</code></td><td>${k.name}</td><td>${k.owner}</td><td>${k.scope}</td>
    <td>${time(k.created_at)}</td><td>${time(k.expires_at)}</td><td>${time(k.last_used_at)}</td>
    <td>${k.revoked_at ? `revoked ${time(k.revoked_at)}`
      : html`<button type="button" class="revoke" data-id=${k.id} onClick=${() => onRevoke(k.id)}>Revoke</button>`}</td>
  </tr>`;
}

function CreateForm({ session, onCreated, onError }) {
  if (!session.admin && !session.user) return null;  // a service account's key lists only
  const submit = async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget.elements;
    const days = Number(f.days.value || 0);
    const body = session.admin && f.entity.value
      ? { entity: f.entity.value, read_only: f.scope.value === 'read' }
      : { user: session.user, scope: f.scope.value, name: f.name.value,
          expires_ms: days > 0 ? Date.now() + days * kDay : null };
    try {
      onCreated(await post('/api/v1/keys', body));
    } catch (e) {
      onError(e.message);
    }
  };
  return html`<form id="create-key" onSubmit=${submit}>
    ${session.admin && html`<label for="key-entity">Entity</label> <input id="key-entity" name="entity" />`}
    <label for="key-name">Name</label> <input id="key-name" name="name" />
    <label for="key-scope">Scope</label>
    <select id="key-scope" name="scope"><option value="write">write</option><option value="read">read</option></select>
    <label for="key-days">Expires in days (0: never)</label> <input id="key-days" name="days" type="number" min="0" />
    <button type="submit">Create key</button>
  </form>`;
}

export function Keys({ session }) {
  const [keys, setKeys] = useState(null);
  const [created, setCreated] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get('/api/v1/keys').then((r) => setKeys(r.keys), (e) => setError(e.message));
  useEffect(() => { load(); }, []);
  const revoke = async (id) => {
    setError(null);
    try {
      await del(`/api/v1/keys/${enc(id)}`);
    } catch (e) {
      setError(e.message);
    }
    load();
  };
  const onCreated = (k) => { setCreated(k); load(); };
  return html`<section>
    <h1>Keys</h1>
    <${CreateForm} session=${session} onCreated=${onCreated} onError=${setError} />
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${created && html`<p>New key ${created.id} (shown once): <code id="new-key">${created.key}</code></p>`}
    ${keys && html`<table id="keys"><thead><tr><th>Id</th><th>Name</th><th>Owner</th><th>Scope</th>
      <th>Created</th><th>Expires</th><th>Last used</th><th></th></tr></thead>
      <tbody>${keys.map((k) => html`<${KeyRow} key=${k.id} k=${k} onRevoke=${revoke} />`)}</tbody></table>`}
  </section>`;
}
