// "/~/keys": API keys. An admin creates keys for an entity here; a new key is
// shown once, in the page only (never in a URL or storage).
import { useState } from 'preact/hooks';
import { html } from '../html.js';
import { post } from '../api.js';

export function Keys({ session }) {
  const [created, setCreated] = useState(null);
  const [error, setError] = useState(null);
  if (!session.admin) {
    return html`<section><h1>Keys</h1>
      <p>Only the server's admin can create keys on this server.</p></section>`;
  }
  const submit = async (ev) => {
    ev.preventDefault();
    const f = ev.currentTarget.elements;
    setError(null);
    try {
      const k = await post('/api/v1/keys', { entity: f.entity.value, read_only: f.read_only.checked });
      setCreated(k);
    } catch (e) {
      setError(e.message);
    }
  };
  return html`<section>
    <h1>Keys</h1>
    <form id="create-key" onSubmit=${submit}>
      <label for="key-entity">Entity</label> <input id="key-entity" name="entity" required />
      <label><input type="checkbox" name="read_only" /> Read-only</label>
      <button type="submit">Create key</button>
    </form>
    ${error && html`<p class="error" role="alert">${error}</p>`}
    ${created && html`<p>New key for ${created.entity} (shown once): <code id="new-key">${created.key}</code></p>`}
  </section>`;
}
